# ruff: noqa: E501  (the table of cases reads best one case per line)
"""Conformance: each request's status and answer as TensorFlow Serving's sources say.

Every case names the file of tensorflow/serving (or the library it relies on) that decides the
answer; paths are relative to ``tensorflow_serving/``. The server runs in TF Serving's mode
(``--allow_non_finite``: NaN and overflowing floats reach the model, as in TF Serving) with CORS
on, over three models from one ``models.config``:

- ``tiny``: a Keras model exported by the course (8x8x1 images -> 10 probabilities);
- ``dtypes``: one echo signature per dtype (``helpers.serving.dtype_model``);
- ``hp3``: a TF1-style SavedModel with tf.Example parsing and classify/regress signatures,
  in a version folder named ``00000123`` (``helpers.serving.half_plus_three``).
"""

from __future__ import annotations

import base64
import gzip
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import requests
from helpers.serving import SIZE, dtype_model, export, half_plus_three, images, tiny_model

pytestmark = pytest.mark.slow


@dataclass
class Case:
    id: str
    source: str  # the TF Serving file (or library) whose code decides the answer
    path: str  # after the server's URL
    body: Any = None  # dict/list -> JSON; bytes/str sent as they are
    status: int = 200
    expect: Any = None  # str: in the error; dict/list: the whole answer; callable: a check
    method: str = "POST"
    headers: dict = field(default_factory=dict)


def _close(want: Any) -> Callable[[Any], None]:
    def check(answer: Any) -> None:
        np.testing.assert_allclose(np.asarray(answer["predictions"], dtype=float), want, rtol=1e-6)

    return check


def _float32_is(value: float) -> Callable[[Any], None]:
    def check(answer: Any) -> None:
        got = answer["predictions"][0]
        assert np.float32(got) == np.float32(value), (got, value)

    return check


def _nan_inf(answer: Any) -> None:
    first, *rest = answer["predictions"]
    assert math.isnan(first) and rest == [math.inf, -math.inf], answer


ROW = images(1)[0].astype("float32").tolist()  # one 8x8x1 image
B64_HELLO = base64.b64encode(b"hello").decode()
P = "/v1/models/dtypes"
H = "/v1/models/hp3"
T = "/v1/models/tiny"


def echo(dtype: str, values: list, status: int = 200, expect: Any = None, **kw) -> dict:
    return dict(path=f"{P}:predict", body={"signature_name": dtype, "instances": values},
                status=status, expect=expect, **kw)  # fmt: skip


JT = "util/json_tensor.cc"
JTT = "util/json_tensor_test.cc"
API = "g3doc/api_rest.md"
HANDLER = "model_servers/http_rest_api_handler.cc"
HT = "model_servers/http_rest_api_handler_test.cc"
UTIL = "model_servers/http_rest_api_util.cc"
HTTP = "model_servers/http_server.cc"
STATUS = "model_servers/get_model_status_impl.cc"
ABSL = "abseil escaping.cc Base64Unescape (via util/json_tensor.cc)"
RAPID = "rapidjson Reader, kParseIterativeFlag|kParseNanAndInfFlag|kParseStopWhenDoneFlag (util/json_tensor.cc ParseJson)"
CLS = "servables/tensorflow/classifier.cc"
REG = "servables/tensorflow/regressor.cc"

