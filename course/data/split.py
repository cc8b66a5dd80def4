"""Train / validation / test splits that keep each class's share in every part.

Introduced in lesson 01 (data-preprocessing).
"""

from __future__ import annotations

import numpy as np


def _allocate(n: int, fractions: tuple[float, float, float]) -> np.ndarray:
    """Split ``n`` items into parts by largest remainder: each part within 1 of its share."""
    ideal = np.array(fractions) * n
    counts = np.floor(ideal).astype(np.int64)
    rest = n - int(counts.sum())
    # Largest fractional parts first; ties go to train, then val, then test.
    order = np.argsort(-(ideal - counts), kind="stable")
    counts[order[:rest]] += 1
    return counts


def _min_class_size(fractions: tuple[float, float, float]) -> int:
    needed = [k for k, f in enumerate(fractions) if f > 0]
    for n in range(1, 10_000):
        if all(_allocate(n, fractions)[k] > 0 for k in needed):
            return n
    return 10_000


def _check_fractions(val: float, test: float) -> tuple[float, float, float]:
    for name, value in (("val", val), ("test", test)):
        if not 0 <= value < 1:
            raise ValueError(f"{name} must be a fraction in [0, 1), e.g. 0.15; got {value!r}")
    if val + test >= 1:
        raise ValueError(
            f"val + test must leave images for training (sum < 1); got val={val}, test={test}"
        )
    return (1.0 - val - test, float(val), float(test))


def split_indices(
    y: np.ndarray, *, val: float = 0.15, test: float = 0.15, seed: int = 0, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of a train / validation / test split; disjoint, covering, deterministic.

    Introduced in lesson 01 (data-preprocessing).

    With ``stratify=True`` each class is split on its own, so every part keeps each class's
    share (within one image per class). ``val=0`` gives an empty validation part. The same
    ``seed`` gives the same split; each part's indices come back shuffled.

    Example::

        train_idx, val_idx, test_idx = data.split_indices(ds.labels, val=0.2, test=0.2)
        X_train, y_train = ds.images[train_idx], ds.labels[train_idx]
    """
    fractions = _check_fractions(val, test)
    y = np.asarray(y)
    if y.ndim != 1:
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        else:
            raise ValueError(
                f"expected labels shaped (n,); got {y.shape}. For one-hot labels pass "
                "y.argmax(axis=1)"
            )
    if len(y) == 0:
        raise ValueError("expected at least one label; got an empty array")
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(len(y))]
    parts: list[list[np.ndarray]] = [[], [], []]
    for members in groups:
        counts = _allocate(len(members), fractions)
        if stratify:
            missing = [k for k in range(3) if fractions[k] > 0 and counts[k] == 0]
            if missing:
                cls = y[members[0]].item()
                need = _min_class_size(fractions)
                raise ValueError(
                    f"class {cls!r} has only {len(members)} sample(s); a stratified split with "
                    f"val={val}, test={test} needs at least {need} per class. Use "
                    "stratify=False, smaller val/test, or more images of that class"
                )
        shuffled = rng.permutation(members)
        edges = np.cumsum(counts)
        parts[0].append(shuffled[: edges[0]])
        parts[1].append(shuffled[edges[0] : edges[1]])
        parts[2].append(shuffled[edges[1] :])
    train, val_idx, test_idx = (rng.permutation(np.concatenate(p)).astype(np.int64) for p in parts)
    return train, val_idx, test_idx


def split(
    X: np.ndarray,
    y: np.ndarray,
    *,
    val: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
    stratify: bool = True,
) -> tuple[
    tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]
]:
    """Split images and labels into train, validation and test parts (stratified by default).

    Introduced in lesson 01 (data-preprocessing).

    Same rules as :func:`split_indices`; returns the arrays themselves.

    Example::

        (X_train, y_train), (X_val, y_val), (X_test, y_test) = data.split(X, y, seed=0)
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if len(X) != len(y):
        raise ValueError(
            f"X and y must have one label per image; got {len(X)} images and {len(y)} labels"
        )
    train, val_idx, test_idx = split_indices(y, val=val, test=test, seed=seed, stratify=stratify)
    return (X[train], y[train]), (X[val_idx], y[val_idx]), (X[test_idx], y[test_idx])
