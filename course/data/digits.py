"""Handwritten digits bundled with scikit-learn: 1,797 grey 8x8 images, offline.

Introduced in lesson 00 (getting-started).
"""

from __future__ import annotations

import numpy as np

from course.data import _prep
from course.data.dataset import Dataset

DESCRIPTION = (
    "1,797 handwritten digits 0-9, 8x8 grey (scikit-learn's copy of the UCI set); "
    "bundled, loads offline in milliseconds"
)


def load_digits(
    *, image_size: int = 8, channels: int = 1, limit: int | None = None, seed: int = 0
) -> Dataset:
    """Load the bundled handwritten digits as uint8 images (0..255).

    Introduced in lesson 00 (getting-started).

    The 8x8 originals hold values 0..16; they are scaled to 0..255 with ``round(v * 255 / 16)``.
    ``image_size`` upsamples with antialiased bilinear resizing (e.g. 16 or 32 for a CNN),
    ``channels=3`` repeats the grey channel (for models that expect RGB), ``limit`` keeps a
    balanced subsample of at most that many images (chosen with ``seed``).

    Example::

        X, y = data.load("digits", image_size=16)   # X.shape == (1797, 16, 16, 1)
    """
    from sklearn.datasets import load_digits as sk_load_digits

    _prep.check_channels(channels)
    bunch = sk_load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    images, labels = _prep.finish(
        images, labels, image_size=image_size, channels=channels, limit=limit, seed=seed
    )
    return Dataset(
        name="digits",
        images=images,
        labels=labels,
        class_names=[str(d) for d in range(10)],
        description=DESCRIPTION,
    )
