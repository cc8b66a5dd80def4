"""course.mobile: LiteRT conversion, on-device inference, measurement and magnitude pruning.

Real models throughout: a small CNN trained on the bundled 8x8 digits for a few seconds,
converted to every variant once per module.

Tolerances, measured on this model with margin: float32 LiteRT matches Keras to 1e-5 in
probability (the same float arithmetic, reordered); float16 weights to 5e-3; int8 and dynamic
range to 0.1, with the int8 model's test accuracy at most 2 points below Keras's.
"""

import gzip
import subprocess
import sys

import numpy as np
import pytest

import course

course.setup(seed=0, verbose=False)

import keras  # noqa: E402

from course import data, mobile, models  # noqa: E402
from course.mobile import interpreter  # noqa: E402
from course.table import Table  # noqa: E402

layers = keras.layers


@pytest.fixture(scope="module")
def digits():
    ds = data.load("digits")
    (X_train, y_train), _, (X_test, y_test) = data.split(
        ds.images, ds.labels, val=0.0, test=0.25, seed=0
    )
    return X_train / np.float32(255), y_train, X_test / np.float32(255), y_test


@pytest.fixture(scope="module")
def model(digits):
    """The reference CNN, narrower, with its augmentation layers (they must not be converted)."""
    X_train, y_train, _, _ = digits
    keras.utils.set_random_seed(0)
    net = models.digits_cnn((8, 8, 1), 10, filters=(16, 32), epochs=8, steps_per_epoch=34)
    net.fit(X_train, y_train, epochs=8, batch_size=32, verbose=0)
    return net


@pytest.fixture(scope="module")
def lite(model, digits):
    rep = digits[0][:100]
    out = mobile.convert_all(model, rep)
    out["int8 I/O"] = mobile.convert(model, "int8", representative_data=rep, int8_io=True)
    return out


def keras_probs(model, X):
    return keras.ops.convert_to_numpy(model(X, training=False))


def test_importing_course_mobile_loads_neither_tensorflow_nor_keras():
    code = "import sys, course.mobile; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_the_interpreter_is_ai_edge_litert():
    assert mobile.runtime() == "ai-edge-litert"


def test_without_ai_edge_litert_the_deprecated_tf_lite_interpreter_is_used(monkeypatch, lite):
    interpreter._interpreter_class.cache_clear()
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # import fails
    try:
        assert mobile.runtime().startswith("tf.lite.Interpreter")
        runner = mobile.LiteModel(lite["float32"])
        assert runner.runtime.startswith("tf.lite") and "deprecated" in runner.runtime
        assert runner.predict(np.zeros((2, 8, 8, 1), np.float32)).shape == (2, 10)
    finally:
        interpreter._interpreter_class.cache_clear()


def test_every_variant_converts_to_a_flatbuffer_that_runs(lite, digits):
    X_test = digits[2]
    for name, content in lite.items():
        assert content[4:8] == b"TFL3", name
        probs = mobile.LiteModel(content).predict(X_test[:50])
        assert probs.shape == (50, 10) and probs.dtype == np.float32, name
        assert np.allclose(probs.sum(axis=1), 1.0, atol=0.02), name


def test_float32_and_float16_match_keras(model, lite, digits):
    X_test = digits[2]
    expected = keras_probs(model, X_test)
    assert np.abs(mobile.LiteModel(lite["float32"]).predict(X_test) - expected).max() < 1e-5
    assert np.abs(mobile.LiteModel(lite["float16"]).predict(X_test) - expected).max() < 5e-3


def test_quantised_variants_stay_close_and_int8_keeps_the_accuracy(model, lite, digits):
    _, _, X_test, y_test = digits
    expected = keras_probs(model, X_test)
    keras_acc = np.mean(expected.argmax(axis=1) == y_test)
    assert keras_acc > 0.9, "the test model itself should have learned the digits"
    for name in ("dynamic", "int8", "int8 I/O"):
        probs = mobile.LiteModel(lite[name]).predict(X_test)
        assert np.abs(probs - expected).max() < 0.1, name
        assert np.mean(probs.argmax(axis=1) == y_test) >= keras_acc - 0.02, name


def test_the_conversion_runs_the_model_in_inference_mode():
    """Augmentation and dropout are off in the flatbuffer: repeated calls agree with Keras."""
    inputs = keras.Input((8, 8, 1))
    x = layers.RandomFlip()(inputs)
    x = layers.RandomRotation(0.2)(x)
    x = layers.Dropout(0.5)(layers.Flatten()(x))
    net = keras.Model(inputs, layers.Dense(3, activation="softmax")(x))
    X = np.random.default_rng(0).random((6, 8, 8, 1)).astype(np.float32)
    runner = mobile.LiteModel(mobile.convert(net))
    assert np.allclose(runner.predict(X), runner.predict(X))
    assert np.abs(runner.predict(X) - keras_probs(net, X)).max() < 1e-5


