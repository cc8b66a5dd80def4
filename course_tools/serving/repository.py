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
import re
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
# absl::SimpleAtoi, which TF Serving's file-system source parses folder names with: optional
# whitespace and sign around decimal digits ("00000123" is version 123).
_VERSION_NAME = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+[ \t\n\v\f\r]*")


def version_folders(base: Path) -> dict[int, Path]:
    """The version folders under ``base``, by version, as TF Serving finds them.

    Names that are not numbers are ignored; a folder counts once it holds ``saved_model.pb``.
    Two names for one version (``7`` and ``007``) keep the last in name order, with a warning,
    as TF Serving keeps one of them."""
    found: dict[int, Path] = {}
    try:
        children = sorted(base.iterdir()) if base.is_dir() else []
    except OSError as exc:  # unreadable: report it, the next poll tries again
        log.warning("Cannot list %s: %s", base, exc)
        return found
    for path in children:
        if not _VERSION_NAME.fullmatch(path.name):
            continue
        version = int(path.name)
        if not -(2**63) <= version < 2**63 or not (path / "saved_model.pb").is_file():
            continue
        if version in found:
            log.warning(
                "Duplicate version directories detected. Version %d will be loaded from %s, "
                "%s will be ignored.",
                version,
                path.name,
                found[version].name,
            )
        found[version] = path
    return found


def dtype_name(enum: int) -> str:
    """A TensorFlow DataType enum's name (``"float32"``, ``"string"``, ``"float16"``, ...)."""
    from tensorflow.python.framework import dtypes

    try:
        return dtypes.as_dtype(enum).name
    except TypeError:
        return f"dtype {enum}"


@dataclass
class Signature:
    name: str
    function: Any
    inputs: dict[str, TensorSpec]
    outputs: list[str]
    method: str = "tensorflow/serving/predict"  # SignatureDef.method_name


class Servable:
    """One loaded version: its signatures (callable) and its SignatureDefs (for metadata)."""

    def __init__(self, name: str, version: int, path: Path, tags: tuple[str, ...] = ("serve",)):
        import tensorflow as tf
        from tensorflow.core.protobuf import saved_model_pb2

        self.name, self.version, self.path = name, version, path
        proto = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
        graphs = [g for g in proto.meta_graphs if set(g.meta_info_def.tags) == set(tags)]
        if not graphs:
            have = [sorted(g.meta_info_def.tags) for g in proto.meta_graphs]
            raise ValueError(
                f"no MetaGraph with tags {sorted(tags)} (it has {have}); pass "
                "--saved_model_tags to choose one"
            )
        self.signature_defs = graphs[0].signature_def
        if len(graphs[0].object_graph_def.nodes):  # a TF2 SavedModel (tf.saved_model.save)
            self._loaded = tf.saved_model.load(str(path), tags=list(tags))
            functions = dict(self._loaded.signatures.items())
        else:  # a TF1 export (SavedModelBuilder, Estimator): a session, as TF Serving runs it
            self._loaded = _Tf1Session(path, tags)
            functions = {k: self._loaded.function(v) for k, v in self.signature_defs.items()}
        self.signatures: dict[str, Signature] = {}
        for key, function in functions.items():
            sig_def = self.signature_defs.get(key)
            if sig_def is None:
                continue
            inputs = {
                n: TensorSpec(
                    dtype_name(t.dtype),
                    tuple(int(d.size) for d in t.tensor_shape.dim)
                    if not t.tensor_shape.unknown_rank
                    else (),
                )
                for n, t in sorted(sig_def.inputs.items())
            }
            self.signatures[key] = Signature(
                key, function, inputs, sorted(sig_def.outputs), sig_def.method_name
            )

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
        return {k: v.numpy() if hasattr(v, "numpy") else v for k, v in result.items()}


