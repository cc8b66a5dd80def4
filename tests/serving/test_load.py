"""A bounded load test on 127.0.0.1: 5,000 predict requests at concurrency 32, while a new
model version is dropped into the base path midway. No request may fail, and the requests
after the swap must be answered by the new version."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from helpers.serving import export, images, tiny_model

pytestmark = pytest.mark.slow

REQUESTS = 5000
CONCURRENCY = 32


def test_5000_requests_at_concurrency_32_through_a_version_swap(tmp_path):
    from course import serving

    old, new = tiny_model(1), tiny_model(2)
    export(old, tmp_path, "digits", 1)
    x = (images(1, seed=9) / 255.0).astype("float32")
    want_old = old.predict(x, verbose=0)[0]
    want_new = new.predict(x, verbose=0)[0]
    assert np.abs(want_old - want_new).max() > 1e-3  # the two versions are distinguishable
    body = {"instances": x.tolist()}
    server = serving.start(
        tmp_path / "digits",
        "digits",
        backend="dev",
        poll_seconds=0.2,
        batching={"max_batch_size": 32, "batch_timeout_micros": 2000},
        verbose=False,
    )
    local = threading.local()
    done = []  # (finish time, which version answered or the error)
    lock = threading.Lock()
    swapped_at = []
    new_served = threading.Event()

    def swap():
        export(new, tmp_path, "digits", 2)
        swapped_at.append(time.monotonic())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = requests.get(f"{server.url}/v1/models/digits", timeout=10).json()
            if any(
                v["version"] == "2" and v["state"] == "AVAILABLE"
                for v in status["model_version_status"]
            ):
                break
            time.sleep(0.05)
        new_served.set()

    def one(i):
        # The last quarter waits until version 2 is served, so the swap happens under load
        # however fast the first three quarters go.
        if i >= REQUESTS * 3 // 4:
            new_served.wait(timeout=90)
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        try:
            answer = session.post(f"{server.url}/v1/models/digits:predict", json=body, timeout=30)
            if answer.status_code != 200:
                outcome = f"HTTP {answer.status_code}: {answer.text[:200]}"
            else:
                got = np.asarray(answer.json()["predictions"][0])
                outcome = (
                    "old"
                    if np.allclose(got, want_old, atol=1e-5)
                    else "new"
                    if np.allclose(got, want_new, atol=1e-5)
                    else "neither"
                )
        except requests.RequestException as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        with lock:
            done.append((time.monotonic(), outcome))
            if len(done) == REQUESTS // 2:
                threading.Thread(target=swap).start()

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(one, range(REQUESTS)))
    finally:
        server.stop()
    elapsed = time.monotonic() - started
    outcomes = [o for _, o in done]
    errors = [o for o in outcomes if o not in ("old", "new")]
    print(
        f"\n{REQUESTS} requests at concurrency {CONCURRENCY} in {elapsed:.1f} s "
        f"({REQUESTS / elapsed:.0f}/s): old {outcomes.count('old')}, new "
        f"{outcomes.count('new')}, errors {len(errors)}"
    )
    assert not errors, errors[:5]
    assert swapped_at, "the new version was never exported"
    assert outcomes.count("new") > 0, "no request reached the new version"
    # Once the new version answered, the old one never did again (it was replaced).
    first_new = outcomes.index("new")
    assert "old" not in outcomes[first_new + CONCURRENCY :], "old version answered after the swap"
    assert outcomes[-1] == "new"
