"""Magnitude pruning written for Keras 3, and how sparse and compressible a model is."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np

from course.table import Table

# Layers with fewer kernel weights are not pruned (the converter's dynamic-range quantisation
# uses the same threshold to leave small weights in float).
MIN_WEIGHTS = 1024


def _prunable(model: Any, min_weights: int = 0) -> list[Any]:
    """The Conv and Dense layers of a model with at least ``min_weights`` kernel entries."""
    import keras

    kinds = (
        keras.layers.Conv1D,
        keras.layers.Conv2D,
        keras.layers.Conv3D,
        keras.layers.Dense,
    )
    found = []

    def walk(layer: Any) -> None:
        if isinstance(layer, kinds) and int(np.prod(layer.kernel.shape)) >= min_weights:
            found.append(layer)
        for inner in getattr(layer, "layers", []) or []:
            walk(inner)

    for layer in model.layers:
        walk(layer)
    return found


def _magnitude_mask(kernel: np.ndarray, fraction: float) -> np.ndarray:
    """A 0/1 mask that zeroes the ``fraction`` of ``kernel``'s entries smallest in magnitude."""
    flat = np.abs(kernel).ravel()
    k = int(round(fraction * flat.size))
    mask = np.ones(flat.size, dtype=np.float32)
    if k > 0:
        mask[np.argsort(flat, kind="stable")[:k]] = 0.0
    return mask.reshape(kernel.shape)


def _check_sparsity(value: float) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(
            f"sparsity is the share of weights set to zero, in [0, 1); got {value}. "
            "For 80% pass 0.8"
        )
    return value


def prune(model: Any, sparsity: float, *, min_weights: int = MIN_WEIGHTS) -> dict[str, np.ndarray]:
    """Magnitude pruning in one shot: zero each Conv/Dense kernel's smallest weights.

    Introduced in lesson 10 (mobile-and-optimization). In every Conv1D/2D/3D and Dense layer
    (nested models included) with at least ``min_weights`` kernel entries, the share
    ``sparsity`` of entries with the smallest absolute values is set to 0 (biases and batch
    norm are left alone). Smaller layers are kept whole: they save little, and the first
    convolution of a greyscale model (a few hundred weights, each one a whole filter's worth
    of evidence) is the most sensitive layer of all. The model is changed in place and stays
    an ordinary Keras model. Returns ``{layer name: 0/1 mask}``; fine-tune afterwards with
    :class:`PruningCallback` so the zeros stay zero.

    Example::

        masks = mobile.prune(model, 0.8)
        print(mobile.sparsity(model))
    """
    fraction = _check_sparsity(sparsity)
    import keras

    masks = {}
    for layer in _prunable(model, min_weights):
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        mask = _magnitude_mask(kernel, fraction)
        layer.kernel.assign(kernel * mask)
        masks[layer.name] = mask
    if not masks:
        raise ValueError(
            f"the model has no Conv or Dense layer with at least {min_weights} weights to "
            "prune; lower min_weights"
        )
    return masks


def polynomial_sparsity(
    step: int,
    target: float,
    *,
    begin_step: int = 0,
    end_step: int,
    initial: float = 0.0,
    power: float = 3.0,
) -> float:
    """The sparsity at ``step`` of a polynomial schedule from ``initial`` to ``target``.

    Introduced in lesson 10 (mobile-and-optimization); the schedule of Zhu & Gupta (2017) that
    ``tensorflow-model-optimization`` uses: ``target + (initial - target) * (1 - t) ** power``
    with ``t`` going from 0 at ``begin_step`` to 1 at ``end_step``. Fast pruning at first,
    while there are many small weights, slower near the target.

    Example: ``mobile.polynomial_sparsity(50, 0.8, end_step=100)`` -> 0.7
    """
    if step < begin_step:
        return float(initial) if begin_step > 0 else float(target)
    if end_step <= begin_step:
        return float(target)
    t = min(1.0, (step - begin_step) / (end_step - begin_step))
    return float(target + (initial - target) * (1.0 - t) ** power)


def sparsity(model: Any) -> Table:
    """Per-layer and overall sparsity (share of exact zeros) of the Conv/Dense kernels.

    Introduced in lesson 10 (mobile-and-optimization). One row per prunable layer, then an
    ``overall`` row over all their kernels; biases and other weights are not counted.

    Example: ``mobile.sparsity(model).row("overall")["sparsity"]``
    """
    import keras

    rows = []
    total = zeros = 0
    for layer in _prunable(model):
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        n, z = int(kernel.size), int(np.count_nonzero(kernel == 0))
        rows.append({"layer": layer.name, "weights": n, "zeros": z, "sparsity": z / n})
        total, zeros = total + n, zeros + z
    if not rows:
        raise ValueError("the model has no Conv or Dense layers")
    rows.append({"layer": "overall", "weights": total, "zeros": zeros, "sparsity": zeros / total})
    return Table(rows, title="sparsity of the Conv/Dense kernels", digits=3)


def compressed_size(obj: Any, *, level: int = 9) -> int:
    """Bytes after gzip compression: of ``.tflite`` bytes, a file, or a Keras model's weights.

    Introduced in lesson 10 (mobile-and-optimization). Zeros compress to almost nothing, so
    this is where pruning shows: an 80%-sparse model is as large as a dense one on disk and
    far smaller once compressed. A Keras model is measured by its weights as float32 bytes.

    Example::

        dense, pruned = mobile.convert(model), mobile.convert(pruned_model)
        print(mobile.compressed_size(dense) / mobile.compressed_size(pruned))
    """
    if isinstance(obj, (bytes, bytearray, memoryview)):
        data = bytes(obj)
    elif isinstance(obj, (str, os.PathLike)):
        data = Path(obj).read_bytes()
    elif hasattr(obj, "weights"):
        import keras

        data = b"".join(
            np.ascontiguousarray(keras.ops.convert_to_numpy(w), dtype=np.float32).tobytes()
            for w in obj.weights
        )
    else:
        raise TypeError(f"expected bytes, a file path or a Keras model; got {type(obj).__name__}")
    return len(gzip.compress(data, compresslevel=level, mtime=0))
