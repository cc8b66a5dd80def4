"""Datasets for the course: one ``load`` for bundled, generated, downloaded and your own images.

Introduced in lesson 00 (getting-started). Importing this package is cheap: TensorFlow, Keras
and matplotlib are never imported here, scikit-learn and PIL only when a loader runs.

    from course import data
    X, y = data.load("digits")                 # bundled, offline
    ds = data.load("shapes", per_class=100)    # generated, offline, with masks
    ds = data.load("path/to/photos")           # root/<class>/<image>
    print(data.describe_registry())            # everything that can be loaded by name
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course.data.dataset import Dataset
from course.data.digits import load_digits
from course.data.downloads import (
    ChecksumError,
    DatasetUnavailableError,
    cache_dir,
    download,
    sha256_of,
)
from course.data.folder import load_folder, skipped_summary
from course.data.parcels import load_parcels
from course.data.pipeline import pipeline
from course.data.remote import (
    REMOTE_FILES,
    RemoteFile,
    load_cifar10,
    load_fashion_mnist,
    load_flowers,
    load_mnist,
)
from course.data.shapes import CATALOGUE as SHAPES_CATALOGUE
from course.data.shapes import load_shapes
from course.data.split import split, split_indices

__all__ = [
    "ChecksumError",
    "Dataset",
    "DatasetInfo",
    "DatasetUnavailableError",
    "RemoteFile",
    "SHAPES_CATALOGUE",
    "cache_dir",
    "describe_registry",
    "download",
    "info",
    "load",
    "load_folder",
    "load_parcels",
    "names",
    "pipeline",
    "sha256_of",
    "skipped_summary",
    "split",
    "split_indices",
]

_COMMON = "limit=None (balanced subsample), seed=0"


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about a dataset, before loading it.

    Introduced in lesson 00 (getting-started).

    ``source`` is a URL for downloads, ``"bundled"`` or ``"generated"`` otherwise; ``files``
    lists the downloads (URL and SHA-256) for the remote sets.

    Example: ``data.info("cifar10").offline`` -> ``False``
    """

    name: str
    description: str
    offline: bool
    source: str
    size: str
    options: str
    files: tuple[RemoteFile, ...] = ()


def _remote(name: str, description: str, size: str, options: str) -> DatasetInfo:
    files = tuple(REMOTE_FILES[name])
    source = files[0].url if len(files) == 1 else files[0].url.rsplit("/", 1)[0] + "/"
    return DatasetInfo(name, description, False, source, size, options, files)


_REGISTRY: dict[str, tuple[DatasetInfo, Callable[..., Dataset]]] = {
    "digits": (
        DatasetInfo(
            "digits",
            "handwritten digits 0-9 (scikit-learn), grey",
            True,
            "bundled",
            "1,797 images 8x8x1, 10 classes",
            f"image_size=8, channels=1, {_COMMON}",
        ),
        load_digits,
    ),
    "shapes": (
        DatasetInfo(
            "shapes",
            "generated colour shapes on cluttered backgrounds, with object masks",
            True,
            "generated",
            "200 per class, 32x32x3, 4 classes (configurable)",
            "classes=('circle', 'square', 'triangle', 'star'), image_size=32, per_class=200, "
            f"imbalance=None, channels=3, clutter=True, {_COMMON}",
        ),
        load_shapes,
    ),
    "parcels": (
        DatasetInfo(
            "parcels",
            "handwritten zone digits with a sender's note; the class needs both (lesson 11)",
            True,
            "generated",
            "1,797 images 8x8x1 with a note each, 20 classes (zone x service)",
            f"image_size=8, channels=1, names_service=0.85, hints_zone=0.3, {_COMMON}",
        ),
        load_parcels,
    ),
    "mnist": (
        _remote(
            "mnist",
            "handwritten digits 0-9 (LeCun et al.), grey",
            "70,000 images 28x28x1, 10 classes, 11 MB download",
            f"split='all'|'train'|'test', image_size=None, channels=1, {_COMMON}",
        ),
        load_mnist,
    ),
    "fashion_mnist": (
        _remote(
            "fashion_mnist",
            "clothing images (Zalando), grey",
            "70,000 images 28x28x1, 10 classes, 30 MB download",
            f"split='all'|'train'|'test', image_size=None, channels=1, {_COMMON}",
        ),
        load_fashion_mnist,
    ),
    "cifar10": (
        _remote(
            "cifar10",
            "small colour photos: planes, cars, animals, ships, trucks",
            "60,000 images 32x32x3, 10 classes, 170 MB download",
            f"split='all'|'train'|'test', image_size=None, channels=3, {_COMMON}",
        ),
        load_cifar10,
    ),
    "flowers": (
        _remote(
            "flowers",
            "flower photos (TensorFlow): daisy, dandelion, roses, sunflowers, tulips",
            "3,670 photos of varied sizes, 5 classes, 230 MB download",
            f"image_size=64, fit='pad'|'crop'|'stretch', channels=3, {_COMMON}",
        ),
        load_flowers,
    ),
}


