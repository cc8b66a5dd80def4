"""The :class:`Dataset` every loader returns: images, labels, class names, and what was skipped.

Introduced in lesson 00 (getting-started).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(repr=False)
class Dataset:
    """A labelled set of images, as every ``data.load(...)`` returns it.

    Introduced in lesson 00 (getting-started).

    ``images`` is always ``(n, h, w, c)`` uint8 in 0..255 (the channel axis is there even for
    grey images), ``labels`` is ``(n,)`` int64 indexing ``class_names``. ``masks`` holds the
    object's pixels for generated sets (lesson 08), ``texts`` one caption per image for paired
    image-and-text sets (lesson 11), ``skipped`` the files a folder load could not read. It
    unpacks like a tuple. Example::

        X, y = data.load("digits")
        ds = data.load("shapes", per_class=50)
        ds.num_classes, ds.image_shape   # (4, (32, 32, 3))
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    masks: np.ndarray | None = None
    texts: list[str] | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    description: str = ""

    def __post_init__(self) -> None:
        self.images = np.asarray(self.images)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.class_names = [str(c) for c in self.class_names]
        if self.images.ndim != 4:
            raise ValueError(
                f"expected images shaped (n, h, w, c); got {self.images.shape}: "
                "add a channel axis with images[..., None]"
            )
        if self.images.dtype != np.uint8:
            raise ValueError(
                f"expected uint8 images (0..255); got {self.images.dtype}: "
                "convert with np.clip(images, 0, 255).astype('uint8')"
            )
        if len(self.images) != len(self.labels):
            raise ValueError(
                f"expected one label per image; got {len(self.images)} images and "
                f"{len(self.labels)} labels"
            )
        if len(self.labels) and (
            self.labels.min() < 0 or self.labels.max() >= len(self.class_names)
        ):
            raise ValueError(
                f"labels must lie in 0..{len(self.class_names) - 1} (one per class name); "
                f"got {self.labels.min()}..{self.labels.max()}"
            )
        if self.masks is not None:
            self.masks = np.asarray(self.masks, dtype=bool)
            if self.masks.shape != self.images.shape[:3]:
                raise ValueError(
                    f"expected masks shaped {self.images.shape[:3]} (n, h, w); "
                    f"got {self.masks.shape}"
                )

        if self.texts is not None:
            self.texts = [str(t) for t in self.texts]
            if len(self.texts) != len(self.labels):
                raise ValueError(
                    f"expected one text per image; got {len(self.texts)} texts and "
                    f"{len(self.labels)} images"
                )

    @property
    def num_classes(self) -> int:
        """How many classes there are (``len(class_names)``). Introduced in lesson 00.

        Example: ``keras.layers.Dense(ds.num_classes, activation="softmax")``
        """
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The shape of one image, ``(h, w, c)``; what a model's ``Input`` takes. Lesson 00.

        Example: ``keras.Input(shape=ds.image_shape)``
        """
        h, w, c = self.images.shape[1:]
        return int(h), int(w), int(c)

    def counts(self) -> dict[str, int]:
        """Images per class, by class name. Introduced in lesson 01 (data-preprocessing).

        Example: ``data.load("shapes", per_class=5).counts()`` -> ``{'circle': 5, ...}``
        """
        per = np.bincount(self.labels, minlength=self.num_classes)
        return {name: int(k) for name, k in zip(self.class_names, per, strict=True)}

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self.images
        yield self.labels

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in self.counts().items())
        if len(counts) > 300:
            counts = counts[:300] + " ..."
        extra = f", skipped={len(self.skipped)}" if self.skipped else ""
        extra += ", masks" if self.masks is not None else ""
        extra += ", texts" if self.texts is not None else ""
        return (
            f"Dataset({self.name!r}, n={len(self)}, image_shape={self.image_shape}, "
            f"num_classes={self.num_classes}{extra}, counts={{{counts}}})"
        )

    def subset(self, indices: Sequence[int] | np.ndarray) -> Dataset:
        """A new Dataset with only the images at ``indices`` (masks stay aligned).

        Introduced in lesson 01 (data-preprocessing).

        Example::

            train_idx, val_idx, test_idx = data.split_indices(ds.labels)
            train = ds.subset(train_idx)
        """
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise ValueError(
                    f"a boolean index must have one entry per image ({len(self)}); "
                    f"got shape {idx.shape}"
                )
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        return Dataset(
            name=self.name,
            images=self.images[idx],
            labels=self.labels[idx],
            class_names=list(self.class_names),
            masks=None if self.masks is None else self.masks[idx],
            texts=None if self.texts is None else [self.texts[i] for i in idx],
            skipped=list(self.skipped),
            description=self.description,
        )
