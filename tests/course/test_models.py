"""course.models: the reference CNN builds for any image shape and trains the reference way."""

import subprocess
import sys

import numpy as np
import pytest

from course import models


@pytest.fixture(scope="module")
def keras():
    import course

    course.setup(seed=0, verbose=False)
    import keras

    return keras


def test_importing_models_does_not_import_keras_or_tensorflow():
    code = "import course.models, sys; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_digits_cnn_maps_any_image_shape_to_class_probabilities(keras):
    for shape, classes in (((16, 16, 1), 10), ((32, 24, 3), 3)):
        model = models.digits_cnn(shape, classes)
        out = keras.ops.convert_to_numpy(model(np.random.rand(2, *shape).astype("float32")))
        assert out.shape == (2, classes)
        assert np.allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_digits_cnn_uses_batch_norm_momentum_0_9_by_default(keras):
    model = models.digits_cnn((16, 16, 1), 10)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == 4 and all(layer.momentum == 0.9 for layer in bns)
    slow = models.digits_cnn((16, 16, 1), 10, bn_momentum=0.99)
    assert all(
        layer.momentum == 0.99
        for layer in slow.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )


def test_digits_cnn_augments_only_when_asked_and_only_in_training(keras):
    x = np.random.default_rng(0).random((4, 16, 16, 1)).astype("float32")
    with_aug = models.digits_cnn((16, 16, 1), 10, dropout=0.0)
    assert with_aug.get_layer("augmentation") is not None
    first = keras.ops.convert_to_numpy(with_aug(x, training=False))
    again = keras.ops.convert_to_numpy(with_aug(x, training=False))
    assert np.allclose(first, again)  # inference is deterministic
    plain = models.digits_cnn((16, 16, 1), 10, augment=False)
    assert "augmentation" not in [layer.name for layer in plain.layers]


def test_digits_cnn_is_compiled_with_adam_and_a_cosine_schedule_when_given_the_run_length(keras):
    model = models.digits_cnn((8, 8, 1), 4, lr=1e-2, epochs=5, steps_per_epoch=10)
    assert model.optimizer is not None and model.loss == "sparse_categorical_crossentropy"
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert float(schedule(0)) == pytest.approx(1e-2) and float(schedule(50)) == pytest.approx(0)
    assert not models.digits_cnn((8, 8, 1), 4, compile=False).compiled


def test_digits_cnn_adds_l2_penalties_when_asked(keras):
    model = models.digits_cnn((8, 8, 1), 3, l2=1e-3, augment=False)
    model(np.zeros((1, 8, 8, 1), "float32"))
    assert len(model.losses) == 5  # four convolutions and the output layer


def test_digits_cnn_explains_wrong_arguments():
    with pytest.raises(ValueError, match=r"drop the batch axis"):
        models.digits_cnn((10, 16, 16, 1), 10)
    with pytest.raises(ValueError, match="at least 4x4"):
        models.digits_cnn((2, 2, 1), 10)
    with pytest.raises(ValueError, match="num_classes"):
        models.digits_cnn((16, 16, 1), 1)
    with pytest.raises(ValueError, match="dropout"):
        models.digits_cnn((16, 16, 1), 10, dropout=1.0)


def test_augmentation_keeps_shapes_and_is_the_identity_at_inference(keras):
    x = np.random.default_rng(1).random((3, 12, 12, 3)).astype("float32")
    layer = models.augmentation()
    assert np.allclose(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    varied = keras.ops.convert_to_numpy(layer(x, training=True))
    assert varied.shape == x.shape and not np.allclose(varied, x)


def test_fit_reference_learns_a_separable_toy_problem_from_uint8_images(keras):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 40)
    X = rng.integers(0, 60, size=(80, 8, 8, 1)).astype(np.uint8)
    X[y == 1, :4] += 180  # class 1: a bright top half
    model, history = models.fit_reference(X, y, epochs=20, batch_size=16, augment=False)
    assert len(history.epoch) == 20
    probs = model.predict(X.astype("float32") / 255.0, verbose=0)
    assert probs.shape == (80, 2)
    assert np.mean(probs.argmax(axis=1) == y) >= 0.9


def test_fit_reference_explains_mismatched_inputs():
    with pytest.raises(ValueError, match="one label per image"):
        models.fit_reference(np.zeros((4, 8, 8, 1), np.uint8), [0, 1], epochs=1)
    with pytest.raises(ValueError, match=r"X\[\.\.\., None\]"):
        models.fit_reference(np.zeros((4, 8, 8), np.uint8), [0, 1, 0, 1], epochs=1)
