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
    POST ...:classify, ...:regress                     tf.Example in, labels and scores out
    GET  /monitoring/prometheus/metrics       Prometheus metrics (--monitoring_config_file)
    gRPC PredictionService, ModelService on --port        (tensorflow-serving-api's stubs)

Run ``python -m course_tools.serving.server --help`` for the flags: TF Serving's, spelled and
parsed as ``tensorflow_model_server`` does (``--flag=value`` or ``--flag value``; a boolean
alone or ``=true``/``=false``). The deliberate differences are listed in the README.
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
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import tornado.httpserver
import tornado.web

from course.serving.config import read_monitoring_config
from course_tools.serving import examples
from course_tools.serving.batching import Batcher, BatchingParameters, read_batching_parameters
from course_tools.serving.metrics import ServingMetrics
from course_tools.serving.protocol import (
    ServingError,
    error_body,
    parse_body,
    parse_predict,
    predict_response,
)
from course_tools.serving.repository import ModelConfig, Repository, read_model_config
from course_tools.serving.status import metadata_json, status_json

__all__ = ["ServerSettings", "DevServer", "main"]

log = logging.getLogger("course.serving")

# tensorflow/serving model_servers/http_rest_api_util.cc
PREDICT_PATH = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?:"
    r"(classify|regress|predict)"
)
STATUS_PATH = re.compile(
    r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?"
    r"(?:/(metadata))?"
)
DEFAULT_MAX_BODY = 16 * 1024 * 1024
# TF Serving's libevent server reads request lines of any length; Tornado's default (64 KB)
# would drop the connection without an answer.
MAX_HEADER_BYTES = 16 * 1024 * 1024


@dataclass
class ServerSettings:
    """What one server serves and how; built from the command line by :func:`main`."""

    models: list[ModelConfig]
    host: str = "127.0.0.1"
    port: int = 8501  # REST; 0 turns it off
    grpc_port: int = 0  # 0: no gRPC
    grpc_socket_path: str = ""
    batching: BatchingParameters | None = None
    poll_seconds: float = 1.0
    config_file: str = ""  # re-read every config_poll_seconds (0: never)
    config_poll_seconds: float = 0.0
    threads: int = 8
    timeout_ms: int = 30_000
    cors: bool = False
    metrics_path: str | None = None  # None: no Prometheus endpoint
    allow_unavailable_labels: bool = False
    check_method_names: bool = False
    saved_model_tags: tuple[str, ...] = ("serve",)
    max_body_bytes: int = DEFAULT_MAX_BODY
    allow_non_finite: bool = False
    grace_seconds: float = 10.0


