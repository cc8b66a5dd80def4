"""On-device inference with LiteRT (TensorFlow Lite): convert, run, measure, prune.

Introduced in lesson 10 (mobile-and-optimization), which does each step in the open first;
``bench/mobile.py`` runs the lesson's comparison on the course's reference digits CNN.

- :func:`convert` turns a Keras model into a LiteRT flatbuffer (the bytes of a ``.tflite``
  file) in one of four :data:`VARIANTS`: ``float32``; ``dynamic`` (dynamic-range: int8
  weights, float activations); ``float16`` (float16 weights); ``int8`` (int8 weights *and*
  activations, calibrated on a representative dataset, with float32 or int8 input and
  output). Lesson 10's first exercise writes that dataset; :func:`convert` also takes an array
  of images. The model is traced with ``training=False``, so augmentation and dropout are off.
- :class:`LiteModel` runs a flatbuffer with the LiteRT interpreter (the ``ai-edge-litert``
  package; TensorFlow's deprecated ``tf.lite.Interpreter`` only when it is not installed),
  on a batch of any size, quantising int8 inputs and dequantising int8 outputs itself.
- :func:`compare` prints size, latency and accuracy of each variant next to the Keras model.
- :func:`prune`, :class:`PruningCallback`, :func:`sparsity` and :func:`compressed_size`:
  magnitude pruning written for Keras 3 (``tensorflow-model-optimization`` supports only
  Keras 2). A pruned model is an ordinary Keras model whose small weights are exactly zero;
  the zeros cost as much as any weight in a ``.tflite`` file, and pay off once it is
  compressed (an app download is).

TensorFlow, Keras and the interpreter are imported only when a function that needs them runs.
"""

from __future__ import annotations

from typing import Any

from course.mobile.convert import VARIANTS, convert, convert_all, size_breakdown, strip_names
from course.mobile.interpreter import LiteModel, runtime
from course.mobile.measure import compare, latency
from course.mobile.pruning import (
    MIN_WEIGHTS,
    compressed_size,
    polynomial_sparsity,
    prune,
    sparsity,
)
from course.table import Table

__all__ = [
    "MIN_WEIGHTS",
    "VARIANTS",
    "LiteModel",
    "PruningCallback",  # noqa: F822  (imported on first access, see __getattr__)
    "Table",
    "compare",
    "compressed_size",
    "convert",
    "convert_all",
    "latency",
    "polynomial_sparsity",
    "prune",
    "runtime",
    "size_breakdown",
    "strip_names",
    "sparsity",
]


def __getattr__(name: str) -> Any:
    # PruningCallback subclasses keras.callbacks.Callback: import it only when asked for, so
    # that importing course.mobile doesn't import Keras.
    if name == "PruningCallback":
        from course.mobile.callback import PruningCallback

        return PruningCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
