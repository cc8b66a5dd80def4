"""Where does a classifier look? Saliency and occlusion maps, and the last convolutional layer.

Introduced in lesson 08 (interpretability), which derives each method in the open first. Grad-CAM
and the pointing game are that lesson's exercises, so they are not here: the lesson uses the
learner's own. Every function takes a Keras model and a batch of float images shaped
``(n, h, w, c)`` and returns one heat map per image, ``(n, h, w)`` in 0-1 (1 = the pixels that
matter most), ready for ``plots.heatmaps``. ``class_index`` picks the class to explain: ``None``
(the model's own prediction for each image), one int for every image, or one int per image.

Saliency needs the TensorFlow backend (``tf.GradientTape``); occlusion only calls the model, so
it works on any backend. Keras is imported when a function runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["last_conv_layer", "occlusion", "saliency"]


def _batch(images: Any) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 3:
        raise ValueError(
            f"expected a batch of images shaped (n, h, w, c); got {x.shape}. For one image "
            "pass image[None], for a greyscale batch add a channel axis with X[..., None]"
        )
    if x.ndim != 4:
        raise ValueError(f"expected images shaped (n, h, w, c); got {x.shape}")
    if x.dtype == np.uint8:
        raise ValueError(
            "expected float images scaled as the model was trained (e.g. 0-1); got uint8. "
            "Divide by 255.0 first"
        )
    return x.astype(np.float32)


def _classes(class_index: Any, scores: np.ndarray) -> np.ndarray:
    """One class per image: the prediction, one class for all, or one per image."""
    n, k = scores.shape
    if class_index is None:
        return scores.argmax(axis=1).astype(np.int64)
    idx = np.broadcast_to(np.asarray(class_index, dtype=np.int64), (n,)).copy()
    if idx.min() < 0 or idx.max() >= k:
        raise ValueError(f"class_index must lie in 0..{k - 1}; got {np.unique(idx)}")
    return idx


def _normalise(maps: np.ndarray) -> np.ndarray:
    """Scale each map to 0-1 by its own maximum (an all-zero map stays zero)."""
    maps = np.maximum(maps, 0.0)
    peak = maps.reshape(len(maps), -1).max(axis=1)
    return (maps / np.where(peak > 0, peak, 1.0)[:, None, None]).astype(np.float32)


def _entry(model: Any) -> Any:
    """The model's input tensor(s) as a new model should take them (one tensor when one)."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def _tensorflow() -> Any:
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "saliency takes gradients with TensorFlow; this Keras runs on "
            f"{keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow, or use occlusion()"
        )
    import tensorflow as tf

    return tf


def _score_head(model: Any) -> tuple[Any, Any]:
    """The tensor to differentiate and how to turn it into class scores (logits when known).

    A model whose last layer is a ``Dense`` with softmax is explained through its logits,
    ``x @ kernel + bias``: the softmax of a confident model is flat, so its gradients vanish.
    """
    import keras

    last = model.layers[-1]
    softmax = getattr(last, "activation", None) in (keras.activations.softmax,)
    if isinstance(last, keras.layers.Dense) and softmax:

        def logits(features: Any) -> Any:
            return keras.ops.matmul(features, last.kernel) + last.bias

        return last.input, logits
    return model.outputs[0], lambda out: out


def saliency(model: Any, images: Any, class_index: Any = None) -> np.ndarray:
    """Gradient saliency: how much a tiny change of each pixel moves the class score.

    Introduced in lesson 08 (interpretability). The map is ``|d score / d pixel|``, the
    maximum over colour channels, scaled to 0-1 per image. Noisy but cheap: one backward pass.

    Example::

        maps = explain.saliency(model, X_test[:8])
        plots.heatmaps(X_test[:8], maps, title="saliency")
    """
    import keras

    tf = _tensorflow()
    x = tf.convert_to_tensor(_batch(images))
    head, to_scores = _score_head(model)
    probe = keras.Model(_entry(model), head)
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = to_scores(probe(x, training=False))
        cls = _classes(class_index, keras.ops.convert_to_numpy(scores))
        chosen = tf.gather(scores, cls, axis=1, batch_dims=1)
    grads = tape.gradient(chosen, x)
    return _normalise(np.abs(grads.numpy()).max(axis=-1))


def last_conv_layer(model: Any) -> Any:
    """The last layer that outputs feature maps ``(batch, h, w, k)``, pooling layers skipped.

    Introduced in lesson 08 (interpretability): Grad-CAM's default layer, the one with the most
    abstract features that still keeps a spatial layout (before the pooling that shrinks it).

    Example: ``explain.last_conv_layer(model).name`` -> ``'block2_relu2'``
    """
    import keras

    pooling = (
        keras.layers.MaxPooling2D,
        keras.layers.AveragePooling2D,
        keras.layers.GlobalAveragePooling2D,
        keras.layers.GlobalMaxPooling2D,
    )
    for layer in reversed(model.layers):
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4 and shape[1] and shape[1] > 1 and not isinstance(layer, pooling):
            return layer
    raise ValueError(
        "the model has no layer with 4-D output (batch, h, w, k): Grad-CAM needs a "
        "convolutional layer; pass layer=... by name if the model nests its layers"
    )


def occlusion(
    model: Any,
    images: Any,
    class_index: Any = None,
    *,
    patch: int | None = None,
    stride: int | None = None,
    fill: float | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """Occlusion sensitivity: how much the class probability drops when a patch is hidden.

    Introduced in lesson 08 (interpretability). A ``patch`` x ``patch`` square (default a
    quarter of the image side) filled with ``fill`` (default each image's mean) slides over
    the image in steps of ``stride`` (default half the patch); every pixel gets the mean drop
    of the patches covering it. Model-agnostic (only predictions), but one forward pass per
    patch position.

    Example::

        maps = explain.occlusion(model, X_test[:4], patch=8, stride=4)
    """
    x = _batch(images)
    n, h, w, _ = x.shape
    patch = int(patch or max(2, min(h, w) // 4))
    stride = int(stride or max(1, patch // 2))
    if not 1 <= patch <= min(h, w) or stride < 1:
        raise ValueError(
            f"patch must lie in 1..{min(h, w)} and stride be >= 1; got {patch}, {stride}"
        )
    base = np.asarray(model.predict(x, verbose=0, batch_size=batch_size))
    cls = _classes(class_index, base)
    base_p = base[np.arange(n), cls]
    tops = sorted({*range(0, h - patch + 1, stride), h - patch})
    lefts = sorted({*range(0, w - patch + 1, stride), w - patch})
    positions = [(t, left) for t in tops for left in lefts]
    drop = np.zeros((n, h, w))
    cover = np.zeros((h, w))
    fills = x.mean(axis=(1, 2, 3)) if fill is None else np.full(n, float(fill))
    for t, left in positions:
        cover[t : t + patch, left : left + patch] += 1
    for i in range(n):
        hidden = np.repeat(x[i : i + 1], len(positions), axis=0)
        for j, (t, left) in enumerate(positions):
            hidden[j, t : t + patch, left : left + patch, :] = fills[i]
        probs = np.asarray(model.predict(hidden, verbose=0, batch_size=batch_size))
        for j, (t, left) in enumerate(positions):
            drop[i, t : t + patch, left : left + patch] += base_p[i] - probs[j, cls[i]]
    return _normalise(drop / cover[None])
