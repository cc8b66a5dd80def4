"""Small models and request helpers shared by the serving tests."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import requests

SIZE = 8
CLASSES = [f"c{i}" for i in range(10)]


def tiny_model(seed: int):
    """An 8x8x1 -> 10-class softmax model with seed-dependent weights (untrained is enough)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 1), name="image")
    # Active only in training: the export must leave it out.
    x = keras.layers.RandomFlip("horizontal")(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def images(n: int, seed: int = 0) -> np.ndarray:
    """uint8 images whose /255 float version is exactly what a PNG round trip gives."""
    return np.random.default_rng(seed).integers(0, 256, (n, SIZE, SIZE, 1), dtype=np.uint8)


def png_b64(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[..., 0]).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def export(model, base: Path, name: str, version: int) -> Path:
    from course import serving

    return serving.export(model, base, name, version, class_names=CLASSES)


def post(url: str, body, **kw) -> requests.Response:
    data = body if isinstance(body, bytes | str) else None
    return requests.post(url, data=data, json=None if data is not None else body, timeout=30, **kw)


def half_plus_three(base: Path, folder: str = "00000123") -> Path:
    """A TF1-style SavedModel like TF Serving's ``saved_model_half_plus_three`` test model:
    y = 0.5 x + 3, exported with SavedModelBuilder and ``tf.Example`` parsing.

    Signatures: ``serving_default`` and ``regress_x_to_y`` (regress: serialized examples with
    a float feature ``x`` -> ``outputs``), ``classify_x_to_y`` (classify -> ``scores``),
    ``classify_with_classes`` (classify -> ``classes`` and ``scores``, two per example: the
    labels ``low``/``high`` with scores y and -y), ``predict_x`` (predict: float ``x`` [-1, 1]
    -> ``y``). Written under ``base/folder`` (version 123 by default, with leading zeros as in
    TF Serving's test data)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    path = base / folder
    with tf.Graph().as_default():
        # no shape, as TF Serving's own test models were written: TF2's loader cannot prune
        # such a graph, so this also checks that TF1 exports run in a session
        serialized = v1.placeholder(tf.string, name="tf_example")
        spec = {
            "x": tf.io.FixedLenFeature([1], tf.float32),
            "bias": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
        }
        features = v1.parse_example(serialized, spec)
        a = v1.Variable(0.5, name="a")
        b = v1.Variable(3.0, name="b")
        y = tf.add(a * features["x"], b + features["bias"], name="y")  # [batch, 1]
        labels = tf.tile(tf.constant([["low", "high"]]), [tf.shape(y)[0], 1])
        scores = tf.concat([y, -y], axis=1)
        raw_x = v1.placeholder(tf.float32, [None, 1], name="x")
        raw_y = tf.add(a * raw_x, b, name="raw_y")
        regress = v1.saved_model.regression_signature_def(serialized, y)
        signatures = {
            "serving_default": regress,
            "regress_x_to_y": regress,
            "classify_x_to_y": v1.saved_model.classification_signature_def(serialized, None, y),
            "classify_with_classes": v1.saved_model.classification_signature_def(
                serialized, labels, scores
            ),
            "predict_x": v1.saved_model.predict_signature_def({"x": raw_x}, {"y": raw_y}),
        }
        builder = v1.saved_model.Builder(str(path))
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            builder.add_meta_graph_and_variables(
                session, [tf.saved_model.SERVING], signature_def_map=signatures
            )
        builder.save()
    return path


ECHO_DTYPES = ("int8", "uint8", "int16", "int32", "int64", "uint32", "uint64", "bool",
               "string", "float16", "float32", "float64")  # fmt: skip


def dtype_model(path: Path) -> Path:
    """A SavedModel whose signatures echo one input per dtype, for the JSON conversion rules.

    Signature ``<dtype>`` (``int32``, ``uint64``, ``string``, ...): input ``x`` [-1] -> output
    ``y``; ``bytes``: string ``x`` -> ``y_bytes`` (base64 in answers); ``pair``: float ``a``
    [-1, 2] and string ``b`` [-1] -> ``a`` and ``b``; ``total``: float ``x`` [-1] -> the
    rank-0 ``total`` (its sum)."""
    import tensorflow as tf

    def echo(dtype: str) -> Any:
        spec = tf.TensorSpec([None], tf.as_dtype(dtype), name="x")
        return tf.function(lambda x: {"y": tf.identity(x)}, input_signature=[spec])

    module = tf.Module()
    signatures = {name: echo(name) for name in ECHO_DTYPES}
    signatures["bytes"] = tf.function(
        lambda x: {"y_bytes": tf.identity(x)},
        input_signature=[tf.TensorSpec([None], tf.string, name="x")],
    )
    signatures["pair"] = tf.function(
        lambda a, b: {"a": a * 2.0, "b": tf.strings.upper(b)},
        input_signature=[
            tf.TensorSpec([None, 2], tf.float32, name="a"),
            tf.TensorSpec([None], tf.string, name="b"),
        ],
    )
    signatures["total"] = tf.function(
        lambda x: {"total": tf.reduce_sum(x)},
        input_signature=[tf.TensorSpec([None], tf.float32, name="x")],
    )
    signatures["serving_default"] = signatures["float32"]
    tf.saved_model.save(module, str(path), signatures=signatures)
    return path


def tiny_and_half_plus_three(root: Path, seed: int) -> tuple[Any, Path]:
    """``tiny`` (a Keras export of :func:`tiny_model`) and ``hp3`` (:func:`half_plus_three`)
    under ``root``, with a ``models.config`` serving both; the Keras model and the config."""
    model = tiny_model(seed)
    export(model, root, "tiny", 1)
    (root / "hp3").mkdir()
    half_plus_three(root / "hp3")
    config = root / "models.config"
    config.write_text(
        "model_config_list {\n"
        f"  config {{ name: 'tiny' base_path: '{root / 'tiny'}' }}\n"
        f"  config {{ name: 'hp3' base_path: '{root / 'hp3'}' }}\n"
        "}\n"
    )
    return model, config
