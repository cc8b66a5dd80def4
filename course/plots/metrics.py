"""Evaluation: confusion matrices, ROC and precision-recall curves, calibration, coverage
and grouped scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from course.plots.base import _WRONG, _name, _new_figure


def _probabilities(probs: Any, y_true: Any) -> tuple[np.ndarray, np.ndarray]:
    from course.metrics import class_indices

    p = np.asarray(probs, dtype=float)
    y = class_indices(y_true, "y_true")
    if p.ndim != 2:
        raise ValueError(
            f"expected probs shaped (n, num_classes), e.g. model.predict(X_test); got {p.shape}"
        )
    if len(p) != len(y):
        raise ValueError(f"got {len(p)} rows of probs and {len(y)} labels; pass one per image")
    return p, y


def confusion_matrix(
    y_true: Any,
    y_pred: Any = None,
    *,
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
    title: str | None = None,
) -> Figure:
    """A confusion matrix as a heat map: rows are the true classes, columns the predictions.

    Introduced in lesson 05 (evaluation-metrics). Pass ``y_true`` and ``y_pred`` (class
    indices), or a ready matrix as the only argument. ``normalize=True`` shows each row as
    shares of that true class (the diagonal is then each class's recall). Counts are written
    in the cells when there are at most 15 classes.

    Example::

        plots.confusion_matrix(y_test, probs.argmax(axis=1), class_names=ds.class_names)
    """
    if y_pred is None:
        cm = np.asarray(y_true, dtype=float)
        if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
            raise ValueError(
                f"expected a square matrix, or y_true and y_pred; got an array shaped {cm.shape}"
            )
    else:
        from course.metrics import confusion

        cm = confusion(y_true, y_pred).astype(float)
        if class_names is not None and len(class_names) > len(cm):  # classes never seen
            cm = np.pad(cm, (0, len(class_names) - len(cm)))
    k = len(cm)
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    names = [_name(i, class_names) for i in range(k)]
    side = min(max(3.6, 0.45 * k + 1.8), 11.0)
    fig = _new_figure(figsize=(side + 0.8, side))
    ax = fig.subplots()
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1.0 if normalize else max(shown.max(), 1))
    label = "share of the true class" if normalize else "images"
    fig.colorbar(image, ax=ax, shrink=0.8, label=label)
    if k <= 15:
        cut = (1.0 if normalize else max(shown.max(), 1)) / 2
        for i in range(k):
            for j in range(k):
                if cm[i, j] == 0 and i != j:
                    continue
                text = f"{shown[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if shown[i, j] > cut else "black",
                )
    ax.set_xticks(np.arange(k), names, rotation=45 if k > 12 else 0)
    ax.set_yticks(np.arange(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or ("Confusion matrix (row shares)" if normalize else "Confusion matrix"))
    return fig


def _one_vs_rest_axes(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Any]:
    fig = _new_figure(figsize=(5.2, 4.4))
    ax = fig.subplots()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return fig, ax


def roc_curves(
    y_true: Any,
    probs: Any,
    *,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """One-vs-rest ROC curves, one per class, with each class's AUC in the legend.

    Introduced in lesson 05 (evaluation-metrics). ``probs`` is ``(n, num_classes)``, e.g.
    ``model.predict(X_test)``; class ``c``'s curve treats ``c`` as positive and every other
    class as negative. Classes absent from ``y_true`` have no curve. The title gives the
    macro-average AUC.

    Example::

        plots.roc_curves(y_test, model.predict(X_test), class_names=ds.class_names)
    """
    from sklearn.metrics import auc, roc_curve

    p, y = _probabilities(probs, y_true)
    fig, ax = _one_vs_rest_axes("", "false positive rate", "true positive rate (recall)")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance")
    aucs = []
    for c in range(p.shape[1]):
        positive = y == c
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, p[:, c])
        aucs.append(auc(fpr, tpr))
        ax.plot(fpr, tpr, lw=1.3, label=f"{_name(c, class_names)} (AUC {aucs[-1]:.3f})")
    ax.legend(fontsize=7, loc="lower right")
    mean = f"macro AUC {np.mean(aucs):.3f}" if aucs else "no class has both outcomes"
    ax.set_title(title or f"ROC one-vs-rest ({mean})")
    return fig


def pr_curves(
    y_true: Any,
    probs: Any,
    *,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """One-vs-rest precision-recall curves, one per class, with each average precision (AP).

    Introduced in lesson 05 (evaluation-metrics); lesson 06 reads them on imbalanced data,
    where they say more than ROC curves. A dotted line marks each class's share, the
    precision of guessing.

    Example::

        plots.pr_curves(y_test, model.predict(X_test), class_names=ds.class_names)
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    p, y = _probabilities(probs, y_true)
    fig, ax = _one_vs_rest_axes("", "recall", "precision")
    aps = []
    for c in range(p.shape[1]):
        positive = y == c
        if not positive.any():
            continue
        precision, recall, _ = precision_recall_curve(positive, p[:, c])
        aps.append(average_precision_score(positive, p[:, c]))
        (line,) = ax.step(
            recall,
            precision,
            where="post",
            lw=1.3,
            label=f"{_name(c, class_names)} (AP {aps[-1]:.3f})",
        )
        ax.axhline(positive.mean(), color=line.get_color(), ls=":", lw=0.8)
    ax.legend(fontsize=7, loc="lower left")
    mean = f"mean AP {np.mean(aps):.3f}" if aps else "no positives"
    ax.set_title(title or f"Precision-recall one-vs-rest ({mean})")
    return fig


def reliability(
    y_true: Any,
    probs: Any,
    *,
    bins: int = 10,
    title: str | None = None,
) -> Figure:
    """A reliability diagram: how often the model is right at each level of confidence.

    Introduced in lesson 05 (evaluation-metrics). The confidence of a prediction is its top
    probability; predictions are grouped into ``bins`` equal-width confidence bins, and each
    bar shows the accuracy in its bin. A calibrated model's bars sit on the diagonal; bars
    below it mean overconfidence. The title gives the expected calibration error (ECE: the
    bins' |accuracy - confidence| gaps, weighted by their share of predictions); the lower
    panel shows how many predictions fall in each bin.

    Example::

        plots.reliability(y_test, model.predict(X_test))
    """
    p, y = _probabilities(probs, y_true)
    if bins < 1:
        raise ValueError(f"bins must be at least 1; got {bins}")
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    acc = np.bincount(which, weights=correct, minlength=bins) / np.maximum(counts, 1)
    conf = np.bincount(which, weights=confidence, minlength=bins) / np.maximum(counts, 1)
    ece = float(np.sum(counts * np.abs(acc - conf)) / max(len(y), 1))
    fig = _new_figure(figsize=(4.8, 5.0))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    centres = (edges[:-1] + edges[1:]) / 2
    width = 1.0 / bins
    used = counts > 0
    top.bar(centres[used], acc[used], width=width * 0.95, color="#4c72b0", label="accuracy")
    top.bar(
        centres[used],
        (conf - acc)[used],
        bottom=acc[used],
        width=width * 0.95,
        color="none",
        edgecolor=_WRONG,
        hatch="//",
        lw=0.8,
        label="gap to confidence",
    )
    top.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    top.set_ylim(0, 1.02)
    top.set_ylabel("accuracy")
    top.legend(fontsize=7, loc="upper left")
    top.set_title(title or f"Reliability diagram (ECE {ece:.3f})")
    bottom.bar(centres, counts, width=width * 0.95, color="grey")
    bottom.set_yscale("symlog")
    bottom.set_xlabel("confidence (top probability)")
    bottom.set_ylabel("predictions")
    bottom.set_xlim(0, 1)
    return fig


def coverage_accuracy(
    curve: Mapping[str, Any],
    *,
    mark: float | None = None,
    title: str | None = None,
) -> Figure:
    """Accuracy on the accepted images against coverage, for a range of confidence thresholds.

    Introduced in lesson 05 (evaluation-metrics), for the reject option. ``curve`` is what
    ``course.metrics.reject_curve`` returns: a mapping with equal-length ``"threshold"``,
    ``"coverage"`` and ``"accuracy"`` arrays. ``mark`` highlights one threshold (the nearest
    one in the curve).

    Example::

        plots.coverage_accuracy(metrics.reject_curve(probs, y_test), mark=0.9)
    """
    try:
        thr, cov, acc = (
            np.asarray(curve[k], dtype=float) for k in ("threshold", "coverage", "accuracy")
        )
    except (KeyError, TypeError) as err:
        raise ValueError(
            "expected the mapping metrics.reject_curve(probs, y_true) returns, with "
            "'threshold', 'coverage' and 'accuracy' arrays"
        ) from err
    if not len(thr) == len(cov) == len(acc):
        raise ValueError("'threshold', 'coverage' and 'accuracy' must have the same length")
    fig = _new_figure(figsize=(5.4, 3.6))
    ax = fig.subplots()
    ok = np.isfinite(acc)
    ax.plot(cov[ok], acc[ok], color="#4c72b0", lw=1.5)
    points = ax.scatter(cov[ok], acc[ok], c=thr[ok], cmap="viridis", s=14, zorder=3)
    fig.colorbar(points, ax=ax, label="confidence threshold")
    if mark is not None and ok.any():
        i = int(np.argmin(np.where(ok, np.abs(thr - mark), np.inf)))
        ax.scatter([cov[i]], [acc[i]], s=90, facecolor="none", edgecolor=_WRONG, lw=2, zorder=4)
        ax.annotate(
            f"threshold {thr[i]:.2f}\ncoverage {cov[i]:.2f}, accuracy {acc[i]:.3f}",
            (cov[i], acc[i]),
            textcoords="offset points",
            xytext=(-10, -32),
            ha="right",
            fontsize=8,
        )
    ax.set_xlabel("coverage (share of images accepted)")
    ax.set_ylabel("accuracy on accepted images")
    ax.set_xlim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title or "Reject option: coverage vs accuracy")
    return fig


def grouped_bars(
    values: Mapping[str, Mapping[str, float]],
    *,
    ylabel: str = "",
    reference: tuple[float, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Bars of a small results table: categories along the x-axis, one colour per series.

    Introduced in lesson 08 (interpretability) for pointing-game scores of a trained and an
    untrained model; any ``{series: {category: value}}`` table works, e.g. a metric per method.
    ``reference=(value, label)`` draws a dashed line, such as the score of a random guess.

    Example::

        plots.grouped_bars({"trained": {"Grad-CAM": 0.9}, "untrained": {"Grad-CAM": 0.3}})
    """
    series = {name: dict(row) for name, row in values.items()}
    if not series or not any(series.values()):
        raise ValueError("grouped_bars needs a table {series: {category: value}} with values")
    categories = list(dict.fromkeys(c for row in series.values() for c in row))
    fig = _new_figure(figsize=(max(4.0, 0.5 * len(categories) * len(series) + 2.0), 3.2))
    ax = fig.subplots()
    width = 0.8 / len(series)
    x = np.arange(len(categories))
    for j, (name, row) in enumerate(series.items()):
        heights = [row.get(c, np.nan) for c in categories]
        bars = ax.bar(x + (j - (len(series) - 1) / 2) * width, heights, width=width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=8, padding=1)
    if reference is not None:
        ax.axhline(reference[0], color="grey", ls="--", lw=1, label=reference[1])
    if len(categories) > 4:  # long names side by side would overlap
        ax.set_xticks(x, categories, rotation=30, ha="right")
    else:
        ax.set_xticks(x, categories)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.set_title(title or "")
    return fig
