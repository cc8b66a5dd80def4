"""``course pretrain``: regenerate the shipped backbone from its generated source task.

Introduced in lesson 07 (transfer-learning). The source task is telling apart generated shapes
of four classes, pentagon, hexagon, cross and ellipse (``data.load("shapes", classes=...)``,
seed 1): grey, on cluttered backgrounds. The lesson's target task is a *different* set of
classes, circle, square, triangle and star (seed 0), with only a few labelled images each, as
ImageNet's classes differ from yours. :func:`pretrain` trains :func:`course.models.backbone`
with a 4-way head, scores it on held-out source images, and writes the weights and a card
(source task, settings, score, versions, SHA-256 of the weights) to ``course/assets/``. Same
seed, same machine, same versions: the same weights.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SOURCE_CLASSES = ("pentagon", "hexagon", "cross", "ellipse")
SOURCE_SEED = 1


def source_task(classes: Sequence[str] = SOURCE_CLASSES, seed: int = SOURCE_SEED) -> str:
    """One line that says what the backbone learned. Introduced in lesson 07."""
    return (
        f"classify generated shapes of {len(classes)} classes ({', '.join(classes)}; "
        f"data.load('shapes', classes=..., channels=1, seed={seed})): 32x32 grey, random "
        "size, turn, position, contrast and background clutter"
    )


def pretrain(
    *,
    classes: Sequence[str] = SOURCE_CLASSES,
    per_class: int = 1500,
    epochs: int = 6,
    batch_size: int = 128,
    seed: int = SOURCE_SEED,
    out: str | Path | None = None,
    verbose: int = 1,
) -> dict[str, Any]:
    """Train the backbone on the source shapes; write ``backbone.weights.h5`` and its card.

    Introduced in lesson 07 (transfer-learning). ``out`` defaults to ``course/assets/``; the
    card (a dict, also returned) records the source task, the settings, the accuracy on 10% of
    the source images held out, and the training time. ``verbose`` is Keras's ``fit`` verbosity.

    Example::

        card = pretrain(per_class=20, epochs=1, out="/tmp/backbone")   # a quick smoke run
    """
    import keras
    import tensorflow as tf

    from course import data, models

    out_dir = Path(out) if out is not None else models.ASSETS
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    ds = data.load(
        "shapes", classes=tuple(classes), per_class=per_class, image_size=32, channels=1, seed=seed
    )
    (X_train, y_train), _, (X_test, y_test) = data.split(
        ds.images, ds.labels, val=0.0, test=0.1, seed=seed
    )
    X_train, X_test = X_train / np.float32(255), X_test / np.float32(255)
    base = models.backbone()
    head = keras.layers.Dense(len(ds.class_names), activation="softmax", name="source_classes")
    model = keras.Sequential([base, head], name="source_classifier")
    steps = int(np.ceil(len(X_train) / batch_size)) * epochs
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, steps)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        X_train, y_train, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose
    )
    _, accuracy = model.evaluate(X_test, y_test, verbose=0)
    weights = out_dir / models.BACKBONE_WEIGHTS.name
    partial = out_dir / f".partial.{weights.name}"  # Keras wants the .weights.h5 ending
    base.save_weights(partial)  # written whole, then moved: never half a file in assets/
    partial.replace(weights)
    card = {
        "name": "backbone",
        "source_task": source_task(classes, seed),
        "classes": list(ds.class_names),
        "input": list(models.BACKBONE_INPUT),
        "embedding": int(base.output.shape[-1]),
        "parameters": int(base.count_params()),
        "per_class": per_class,
        "train_images": len(X_train),
        "held_out_images": len(X_test),
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "final_train_accuracy": round(float(history.history["accuracy"][-1]), 4),
        "held_out_accuracy": round(float(accuracy), 4),
        "train_seconds": round(time.perf_counter() - start, 1),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "regenerate": "course pretrain",
    }
    card_path = out_dir / models.BACKBONE_CARD.name
    card_path.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    return card
