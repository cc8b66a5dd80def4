"""A generated colour image set of geometric shapes, with a mask of each object's pixels.

Introduced in lesson 00 (getting-started); the masks are used in lesson 08 (interpretability)
to check whether a saliency map looks at the object or at the background.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from course.data import _prep
from course.data.dataset import Dataset

CATALOGUE = ("circle", "square", "triangle", "star", "pentagon", "hexagon", "cross", "ellipse")
DEFAULT_CLASSES = ("circle", "square", "triangle", "star")
DESCRIPTION = (
    "generated colour shapes (circle, square, triangle, star, ...) on noisy, cluttered "
    "backgrounds, with object masks; deterministic from seed, offline"
)

_SUPERSAMPLE = 4  # draw at 4x, then average down: antialiased edges
_SIZE_RANGE = (0.40, 0.80)  # diameter of the circle around the object, as a fraction of the image


def _regular(k: int, start: float = np.pi / 2) -> np.ndarray:
    angles = start + np.arange(k) * 2 * np.pi / k
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star(points: int = 5, inner: float = 0.45) -> np.ndarray:
    outer = _regular(2 * points)
    radius = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return outer * radius[:, None]


def _cross(half_width: float = 0.34) -> np.ndarray:
    a = half_width
    arm = float(np.sqrt(1 - a * a))  # arm ends touch the unit circle
    pts = [(a, arm), (a, a), (arm, a), (arm, -a), (a, -a), (a, -arm),
           (-a, -arm), (-a, -a), (-arm, -a), (-arm, a), (-a, a), (-a, arm)]  # fmt: skip
    return np.array(pts, dtype=np.float64)


# Every outline fits the unit circle (its farthest point at radius 1), so one size range
# fits every class and any rotation stays inside the image.
_OUTLINES = {
    "circle": _regular(48),
    "square": _regular(4, start=np.pi / 4),
    "triangle": _regular(3),
    "star": _star(),
    "pentagon": _regular(5),
    "hexagon": _regular(6),
    "cross": _cross(),
}


def _outline(name: str, rng: np.random.Generator) -> np.ndarray:
    if name == "ellipse":
        circle = _regular(48)
        return circle * np.array([1.0, rng.uniform(0.42, 0.6)])
    return _OUTLINES[name]


def _luma(rgb: np.ndarray) -> float:
    return float(rgb[0] * 0.299 + rgb[1] * 0.587 + rgb[2] * 0.114)


def _object_colour(background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random colour that stands out from ``background`` in colour and in grey."""
    bg_luma = _luma(background)
    for _ in range(64):
        colour = rng.uniform(0, 255, size=3)
        if abs(_luma(colour) - bg_luma) >= 70 and np.linalg.norm(colour - background) >= 110:
            return colour
    return np.full(3, 0.0 if bg_luma > 127 else 255.0)


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A flat colour or a linear gradient between two colours, float (size, size, 3)."""
    c1 = rng.uniform(0, 255, size=3)
    if rng.random() < 0.5:
        return np.broadcast_to(c1, (size, size, 3)).astype(np.float64)
    c2 = np.clip(c1 + rng.uniform(-90, 90, size=3), 0, 255)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    t = np.cos(angle) * xx + np.sin(angle) * yy
    t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
    return c1 + (c2 - c1) * t[..., None]


def _clutter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw a few thin lines and small specks (never a class shape) onto a uint8 image."""
    from PIL import Image, ImageDraw

    size = image.shape[0]
    pil = Image.fromarray(image, mode="RGB")
    draw = ImageDraw.Draw(pil)
    for _ in range(int(rng.integers(1, 4))):
        x0, y0, x1, y1 = rng.uniform(0, size - 1, size=4)
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        draw.line([(x0, y0), (x1, y1)], fill=colour, width=1)
    for _ in range(int(rng.integers(0, 5))):
        x, y = rng.uniform(0, size - 1, size=2)
        r = rng.uniform(0.5, max(size / 32, 1.0))
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    return np.asarray(pil, dtype=np.float64)


def _draw_one(name: str, size: int, clutter: bool, rng: np.random.Generator):
    """One image (uint8 RGB) and its object mask (bool)."""
    from PIL import Image, ImageDraw

    # The object: rotate, scale and place its outline, then rasterise it at 4x and average down.
    radius = rng.uniform(*_SIZE_RANGE) * size / 2
    angle = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    margin = radius + 0.5
    centre = rng.uniform(margin, size - margin, size=2)
    points = (_outline(name, rng) @ rot.T) * radius + centre
    big = size * _SUPERSAMPLE
    layer = Image.new("L", (big, big), 0)
    ImageDraw.Draw(layer).polygon([tuple(p) for p in points * _SUPERSAMPLE], fill=255)
    alpha = np.asarray(layer.reduce(_SUPERSAMPLE), dtype=np.float64) / 255.0

    background = _background(size, rng)
    if clutter:
        background = _clutter(np.clip(background, 0, 255).astype(np.uint8), rng)
    covered = alpha > 0.5
    mean_bg = background[covered].mean(axis=0) if covered.any() else background.mean(axis=(0, 1))
    colour = _object_colour(mean_bg, rng)
    image = background * (1 - alpha[..., None]) + colour * alpha[..., None]
    if clutter:
        image = image + rng.normal(0, rng.uniform(2, 10), size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), covered


