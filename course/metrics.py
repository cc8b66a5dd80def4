"""Evaluation helpers: a per-class report, the most-confused pairs, and the reject option.

Introduced in lesson 05 (evaluation-metrics); lesson 06 (imbalanced data) reuses them. Pure
NumPy: importing this module is cheap and never imports TensorFlow or Keras.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["class_indices", "confusion", "most_confused", "reject_curve", "report"]


def class_indices(values: Any, name: str) -> np.ndarray:
    """``values`` as a flat int64 array of class indices, or a ValueError a learner can act on.

    Introduced in lesson 05 (evaluation-metrics), behind every metric and plot that takes
    labels; ``name`` is the argument's name for the message.

    Example::

        y = metrics.class_indices(y_test, "y_test")
    """
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] > 1:
        raise ValueError(
            f"expected {name} as class indices shaped (n,); got {arr.shape}. "
            f"For probabilities or one-hot rows pass {name}.argmax(axis=1)"
        )
    arr = arr.reshape(-1)
    whole = arr.dtype.kind in "iub" or (arr.dtype.kind == "f" and np.all(arr == np.round(arr)))
    if arr.size and (not whole or arr.min() < 0):
        raise ValueError(f"{name} must hold class indices 0, 1, 2, ...; got {arr[:5]} ...")
    return arr.astype(np.int64)


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = class_indices(y_true, "y_true"), class_indices(y_pred, "y_pred")
    if len(t) != len(p):
        raise ValueError(f"got {len(t)} true labels and {len(p)} predictions; pass one each")
    return t, p


def confusion(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """The confusion matrix: ``cm[i, j]`` counts images of true class ``i`` predicted as ``j``.

    Introduced in lesson 05 (evaluation-metrics). Rows are true classes, columns predictions
    (scikit-learn's convention). ``num_classes`` defaults to the largest label seen plus one.

    Example::

        cm = metrics.confusion(y_test, probs.argmax(axis=1), num_classes=ds.num_classes)
    """
    t, p = _pair(y_true, y_pred)
    seen = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    k = seen if num_classes is None else int(num_classes)
    if k < seen:
        raise ValueError(f"num_classes={k}, but the labels go up to {seen - 1}")
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def report(
    y_true: Any,
    y_pred: Any,
    class_names: Sequence[str] | None = None,
    *,
    digits: int = 3,
) -> str:
    """A printable table of precision, recall, F1 and support per class, with averages.

    Introduced in lesson 05 (evaluation-metrics). The conventions are scikit-learn's
    ``classification_report`` with ``zero_division=0``: a class never predicted has precision
    0, a class absent from ``y_true`` recall 0. The last lines give accuracy (which equals
    micro-averaged precision, recall and F1 for single-label data), the macro average (every
    class counts the same) and the weighted average (classes weighted by their support).

    Example::

        print(metrics.report(y_test, probs.argmax(axis=1), ds.class_names))
    """
    t, p = _pair(y_true, y_pred)
    k = max(
        len(class_names) if class_names is not None else 0,
        int(max(t.max(initial=-1), p.max(initial=-1))) + 1,
    )
    cm = confusion(t, p, k).astype(float)
    tp = np.diag(cm)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    names = [str(class_names[i]) if class_names is not None else str(i) for i in range(k)]
    width = max([len(n) for n in names] + [len("weighted avg")])
    col = max(digits + 3, 9)
    lines = [
        f"{'':>{width}}"
        + "".join(f"{h:>{col}}" for h in ("precision", "recall", "f1-score", "support"))
    ]
    lines.append("")

    def row(name: str, values: Sequence[float], n: float) -> str:
        return (
            f"{name:>{width}}"
            + "".join(f"{v:>{col}.{digits}f}" for v in values)
            + f"{int(n):>{col}d}"
        )

    for i in range(k):
        lines.append(row(names[i], (precision[i], recall[i], f1[i]), support[i]))
    total = support.sum()
    accuracy = float(tp.sum() / total) if total else 0.0
    weights = support / total if total else np.zeros(k)
    lines.append("")
    lines.append(
        f"{'accuracy':>{width}}"
        + " " * (2 * col)
        + f"{accuracy:>{col}.{digits}f}"
        + f"{int(total):>{col}d}"
    )
    lines.append(row("macro avg", (precision.mean(), recall.mean(), f1.mean()), total))
    lines.append(row("weighted avg", (weights @ precision, weights @ recall, weights @ f1), total))
    return "\n".join(lines)


def most_confused(
    y_true: Any,
    y_pred: Any,
    class_names: Sequence[str] | None = None,
    *,
    k: int = 5,
) -> list[tuple[str, str, int]]:
    """The ``k`` most frequent mistakes as ``(true class, predicted class, count)``.

    Introduced in lesson 05 (evaluation-metrics), for error analysis. Only off-diagonal
    cells of the confusion matrix with at least one image are listed, the largest first (ties
    in class order). Classes are named with ``class_names`` when given, else their index as a
    string.

    Example::

        metrics.most_confused(y_test, y_pred, ds.class_names, k=3)
        # [('8', '1', 3), ('9', '3', 2), ('7', '4', 1)]
    """
    t, p = _pair(y_true, y_pred)
    cm = confusion(t, p, len(class_names) if class_names is not None else None)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")
    pairs = []
    for flat in order[: max(int(k), 0)]:
        i, j = np.unravel_index(flat, off.shape)
        if off[i, j] == 0:
            break
        name_i = str(class_names[i]) if class_names is not None else str(i)
        name_j = str(class_names[j]) if class_names is not None else str(j)
        pairs.append((name_i, name_j, int(off[i, j])))
    return pairs


def reject_curve(
    probs: Any,
    y_true: Any,
    thresholds: Any = None,
) -> dict[str, np.ndarray]:
    """Coverage and accuracy of a reject option for a range of confidence thresholds.

    Introduced in lesson 05 (evaluation-metrics). A prediction is *accepted* when its top
    probability is at least the threshold (``>=``) and rejected (left to a human) otherwise.
    For each threshold: ``coverage`` is the share of images accepted, ``accuracy`` the share
    of accepted images classified correctly (``nan`` when none is accepted). ``thresholds``
    defaults to 0, 0.05, ..., 1. Returns ``{"threshold", "coverage", "accuracy"}`` arrays;
    ``plots.coverage_accuracy`` draws them.

    Example::

        curve = metrics.reject_curve(model.predict(X_test), y_test)
        plots.coverage_accuracy(curve, mark=0.9)
    """
    p = np.asarray(probs, dtype=float)
    y = class_indices(y_true, "y_true")
    if p.ndim != 2 or len(p) != len(y):
        raise ValueError(
            f"expected probs shaped (n, num_classes) with one row per label; got {p.shape} "
            f"for {len(y)} labels"
        )
    thr = np.linspace(0.0, 1.0, 21) if thresholds is None else np.asarray(thresholds, float)
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    coverage, accuracy = [], []
    for t in thr.reshape(-1):
        accepted = confidence >= t
        coverage.append(accepted.mean() if len(y) else 0.0)
        accuracy.append(correct[accepted].mean() if accepted.any() else np.nan)
    return {
        "threshold": thr.reshape(-1),
        "coverage": np.asarray(coverage, dtype=float),
        "accuracy": np.asarray(accuracy, dtype=float),
    }
