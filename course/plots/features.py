"""What a network learned: its filters and the feature maps they produce."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from course.plots.base import _grid_axes


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
