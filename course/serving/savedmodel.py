"""Write a Keras model as a versioned SavedModel that TensorFlow Serving can load.

Introduced in lesson 09 (deployment-tf-serving). Layout, as TF Serving expects it::

    <base_path>/<name>/<version>/saved_model.pb, variables/, assets/

Two signatures, both traced with ``training=False`` (augmentation and dropout off; Keras 3.15's
``model.export()`` traces the model with them on, and the served model then disagrees with
``model.predict``):

- ``serving_default``: a float input named ``image`` shaped ``(batch, h, w, c)``, scaled as the
  model was trained (0-1), and the output ``probabilities``;
- ``serving_bytes``: an input ``image_bytes`` of encoded PNG/JPEG/BMP/GIF bytes (sent as
  ``{"b64": ...}`` over REST) that the graph decodes, converts to the model's channels, resizes
  the way ``course.data.load`` does (``fit``), and scales to 0-1; outputs ``probabilities``,
  ``class_id`` and, given ``class_names``, ``label``.

A version folder is written under a temporary, non-numeric name and renamed into place when it
is complete: a server polling the base path never sees half a model (TF Serving's advice too).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from course.data.folder import FITS  # the resizing choices of data.load

__all__ = ["DEFAULT_SIGNATURE", "BYTES_SIGNATURE", "export", "next_version", "versions"]

DEFAULT_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def versions(model_dir: str | os.PathLike) -> list[int]:
    """The numeric version folders under ``model_dir`` (what a server would serve), sorted.

    Introduced in lesson 09. Folders with other names (``tmp``, ``.export-3``) are ignored, as
    TF Serving ignores them.
    """
    root = Path(model_dir)
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(model_dir: str | os.PathLike) -> int:
    """One more than the highest version under ``model_dir`` (1 for a new model). Lesson 09."""
    found = versions(model_dir)
    return found[-1] + 1 if found else 1


def _image_shape(model: Any) -> tuple[int, int, int]:
    shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else None
    if not shape or len(shape) != 4 or any(d is None for d in shape[1:]):
        raise ValueError(
            f"expected a model with one image input shaped (batch, h, w, c); got {shape}. "
            "Build it with keras.Input(shape=(h, w, c)) so the served size is known"
        )
    return int(shape[1]), int(shape[2]), int(shape[3])


def _decode(tf: Any, data: Any, h: int, w: int, c: int, fit: str) -> Any:
    """Encoded bytes -> float (h, w, c) in 0-1, as ``course.data.load`` prepares images."""
    image = tf.io.decode_image(data, channels=3, expand_animations=False)  # 1st GIF frame
    image.set_shape([None, None, 3])
    if c == 1:
        image = tf.image.rgb_to_grayscale(image)  # uint8 in, uint8 out, as PIL's "L"
    image = tf.cast(image, tf.float32) / 255.0  # the lessons' X / 255.0

    def resize() -> Any:
        if fit == "stretch":
            return tf.image.resize(image, (h, w), method="bilinear", antialias=True)
        if fit == "crop":  # the centre at the target's aspect ratio, then resized (ImageOps.fit)
            ih, iw = tf.shape(image)[0], tf.shape(image)[1]
            wide = iw * h > ih * w

            def scaled(side: Any, ratio: float) -> Any:
                return tf.cast(tf.round(tf.cast(side, tf.float32) * ratio), tf.int32)

            crop_h = tf.where(wide, ih, scaled(iw, h / w))
            crop_w = tf.where(wide, scaled(ih, w / h), iw)
            crop_h, crop_w = tf.clip_by_value(crop_h, 1, ih), tf.clip_by_value(crop_w, 1, iw)
            centre = tf.image.crop_to_bounding_box(
                image, (ih - crop_h) // 2, (iw - crop_w) // 2, crop_h, crop_w
            )
            return tf.image.resize(centre, (h, w), method="bilinear", antialias=True)
        # pad: keep the aspect ratio, letterbox with black (as data.load: rounded size, centred)
        ih = tf.cast(tf.shape(image)[0], tf.float32)
        iw = tf.cast(tf.shape(image)[1], tf.float32)
        scale = tf.minimum(w / iw, h / ih)
        new_h = tf.maximum(1, tf.cast(tf.round(ih * scale), tf.int32))
        new_w = tf.maximum(1, tf.cast(tf.round(iw * scale), tf.int32))
        small = tf.image.resize(image, (new_h, new_w), method="bilinear", antialias=True)
        return tf.image.pad_to_bounding_box(small, (h - new_h) // 2, (w - new_w) // 2, h, w)

    shape = tf.shape(image)
    right_size = tf.logical_and(tf.equal(shape[0], h), tf.equal(shape[1], w))
    image = tf.cond(right_size, lambda: image, resize)  # already the size: untouched
    return tf.clip_by_value(image, 0.0, 1.0)


def export(
    model: Any,
    base_path: str | os.PathLike,
    name: str = "model",
    version: int | None = None,
    *,
    class_names: Sequence[str] | None = None,
    fit: str = "pad",
    overwrite: bool = False,
) -> Path:
    """Export ``model`` to ``base_path/name/version`` for TF Serving; return that folder.

    Introduced in lesson 09. ``version=None`` takes :func:`next_version`. The model must take
    float images in 0-1 shaped ``(batch, h, w, c)`` and output class probabilities; ``fit`` is
    how ``course.data.load`` resized the training images (``"pad"``, its default, ``"crop"`` or
    ``"stretch"``) so that the ``serving_bytes`` signature prepares an uploaded photo the same
    way. An existing version is never replaced unless ``overwrite=True``.

    Example::

        path = serving.export(model, "models", "digits", class_names=ds.class_names)
        # models/digits/1  ->  tensorflow_model_server --model_base_path=$PWD/models/digits
    """
    import keras
    import tensorflow as tf

    if not _NAME.match(name):
        raise ValueError(f"model name must be letters, digits, '_', '-' or '.'; got {name!r}")
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}; got {fit!r}")
    h, w, c = _image_shape(model)
    model_dir = Path(base_path) / name
    if version is None:
        version = next_version(model_dir)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"version must be a non-negative int (the folder name); got {version!r}")
    target = model_dir / str(version)
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"{target} already exists. Pick another version (serving.next_version gives "
            f"{next_version(model_dir)}) or pass overwrite=True"
        )
    num_classes = int(model.outputs[0].shape[-1])
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(
            f"got {len(class_names)} class names for a model with {num_classes} outputs"
        )

    def predict(images: Any) -> Any:
        return model(images, training=False)

    def serve_default(image: Any) -> dict[str, Any]:
        return {"probabilities": predict(image)}

    def serve_bytes(image_bytes: Any) -> dict[str, Any]:
        images = tf.map_fn(
            lambda b: _decode(tf, b, h, w, c, fit),
            image_bytes,
            fn_output_signature=tf.TensorSpec((h, w, c), tf.float32),
        )
        probs = predict(images)
        class_id = tf.argmax(probs, axis=-1, output_type=tf.int32)
        out = {"probabilities": probs, "class_id": class_id}
        if class_names is not None:
            out["label"] = tf.gather(tf.constant([str(n) for n in class_names]), class_id)
        return out

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        DEFAULT_SIGNATURE,
        serve_default,
        input_signature=[tf.TensorSpec((None, h, w, c), tf.float32, name="image")],
    )
    archive.add_endpoint(
        BYTES_SIGNATURE,
        serve_bytes,
        input_signature=[tf.TensorSpec((None,), tf.string, name="image_bytes")],
    )
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".export-{version}-", dir=model_dir))
    try:
        archive.write_out(str(staging), verbose=False)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)  # atomic: a polling server sees all of it or nothing
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
