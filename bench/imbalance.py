"""Imbalance benchmark: lesson 06's comparison of rebalancing methods, over several seeds.

On the bundled digits, a few classes keep only a small share of their training images (the test
set keeps its natural, balanced mix). Every method trains the same small CNN (the course's
reference architecture without augmentation) for the same number of epochs on the same split,
with the lesson's own solutions for class weights, balanced batches and the focal loss;
then all are scored on the same test set; each seed redraws the split, the rare images and the
initial weights. The table prints the mean and std over the seeds of each score, and the best
method's gain over the baseline. No figure is asserted: the numbers are printed to be read.

    .venv/bin/python bench/imbalance.py              # 3 seeds, the lesson's settings
    .venv/bin/python bench/imbalance.py --quick      # smoke run: 1 seed, 2 epochs
    .venv/bin/python bench/imbalance.py --seeds 5 --ratio 0.1 --minority 0 6 9
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import course  # noqa: E402

COLUMNS = ("accuracy (train mix)", "balanced accuracy", "macro-F1", "minority recall",
           "minority PR-AUC")  # fmt: skip


def run(seed: int, *, minority: list[int], ratio: float, epochs: int) -> dict[str, dict]:
    """One seed of the comparison: method name -> its scores."""
    import keras
    from imblearn.over_sampling import SMOTE
    from sklearn.linear_model import LogisticRegression

    from autograder import solution_code
    from course import data, imbalance, models

    lesson = solution_code.load("06-imbalanced-data")  # the exercises: the lesson's solutions

    ds = data.load("digits")
    (X_train, y_train), _, (X_test, y_test) = data.split(
        ds.images, ds.labels, val=0.0, test=0.3, seed=seed
    )
    keep = imbalance.make_imbalanced(y_train, minority, ratio, seed=seed)
    X_train, y_train = X_train[keep].astype("float32") / 255.0, y_train[keep]
    X_test = X_test.astype("float32") / 255.0
    k = ds.num_classes
    prior = np.bincount(y_train, minlength=k) / len(y_train)

    def fit(X, y, *, loss="sparse_categorical_crossentropy", **fit_options):
        keras.utils.set_random_seed(seed)
        model = models.digits_cnn(X_train.shape[1:], k, augment=False, filters=(16, 32),
                                  compile=False)  # fmt: skip
        model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=loss)
        model.fit(X, y, epochs=epochs, batch_size=32, verbose=0, **fit_options)
        return model

    def probs(model):
        return model.predict(X_test, verbose=0)

    results = {}
    base = fit(X_train, y_train)
    results["baseline"] = probs(base)
    cw = lesson["class_weights"](y_train, k)
    results["class weights"] = probs(fit(X_train, y_train, class_weight=cw))
    idx = imbalance.oversample(y_train, seed=seed)
    results["random oversampling"] = probs(fit(X_train[idx], y_train[idx]))
    idx = imbalance.undersample(y_train, seed=seed)
    results["random undersampling"] = probs(fit(X_train[idx], y_train[idx]))
    stream = lesson["balanced_batches"](X_train, y_train, 32, seed=seed)
    steps = int(np.ceil(len(X_train) / 32))
    results["balanced batches"] = probs(fit(stream, None, steps_per_epoch=steps))
    extra = imbalance.extra_draws(y_train, minority, seed=seed)
    copies = keras.ops.convert_to_numpy(models.augmentation()(X_train[extra], training=True))
    X_aug = np.concatenate([X_train, copies])
    y_aug = np.concatenate([y_train, y_train[extra]])
    results["augmented oversampling"] = probs(fit(X_aug, y_aug))
    embed = keras.Model(base.inputs[0], base.get_layer("global_pool").output)
    E_train = keras.ops.convert_to_numpy(embed(X_train))
    neighbours = max(1, min(5, int(np.bincount(y_train)[minority].min()) - 1))
    E_res, y_res = SMOTE(k_neighbors=neighbours, random_state=seed).fit_resample(E_train, y_train)
    head = LogisticRegression(max_iter=2000).fit(E_res, y_res)
    results["SMOTE on embeddings"] = head.predict_proba(keras.ops.convert_to_numpy(embed(X_test)))
    results["focal loss"] = probs(fit(X_train, y_train, loss=lesson["focal_loss"]))
    results["logit adjustment"] = imbalance.logit_adjust(results["baseline"], prior)
    return {name: imbalance.scores(y_test, p, minority, prior=prior) for name, p in results.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--ratio", type=float, default=0.05, help="share of a rare class kept")
    parser.add_argument("--minority", type=int, nargs="+", default=[3, 5, 8])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 2 epochs")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs = 1, 2
    course.setup(seed=0, verbose=False)
    print(
        f"digits, rare classes {args.minority} keep {args.ratio:.0%} of their training images; "
        f"{args.epochs} epochs; seeds 0-{args.seeds - 1}",
        flush=True,
    )
    runs = []
    for seed in range(args.seeds):
        start = time.perf_counter()
        runs.append(run(seed, minority=args.minority, ratio=args.ratio, epochs=args.epochs))
        line = ", ".join(f"{m} {r['minority recall']:.2f}" for m, r in runs[-1].items())
        print(f"  seed {seed} ({time.perf_counter() - start:.0f} s), minority recall: {line}",
              flush=True)  # fmt: skip
    methods = list(runs[0])
    width = max(len(m) for m in methods)
    print()
    print(f"{'method':<{width}}  " + "  ".join(f"{c:>21}" for c in COLUMNS))
    for m in methods:
        cells = []
        for c in COLUMNS:
            values = np.array([r[m][c] for r in runs])
            cells.append(f"{values.mean():.3f} +- {values.std():.3f}".rjust(21))
        print(f"{m:<{width}}  " + "  ".join(cells))

    def mean(method: str, column: str) -> float:
        return float(np.mean([r[method][column] for r in runs]))

    best = max(methods[1:], key=lambda m: mean(m, "minority recall"))
    print()
    print(
        f"best minority recall: {best}, {mean(best, 'minority recall'):.3f} vs baseline "
        f"{mean('baseline', 'minority recall'):.3f} "
        f"({100 * (mean(best, 'minority recall') - mean('baseline', 'minority recall')):+.1f} "
        f"points); balanced accuracy {mean(best, 'balanced accuracy'):.3f} vs "
        f"{mean('baseline', 'balanced accuracy'):.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
