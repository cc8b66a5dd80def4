"""Load any folder of images laid out ``root/<class>/<image>``: a learner's own photos.

Introduced in lesson 01 (data-preprocessing).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from course.data import _prep
from course.data.dataset import Dataset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
FITS = ("pad", "crop", "stretch")
LAYOUT = (
    "a folder with one subfolder per class, each holding that class's images, e.g.\n"
    "    root/cats/001.jpg\n    root/cats/002.png\n    root/dogs/001.jpg"
)
_MAX_LISTED = 10


def _visible(name: str) -> bool:
    return not name.startswith(".")


def _class_files(class_dir: Path) -> list[Path]:
    """Every non-hidden file under a class folder (subfolders included), in sorted order."""
    files = []
    for dirpath, dirnames, filenames in os.walk(class_dir):
        dirnames[:] = sorted(d for d in dirnames if _visible(d))
        files.extend(Path(dirpath) / f for f in sorted(filenames) if _visible(f))
    return files


def _read_image(path: Path, hw: tuple[int, int], channels: int, fit: str) -> np.ndarray:
    """Decode one file to uint8 (h, w, c); raise on anything that is not a complete image."""
    from PIL import Image, ImageOps

    h, w = hw
    mode = "L" if channels == 1 else "RGB"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            im.seek(0)  # the first frame of a GIF
            if im.format == "JPEG":
                # Decode at a reduced scale when the photo is much bigger than needed (fast).
                im.draft(mode, (w, h))
            im.load()  # raises on truncated or corrupt data (LOAD_TRUNCATED_IMAGES stays False)
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                flat = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
                im = Image.alpha_composite(flat, rgba)
            im = im.convert(mode)
    resample = Image.Resampling.BILINEAR
    if fit == "stretch":
        im = im.resize((w, h), resample)
    elif fit == "crop":
        im = ImageOps.fit(im, (w, h), resample)
    else:  # pad: keep the aspect ratio and letterbox with black
        scale = min(w / im.width, h / im.height)
        new = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        im = im.resize(new, resample)
        canvas = Image.new(mode, (w, h), 0)
        canvas.paste(im, ((w - new[0]) // 2, (h - new[1]) // 2))
        im = canvas
    arr = np.asarray(im, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def _reason(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    if "cannot identify image file" in text:
        return "not a readable image (unknown or corrupt format)"
    if "truncated" in text:
        return f"truncated image ({text})"
    return f"{type(error).__name__}: {text}"


def skipped_summary(skipped: Sequence[tuple[str, str]], total: int) -> str:
    """The message printed when a folder load skipped files (at most 10 paths listed).

    Introduced in lesson 01 (data-preprocessing).

    Example: ``print(data.skipped_summary(ds.skipped, total=120))``
    """
    lines = [
        f"skipped {len(skipped)} of {total} files that are not readable images (see ds.skipped):"
    ]
    lines += [f"  {path}: {reason}" for path, reason in skipped[:_MAX_LISTED]]
    if len(skipped) > _MAX_LISTED:
        lines.append(f"  ... and {len(skipped) - _MAX_LISTED} more")
    return "\n".join(lines)


def load_folder(
    root: str | os.PathLike,
    *,
    image_size: int | tuple[int, int] = 64,
    channels: int = 3,
    fit: str = "pad",
    limit: int | None = None,
    seed: int = 0,
    verbose: bool = True,
) -> Dataset:
    """Load a folder of images laid out ``root/<class>/<image>``; class names are the folders.

    Introduced in lesson 01 (data-preprocessing).

    PNG, JPEG, BMP and GIF files (any letter case; a GIF's first frame) are converted to RGB
    (``channels=3``) or grey (``channels=1``) and resized to ``image_size`` (an int or
    ``(h, w)``) by ``fit``: ``"pad"`` keeps the aspect ratio and pads with black, ``"crop"``
    crops the centre to the right shape, ``"stretch"`` ignores the aspect ratio. Files that
    are not readable images (corrupt, truncated, empty, other formats) are skipped, listed in
    ``ds.skipped`` as ``(path, reason)`` and, when ``verbose``, summarised on stdout. Hidden
    files and folders (``.ipynb_checkpoints``) are ignored. ``limit`` keeps a balanced
    subsample of at most that many files.

    Example::

        ds = data.load("my_photos", image_size=96, fit="crop")
        X, y = ds
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"no such folder: {root}. Expected {LAYOUT}")
    if not root.is_dir():
        raise ValueError(f"expected a folder of images, got a file: {root}. Expected {LAYOUT}")
    hw = _prep.size_hw(image_size)
    channels = _prep.check_channels(channels)
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}; got {fit!r}")

    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and _visible(p.name))
    if not class_dirs:
        raise ValueError(f"{root} has no class subfolders. Expected {LAYOUT}")

    skipped: list[tuple[str, str]] = []
    paths: list[Path] = []
    labels: list[int] = []
    total = 0
    for label, class_dir in enumerate(class_dirs):
        for path in _class_files(class_dir):
            total += 1
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                reason = f"not an image file extension ({path.suffix or 'none'})"
                skipped.append((str(path), reason))
                continue
            paths.append(path)
            labels.append(label)

    keep = _prep.subsample_indices(np.asarray(labels, dtype=np.int64), limit, seed)
    images: list[np.ndarray] = []
    kept_labels: list[int] = []
    for i in keep:
        path = paths[i]
        try:
            if path.stat().st_size == 0:
                skipped.append((str(path), "empty file (0 bytes)"))
                continue
            images.append(_read_image(path, hw, channels, fit))
        except Exception as error:  # any decoding problem means: not a usable image
            skipped.append((str(path), _reason(error)))
            continue
        kept_labels.append(labels[i])

    skipped.sort()
    if verbose and skipped:
        print(skipped_summary(skipped, total - len(paths) + len(keep)))
    if not images:
        raise ValueError(
            f"found no readable images under {root} ({total} files, {len(skipped)} skipped). "
            f"Expected {LAYOUT}\nwith images in PNG, JPEG, BMP or GIF format"
        )

    y = np.asarray(kept_labels, dtype=np.int64)
    present = np.unique(y)
    names = [class_dirs[k].name for k in present]
    if len(present) < len(class_dirs):
        empty = [d.name for k, d in enumerate(class_dirs) if k not in set(present.tolist())]
        if verbose:
            print(f"ignored class folders with no readable images: {', '.join(empty)}")
        y = np.searchsorted(present, y).astype(np.int64)
    return Dataset(
        name=root.name or str(root),
        images=np.stack(images),
        labels=y,
        class_names=names,
        skipped=skipped,
        description=f"images from the folder {root}",
    )
