"""Shared steps of every loader: checking options, subsampling, resizing, channels (private)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_channels(channels: int) -> int:
    """Return ``channels`` when it is 1 or 3, else raise an error a learner can act on."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB); got {channels!r}")
    return int(channels)


def check_limit(limit: int | None) -> int | None:
    """Return ``limit`` when it is None or a positive int, else raise."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
        raise ValueError(f"limit must be a positive number of images or None; got {limit!r}")
    return int(limit)


def size_hw(image_size: int | Sequence[int], *, what: str = "image_size") -> tuple[int, int]:
    """``64`` -> ``(64, 64)``; ``(h, w)`` -> ``(h, w)``; anything else raises."""
    if isinstance(image_size, int | np.integer) and not isinstance(image_size, bool):
        hw = (int(image_size), int(image_size))
    elif isinstance(image_size, Sequence) and len(image_size) == 2:
        hw = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(f"{what} must be an int or a (height, width) pair; got {image_size!r}")
    if min(hw) < 1:
        raise ValueError(f"{what} must be at least 1 pixel; got {image_size!r}")
    return hw


def subsample_indices(labels: np.ndarray, limit: int | None, seed: int = 0) -> np.ndarray:
    """At most ``limit`` indices, balanced across classes, deterministic from ``seed``.

    Each class gets an equal share (classes smaller than their share give their rest to the
    others); the indices come back sorted so the original order is kept.
    """
    labels = np.asarray(labels).reshape(-1)
    limit = check_limit(limit)
    if limit is None or limit >= len(labels):
        return np.arange(len(labels), dtype=np.int64)
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    members = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    sizes = np.array([len(m) for m in members])
    quota = np.zeros(len(classes), dtype=np.int64)
    left = limit
    open_ = np.ones(len(classes), dtype=bool)
    while left > 0 and open_.any():
        share = max(left // int(open_.sum()), 1)
        for k in np.flatnonzero(open_):
            take = min(share, sizes[k] - quota[k], left)
            quota[k] += take
            left -= take
            if quota[k] >= sizes[k]:
                open_[k] = False
            if left == 0:
                break
    chosen = np.concatenate([m[:q] for m, q in zip(members, quota, strict=True)])
    return np.sort(chosen).astype(np.int64)


def resize_images(images: np.ndarray, size: int | Sequence[int]) -> np.ndarray:
    """Resize a uint8 batch ``(n, h, w, c)`` to ``size`` with antialiased bilinear filtering."""
    from PIL import Image

    h, w = size_hw(size)
    if images.shape[1:3] == (h, w):
        return images
    out = np.empty((len(images), h, w, images.shape[3]), dtype=np.uint8)
    for i, img in enumerate(images):
        if img.shape[2] == 1:
            pil = Image.fromarray(img[:, :, 0], mode="L")
            out[i, :, :, 0] = np.asarray(pil.resize((w, h), Image.Resampling.BILINEAR))
        else:
            pil = Image.fromarray(img, mode="RGB")
            out[i] = np.asarray(pil.resize((w, h), Image.Resampling.BILINEAR))
    return out


def set_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Make a uint8 batch have 1 (grey) or 3 (RGB) channels."""
    channels = check_channels(channels)
    have = images.shape[3]
    if have == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=3)
    # ITU-R 601 luma, as PIL's convert("L") computes it.
    rgb = images.astype(np.float32)
    grey = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)[..., None]


def finish(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    image_size: int | Sequence[int] | None,
    channels: int,
    limit: int | None,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Subsample, resize and set channels of an in-memory set; images come back (n, h, w, c)."""
    check_channels(channels)
    if images.ndim == 3:
        images = images[..., None]
    keep = subsample_indices(labels, limit, seed)
    if len(keep) < len(labels):
        images, labels = images[keep], labels[keep]
    if image_size is not None:
        images = resize_images(images, image_size)
    images = set_channels(images, channels)
    return np.ascontiguousarray(images, dtype=np.uint8), np.asarray(labels, dtype=np.int64)