def test_full_int8_is_integer_inside_and_int8_io_makes_input_and_output_int8(lite):
    for name in ("int8", "int8 I/O"):
        runner = mobile.LiteModel(lite[name])
        tensors = runner.interpreter.get_tensor_details()
        kernels = [t for t in tensors if len(t["shape"]) in (2, 4) and t["name"].endswith(
            ("convolution", "MatMul"))]  # fmt: skip
        assert len(kernels) == 5, [t["name"] for t in tensors]
        assert all(t["dtype"] == np.int8 for t in kernels)
        assert all(len(t["quantization_parameters"]["scales"]) > 1 for t in kernels), (
            "weights are quantised per output channel"
        )
        activations = [t for t in tensors if t["shape"][0] == 1 and len(t["shape"]) == 4]
        assert sum(t["dtype"] == np.int8 for t in activations) >= 4
    float_io = mobile.LiteModel(lite["int8"])
    assert float_io.input_details["dtype"] == np.float32
    assert float_io.output_details["dtype"] == np.float32
    int_io = mobile.LiteModel(lite["int8 I/O"])
    assert int_io.input_details["dtype"] == np.int8
    assert int_io.output_details["dtype"] == np.int8
    scale, zero_point = int_io.input_details["quantization"]
    assert scale == pytest.approx(1 / 255, rel=0.01) and zero_point == -128  # inputs in 0-1
    assert "int8, scale" in int_io.summary()


def test_int8_io_quantises_inputs_and_dequantises_outputs(lite, digits):
    X = digits[2][:40]
    int_io, float_io = mobile.LiteModel(lite["int8 I/O"]), mobile.LiteModel(lite["int8"])
    scale, zero_point = int_io.input_details["quantization"]
    q = int_io.quantize(X)
    assert q.dtype == np.int8
    assert np.array_equal(q, np.clip(np.round(X / scale) + zero_point, -128, 127).astype(np.int8))
    probs = int_io.predict(X)
    assert probs.dtype == np.float32 and probs.min() >= 0 and probs.max() <= 1
    out_scale = int_io.output_details["quantization"][0]
    assert np.abs(probs - float_io.predict(X)).max() <= 2 * out_scale + 1e-6
    assert np.array_equal(int_io.predict(q), probs), "int8 images pass through unchanged"
    raw = int_io.run(q[:3])
    assert raw.dtype == np.int8 and np.allclose(int_io.dequantize(raw), probs[:3])


def test_predict_takes_a_batch_of_any_size(lite, digits):
    X = digits[2][:300]
    runner = mobile.LiteModel(lite["float32"])
    whole = runner.predict(X)
    assert whole.shape == (300, 10)
    for batch_size in (1, 7, 128):
        assert np.allclose(runner.predict(X, batch_size=batch_size), whole, atol=1e-6)
    assert np.allclose(runner.predict(X[:1]), whole[:1], atol=1e-6)
    assert runner.predict(X[:0]).shape == (0, 10)


def test_sizes_shrink_as_expected(lite):
    size = {name: len(content) for name, content in lite.items()}
    assert size["float32"] > size["float16"] > size["int8"]
    assert size["float32"] > size["float16"] > size["dynamic"]
    weights = {name: mobile.size_breakdown(content) for name, content in lite.items()}
    for name, parts in weights.items():
        assert parts["total"] == size[name] == parts["weights"] + parts["other"]
    # the weights themselves shrink 2x and almost 4x; the graph around them doesn't shrink
    assert 1.95 < weights["float32"]["weights"] / weights["float16"]["weights"] < 2.01
    assert weights["float32"]["weights"] / weights["int8"]["weights"] > 3.8
    assert weights["int8"]["other"] > weights["float32"]["other"]


def test_stripping_names_makes_files_smaller_and_changes_no_prediction(lite, digits):
    X_test = digits[2][:64]
    for name in ("float32", "int8", "int8 I/O"):
        stripped = mobile.strip_names(lite[name])
        assert len(stripped) < len(lite[name])
        np.testing.assert_array_equal(
            mobile.LiteModel(stripped).predict(X_test), mobile.LiteModel(lite[name]).predict(X_test)
        )
        assert (
            mobile.size_breakdown(stripped)["weights"]
            == (mobile.size_breakdown(lite[name])["weights"])
        )


