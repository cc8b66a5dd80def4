"""The course's development server: TensorFlow Serving's REST API for machines without it.

Introduced in lesson 09. ``course serve`` starts real TF Serving when it can (the
``tensorflow_model_server`` binary or Docker's ``tensorflow/serving``) and this server otherwise;
both take the same flags and answer the same requests, so a client written here works against
production unchanged. Built on Tornado (the web framework Jupyter runs on); TensorFlow work runs
in a thread pool or in the batcher's threads, so requests are served concurrently.

Endpoints (paths are case-insensitive, as in TF Serving)::

    GET  /v1/models/<name>[/versions/<v>|/labels/<l>]            model status
    GET  /v1/models/<name>[/versions/<v>|/labels/<l>]/metadata   signatures
    POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict    predictions
    POST ...:classify, ...:regress                               501 (not implemented)
    GET  /monitoring/prometheus/metrics                          Prometheus metrics

Run ``python -m course_tools.serving.server --help`` for the flags.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import re
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import tornado.httpserver
import tornado.web

from course_tools.serving.batching import Batcher, BatchingParameters, read_batching_parameters
from course_tools.serving.protocol import (
    ServingError,
    error_body,
    parse_body,
    parse_predict,
    predict_response,
)
from course_tools.serving.repository import ModelConfig, Repository, read_model_config

__all__ = ["ServerSettings", "DevServer", "main"]

log = logging.getLogger("course.serving")

# tensorflow/serving model_servers/http_rest_api_util.cc
PREDICT_PATH = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:"
    r"(classify|regress|predict)"
)
STATUS_PATH = re.compile(
    r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?"
)
METRICS_PATH = "/monitoring/prometheus/metrics"
DEFAULT_MAX_BODY = 16 * 1024 * 1024


@dataclass
class ServerSettings:
    """What one server serves and how; built from the command line by :func:`main`."""

    models: list[ModelConfig]
    host: str = "127.0.0.1"
    port: int = 8501
    batching: BatchingParameters | None = None
    poll_seconds: float = 1.0
    threads: int = 8
    max_body_bytes: int = DEFAULT_MAX_BODY
    allow_non_finite: bool = False
    grace_seconds: float = 10.0


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "course_serving_requests",
            "REST requests by model, API and HTTP status",
            ["model", "api", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "course_serving_request_latency_seconds",
            "Request latency (server side)",
            ["model", "api"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.batch_size = Histogram(
            "course_serving_batch_size",
            "Examples per model call",
            registry=self.registry,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
        )
        self.in_flight = Gauge(
            "course_serving_requests_in_flight", "Requests being processed", registry=self.registry
        )
        self.loads = Counter(
            "course_serving_model_version_transitions",
            "Model version state changes",
            ["model", "state"],
            registry=self.registry,
        )
        self.available = Gauge(
            "course_serving_model_versions_available",
            "Versions available per model",
            ["model"],
            registry=self.registry,
        )

    def text(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


def _status_json(name: str, items: list) -> str:
    from google.protobuf import json_format
    from tensorflow_serving.apis import get_model_status_pb2

    response = get_model_status_pb2.GetModelStatusResponse()
    for version, state in items:
        entry = response.model_version_status.add()
        entry.version = version
        entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(state.state)
        entry.status.error_code = _error_code(state.error_code)
        entry.status.error_message = state.error_message
    return json_format.MessageToJson(response, always_print_fields_with_no_presence=True, indent=1)


def _error_code(name: str) -> int:
    from tensorflow.core.protobuf import error_codes_pb2

    return error_codes_pb2.Code.Value(name)


def _metadata_json(servable: Any) -> str:
    from google.protobuf import json_format
    from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

    spec = model_pb2.ModelSpec(name=servable.name)
    spec.version.value = servable.version
    spec.signature_name = ""
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for key, value in servable.signature_defs.items():
        sig_map.signature_def[key].CopyFrom(value)
    options = dict(always_print_fields_with_no_presence=True, preserving_proto_field_name=True)
    return json.dumps(
        {
            "model_spec": json_format.MessageToDict(spec, **options),
            "metadata": {"signature_def": json_format.MessageToDict(sig_map, **options)},
        },
        indent=1,
    )


class DevServer:
    """The server's state: models, batchers, thread pool, metrics; the Tornado app on top."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self.metrics = _Metrics()
        self.pool = ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="predict")
        self._batchers: dict[tuple[str, int, str], Batcher] = {}
        self.repository = Repository(settings.models, settings.poll_seconds, self._changed)
        self.in_flight = 0
        self.http_server: Any = None
        self.stopping = False

    def _changed(self, name: str, version: int, state: str) -> None:
        self.metrics.loads.labels(name, state).inc()
        self.metrics.available.labels(name).set(len(self.repository.available().get(name, [])))
        if state == "END":
            for key in [k for k in list(self._batchers) if k[:2] == (name, version)]:
                self._batchers.pop(key, None)  # requests holding it finish; then it is freed

    def batcher(self, servable: Any, signature: Any) -> Batcher:
        key = (servable.name, servable.version, signature.name)
        if key not in self._batchers:
            self._batchers[key] = Batcher(
                lambda arrays: servable.run(signature, arrays),
                self.settings.batching,
                executor=self.pool,
                on_batch=self.metrics.batch_size.observe,
            )
        return self._batchers[key]

    async def predict(self, servable: Any, body: bytes) -> str:
        doc = parse_body(body)
        signature = servable.signature(doc.get("signature_name", ""))
        arrays, fmt = parse_predict(
            doc, signature.inputs, allow_non_finite=self.settings.allow_non_finite
        )
        if self.settings.batching is not None:
            outputs = await self.batcher(servable, signature).submit(arrays)
        else:
            loop = asyncio.get_running_loop()
            outputs = await loop.run_in_executor(self.pool, servable.run, signature, arrays)
            self.metrics.batch_size.observe(
                max(a.shape[0] if a.ndim else 1 for a in arrays.values())
            )
        # Compact (C encoder); TF Serving pretty-prints, and clients parse either.
        return json.dumps(predict_response(outputs, fmt))

    def app(self) -> tornado.web.Application:
        return tornado.web.Application(
            [
                (METRICS_PATH, MetricsHandler, {"server": self}),
                (r"(?i)/v1(/.*)?", RestHandler, {"server": self}),
                (r".*", NotFoundHandler, {"server": self}),
            ],
            compress_response=False,
        )

    async def serve(self, ready: Any = None) -> None:
        """Load the models, listen, and run until SIGTERM/SIGINT, then drain and stop."""
        loop = asyncio.get_running_loop()
        # Import TensorFlow and the protos here, once, before any thread does: two threads
        # importing TensorFlow at the same time can see a half-initialised module.
        _status_json("warm-up", [])
        await loop.run_in_executor(None, self.repository.start)
        # TensorFlow and the models are millions of long-lived objects: keep them out of the
        # garbage collector's full passes, which otherwise rescan them as requests allocate.
        gc.freeze()
        self.http_server = tornado.httpserver.HTTPServer(
            self.app(),
            max_body_size=max(64 * 1024 * 1024, 4 * self.settings.max_body_bytes),
            idle_connection_timeout=60,
        )
        self.http_server.listen(self.settings.port, address=self.settings.host)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
        log.info("Exporting HTTP/REST API at:%s:%d ...", self.settings.host, self.settings.port)
        print(
            f"Exporting HTTP/REST API at:{self.settings.host}:{self.settings.port} ...", flush=True
        )
        if ready is not None:
            ready()
        await stop.wait()
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop accepting connections, let requests in flight finish, then release models."""
        self.stopping = True
        if self.http_server is not None:
            self.http_server.stop()
        deadline = time.monotonic() + self.settings.grace_seconds
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self.http_server is not None:
            await self.http_server.close_all_connections()
        self.repository.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)
        log.info("Server stopped (%d requests still in flight)", self.in_flight)


class _Handler(tornado.web.RequestHandler):
    def initialize(self, server: DevServer) -> None:
        self.server = server

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")

    def send_json(self, status: int, body: str) -> None:
        self.set_status(status)
        self.finish(body if body.endswith("\n") else body + "\n")

    def send_error_json(self, error: ServingError) -> None:
        self.send_json(error.http_status, error_body(error.message))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish(error_body(self._reason) + "\n")


class RestHandler(_Handler):
    SUPPORTED_METHODS = ("GET", "POST")

    def prepare(self) -> None:
        # Tornado has read the body (it refuses bodies over 4x the limit outright); one
        # over the limit is answered 413 in post() so the client reads why.
        self._size = len(self.request.body or b"")
        self._started = time.perf_counter()
        self.server.in_flight += 1
        self.server.metrics.in_flight.inc()
        self._counted = True

    def on_finish(self) -> None:
        if getattr(self, "_counted", False):
            self.server.in_flight -= 1
            self.server.metrics.in_flight.dec()
            self._counted = False

    def on_connection_close(self) -> None:
        self.on_finish()

    def _observe(self, model: str, api: str) -> None:
        self.server.metrics.requests.labels(model, api, str(self.get_status())).inc()
        self.server.metrics.latency.labels(model, api).observe(time.perf_counter() - self._started)

    async def get(self, *_: Any) -> None:
        match = STATUS_PATH.fullmatch(self.request.path)
        model = "-"
        try:
            if not match:
                raise ServingError(f"Malformed request: GET {self.request.path}")
            name, version, label, sub = match.groups()
            model = unquote(name or "") or "-"
            if not name:
                raise ServingError("Missing model name in request.")
            repo = self.server.repository
            v = int(version) if version else None
            lab = unquote(label) if label else None
            if sub:
                servable = repo.resolve(model, v, lab)
                self.send_json(200, _metadata_json(servable))
            else:
                # As TF Serving: a label is ignored here and every version is listed.
                self.send_json(200, _status_json(model, repo.status(model, v)))
        except ServingError as error:
            self.send_error_json(error)
        self._observe(model, "metadata" if match and match.group(4) else "status")

    async def post(self, *_: Any) -> None:
        match = PREDICT_PATH.fullmatch(self.request.path)
        model, api = "-", "predict"
        try:
            if not match:
                raise ServingError(f"Malformed request: POST {self.request.path}")
            name, version, label, api = match.groups()
            api = api.lower()
            model = unquote(name)
            if self._size > self.server.settings.max_body_bytes:
                raise ServingError(
                    f"Request body of {self._size} bytes is over this server's limit of "
                    f"{self.server.settings.max_body_bytes} bytes (--max_body_bytes). Send "
                    'fewer instances per request, or images as encoded bytes ({"b64": ...})',
                    "RESOURCE_EXHAUSTED",
                    413,
                )
            if self.server.stopping:
                raise ServingError("The server is shutting down", "UNAVAILABLE")
            servable = self.server.repository.resolve(
                model, int(version) if version else None, unquote(label) if label else None
            )
            if api != "predict":
                raise ServingError(
                    f"The course's development server does not implement :{api}; use "
                    ":predict (the course exports predict signatures only). Real TF "
                    "Serving answers :classify and :regress for models exported with "
                    "classification or regression signatures",
                    "UNIMPLEMENTED",
                )
            body = await self.server.predict(servable, self.request.body)
            self.send_json(200, body)
        except ServingError as error:
            self.send_error_json(error)
        except Exception as error:  # a bug, not the client's fault: say so, keep serving
            log.exception("predict failed")
            self.send_error_json(ServingError(f"Internal error: {error}", "INTERNAL"))
        self._observe(model, api)


class MetricsHandler(_Handler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.finish(self.server.metrics.text())


class NotFoundHandler(_Handler):
    def prepare(self) -> None:
        self.send_json(
            404, error_body(f"No such endpoint: {self.request.method} {self.request.path}")
        )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m course_tools.serving.server",
        description="The course's TF-Serving-compatible REST server (same flags as "
        "tensorflow_model_server where they overlap).",
    )
    p.add_argument("--rest_api_port", type=int, default=8501)
    p.add_argument("--port", type=int, default=8500, help="gRPC port: accepted, not served")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (dev server only)")
    p.add_argument("--model_name", default="default")
    p.add_argument("--model_base_path", default="")
    p.add_argument("--model_config_file", default="")
    p.add_argument("--enable_batching", action="store_true")
    p.add_argument("--batching_parameters_file", default="")
    p.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0)
    p.add_argument("--rest_api_num_threads", type=int, default=8)
    p.add_argument(
        "--tensorflow_intra_op_parallelism",
        type=int,
        default=0,
        help="threads per TensorFlow op (0: TensorFlow decides)",
    )
    p.add_argument(
        "--tensorflow_inter_op_parallelism",
        type=int,
        default=0,
        help="TensorFlow ops run at once (0: TensorFlow decides)",
    )
    p.add_argument("--max_body_bytes", type=int, default=DEFAULT_MAX_BODY)
    p.add_argument(
        "--allow_non_finite",
        action="store_true",
        help="pass NaN/Infinity inputs to the model as TF Serving does",
    )
    p.add_argument(
        "--monitoring_config_file",
        default="",
        help="accepted; metrics are always at " + METRICS_PATH,
    )
    return p


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    if args.model_config_file:
        models = read_model_config(args.model_config_file)
    elif args.model_base_path:
        base = Path(args.model_base_path)
        if not base.is_dir():
            raise SystemExit(f"--model_base_path {base} is not a folder")
        models = [ModelConfig(args.model_name, base.resolve())]
    else:
        raise SystemExit("give --model_base_path (and --model_name) or --model_config_file")
    batching = None
    if args.enable_batching:
        batching = (
            read_batching_parameters(args.batching_parameters_file)
            if args.batching_parameters_file
            else BatchingParameters()
        )
    return ServerSettings(
        models,
        host=args.host,
        port=args.rest_api_port,
        batching=batching,
        poll_seconds=args.file_system_poll_wait_seconds,
        threads=args.rest_api_num_threads,
        max_body_bytes=args.max_body_bytes,
        allow_non_finite=args.allow_non_finite,
    )


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    logging.getLogger("tornado.access").setLevel(logging.WARNING)  # errors only
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    # The HTTP thread and the model threads share the interpreter lock: hand it over every
    # 1 ms rather than 5 ms so a finished batch is not kept waiting (measured: about 10% more
    # requests per second under batching on 2 cores, no change one at a time).
    sys.setswitchinterval(0.001)
    if args.tensorflow_intra_op_parallelism or args.tensorflow_inter_op_parallelism:
        import tensorflow as tf

        if args.tensorflow_intra_op_parallelism:
            tf.config.threading.set_intra_op_parallelism_threads(
                args.tensorflow_intra_op_parallelism
            )
        if args.tensorflow_inter_op_parallelism:
            tf.config.threading.set_inter_op_parallelism_threads(
                args.tensorflow_inter_op_parallelism
            )
    for config in settings.models:
        print(f"model {config.name}: {config.base_path} (policy {config.policy})", flush=True)
    asyncio.run(DevServer(settings).serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
