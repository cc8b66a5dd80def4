"""The models a server serves: configs, version folders, loading, states and labels.

Introduced in lesson 09. It behaves as TF Serving's file-system source and server core do:

- each model has a base path holding numeric version folders; names that are not integers are
  ignored; the base path is polled (``poll_seconds``) so a version dropped in while the server
  runs is loaded and, once AVAILABLE, replaces the old one (availability first: the old version
  answers until the new one is ready, and requests already running on it finish);
- ``model_version_policy``: ``latest { num_versions: N }`` (default 1), ``all {}`` or
  ``specific { versions: ... }``; ``version_labels`` name versions (``stable``, ``canary``);
- a ``models.config`` file in TF Serving's text format configures several models; it is read
  with TF Serving's own protobuf definitions (``tensorflow-serving-api``);
- every version's state (LOADING, AVAILABLE, UNLOADING, END) and load error is kept for
  ``GET /v1/models/<name>``; a SavedModel is loaded once per version.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from course.serving.config import ModelConfig, read_model_config
from course.serving.errors import ServingError
from course_tools.serving.protocol import TensorSpec

__all__ = ["ModelConfig", "Repository", "Servable", "read_model_config"]  # the config re-exported

log = logging.getLogger("course.serving")
_DTYPES = {
    1: "float32",
    2: "float64",
    3: "int32",
    4: "uint8",
    6: "int8",
    7: "string",
    9: "int64",
    10: "bool",
    17: "uint16",
    5: "int16",
    19: "float16",
}


@dataclass
class Signature:
    name: str
    function: Any
    inputs: dict[str, TensorSpec]
    outputs: list[str]


class Servable:
    """One loaded version: its signatures (callable) and its SignatureDefs (for metadata)."""

    def __init__(self, name: str, version: int, path: Path):
        import tensorflow as tf
        from tensorflow.core.protobuf import saved_model_pb2

        self.name, self.version, self.path = name, version, path
        proto = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
        self.signature_defs = proto.meta_graphs[0].signature_def
        self._loaded = tf.saved_model.load(str(path))
        self.signatures: dict[str, Signature] = {}
        for key, function in self._loaded.signatures.items():
            sig_def = self.signature_defs.get(key)
            if sig_def is None:
                continue
            inputs = {
                n: TensorSpec(
                    _DTYPES.get(t.dtype, "unsupported"),
                    tuple(int(d.size) for d in t.tensor_shape.dim),
                )
                for n, t in sorted(sig_def.inputs.items())
            }
            self.signatures[key] = Signature(key, function, inputs, sorted(sig_def.outputs))

    def signature(self, name: str) -> Signature:
        key = name or "serving_default"
        if key not in self.signatures:
            raise ServingError(f'Serving signature name: "{key}" not found in signature def')
        return self.signatures[key]

    def run(self, signature: Signature, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Call a signature; shape, dtype and TensorFlow errors become 400s with the reason."""
        import tensorflow as tf

        for name, array in arrays.items():
            spec = signature.inputs[name]
            want = spec.shape
            if len(want) and (
                array.ndim != len(want)
                or any(w not in (-1, g) for w, g in zip(want, array.shape, strict=True))
            ):
                shown = [("?" if d == -1 else d) for d in want]
                raise ServingError(
                    f"input '{name}' has shape {list(array.shape)} but signature "
                    f"'{signature.name}' expects {shown} (? = any size). Send one "
                    f"{'x'.join(str(d) for d in want[1:])} value per instance"
                )
        try:
            tensors = {
                n: tf.constant(a, dtype=tf.string if a.dtype == object else None)
                for n, a in arrays.items()
            }
            result = signature.function(**tensors)
        except tf.errors.OpError as exc:
            message = _op_error_text(exc.message)
            exhausted = isinstance(exc, tf.errors.ResourceExhaustedError)  # e.g. GPU memory
            code = "RESOURCE_EXHAUSTED" if exhausted else "INVALID_ARGUMENT"
            raise ServingError(message, code) from None
        except (TypeError, ValueError) as exc:
            raise ServingError(str(exc).split("\n")[0]) from None
        return {k: v.numpy() for k, v in result.items()}


def _op_error_text(message: str) -> str:
    """TensorFlow's own sentence from an op error, without graph-node and stack noise."""
    lines = [ln.strip() for ln in message.splitlines()]
    useful = [
        ln
        for ln in lines
        if ln
        and not ln.startswith(
            ("Graph execution error", "Detected at node", "<stack traces", "[[", "File ")
        )
    ]
    return useful[0] if useful else (lines[0] if lines else "TensorFlow error")


@dataclass
class VersionState:
    state: str
    error_code: str = "OK"
    error_message: str = ""
    stamp: float = 0.0  # saved_model.pb's mtime when the load was tried


