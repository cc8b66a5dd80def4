"""Architectures benchmark (lesson 11): depth with and without shortcuts, a tiny vision
transformer against a CNN, and multimodal fusion against each modality alone.

Every model is the lesson's own: the residual block, attention-free patching and the networks
come from ``solutions/11-architectures`` (the learner's exercises, loaded as their solutions).
For each seed the data are split once (stratified 70/15/15) and every model of a part trains on
the same training images; the test set is only scored. Three tables, one per part, with the
mean and spread over the seeds side by side:

1. **Depth.** Plain and residual networks of the same depth (``--blocks`` blocks per stage:
   ``6 * blocks + 2`` layers, 32 by default) on the 16x16 digits: final training loss and test
   accuracy. The residual network should end with the lower training loss (the degradation
   problem) and the higher accuracy.
2. **Data efficiency.** The lesson's tiny ViT and its small CNN (about the same number of
   parameters) at three training-set sizes, each with the same number of weight updates
   (smaller sets get more epochs): where each wins.
3. **Fusion.** On ``data.load("parcels")`` (a handwritten zone digit and a note; the class needs
   both): the image-only CNN, the note-only model, early fusion (one model on both) and late
   fusion (the two single models' log-probabilities added).

No figure is asserted. Measured on a 2-core CPU (3 seeds, 6 min 40 s): 32 layers, residual
minus plain +26.7 accuracy points (min +17.5), lower training loss in 3 of 3 seeds; the CNN
ahead of the ViT by 8.5, 3.6 and 1.0 points at 157, 419 and 1,259 images; early and late
fusion 37 and 40 points above the better single modality.

    .venv/bin/python bench/architectures.py           # 3 seeds (about 7 minutes on 2 cores)
    .venv/bin/python bench/architectures.py --quick   # smoke run: 1 seed, few epochs
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import course  # noqa: E402

LESSON = "11-architectures"


def _fit(model, X, y, epochs: int, lr: float = 3e-3):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy")
    return model.fit(X, y, epochs=epochs, batch_size=32, verbose=0)


def _accuracy(model, X, y) -> float:
    import keras

    return float(np.mean(keras.ops.convert_to_numpy(model(X, training=False)).argmax(1) == y))


def depth(lesson: dict, split, *, blocks: int, epochs: int, seed: int) -> dict[str, tuple]:
    """(final training loss, test accuracy) of the plain and the residual network."""
    import keras

    (X, y), _, (X_test, y_test) = split
    out = {}
    for name, block in (("plain", lesson["plain_block"]), ("residual", lesson["residual_block"])):
        keras.utils.set_random_seed(seed)
        model = lesson["deep_cnn"](block, blocks, name=name)
        history = _fit(model, X, y, epochs)
        out[name] = (history.history["loss"][-1], _accuracy(model, X_test, y_test))
    return out


def data_efficiency(lesson: dict, split, *, sizes, epochs: int, seed: int, side: int = 4):
    """Test accuracy of the small CNN and the tiny ViT at each training-set size."""
    import keras

    (X, y), _, (X_test, y_test) = split
    patch = X.shape[1] // side
    P, P_test = lesson["patchify"](X, patch), lesson["patchify"](X_test, patch)
    out = {}
    for size in sizes:
        run_epochs = int(np.ceil(epochs * len(X) / size))  # the same number of updates
        keras.utils.set_random_seed(seed)
        cnn = lesson["small_cnn"]()
        _fit(cnn, X[:size], y[:size], run_epochs)
        keras.utils.set_random_seed(seed)
        vit = lesson["tiny_vit"](P.shape[1], P.shape[2])[0]
        _fit(vit, P[:size], y[:size], run_epochs)
        out[size] = (_accuracy(cnn, X_test, y_test), _accuracy(vit, P_test, y_test))
    return out


def fusion(*, epochs: int, seed: int) -> dict[str, float]:
    """Test accuracy of image-only, text-only, early and late fusion on the parcels."""
    import keras
    from keras import layers

    from course import data

    ds = data.load("parcels", image_size=16)
    train, _, test = data.split_indices(ds.labels, seed=seed)
    images, labels = ds.images.astype("float32") / 255.0, ds.labels
    vectorize = layers.TextVectorization(max_tokens=200, output_sequence_length=10)
    vectorize.adapt(np.array(ds.texts)[train])
    tokens = keras.ops.convert_to_numpy(vectorize(np.array(ds.texts)))
    vocabulary = len(vectorize.get_vocabulary())

    def model_of(kind):
        image_in = keras.Input(images.shape[1:])
        text_in = keras.Input(tokens.shape[1:], dtype="int32")
        feats, ins = [], []
        if kind != "text":
            x = layers.Conv2D(16, 3, padding="same", activation="relu")(image_in)
            x = layers.Conv2D(32, 3, padding="same", activation="relu")(layers.MaxPooling2D()(x))
            x = layers.Conv2D(32, 3, padding="same", activation="relu")(layers.MaxPooling2D()(x))
            feats.append(layers.GlobalAveragePooling2D()(x))
            ins.append(image_in)
        if kind != "image":
            embedded = layers.Embedding(vocabulary, 16, mask_zero=True)(text_in)
            feats.append(layers.GlobalAveragePooling1D()(embedded))
            ins.append(text_in)
        x = layers.Concatenate()(feats) if len(feats) > 1 else feats[0]
        x = layers.Dense(32, activation="relu")(x)
        return keras.Model(ins, layers.Dense(ds.num_classes, activation="softmax")(x))

    inputs = {"image": [images], "text": [tokens], "early fusion": [images, tokens]}
    probs = {}
    for kind, arrays in inputs.items():
        keras.utils.set_random_seed(seed)
        model = model_of(kind)
        _fit(model, [a[train] for a in arrays], labels[train], epochs)
        probs[kind] = keras.ops.convert_to_numpy(model([a[test] for a in arrays], training=False))
    probs["late fusion"] = np.log(probs["image"] + 1e-7) + np.log(probs["text"] + 1e-7)
    return {kind: float(np.mean(p.argmax(1) == labels[test])) for kind, p in probs.items()}


def _cell(values) -> str:
    a = np.asarray(values, dtype=float)
    return f"{a.mean():.3f} +- {a.std():.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=5, help="blocks per stage (6n+2 layers)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of the deep networks")
    parser.add_argument("--vit-epochs", type=int, default=15, help="epochs at the largest size")
    parser.add_argument("--fusion-epochs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, few epochs")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.blocks, args.epochs, args.vit_epochs, args.fusion_epochs = 1, 2, 1, 2, 2
    course.setup(seed=0, verbose=False)
    from autograder import solution_code
    from course import data

    ds = data.load("digits", image_size=16)
    lesson = solution_code.load(LESSON)
    seeds = range(args.seeds)
    depths, efficiency, fused = [], [], []
    for seed in seeds:
        split = data.split(ds.images.astype("float32") / 255.0, ds.labels, seed=seed)
        (X_train, _), _, _ = split
        lesson.update(X_train=X_train, num_classes=ds.num_classes)  # the lesson's globals
        n = len(X_train)
        sizes = (n // 8, n // 3, n)
        start = time.perf_counter()
        depths.append(depth(lesson, split, blocks=args.blocks, epochs=args.epochs, seed=seed))
        efficiency.append(
            data_efficiency(lesson, split, sizes=sizes, epochs=args.vit_epochs, seed=seed)
        )
        fused.append(fusion(epochs=args.fusion_epochs, seed=seed))
        print(f"seed {seed}: done in {time.perf_counter() - start:.0f} s", flush=True)

    layers = 6 * args.blocks + 2
    print(f"\n1. depth: plain vs residual, {layers} layers, {args.epochs} epochs, "
          f"{args.seeds} seed(s)")  # fmt: skip
    print(f"{'network':>10}  {'final training loss':>20}  {'test accuracy':>15}")
    for name in ("plain", "residual"):
        losses = [d[name][0] for d in depths]
        accs = [d[name][1] for d in depths]
        print(f"{name:>10}  {_cell(losses):>20}  {_cell(accs):>15}")
    gain = [d["residual"][1] - d["plain"][1] for d in depths]
    lower = sum(d["residual"][0] < d["plain"][0] for d in depths)
    print(
        f"residual - plain: {100 * np.mean(gain):+.1f} accuracy points "
        f"(min {100 * np.min(gain):+.1f}); lower training loss in {lower} of {args.seeds} seed(s)"
    )

    print(f"\n2. data efficiency: small CNN vs tiny ViT, the same updates at every size "
          f"({args.vit_epochs} epochs at the largest)")  # fmt: skip
    print(f"{'training images':>15}  {'CNN':>15}  {'ViT':>15}  {'ViT - CNN':>10}  winner")
    for size in efficiency[0]:
        cnn = [e[size][0] for e in efficiency]
        vit = [e[size][1] for e in efficiency]
        diff = 100 * (np.mean(vit) - np.mean(cnn))
        winner = "ViT" if diff > 0 else "CNN"
        print(f"{size:>15}  {_cell(cnn):>15}  {_cell(vit):>15}  {diff:>+9.1f}  {winner}")
    cnn_params = lesson["small_cnn"]().count_params()
    side = 16 // 4
    vit_params = lesson["tiny_vit"](side * side, 16)[0].count_params()
    print(f"parameters: CNN {cnn_params:,}, ViT {vit_params:,}")

    print(f"\n3. fusion on the parcels, {args.fusion_epochs} epochs")
    print(f"{'model':>13}  {'test accuracy':>15}")
    for kind in fused[0]:
        print(f"{kind:>13}  {_cell([f[kind] for f in fused]):>15}")
    best_single = max(np.mean([f["image"] for f in fused]), np.mean([f["text"] for f in fused]))
    for kind in ("early fusion", "late fusion"):
        lead = 100 * (np.mean([f[kind] for f in fused]) - best_single)
        print(f"{kind} - best single modality: {lead:+.1f} points")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
