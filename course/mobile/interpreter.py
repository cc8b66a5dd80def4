"""Run a ``.tflite`` flatbuffer with the LiteRT interpreter, on batches of any size."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from course.mobile.convert import _content
from course.mobile.native import quiet_native


@functools.cache
def _interpreter_class() -> tuple[Any, str]:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert"
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter, "tf.lite.Interpreter (deprecated; pip install ai-edge-litert)"


def runtime() -> str:
    """Which interpreter :class:`LiteModel` uses: ``"ai-edge-litert"`` or TensorFlow's.

    Introduced in lesson 10 (mobile-and-optimization). LiteRT's own package,
    ``ai-edge-litert``, is the supported runtime; ``tf.lite.Interpreter`` is deprecated and
    used only when that package is missing.

    Example: ``print(mobile.runtime())``
    """
    return _interpreter_class()[1]


def _shape(details: Mapping[str, Any]) -> list[int]:
    """A tensor's shape with -1 for a free size (the batch), as plain ints."""
    return [int(s) for s in details.get("shape_signature", details["shape"])]


def _quantization(details: Mapping[str, Any]) -> tuple[float, int]:
    scale, zero_point = details.get("quantization", (0.0, 0))
    return float(scale), int(zero_point)


class LiteModel:
    """A LiteRT model ready to run: interpreter, input and output details, batch prediction.

    Introduced in lesson 10 (mobile-and-optimization). ``content`` is the bytes of a
    ``.tflite`` file or its path. :meth:`predict` takes float images as the Keras model did,
    quantises them when the model's input is int8 (``q = round(x / scale) + zero_point``),
    runs them in batches of ``batch_size`` (resizing the input tensor when the batch size
    changes), and returns float outputs (int8 outputs dequantised:
    ``(q - zero_point) * scale``). ``num_threads=None`` leaves the choice to LiteRT (one
    thread in the current build).

    Example::

        lite = mobile.LiteModel(mobile.convert(model, "int8", representative_data=X_train[:100]))
        probs = lite.predict(X_test)
        print(lite.summary())
    """

    def __init__(
        self, content: bytes | str | os.PathLike, *, num_threads: int | None = None
    ) -> None:
        self.content = _content(content)
        cls, self.runtime = _interpreter_class()
        with quiet_native(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation warning
            self.interpreter = cls(model_content=self.content, num_threads=num_threads)
            self.interpreter.allocate_tensors()
        inputs = self.interpreter.get_input_details()
        if len(inputs) != 1 or len(self.interpreter.get_output_details()) != 1:
            raise ValueError("LiteModel runs models with one input and one output")
        self._batch = int(inputs[0]["shape"][0])

    @property
    def size(self) -> int:
        """The model's size in bytes (of its ``.tflite`` file)."""
        return len(self.content)

    @property
    def input_details(self) -> dict[str, Any]:
        """The interpreter's details of the input tensor (name, shape, dtype, quantization)."""
        return self.interpreter.get_input_details()[0]

    @property
    def output_details(self) -> dict[str, Any]:
        """The interpreter's details of the output tensor."""
        return self.interpreter.get_output_details()[0]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One image's shape, ``(h, w, c)``."""
        return tuple(int(s) for s in self.input_details["shape"][1:])

    def quantize(self, images: np.ndarray) -> np.ndarray:
        """Float images as the input tensor takes them: int8 for an int8 input, else float32."""
        details = self.input_details
        dtype = np.dtype(details["dtype"])
        if not np.issubdtype(dtype, np.integer):
            return np.asarray(images, dtype=dtype)
        scale, zero_point = _quantization(details)
        info = np.iinfo(dtype)
        q = np.round(np.asarray(images, dtype=np.float32) / scale) + zero_point
        return np.clip(q, info.min, info.max).astype(dtype)

    def dequantize(self, outputs: np.ndarray) -> np.ndarray:
        """Raw output values as floats: ``(q - zero_point) * scale`` for an integer output."""
        details = self.output_details
        if not np.issubdtype(np.dtype(details["dtype"]), np.integer):
            return np.asarray(outputs, dtype=np.float32)
        scale, zero_point = _quantization(details)
        return ((np.asarray(outputs, dtype=np.float32) - zero_point) * scale).astype(np.float32)

    def _checked(self, images: Any) -> np.ndarray:
        x = np.asarray(images)
        shape = self.input_shape
        if x.shape == shape:
            raise ValueError(
                f"expected a batch of images shaped (n, {', '.join(map(str, shape))}); got one "
                f"image {x.shape}: pass image[None]"
            )
        if x.ndim != len(shape) + 1 or x.shape[1:] != shape:
            hint = ""
            if x.ndim == len(shape) and shape[-1] == 1 and x.shape[1:] == shape[:-1]:
                hint = ": add a channel axis with X[..., None]"
            elif x.ndim == len(shape) + 1 and x.shape[1:] != shape:
                hint = (
                    f": the model was converted for {shape} images; load or resize the images "
                    "to that size"
                )
            raise ValueError(
                f"expected images shaped (n, {', '.join(map(str, shape))}); got {x.shape}{hint}"
            )
        model_dtype = np.dtype(self.input_details["dtype"])
        if x.dtype == model_dtype and np.issubdtype(model_dtype, np.integer):
            return x  # already quantised by the caller
        if x.dtype == np.uint8:
            raise ValueError(
                "expected float images scaled as the model was trained (e.g. 0-1); got uint8. "
                "Divide by 255.0 first"
            )
        return self.quantize(x.astype(np.float32))

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            index = self.input_details["index"]
            self.interpreter.resize_tensor_input(index, [batch, *self.input_shape])
            self.interpreter.allocate_tensors()
            self._batch = batch

    def run(self, x: np.ndarray) -> np.ndarray:
        """One invocation on an already-quantised batch ``x``; the raw output (no dequantising)."""
        self._resize(len(x))
        self.interpreter.set_tensor(self.input_details["index"], x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_details["index"])

    def predict(self, images: Any, batch_size: int = 256) -> np.ndarray:
        """Outputs for a batch of float images of any size, as float32 (class probabilities)."""
        x = self._checked(images)
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}")
        if len(x) == 0:
            shape = self.output_details["shape"][1:]
            return np.zeros((0, *shape), dtype=np.float32)
        parts = [self.run(x[i : i + batch_size]) for i in range(0, len(x), int(batch_size))]
        return self.dequantize(np.concatenate(parts))

    def summary(self) -> str:
        """The input and output tensors as a device programmer sees them."""
        lines = [f"LiteRT model, {self.size / 1024:.1f} KB, run by {self.runtime}"]
        for role, d in (("input ", self.input_details), ("output", self.output_details)):
            scale, zero_point = _quantization(d)
            quant = f"scale {scale:.6g}, zero point {zero_point}" if scale else "not quantised"
            lines.append(
                f"  {role} {d['name']!r}: shape {_shape(d)}, {np.dtype(d['dtype']).name}, {quant}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        d = self.input_details
        return (
            f"LiteModel({self.size / 1024:.1f} KB, input {_shape(d)} "
            f"{np.dtype(d['dtype']).name}, {self.runtime})"
        )
