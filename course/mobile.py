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

import functools
import gzip
import os
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MIN_WEIGHTS",
    "VARIANTS",
    "LiteModel",
    "PruningCallback",  # noqa: F822  (built on first access, see __getattr__)
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

VARIANTS = ("float32", "dynamic", "float16", "int8")

# Layers with fewer kernel weights are not pruned (the converter's dynamic-range quantisation
# uses the same threshold to leave small weights in float).
MIN_WEIGHTS = 1024

# The converter and the interpreter's native code print these on file descriptor 2 (stderr),
# whatever TF_CPP_MIN_LOG_LEVEL says; nbgrader scores a test cell with stderr output as 0.
_NATIVE_NOISE = re.compile(
    r"fully_quantize: |Created TensorFlow Lite .*delegate|Estimated count of arithmetic ops|"
    r"^W0000 |^I0000 |tf\.lite\.Interpreter is deprecated|TensorFlow Lite .*deprecated|"
    r"absl::InitializeLog|Ignored output_format|Ignored drop_control_dependency"
)


def _quiet_native() -> Any:
    """Native converter and interpreter messages off stderr (see ``env.native_stderr_filtered``)."""
    from course.env import native_stderr_filtered

    return native_stderr_filtered(_NATIVE_NOISE)


# ----------------------------------------------------------------------------- conversion


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

    with _quiet_native(), warnings.catch_warnings():
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


# ----------------------------------------------------------------------------- interpreter


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
        with _quiet_native(), warnings.catch_warnings():
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


# ----------------------------------------------------------------------------- measuring


class Table(list):
    """A list of row dicts that prints as an aligned text table.

    Introduced in lesson 10 (mobile-and-optimization) for :func:`compare` and :func:`sparsity`.
    Floats print with ``digits`` decimals; ``table.row("int8")`` finds a row by its first
    column, ``table.column("accuracy")`` lists one column.
    """

    def __init__(
        self, rows: Iterable[Mapping[str, Any]] = (), *, title: str = "", digits: int = 3
    ) -> None:
        super().__init__(dict(r) for r in rows)
        self.title = title
        self.digits = digits

    def column(self, key: str) -> list[Any]:
        return [row.get(key) for row in self]

    def row(self, name: Any) -> dict[str, Any]:
        for row in self:
            if next(iter(row.values()), None) == name:
                return row
        raise KeyError(f"no row named {name!r}; rows: {[next(iter(r.values())) for r in self]}")

    def _cell(self, value: Any) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "-"
        if isinstance(value, (float, np.floating)):
            return f"{value:.{self.digits}f}"
        return str(value)

    def __str__(self) -> str:
        if not self:
            return f"{self.title}\n(empty)" if self.title else "(empty)"
        keys = list(dict.fromkeys(k for row in self for k in row))
        cells = [[self._cell(row.get(k)) for k in keys] for row in self]
        widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]

        def line(values: Sequence[str]) -> str:
            # the first column (the names) aligned left, the numbers right
            pairs = enumerate(zip(values, widths, strict=True))
            return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in pairs)

        header = line(keys)
        out = [self.title] if self.title else []
        out += [header, "-" * len(header), *(line(c) for c in cells)]
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)


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


# ----------------------------------------------------------------------------- pruning


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


@functools.cache
def _pruning_callback_class() -> type:
    import keras

    class PruningCallback(keras.callbacks.Callback):
        """Prune while fine-tuning: masks follow a polynomial schedule and stay applied.

        Introduced in lesson 10 (mobile-and-optimization). Every ``frequency`` steps from
        ``begin_step`` to ``end_step`` the masks of the Conv/Dense kernels are recomputed from
        the current weights at the sparsity :func:`polynomial_sparsity` gives, and after
        *every* batch they are applied again, so that weights once pruned stay exactly zero
        although the optimizer keeps nudging them. ``end_step=None`` reaches ``sparsity`` at
        two thirds of the run (``fit``'s epochs times steps), leaving the last third to
        recover at the final sparsity; ``end_step=0`` prunes to ``sparsity`` at once. Layers
        with fewer than ``min_weights`` kernel entries are left whole, as in :func:`prune`.
        ``self.schedule`` records ``(step, sparsity)`` at each mask update.

        Example::

            model.fit(X_train, y_train, epochs=3,
                      callbacks=[mobile.PruningCallback(0.8)])
        """

        def __init__(
            self,
            sparsity: float,
            *,
            begin_step: int = 0,
            end_step: int | None = None,
            frequency: int = 10,
            power: float = 3.0,
            min_weights: int = MIN_WEIGHTS,
        ) -> None:
            super().__init__()
            self.target = _check_sparsity(sparsity)
            if int(frequency) < 1:
                raise ValueError(f"frequency is in steps, at least 1; got {frequency}")
            self.begin_step, self.end_step = int(begin_step), end_step
            self.frequency, self.power = int(frequency), float(power)
            self.min_weights = int(min_weights)
            self.step = 0
            self.masks: dict[str, Any] = {}
            self.schedule: list[tuple[int, float]] = []

        def _update_masks(self, fraction: float) -> None:
            self.masks = {}
            for layer in self._layers:
                kernel = keras.ops.convert_to_numpy(layer.kernel)
                self.masks[layer.name] = keras.ops.convert_to_tensor(
                    _magnitude_mask(kernel, fraction), dtype=layer.kernel.dtype
                )
            self.schedule.append((self.step, fraction))

        def _apply(self) -> None:
            for layer in self._layers:
                layer.kernel.assign(keras.ops.multiply(layer.kernel, self.masks[layer.name]))

        def on_train_begin(self, logs: Any = None) -> None:
            self._layers = _prunable(self.model, self.min_weights)
            if not self._layers:
                raise ValueError(
                    f"the model has no Conv or Dense layer with at least {self.min_weights} "
                    "weights to prune; lower min_weights"
                )
            if self.end_step is None:
                steps, epochs = self.params.get("steps"), self.params.get("epochs")
                if not steps or not epochs:
                    raise ValueError(
                        "PruningCallback can't tell how long training runs (steps per epoch "
                        "unknown); pass end_step, or steps_per_epoch to fit()"
                    )
                self._end = max(self.begin_step, (2 * int(steps) * int(epochs)) // 3)
            else:
                self._end = int(self.end_step)
            self.step = 0
            self._update_masks(self._sparsity())
            self._apply()

        def _sparsity(self) -> float:
            return polynomial_sparsity(self.step, self.target, begin_step=self.begin_step,
                                       end_step=self._end, power=self.power)  # fmt: skip

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.step += 1
            in_window = self.begin_step <= self.step <= self._end
            due = (self.step - self.begin_step) % self.frequency == 0 or self.step == self._end
            if in_window and due:
                self._update_masks(self._sparsity())
            self._apply()

    return PruningCallback


def __getattr__(name: str) -> Any:
    # PruningCallback subclasses keras.callbacks.Callback: build the class only when asked for,
    # so that importing course.mobile doesn't import Keras.
    if name == "PruningCallback":
        return _pruning_callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