class DevServer:
    """The server's state: models, batchers, thread pool, metrics; REST and gRPC on top."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self.metrics = ServingMetrics()
        self.pool = ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="predict")
        self._batchers: dict[tuple[str, int, str], Batcher] = {}
        self.repository = Repository(
            settings.models, settings.poll_seconds, self._changed, tags=settings.saved_model_tags
        )
        self.in_flight = 0
        self.http_server: Any = None
        self.grpc_server: Any = None
        self.stopping = False

    def _changed(self, name: str, version: int, state: str) -> None:
        if state == "AVAILABLE":
            path = str(self.repository.configs[name].base_path / str(version))
            self.metrics.load_attempts.inc(path, "success")
        elif state == "END" and self.repository.failed(name, version):
            path = str(self.repository.configs[name].base_path / str(version))
            self.metrics.load_attempts.inc(path, "failure")
        self.metrics.available.set(len(self.repository.available().get(name, [])), name)
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
                on_batch=self._on_batch,
            )
        return self._batchers[key]

    def _on_batch(self, size: int) -> None:
        self.metrics.batch_size.observe(size)
        self.metrics.wrapped_run_count.inc()

    async def run(self, servable: Any, signature: Any, arrays: dict, api: str) -> dict:
        """Call a signature (through the batcher when batching is on) within the deadline."""
        started = time.perf_counter()
        if self.settings.batching is not None:
            sizes = {a.shape[0] for a in arrays.values() if a.ndim}
            if len(sizes) > 1:  # batching_util.h
                raise ServingError(
                    "Batching Run() input tensors must have equal 0th-dimension size"
                )
            call = self.batcher(servable, signature).submit(arrays)
        else:
            loop = asyncio.get_running_loop()
            call = loop.run_in_executor(self.pool, servable.run, signature, arrays)
        try:
            # no task per call; 0 means no deadline, as in TensorFlow's RunOptions
            limit = self.settings.timeout_ms / 1000 if self.settings.timeout_ms > 0 else None
            async with asyncio.timeout(limit):
                outputs = await call
        except TimeoutError:
            raise ServingError("Deadline Exceeded", "DEADLINE_EXCEEDED") from None
        if self.settings.batching is None:
            self._on_batch(max(a.shape[0] if a.ndim else 1 for a in arrays.values()))
        micros = (time.perf_counter() - started) * 1e6
        self.metrics.runtime_latency.observe(micros, servable.name, api, "TF1")
        return outputs

    async def predict(self, servable: Any, body: bytes) -> str:
        doc = parse_body(body)
        signature = servable.signature(doc.get("signature_name", ""))
        arrays, fmt = parse_predict(
            doc,
            signature.inputs,
            allow_non_finite=self.settings.allow_non_finite,
            bools=b"true" in body or b"false" in body,
        )
        outputs = await self.run(servable, signature, arrays, "Predict")
        # Compact (C encoder); TF Serving pretty-prints, and clients parse either.
        return json.dumps(predict_response(outputs, fmt))

    async def classify_or_regress(self, servable: Any, body: bytes, api: str) -> str:
        doc = parse_body(body)
        serialized = examples.examples_from_json(doc, api)
        outputs = await self.run_examples(servable, doc.get("signature_name", ""), serialized, api)
        if api == "classify":
            return json.dumps(examples.classify_json(outputs))
        return json.dumps(examples.regress_json(outputs))

    async def run_examples(
        self, servable: Any, signature_name: str, serialized: list[bytes], api: str
    ) -> Any:
        """Classify or regress serialized tf.Examples: (label, score) rows or floats."""
        key = signature_name or "serving_default"
        sig_def = servable.signature_defs.get(key)
        if sig_def is None:
            raise ServingError(f"No signature was found with the name: {key}")
        check = self.settings.check_method_names
        if api == "classify":
            examples.check_classification_signature(sig_def, check_method=check)
        else:
            examples.check_regression_signature(sig_def, check_method=check)
        signature = servable.signature(key)
        batch = np.empty(len(serialized), dtype=object)
        batch[:] = serialized
        self.metrics.example_counts.observe(len(serialized), servable.name)
        self.metrics.example_count_total.inc(servable.name, by=len(serialized))
        outputs = await self.run(servable, signature, {"inputs": batch}, api.capitalize())
        if api == "classify":
            return examples.classify_outputs(outputs, len(serialized))
        return examples.regress_outputs(outputs, len(serialized))

    def app(self) -> tornado.web.Application:
        routes: list = []
        if self.settings.metrics_path:
            routes.append((re.escape(self.settings.metrics_path), MetricsHandler, {"server": self}))
        routes += [
            (r"(?i)/v1/.*", RestHandler, {"server": self}),
            (r".*", NotFoundHandler, {"server": self}),
        ]
        return tornado.web.Application(routes, compress_response=False, cors=self.settings.cors)

    async def serve(self, ready: Any = None) -> None:
        """Load the models, listen, and run until SIGTERM/SIGINT, then drain and stop."""
        loop = asyncio.get_running_loop()
        # Import TensorFlow and the protos here, once, before any thread does: two threads
        # importing TensorFlow at the same time can see a half-initialised module.
        status_json("warm-up", [])
        await loop.run_in_executor(None, self.repository.start)
        # A label on a version that did not load stops the server, as in TF Serving.
        self.repository.check_labels(self.settings.allow_unavailable_labels)
        # TensorFlow and the models are millions of long-lived objects: keep them out of the
        # garbage collector's full passes, which otherwise rescan them as requests allocate.
        gc.freeze()
        if self.settings.grpc_port or self.settings.grpc_socket_path:
            from course_tools.serving.grpc_service import start_grpc

            self.grpc_server = await start_grpc(self)
        if self.settings.port:
            self.http_server = tornado.httpserver.HTTPServer(
                self.app(),
                max_body_size=max(64 * 1024 * 1024, 4 * self.settings.max_body_bytes),
                max_header_size=MAX_HEADER_BYTES,
                idle_connection_timeout=60,
            )
            self.http_server.listen(self.settings.port, address=self.settings.host)
            log.info("Exporting HTTP/REST API at:%s:%d ...", self.settings.host, self.settings.port)
            print(
                f"Exporting HTTP/REST API at:{self.settings.host}:{self.settings.port} ...",
                flush=True,
            )
        reloader = None
        if self.settings.config_file and self.settings.config_poll_seconds > 0:
            reloader = loop.create_task(self._reload_config())
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
        if ready is not None:
            ready()
        await stop.wait()
        if reloader is not None:
            reloader.cancel()
        await self.shutdown()

    async def _reload_config(self) -> None:
        """Re-read ``--model_config_file`` (``--model_config_file_poll_wait_seconds``)."""
        loop = asyncio.get_running_loop()
        last = None
        while True:
            await asyncio.sleep(self.settings.config_poll_seconds)
            try:
                text = Path(self.settings.config_file).read_text()
                if text == last:
                    continue
                last = text
                configs = read_model_config(self.settings.config_file)
                await loop.run_in_executor(
                    None,
                    self.repository.reconfigure,
                    configs,
                    self.settings.allow_unavailable_labels,
                )
                log.info("Reloaded the model config from %s", self.settings.config_file)
            except (OSError, ValueError, ServingError) as exc:  # keep serving the old one
                log.error("Not applying %s: %s", self.settings.config_file, exc)

    async def shutdown(self) -> None:
        """Stop accepting connections, let requests in flight finish, then release models."""
        self.stopping = True
        if self.http_server is not None:
            self.http_server.stop()
        grpc_stopped = None
        if self.grpc_server is not None:  # refuses new calls, lets those running finish
            grpc_stopped = asyncio.ensure_future(self.grpc_server.stop(self.settings.grace_seconds))
        deadline = time.monotonic() + self.settings.grace_seconds
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self.http_server is not None:
            await self.http_server.close_all_connections()
        if grpc_stopped is not None:
            await grpc_stopped
        self.repository.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)
        log.info("Server stopped (%d requests still in flight)", self.in_flight)


def _version(text: str | None) -> int | None:
    """A version from the path, as http_rest_api_util.cc's ParseModelInfo reads it."""
    if not text:
        return None
    version = int(text)
    if not -(2**63) <= version < 2**63:
        raise ServingError(f"Failed to convert version: {text} to numeric.")
    return version


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
    """``/v1/...``: http_server.cc's RestApiRequestDispatcher and http_rest_api_handler.cc."""

    SUPPORTED_METHODS = ("GET", "POST", "OPTIONS", "PUT", "DELETE", "PATCH")

    def set_default_headers(self) -> None:
        super().set_default_headers()
        if self.application.settings.get("cors"):  # http_rest_api_util.cc: AddCORSHeaders
            self.set_header("Access-Control-Allow-Origin", "*")
            self.set_header("Access-Control-Allow-Methods", "POST, GET")
            self.set_header("Access-Control-Allow-Headers", "Content-Type")

    def prepare(self) -> None:
        # Tornado has read the body (it refuses bodies over 4x the limit outright); one
        # over the limit is answered 413 in post() so the client reads why.
        self._started = time.perf_counter()
        self._model, self._api, self._code = "", "", "OK"
        self.server.in_flight += 1
        self.server.metrics.in_flight.set(self.server.in_flight)
        self._counted = True

    def on_finish(self) -> None:
        if getattr(self, "_counted", False):
            self._counted = False
            self.server.in_flight -= 1
            metrics = self.server.metrics
            metrics.in_flight.set(self.server.in_flight)
            metrics.request_count.inc(self._model, self._code)
            if self._code == "OK":
                micros = (time.perf_counter() - self._started) * 1e6
                metrics.request_latency.observe(micros, self._model, self._api, "REST")

    def on_connection_close(self) -> None:
        self.on_finish()

    def _fail(self, error: ServingError) -> None:
        self._code = error.code
        self.send_error_json(error)

    def options(self, *_: Any) -> None:
        """A CORS preflight: OK when it names an http(s) origin; no body either way."""
        self.clear_header("Content-Type")
        if re.search(r"https?://", self.request.headers.get("Origin", "")):
            self.set_status(200)
        else:
            self._code = "FAILED_PRECONDITION"
            self.set_status(400)
        self.finish()

    def _malformed(self, *_: Any) -> None:
        self._fail(ServingError(f"Malformed request: {self.request.method} {self.request.path}"))

    put = delete = patch = _malformed

    async def get(self, *_: Any) -> None:
        match = STATUS_PATH.fullmatch(self.request.path)
        try:
            if not match:
                raise ServingError(f"Malformed request: GET {self.request.path}")
            name, version, label, sub = match.groups()
            self._model = unquote(name or "")
            if not name:
                raise ServingError("Missing model name in request.")
            repo = self.server.repository
            v = _version(version)
            lab = unquote(label) if label else None
            if sub:
                servable = repo.resolve(self._model, v, lab)
                self.send_json(200, metadata_json(servable))
            else:
                # As TF Serving: a label is ignored here and every version is listed.
                self.send_json(200, status_json(self._model, repo.status(self._model, v)))
        except ServingError as error:
            self._fail(error)

    def _body(self) -> bytes:
        """The request body, gunzipped when sent with ``Content-Encoding: gzip``."""
        body = self.request.body or b""
        limit = self.server.settings.max_body_bytes
        if "gzip" in self.request.headers.get("Content-Encoding", "").lower():
            inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header
            try:
                body = inflater.decompress(body, limit + 1)
            except zlib.error as exc:
                raise ServingError(f"Could not gunzip the request body: {exc}") from None
        if len(body) > limit:
            raise ServingError(
                f"Request body of {len(body)} bytes is over this server's limit of "
                f"{limit} bytes (--max_body_bytes). Send fewer instances per request, or "
                'images as encoded bytes ({"b64": ...})',
                "RESOURCE_EXHAUSTED",
                413,
            )
        return body

    async def post(self, *_: Any) -> None:
        match = PREDICT_PATH.fullmatch(self.request.path)
        try:
            if not match:
                raise ServingError(f"Malformed request: POST {self.request.path}")
            name, version, label, api = match.groups()
            self._api = api = api.lower()
            self._model = unquote(name)
            body = self._body()
            if self.server.stopping:
                raise ServingError("The server is shutting down", "UNAVAILABLE")
            servable = self.server.repository.resolve(
                self._model, _version(version), unquote(label) if label else None
            )
            if api == "predict":
                answer = await self.server.predict(servable, body)
            else:
                answer = await self.server.classify_or_regress(servable, body, api)
            self.send_json(200, answer)
        except ServingError as error:
            self._fail(error)
        except Exception as error:  # a bug, not the client's fault: say so, keep serving
            log.exception("%s failed", self._api or "request")
            self._fail(ServingError(f"Internal error: {error}", "INTERNAL"))


