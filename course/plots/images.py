"""Images and what is in a dataset: grids of labelled images, class counts, heatmaps over images."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from course.plots.base import _RIGHT, _WRONG, _as_images, _name, _new_figure, _show_image


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
