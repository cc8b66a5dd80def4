"""Plots the lessons share: image grids, class distributions, learning curves.

Every function returns a ``matplotlib.figure.Figure`` that pyplot no longer tracks: as the last
line of a notebook cell it is shown exactly once, and in a script or a test it never needs a
display. Save one with ``fig.savefig("grid.png")``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

__all__ = [
    "image_grid",
    "class_distribution",
    "learning_curves",
    "filters",
    "feature_maps",
    "compare_runs",
    "confusion_matrix",
    "roc_curves",
    "pr_curves",
    "reliability",
    "coverage_accuracy",
    "heatmaps",
    "grouped_bars",
]

_RIGHT, _WRONG = "#1a7f37", "#cf222e"


def _new_figure(**kwargs: Any) -> Figure:
    """A figure made through pyplot, then closed.

    Making it through pyplot activates the notebook's inline backend, which teaches IPython to
    draw a Figure that a cell returns; closing it stops pyplot from drawing it a second time at
    the end of the cell (and from keeping it in memory in scripts and tests).
    """
    fig = plt.figure(layout="constrained", **kwargs)
    plt.close(fig)
    return fig


def _as_images(images: Any) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim == 3:  # (n, h, w): greyscale without a channel axis
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"expected images shaped (n, h, w, c) with c in 1, 3 or 4; got {arr.shape}. "
            "Pass a batch of images, e.g. X_train[:25]."
        )
    return arr


def _display_range(image: np.ndarray) -> tuple[float, float]:
    if image.dtype == np.uint8:
        return 0.0, 255.0
    lo, hi = float(np.min(image)), float(np.max(image))
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    return lo, hi if hi > lo else lo + 1.0  # standardised or arbitrary floats: stretch


def _show_image(ax: Any, image: np.ndarray, **kwargs: Any) -> None:
    lo, hi = _display_range(image)
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=lo, vmax=hi, interpolation="nearest", **kwargs)
    else:
        shown = np.clip((image.astype(np.float32) - lo) / (hi - lo), 0.0, 1.0)
        ax.imshow(shown, interpolation="nearest", **kwargs)


def _name(label: Any, class_names: Sequence[str] | None) -> str:
    if class_names is not None:
        return str(class_names[int(label)])
    return str(label)


def image_grid(
    images: Any,
    labels: Any = None,
    *,
    class_names: Sequence[str] | None = None,
    predictions: Any = None,
    n: int = 25,
    ncols: int | None = None,
    title: str | None = None,
    size: float = 1.4,
) -> Figure:
    """Show up to ``n`` images in a grid, titled with their labels (and predictions).

    Introduced in lesson 00 (getting-started). With ``predictions``, each title reads
    ``true / predicted`` in green when they agree and red when they don't.

    Example::

        plots.image_grid(X_train, y_train, class_names=ds.class_names, n=16)
    """
    arr = _as_images(images)
    count = min(n, len(arr))
    if count == 0:  # e.g. a gallery of mistakes when there are none: say so, don't fail
        fig = _new_figure(figsize=(4.0, 1.2))
        ax = fig.subplots()
        ax.axis("off")
        ax.text(0.5, 0.5, "no images to show", ha="center", va="center", fontsize=11)
        if title:
            fig.suptitle(title)
        return fig
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values is not None and len(values) < count:
            raise ValueError(f"got {len(values)} {name} for {count} images; pass one per image")
    ncols = ncols or min(count, max(1, math.ceil(math.sqrt(count))))
    nrows = math.ceil(count / ncols)
    fig = _new_figure(figsize=(size * ncols, size * nrows + (0.4 if title else 0.0)))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= count:
            continue
        _show_image(ax, arr[i])
        if labels is not None and predictions is not None:
            true, pred = labels[i], predictions[i]
            color = _RIGHT if int(true) == int(pred) else _WRONG
            ax.set_title(
                f"{_name(true, class_names)} / {_name(pred, class_names)}", color=color, fontsize=9
            )
        elif labels is not None:
            ax.set_title(_name(labels[i], class_names), fontsize=9)
        elif predictions is not None:
            ax.set_title(f"pred {_name(predictions[i], class_names)}", fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def class_distribution(
    labels: Any | Mapping[str, Any],
    *,
    class_names: Sequence[str] | None = None,
    normalize: bool | None = None,
    title: str | None = None,
) -> Figure:
    """Bar chart of how many images each class has.

    Introduced in lesson 00 (getting-started). Pass one label array for counts, or a mapping
    such as ``{"train": y_train, "val": y_val, "test": y_test}`` for grouped bars of each
    split's class shares (lesson 01 uses it to show a stratified split).

    Example::

        plots.class_distribution(y, class_names=ds.class_names)
    """
    groups = dict(labels) if isinstance(labels, Mapping) else {"": labels}
    if not groups:
        raise ValueError("class_distribution needs at least one label array")
    arrays = {k: np.asarray(v).astype(np.int64).ravel() for k, v in groups.items()}
    if normalize is None:
        normalize = len(arrays) > 1
    seen = max((int(a.max()) + 1 for a in arrays.values() if a.size), default=0)
    num_classes = max(len(class_names) if class_names is not None else 0, seen)
    names = [_name(i, class_names) for i in range(num_classes)]
    fig = _new_figure(
        figsize=(max(4.0, 0.55 * num_classes * max(1, len(arrays)) + 1.5), 3.2),
    )
    ax = fig.subplots()
    width = 0.8 / len(arrays)
    x = np.arange(num_classes)
    for j, (split, y) in enumerate(arrays.items()):
        counts = np.bincount(y, minlength=num_classes).astype(float)
        values = counts / max(counts.sum(), 1.0) if normalize else counts
        offset = (j - (len(arrays) - 1) / 2) * width
        bars = ax.bar(x + offset, values, width=width, label=split or None)
        if len(arrays) == 1:
            ax.bar_label(bars, labels=[str(int(c)) for c in counts], fontsize=8, padding=1)
    ax.set_xticks(x, names, rotation=45 if num_classes > 12 else 0)
    ax.set_xlabel("class")
    ax.set_ylabel("share of images" if normalize else "images")
    if len(arrays) > 1:
        ax.legend()
    ax.set_title(title or "Class distribution")
    return fig


def _phases(history: Any) -> tuple[dict[str, list], list[tuple[str, int]]]:
    """One log from a History, its dict, or a mapping of named phases run one after another."""

    def logs_of(h: Any) -> Any:
        return getattr(h, "history", h)

    if (
        isinstance(history, Mapping)
        and history
        and all(isinstance(logs_of(v), Mapping) for v in history.values())
    ):
        merged: dict[str, list] = {}
        starts, done = [], 0
        for name, phase in history.items():
            logs = logs_of(phase)
            length = max((len(v) for v in logs.values()), default=0)
            for key, values in logs.items():
                merged.setdefault(key, [np.nan] * done)
                merged[key] += list(values)
            for values in merged.values():
                values += [np.nan] * (done + length - len(values))
            starts.append((str(name), done))
            done += length
        return merged, starts
    return logs_of(history), []


def learning_curves(
    history: Any, *, metrics: Sequence[str] | None = None, title: str | None = None
) -> Figure:
    """Training and validation curves, one panel per metric, from a Keras ``History``.

    Introduced in lesson 01 (data-preprocessing); lesson 04 reads them to diagnose under- and
    overfitting. Accepts the ``History`` returned by ``model.fit`` or its ``.history`` dict, or
    a dict of named phases trained one after another, such as ``{"frozen": h1, "fine-tuned":
    h2}`` (lesson 07): their epochs are joined, with a dashed line where each phase starts.

    Example::

        history = model.fit(train_ds, validation_data=val_ds, epochs=10)
        plots.learning_curves(history)
    """
    logs, starts = _phases(history)
    if not isinstance(logs, Mapping) or not logs:
        raise ValueError(
            "expected a Keras History (what model.fit returns), its .history dict, or a dict "
            f"of them by phase; got {type(history).__name__}"
        )
    if metrics is None:
        metrics = [k for k in logs if not k.startswith("val_") and k != "learning_rate"]
    missing = [m for m in metrics if m not in logs]
    if missing:
        raise ValueError(f"history has no {missing}; it has {sorted(logs)}")
    fig = _new_figure(figsize=(4.2 * len(metrics), 3.2))
    axes = np.atleast_1d(fig.subplots(1, len(metrics), squeeze=False)).ravel()
    for ax, metric in zip(axes, metrics, strict=True):
        train = np.asarray(logs[metric], dtype=float)
        epochs = np.arange(1, len(train) + 1)
        ax.plot(epochs, train, marker="o", ms=3, label="train")
        if f"val_{metric}" in logs:
            ax.plot(
                epochs,
                np.asarray(logs[f"val_{metric}"], dtype=float),
                marker="o",
                ms=3,
                label="validation",
            )
        for name, start in starts:
            ax.axvline(start + 0.5, color="grey", ls="--", lw=1)
            ax.annotate(name, (start + 0.7, 1.0), xycoords=("data", "axes fraction"),
                        va="top", fontsize=8, color="grey")  # fmt: skip
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def _grid_axes(count: int, ncols: int | None, size: float, title: str | None) -> tuple:
    ncols = ncols or min(count, max(1, math.ceil(math.sqrt(count))))
    nrows = math.ceil(count / ncols)
    fig = _new_figure(figsize=(size * ncols + 0.4, size * nrows + (0.5 if title else 0.1)))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return fig, axes


def filters(
    kernel: Any,
    *,
    titles: Sequence[str] | None = None,
    annotate: bool | None = None,
    n: int = 32,
    ncols: int | None = None,
    title: str | None = None,
    size: float = 1.3,
) -> Figure:
    """Show convolution kernels as small images: blue negative, red positive, white zero.

    Introduced in lesson 02 (classic-features) for the Sobel kernels; lesson 03 shows a trained
    ``Conv2D`` layer's filters with it. ``kernel`` is one ``(kh, kw)`` kernel or a Keras
    ``Conv2D`` kernel ``(kh, kw, c_in, c_out)``: one panel per output filter (up to ``n``).
    Filters over three input channels are drawn in colour (each one scaled to 0-1), other
    filters as their mean over the input channels, all on one colour scale centred at zero.
    ``annotate`` writes the weights in the cells (default: for kernels up to 5x5 and at most
    eight filters).

    Example::

        plots.filters(model.layers[0].get_weights()[0], title="first-layer filters")
    """
    arr = np.asarray(kernel, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[:, :, None, None]
    if arr.ndim != 4:
        raise ValueError(
            f"expected a kernel shaped (kh, kw) or (kh, kw, c_in, c_out) as Conv2D stores it; "
            f"got {arr.shape}. For a layer use layer.get_weights()[0]"
        )
    count = min(n, arr.shape[-1])
    if titles is not None and len(titles) < count:
        raise ValueError(f"got {len(titles)} titles for {count} filters; pass one per filter")
    colour = arr.shape[2] == 3
    if annotate is None:
        annotate = not colour and arr.shape[0] * arr.shape[1] <= 25 and count <= 8
    grey = arr.mean(axis=2)
    limit = float(np.abs(grey[..., :count]).max()) or 1.0
    fig, axes = _grid_axes(count, ncols, size, title)
    for i in range(count):
        ax = axes[i]
        if colour:
            rgb = arr[..., i]
            lo, hi = rgb.min(), rgb.max()
            ax.imshow((rgb - lo) / (hi - lo if hi > lo else 1.0), interpolation="nearest")
        else:
            ax.imshow(grey[..., i], cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
            if annotate:
                for (r, c), v in np.ndenumerate(grey[..., i]):
                    ink = "white" if abs(v) > 0.6 * limit else "black"
                    ax.text(c, r, f"{v:.3g}", ha="center", va="center", fontsize=8, color=ink)
        ax.set_title(titles[i] if titles is not None else f"filter {i}", fontsize=9)
    return fig


def feature_maps(
    maps: Any,
    *,
    titles: Sequence[str] | None = None,
    n: int = 16,
    ncols: int | None = None,
    title: str | None = None,
    size: float = 1.5,
    cmap: str = "viridis",
) -> Figure:
    """Show the channels of one image's feature maps side by side, each on its own scale.

    Introduced in lesson 02 (classic-features) for gradient images; lessons 03 and 08 show what
    a convolutional layer computes from one image. ``maps`` is ``(h, w, k)`` or a batch of one,
    ``(1, h, w, k)`` (a layer's output for one image): up to ``n`` panels, one per channel.
    A map with negative values is drawn blue-white-red around zero, others with ``cmap`` from
    dark (0) to light (the map's maximum).

    Example::

        probe = keras.Model(model.inputs, model.layers[0].output)
        plots.feature_maps(probe(X_test[:1]))
    """
    arr = np.asarray(maps, dtype=np.float64)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise ValueError(
            f"expected the maps of one image shaped (h, w, k) or (1, h, w, k); got {arr.shape}. "
            "For a batch, pass one image's maps, e.g. maps[:1]"
        )
    count = min(n, arr.shape[-1])
    if titles is not None and len(titles) < count:
        raise ValueError(f"got {len(titles)} titles for {count} maps; pass one per map")
    fig, axes = _grid_axes(count, ncols, size, title)
    for i in range(count):
        m = arr[..., i]
        if m.min() < 0:
            limit = float(np.abs(m).max()) or 1.0
            ax_img = axes[i].imshow(m, cmap="RdBu_r", vmin=-limit, vmax=limit)
        else:
            ax_img = axes[i].imshow(m, cmap=cmap, vmin=0.0, vmax=float(m.max()) or 1.0)
        ax_img.set_interpolation("nearest")
        axes[i].set_title(titles[i] if titles is not None else f"map {i}", fontsize=9)
    return fig


# --- lessons 04 (training) and 05 (evaluation-metrics) -------------------------------------


def compare_runs(
    runs: Mapping[str, Any],
    metric: str = "val_accuracy",
    *,
    title: str | None = None,
    log_scale: bool = False,
) -> Figure:
    """One curve per training run for one metric, to compare settings on the same axes.

    Introduced in lesson 04 (training): optimisers, learning rates, batch sizes and
    regularisers compared on one plot. ``runs`` maps a label to a Keras ``History`` (what
    ``model.fit`` returns) or its ``.history`` dict; ``log_scale`` puts the y-axis on a log
    scale (useful for losses).

    Example::

        plots.compare_runs({"SGD": h_sgd, "Adam": h_adam}, metric="loss")
    """
    if not isinstance(runs, Mapping) or not runs:
        raise ValueError("expected a mapping such as {'SGD': history_sgd, 'Adam': history_adam}")
    fig = _new_figure(figsize=(5.6, 3.4))
    ax = fig.subplots()
    for label, history in runs.items():
        logs = getattr(history, "history", history)
        if not isinstance(logs, Mapping) or metric not in logs:
            have = sorted(logs) if isinstance(logs, Mapping) else type(history).__name__
            raise ValueError(f"run {label!r} has no {metric!r}; it has {have}")
        values = np.asarray(logs[metric], dtype=float)
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=str(label))
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or metric)
    return fig


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


def heatmaps(
    images: Any,
    maps: Any,
    *,
    masks: Any = None,
    labels: Any = None,
    class_names: Sequence[str] | None = None,
    n: int = 6,
    alpha: float = 0.5,
    title: str | None = None,
    size: float = 1.7,
) -> Figure:
    """Heat maps laid over their images: one row per image, one column per method.

    Introduced in lesson 08 (interpretability). ``maps`` is one ``(n, h, w)`` array or a dict
    ``{"Grad-CAM": cams, "saliency": sal, ...}`` of them. With ``masks`` (the objects' pixels,
    as ``data.load("shapes").masks`` gives), each panel outlines the object in white and marks
    the map's peak with a cross: green when it falls on the object (a pointing-game hit), red
    when not.

    Example::

        plots.heatmaps(X[:4], {"saliency": explain.saliency(model, X[:4])}, masks=masks[:4])
    """
    arr = _as_images(images)
    named = dict(maps) if isinstance(maps, Mapping) else {"heat map": maps}
    count = min(n, len(arr))
    columns = {}
    for name, values in named.items():
        values = np.asarray(values, dtype=float)
        if values.ndim != 3 or values.shape[0] < count or values.shape[1:] != arr.shape[1:3]:
            raise ValueError(
                f"{name}: expected heat maps shaped (n, h, w) = ({len(arr)}, "
                f"{arr.shape[1]}, {arr.shape[2]}) like the images; got {values.shape}"
            )
        columns[name] = values
    objects = None if masks is None else np.asarray(masks).astype(bool)
    if objects is not None and (objects.shape[1:] != arr.shape[1:3] or len(objects) < count):
        raise ValueError(f"expected masks shaped (n, h, w) like the images; got {objects.shape}")
    ncols = 1 + len(columns)
    fig = _new_figure(figsize=(size * ncols, size * count + (0.4 if title else 0.1)))
    axes = fig.subplots(count, ncols, squeeze=False)
    for i in range(count):
        axes[i, 0].axis("off")
        _show_image(axes[i, 0], arr[i])
        if labels is not None:
            axes[i, 0].set_title(_name(labels[i], class_names), fontsize=9)
        for j, (name, values) in enumerate(columns.items(), start=1):
            ax = axes[i, j]
            ax.axis("off")
            _show_image(ax, arr[i])
            ax.imshow(values[i], cmap="jet", alpha=alpha, interpolation="bilinear")
            if objects is not None:
                ax.contour(objects[i], levels=[0.5], colors="white", linewidths=0.8)
                row, col = np.unravel_index(np.argmax(values[i]), values[i].shape)
                hit = bool(objects[i][row, col])
                ax.plot(col, row, "x", color=_RIGHT if hit else _WRONG, ms=8, mew=2.5)
            if i == 0:
                ax.set_title(name, fontsize=9)
    if title:
        fig.suptitle(title)
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