def names() -> list[str]:
    """The names ``data.load`` knows, offline ones first.

    Introduced in lesson 00 (getting-started).

    Example: ``data.names()`` -> ``['digits', 'shapes', 'mnist', ...]``
    """
    return list(_REGISTRY)


def info(name: str) -> DatasetInfo:
    """What the registry knows about ``name``: description, offline or not, source, options.

    Introduced in lesson 00 (getting-started).

    Example: ``data.info("shapes").options``
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; the registered ones are {names()}")
    return _REGISTRY[name][0]


def describe_registry() -> str:
    """A table of every registered dataset (name, offline?, size, description).

    Introduced in lesson 00 (getting-started); printed by ``course data list``.

    Example: ``print(data.describe_registry())``
    """
    rows = [("name", "offline", "size", "description")]
    for entry, _ in _REGISTRY.values():
        rows.append((entry.name, "yes" if entry.offline else "no", entry.size, entry.description))
    widths = [max(len(r[k]) for r in rows) for k in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(rows[0][3]))
    lines.append("")
    lines.append(
        "Or any folder of images laid out root/<class>/<image>: data.load('path/to/folder')"
    )
    return "\n".join(line.rstrip() for line in lines)


def _call(loader: Callable[..., Dataset], what: str, options: dict, *args: Any) -> Dataset:
    params = inspect.signature(loader).parameters
    unknown = sorted(k for k in options if k not in params or k == "root")
    if unknown:
        allowed = ", ".join(k for k, p in params.items() if p.kind is p.KEYWORD_ONLY)
        raise TypeError(f"loading {what} takes no option {', '.join(unknown)}; it takes: {allowed}")
    return loader(*args, **options)


def load(name_or_path: str | os.PathLike, **options: Any) -> Dataset:
    """Load a dataset by registered name, or a folder of images laid out root/<class>/<image>.

    Introduced in lesson 00 (getting-started).

    Options go to the loader (see ``data.info(name).options``); every loader takes
    ``limit`` and ``seed``. Downloadable sets raise :class:`DatasetUnavailableError` when
    offline; ``digits``, ``shapes`` and folders always work offline.

    Example::

        X, y = data.load("digits")
        ds = data.load("shapes", classes=("circle", "star"), per_class=50)
        ds = data.load("~/Pictures/pets", image_size=96)
    """
    if isinstance(name_or_path, str) and name_or_path in _REGISTRY:
        return _call(_REGISTRY[name_or_path][1], name_or_path, options)
    if isinstance(name_or_path, str | os.PathLike):
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            return _call(load_folder, f"the folder {path}", options, path)
    raise ValueError(
        f"{name_or_path!r} is neither a registered dataset nor an existing folder. "
        f"Registered datasets: {', '.join(names())}. A folder must be laid out "
        "root/<class>/<image>, e.g. photos/cats/1.jpg and photos/dogs/1.jpg"
    )