def _class_counts(
    n_classes: int, per_class: int | Sequence[int], imbalance: float | None
) -> list[int]:
    if isinstance(per_class, Sequence) and not isinstance(per_class, str):
        if imbalance is not None:
            raise ValueError(
                "give either per_class as a list of counts or imbalance, not both; "
                f"got per_class={list(per_class)} and imbalance={imbalance}"
            )
        counts = [int(k) for k in per_class]
        if len(counts) != n_classes:
            raise ValueError(
                f"per_class lists {len(counts)} counts but there are {n_classes} classes: "
                "give one count per class, or one number for all"
            )
    else:
        per = int(per_class)
        if imbalance is None:
            counts = [per] * n_classes
        else:
            if not 0 < imbalance <= 1:
                raise ValueError(
                    "imbalance is the ratio smallest/largest class, between 0 (exclusive) and 1;"
                    f" got {imbalance}. For example imbalance=0.1 gives a 10:1 imbalance"
                )
            steps = np.arange(n_classes) / max(n_classes - 1, 1)
            counts = [max(1, round(per * imbalance**s)) for s in steps]
    if any(k < 1 for k in counts):
        raise ValueError(f"every class needs at least 1 image; got per_class counts {counts}")
    return counts


def _check_classes(classes: Sequence[str] | str) -> list[str]:
    if isinstance(classes, str):
        classes = [c.strip() for c in classes.split(",") if c.strip()]
    names = [str(c).strip().lower() for c in classes]
    unknown = [c for c in names if c not in CATALOGUE]
    if unknown:
        raise ValueError(
            f"unknown shape class(es) {unknown}; choose any of {list(CATALOGUE)}, "
            "e.g. classes=('circle', 'square', 'triangle')"
        )
    if not names:
        raise ValueError(f"classes is empty; choose at least one of {list(CATALOGUE)}")
    if len(set(names)) != len(names):
        raise ValueError(f"classes lists a shape twice: {names}; list each shape once")
    return names


def load_shapes(
    *,
    classes: Sequence[str] | str = DEFAULT_CLASSES,
    image_size: int = 32,
    per_class: int | Sequence[int] = 200,
    imbalance: float | None = None,
    channels: int = 3,
    clutter: bool = True,
    seed: int = 0,
    limit: int | None = None,
) -> Dataset:
    """Generate a colour image set of shapes; the same ``seed`` gives the same bytes.

    Introduced in lesson 00 (getting-started); ``masks`` are used in lesson 08
    (interpretability) and ``imbalance`` in the lesson on imbalanced classes.

    Each image shows one object of its class (any of ``CATALOGUE``: circle, square, triangle,
    star, pentagon, hexagon, cross, ellipse) in a random colour that contrasts with the
    background, at a random size (about 35-75% of the image), position (fully inside) and
    rotation, on a flat or gradient background with, when ``clutter`` is on, noise and a few
    thin lines and specks. ``per_class`` is a count for every class or a list of counts;
    ``imbalance=0.1`` makes counts decay geometrically from ``per_class`` to
    ``per_class * 0.1`` over the classes in order. ``masks[i]`` marks the object's pixels.
    ``limit`` keeps a balanced subsample of at most that many images.

    Example::

        ds = data.load("shapes", classes=("circle", "star"), per_class=100, image_size=32)
        ds.images.shape   # (200, 32, 32, 3)
    """
    names = _check_classes(classes)
    _prep.check_channels(channels)
    size, width = _prep.size_hw(image_size)
    if size != width:
        raise ValueError(f"shapes are square: give image_size as one int; got {image_size!r}")
    if size < 8:
        raise ValueError(f"image_size must be at least 8 pixels to draw a shape; got {size}")
    counts = _class_counts(len(names), per_class, imbalance)

    order_rng = np.random.default_rng([seed, 0])
    labels = order_rng.permutation(np.repeat(np.arange(len(names)), counts)).astype(np.int64)
    keep = _prep.subsample_indices(labels, limit, seed)

    images = np.empty((len(keep), size, size, 3), dtype=np.uint8)
    masks = np.empty((len(keep), size, size), dtype=bool)
    for out, i in enumerate(keep):
        # One generator per image: image i is the same whatever limit or subset is asked for.
        rng = np.random.default_rng([seed, 1, int(i)])
        images[out], masks[out] = _draw_one(names[labels[i]], size, clutter, rng)
    images = _prep.set_channels(images, channels)
    return Dataset(
        name="shapes",
        images=images,
        labels=labels[keep],
        class_names=names,
        masks=masks,
        description=DESCRIPTION,
    )
