"""TensorFlow Serving's REST protocol: JSON requests to arrays, arrays to JSON responses.

The rules and the error messages follow tensorflow/serving (``util/json_tensor.cc``,
``model_servers/http_rest_api_handler.cc``, ``g3doc/api_rest.md``) so that a client written
against the course's development server works unchanged against real TF Serving:

- a body holds an optional ``signature_name`` and exactly one of ``instances`` (row format: a
  non-empty list, one entry per example; several inputs -> a list of objects keyed by input
  name, all with the same batch size) or ``inputs`` (columnar: one tensor, or an object keyed
  by input name);
- binary values travel as ``{"b64": "<standard base64>"}`` wherever a string tensor goes;
- a row request is answered ``{"predictions": ...}`` (one output: its name is dropped), a
  columnar one ``{"outputs": ...}``; outputs whose name ends in ``_bytes`` are base64-encoded;
- errors are ``{"error": "<message>"}`` with the HTTP code TF Serving maps the status to.

One deliberate difference, on by default in the development server: NaN and infinite values in
a float input are refused with 400 (TF Serving passes them to the model, which then returns NaN
probabilities); ``allow_non_finite=True`` restores TF Serving's behaviour.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from course.serving.errors import HTTP_CODES, ServingError, error_body
from course_tools.serving import deep_json

__all__ = [
    "HTTP_CODES",
    "ServingError",
    "TensorSpec",
    "error_body",
    "parse_predict",
    "predict_response",
]


# What TF Serving converts JSON to (json_tensor.cc, AddValueToTensor); any other dtype is
# answered 501 UNIMPLEMENTED. Integers follow rapidjson's IsInt/IsInt64/IsUint/IsUint64: the
# 8/16-bit types take any int32 and wrap as TensorFlow's cast does.
_INT_RANGES = {
    "int8": (-(2**31), 2**31),
    "uint8": (-(2**31), 2**31),
    "int16": (-(2**31), 2**31),
    "int32": (-(2**31), 2**31),
    "int64": (-(2**63), 2**63),
    "uint32": (0, 2**32),
    "uint64": (0, 2**64),
}
_FLOATS = ("float32", "float64")
SUPPORTED_DTYPES = frozenset((*_INT_RANGES, *_FLOATS, "bool", "string"))
MAX_RANK = 64  # NumPy's limit; TensorFlow's is 254, and no served signature comes near either


@dataclass(frozen=True)
class TensorSpec:
    """A signature input: its dtype (``"float32"``, ``"string"``, ...) and shape (-1 unknown)."""

    dtype: str
    shape: tuple[int, ...]

    @property
    def tf_name(self) -> str:  # as TF Serving's messages spell it (DataTypeString)
        return {"float32": "float", "float64": "double", "float16": "half"}.get(
            self.dtype, self.dtype
        )


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _short(value: Any, limit: int = 256) -> str:
    """The value as TF Serving quotes it in errors: compact JSON cut at 256 bytes."""
    try:
        text = json.dumps(value, separators=(",", ":"))
    except (RecursionError, ValueError):  # nested deeper than the encoder goes
        text = "[" * limit
    return text if len(text) <= limit else text[:limit] + "..."


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_ASCII_SPACE = b" \t\n\v\f\r"


def b64decode(text: str) -> bytes:
    """Base64 as TF Serving reads it (``absl::Base64Unescape``): the standard alphabet, ASCII
    whitespace anywhere (MIME encoders wrap lines at 76), and the padding at the end either
    absent or complete (``=``; absl also takes ``.``)."""
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise ServingError("Unable to base64 decode") from None
    raw = raw.translate(None, _ASCII_SPACE)
    data = raw.rstrip(b"=.")
    pads = len(raw) - len(data)
    expected = {0: 0, 2: 2, 3: 1}.get(len(data) % 4)
    if expected is None or pads not in (0, expected) or not _B64_ALPHABET.issuperset(data):
        raise ServingError("Unable to base64 decode")
    try:
        return base64.b64decode(data + b"=" * expected, validate=True)
    except (binascii.Error, ValueError):
        raise ServingError("Unable to base64 decode") from None


def _b64decode(value: dict) -> bytes:
    return b64decode(value["b64"])


def _dense_shape(value: Any) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value: Any, level: int, shape: list[int], spec: TensorSpec, out: list) -> None:
    """Walk ``value`` as json_tensor.cc's FillTensorProto does, with its error messages."""
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise ServingError(
                f"JSON Value: {_short(value)} found at incorrect level: {level + 1} in the JSON "
                f"DOM. Expected at level: {rank}"
            )
        out.append(_leaf(value, spec))
        return
    if level >= rank:
        raise ServingError(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise ServingError(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected "
            f"size: {shape[level]}"
        )
    for item in value:
        _fill(item, level + 1, shape, spec, out)


def _type_error(value: Any, spec: TensorSpec) -> ServingError:
    return ServingError(
        f"JSON Value: {_short(value)} Type: {_json_type(value)} is not of expected type: "
        f"{spec.tf_name}"
    )


def _unimplemented(value: Any, spec: TensorSpec) -> ServingError:
    return ServingError(
        f"Conversion of JSON Value: {_short(value)} to type: {spec.tf_name}", "UNIMPLEMENTED"
    )


def _as_double(value: int) -> float:
    """An integer too large for 64 bits, as rapidjson reads it: a double, or a parse error."""
    try:
        return float(value)
    except OverflowError:
        raise ServingError("JSON Parse error: Number too big to be stored in double.") from None


def _leaf(value: Any, spec: TensorSpec) -> Any:
    if spec.dtype == "string":
        if _is_b64(value):
            return _b64decode(value)
        if isinstance(value, dict):
            raise ServingError(
                f"JSON Value: {_short(value)} not formatted correctly for base64 data"
            )
        if not isinstance(value, str):
            raise _type_error(value, spec)
        return value.encode("utf-8", "surrogateescape")  # the request's bytes, as sent
    if spec.dtype not in SUPPORTED_DTYPES:
        raise _unimplemented(value, spec)
    if isinstance(value, dict):
        raise _type_error(value, spec)
    if spec.dtype == "bool":
        if not isinstance(value, bool):
            raise _type_error(value, spec)
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(value, spec)
    if spec.dtype in _FLOATS:
        # GetFloat/GetDouble: beyond float32's range becomes +-inf, as in TF Serving
        if isinstance(value, int) and not -(2**63) <= value < 2**64:
            return _as_double(value)
        return value
    low, high = _INT_RANGES[spec.dtype]
    if not isinstance(value, int) or not low <= value < high:
        raise _type_error(value, spec)
    return value


def _holds_bool(value: Any) -> bool:
    level = [value]
    while level:
        below: list = []
        for item in level:
            if type(item) is list:
                below.extend(item)
            elif type(item) is bool:
                return True
        level = below
    return False


def _fast_array(value: Any, shape: list[int], spec: TensorSpec, bools: bool) -> Any:
    """A rectangular list of plain numbers in one NumPy call, or None for the checked walk."""
    if spec.dtype not in SUPPORTED_DTYPES or spec.dtype == "string":
        return None
    try:
        fast = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        return None
    if list(fast.shape) != shape:
        return None
    kind = fast.dtype.kind
    if spec.dtype == "bool":
        return fast if kind == "b" else None
    if kind not in "iuf" or (bools and _holds_bool(value)):  # true/false are not numbers
        return None
    if spec.dtype in _FLOATS:
        with np.errstate(over="ignore"):
            return fast.astype(spec.dtype)
    low, high = _INT_RANGES[spec.dtype]
    if kind == "f" or (fast.size and not (low <= fast.min() and fast.max() < high)):
        return None  # the walk names the first value that does not fit
    return fast.astype(spec.dtype)


def to_array(value: Any, spec: TensorSpec, *, bools: bool = True) -> np.ndarray:
    """One JSON value (scalar or nested lists) as an array of ``spec.dtype``.

    ``bools=False`` promises that the request holds no ``true``/``false`` (the server checks
    the body's bytes), which skips a scan on the fast path."""
    shape = _dense_shape(value)
    if len(shape) > MAX_RANK:
        raise ServingError(
            f"JSON Value: {_short(value)} is nested {len(shape)} lists deep; a tensor served "
            f"here has at most {MAX_RANK} dimensions"
        )
    fast = _fast_array(value, shape, spec, bools)
    if fast is not None:
        return fast
    flat: list = []
    _fill(value, 0, shape, spec, flat)
    if spec.dtype == "string":
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    if spec.dtype not in SUPPORTED_DTYPES:  # no values to refuse: an empty list
        raise _unimplemented(value, spec)
    if spec.dtype in _INT_RANGES:
        # int64 holds every int32, and casts as TensorFlow does (uint64 needs its own)
        wide = "uint64" if spec.dtype == "uint64" else "int64"
        return np.asarray(flat, dtype=wide).astype(spec.dtype).reshape(shape)
    if spec.dtype == "bool":
        return np.asarray(flat, dtype=bool).reshape(shape)
    with np.errstate(over="ignore"):
        return np.asarray(flat, dtype=np.float64).astype(spec.dtype).reshape(shape)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"  # json_tensor.cc: ShapeToString


def _check_finite(name: str, array: np.ndarray) -> None:
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        where = np.argwhere(~np.isfinite(array))[0].tolist()
        raise ServingError(
            f"Input '{name}' holds NaN or Infinity, or a number too large for "
            f"{array.dtype.name} (first at index {where}). Send finite numbers (the development "
            "server refuses them; start it with --allow_non_finite to pass them to the model as "
            "TF Serving does)"
        )


def _rows(
    instances: list, specs: Mapping[str, TensorSpec], bools: bool = True
) -> dict[str, np.ndarray]:
    def is_object(v: Any) -> bool:
        return isinstance(v, dict) and not _is_b64(v)

    if not isinstance(instances[0], dict) and len(specs) > 1:
        raise ServingError(
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map"
        )
    objects = is_object(instances[0])
    columns: dict[str, list[np.ndarray]] = {name: [] for name in specs}
    shapes: dict[str, tuple[int, ...]] = {}
    for i, item in enumerate(instances):
        if objects and not is_object(item):
            raise ServingError(f"Expecting object but got list at item {i} of input list")
        if not objects and is_object(item):
            raise ServingError(f"Expecting value/list but got object at item {i} of input list")
        pairs = item.items() if objects else [(next(iter(specs)), item)]
        for name, value in pairs:
            prefix = (
                f"Failed to process element: {i} key: {name} of 'instances' list."
                if objects
                else f"Failed to process element: {i} of 'instances' list."
            )
            if name not in specs:
                raise ServingError(
                    f"{prefix} Error: INVALID_ARGUMENT: JSON object: does not have named "
                    f"input: {name}"
                )
            try:
                array = to_array(value, specs[name], bools=bools)
            except ServingError as exc:  # wrapped as INVALID_ARGUMENT, its code in the text
                raise ServingError(f"{prefix} Error: {exc.code}: {exc.message}") from None
            if name in shapes and array.shape != shapes[name]:
                first, now = int(np.prod(shapes[name])), int(np.prod(array.shape))
                detail = (
                    f"Expecting tensor size: {first} but got: {now}"
                    if first != now
                    else f"Expecting shape {_shape_text(shapes[name])} but got: "
                    f"{_shape_text(array.shape)}"
                )
                raise ServingError(f"{prefix} Error: INVALID_ARGUMENT: {detail}")
            shapes.setdefault(name, array.shape)
            columns[name].append(array)
        if objects and set(item) != set(specs):
            raise ServingError(
                f"Failed to process element: {i} of 'instances' list. JSON object: "
                f"{_short(item)} keys must be equal to: {','.join(sorted(specs))}"
            )
    return {name: np.stack(arrays) for name, arrays in columns.items()}


def _columns(
    inputs: Any, specs: Mapping[str, TensorSpec], bools: bool = True
) -> dict[str, np.ndarray]:
    if not isinstance(inputs, dict) or _is_b64(inputs):
        if len(specs) > 1:
            raise ServingError(
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map"
            )
        name = next(iter(specs))
        return {name: to_array(inputs, specs[name], bools=bools)}
    out = {}
    for name, spec in specs.items():
        if name not in inputs:
            raise ServingError(f"Missing named input: {name} in 'inputs' object.")
        out[name] = to_array(inputs[name], spec, bools=bools)
    return out


def _first_key_wins(pairs: list[tuple[str, Any]]) -> dict:
    doc: dict = {}
    for key, value in pairs:
        doc.setdefault(key, value)  # rapidjson's FindMember finds the first
    return doc


_DECODER = json.JSONDecoder(object_pairs_hook=_first_key_wins)
_JSON_SPACE = " \t\n\r"


def parse_json(text: str) -> Any:
    """The first JSON value in ``text`` as rapidjson reads it for TF Serving: anything after it
    is ignored (``kParseStopWhenDoneFlag``), NaN and Infinity are numbers, a repeated key keeps
    its first value, and nesting has no depth limit."""
    start = len(text) - len(text.lstrip(_JSON_SPACE))
    if start == len(text):
        raise ServingError("JSON Parse error: The document is empty")
    try:
        return _DECODER.raw_decode(text, start)[0]
    except json.JSONDecodeError as exc:
        python_error = ServingError(f"JSON Parse error: {exc.msg} at offset: {exc.pos}")
    except RecursionError:
        return deep_json.parse(text, start)
    try:  # the same document again, for rapidjson's words for what is wrong
        return deep_json.parse(text, start)
    except RecursionError:
        raise python_error from None


def parse_body(body: bytes | str) -> dict:
    """The request's JSON object, or TF Serving's parse errors.

    Bytes that are not UTF-8 pass through inside strings, as rapidjson (which does not
    validate the encoding) passes them to TensorFlow."""
    if not body:
        raise ServingError("JSON Parse error: The document is empty")
    text = body.decode("utf-8", "surrogateescape") if isinstance(body, bytes) else body
    doc = parse_json(text)
    if not isinstance(doc, dict):
        raise ServingError(f"JSON Value: {_short(doc)} Is not object")
    signature = doc.get("signature_name", None)
    if "signature_name" in doc and not isinstance(signature, str):
        raise ServingError(
            f"JSON Value: {_short(doc)} not formatted correctly. 'signature_name' key must be a "
            "string value."
        )
    return doc


def parse_predict(
    doc: dict,
    specs: Mapping[str, TensorSpec],
    *,
    allow_non_finite: bool = False,
    bools: bool = True,
) -> tuple[dict[str, np.ndarray], str]:
    """A predict request's input arrays and its format, ``"row"`` or ``"columnar"``.

    ``bools=False`` promises that the body holds no ``true``/``false`` (see :func:`to_array`).
    """
    if not specs:
        name = doc.get("signature_name") or "DEFAULT"
        raise ServingError(f"Failed to get input map for signature: {name}")
    if "instances" in doc and "inputs" in doc:
        raise ServingError(
            f"JSON Value: {_short(doc)} Not formatted correctly expecting only one of 'inputs' "
            "or 'instances' keys to exist "
        )
    if "instances" in doc:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise ServingError(
                f"JSON Value: {_short(doc)} Expecting 'instances' to be an list/array"
            )
        if not instances:
            raise ServingError(f"JSON Value: {_short(doc)} No values in 'instances' array")
        arrays, fmt = _rows(instances, specs, bools), "row"
    elif "inputs" in doc:
        arrays, fmt = _columns(doc["inputs"], specs, bools), "columnar"
    else:
        raise ServingError("Missing 'inputs' or 'instances' key")
    if not allow_non_finite:
        for name, array in arrays.items():
            _check_finite(name, array)
    return arrays, fmt


def _json_value(array: np.ndarray, as_bytes: bool) -> Any:
    """An output array as JSON-ready nested lists (float32 printed at float32 precision)."""
    if array.dtype == object or array.dtype.kind in "SU":
        flat = []
        for item in array.reshape(-1):
            raw = item if isinstance(item, bytes) else str(item).encode("utf-8")
            if as_bytes:
                flat.append({"b64": base64.b64encode(raw).decode("ascii")})
            else:
                flat.append(raw.decode("utf-8", errors="replace"))
    elif array.dtype == np.float32:
        # str(np.float32) is the shortest text that reads back as the same float32, as TF
        # Serving writes it (0.2, not 0.20000000298023224).
        flat = [float(str(v)) for v in array.reshape(-1)]
    else:
        flat = array.reshape(-1).tolist()
    if array.ndim == 0:
        return flat[0]
    return np.asarray(flat, dtype=object).reshape(array.shape).tolist()


def predict_response(outputs: Mapping[str, np.ndarray], fmt: str) -> dict:
    """The JSON object TF Serving answers a predict request with."""
    names = sorted(outputs)
    if fmt == "columnar":
        values = {n: _json_value(outputs[n], n.endswith("_bytes")) for n in names}
        return {"outputs": values[names[0]] if len(names) == 1 else values}
    batch = None
    for n in names:
        if outputs[n].ndim == 0:
            raise ServingError(f"Tensor name: {n} has no shape information ")
        size = outputs[n].shape[0]
        if batch is None:
            batch = size
        elif size != batch:
            raise ServingError(
                f"Tensor name: {n} has inconsistent batch size: {size} expecting: {batch}"
            )
    values = {n: _json_value(outputs[n], n.endswith("_bytes")) for n in names}
    if len(names) == 1:
        return {"predictions": values[names[0]]}
    return {"predictions": [{n: values[n][i] for n in names} for i in range(batch or 0)]}
