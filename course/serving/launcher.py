"""Start a TF Serving REST endpoint: real TF Serving when this machine has it, else the course's.

Introduced in lesson 09. In order of preference:

1. ``tensorflow_model_server`` on PATH (the binary from TF Serving's apt repository);
2. Docker's ``tensorflow/serving`` image, when a Docker engine answers;
3. the course's development server (``python -m course_tools.serving.server``), which
   speaks the same REST protocol and needs nothing but this course's Python packages.

All three get the same flags (``--rest_api_port``, ``--model_name``, ``--model_base_path`` or
``--model_config_file``, ``--enable_batching``, ...). :func:`start` returns a handle that stops
the server (and its child processes) when the lesson ends, the kernel exits, or ``stop()`` runs.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from course.serving.config import write_monitoring_config

__all__ = ["BACKENDS", "Server", "available_backends", "docker_command", "free_port", "start"]

BACKENDS = ("tensorflow_model_server", "docker", "dev")
DOCKER_IMAGE = "tensorflow/serving"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def docker_engine() -> str | None:
    """The Docker engine's version when one answers within 5 s, else None (``course doctor``)."""
    if not shutil.which("docker"):
        return None
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (subprocess.TimeoutExpired, OSError):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def available_backends() -> list[str]:
    """The backends this machine can start, best first (``dev`` is always there)."""
    found = []
    if shutil.which("tensorflow_model_server"):
        found.append("tensorflow_model_server")
    if docker_engine():
        found.append("docker")
    return [*found, "dev"]


def server_flags(
    port: int,
    model_name: str | None,
    model_base_path: Path | None,
    model_config_file: Path | None,
    *,
    enable_batching: bool = False,
    batching_parameters_file: Path | None = None,
    poll_seconds: float = 1.0,
    grpc_port: int | None = None,
    monitoring_config_file: Path | None = None,
) -> list[str]:
    """The ``tensorflow_model_server`` flags every backend here takes (the dev server too)."""
    flags = [f"--rest_api_port={port}"]
    if grpc_port is not None:
        flags.append(f"--port={grpc_port}")
    if model_config_file is not None:
        flags.append(f"--model_config_file={model_config_file}")
    else:
        flags += [f"--model_name={model_name}", f"--model_base_path={model_base_path}"]
    if enable_batching or batching_parameters_file is not None:
        flags.append("--enable_batching")
    if batching_parameters_file is not None:
        flags.append(f"--batching_parameters_file={batching_parameters_file}")
    flags.append(f"--file_system_poll_wait_seconds={poll_seconds:g}")
    if monitoring_config_file is not None:
        flags.append(f"--monitoring_config_file={monitoring_config_file}")
    return flags


def docker_command(model_base_path: str | os.PathLike, model_name: str, port: int = 8501) -> str:
    """The ``docker run`` line that serves ``model_base_path`` with real TF Serving (lesson 09)."""
    base = Path(model_base_path).resolve()
    return (
        f"docker run --rm -p {port}:8501 --mount type=bind,source={base},"
        f"target=/models/{model_name} -e MODEL_NAME={model_name} -t {DOCKER_IMAGE}"
    )


def _batching_file(batching: dict | None, folder: Path) -> Path | None:
    if not batching:
        return None
    from course.serving.config import BatchingParameters

    params = BatchingParameters(**batching)  # validates names and values
    path = folder / "batching.config"
    path.write_text(
        "".join(
            f"{k} {{ value: {getattr(params, k)} }}\n"
            for k in (
                "max_batch_size",
                "batch_timeout_micros",
                "max_enqueued_batches",
                "num_batch_threads",
            )
        )
    )
    return path


class Server:
    """A running server: ``url`` (REST), ``grpc_target`` (gRPC, ``host:port``), ``backend``,
    ``log_path``; ``stop()`` ends it for good."""

    def __init__(
        self,
        process: subprocess.Popen,
        backend: str,
        port: int,
        log_path: Path,
        container: str | None = None,
        names: list[str] | None = None,
        grpc_port: int | None = None,
    ):
        self.process, self.backend, self.port = process, backend, port
        self.names = names or []
        self.url = f"http://127.0.0.1:{port}"
        self.grpc_port = grpc_port
        self.grpc_target = f"127.0.0.1:{grpc_port}" if grpc_port else None
        self.log_path = log_path
        self.container = container
        atexit.register(self.stop)

    def log(self, lines: int = 20) -> str:
        """The last ``lines`` lines the server wrote."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait(self, timeout: float = 120.0) -> Server:
        """Block until every model has an AVAILABLE version (see ``start(wait=False)``)."""
        _wait_ready(self, self.names, timeout)
        return self

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the server to finish its requests and exit; kill it if it will not."""
        if self.container:
            subprocess.run(["docker", "stop", self.container], capture_output=True, timeout=30)
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=5)
        atexit.unregister(self.stop)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running() else f"exited ({self.process.returncode})"
        return f"Server({self.backend}, {self.url}, {state})"


