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

__all__ = ["image_grid", "class_distribution", "learning_curves"]

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
        image = arr[i]
        lo, hi = _display_range(image)
        if image.shape[-1] == 1:
            ax.imshow(image[..., 0], cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        else:
            shown = np.clip((image.astype(np.float32) - lo) / (hi - lo), 0.0, 1.0)
            ax.imshow(shown, interpolation="nearest")
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


def learning_curves(
    history: Any, *, metrics: Sequence[str] | None = None, title: str | None = None
) -> Figure:
    """Training and validation curves, one panel per metric, from a Keras ``History``.

    Introduced in lesson 01 (data-preprocessing); lesson 04 reads them to diagnose under- and
    overfitting. Accepts the ``History`` returned by ``model.fit`` or its ``.history`` dict.

    Example::

        history = model.fit(train_ds, validation_data=val_ds, epochs=10)
        plots.learning_curves(history)
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping) or not logs:
        raise ValueError(
            "expected a Keras History (what model.fit returns) or its .history dict; "
            f"got {type(history).__name__}"
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
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig
