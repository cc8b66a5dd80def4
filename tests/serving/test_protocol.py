"""TF Serving's JSON rules, the batcher, config parsing and the client, without a model server."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from course.serving.config import ModelConfig, read_model_config
from course_tools.serving.batching import Batcher, BatchingParameters, read_batching_parameters
from course_tools.serving.protocol import ServingError, TensorSpec, parse_predict, predict_response

FLOAT = {"x": TensorSpec("float32", (-1, 2))}


def test_row_and_columnar_requests_become_batches():
    arrays, fmt = parse_predict({"instances": [[1, 2], [3.5, 4]]}, FLOAT)
    assert fmt == "row" and arrays["x"].dtype == np.float32
    np.testing.assert_array_equal(arrays["x"], [[1, 2], [3.5, 4]])
    arrays, fmt = parse_predict({"inputs": {"x": [[1, 2]]}}, FLOAT)
    assert fmt == "columnar" and arrays["x"].shape == (1, 2)


def test_several_inputs_need_objects_in_rows():
    specs = {"a": TensorSpec("float32", (-1,)), "b": TensorSpec("string", (-1,))}
    arrays, _ = parse_predict(
        {"instances": [{"a": 1.0, "b": {"b64": "aGk="}}, {"a": 2.0, "b": "yo"}]}, specs
    )
    assert arrays["b"].tolist() == [b"hi", b"yo"]
    with pytest.raises(ServingError, match="instances is a plain list, but expecting list of"):
        parse_predict({"instances": [1.0]}, specs)
    with pytest.raises(ServingError, match="keys must be equal to: a,b"):
        parse_predict({"instances": [{"a": 1.0}]}, specs)


def test_float32_outputs_print_at_float32_precision_and_nan_passes_through():
    out = predict_response({"p": np.array([[0.2, np.nan, np.inf]], dtype=np.float32)}, "row")
    text = json.dumps(out)
    assert text == '{"predictions": [[0.2, NaN, Infinity]]}'


def test_outputs_named_bytes_are_base64_and_others_text():
    out = predict_response(
        {
            "label": np.array([b"cat"], dtype=object),
            "thumb_bytes": np.array([b"\x00\x01"], dtype=object),
        },
        "row",
    )
    assert out == {"predictions": [{"label": "cat", "thumb_bytes": {"b64": "AAE="}}]}


def test_row_response_with_inconsistent_batch_sizes_is_an_error():
    with pytest.raises(
        ServingError, match="Tensor name: b has inconsistent batch size: 1 expecting: 2"
    ):
        predict_response(
            {"a": np.zeros((2, 3), np.float32), "b": np.zeros((1,), np.float32)}, "row"
        )
    out = predict_response(
        {"a": np.zeros((2,), np.float32), "b": np.zeros((1,), np.float32)}, "columnar"
    )
    assert out == {"outputs": {"a": [0.0, 0.0], "b": [0.0]}}


def test_non_finite_inputs_are_refused_unless_allowed():
    doc = {"instances": [[float("nan"), 1.0]]}
    with pytest.raises(ServingError, match="holds NaN or Infinity"):
        parse_predict(doc, FLOAT)
    arrays, _ = parse_predict(doc, FLOAT, allow_non_finite=True)
    assert np.isnan(arrays["x"][0, 0])


def test_batcher_merges_concurrent_requests_and_isolates_a_failing_one():
    calls = []

    def run(arrays):
        x = arrays["x"]
        calls.append(len(x))
        if (x < 0).any():
            raise ValueError("negative")
        return {"y": x * 2}

    async def main():
        batcher = Batcher(
            run,
            BatchingParameters(max_batch_size=8, batch_timeout_micros=50_000, num_batch_threads=1),
        )
        requests = [batcher.submit({"x": np.full((1, 2), i, np.float32)}) for i in range(6)]
        requests.append(batcher.submit({"x": np.full((1, 2), -1, np.float32)}))
        return await asyncio.gather(*requests, return_exceptions=True)

    *results, bad = asyncio.run(main())
    assert [r["y"][0, 0] for r in results] == [0, 2, 4, 6, 8, 10]
    assert isinstance(bad, ValueError) and str(bad) == "negative"
    assert calls[0] == 7  # one model call for all seven, then retried one by one
    assert sorted(calls[1:]) == [1] * 7


def test_batcher_sends_a_full_batch_without_waiting_and_splits_big_requests():
    calls = []

    def run(arrays):
        calls.append(len(arrays["x"]))
        return {"y": arrays["x"]}

    async def main():
        batcher = Batcher(run, BatchingParameters(max_batch_size=4, batch_timeout_micros=10**7))
        small = [batcher.submit({"x": np.zeros((2, 1), np.float32)}) for _ in range(2)]
        big = batcher.submit({"x": np.zeros((9, 1), np.float32)})
        return await asyncio.wait_for(asyncio.gather(*small, big), timeout=5)

    outputs = asyncio.run(main())  # a 10 s timeout would fail wait_for: full batches go at once
    assert sorted(calls) == [4, 9] and [len(o["y"]) for o in outputs] == [2, 2, 9]


def test_batching_parameters_file(tmp_path):
    path = tmp_path / "batching.config"
    path.write_text(
        "max_batch_size { value: 64 }\nbatch_timeout_micros { value: 500 }\n"
        "pad_variable_length_inputs: true\n"
    )
    with pytest.raises(ValueError, match="expected `name { value: N }`"):
        read_batching_parameters(path)
    path.write_text("max_batch_size { value: 64 }\nbatch_timeout_micros { value: 500 }\n")
    params = read_batching_parameters(path)
    assert (params.max_batch_size, params.batch_timeout_micros) == (64, 500)


def test_models_config_with_policies_and_labels(tmp_path):
    path = tmp_path / "models.config"
    path.write_text("""model_config_list {
      config { name: 'a' base_path: '/m/a' model_platform: 'tensorflow'
               model_version_policy { all {} } }
      config { name: 'b' base_path: 'rel/b'
               model_version_policy { latest { num_versions: 2 } }
               version_labels { key: 'stable' value: 4 } } }""")
    a, b = read_model_config(path)
    assert (a.name, a.policy, str(a.base_path)) == ("a", "all", "/m/a")
    assert b.base_path == tmp_path / "rel" / "b" and b.labels == {"stable": 4}
    assert b.wanted([1, 2, 5, 3]) == {3, 5}
    assert a.wanted([1, 2]) == {1, 2}
    path.write_text("model_config_list { config { name: 'a' base_pth: '/x' } }")
    with pytest.raises(ValueError, match="not a valid TF Serving model config"):
        read_model_config(path)
    with pytest.raises(ValueError, match="must match"):
        ModelConfig("a", "/x", labels={"not ok": 1})


class _Flaky(BaseHTTPRequestHandler):
    answers: list = []

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        code, body = self.answers.pop(0)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_client_retries_503_then_raises_the_servers_message(flaky):
    from course.serving import Client

    url = f"http://127.0.0.1:{flaky.server_address[1]}"
    _Flaky.answers = [
        (503, {"error": "busy"}),
        (503, {"error": "busy"}),
        (200, {"predictions": [[0.25, 0.75]]}),
    ]
    client = Client(url, "m", retries=3, backoff=0.01)
    np.testing.assert_array_equal(client.predict([[1.0]]), [[0.25, 0.75]])
    _Flaky.answers = [(503, {"error": "busy"})] * 3
    with pytest.raises(ServingError, match=r"busy \(HTTP 503\)"):
        Client(url, "m", retries=2, backoff=0.01).predict([[1.0]])
    _Flaky.answers = [(400, {"error": "Missing 'inputs' or 'instances' key"})]
    with pytest.raises(ServingError) as info:
        client.predict([[1.0]])
    assert info.value.http_status == 400 and info.value.code == "INVALID_ARGUMENT"
    assert info.value.message == "Missing 'inputs' or 'instances' key"


def test_client_says_when_nothing_listens():
    from course.serving import Client
    from course.serving.launcher import free_port

    started = time.monotonic()
    with pytest.raises(ServingError, match="is the server running"):
        Client(f"http://127.0.0.1:{free_port()}", "m", retries=1, backoff=0.01).status()
    assert time.monotonic() - started < 10