def _wait_ready(server: Server, names: list[str], timeout: float) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.running():
            raise RuntimeError(
                f"the {server.backend} server exited with code {server.process.returncode}. "
                f"Its log ({server.log_path}):\n{server.log()}"
            )
        try:
            ok = all(
                any(
                    v["state"] == "AVAILABLE"
                    for v in requests.get(f"{server.url}/v1/models/{n}", timeout=1)
                    .json()
                    .get("model_version_status", [])
                )
                for n in names
            )
            if ok:
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.1)
    server.stop()
    raise TimeoutError(
        f"the {server.backend} server did not serve {names} within {timeout:.0f} s. Is there a "
        f"numeric version folder (e.g. 1/) with a saved_model.pb? Its log:\n{server.log()}"
    )


def start(
    model_base_path: str | os.PathLike | None = None,
    model_name: str = "model",
    *,
    model_config_file: str | os.PathLike | None = None,
    port: int | None = None,
    backend: str = "auto",
    batching: dict | None = None,
    poll_seconds: float = 1.0,
    extra_args: list[str] | None = None,
    timeout: float = 120.0,
    wait: bool = True,
    verbose: bool = True,
) -> Server:
    """Start a server for one model (``model_base_path``) or several (``model_config_file``).

    Introduced in lesson 09. ``backend="auto"`` takes the best of :func:`available_backends`;
    name one to insist. ``batching`` turns on server-side batching with TF Serving's parameters
    (``{"max_batch_size": 32, "batch_timeout_micros": 2000}``). Waits until every model has an
    AVAILABLE version and prints one line saying which server started; with ``wait=False`` it
    returns at once (the server starts, and loads versions as they appear in the base path),
    and ``server.wait()`` blocks until they are served.

    Example::

        with serving.start("models/digits", "digits") as server:
            client = serving.Client(server.url, "digits")
    """
    if (model_base_path is None) == (model_config_file is None):
        raise ValueError("give model_base_path (one model) or model_config_file (several)")
    choices = available_backends()
    if backend == "auto":
        backend = choices[0]
    elif backend not in BACKENDS:
        raise ValueError(f"backend must be 'auto' or one of {BACKENDS}; got {backend!r}")
    elif backend not in choices:
        raise RuntimeError(f"{backend} is not available on this machine (found: {choices})")
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="course-serve-"))
    log_path = workdir / "server.log"
    base = Path(model_base_path).resolve() if model_base_path is not None else None
    config = Path(model_config_file).resolve() if model_config_file is not None else None
    if base is not None and not base.is_dir():
        raise FileNotFoundError(
            f"model base path {base} is not a folder; export a model into "
            f"{base}/1 first (serving.export)"
        )
    names = [model_name]
    if config is not None:
        from course.serving.config import read_model_config

        names = [c.name for c in read_model_config(config)]
    container = None
    batching_file = _batching_file(batching, workdir)
    write_monitoring_config(workdir)  # Prometheus metrics on, as lesson 09 reads them
    grpc_port = free_port()
    if backend == "docker":
        container = f"course-serving-{port}"
        command = ["docker", "run", "--rm", "--name", container, "-p", f"127.0.0.1:{port}:8501"]
        command += ["-p", f"127.0.0.1:{grpc_port}:8500"]
        mounts = [base] if base is not None else [config.parent]
        for i, folder in enumerate(mounts):
            command += ["--mount", f"type=bind,source={folder},target=/models/m{i}"]
        command += ["--mount", f"type=bind,source={workdir},target=/config"]
        command.append(DOCKER_IMAGE)
        command += server_flags(
            8501,
            model_name,
            Path("/models/m0") if base is not None else None,
            Path("/models/m0") / config.name if config is not None else None,
            batching_parameters_file=(
                Path("/config/batching.config") if batching_file is not None else None
            ),
            poll_seconds=poll_seconds,
            grpc_port=8500,
            monitoring_config_file=Path("/config/monitoring.config"),
        )
    else:
        flags = server_flags(
            port,
            model_name,
            base,
            config,
            batching_parameters_file=batching_file,
            poll_seconds=poll_seconds,
            grpc_port=grpc_port,
            monitoring_config_file=workdir / "monitoring.config",
        )
        if backend == "tensorflow_model_server":
            command = [shutil.which("tensorflow_model_server") or "tensorflow_model_server"]
        else:
            command = [sys.executable, "-m", "course_tools.serving.server"]
        command += flags
    command += list(extra_args or [])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    server = Server(process, backend, port, log_path, container, names, grpc_port)
    if wait:
        _wait_ready(server, names, timeout)
    if verbose:
        label = {
            "dev": "the course's TF-Serving-compatible development server",
            "docker": f"TF Serving in Docker ({DOCKER_IMAGE})",
            "tensorflow_model_server": "TF Serving (tensorflow_model_server)",
        }[backend]
        doing = "Serving" if wait else "Starting a server for"
        print(f"{doing} {', '.join(names)} at {server.url} with {label}.")
    return server
