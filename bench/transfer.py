"""Transfer benchmark: the shipped pretrained backbone against the same network from scratch.

The target task is lesson 07's: generated shapes of four classes (circle, square, triangle,
star) that the backbone never saw (it was trained on four other shapes, see ``course
pretrain``); ``--dataset digits`` runs the bundled digits instead. For each seed a stratified 30%
test set is held out and ``n`` labelled images per class are drawn from the rest; then, on the
same images:

- transfer: the pretrained backbone, frozen, with a new softmax head (feature extraction),
  then its top block fine-tuned at a low learning rate (batch norm kept frozen, so it stays
  in inference mode: in Keras 3, ``training=False`` alone does not, keras-team/keras#20285);
- scratch: the same architecture from random weights (batch norm learning its statistics),
  trained end to end with the same head.

Both get the same epochs of the same data. The table prints the mean and std test accuracy
over the seeds for each ``n``, and the gain. No figure is asserted.

    .venv/bin/python bench/transfer.py             # 3 seeds, 5/10/25 labels per class
    .venv/bin/python bench/transfer.py --quick     # smoke run: 1 seed, 10 labels, few epochs
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import course  # noqa: E402


def labelled(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` random indices of every class."""
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)]
    )


def train_pair(X, y, X_test, y_test, *, seed: int, epochs: int, fine_epochs: int) -> tuple:
    """Test accuracy of transfer (frozen, then fine-tuned) and of scratch on the same data."""
    import keras

    from course import models

    k = int(y.max()) + 1

    def head_on(base, *, pretrained):
        inputs = keras.Input(shape=X.shape[1:])
        # pretrained: batch norm stays in inference mode; scratch: it learns its statistics
        features = base(inputs, training=False) if pretrained else base(inputs)
        outputs = keras.layers.Dense(k, activation="softmax")(keras.layers.Dropout(0.3)(features))
        model = keras.Model(inputs, outputs)
        return model

    def compile_fit(model, lr, n_epochs):
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])  # fmt: skip
        model.fit(X, y, epochs=n_epochs, batch_size=16, verbose=0)

    def accuracy(model):
        return float(np.mean(model.predict(X_test, verbose=0).argmax(axis=1) == y_test))

    keras.utils.set_random_seed(seed)
    base = models.pretrained_backbone(X.shape[1:])
    transfer = head_on(base, pretrained=True)
    compile_fit(transfer, 3e-3, epochs)
    frozen = accuracy(transfer)
    base.trainable = True
    for layer in base.layers:  # the top block trains; batch norm stays frozen (inference mode)
        bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = layer.name.startswith("block3") and not bn
    compile_fit(transfer, 1e-4, fine_epochs)
    tuned = accuracy(transfer)

    keras.utils.set_random_seed(seed)
    scratch = head_on(models.backbone(), pretrained=False)
    compile_fit(scratch, 3e-3, epochs + fine_epochs)
    return frozen, tuned, accuracy(scratch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--labels", type=int, nargs="+", default=[5, 10, 25])
    parser.add_argument("--epochs", type=int, default=40, help="epochs of the head / scratch")
    parser.add_argument("--fine-epochs", type=int, default=10, help="epochs of fine-tuning")
    parser.add_argument("--dataset", choices=["shapes", "digits"], default="shapes")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 10 labels")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.labels, args.epochs, args.fine_epochs = 1, [10], 5, 2
    course.setup(seed=0, verbose=False)
    from course import data, models

    card = models.backbone_card()
    print(f"backbone: {card['source_task'][:70]}... held-out accuracy {card['held_out_accuracy']}")
    if args.dataset == "shapes":
        ds = data.load("shapes", per_class=400, channels=1)
    else:
        ds = data.load("digits", image_size=32)
    print(f"target: {ds.name}, classes {ds.class_names}")
    X, y = ds.images / np.float32(255), ds.labels
    rows: dict[int, list[tuple[float, float, float]]] = {n: [] for n in args.labels}
    for seed in range(args.seeds):
        (pool, test) = data.split_indices(y, val=0.0, test=0.3, seed=seed)[::2]
        for n in args.labels:
            start = time.perf_counter()
            train = pool[labelled(y[pool], n, seed)]
            result = train_pair(X[train], y[train], X[test], y[test], seed=seed,
                                epochs=args.epochs, fine_epochs=args.fine_epochs)  # fmt: skip
            rows[n].append(result)
            print(f"  seed {seed}, {n:>2} labels/class: frozen {result[0]:.3f}, fine-tuned "
                  f"{result[1]:.3f}, scratch {result[2]:.3f} ({time.perf_counter() - start:.0f} s)",
                  flush=True)  # fmt: skip
    print()
    print(f"{'labels/class':>12}  {'frozen':>15}  {'fine-tuned':>15}  {'scratch':>15}  "
          f"{'gain (fine-tuned - scratch)':>28}")  # fmt: skip
    for n, results in rows.items():
        a = np.array(results)
        cells = [f"{a[:, j].mean():.3f} +- {a[:, j].std():.3f}" for j in range(3)]
        gain = a[:, 1] - a[:, 2]
        print(f"{n:>12}  " + "  ".join(f"{c:>15}" for c in cells)
              + f"  {100 * gain.mean():+.1f} points (min {100 * gain.min():+.1f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
