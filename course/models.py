"""Reference models the lessons build on: the course's small CNN and its pretrained backbone.

Introduced in lesson 04 (training), which ends by building and training :func:`digits_cnn`;
lesson 05 and later lessons reuse it, and ``bench/digits.py`` compares it with scikit-learn's
classifiers. Lesson 07 (transfer-learning) loads :func:`pretrained_backbone`, whose weights ship
in ``course/assets/`` (``course pretrain`` regenerates them). Keras is imported only when a
function here runs, so ``import course.models`` is cheap.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BACKBONE_CARD",
    "BACKBONE_INPUT",
    "BACKBONE_WEIGHTS",
    "augmentation",
    "backbone_card",
    "digits_cnn",
    "backbone",
    "fit_reference",
    "pretrained_backbone",
]

ASSETS = Path(__file__).resolve().parent / "assets"
BACKBONE_WEIGHTS = ASSETS / "backbone.weights.h5"
BACKBONE_CARD = ASSETS / "backbone.json"
BACKBONE_INPUT = (32, 32, 1)


def augmentation(*, rotation: float = 0.04, shift: float = 0.08, zoom: float = 0.1) -> Any:
    """A label-preserving augmentation for digits and photos alike: small turns, shifts, zooms.

    Introduced in lesson 04 (training). No mirror and no large rotation, so a 2 stays a 2; the
    layers change images only in training and pass them through unchanged at inference.
    ``rotation`` is a fraction of a full turn (0.04 is about 14 degrees), ``shift`` and ``zoom``
    fractions of the image size.

    Example::

        augment = models.augmentation()
        varied = augment(X_train[:16] / 255.0, training=True)
    """
    import keras

    return keras.Sequential(
        [
            keras.layers.RandomRotation(rotation, fill_mode="constant"),
            keras.layers.RandomTranslation(shift, shift, fill_mode="constant"),
            keras.layers.RandomZoom(zoom, fill_mode="constant"),
        ],
        name="augmentation",
    )


def _check_shape(input_shape: Any, num_classes: int) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3:
        hint = " (drop the batch axis: pass X_train.shape[1:])" if len(shape) == 4 else ""
        raise ValueError(f"input_shape must be (height, width, channels); got {shape}{hint}")
    if min(shape[:2]) < 4:
        raise ValueError(
            f"images must be at least 4x4 for the two pooling steps; got {shape[:2]}. "
            "Load them larger, e.g. data.load('digits', image_size=16)"
        )
    if int(num_classes) < 2:
        raise ValueError(f"num_classes must be at least 2; got {num_classes}")
    return shape  # type: ignore[return-value]


def digits_cnn(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    augment: bool = True,
    filters: tuple[int, int] = (32, 64),
    dropout: float = 0.3,
    bn_momentum: float = 0.9,
    l2: float = 0.0,
    lr: float = 3e-3,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    compile: bool = True,
    name: str = "digits_cnn",
) -> Any:
    """The course's reference CNN: two conv blocks with batch norm, dropout, softmax output.

    Introduced in lesson 04 (training); lesson 05 and later lessons reuse it. Layout::

        [augmentation] -> (Conv 3x3 -> BN -> ReLU) x2 -> MaxPool
                       -> (Conv 3x3 -> BN -> ReLU) x2 -> MaxPool
                       -> GlobalAveragePooling -> Dropout -> Dense(num_classes, softmax)

    It takes float images in 0-1 (what ``data.pipeline`` yields; divide uint8 arrays by 255)
    of any size from 4x4 and any number of channels, and outputs class probabilities.

    - ``augment`` puts :func:`augmentation` in front (active only while training).
    - ``bn_momentum=0.9``: Keras's default 0.99 lets the batch-norm running statistics trail
      far behind the weights in a short run on a small set, and the model is then near
      chance at inference although training accuracy is high (lesson 04 shows it).
    - ``l2`` adds an L2 weight penalty to every convolution and the dense layer.
    - With ``compile=True`` it is compiled with Adam at learning rate ``lr``, sparse
      categorical cross-entropy and accuracy; given ``epochs`` and ``steps_per_epoch``, the
      learning rate follows a cosine decay to 0 over that many steps (what
      :func:`fit_reference` uses).

    Example::

        model = models.digits_cnn(X_train.shape[1:], ds.num_classes)
        model.fit(X_train / 255.0, y_train, epochs=20, validation_split=0.1)
    """
    import keras

    shape = _check_shape(input_shape, num_classes)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1); got {dropout}")
    layers = keras.layers
    regularizer = keras.regularizers.L2(l2) if l2 else None

    inputs = keras.Input(shape=shape, name="image")
    x = augmentation()(inputs) if augment else inputs
    for block, width in enumerate(filters):
        for conv in range(2):
            x = layers.Conv2D(
                width,
                3,
                padding="same",
                use_bias=False,
                kernel_regularizer=regularizer,
                name=f"block{block + 1}_conv{conv + 1}",
            )(x)
            x = layers.BatchNormalization(
                momentum=bn_momentum, name=f"block{block + 1}_bn{conv + 1}"
            )(x)
            x = layers.ReLU(name=f"block{block + 1}_relu{conv + 1}")(x)
        x = layers.MaxPooling2D(name=f"block{block + 1}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(
        int(num_classes), activation="softmax", kernel_regularizer=regularizer, name="probs"
    )(x)
    model = keras.Model(inputs, outputs, name=name)
    if compile:
        rate: Any = lr
        if epochs and steps_per_epoch:
            rate = keras.optimizers.schedules.CosineDecay(
                lr, decay_steps=int(epochs) * int(steps_per_epoch)
            )
        model.compile(
            optimizer=keras.optimizers.Adam(rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    return model


def _as_float(X: Any) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 4:
        hint = ": add a channel axis with X[..., None]" if X.ndim == 3 else ""
        raise ValueError(f"expected images shaped (n, h, w, c); got {X.shape}{hint}")
    if X.dtype == np.uint8:
        return X.astype(np.float32) / 255.0
    return X.astype(np.float32)


def fit_reference(
    X_train: Any,
    y_train: Any,
    *,
    validation_data: tuple[Any, Any] | None = None,
    epochs: int = 40,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int | None = 0,
    verbose: int = 0,
    run_eagerly: bool = False,
    **options: Any,
) -> tuple[Any, Any]:
    """Build :func:`digits_cnn` for ``X_train`` and train it the reference way.

    Introduced in lesson 04 (training); lesson 05 and ``bench/digits.py`` call it. Adam with a
    cosine-decaying learning rate from ``lr`` to 0 over ``epochs``, batches of ``batch_size``,
    augmentation on. uint8 images are scaled to 0-1 here (and must be at predict time too:
    ``model.predict(X_test / 255.0)``). ``options`` go to :func:`digits_cnn` (``dropout``,
    ``bn_momentum``, ...). ``run_eagerly=True`` skips building a TensorFlow graph, which pays
    off only for a handful of steps (the lessons' test mode). Returns ``(model, history)``.

    Example::

        model, history = models.fit_reference(X_train, y_train, epochs=30,
                                              validation_data=(X_val, y_val))
        probs = model.predict(X_test / 255.0, verbose=0)
    """
    import keras

    X = _as_float(X_train)
    y = np.asarray(y_train).astype(np.int64).reshape(-1)
    if len(X) != len(y):
        raise ValueError(f"got {len(X)} images and {len(y)} labels; pass one label per image")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    num_classes = max(int(y.max()) + 1, 2)
    if validation_data is not None:
        X_val, y_val = validation_data
        num_classes = max(num_classes, int(np.max(y_val)) + 1)
        validation_data = (_as_float(X_val), np.asarray(y_val).astype(np.int64).reshape(-1))
    num_classes = int(options.pop("num_classes", num_classes))
    steps = math.ceil(len(X) / batch_size)
    model = digits_cnn(
        X.shape[1:], num_classes, lr=lr, epochs=epochs, steps_per_epoch=steps, **options
    )
    if run_eagerly:
        model.run_eagerly = True
    history = model.fit(
        X,
        y,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=validation_data,
        shuffle=True,
        verbose=verbose,
    )
    return model, history


def _per_image_scaling() -> Any:
    """A layer that standardises each image on its own: minus its mean, over its std."""
    import keras

    class Standardize(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            mean = keras.ops.mean(x, axis=(1, 2, 3), keepdims=True)
            std = keras.ops.std(x, axis=(1, 2, 3), keepdims=True)
            return (x - mean) / (std + 1e-6)

    return Standardize(name="standardize")


def backbone(*, bn_momentum: float = 0.9, name: str = "backbone") -> Any:
    """The architecture of the course's pretrained backbone: a 32x32 grey image -> 128 features.

    Introduced in lesson 07 (transfer-learning). Each image is first standardised on its own
    (lesson 08 explains why: colour and brightness say nothing about a shape), then two blocks
    of two 3x3 convolutions (32, then 64 filters) with batch norm and ReLU, each followed by max
    pooling, a 3x3 convolution with 128 filters, and global average pooling (the layer named
    ``embedding``). With fresh random weights it is the "from scratch" twin of
    :func:`pretrained_backbone`.

    Example::

        scratch = models.backbone()        # random weights, same layers
    """
    import keras

    layers = keras.layers
    inputs = keras.Input(shape=BACKBONE_INPUT, name="image")
    x = _per_image_scaling()(inputs)
    for block, width in enumerate((32, 64), start=1):
        for conv in (1, 2):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False,
                              name=f"block{block}_conv{conv}")(x)  # fmt: skip
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"block{block}_bn{conv}")(x)
            x = layers.ReLU(name=f"block{block}_relu{conv}")(x)
        x = layers.MaxPooling2D(name=f"block{block}_pool")(x)
    x = layers.Conv2D(128, 3, padding="same", use_bias=False, name="block3_conv1")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name="block3_bn1")(x)
    x = layers.ReLU(name="block3_relu1")(x)
    outputs = layers.GlobalAveragePooling2D(name="embedding")(x)
    return keras.Model(inputs, outputs, name=name)


def backbone_card() -> dict[str, Any]:
    """What the shipped backbone was trained on and how well: the JSON next to its weights.

    Introduced in lesson 07 (transfer-learning). Written by ``course pretrain``.

    Example: ``models.backbone_card()["held_out_accuracy"]``
    """
    if not BACKBONE_CARD.is_file():
        raise FileNotFoundError(
            f"the pretrained backbone's card {BACKBONE_CARD} is missing; "
            "regenerate the backbone with `course pretrain`"
        )
    return json.loads(BACKBONE_CARD.read_text(encoding="utf-8"))


def pretrained_backbone(
    input_shape: tuple[int, int, int] = BACKBONE_INPUT, *, trainable: bool = False
) -> Any:
    """The course's backbone with its pretrained weights, for images shaped ``input_shape``.

    Introduced in lesson 07 (transfer-learning). The weights come from ``course/assets/``
    (trained by ``course pretrain`` on generated shapes of four *other* classes, see
    :func:`backbone_card`), so nothing is downloaded. Images are floats in 0-1; the model
    standardises each one, turns colour images grey and resizes other sizes to 32x32 itself.
    Frozen (``trainable=False``) by default.

    Example::

        base = models.pretrained_backbone(X_train.shape[1:])
        features = base.predict(X_train)          # (n, 128)
    """
    import keras

    if not BACKBONE_WEIGHTS.is_file():
        raise FileNotFoundError(
            f"the pretrained backbone {BACKBONE_WEIGHTS} is missing; "
            "regenerate it with `course pretrain` (a few minutes on a laptop CPU)"
        )
    base = backbone()
    base.load_weights(BACKBONE_WEIGHTS)
    shape = tuple(int(s) for s in input_shape)
    if shape == BACKBONE_INPUT:
        base.trainable = trainable
        return base
    if len(shape) != 3 or shape[-1] not in (1, 3):
        raise ValueError(f"input_shape must be (height, width, 1 or 3); got {shape}")
    layers = keras.layers
    inputs = keras.Input(shape=shape, name="image")
    x = inputs
    if shape[-1] == 3:  # the backbone saw grey images: average the channels
        to_grey = layers.Conv2D(1, 1, use_bias=False, trainable=False, name="to_grey")
        x = to_grey(x)
        to_grey.set_weights([np.full((1, 1, 3, 1), 1 / 3, dtype=np.float32)])
    if shape[:2] != BACKBONE_INPUT[:2]:
        x = layers.Resizing(*BACKBONE_INPUT[:2], name="to_32x32")(x)
    outputs = base(x)
    model = keras.Model(inputs, outputs, name="pretrained_backbone_wrapper")
    base.trainable = trainable
    return model
