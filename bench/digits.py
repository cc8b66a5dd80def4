"""Digits benchmark: the course's reference CNN against scikit-learn's classic classifiers.

Every method is trained and tested on the same stratified 80/20 splits of the bundled digits
(split seeds 0 .. N-1), in one run, and the table prints mean, std, min and max test accuracy
and the mean fit time of each, plus the CNN's mean gain over the better of the two RBF SVCs
(default, or C and gamma tuned by CV on the training split: the strongest classic baseline,
lesson 02). No figure is asserted: the numbers are printed to be read side by side.

    .venv/bin/python bench/digits.py              # 5 splits, the reference CNN's 40 epochs
    .venv/bin/python bench/digits.py --quick      # smoke run: 2 splits, 3 epochs
    .venv/bin/python bench/digits.py --splits 3 --epochs 20 --image-size 16
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import course  # noqa: E402


def _flat(X: np.ndarray) -> np.ndarray:
    return X.reshape(len(X), -1).astype(np.float32) / 255.0


def _svc(X_tr, y_tr, X_te):
    from sklearn.svm import SVC

    return SVC().fit(_flat(X_tr), y_tr).predict(_flat(X_te))


def _svc_tuned(X_tr, y_tr, X_te):
    """An RBF SVC whose C and gamma are chosen by 3-fold CV on the training split only."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    grid = {"C": [1, 3, 10, 30], "gamma": ["scale", 0.01, 0.03, 0.1]}
    search = GridSearchCV(SVC(), grid, cv=3, n_jobs=1).fit(_flat(X_tr), y_tr)
    return search.predict(_flat(X_te))


def _logreg(X_tr, y_tr, X_te):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000).fit(_flat(X_tr), y_tr).predict(_flat(X_te))


def _hog_features(X: np.ndarray) -> np.ndarray:
    from skimage.feature import hog

    return np.stack(
        [
            hog(
                image[..., 0].astype(np.float32) / 255.0,
                orientations=9,
                pixels_per_cell=(4, 4),
                cells_per_block=(2, 2),
            )
            for image in X
        ]
    )


def _hog_svm(X_tr, y_tr, X_te):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    model = make_pipeline(StandardScaler(), SVC(C=10))
    return model.fit(_hog_features(X_tr), y_tr).predict(_hog_features(X_te))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", type=int, default=5, help="stratified 80/20 splits (seeds)")
    parser.add_argument("--epochs", type=int, default=40, help="epochs for the reference CNN")
    parser.add_argument("--image-size", type=int, default=16, help="CNN/HOG input side (px)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 splits, 3 epochs")
    args = parser.parse_args(argv)
    if args.quick:
        args.splits, args.epochs = 2, 3

    course.setup(seed=0, verbose=False)
    from sklearn.model_selection import StratifiedShuffleSplit

    from course import data, models

    small = data.load("digits")  # 8x8 as scanned, for the pixel classifiers
    large = data.load("digits", image_size=args.image_size)  # same order, upsampled
    y = small.labels

    def cnn(X_tr, y_tr, X_te, seed):
        model, _ = models.fit_reference(X_tr, y_tr, epochs=args.epochs, seed=seed)
        return model.predict(X_te.astype(np.float32) / 255.0, verbose=0).argmax(axis=1)

    methods: dict[str, tuple[np.ndarray, Callable]] = {
        "SVC (RBF, pixels)": (small.images, lambda a, b, c, s: _svc(a, b, c)),
        "SVC-CV (RBF, pixels, C, gamma by CV)": (
            small.images,
            lambda a, b, c, s: _svc_tuned(a, b, c),
        ),
        "LogisticRegression (pixels)": (small.images, lambda a, b, c, s: _logreg(a, b, c)),
        f"HOG + SVM ({args.image_size}x{args.image_size})": (
            large.images,
            lambda a, b, c, s: _hog_svm(a, b, c),
        ),
        f"reference CNN ({args.epochs} epochs)": (large.images, cnn),
    }
    scores = {name: [] for name in methods}
    times = {name: [] for name in methods}
    print(
        f"digits: {len(y)} images, {args.splits} stratified 80/20 splits (seeds 0-"
        f"{args.splits - 1}); CNN on {args.image_size}x{args.image_size}, {args.epochs} epochs",
        flush=True,
    )
    for seed in range(args.splits):
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=seed)
        train, test = next(splitter.split(np.zeros(len(y)), y))
        line = []
        for name, (X, fit_predict) in methods.items():
            start = time.perf_counter()
            predicted = fit_predict(X[train], y[train], X[test], seed)
            times[name].append(time.perf_counter() - start)
            scores[name].append(float(np.mean(predicted == y[test])))
            line.append(f"{name.split(' ')[0]} {scores[name][-1]:.4f}")
        print(f"  split {seed}: " + ", ".join(line), flush=True)

    width = max(len(n) for n in methods)
    header = f"{'method':<{width}}  {'mean':>6}  {'std':>6}  {'min':>6}  {'max':>6}  {'fit s':>6}"
    print()
    print(header)
    print("-" * len(header))
    for name in methods:
        a = np.array(scores[name])
        print(
            f"{name:<{width}}  {a.mean():.4f}  {a.std():.4f}  {a.min():.4f}  {a.max():.4f}  "
            f"{np.mean(times[name]):6.1f}"
        )
    cnn_name = list(methods)[-1]
    svc_name = max(list(methods)[:2], key=lambda name: np.mean(scores[name]))
    diff = np.array(scores[cnn_name]) - np.array(scores[svc_name])
    print()
    print(
        f"CNN - {svc_name}: mean {diff.mean():+.4f} (per split: "
        + ", ".join(f"{d:+.4f}" for d in diff)
        + f"); CNN ahead on {int(np.sum(diff > 0))}, tied on {int(np.sum(diff == 0))}, "
        f"behind on {int(np.sum(diff < 0))} of {len(diff)} splits"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