def test_lesson_10s_representative_dataset_yields_single_float32_samples(model, lite, digits):
    """The exercise's solution (the course package does not hold it) calibrates like an array."""
    from autograder import solution_code

    representative_dataset = solution_code.load("10-mobile-and-optimization")[
        "representative_dataset"
    ]
    X_train = digits[0]
    rep = representative_dataset(X_train.astype(np.float64), n=5)
    samples = list(rep())
    assert len(samples) == 5 and len(list(rep())) == 5, "each call starts over"
    for sample, image in zip(samples, X_train, strict=False):
        assert isinstance(sample, list) and len(sample) == 1
        assert sample[0].shape == (1, 8, 8, 1) and sample[0].dtype == np.float32
        assert np.allclose(sample[0][0], image)
    assert len(list(representative_dataset(X_train[:3], n=100)())) == 3
    content = mobile.convert(model, "int8", representative_data=representative_dataset(X_train))
    assert content == lite["int8"]


def test_a_representative_array_is_accepted_directly(model, lite, digits):
    content = mobile.convert(model, "int8", representative_data=digits[0][:100])
    assert content == lite["int8"]


def test_errors_for_bad_conversions_say_what_to_do(model, digits):
    X_train = digits[0]
    with pytest.raises(ValueError, match=r"representative_data=X_train\[:100\]"):
        mobile.convert(model, "int8")
    with pytest.raises(ValueError, match="float32, dynamic, float16, int8"):
        mobile.convert(model, "int4")
    with pytest.raises(ValueError, match="int8_io applies to full-int8"):
        mobile.convert(model, "float16", int8_io=True)
    with pytest.raises(TypeError, match="pass the function itself"):
        mobile.convert(model, "int8", representative_data=(x for x in [[X_train[:1]]]))
    with pytest.raises(ValueError, match=r"add the batch axis"):
        mobile.convert(model, "int8", representative_data=lambda: ([x] for x in X_train[:5]))
    with pytest.raises(TypeError, match=r"Yield \[x\], not x"):
        mobile.convert(model, "int8", representative_data=lambda: (x[None] for x in X_train[:5]))
    with pytest.raises(ValueError, match="Divide by 255"):
        mobile.convert(model, "int8", representative_data=(X_train * 255).astype(np.uint8))
    with pytest.raises(TypeError, match="expected a Keras model"):
        mobile.convert("model.keras")


