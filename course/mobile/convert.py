"""Keras model -> LiteRT flatbuffer (the bytes of a ``.tflite`` file), and what is inside one."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from course.mobile.native import quiet_native

VARIANTS = ("float32", "dynamic", "float16", "int8")


def _float_images(images: Any, name: str) -> np.ndarray:
    x = np.asarray(images)
    if x.dtype == np.uint8:
        raise ValueError(
            f"expected {name} as float images scaled as the model was trained (e.g. 0-1); got "
            "uint8. Divide by 255.0 first"
        )
    if x.ndim < 2 or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"expected {name} as a batch of images (n, h, w, c); got {x.shape}")
    return x.astype(np.float32)


def _first_images(images: Any, n: int) -> Callable[[], Iterator[list[np.ndarray]]]:
    """Calibration samples from an array: the first ``n`` images, one at a time, each as
    ``[float32 array (1, h, w, c)]`` (what :func:`convert` does with an array it is given)."""
    x = _float_images(images, "images")
    if int(n) < 1:
        raise ValueError(f"n is the number of calibration images, at least 1; got {n}")
    chosen = x[: int(n)]

    def generate() -> Iterator[list[np.ndarray]]:
        for image in chosen:
            yield [image[None]]

    return generate


def _model_input(model: Any) -> tuple[tuple[int, ...], str]:
    """The model's one input: its shape without the batch axis, and a name for the tensor."""
    inputs = getattr(model, "inputs", None)
    if not hasattr(model, "predict"):
        raise TypeError(f"expected a Keras model; got {type(model).__name__}")
    if not inputs:
        raise ValueError(
            "the model has no known input shape: start it with keras.Input(shape=...) or call "
            "it on a batch of images once before converting"
        )
    if len(inputs) != 1:
        raise ValueError(f"convert() handles models with one input; this one has {len(inputs)}")
    shape = tuple(inputs[0].shape[1:])
    if any(s is None for s in shape):
        raise ValueError(
            f"the model's input shape {tuple(inputs[0].shape)} has unknown sizes besides the "
            "batch; a LiteRT model needs fixed image sizes: build it with keras.Input((h, w, c))"
        )
    name = re.sub(r"\W", "_", str(getattr(inputs[0], "name", "") or "image")).strip("_")
    return tuple(int(s) for s in shape), (name or "image")


def _checked_representative(
    data: Any, shape: tuple[int, ...]
) -> Callable[[], Iterator[list[np.ndarray]]]:
    """Wrap a representative dataset so that every sample is checked and cast to float32."""
    if not callable(data):
        if isinstance(data, Iterator):
            raise TypeError(
                "representative_data must be a function that returns a fresh generator each "
                "call (def rep(): ... yield [x]); got a generator object: pass the function "
                "itself, not the result of calling it"
            )
        data = _first_images(data, len(data))

    expected = (1, *shape)

    def generate() -> Iterator[list[np.ndarray]]:
        count = 0
        samples = data()
        if not isinstance(samples, Iterable):
            raise TypeError(
                "representative_data() must return an iterable of samples (use yield); "
                f"got {type(samples).__name__}"
            )
        for sample in samples:
            if isinstance(sample, np.ndarray) or not isinstance(sample, (list, tuple)):
                raise TypeError(
                    "each representative sample must be a list with one array per model "
                    f"input, e.g. [image[None]]; got {type(sample).__name__}. Yield [x], not x"
                )
            if len(sample) != 1:
                raise ValueError(f"the model has one input; a sample held {len(sample)} arrays")
            x = _float_images(sample[0], "each representative sample")
            if x.shape != expected:
                hint = " (add the batch axis: yield [image[None]])" if x.shape == shape else ""
                raise ValueError(
                    f"each representative sample must be shaped {expected}, one image with a "
                    f"batch axis, as the model's input; got {x.shape}{hint}"
                )
            count += 1
            yield [x]
        if count == 0:
            raise ValueError("the representative dataset yielded no samples")

    return generate


