"""Class imbalance: make a set imbalanced, rebalance it, and score what the rare classes get.

Introduced in lesson 06 (imbalanced-data), which shows each technique in the open first;
``bench/imbalance.py`` runs the lesson's comparison over several seeds with these functions.
Class weights, balanced batches and the focal loss are that lesson's exercises, so they are not
here: the lesson uses the learner's own.
Index functions return positions into the arrays you pass, so one call serves images, labels
and masks alike. TensorFlow and Keras are imported only when a function that needs them runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from course.metrics import class_indices

__all__ = [
    "extra_draws",
    "logit_adjust",
    "make_imbalanced",
    "oversample",
    "scores",
    "undersample",
]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def make_imbalanced(y: Any, minority: Sequence[int], ratio: float, *, seed: int = 0) -> np.ndarray:
    """Indices that keep every image of the other classes and ``ratio`` of each minority class.

    Introduced in lesson 06 (imbalanced-data). At least 2 images of each minority class are
    kept (so that a split and SMOTE still have something to work with). Sorted indices.

    Example::

        keep = imbalance.make_imbalanced(y_train, minority=[3, 5, 8], ratio=0.05)
        X_train, y_train = X_train[keep], y_train[keep]
    """
    labels = class_indices(y, "y")
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio is the share of each minority class kept, in (0, 1]; got {ratio}")
    rare = {int(c) for c in minority}
    unknown = rare - set(np.unique(labels).tolist())
    if unknown:
        raise ValueError(f"minority classes {sorted(unknown)} have no images in y")
    rng = _rng(seed)
    keep = [np.flatnonzero(~np.isin(labels, sorted(rare)))]
    for c in sorted(rare):
        members = np.flatnonzero(labels == c)
        count = min(len(members), max(2, round(ratio * len(members))))
        keep.append(rng.choice(members, size=count, replace=False))
    return np.sort(np.concatenate(keep))


def extra_draws(y: Any, classes: Sequence[int] | None = None, *, seed: int = 0) -> np.ndarray:
    """The indices random oversampling adds: each class drawn again up to the largest count.

    Introduced in lesson 06 (imbalanced-data), where these images are replaced by augmented
    copies (synthetic oversampling). Random with replacement, for ``classes`` (default: all),
    grouped by class.

    Example: ``extra = imbalance.extra_draws(y_train, classes=[3, 5, 8])``
    """
    labels = class_indices(y, "y")
    rng = _rng(seed)
    target = np.bincount(labels).max()
    chosen = np.unique(labels) if classes is None else [int(c) for c in classes]
    parts = [np.empty(0, dtype=np.int64)]
    for c in chosen:
        members = np.flatnonzero(labels == c)
        if len(members):
            parts.append(rng.choice(members, size=target - len(members), replace=True))
    return np.concatenate(parts)


def oversample(y: Any, *, seed: int = 0) -> np.ndarray:
    """Indices in which every class appears as often as the largest one (drawn with repeats).

    Introduced in lesson 06 (imbalanced-data). Every original image is kept once, plus
    :func:`extra_draws`. Shuffled.

    Example::

        idx = imbalance.oversample(y_train)
        model.fit(X_train[idx], y_train[idx], ...)
    """
    labels = class_indices(y, "y")
    every = np.arange(len(labels))
    return _rng(seed + 1).permutation(np.concatenate([every, extra_draws(labels, seed=seed)]))


def undersample(y: Any, *, seed: int = 0) -> np.ndarray:
    """Indices in which every class keeps only as many images as the smallest one has.

    Introduced in lesson 06 (imbalanced-data). Random, without repeats; shuffled. Cheap and
    balanced, but it throws away most of the data of the large classes.

    Example: ``idx = imbalance.undersample(y_train)``
    """
    labels = class_indices(y, "y")
    rng = _rng(seed)
    present = np.unique(labels)
    target = min(int(np.sum(labels == c)) for c in present)
    parts = [rng.choice(np.flatnonzero(labels == c), size=target, replace=False) for c in present]
    return rng.permutation(np.concatenate(parts))


def logit_adjust(probs: Any, prior: Any, *, tau: float = 1.0) -> np.ndarray:
    """Probabilities re-weighted against the training prior: logit adjustment after training.

    Introduced in lesson 06 (imbalanced-data). A model trained on imbalanced data has learned
    ``p(y | x)`` under the training prior; dividing by ``prior**tau`` and renormalising (i.e.
    subtracting ``tau * log(prior)`` from the logits, Menon et al. 2021) moves every decision
    threshold towards the rare classes. ``tau=0`` changes nothing. No retraining.

    Example: ``adjusted = imbalance.logit_adjust(probs, np.bincount(y_train) / len(y_train))``
    """
    p = np.asarray(probs, dtype=np.float64)
    pi = np.asarray(prior, dtype=np.float64).reshape(-1)
    if p.ndim != 2 or p.shape[1] != len(pi):
        raise ValueError(
            f"expected probs (n, {len(pi)}) for a prior over {len(pi)} classes; got {p.shape}"
        )
    if np.any(pi <= 0):
        raise ValueError("every class needs a prior above 0; a class without images can't be")
    logits = np.log(np.clip(p, 1e-12, None)) - tau * np.log(pi)
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def scores(
    y_true: Any, probs: Any, minority: Sequence[int], *, prior: Any = None
) -> dict[str, float]:
    """The lesson's comparison row: what a method gives the rare classes, and what it costs.

    Introduced in lesson 06 (imbalanced-data). ``probs`` is ``(n, num_classes)``.

    - ``accuracy``: on the test set as it is;
    - ``accuracy (train mix)``: the accuracy a test set mixed like the training set would give
      (each class weighted by ``prior``, the training class shares), when ``prior`` is given;
    - ``balanced accuracy``: the mean recall over the classes;
    - ``macro-F1``: the mean F1 over the classes;
    - ``minority recall``: the mean recall over the ``minority`` classes;
    - ``minority PR-AUC``: their mean average precision (area under the precision-recall
      curve, one class against the rest).

    Example: ``imbalance.scores(y_test, model.predict(X_test), minority=[3, 5, 8])``
    """
    from sklearn import metrics as skm

    y = class_indices(y_true, "y_true")
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or len(p) != len(y):
        raise ValueError(f"expected probs shaped ({len(y)}, num_classes); got {p.shape}")
    predicted = p.argmax(axis=1)
    k = p.shape[1]
    recall = skm.recall_score(y, predicted, labels=range(k), average=None, zero_division=0)
    rare = [int(c) for c in minority]
    row = {"accuracy": float(np.mean(predicted == y))}
    if prior is not None:
        pi = np.asarray(prior, dtype=np.float64).reshape(-1)
        row["accuracy (train mix)"] = float(np.sum(pi / pi.sum() * recall[: len(pi)]))
    present = np.unique(y)
    row["balanced accuracy"] = float(recall[present].mean())
    row["macro-F1"] = float(
        skm.f1_score(y, predicted, labels=present, average="macro", zero_division=0)
    )
    row["minority recall"] = float(recall[rare].mean())
    row["minority PR-AUC"] = float(
        np.mean([skm.average_precision_score(y == c, p[:, c]) for c in rare])
    )
    return row
