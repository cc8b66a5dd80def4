"""Size, latency and accuracy of a Keras model and its LiteRT variants, side by side."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from course.mobile.convert import _float_images
from course.mobile.interpreter import LiteModel
from course.table import Table


def latency(
    predict: Callable[[np.ndarray], Any],
    images: Any,
    *,
    batch_size: int = 1,
    repeats: int = 30,
    warmup: int = 3,
) -> float:
    """Median wall-clock milliseconds of one ``predict(batch)`` call on ``batch_size`` images.

    Introduced in lesson 10 (mobile-and-optimization). The batches cycle through ``images``
    (repeated when there are fewer than ``batch_size``); ``warmup`` calls are not timed.

    Example: ``ms = mobile.latency(lite.predict, X_test, batch_size=1)``
    """
    x = np.asarray(images)
    if len(x) == 0:
        raise ValueError("latency needs at least one image")
    batch_size = int(batch_size)
    if len(x) < batch_size:
        x = np.concatenate([x] * (batch_size // len(x) + 1))
    starts = [(i * batch_size) % (len(x) - batch_size + 1) for i in range(repeats + warmup)]
    times = []
    for k, s in enumerate(starts):
        batch = x[s : s + batch_size]
        t0 = time.perf_counter()
        np.asarray(predict(batch))
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000.0)


def _keras_bytes(model: Any) -> int:
    import keras

    return int(sum(keras.ops.convert_to_numpy(w).nbytes for w in model.weights))


def compare(
    model: Any,
    lite: Mapping[str, bytes | LiteModel],
    X_test: Any,
    y_test: Any,
    *,
    batch_sizes: Sequence[int] = (1, 256),
    repeats: int = 30,
    num_threads: int | None = None,
) -> Table:
    """Size, latency and accuracy of a Keras model and its LiteRT variants, side by side.

    Introduced in lesson 10 (mobile-and-optimization). ``lite`` maps a name to ``.tflite``
    bytes or a :class:`LiteModel` (e.g. :func:`convert_all`'s result). One row each, Keras
    first:

    - ``size KB``: the file (for Keras: its weights as float32 in memory);
    - ``x smaller``: how many times smaller than the ``float32`` LiteRT file (the first entry
      of ``lite`` when there is none named so);
    - ``ms @b``: median milliseconds per call on a batch of ``b`` images (Keras:
      ``predict_on_batch``; LiteRT: :meth:`LiteModel.predict`), over ``repeats`` calls;
    - ``accuracy`` on ``(X_test, y_test)``, and ``delta pts``: its difference from the Keras
      model's, in percentage points.

    LiteRT runs with ``num_threads`` threads (default: every CPU core, as TensorFlow uses).

    Example::

        print(mobile.compare(model, mobile.convert_all(model, rep), X_test, y_test))
    """
    if not lite:
        raise ValueError("lite is empty: pass {name: .tflite bytes}, e.g. mobile.convert_all()")
    x = _float_images(X_test, "X_test")
    y = np.asarray(y_test).reshape(-1)
    if len(x) != len(y):
        raise ValueError(f"got {len(x)} test images and {len(y)} labels; one label per image")
    threads = num_threads if num_threads is not None else (os.cpu_count() or 1)
    runners = {
        name: m if isinstance(m, LiteModel) else LiteModel(m, num_threads=threads)
        for name, m in lite.items()
    }
    base = runners.get("float32", next(iter(runners.values()))).size

    keras_acc = float(np.mean(np.asarray(model.predict(x, verbose=0)).argmax(axis=1) == y))
    rows = []

    def row(name: str, size: int, predict: Callable, accuracy: float) -> dict[str, Any]:
        entry: dict[str, Any] = {"model": name, "size KB": size / 1024, "x smaller": base / size}
        for b in batch_sizes:
            entry[f"ms @{b}"] = latency(predict, x, batch_size=b, repeats=repeats)
        entry["accuracy"] = accuracy
        entry["delta pts"] = 100.0 * (accuracy - keras_acc)
        return entry

    rows.append(row("Keras", _keras_bytes(model), model.predict_on_batch, keras_acc))
    for name, runner in runners.items():
        acc = float(np.mean(runner.predict(x).argmax(axis=1) == y))
        rows.append(row(name, runner.size, runner.predict, acc))
    title = (
        f"{len(y)} test images; LiteRT ({runners[next(iter(runners))].runtime}) on {threads} "
        f"thread(s); latency = median ms per call"
    )
    return Table(rows, title=title, digits=3)