class MetricsHandler(_Handler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.finish(self.server.metrics.text())


class NotFoundHandler(_Handler):
    def prepare(self) -> None:
        self.send_json(
            404, error_body(f"No such endpoint: {self.request.method} {self.request.path}")
        )


def _bool(text: str) -> bool:
    """A boolean flag's value as TensorFlow's flag parser reads it."""
    value = text.strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# tensorflow_model_server's flags (model_servers/main.cc): name, type, default, what it does
# here. "accepted" flags tune what the development server does not have (TPUs, TFLite, gRPC
# channel options, load threads) and are read and ignored, so a command line written for TF
# Serving starts this server unchanged.
TF_SERVING_FLAGS: list[tuple[str, Any, Any, str]] = [
    ("port", int, 8500, "gRPC port (PredictionService, ModelService); 0 turns gRPC off"),
    ("grpc_socket_path", str, "", "also serve gRPC on this UNIX socket"),
    ("rest_api_port", int, 8501, "REST port; 0 turns REST off (TF Serving's default is 0)"),
    ("rest_api_num_threads", int, 8, "threads that run the models"),
    ("rest_api_timeout_in_ms", int, 30000, "deadline of one REST call (504 past it)"),
    ("rest_api_enable_cors_support", _bool, False, "CORS headers, so browsers may call"),
    ("enable_batching", _bool, False, "batch concurrent requests into one model call"),
    ("allow_version_labels_for_unavailable_models", _bool, False,
     "a new label may name a version that has not loaded yet"),
    ("batching_parameters_file", str, "", "max_batch_size, batch_timeout_micros, ..."),
    ("enable_per_model_batching_parameters", _bool, False, "accepted"),
    ("model_config_file", str, "", "models.config: several models, policies, labels"),
    ("model_config_file_poll_wait_seconds", int, 0, "re-read the model config (0: never)"),
    ("model_name", str, "default", "the model's name (with --model_base_path)"),
    ("model_base_path", str, "", "the folder of numbered version folders"),
    ("num_load_threads", int, 0, "accepted"),
    ("num_unload_threads", int, 0, "accepted"),
    ("max_num_load_retries", int, 5, "accepted"),
    ("load_retry_interval_micros", int, 60_000_000, "accepted"),
    ("file_system_poll_wait_seconds", float, 1.0, "how often to look for new versions"),
    ("flush_filesystem_caches", _bool, True, "accepted"),
    ("tensorflow_session_parallelism", int, 0, "accepted"),
    ("tensorflow_session_config_file", str, "", "accepted"),
    ("tensorflow_intra_op_parallelism", int, 0, "threads per TensorFlow op (0: TF decides)"),
    ("tensorflow_inter_op_parallelism", int, 0, "TensorFlow ops run at once (0: TF decides)"),
    ("use_alts_credentials", _bool, False, "accepted"),
    ("ssl_config_file", str, "", "accepted"),
    ("platform_config_file", str, "", "accepted"),
    ("per_process_gpu_memory_fraction", float, 0.0, "accepted"),
    ("saved_model_tags", str, "serve", "the MetaGraph to load, comma-separated tags"),
    ("grpc_channel_arguments", str, "", "accepted"),
    ("grpc_max_threads", int, 0, "gRPC worker threads (0: as many as --rest_api_num_threads)"),
    ("enable_model_warmup", _bool, True, "accepted"),
    ("num_request_iterations_for_warmup", int, 1, "accepted"),
    ("version", _bool, False, "print the version and exit"),
    ("monitoring_config_file", str, "", "MonitoringConfig: turns on Prometheus metrics"),
    ("remove_unused_fields_from_bundle_metagraph", _bool, True, "accepted"),
    ("prefer_tflite_model", _bool, False, "accepted"),
    ("num_tflite_pools", int, 1, "accepted"),
    ("num_tflite_interpreters_per_pool", int, 1, "accepted"),
    ("enable_signature_method_name_check", _bool, False,
     "classify/regress only on signatures whose method_name says so"),
    ("xla_cpu_compilation_enabled", _bool, False, "accepted"),
    ("xla_gpu_compilation_enabled", _bool, False, "accepted"),
    ("enable_profiler", _bool, True, "accepted"),
    ("thread_pool_factory_config_file", str, "", "accepted"),
    ("mixed_precision", str, "", "accepted"),
    ("skip_initialize_tpu", _bool, False, "accepted"),
    ("enable_grpc_healthcheck_service", _bool, False, "accepted"),
    ("enable_serialization_as_tensor_content", _bool, False, "accepted"),
]  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m course_tools.serving.server",
        description="The course's TF-Serving-compatible server (REST and gRPC), with "
        "tensorflow_model_server's flags.",
        allow_abbrev=False,
    )
    for name, kind, default, help_text in TF_SERVING_FLAGS:
        if kind is _bool:  # --flag, --flag=true, --flag false
            p.add_argument(
                f"--{name}", type=_bool, nargs="?", const=True, default=default, help=help_text
            )
        else:
            p.add_argument(f"--{name}", type=kind, default=default, help=help_text)
    # the development server's own
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument(
        "--max_body_bytes",
        type=int,
        default=DEFAULT_MAX_BODY,
        help="larger request bodies are answered 413",
    )
    p.add_argument(
        "--allow_non_finite",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
        help="pass NaN/Infinity inputs to the model as TF Serving does",
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
    metrics_path = None
    if args.monitoring_config_file:
        try:
            metrics_path = read_monitoring_config(args.monitoring_config_file)
        except (OSError, ValueError) as exc:
            raise SystemExit(f"--monitoring_config_file: {exc}") from None
    tags = tuple(t.strip() for t in args.saved_model_tags.split(",") if t.strip()) or ("serve",)
    return ServerSettings(
        models,
        host=args.host,
        port=args.rest_api_port,
        grpc_port=args.port,
        grpc_socket_path=args.grpc_socket_path,
        batching=batching,
        poll_seconds=args.file_system_poll_wait_seconds,
        config_file=args.model_config_file,
        config_poll_seconds=args.model_config_file_poll_wait_seconds,
        threads=args.rest_api_num_threads,
        timeout_ms=args.rest_api_timeout_in_ms,
        cors=args.rest_api_enable_cors_support,
        metrics_path=metrics_path,
        allow_unavailable_labels=args.allow_version_labels_for_unavailable_models,
        check_method_names=args.enable_signature_method_name_check,
        saved_model_tags=tags,
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
    if args.version:
        from course import __version__

        print(f"TensorFlow ModelServer: course development server {__version__}")
        return 0
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
    try:
        asyncio.run(DevServer(settings).serve())
    except ServingError as error:  # e.g. a label on a version that did not load
        print(f"error: {error.message}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
