"""What every plot shares: an untracked figure, image display, labels, colours, grids."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

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
