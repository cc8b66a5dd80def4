"""Mobile benchmark: the reference digits CNN as LiteRT models, quantised and pruned, in one run.

On one stratified 80/20 split of the bundled digits (16x16), the course's reference CNN
(``models.fit_reference``) is trained, converted to the four LiteRT variants (float32,
dynamic range, float16, full int8 with float32 I/O) plus full int8 with int8 I/O, and every
model is measured side by side: file size, how many times smaller than the float32 file,
median latency at batch 1 and batch 256, test accuracy and its difference from Keras. The
int8 file's bytes are split into weights and graph (tensor names, operators, per-channel
scales and zero points), which does not shrink with quantisation. Then copies of the model
are pruned to each sparsity while fine-tuning (``mobile.PruningCallback``), and their
accuracy, sparsity and gzip-compressed sizes are printed against the dense model's.

The same is run for a wider twin of the reference CNN (64 and 128 filters), whose weights
outweigh the graph, to show where the int8/float32 ratio goes as a model grows. The project's
figure to check: full int8 at least 3.5x smaller than float32 and at most 0.5 accuracy points
lost. No figure is asserted: the numbers are printed to be read.

    .venv/bin/python bench/mobile.py              # 40 epochs, reference and wide CNN
    .venv/bin/python bench/mobile.py --quick      # smoke run: 3 epochs, 1 prune epoch
    .venv/bin/python bench/mobile.py --widths 32,64 --sparsities 0.5 0.8 0.9
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import course  # noqa: E402


def _widths(text: str) -> tuple[int, int]:
    first, second = (int(v) for v in text.split(","))
    return first, second


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=40, help="epochs for the reference CNN")
    parser.add_argument("--image-size", type=int, default=16, help="digits' side (px)")
    parser.add_argument("--widths", type=_widths, nargs="+", default=[(32, 64), (64, 128)],
                        help="filters of the two conv blocks, one model each")  # fmt: skip
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.5, 0.8])
    parser.add_argument("--prune-epochs", type=int, default=4, help="fine-tuning while pruning")
    parser.add_argument("--calibration", type=int, default=200, help="representative images")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="LiteRT threads")
    parser.add_argument("--seed", type=int, default=0, help="split and weight seed")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 epochs, 1 prune epoch")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.prune_epochs = 3, 1

    course.setup(seed=args.seed, verbose=False)
    import keras

    from course import data, mobile, models
    from course.table import Table

    ds = data.load("digits", image_size=args.image_size)
    (X_train, y_train), _, (X_test, y_test) = data.split(
        ds.images, ds.labels, val=0.0, test=0.2, seed=args.seed
    )
    X_train = (X_train / 255.0).astype(np.float32)
    X_test = (X_test / 255.0).astype(np.float32)
    rep = X_train[: args.calibration]  # convert() calibrates on the first images given
    print(
        f"digits {args.image_size}x{args.image_size}: train {len(X_train)}, test {len(X_test)} "
        f"(stratified, seed {args.seed}); {args.epochs} epochs; {args.calibration} calibration "
        f"images; LiteRT runtime: {mobile.runtime()}, {args.threads} thread(s)",
        flush=True,
    )

    verdicts = []
    for filters in args.widths:
        name = f"CNN {filters[0]}/{filters[1]} filters"
        start = time.perf_counter()
        model, _ = models.fit_reference(
            X_train, y_train, epochs=args.epochs, filters=filters, seed=args.seed
        )
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        lite = mobile.convert_all(model, rep)
        lite["int8, int8 I/O"] = mobile.convert(model, "int8", representative_data=rep,
                                                int8_io=True)  # fmt: skip
        convert_s = time.perf_counter() - start
        print(
            f"\n== {name}: {model.count_params():,} parameters, trained in {fit_s:.0f} s, "
            f"5 conversions in {convert_s:.1f} s",
            flush=True,
        )
        table = mobile.compare(model, lite, X_test, y_test, num_threads=args.threads)
        print(table)
        f32, i8 = mobile.size_breakdown(lite["float32"]), mobile.size_breakdown(lite["int8"])
        print(
            f"int8 vs float32: file {f32['total'] / i8['total']:.2f}x smaller; weights "
            f"{f32['weights'] / 1024:.1f} -> {i8['weights'] / 1024:.1f} KB "
            f"({f32['weights'] / i8['weights']:.2f}x); graph, names and quantisation "
            f"parameters {f32['other'] / 1024:.1f} -> {i8['other'] / 1024:.1f} KB"
        )
        stripped = {k: mobile.strip_names(v) for k, v in lite.items()}
        same = all(
            np.array_equal(
                mobile.LiteModel(stripped[k]).predict(X_test[:256]),
                mobile.LiteModel(lite[k]).predict(X_test[:256]),
            )
            for k in ("float32", "int8", "int8, int8 I/O")
        )
        print(
            "without tensor names (mobile.strip_names, TensorFlow's strip_strings; predictions "
            f"{'identical' if same else 'DIFFER'}): float32 {len(stripped['float32']) / 1024:.1f}"
            f" KB, int8 {len(stripped['int8']) / 1024:.1f} KB, int8 I/O "
            f"{len(stripped['int8, int8 I/O']) / 1024:.1f} KB"
        )
        for variant in ("int8", "int8, int8 I/O"):
            row = table.row(variant)
            ok = row["x smaller"] >= 3.5 and row["delta pts"] >= -0.5
            verdicts.append(
                f"{name}, {variant}: {row['x smaller']:.2f}x smaller than float32, "
                f"{row['delta pts']:+.2f} accuracy points vs Keras -> "
                f"{'meets' if ok else 'MISSES'} (>= 3.5x, >= -0.5 pts)"
            )
            ratio = len(stripped["float32"]) / len(stripped[variant])
            fine = ratio >= 3.5 and row["delta pts"] >= -0.5 and same
            verdicts.append(
                f"{name}, {variant}, both without names: {ratio:.2f}x smaller, predictions "
                f"{'identical' if same else 'DIFFER'} -> {'meets' if fine else 'MISSES'}"
            )

        keras_acc = table.row("Keras")["accuracy"]
        dense_gz = mobile.compressed_size(lite["float32"])
        rows = [{
            "model": "dense", "sparsity": 0.0, "accuracy": keras_acc, "delta pts": 0.0,
            "f32 KB": len(lite["float32"]) / 1024, "f32 gz KB": dense_gz / 1024,
            "int8 KB": len(lite["int8"]) / 1024,
            "int8 gz KB": mobile.compressed_size(lite["int8"]) / 1024,
            "gz x smaller": 1.0, "fine-tune s": 0.0,
        }]  # fmt: skip
        for target in args.sparsities:
            pruned = keras.models.clone_model(model)
            pruned.set_weights(model.get_weights())
            pruned.compile(optimizer=keras.optimizers.Adam(1e-3),
                           loss="sparse_categorical_crossentropy")  # fmt: skip
            keras.utils.set_random_seed(args.seed)
            start = time.perf_counter()
            pruned.fit(X_train, y_train, epochs=args.prune_epochs, batch_size=64, verbose=0,
                       callbacks=[mobile.PruningCallback(target)])  # fmt: skip
            tune_s = time.perf_counter() - start
            acc = float(np.mean(pruned.predict(X_test, verbose=0).argmax(axis=1) == y_test))
            f32_p = mobile.convert(pruned)
            i8_p = mobile.convert(pruned, "int8", representative_data=rep)
            i8_gz = mobile.compressed_size(i8_p)
            rows.append({
                "model": f"pruned {target:.0%}",
                "sparsity": mobile.sparsity(pruned).row("overall")["sparsity"],
                "accuracy": acc, "delta pts": 100 * (acc - keras_acc),
                "f32 KB": len(f32_p) / 1024, "f32 gz KB": mobile.compressed_size(f32_p) / 1024,
                "int8 KB": len(i8_p) / 1024, "int8 gz KB": i8_gz / 1024,
                "gz x smaller": dense_gz / i8_gz, "fine-tune s": tune_s,
            })  # fmt: skip
        print()
        print(Table(rows, digits=3, title=(
            f"pruning while fine-tuning ({args.prune_epochs} epochs, polynomial schedule, layers "
            f">= {mobile.MIN_WEIGHTS} weights); sizes of .tflite files, gz = gzip -9; "
            "'gz x smaller' = dense float32 gz / pruned int8 gz")))  # fmt: skip

    print("\nthe project's figure (full int8 vs float32 on the digits test set):")
    for line in verdicts:
        print("  " + line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
