"""The development server against TF Serving's documented REST behaviour (api_rest.md).

One server (the real subprocess that `course serve` and lesson 09 start) serves a small model;
every request shape and every error case from the protocol is sent to it, and after all the bad
requests it must still be serving.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests
from helpers.serving import CLASSES, SIZE, export, images, png_b64, post, tiny_model

pytestmark = pytest.mark.slow

LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from course import serving

    base = tmp_path_factory.mktemp("models")
    model = tiny_model(seed=1)
    export(model, base, "digits", 1)
    (base / "digits" / "not-a-version").mkdir()  # ignored, as TF Serving ignores it
    server = serving.start(
        base / "digits",
        "digits",
        backend="dev",
        verbose=False,
        extra_args=[f"--max_body_bytes={LIMIT}"],
    )
    yield server, model
    server.stop()


def url(served, suffix=""):
    return f"{served[0].url}/v1/models/digits{suffix}"


def test_status_matches_tf_serving(served):
    answer = requests.get(url(served), timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert requests.get(url(served, "/versions/1"), timeout=10).json() == answer.json()


@pytest.mark.parametrize(
    "path, code, message",
    [
        ("/v1/models/digits/versions/7", 404, "Could not find version 7 of model digits"),
        ("/v1/models/nope", 404, "Could not find any versions of model nope"),
        ("/v1/models", 400, "Missing model name in request."),
        (
            "/v1/models/digits/labels/stable/metadata",
            400,
            "Unrecognized servable version label: stable",
        ),
        (
            "/v1/models/digits/versions/x",
            400,
            "Malformed request: GET /v1/models/digits/versions/x",
        ),
        ("/v1/models/nope/metadata", 404, "Servable not found for request: Latest(nope)"),
    ],
)
def test_status_errors(served, path, code, message):
    answer = requests.get(served[0].url + path, timeout=10)
    assert answer.status_code == code
    assert answer.json() == {"error": message}


def test_metadata_has_both_signatures_as_tf_serving_prints_them(served):
    doc = requests.get(url(served, "/metadata"), timeout=10).json()
    assert doc["model_spec"] == {"name": "digits", "signature_name": "", "version": "1"}
    sigs = doc["metadata"]["signature_def"]["signature_def"]
    image = sigs["serving_default"]["inputs"]["image"]
    assert image["dtype"] == "DT_FLOAT"
    assert image["tensor_shape"] == {
        "dim": [{"size": s, "name": ""} for s in ("-1", str(SIZE), str(SIZE), "1")],
        "unknown_rank": False,
    }
    assert sigs["serving_default"]["method_name"] == "tensorflow/serving/predict"
    assert set(sigs["serving_default"]["outputs"]) == {"probabilities"}
    assert sigs["serving_bytes"]["inputs"]["image_bytes"]["dtype"] == "DT_STRING"
    assert set(sigs["serving_bytes"]["outputs"]) == {"probabilities", "class_id", "label"}


def test_row_predict_equals_in_process_prediction(served):
    x = images(5) / 255.0
    answer = post(url(served, ":predict"), {"instances": x.tolist()})
    assert answer.status_code == 200, answer.text
    got = np.asarray(answer.json()["predictions"])
    want = served[1].predict(x.astype("float32"), verbose=0)
    assert got.shape == (5, 10)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_columnar_predict_and_case_insensitive_path(served):
    x = images(3, seed=1) / 255.0
    answer = post(
        served[0].url + "/V1/MODELS/digits/VERSIONS/1:PREDICT",
        {"signature_name": "serving_default", "inputs": {"image": x.tolist()}},
    )
    assert answer.status_code == 200, answer.text
    got = np.asarray(answer.json()["outputs"])
    np.testing.assert_allclose(got, served[1].predict(x.astype("float32"), verbose=0), atol=1e-6)


def test_b64_png_bytes_signature_decodes_as_training_did(served):
    x = images(4, seed=2)
    body = {
        "signature_name": "serving_bytes",
        "instances": [{"image_bytes": {"b64": png_b64(im)}} for im in x],
    }
    answer = post(url(served, ":predict"), body)
    assert answer.status_code == 200, answer.text
    rows = answer.json()["predictions"]
    want = served[1].predict((x / 255.0).astype("float32"), verbose=0)
    np.testing.assert_allclose([r["probabilities"] for r in rows], want, atol=1e-6)
    assert [r["class_id"] for r in rows] == want.argmax(1).tolist()
    assert [r["label"] for r in rows] == [CLASSES[i] for i in want.argmax(1)]
    # Columnar: one tensor of bytes for a one-input signature.
    answer = post(
        url(served, ":predict"),
        {"signature_name": "serving_bytes", "inputs": [{"b64": png_b64(im)} for im in x]},
    )
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json()["outputs"]["probabilities"], want, atol=1e-6)


def _ok_row():
    return (images(1)[0] / 255.0).tolist()


ROW_JSON = json.dumps([[[0.5]] * SIZE] * SIZE)
BAD_REQUESTS = [
    (
        "no instances or inputs",
        b'{"signature_name": "serving_default"}',
        400,
        "Missing 'inputs' or 'instances' key",
    ),
    (
        "both instances and inputs",
        {"instances": [_ok_row()], "inputs": [_ok_row()]},
        400,
        "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist",
    ),
    (
        "unknown signature",
        {"signature_name": "nope", "instances": [_ok_row()]},
        400,
        'Serving signature name: "nope" not found in signature def',
    ),
    (
        "signature name not a string",
        {"signature_name": 3, "instances": [_ok_row()]},
        400,
        "'signature_name' key must be a string value.",
    ),
    ("malformed JSON", b'{"instances": [1, 2', 400, "JSON Parse error:"),
    ("empty body", b"", 400, "JSON Parse error: The document is empty"),
    ("not an object", b"[1, 2, 3]", 400, "Is not object"),
    ("empty instances", {"instances": []}, 400, "No values in 'instances' array"),
    ("instances not a list", {"instances": 3}, 400, "Expecting 'instances' to be an list/array"),
    ("wrong shape", {"instances": [[[0.5]] * SIZE]}, 400, "input 'image' has shape [1, 8, 1]"),
    (
        "wrong dtype",
        {"instances": [[["a"] * SIZE] * SIZE]},
        400,
        "Type: String is not of expected type: float",
    ),
    (
        "bool is not a number",
        {"instances": [[[[True]] * SIZE] * SIZE]},
        400,
        "Type: True is not of expected type: float",
    ),
    (
        "ragged instances",
        {"instances": [_ok_row(), _ok_row()[:4]]},
        400,
        "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: Expecting "
        "tensor size: 64 but got: 32",
    ),
    (
        "ragged inner list",
        {"instances": [[[[0.1]] * SIZE] * (SIZE - 1) + [[[0.1]] * 3]]},
        400,
        "Encountered list at unexpected size: 3 at level: 1 expected size: 8",
    ),
    (
        # json_tensor_test.cc FloatTensorThatExceedsMaxReturnsInf: +inf, which the
        # development server refuses by default (--allow_non_finite passes it on)
        "too big for float32",
        {"instances": [[[[1e39]] * SIZE] * SIZE]},
        400,
        "or a number too large for float32",
    ),
    (
        "NaN",
        b'{"instances": [' + ROW_JSON.replace("0.5", "NaN", 1).encode() + b"]}",
        400,
        "holds NaN or Infinity",
    ),
    (
        "Infinity",
        b'{"inputs": [' + ROW_JSON.replace("0.5", "-Infinity", 1).encode() + b"]}",
        400,
        "holds NaN or Infinity",
    ),
    (
        "b64 into a float input",
        {"instances": [{"b64": "AAAA"}]},
        400,
        "is not of expected type: float",
    ),
    (
        "invalid base64",
        {"signature_name": "serving_bytes", "instances": [{"b64": "@@@"}]},
        400,
        "Unable to base64 decode",
    ),
    (
        "url-safe base64",
        {"signature_name": "serving_bytes", "instances": [{"b64": "-_8="}]},
        400,
        "Unable to base64 decode",
    ),
    (
        "bytes that are no image",
        {"signature_name": "serving_bytes", "instances": [{"b64": "aGVsbG8gd29ybGQ="}]},
        400,
        "Unknown image file format",
    ),
    (
        "unknown input name",
        {"signature_name": "serving_bytes", "instances": [{"photo": {"b64": "AAAA"}}]},
        400,
        "JSON object: does not have named input: photo",
    ),
    (
        "missing named input",
        {"signature_name": "serving_bytes", "inputs": {"photo": []}},
        400,
        "Missing named input: image_bytes in 'inputs' object.",
    ),
]


@pytest.mark.parametrize(
    "what, body, code, message", BAD_REQUESTS, ids=[case[0] for case in BAD_REQUESTS]
)
def test_bad_requests_get_tf_serving_errors(served, what, body, code, message):
    answer = post(url(served, ":predict"), body, headers={"Content-Type": "application/json"})
    assert answer.status_code == code, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    assert message in answer.json()["error"]


@pytest.mark.parametrize(
    "path, code, message",
    [
        ("/v1/models/nope:predict", 404, "Servable not found for request: Latest(nope)"),
        (
            "/v1/models/digits/versions/9:predict",
            404,
            "Servable not found for request: Specific(digits, 9)",
        ),
        (
            "/v1/models/digits/labels/canary:predict",
            400,
            "Unrecognized servable version label: canary",
        ),
        # classifier.cc / regressor.cc: a predict signature has no "inputs" tensor
        ("/v1/models/digits:classify", 400, "No classification inputs found in SignatureDef"),
        ("/v1/models/digits:regress", 400, "No regression inputs found in SignatureDef"),
        ("/v1/models/digits:explain", 400, "Malformed request: POST /v1/models/digits:explain"),
    ],
)
def test_routing_errors(served, path, code, message):
    body = {"examples": [{"x": 1.0}]} if path.endswith(("classify", "regress")) else None
    answer = post(served[0].url + path, body or {"instances": [_ok_row()]})
    assert answer.status_code == code
    assert message in answer.json()["error"]


def test_body_over_the_limit_gets_413_and_the_server_goes_on(served):
    big = {"instances": [_ok_row()] * 400}  # ~ 1 MB of JSON, over the 256 KB limit
    answer = post(url(served, ":predict"), big)
    assert answer.status_code == 413
    assert "over this server's limit" in answer.json()["error"]
    assert post(url(served, ":predict"), {"instances": [_ok_row()]}).status_code == 200


def test_still_serving_after_every_bad_request_and_metrics_count_them(served):
    for _, body, _, _ in BAD_REQUESTS:
        post(url(served, ":predict"), body)
    assert requests.get(url(served), timeout=10).json()["model_version_status"][0]["state"] == (
        "AVAILABLE"
    )
    assert post(url(served, ":predict"), {"instances": [_ok_row()]}).status_code == 200
    metrics = requests.get(served[0].url + "/monitoring/prometheus/metrics", timeout=10).text
    # TF Serving's names (util.cc, prometheus_exporter.cc)
    assert ':tensorflow:serving:request_count{model_name="digits",status="INVALID_ARGUMENT"}' in (
        metrics
    )
    assert ':tensorflow:serving:request_count{model_name="digits",status="OK"}' in metrics
    assert ':tensorflow:serving:request_latency_bucket{model_name="digits",API="predict",' in (
        metrics
    )
    assert "course_serving_batch_size_bucket" in metrics


def test_unknown_path_is_a_json_404(served):
    answer = requests.get(served[0].url + "/v2/health", timeout=10)
    assert answer.status_code == 404
    assert "No such endpoint" in answer.json()["error"]
