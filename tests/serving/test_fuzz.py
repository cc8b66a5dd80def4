"""Fuzz: 10,000 generated requests (bodies, headers, paths, methods) get no 5xx and no hang,
and the server answers a valid request correctly afterwards (``helpers.fuzz``)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import fuzz
from helpers.serving import images, post, tiny_and_half_plus_three

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
COUNT = 10_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from course import serving

    root = tmp_path_factory.mktemp("fuzz")
    model, config = tiny_and_half_plus_three(root, seed=5)
    running = serving.start(
        model_config_file=config,
        backend="dev",
        verbose=False,
        extra_args=["--rest_api_enable_cors_support", "--max_body_bytes=1000000"],
    )
    yield running, model
    running.stop()


def test_ten_thousand_generated_requests_get_no_5xx_and_no_hang(server):
    running, model = server
    counts = fuzz.run(running.url, seed=2026, count=COUNT)
    print(f"fuzz, {COUNT} requests: {counts}")
    assert counts["2xx"] + counts["4xx"] + counts["5xx"] + counts["other"] == COUNT, counts
    assert counts["5xx"] == 0, counts["first_5xx"]
    assert counts["hang"] == 0 and counts["dropped"] == 0, counts
    assert counts["4xx"] > COUNT // 2, counts  # the requests were mostly wrong, as meant
    # ... and the server still answers correctly
    x = images(2, seed=9) / 255.0
    answer = post(f"{running.url}/v1/models/tiny:predict", {"instances": x.tolist()})
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(
        answer.json()["predictions"], model.predict(x.astype("float32"), verbose=0), atol=1e-5
    )
    regress = post(f"{running.url}/v1/models/hp3:regress", {"examples": [{"x": 2.0}]})
    assert regress.json() == {"results": [4.0]}
