"""Small models and request helpers shared by the serving tests."""

from __future__ import annotations

import base64
import io
from pathlib import Path

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
