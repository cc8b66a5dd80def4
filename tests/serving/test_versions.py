"""Versions, labels, models.config, hot swaps, batching and shutdown of the development server."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from helpers.serving import export, images, post, tiny_model

pytestmark = pytest.mark.slow

CONFIG = """
model_config_list {
  config {
    name: 'digits'
    base_path: 'digits'
    model_platform: 'tensorflow'
    model_version_policy { specific { versions: 1 versions: 2 } }
    version_labels { key: 'stable' value: 1 }
    version_labels { key: 'canary' value: 2 }
  }
  config {
    name: 'shapes'
    base_path: 'shapes'
    model_platform: 'tensorflow'
  }
}
"""


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    """Two models from a models.config: digits v1+v2 with labels, shapes latest of v1/v3."""
    from course import serving

    base = tmp_path_factory.mktemp("farm")
    models = {seed: tiny_model(seed) for seed in (1, 2, 3, 4)}
    export(models[1], base, "digits", 1)
    export(models[2], base, "digits", 2)
    export(models[3], base, "digits", 3)  # not in the specific policy: never loaded
    export(models[1], base, "shapes", 1)
    export(models[3], base, "shapes", 3)
    (base / "shapes" / "tmp").mkdir()  # not numeric: ignored
    (base / "models.config").write_text(CONFIG)
    server = serving.start(
        model_config_file=base / "models.config",
        backend="dev",
        batching={"max_batch_size": 16, "batch_timeout_micros": 5000},
        poll_seconds=0.2,
        verbose=False,
    )
    yield server, base, models
    server.stop()


def predict(server, path, x):
    answer = post(f"{server.url}/v1/models/{path}:predict", {"instances": x.tolist()})
    assert answer.status_code == 200, answer.text
    return np.asarray(answer.json()["predictions"])


def versions_and_states(server, name):
    doc = requests.get(f"{server.url}/v1/models/{name}", timeout=10).json()
    return {e["version"]: e["state"] for e in doc["model_version_status"]}


def test_specific_policy_serves_exactly_the_listed_versions(farm):
    server, _, _ = farm
    assert versions_and_states(server, "digits") == {"1": "AVAILABLE", "2": "AVAILABLE"}
    assert versions_and_states(server, "shapes") == {"3": "AVAILABLE"}


def test_labels_versions_and_latest_reach_the_right_model(farm):
    server, _, models = farm
    x = images(4) / 255.0
    want = {s: m.predict(x.astype("float32"), verbose=0) for s, m in models.items()}
    np.testing.assert_allclose(predict(server, "digits/labels/stable", x), want[1], atol=1e-6)
    np.testing.assert_allclose(predict(server, "digits/labels/canary", x), want[2], atol=1e-6)
    np.testing.assert_allclose(predict(server, "digits/versions/1", x), want[1], atol=1e-6)
    np.testing.assert_allclose(predict(server, "digits", x), want[2], atol=1e-6)  # latest
    np.testing.assert_allclose(predict(server, "shapes", x), want[3], atol=1e-6)
    answer = post(f"{server.url}/v1/models/digits/versions/3:predict", {"instances": x.tolist()})
    assert answer.status_code == 404
    assert answer.json()["error"] == "Servable not found for request: Specific(digits, 3)"


def test_a_new_version_is_picked_up_while_running_and_replaces_the_old(farm):
    server, base, models = farm
    x = images(3, seed=5) / 255.0
    export(models[4], base, "shapes", 4)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if versions_and_states(server, "shapes").get("4") == "AVAILABLE":
            break
        time.sleep(0.1)
    states = versions_and_states(server, "shapes")
    assert states["4"] == "AVAILABLE"
    want = models[4].predict(x.astype("float32"), verbose=0)
    np.testing.assert_allclose(predict(server, "shapes", x), want, atol=1e-6)
    deadline = time.monotonic() + 10
    while versions_and_states(server, "shapes").get("3") != "END" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert versions_and_states(server, "shapes")["3"] == "END"  # unloaded once 4 served


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(farm):
    server, _, models = farm
    xs = [images(1, seed=s) / 255.0 for s in range(64)]
    with ThreadPoolExecutor(32) as pool:
        got = list(pool.map(lambda x: predict(server, "digits/versions/1", x), xs))
    for x, rows in zip(xs, got, strict=True):
        np.testing.assert_allclose(
            rows, models[1].predict(x.astype("float32"), verbose=0), atol=1e-6
        )
    metrics = requests.get(server.url + "/monitoring/prometheus/metrics", timeout=10).text
    values = {
        line.split()[0]: float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith(("course_serving_batch_size_", ":tensorflow:serving:batching"))
    }
    calls = values["course_serving_batch_size_count{}"]
    examples = values["course_serving_batch_size_sum{}"]
    assert values[":tensorflow:serving:batching_session:wrapped_run_count{}"] == calls
    assert examples / calls > 1.5, f"{examples:.0f} examples in {calls:.0f} model calls"


def test_a_bad_request_in_a_batch_fails_alone(farm):
    server, _, _ = farm
    good = {"instances": (images(1) / 255.0).tolist()}
    bad = {"instances": [[[[0.5]] * 8] * 7]}  # 7 rows: wrong shape
    with ThreadPoolExecutor(16) as pool:
        answers = list(
            pool.map(lambda b: post(f"{server.url}/v1/models/digits:predict", b), [good, bad] * 8)
        )
    assert [a.status_code for a in answers] == [200, 400] * 8


def test_sigterm_finishes_requests_in_flight_and_exits_cleanly(tmp_path):
    from course import serving

    export(tiny_model(1), tmp_path, "m", 1)
    server = serving.start(tmp_path / "m", "m", backend="dev", verbose=False)
    x = {"instances": (images(512) / 255.0).tolist()}
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(post, f"{server.url}/v1/models/m:predict", x) for _ in range(8)]
        time.sleep(0.3)  # requests are in flight
        server.stop()
        codes = []
        for f in futures:
            try:
                codes.append(f.result().status_code)
            except requests.ConnectionError:
                codes.append("refused")  # sent after the server stopped listening
    assert server.process.returncode == 0, server.log()
    with pytest.raises(ProcessLookupError):  # nothing of the server's process group is left
        os.killpg(server.process.pid, 0)
    assert 200 in codes and set(codes) <= {200, "refused", 503}, codes
    assert "Server stopped" in server.log()


def test_launcher_reports_a_missing_version_folder(tmp_path):
    from course import serving

    (tmp_path / "empty").mkdir()
    with pytest.raises(TimeoutError, match="numeric version folder"):
        serving.start(tmp_path / "empty", "empty", backend="dev", timeout=10, verbose=False)