CASES = [
    # ---- predict: formats (api_rest.md, json_tensor.cc)
    Case("row format", API, f"{P}:predict", {"instances": [1.5, 2.5]}, 200, {"predictions": [1.5, 2.5]}),
    Case("columnar format", API, f"{P}:predict", {"inputs": [1.5, 2.5]}, 200, {"outputs": [1.5, 2.5]}),
    Case("columnar scalar", API, f"{P}:predict", {"signature_name": "total", "inputs": [1.0, 2.0]}, 200, {"outputs": 3.0}),
    Case("row: rank-0 output refused", JT + " MakeRowFormatJsonFromTensors", f"{P}:predict", {"signature_name": "total", "instances": [1.0]}, 400, "Tensor name: total has no shape information"),
    Case("row: several outputs are objects", JT, f"{P}:predict", {"signature_name": "pair", "instances": [{"a": [1, 2], "b": "x"}]}, 200, {"predictions": [{"a": [2.0, 4.0], "b": "X"}]}),
    Case("columnar: several outputs are an object", JT, f"{P}:predict", {"signature_name": "pair", "inputs": {"a": [[1, 2]], "b": ["x"]}}, 200, {"outputs": {"a": [[2.0, 4.0]], "b": ["X"]}}),
    Case("output named _bytes is base64", JT + " IsNamedTensorBytes", f"{P}:predict", {"signature_name": "bytes", "instances": ["hello"]}, 200, {"predictions": [{"b64": B64_HELLO}]}),
    Case("tiny model row predict", API, f"{T}:predict", {"instances": [ROW]}, 200, lambda a: np.testing.assert_allclose(np.sum(a["predictions"][0]), 1.0, rtol=1e-5)),
    Case("signature by name", API, f"{P}:predict", {"signature_name": "int64", "instances": [7]}, 200, {"predictions": [7]}),
    Case("unknown signature", HANDLER + " GetInfoMap", f"{P}:predict", {"signature_name": "nope", "instances": [1]}, 400, 'Serving signature name: "nope" not found in signature def'),
    # ---- numbers (json_tensor.cc AddValueToTensor, json_tensor_test.cc)
    Case("ints into float", JTT + " MixedInputForFloatTensor", **echo("float32", [1, 2.0, 3, 4, 5.003, 0.007, 0.0], expect=_close([1, 2, 3, 4, 5.003, 0.007, 0]))),
    Case("ints into double", JTT + " MixedInputForDoubleTensor", **echo("float64", [1.0, 2, 3, 4, 0.662, 0, 0.0], expect={"predictions": [1.0, 2.0, 3.0, 4.0, 0.662, 0.0, 0.0]})),
    Case("float precision loss", JTT + " FloatTensorWithPrecisionLoss", **echo("float32", [1435774380], expect=_float32_is(1435774380))),
    Case("float precision loss with .0", JTT + " FloatTensorWithPrecisionLoss", **echo("float32", [1435774380.0], expect=_float32_is(1435774380))),
    Case("float over max is inf", JTT + " FloatTensorThatExceedsMaxReturnsInf", f"{P}:predict", b'{"signature_name": "float32", "instances": [1.7976931348623157e308, -1.7976931348623157e308]}', 200, {"predictions": [math.inf, -math.inf]}),
    Case("float under min is zero", JTT + " FloatTensorThatExceedsMinReturnsZero", **echo("float32", [2.2250738585072014e-308], expect={"predictions": [0.0]})),
    Case("NaN and Infinity literals", RAPID + " kParseNanAndInfFlag", f"{P}:predict", b'{"signature_name": "float64", "instances": [NaN, Infinity, -Infinity]}', 200, _nan_inf),
    Case("int32 too large", JT + " IsInt", **echo("int32", [3000000000], 400, "JSON Value: 3000000000 Type: Number is not of expected type: int32")),
    Case("int32 fraction", JT + " IsInt", **echo("int32", [1.5], 400, "Type: Number is not of expected type: int32")),
    Case("int32 true", JT + " IsInt", **echo("int32", [True], 400, "JSON Value: true Type: True is not of expected type: int32")),
    Case("int32 limits", JT, **echo("int32", [-2147483648, 2147483647], expect={"predictions": [-2147483648, 2147483647]})),
    Case("int64 2^63", JT + " IsInt64", **echo("int64", [2**63], 400, "Type: Number is not of expected type: int64")),
    Case("int64 limits", JT + " IsInt64", **echo("int64", [-(2**63), 2**63 - 1], expect={"predictions": [-(2**63), 2**63 - 1]})),
    Case("int64 2^64 and beyond", JT + " (rapidjson: a double)", **echo("int64", [2**64], 400, "is not of expected type: int64")),
    Case("uint32 max", JT + " IsUint", **echo("uint32", [4294967295], expect={"predictions": [4294967295]})),
    Case("uint32 negative", JT + " IsUint", **echo("uint32", [-1], 400, "Type: Number is not of expected type: uint32")),
    Case("uint32 too large", JT + " IsUint", **echo("uint32", [4294967296], 400, "is not of expected type: uint32")),
    Case("uint64 max", JT + " IsUint64", **echo("uint64", [2**64 - 1], expect={"predictions": [2**64 - 1]})),
    Case("int8 wraps like a cast", JT + " (int_val, cast to int8)", **echo("int8", [300, -129], expect={"predictions": [44, 127]})),
    Case("uint8 wraps like a cast", JT + " (int_val, cast to uint8)", **echo("uint8", [-1, 256], expect={"predictions": [255, 0]})),
    Case("int16", JT, **echo("int16", [-32768, 32767], expect={"predictions": [-32768, 32767]})),
    Case("bool", JT + " IsBool", **echo("bool", [True, False], expect={"predictions": [True, False]})),
    Case("number as bool", JT + " IsBool", **echo("bool", [1], 400, "JSON Value: 1 Type: Number is not of expected type: bool")),
    Case("bool as number", JT + " IsNumber", **echo("float32", [1.5, True], 400, "Type: True is not of expected type: float")),
    Case("string as float", JT + " TypeError", **echo("float32", ["1"], 400, 'JSON Value: "1" Type: String is not of expected type: float')),
    Case("null as float", JT + " TypeError", **echo("float32", [None], 400, "JSON Value: null Type: Null is not of expected type: float")),
    Case("object as float", JT + " FillTensorProto", **echo("float32", [{"b64": B64_HELLO}], 400, "Type: Object is not of expected type: float")),
    Case("half is not converted (columnar)", JT + " AddValueToTensor default", f"{P}:predict", {"signature_name": "float16", "inputs": [1.0]}, 501, "Conversion of JSON Value: 1.0 to type: half"),
    Case("half is not converted (row)", JT + " FillTensorMapFromInstancesList status.ToString()", **echo("float16", [1.0], 400, "Failed to process element: 0 of 'instances' list. Error: UNIMPLEMENTED: Conversion of JSON Value: 1.0 to type: half")),
    # ---- strings and base64
    Case("string", JT, **echo("string", ["héllo"], expect={"predictions": ["héllo"]})),
    Case("b64 decoded", JTT + " SingleUnnamedTensorBase64Scalars", **echo("string", [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}], expect={"predictions": ["hello", "world"]})),
    Case("b64 in lists", JTT + " SingleUnnamedTensorBase64Lists", f"{P}:predict", {"signature_name": "string", "inputs": [{"b64": "aGVsbG8="}]}, 200, {"outputs": ["hello"]}),
    Case("b64 without padding", ABSL, **echo("string", [{"b64": "aGVsbG8"}], expect={"predictions": ["hello"]})),
    Case("b64 wrapped at 76 columns", ABSL, **echo("string", [{"b64": base64.encodebytes(b"x" * 100).decode()}], expect={"predictions": ["x" * 100]})),
    Case("b64 with CRLF and spaces", ABSL, **echo("string", [{"b64": "aGVs\r\nbG8 ="}], expect={"predictions": ["hello"]})),
    Case("b64 dot padding", ABSL, **echo("string", [{"b64": "aGVsbG8."}], expect={"predictions": ["hello"]})),
    Case("b64 wrong padding", ABSL, **echo("string", [{"b64": "aGVsbG8=="}], 400, "Unable to base64 decode")),
    Case("b64 one char left over", ABSL, **echo("string", [{"b64": "aGVsbG8xa"}], 400, "Unable to base64 decode")),
    Case("b64 url-safe alphabet", ABSL, **echo("string", [{"b64": "-_8="}], 400, "Unable to base64 decode")),
    Case("b64 object with another key", JT + " IsValBase64Object", f"{P}:predict", {"signature_name": "string", "inputs": [{"b64": B64_HELLO, "x": 1}]}, 400, "not formatted correctly for base64 data"),
    Case("b64 not a string", JT + " IsValBase64Object", f"{P}:predict", {"signature_name": "string", "inputs": [{"b64": 5}]}, 400, 'JSON Value: {"b64":5} not formatted correctly for base64 data'),
    Case("instance object that is not b64", JT + " IsElementObject", **echo("string", [{"b64": B64_HELLO, "x": 1}], 400, "Failed to process element: 0 key: b64 of 'instances' list. Error: INVALID_ARGUMENT: JSON object: does not have named input: b64")),
    # ---- the JSON document (json_tensor.cc ParseJson, rapidjson)
    Case("empty body", JT + " ParseJson", f"{P}:predict", b"", 400, "JSON Parse error: The document is empty"),
    Case("whitespace body", RAPID, f"{P}:predict", b"  \n ", 400, "JSON Parse error: The document is empty"),
    Case("broken JSON", RAPID, f"{P}:predict", b'{"instances": [1,', 400, "JSON Parse error"),
    Case("not an object", JT + " ParseJson", f"{P}:predict", [1, 2], 400, "JSON Value: [1,2] Is not object"),
    Case("text after the document", RAPID + " kParseStopWhenDoneFlag", f"{P}:predict", b'{"instances": [2.5]} trailing', 200, {"predictions": [2.5]}),
    Case("deeply nested, unused key", JTT + " DeeplyNestedWellFormed", f"{P}:predict", b'{"instances": [1], "nested": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", 200, {"predictions": [1.0]}),
    Case("deeply nested signature_name", JTT + " DeeplyNestedMalformed", f"{P}:predict", b'{"signature_name": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", 400, "key must be a string value"),
    Case("deeply nested instances", JT + " FillTensorProto", f"{P}:predict", b'{"instances": ' + b"[" * 5000 + b"1" + b"]" * 5000 + b"}", 400, None),
    Case("repeated key: the first counts", JT + " FindMember", f"{P}:predict", b'{"instances": [3.5], "instances": "x"}', 200, {"predictions": [3.5]}),
    Case("signature_name not a string", JT + " FillSignature", f"{P}:predict", {"signature_name": 5, "instances": [1]}, 400, "'signature_name' key must be a string value."),
    Case("instances and inputs", JT, f"{P}:predict", {"instances": [1], "inputs": [1]}, 400, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist"),
    Case("instances not a list", JT, f"{P}:predict", {"instances": 3}, 400, "Expecting 'instances' to be an list/array"),
    Case("instances empty", JT, f"{P}:predict", {"instances": []}, 400, "No values in 'instances' array"),
    Case("neither key", JT, f"{P}:predict", {"signature_name": "int32"}, 400, "Missing 'inputs' or 'instances' key"),
    # ---- shapes and several inputs (json_tensor.cc FillTensorMapFromInstancesList / InputsMap)
    Case("several inputs from a plain list", JT, f"{P}:predict", {"signature_name": "pair", "instances": [[1, 2]]}, 400, "instances is a plain list, but expecting list of objects as multiple input tensors required as per tensorinfo_map"),
    Case("object missing an input", JT, f"{P}:predict", {"signature_name": "pair", "instances": [{"a": [1, 2]}]}, 400, "keys must be equal to: a,b"),
    Case("object with an unknown input", JT + " AddInstanceItem", f"{P}:predict", {"signature_name": "pair", "instances": [{"a": [1, 2], "b": "x", "c": 1}]}, 400, "JSON object: does not have named input: c"),
    Case("object then list", JT, f"{P}:predict", {"signature_name": "pair", "instances": [{"a": [1, 2], "b": "x"}, [1]]}, 400, "Expecting object but got list at item 1 of input list"),
    Case("list then object", JT, f"{P}:predict", {"instances": [1.0, {"x": 1}]}, 400, "Expecting value/list but got object at item 1 of input list"),
    Case("instances of different sizes", JT + " AddInstanceItem", f"{T}:predict", {"instances": [ROW, ROW[:4]]}, 400, "Expecting tensor size: 64 but got: 32"),
    Case("instances of different shapes", JT + " AddInstanceItem", f"{P}:predict", {"signature_name": "pair", "instances": [{"a": [1, 2], "b": "x"}, {"a": [[1], [2]], "b": "y"}]}, 400, "Expecting shape [2] but got: [2,1]"),
    Case("ragged inner list", JT + " FillTensorProto", f"{T}:predict", {"inputs": [[[[0.1]] * SIZE] * (SIZE - 1) + [[[0.1]] * 3]]}, 400, "Encountered list at unexpected size: 3 at level: 2 expected size: 8"),
    Case("value at the wrong level", JT + " FillTensorProto", f"{P}:predict", {"signature_name": "pair", "inputs": {"a": [[1, 2], 3], "b": ["x"]}}, 400, "found at incorrect level: 2 in the JSON DOM. Expected at level: 2"),
    Case("list deeper than the first", JT + " FillTensorProto", f"{P}:predict", {"signature_name": "pair", "inputs": {"a": [1, [2]], "b": ["x"]}}, 400, "Encountered list at unexpected level: 1 expected < 1"),
    Case("columnar several inputs from a list", JT, f"{P}:predict", {"signature_name": "pair", "inputs": [1]}, 400, "inputs is a plain value/list, but expecting an object as multiple input tensors required as per tensorinfo_map"),
    Case("columnar missing input", JT, f"{P}:predict", {"signature_name": "pair", "inputs": {"a": [[1, 2]]}}, 400, "Missing named input: b in 'inputs' object."),
    # ---- paths, versions, labels (http_rest_api_util.cc, http_rest_api_handler.cc)
    Case("status", STATUS, T, None, 200, lambda a: a["model_version_status"][0]["state"] == "AVAILABLE", method="GET"),
    Case("status: no model name", HANDLER + " ProcessModelStatusRequest", "/v1/models", None, 400, "Missing model name in request.", method="GET"),
    Case("status: unknown model", STATUS, "/v1/models/nope", None, 404, "Could not find any versions of model nope", method="GET"),
    Case("status: unknown version", STATUS, f"{T}/versions/9", None, 404, "Could not find version 9 of model tiny", method="GET"),
    Case("metadata", "model_servers/get_model_metadata_impl.cc", f"{T}/metadata", None, 200, lambda a: "serving_default" in a["metadata"]["signature_def"]["signature_def"], method="GET"),
    Case("metadata: unknown model", "core/servable_handle.h (manager lookup)", "/v1/models/nope/metadata", None, 404, "Servable not found for request: Latest(nope)", method="GET"),
    Case("predict: unknown model", "core/servable_handle.h (manager lookup)", "/v1/models/nope:predict", {"instances": [1]}, 404, "Servable not found for request: Latest(nope)"),
    Case("predict: unknown version", "core/servable_handle.h (manager lookup)", f"{T}/versions/9:predict", {"instances": [ROW]}, 404, "Servable not found for request: Specific(tiny, 9)"),
    Case("predict: unknown label", "model_servers/server_core.cc GetModelVersionForLabel", f"{T}/labels/beta:predict", {"instances": [ROW]}, 400, "Unrecognized servable version label: beta"),
    Case("version beyond int64", UTIL + " ParseModelInfo", f"{T}/versions/99999999999999999999:predict", {"instances": [ROW]}, 400, "Failed to convert version: 99999999999999999999 to numeric."),
    Case("unknown verb", HANDLER + " ProcessRequest", f"{T}:explain", {"instances": [ROW]}, 400, "Malformed request: POST /v1/models/tiny:explain"),
    Case("GET /v1/foo", HT + " UnsupportedApiCalls", "/v1/foo", None, 400, "Malformed request: GET /v1/foo", method="GET"),
    Case("POST /v1/foo", HT + " UnsupportedApiCalls", "/v1/foo", b"", 400, "Malformed request: POST /v1/foo"),
    Case("GET a sub-path", HT + " UnsupportedApiCalls", "/v1/models/debug/model_name", None, 400, "Malformed request", method="GET"),
    Case("POST /v1/models", HT + " UnsupportedApiCalls", "/v1/models", b"", 400, "Malformed request"),
    Case("GET :predict", HT + " UnsupportedApiCalls", f"{T}:predict", None, 400, "Malformed request", method="GET"),
    Case("version (singular)", HT + " UnsupportedApiCalls", "/v1/models/foo/version/50:regress", b"", 400, "Malformed request"),
    Case("version not a number", HT + " UnsupportedApiCalls", "/v1/models/foo/versions/HELLO:regress", b"", 400, "Malformed request"),
    Case("version is uint64 max", HT + " UnsupportedApiCalls", "/v1/models/foo/versions/18446744073709551615:regress", b"", 400, "Failed to convert version"),
    Case("POST metadata", HT + " UnsupportedApiCalls", "/v1/models/foo/metadata", b"", 400, "Malformed request"),
    Case("label (singular)", HT + " UnsupportedApiCalls", "/v1/models/foo/label/some_label:regress", b"", 400, "Malformed request"),
    Case("version and label", HT + " UnsupportedApiCalls", "/v1/models/foo/versions/50/labels/some_label:regress", b"", 400, "Malformed request"),
    Case("badly formatted JSON", HT + " PredictRequestErrors", f"{T}:predict", b"instances = [1, 2]", 400, "JSON Parse error: Invalid value"),
    Case("strings into a float signature", HT + " PredictRequestErrors", f"{P}:predict", {"instances": ["x", "y"]}, 400, "not of expected type: float"),
    Case("signature_name 100", HT + " PredictRequestErrors", f"{P}:predict", {"signature_name": 100}, 400, "'signature_name' key must be a string value."),
    Case("missing comma", RAPID + " (error/en.h)", f"{P}:predict", b'{"instances": [1 2]}', 400, "JSON Parse error: Missing a comma or ']' after an array element."),
    Case("unterminated string", RAPID + " (error/en.h)", f"{P}:predict", b'{"instances": ["a', 400, "JSON Parse error: Missing a closing quotation mark in string."),
    Case("number without fraction", RAPID + " (error/en.h)", f"{P}:predict", b'{"instances": [1.]}', 400, "JSON Parse error: Miss fraction part in number."),
    Case("PUT", HANDLER + " ProcessRequest", f"{T}:predict", {"instances": [ROW]}, 400, "Malformed request: PUT /v1/models/tiny:predict", method="PUT"),
    Case("case-insensitive path", UTIL + " kPredictionApiGegex (?i)", "/V1/MODELS/dtypes/VERSIONS/1:PREDICT", {"instances": [1.5]}, 200, {"predictions": [1.5]}),
    Case("percent-encoded model name", UTIL + " DecodeArg", "/v1/models/%74iny:predict", {"instances": [ROW]}, 200, None),
    Case("version folder 00000123", "sources/storage_path/file_system_storage_path_source.cc ParseVersionNumber", f"{H}/versions/123", None, 200, lambda a: a["model_version_status"][0]["version"] == "123", method="GET"),
    Case("URL over 64 KB answered", "util/net_http/server/internal/evhttp_server.cc (no URL limit)", "/v1/models/" + "m" * 70_000, None, 404, "Could not find any versions of model", method="GET"),
    # ---- HTTP (http_server.cc, net_http)
    Case("CORS headers", UTIL + " AddCORSHeaders", f"{P}:predict", {"instances": [1]}, 200, None),
    Case("CORS preflight", HTTP + " ProcessRequest OPTIONS", f"{P}:predict", None, 200, "", method="OPTIONS", headers={"Origin": "http://localhost:3000"}),
    Case("preflight without origin", HTTP + " ProcessRequest OPTIONS", f"{P}:predict", None, 400, "", method="OPTIONS"),
    Case("gzip body", "util/net_http/server/internal/evhttp_request.cc (gzip request bodies)", f"{P}:predict", gzip.compress(b'{"instances": [4.5]}'), 200, {"predictions": [4.5]}, headers={"Content-Encoding": "gzip"}),
    Case("errors are JSON", "model_servers/http_rest_api_util.cc AddHeaders", f"{P}:predict", b"{", 400, "JSON Parse error", headers={"Content-Type": "text/plain"}),
    # ---- classify and regress (json_tensor.cc, classifier.cc, regressor.cc, util.cc)
    Case("regress", API + " Regress API", f"{H}:regress", {"examples": [{"x": 1.0}, {"x": 4.0}]}, 200, {"results": [3.5, 5.0]}),
    Case("regress with context", JT + " / servables/tensorflow/util.cc InputToSerializedExampleTensor", f"{H}:regress", {"context": {"bias": 10.0}, "examples": [{"x": 1.0}, {"x": 2.0, "bias": 1.0}]}, 200, {"results": [13.5, 5.0]}),
    Case("classify, scores only", API + " Classify API", f"{H}:classify", {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}, 200, {"results": [[["", 4.0]]]}),
    Case("classify with classes", API + " Classify API", f"{H}:classify", {"signature_name": "classify_with_classes", "examples": [{"x": 2.0}, {"x": [4.0]}]}, 200, {"results": [[["low", 4.0], ["high", -4.0]], [["low", 5.0], ["high", -5.0]]]}),
    Case("classify: no examples key", JT + " FillClassifyRegressRequestFromJson", f"{H}:classify", {"signature_name": "classify_x_to_y"}, 400, "When method is classify, key 'examples' is expected and was not found"),
    Case("regress: examples not a list", JT, f"{H}:regress", {"examples": {"x": 1.0}}, 400, "Expecting 'examples' value to be an list/array"),
    Case("regress: no examples", JT, f"{H}:regress", {"examples": []}, 400, "'examples' value is an empty array"),
    Case("example not an object", JT + " MakeExampleFromJsonObject", f"{H}:regress", {"examples": [[1.0]]}, 400, "Example must be JSON object but got JSON Array"),
    Case("feature null", JT + " AddValueToFeature", f"{H}:regress", {"examples": [{"x": None}]}, 400, "Feature: x has element with unexpected JSON type: Null"),
    Case("feature of mixed kinds", JT + " IncompatibleFeatureKindError", f"{H}:regress", {"examples": [{"x": [1.0, "a"]}]}, 400, "Unexpected element type in feature: x expecting type: float"),
    Case("feature uint64", JT + " AddValueToFeature", f"{H}:regress", {"examples": [{"x": [2**63]}]}, 400, "Feature: x has uint64_t element. Only int64_t is supported."),
    Case("feature nested list", JT + " AddValueToFeature", f"{H}:regress", {"examples": [{"x": [[1.0]]}]}, 400, "Feature: x has element with unexpected JSON type: Array"),
    Case("classify on a regression signature", CLS + " PreProcessClassification", f"{H}:classify", {"examples": [{"x": 1.0}]}, 400, 'Expected classification signature outputs to contain at least one of "classes" or "scores"'),
    Case("regress on a classification signature", REG + " PreProcessRegression", f"{H}:regress", {"signature_name": "classify_with_classes", "examples": [{"x": 1.0}]}, 400, "Expected one output Tensor."),
    Case("classify: unknown signature", CLS + " GetClassificationSignatureDef", f"{H}:classify", {"signature_name": "nope", "examples": [{"x": 1.0}]}, 400, "No signature was found with the name: nope"),
    Case("classify on a predict signature", CLS + " PreProcessClassification", f"{T}:classify", {"examples": [{"x": 1.0}]}, 400, "No classification inputs found in SignatureDef"),
    Case("regress on a predict signature", REG + " PreProcessRegression", f"{H}:regress", {"signature_name": "predict_x", "examples": [{"x": 1.0}]}, 400, "No regression inputs found in SignatureDef"),
    Case("predict on the TF1 model", API, f"{H}:predict", {"signature_name": "predict_x", "instances": [[1.0], [2.0]]}, 200, {"predictions": [[3.5], [4.0]]}),
    Case("regress by a labelled version", HT + " Regress", f"{H}/labels/stable:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}, 200, {"results": [43.0]}),
    Case("classify by version", HT + " Classify", f"{H}/versions/123:classify", {"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}]}, 200, {"results": [[["", 13.0]]]}),
]  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from course import serving

    root = tmp_path_factory.mktemp("conformance")
    export(tiny_model(seed=3), root, "tiny", 1)
    dtype_model(root / "dtypes" / "1")
    (root / "hp3").mkdir()
    half_plus_three(root / "hp3")
    config = root / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(f"  config {{ name: '{n}' base_path: '{root / n}' }}\n" for n in ("tiny", "dtypes"))
        + f"  config {{ name: 'hp3' base_path: '{root / 'hp3'}' version_labels {{ key: 'stable' value: 123 }} }}\n"
        + "}\n"
    )  # fmt: skip
    running = serving.start(
        model_config_file=config,
        backend="dev",
        verbose=False,
        extra_args=["--allow_non_finite", "--rest_api_enable_cors_support=true"],
    )
    yield running
    running.stop()


def test_at_least_eighty_cases_each_citing_its_source():
    assert len(CASES) >= 80
    assert len({c.id for c in CASES}) == len(CASES)
    assert all(c.source for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_answer_as_tf_serving_gives_it(server, case):
    data = case.body if isinstance(case.body, bytes | str) or case.body is None else None
    payload = case.body if data is None and case.body is not None else None
    answer = requests.request(
        case.method,
        server.url + case.path,
        data=data,
        json=payload,
        headers=case.headers,
        timeout=60,
    )
    assert answer.status_code == case.status, (case.source, answer.text[:500])
    if case.method == "OPTIONS":
        assert answer.text == case.expect
        return
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"  # CORS on: every answer
    body = answer.json()
    if isinstance(case.expect, str):
        assert case.expect in body["error"], (case.source, body)
    elif callable(case.expect):
        assert case.expect(body) is not False, (case.source, body)
    elif case.expect is not None:
        assert body == case.expect, (case.source, body)
    elif case.status >= 400:
        assert body["error"], case.source