def test_errors_for_bad_inputs_to_the_interpreter_say_what_to_do(lite, digits):
    runner = mobile.LiteModel(lite["int8"])
    X = digits[2]
    with pytest.raises(ValueError, match=r"pass image\[None\]"):
        runner.predict(X[0])
    with pytest.raises(ValueError, match=r"add a channel axis"):
        runner.predict(X[:4, :, :, 0])
    with pytest.raises(ValueError, match=r"converted for \(8, 8, 1\) images"):
        runner.predict(np.zeros((4, 16, 16, 1), np.float32))
    with pytest.raises(ValueError, match="Divide by 255"):
        runner.predict((X[:4] * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="not a LiteRT"):
        mobile.LiteModel(b"this is not a flatbuffer")
    with pytest.raises(TypeError, match="bytes of a .tflite"):
        mobile.LiteModel(12)


def test_compare_prints_one_row_per_model_with_ratios_and_accuracy(model, lite, digits):
    _, _, X_test, y_test = digits
    table = mobile.compare(model, lite, X_test, y_test, batch_sizes=(1, 64), repeats=3)
    assert table.column("model") == ["Keras", "float32", "dynamic", "float16", "int8", "int8 I/O"]
    assert table.row("float32")["x smaller"] == pytest.approx(1.0)
    assert table.row("int8")["x smaller"] > 2.5  # a tiny model: the graph weighs too
    assert table.row("float32")["delta pts"] == pytest.approx(0.0)
    for row in table:
        assert row["ms @1"] > 0 and row["ms @64"] > 0 and 0.9 <= row["accuracy"] <= 1.0
    text = str(table)
    assert text.splitlines()[1].split() == [
        "model", "size", "KB", "x", "smaller", "ms", "@1", "ms", "@64", "accuracy", "delta",
        "pts"]  # fmt: skip
    assert "int8 I/O" in text and repr(table) == text


def test_latency_is_the_median_time_of_a_call():
    calls = []
    ms = mobile.latency(lambda x: calls.append(len(x)), np.zeros((5, 2)), batch_size=8, repeats=4)
    assert ms >= 0 and calls == [8] * 7  # 3 warm-up calls, 4 timed, images repeated to 8


def test_polynomial_schedule_rises_fast_then_slowly_to_the_target():
    s = [mobile.polynomial_sparsity(t, 0.8, begin_step=10, end_step=110) for t in range(0, 130)]
    assert s[0] == 0.0 and s[10] == 0.0 and s[110] == pytest.approx(0.8) and s[129] == 0.8
    assert all(b >= a for a, b in zip(s, s[1:], strict=False))
    assert s[60] == pytest.approx(0.8 - 0.8 * 0.5**3)  # halfway: 7/8 of the way there
    assert mobile.polynomial_sparsity(5, 0.5, end_step=0) == 0.5


def _clone(model):
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def test_prune_zeroes_the_smallest_weights_to_the_requested_sparsity(model):
    pruned = _clone(model)
    masks = mobile.prune(pruned, 0.6)
    report = mobile.sparsity(pruned)
    big = [layer for layer in masks]
    assert big == ["block1_conv2", "block2_conv1", "block2_conv2"], "small layers stay whole"
    for name in big:
        assert report.row(name)["sparsity"] == pytest.approx(0.6, abs=1e-3)
        before = np.abs(model.get_layer(name).get_weights()[0])
        after = pruned.get_layer(name).get_weights()[0]
        kept = before[after != 0]
        assert kept.min() >= before[after == 0].max(), "the largest weights are the ones kept"
    assert report.row("block1_conv1")["sparsity"] == 0.0 and report.row("probs")["sparsity"] == 0
    assert 0.5 < report.row("overall")["sparsity"] < 0.6
    assert type(pruned) is type(model), "a pruned model is still an ordinary Keras model"
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        mobile.prune(pruned, 80)


@pytest.mark.slow
def test_pruning_while_fine_tuning_reaches_the_target_and_keeps_pruned_weights_at_zero(
    model, lite, digits
):
    X_train, y_train, X_test, y_test = digits
    pruned = _clone(model)
    pruned.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    callback = mobile.PruningCallback(0.8, frequency=5)
    pruned.fit(X_train, y_train, epochs=3, batch_size=32, verbose=0, callbacks=[callback])
    steps = [s for s, _ in callback.schedule]
    levels = [level for _, level in callback.schedule]
    assert levels[0] == 0.0 and levels[-1] == pytest.approx(0.8)
    assert all(b >= a for a, b in zip(levels, levels[1:], strict=False))
    per_epoch = -(-len(X_train) // 32)
    assert steps[-1] == 2 * 3 * per_epoch // 3, "the target is reached at two thirds of the run"
    for name, mask in callback.masks.items():
        kernel = pruned.get_layer(name).get_weights()[0]
        assert np.all(kernel[np.asarray(mask) == 0] == 0), f"{name}: pruned weights came back"
        assert np.mean(kernel == 0) == pytest.approx(0.8, abs=1e-3)
    accuracy = np.mean(keras_probs(pruned, X_test).argmax(axis=1) == y_test)
    assert accuracy > 0.9, "fine-tuning recovers from 80% sparsity"
    # same file size, much smaller once compressed
    content = mobile.convert(pruned)
    assert abs(len(content) - len(lite["float32"])) < 64
    assert mobile.compressed_size(content) < 0.6 * mobile.compressed_size(lite["float32"])
    assert mobile.compressed_size(pruned) < 0.6 * mobile.compressed_size(model)


def test_compressed_size_is_the_gzip_size(tmp_path, lite):
    content = lite["float32"]
    assert mobile.compressed_size(content) == len(gzip.compress(content, 9, mtime=0))
    path = tmp_path / "model.tflite"
    path.write_bytes(content)
    assert mobile.compressed_size(path) == mobile.compressed_size(content)
    assert mobile.compressed_size(bytes(10_000)) < 100
    with pytest.raises(TypeError, match="bytes, a file path or a Keras model"):
        mobile.compressed_size(3.5)


def test_pruning_callback_needs_a_known_run_length_or_an_end_step(model):
    callback = mobile.PruningCallback(0.5)
    callback.set_model(_clone(model))
    callback.set_params({"epochs": 2, "steps": None})
    with pytest.raises(ValueError, match="pass end_step"):
        callback.on_train_begin()
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        mobile.PruningCallback(1.0)


def test_table_prints_aligned_columns_and_finds_rows():
    table = Table([{"name": "a", "x": 1.23456}, {"name": "bb", "x": None}], title="t")
    lines = str(table).splitlines()
    assert lines[0] == "t" and lines[1].split() == ["name", "x"]
    assert lines[3].split() == ["a", "1.235"] and lines[4].split() == ["bb", "-"]
    assert table.row("bb")["x"] is None and table.column("x")[0] == 1.23456
    with pytest.raises(KeyError, match="no row named 'c'"):
        table.row("c")
