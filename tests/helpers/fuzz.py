"""Generated requests for the serving fuzz test and ``bench/fuzz_serving.py``.

Seeded, so a failure replays: every request comes from ``requests_for(seed)``. A mix of
well-formed requests with wrong content, mutated valid bodies (cut, bytes flipped, garbage
inserted), random JSON of every type (huge integers, NaN, unicode, base64 objects, ragged and
deep lists), random bytes, gzip that is or is not gzip, odd paths (unicode, escapes, 70 KB,
versions past int64) and methods, and random headers.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

KEYS = ["instances", "inputs", "signature_name", "examples", "context", "b64", "x", "image",
        "a", "b", "nested", ""]  # fmt: skip
VERBS = ["predict", "classify", "regress", "PREDICT", "explain", "", "predict:predict"]
METHODS = ["POST"] * 6 + ["GET"] * 3 + ["PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"]


@dataclass
class FuzzRequest:
    method: str
    path: str
    body: bytes = b""
    headers: dict = field(default_factory=dict)


def _number(rng: random.Random) -> object:
    return rng.choice([
        0, -1, 1, 255, 256, 2**31, -(2**31) - 1, 2**63, 2**64, -(2**63) - 1, 10**400,
        rng.random(), -rng.random() * 1e38, 1e39, 1e308, 5e-324, float("nan"), float("inf"),
        rng.randint(-(10**6), 10**6), True, False,
    ])  # fmt: skip


def _string(rng: random.Random) -> str:
    return rng.choice(["", "x", "héllo", "\u0000", "\ud800", "💥" * 5, "aGVsbG8=", "a" * 300,
                       "==", "-_", " \n"])  # fmt: skip


def _value(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if depth > 4 or roll < 0.35:
        kind = rng.random()
        if kind < 0.5:
            return _number(rng)
        if kind < 0.8:
            return _string(rng)
        if kind < 0.9:
            return None
        return {"b64": rng.choice([_string(rng), 5, None])}
    if roll < 0.75:
        width = rng.choice([0, 1, 2, 3, 8])
        if rng.random() < 0.5:  # rectangular lists of one kind, as tensors are
            item = _value(rng, depth + 1)
            return [item] * width
        return [_value(rng, depth + 1) for _ in range(width)]
    return {rng.choice(KEYS): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _image(rng: random.Random) -> list:
    return [[[rng.random()] for _ in range(8)] for _ in range(8)]


def _body(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.25:  # a plausible request with something wrong in it
        doc: dict = {}
        key = rng.choice(["instances", "inputs", "examples"])
        if key == "examples":
            doc["examples"] = [{rng.choice(["x", "bias", "y"]): _value(rng, 3)} for _ in range(2)]
            if rng.random() < 0.3:
                doc["context"] = {"bias": _value(rng, 3)}
        else:
            doc[key] = [_image(rng)] if rng.random() < 0.5 else _value(rng)
        if rng.random() < 0.4:
            doc["signature_name"] = rng.choice(["", "serving_default", "nope", 5,
                                                "classify_x_to_y", "regress_x_to_y"])  # fmt: skip
        text = json.dumps(doc)
    elif roll < 0.55:
        text = json.dumps(_value(rng))
    elif roll < 0.75:  # a valid request, damaged
        raw = bytearray(json.dumps({"instances": [_image(rng)]}).encode())
        for _ in range(rng.randint(1, 5)):
            i = rng.randrange(len(raw))
            action = rng.random()
            if action < 0.4:
                raw[i] = rng.randrange(256)
            elif action < 0.7:
                del raw[i:]
                break
            else:
                raw[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        return bytes(raw)
    elif roll < 0.85:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
    elif roll < 0.95:  # deep nesting where a value goes
        depth = rng.choice([70, 1000, 20_000])
        return b'{"instances": ' + b"[" * depth + b"1" + b"]" * depth + b"}"
    else:
        text = '{"instances": [' + ",".join(["1"] * rng.randint(0, 3)) + "]"  # unterminated
    return text.encode("utf-8", "surrogatepass")


def _path(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.05:
        return "/v1/models/" + "m" * 70_000
    if roll < 0.1:
        return rng.choice(["/", "/v1", "/v1/", "/v2/health", "/monitoring/prometheus/metrics",
                           "//v1//models", "/v1/models/%ZZ", "/v1/models/%00:predict"])  # fmt: skip
    name = rng.choice(["tiny", "hp3", "nope", "tiny%20", "ti/ny", "é", "TINY"])
    path = f"/v1/models/{name}"
    where = rng.random()
    if where < 0.2:
        path += f"/versions/{rng.choice(['1', '123', '0', '99999999999999999999', '-1', '00001'])}"
    elif where < 0.3:
        path += f"/labels/{rng.choice(['stable', 'canary', '%41', ''])}"
    if rng.random() < 0.3:
        return path + rng.choice(["", "/metadata", "/metadata/x"])
    return f"{path}:{rng.choice(VERBS)}"


def requests_for(seed: int, count: int) -> Iterator[FuzzRequest]:
    """``count`` requests, the same ones for the same seed."""
    rng = random.Random(seed)
    for _ in range(count):
        method = rng.choice(METHODS)
        body = _body(rng) if method in ("POST", "PUT", "PATCH") else b""
        headers = {}
        if rng.random() < 0.1:
            headers["Content-Encoding"] = "gzip"
            if rng.random() < 0.7:
                body = gzip.compress(body)
        if rng.random() < 0.1:
            headers["Origin"] = rng.choice(["http://a.b", "file://x", "", "https://"])
        if rng.random() < 0.1:
            headers["Content-Type"] = rng.choice(["text/plain", "application/json; charset=x",
                                                  "multipart/form-data"])  # fmt: skip
        yield FuzzRequest(method, _path(rng), body, headers)


def run(url: str, seed: int, count: int, timeout: float = 20.0) -> dict:
    """Send the requests to a server at ``url``; count answers by status class, hangs
    (no answer within ``timeout``), dropped connections, and the first 5xx seen."""
    import requests

    counts = {"2xx": 0, "4xx": 0, "5xx": 0, "other": 0, "hang": 0, "dropped": 0}
    first_5xx: list[str] = []
    with requests.Session() as session:
        for request in requests_for(seed, count):
            try:
                answer = session.request(
                    request.method,
                    url + request.path,
                    data=request.body,
                    headers=request.headers,
                    timeout=timeout,
                )
            except requests.Timeout:
                counts["hang"] += 1
                continue
            except requests.ConnectionError:
                counts["dropped"] += 1
                continue
            status = answer.status_code
            kind = f"{status // 100}xx" if status // 100 in (2, 4, 5) else "other"
            counts[kind] += 1
            if status >= 500 and len(first_5xx) < 5:
                first_5xx.append(
                    f"{request.method} {request.path[:80]} -> {status} {answer.text[:200]}"
                )
    counts["first_5xx"] = first_5xx
    return counts
