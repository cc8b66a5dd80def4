"""Serving benchmark: latency and throughput of the REST path next to the in-process call.

In one run, on the course's reference digits CNN (16x16 grey input; weights do not change the
timings, so it is not trained) exported with ``course.serving.export``:

- in-process: the SavedModel's ``serving_default`` signature called directly, one image;
- REST, one at a time: one image per request, one request after another (concurrency 1);
- REST, concurrency 32 without server-side batching;
- REST, concurrency 32 with batching (``max_batch_size`` 32, ``batch_timeout_micros`` 2000);
- gRPC (TF Serving's PredictionService on ``--port``, tensorflow-serving-api's stub), one at a
  time and at concurrency 32 with batching: the same image as a binary TensorProto instead of
  JSON text.

Each REST row runs ``--repeats`` times (default 3) on the same server after a warm-up and shows
the run with the median wall time (throughput on a shared 2-core machine varies by +-15%).

Each REST row is a fresh server (the same one ``course serve`` and lesson 09 start; real TF
Serving is used when this machine has it) on 127.0.0.1; the load comes from a lean asynchronous
keep-alive client in this process, so both share this machine's cores. It prints p50 / p99
latency and throughput, and the throughput ratio of each row to one-at-a-time requests.

    .venv/bin/python bench/serving.py                 # 2,000 requests per row
    .venv/bin/python bench/serving.py --requests 500  # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import course  # noqa: E402


async def load(url: str, body: bytes, requests: int, concurrency: int) -> tuple[list, float]:
    """Send ``requests`` POSTs with ``concurrency`` in flight; latencies (s) and wall time.

    A lean HTTP/1.1 keep-alive load generator (one connection per concurrent client, as a
    production client pool would hold), so that the client takes as little of the shared CPU
    as possible; every answer's status is checked.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    errors: list[str] = []
    todo = iter(range(requests))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            for _ in todo:
                started = time.perf_counter()
                writer.write(head + body)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                answer = await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if b" 200 " not in status_line:
                    errors.append(f"{status_line!r} {answer[:200]!r}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} of {requests} requests failed, e.g. {errors[0]}")
    return latencies, wall


async def load_grpc(
    target: str, request: object, requests: int, concurrency: int
) -> tuple[list, float]:
    """The same load over gRPC: ``concurrency`` callers on one HTTP/2 channel (grpc.aio)."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    latencies: list[float] = []
    todo = iter(range(requests))
    async with grpc.aio.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        async def worker() -> None:
            for _ in todo:
                started = time.perf_counter()
                await stub.Predict(request, timeout=60)  # raises on any error status
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return latencies, wall


def row(name: str, latencies: list, wall: float, base: float | None) -> str:
    ms = np.asarray(latencies) * 1000
    rate = len(latencies) / wall
    ratio = f"{rate / base:5.2f}x" if base else "   - "
    return (
        f"{name:<38} {np.percentile(ms, 50):8.2f} {np.percentile(ms, 99):8.2f} "
        f"{rate:10.0f}  {ratio}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs per row; the row shows the median run's throughput",
    )
    args = parser.parse_args()

    course.setup(seed=0, verbose=False)
    import tensorflow as tf

    from course import models, serving

    base = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    model = models.digits_cnn((16, 16, 1), 10)
    serving.export(model, base, "digits", 1)
    image = np.random.default_rng(0).random((1, 16, 16, 1), dtype=np.float32)
    body = json.dumps({"instances": image.tolist()}).encode()

    loaded = tf.saved_model.load(str(base / "digits" / "1"))
    call = loaded.signatures["serving_default"]
    x = tf.constant(image)
    for _ in range(20):
        call(image=x)
    latencies = []
    started = time.perf_counter()
    for _ in range(args.requests):
        t = time.perf_counter()
        call(image=x)
        latencies.append(time.perf_counter() - t)
    in_process = (latencies, time.perf_counter() - started)

    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.inputs["image"].CopyFrom(tf.make_tensor_proto(image))

    n, c = args.requests, args.concurrency
    batching = {"max_batch_size": 32, "batch_timeout_micros": 2000}
    setups = [
        ("REST, one at a time", None, 1, "rest"),
        (f"REST, concurrency {c}, no batching", None, c, "rest"),
        (f"REST, concurrency {c}, batching", batching, c, "rest"),
        ("gRPC, one at a time", None, 1, "grpc"),
        (f"gRPC, concurrency {c}, batching", batching, c, "grpc"),
    ]
    results = []
    backend = None
    for name, batched, concurrency, protocol in setups:
        with serving.start(base / "digits", "digits", batching=batched, verbose=False) as server:
            backend = server.backend
            if protocol == "rest":
                url = f"{server.url}/v1/models/digits:predict"

                def one_run(count: int, url=url, concurrency=concurrency) -> tuple[list, float]:
                    return asyncio.run(load(url, body, count, concurrency))
            else:

                def one_run(count: int, server=server, concurrency=concurrency) -> tuple:
                    return asyncio.run(load_grpc(server.grpc_target, request, count, concurrency))

            one_run(min(200, n))  # warm up
            runs = sorted((one_run(n) for _ in range(args.repeats)), key=lambda run: run[1])
            results.append((name, *runs[len(runs) // 2]))  # the median run by wall time

    print(
        f"\nServing the reference digits CNN (16x16x1 -> 10), {n} requests per run, median of "
        f"{args.repeats} runs per row, "
        f"server: {backend}, {os.cpu_count()} CPU cores shared by client and server"
    )
    print(f"{'':<38} {'p50 ms':>8} {'p99 ms':>8} {'requests/s':>10}  vs one-at-a-time")
    one_at_a_time = len(results[0][1]) / results[0][2]
    print(row("in-process SavedModel call (batch 1)", *in_process, None))
    for name, latencies, wall in results:
        print(row(name, latencies, wall, one_at_a_time))


if __name__ == "__main__":
    main()
