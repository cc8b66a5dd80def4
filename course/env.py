"""Environment set-up shared by every lesson: seeds, quiet logs, devices, strategy.

Introduced in lesson 00 (getting-started). Nothing here runs at import time; call
:func:`setup` once, at the top of a notebook, before importing Keras or TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Any

# TensorFlow's C++ runtime prints its log lines to stderr while it is imported. Only these two
# variables, set before the import, keep them away; nbgrader scores a test cell with any stderr
# output as 0, so the kernels of this course always run with them.
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}

# The full `tensorflow` wheel (the one with GPU support) also prints a few lines while its
# CUDA stubs load, before its logging is set up, whatever the variables say. They are kept off
# stderr by capturing file descriptor 2 while TensorFlow is imported; anything else captured is
# passed on to stdout.
_STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|cudart_stub|cuda_(dnn|fft|blas)|"
    r"Unable to register cu(DNN|FFT|BLAS) factory|oneDNN custom operations|cpu_feature_guard|"
    r"TF-TRT Warning|computation_placer|This TensorFlow binary is optimized|"
    r"rebuild TensorFlow with the appropriate compiler flags|Could not find cuda drivers"
)

# Set to 1 by `course run --fast` and by the tests: lessons shrink their data and epochs.
FAST_ENV_VAR = "COURSE_FAST"


def fast_mode() -> bool:
    """Whether lessons run in test mode (small data, few epochs). Introduced in lesson 00."""
    return os.environ.get(FAST_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class Env:
    """What :func:`setup` found: the seed, test mode, the backend, versions, devices, strategy.

    Build models under ``env.strategy.scope()`` so the same code uses every GPU when there are
    several (``MirroredStrategy``) and runs unchanged on one GPU or on the CPU.
    """

    seed: int
    fast: bool
    backend: str
    versions: dict[str, str]
    devices: list[str]
    strategy: Any = field(repr=False)

    @property
    def gpu(self) -> bool:
        """True when at least one GPU is visible."""
        return any(d.startswith("GPU") for d in self.devices)

    def report(self) -> str:
        versions = ", ".join(f"{k} {v}" for k, v in self.versions.items())
        strategy = type(self.strategy).__name__ if self.strategy is not None else "none"
        mode = "test mode (small data, few epochs)" if self.fast else "full"
        return (
            f"seed {self.seed} | {versions} | backend {self.backend} | "
            f"devices: {', '.join(self.devices)} | strategy: {strategy} | mode: {mode}"
        )


def _warnings_to_stdout() -> None:
    """Show Python warnings on stdout: still visible, but never an stderr line in a graded cell."""

    def show(message, category, filename, lineno, file=None, line=None):
        sys.stdout.write(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = show
    # Keras warns that fit() ignores shuffle=True for a tf.data.Dataset, even when the caller never
    # asked for it; the course's pipelines shuffle themselves.
    warnings.filterwarnings("ignore", message=r"`shuffle=True` was passed, but will be ignored")


@contextlib.contextmanager
def native_stderr_filtered(noise: re.Pattern = _STARTUP_NOISE):
    """Capture OS-level stderr (file descriptor 2) inside the block; forward the lines that do
    not match ``noise`` to stdout.

    Native libraries (TensorFlow's C++ logging, the LiteRT converter and interpreter) write to
    file descriptor 2 directly, past ``sys.stderr``, and nbgrader scores a test cell with any
    stderr output as 0. ``course.setup()`` wraps TensorFlow's import in it; ``course.mobile``
    wraps conversion and interpreter creation.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real file descriptor 2 (unusual embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            kept = [ln for ln in text.splitlines() if ln.strip() and not noise.search(ln)]
            if kept:
                sys.stdout.write("\n".join(kept) + "\n")


def _quiet_python_loggers() -> None:
    import logging

    for name in ("tensorflow", "absl", "h5py", "matplotlib"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass


def _tensorflow_devices() -> tuple[list[str], Any]:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            # Take GPU memory as needed instead of all of it at start-up, so that several
            # kernels (a lesson and the grader, say) can share one GPU.
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass  # the GPU was already initialised by earlier code; growth is fixed by then
    names = []
    for i, gpu in enumerate(gpus):
        details = tf.config.experimental.get_device_details(gpu)
        names.append(f"GPU:{i} {details.get('device_name', 'GPU')}".strip())
    strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    return (names or ["CPU"]), strategy


def setup(seed: int = 0, *, verbose: bool = True, deterministic: bool = False) -> Env:
    """Prepare a lesson: seed everything, silence TensorFlow, find devices, pick a strategy.

    Introduced in lesson 00 (getting-started).

    - seeds Python's ``random``, NumPy and Keras (which seeds the backend) with ``seed``;
    - keeps TensorFlow's log lines off stderr and shows Python warnings on stdout;
    - enables GPU memory growth and returns ``tf.distribute.MirroredStrategy`` when there is
      more than one GPU (the default strategy otherwise);
    - reads test mode from the ``COURSE_FAST`` environment variable (``env.fast``);
    - ``deterministic=True`` also makes TensorFlow ops deterministic (slower on a GPU).

    Example::

        import course
        env = course.setup(seed=0)
        with env.strategy.scope():
            model = build_model()
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    for key, value in QUIET_ENV.items():
        os.environ[key] = value
    tf_was_imported = "tensorflow" in sys.modules
    _warnings_to_stdout()

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)

    with native_stderr_filtered():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow  # noqa: F401  (loads the CUDA stubs here, inside the filter)
    _quiet_python_loggers()
    backend = keras.backend.backend()
    keras.utils.set_random_seed(seed)
    versions = {"Keras": keras.__version__}
    devices: list[str] = ["CPU"]
    strategy = None
    if backend == "tensorflow":
        import tensorflow as tf

        versions["TensorFlow"] = tf.__version__
        with native_stderr_filtered():
            devices, strategy = _tensorflow_devices()
        if deterministic:
            tf.config.experimental.enable_op_determinism()
    env = Env(seed, fast_mode(), backend, versions, devices, strategy)
    if verbose:
        print(env.report())
        if tf_was_imported and backend == "tensorflow":
            print(
                "note: TensorFlow was imported before course.setup(); its start-up log lines "
                "may already have been printed. Call course.setup() first in the Setup cell."
            )
    return env