class Repository:
    """All configured models; polls their base paths and swaps versions in while serving."""

    def __init__(
        self,
        configs: list[ModelConfig],
        poll_seconds: float = 1.0,
        on_change: Callable[[str, int, str], None] | None = None,
    ):
        if not configs:
            raise ValueError("no models to serve: pass a model name and base path, or a config")
        self.configs = {c.name: c for c in configs}
        self.poll_seconds = poll_seconds
        self.on_change = on_change
        self._lock = threading.RLock()
        self._loaded: dict[str, dict[int, Servable]] = {c.name: {} for c in configs}
        self._states: dict[str, dict[int, VersionState]] = {c.name: {} for c in configs}
        self._warned: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- polling -------------------------------------------------------------------------
    def start(self) -> None:
        """Load what is there now, then keep polling in a background thread."""
        self.poll()
        if self.poll_seconds > 0:
            self._thread = threading.Thread(target=self._poll_loop, name="poller", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:  # a bad folder must not kill the poller
                log.exception("polling the model base paths failed")

    def _set(self, name: str, version: int, state: VersionState) -> None:
        with self._lock:
            self._states[name][version] = state
        if self.on_change:
            self.on_change(name, version, state.state)

    def poll(self) -> None:
        for config in self.configs.values():
            self._poll_model(config)

    def _poll_model(self, config: ModelConfig) -> None:
        base = config.base_path
        found = []
        if base.is_dir():
            for p in base.iterdir():
                if p.is_dir() and p.name.isdigit() and (p / "saved_model.pb").is_file():
                    found.append(int(p.name))
        if not found:
            if config.name not in self._warned:
                log.warning(
                    "No versions of servable %s found under base path %s", config.name, base
                )
                self._warned.add(config.name)
        else:
            self._warned.discard(config.name)
        wanted = config.wanted(found)
        for version in sorted(wanted):
            with self._lock:
                ready = version in self._loaded[config.name]
                state = self._states[config.name].get(version)
            if ready:
                continue
            path = base / str(version)
            stamp = (path / "saved_model.pb").stat().st_mtime
            if state and state.state == "END" and state.error_code != "OK" and state.stamp == stamp:
                continue  # failed before and unchanged since: do not retry every second
            self._set(config.name, version, VersionState("LOADING", stamp=stamp))
            try:
                servable = Servable(config.name, version, path)
            except Exception as exc:  # a broken SavedModel: report it, keep serving the rest
                message = f"Failed to load {path}: {str(exc).splitlines()[0] if str(exc) else exc}"
                log.error(message)
                self._set(
                    config.name, version, VersionState("END", "UNKNOWN", message, stamp=stamp)
                )
                continue
            with self._lock:
                self._loaded[config.name][version] = servable
            self._set(config.name, version, VersionState("AVAILABLE", stamp=stamp))
            log.info(
                "Successfully loaded servable version {name: %s version: %d}", config.name, version
            )
        for version in sorted(set(self._loaded[config.name]) - wanted):
            # Availability first: only unload once a wanted version is serving (or the old
            # folder itself is gone, or the policy asks for specific versions).
            with self._lock:
                serving_wanted = any(v in self._loaded[config.name] for v in wanted)
            if not serving_wanted and version in found and config.policy == "latest":
                continue
            self._set(config.name, version, VersionState("UNLOADING"))
            with self._lock:
                self._loaded[config.name].pop(version, None)
            self._set(config.name, version, VersionState("END"))

    # ---- lookups ---------------------------------------------------------------------------
    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable a request names, or TF Serving's NOT_FOUND / INVALID_ARGUMENT error."""
        if version is not None and label is not None:
            raise ServingError(
                f"Both model version ({version}) and model version label ({label}) cannot be "
                "supplied."
            )
        with self._lock:
            loaded = self._loaded.get(name)
            if label is not None:
                config = self.configs.get(name)
                if config is None or label not in config.labels:
                    raise ServingError(f"Unrecognized servable version label: {label}")
                version = config.labels[label]
            if version is not None:
                if not loaded or version not in loaded:
                    raise ServingError(
                        f"Servable not found for request: Specific({name}, {version})", "NOT_FOUND"
                    )
                return loaded[version]
            if not loaded:
                raise ServingError(f"Servable not found for request: Latest({name})", "NOT_FOUND")
            return loaded[max(loaded)]

    def status(self, name: str, version: int | None = None) -> list[tuple[int, VersionState]]:
        with self._lock:
            states = dict(self._states.get(name, {}))
        if version is not None:
            if version not in states:
                raise ServingError(f"Could not find version {version} of model {name}", "NOT_FOUND")
            return [(version, states[version])]
        if not states:
            raise ServingError(f"Could not find any versions of model {name}", "NOT_FOUND")
        return sorted(states.items(), reverse=True)

    def available(self) -> dict[str, list[int]]:
        with self._lock:
            return {n: sorted(v) for n, v in self._loaded.items()}

    def wait_until_loaded(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.available().values()):
                return True
            time.sleep(0.05)
        return False