class _Tf1Session:
    """A TF1 SavedModel loaded into its own graph and session (``saved_model.loader.load``):
    TF2's loader cannot prune graphs whose placeholders carry no shape, such as TF Serving's
    own ``half_plus_two`` test models."""

    def __init__(self, path: Path, tags: tuple[str, ...]):
        import tensorflow as tf

        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            tf.compat.v1.saved_model.loader.load(self.session, list(tags), str(path))

    def function(self, sig_def: Any) -> Any:
        inputs = {k: v.name for k, v in sig_def.inputs.items()}
        outputs = {k: v.name for k, v in sig_def.outputs.items()}

        def call(**tensors: Any) -> dict[str, np.ndarray]:
            feed = {inputs[k]: getattr(v, "numpy", lambda v=v: v)() for k, v in tensors.items()}
            return self.session.run(outputs, feed_dict=feed)

        return call


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
        tags: tuple[str, ...] = ("serve",),
    ):
        if not configs:
            raise ValueError("no models to serve: pass a model name and base path, or a config")
        self.configs = {c.name: c for c in configs}
        self.tags = tags
        self.poll_seconds = poll_seconds
        self.on_change = on_change
        self._lock = threading.RLock()
        self._loaded: dict[str, dict[int, Servable]] = {c.name: {} for c in configs}
        self._states: dict[str, dict[int, VersionState]] = {c.name: {} for c in configs}
        self._warned: set[str] = set()
        self._labels_in_use: dict[str, dict[str, int]] = {}
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
        for config in list(self.configs.values()):
            try:
                self._poll_model(config)
            except Exception:  # one model's bad folder must not starve the others
                log.exception("polling the base path of %s failed", config.name)

    def _poll_model(self, config: ModelConfig) -> None:
        base = config.base_path
        folders = version_folders(base)
        found = list(folders)
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
            path = folders[version]
            stamp = (path / "saved_model.pb").stat().st_mtime
            if state and state.state == "END" and state.error_code != "OK" and state.stamp == stamp:
                continue  # failed before and unchanged since: do not retry every second
            self._set(config.name, version, VersionState("LOADING", stamp=stamp))
            try:
                servable = Servable(config.name, version, path, self.tags)
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

    def check_labels(self, allow_unavailable: bool = False) -> None:
        """Refuse a label on a version that is not AVAILABLE, as TF Serving's ServerCore does
        (``--allow_version_labels_for_unavailable_models`` allows a label that is new)."""
        for config in self.configs.values():
            with self._lock:
                loaded = set(self._loaded.get(config.name, {}))
            for label, version in config.labels.items():
                if version in loaded:
                    continue
                previous = self._labels_in_use.get(config.name, {}).get(label)
                if allow_unavailable and previous in (None, version):
                    continue
                raise ServingError(
                    f"Request to assign label to version {version} of model {config.name}, "
                    "which is not currently available for inference",
                    "FAILED_PRECONDITION",
                )
        self._labels_in_use = {c.name: dict(c.labels) for c in self.configs.values()}

    def reconfigure(self, configs: list[ModelConfig], allow_unavailable: bool = False) -> None:
        """A new model list (a re-read ``models.config``): new models load, dropped ones
        unload, changed policies and labels apply. A label the new config cannot honour
        leaves the old config in place (ServingError), as TF Serving does."""
        new = {c.name: c for c in configs}
        old = self.configs
        with self._lock:
            for name in new:
                self._loaded.setdefault(name, {})
                self._states.setdefault(name, {})
        self.configs = new
        try:
            for config in new.values():
                self._poll_model(config)
            self.check_labels(allow_unavailable)
        except ServingError:
            self.configs = old
            raise
        for name in set(old) - set(new):
            with self._lock:
                versions = sorted(self._loaded.get(name, {}))
            for version in versions:
                self._set(name, version, VersionState("UNLOADING"))
                with self._lock:
                    self._loaded[name].pop(version, None)
                self._set(name, version, VersionState("END"))

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

    def failed(self, name: str, version: int) -> bool:
        """Whether that version's last load attempt failed."""
        with self._lock:
            state = self._states.get(name, {}).get(version)
        return state is not None and state.error_code != "OK"

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
