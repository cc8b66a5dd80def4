"""A ``tf.data`` input pipeline from NumPy arrays: scale, cache, shuffle, batch, augment.

Introduced in lesson 01 (data-preprocessing). TensorFlow is imported only when
:func:`pipeline` runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np


def _accepts_training(fn: Callable) -> bool:
    try:
        import keras

        if isinstance(fn, keras.layers.Layer):
            return True
    except ImportError:  # pragma: no cover - keras is a dependency
        pass
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "training" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def pipeline(
    X: np.ndarray,
    y: np.ndarray | None = None,
    *,
    batch_size: int = 32,
    shuffle: bool = False,
    augment: Callable | None = None,
    cache: bool = True,
    seed: int = 0,
    scale: bool = True,
    drop_remainder: bool = False,
) -> Any:
    """Build a ``tf.data.Dataset`` of batches from images ``X`` (and labels ``y``).

    Introduced in lesson 01 (data-preprocessing).

    Steps, in order: slices of ``(X, y)`` -> uint8 images scaled to float32 in [0, 1] (when
    ``scale``; float images pass through as float32) -> ``cache()`` -> ``shuffle`` (a buffer
    of the whole set, reshuffled every epoch, in an order fixed by ``seed``) -> ``batch`` ->
    ``augment`` (a Keras layer or ``Sequential``, called with ``training=True``, or any
    function of a batch) -> ``prefetch``. With ``y=None`` the batches hold images only.

    Example::

        train_ds = data.pipeline(X_train, y_train, batch_size=64, shuffle=True, augment=aug)
        model.fit(train_ds, validation_data=data.pipeline(X_val, y_val), epochs=5)
    """
    X = np.asarray(X)
    if X.ndim != 4:
        hint = ": add a channel axis with X[..., None]" if X.ndim == 3 else ""
        raise ValueError(f"expected images shaped (n, h, w, c); got {X.shape}{hint}")
    if y is not None:
        y = np.asarray(y)
        if len(y) != len(X):
            raise ValueError(
                f"X and y must have one label per image; got {len(X)} images and {len(y)} labels"
            )
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    if augment is not None and not callable(augment):
        raise TypeError(
            f"augment must be a Keras layer, a Sequential or a function of a batch; "
            f"got {type(augment).__name__}"
        )

    import tensorflow as tf

    to_unit = scale and X.dtype == np.uint8

    def prepare(image):
        image = tf.cast(image, tf.float32)
        return image / 255.0 if to_unit else image

    ds = tf.data.Dataset.from_tensor_slices(X if y is None else (X, y))
    if y is None:
        ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(
            lambda image, label: (prepare(image), label), num_parallel_calls=tf.data.AUTOTUNE
        )
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(X), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if augment is not None:
        if _accepts_training(augment):

            def apply(batch):
                return augment(batch, training=True)
        else:

            def apply(batch):
                return augment(batch)

        if y is None:
            ds = ds.map(apply, num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = ds.map(
                lambda images, labels: (apply(images), labels), num_parallel_calls=tf.data.AUTOTUNE
            )
    return ds.prefetch(tf.data.AUTOTUNE)