def convert(
    model: Any,
    variant: str = "float32",
    *,
    representative_data: Any = None,
    int8_io: bool = False,
) -> bytes:
    """Convert a Keras model to a LiteRT flatbuffer; returns the ``.tflite`` file's bytes.

    Introduced in lesson 10 (mobile-and-optimization). ``variant`` is one of :data:`VARIANTS`:

    - ``"float32"``: the model as it is, about 4 bytes per weight;
    - ``"dynamic"``: dynamic-range quantisation, int8 weights (per channel) that are turned
      back into floats at run time; no calibration data;
    - ``"float16"``: float16 weights, float32 computation;
    - ``"int8"``: full-integer quantisation, int8 weights and activations; needs
      ``representative_data`` (a function returning a generator of ``[x]`` samples, each one
      float32 image ``(1, h, w, c)``, or an array of float images, all of which are used; a
      hundred or so is plenty) to calibrate the activation ranges.
      ``int8_io=True`` makes the input and output int8 as well (what microcontrollers and
      NPUs want); by default they stay float32, with a quantise op first and a dequantise op
      last inside the model.

    The model is traced as ``model(x, training=False)`` with a free batch size: augmentation
    layers and dropout are off (Keras 3.15's default tracing keeps augmentation on, and the
    converter then fails on its random ops).

    Example::

        content = mobile.convert(model, "int8", representative_data=X_train[:200])
        Path("digits_int8.tflite").write_bytes(content)
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    if int8_io and variant != "int8":
        raise ValueError(
            f"int8_io applies to full-int8 models only; the {variant!r} variant keeps float32 "
            "input and output. Use variant='int8'"
        )
    if variant == "int8" and representative_data is None:
        raise ValueError(
            "full-int8 conversion needs a representative dataset to calibrate the activation "
            "ranges: pass representative_data=X_train[:100] (a hundred or so training images, "
            "scaled as the model expects) or a function that yields them as [x]"
        )
    shape, name = _model_input(model)
    import tensorflow as tf

    spec = tf.TensorSpec([None, *shape], tf.float32, name=name)

    @tf.function(input_signature=[spec])
    def serve(x: Any) -> Any:
        return model(x, training=False)

    with quiet_native(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Statistics for quantized inputs")
        warnings.filterwarnings("ignore", message=r".*tf\.lite.*deprecated", category=Warning)
        # With the tf.function as the object holding the variables, the converter freezes the
        # graph directly (0.1 s) instead of saving and reloading a SavedModel (0.8 s); the
        # flatbuffer is the same.
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [serve.get_concrete_function()], serve
        )
        if variant != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if variant == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if variant == "int8":
            converter.representative_dataset = _checked_representative(representative_data, shape)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if int8_io:
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
        return bytes(converter.convert())


def convert_all(model: Any, representative_data: Any, *, int8_io: bool = False) -> dict[str, bytes]:
    """Every variant of :func:`convert` for one model: ``{variant: .tflite bytes}``.

    Introduced in lesson 10 (mobile-and-optimization). ``representative_data`` calibrates the
    ``int8`` variant.

    Example: ``lite = mobile.convert_all(model, X_train[:100])``
    """
    return {
        v: convert(
            model,
            v,
            representative_data=representative_data if v == "int8" else None,
            int8_io=int8_io and v == "int8",
        )
        for v in VARIANTS
    }


def size_breakdown(content: bytes | str | os.PathLike) -> dict[str, int]:
    """Where a ``.tflite`` file's bytes go: ``{"total", "weights", "other"}``.

    Introduced in lesson 10 (mobile-and-optimization). ``weights`` counts the constant buffers
    (weights, biases, quantisation-free constants); ``other`` is the graph itself: operators,
    tensor names and shapes, quantisation scales and zero points (per output channel of each
    int8 weight). ``other`` hardly depends on how many weights there are, so it is why a small
    int8 model is less than 4 times smaller than its float32 twin.

    Example: ``mobile.size_breakdown(content)`` -> ``{"total": 76488, "weights": 66368, ...}``
    """
    data = _content(content)
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # pragma: no cover - TensorFlow's copy of the same generated module
        from tensorflow.lite.python import schema_py_generated as schema  # type: ignore

    flat = schema.Model.GetRootAs(data, 0)
    weights = 0
    for i in range(flat.BuffersLength()):
        buffer = flat.Buffers(i)
        weights += buffer.DataLength() or int(buffer.Size() or 0)
    return {"total": len(data), "weights": int(weights), "other": len(data) - int(weights)}


def strip_names(content: bytes | str | os.PathLike) -> bytes:
    """The ``.tflite`` file without its nonessential strings: tensor and subgraph names, the
    description and the signature table (TensorFlow's own ``flatbuffer_utils.strip_strings``).

    Introduced in lesson 10 (mobile-and-optimization). The model computes exactly the same;
    inputs and outputs are then found by index (``get_input_details()[0]``), not by signature
    name. Names are a few KB, which matters for a small int8 model (about 10% of it) and not
    for a large one. Example: ``small = mobile.strip_names(lite["int8"])``
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(_content(content)))
    flatbuffer_utils.strip_strings(model)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _content(content: bytes | bytearray | str | os.PathLike) -> bytes:
    if isinstance(content, (bytes, bytearray, memoryview)):
        data = bytes(content)
    elif isinstance(content, (str, os.PathLike)):
        path = Path(content)
        if not path.is_file():
            raise FileNotFoundError(f"no .tflite file at {path}")
        data = path.read_bytes()
    else:
        raise TypeError(
            "expected the bytes of a .tflite model (what mobile.convert returns) or a path to "
            f"one; got {type(content).__name__}"
        )
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError(
            "these bytes are not a LiteRT (.tflite) flatbuffer: its identifier 'TFL3' is "
            "missing. Convert a Keras model with mobile.convert(model)"
        )
    return data
