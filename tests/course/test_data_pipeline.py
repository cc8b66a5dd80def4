"""The tf.data pipeline: batches, scaling, shuffling, augmentation. (Imports TensorFlow.)"""

import numpy as np
import pytest

from course import data

tf = pytest.importorskip("tensorflow")


@pytest.fixture
def Xy():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(70, 8, 8, 3), dtype=np.uint8)
    y = np.arange(70) % 5
    return X, y


def _batches(ds):
    return [tuple(np.asarray(t) for t in batch) for batch in ds]


def test_pipeline_batches_have_the_right_shapes_and_dtypes(Xy):
    X, y = Xy
    batches = _batches(data.pipeline(X, y, batch_size=32))
    assert [len(b[0]) for b in batches] == [32, 32, 6]
    images, labels = batches[0]
    assert images.shape == (32, 8, 8, 3) and images.dtype == np.float32
    assert labels.shape == (32,)


def test_pipeline_scales_uint8_to_0_1(Xy):
    X, y = Xy
    images, _ = _batches(data.pipeline(X, y, batch_size=70))[0]
    np.testing.assert_allclose(images, X / 255.0, rtol=1e-6)


def test_pipeline_passes_float_images_through_unscaled(Xy):
    X, y = Xy
    images, _ = _batches(data.pipeline(X.astype(np.float32), y, batch_size=70))[0]
    np.testing.assert_array_equal(images, X.astype(np.float32))


def test_pipeline_without_labels_yields_images_only(Xy):
    X, _ = Xy
    first = next(iter(data.pipeline(X, batch_size=10)))
    assert tuple(first.shape) == (10, 8, 8, 3)


def test_pipeline_drop_remainder_keeps_only_full_batches(Xy):
    X, y = Xy
    assert [len(b[0]) for b in _batches(data.pipeline(X, y, drop_remainder=True))] == [32, 32]


def test_pipeline_shuffle_is_deterministic_from_the_seed(Xy):
    X, y = Xy
    a = np.concatenate([b[1] for b in _batches(data.pipeline(X, y, shuffle=True, seed=1))])
    b = np.concatenate([b[1] for b in _batches(data.pipeline(X, y, shuffle=True, seed=1))])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, y)
    assert sorted(a.tolist()) == sorted(y.tolist())


def test_pipeline_shuffle_keeps_images_with_their_labels(Xy):
    X, _ = Xy
    ids = np.arange(70)
    X_ids = (np.ones_like(X) * ids[:, None, None, None]).astype(np.uint8)
    for images, labels in _batches(data.pipeline(X_ids, ids, shuffle=True, scale=False)):
        np.testing.assert_array_equal(images[:, 0, 0, 0], labels)


def test_pipeline_applies_augmentation_and_keeps_labels_aligned(Xy):
    import keras

    X, y = Xy
    flip = keras.layers.RandomFlip("horizontal", seed=0)
    plain = _batches(data.pipeline(X, y, batch_size=70))[0]
    augmented = _batches(data.pipeline(X, y, batch_size=70, augment=flip))[0]
    assert not np.array_equal(plain[0], augmented[0])
    np.testing.assert_array_equal(plain[1], augmented[1])
    flipped = [np.array_equal(a, p[:, ::-1]) for a, p in zip(augmented[0], plain[0], strict=True)]
    kept = [np.array_equal(a, p) for a, p in zip(augmented[0], plain[0], strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True)) and any(flipped)


def test_pipeline_accepts_a_plain_function_as_augmentation(Xy):
    X, y = Xy
    images, _ = _batches(data.pipeline(X, y, batch_size=70, augment=lambda b: 1.0 - b))[0]
    np.testing.assert_allclose(images, 1.0 - X / 255.0, rtol=1e-5, atol=1e-6)


def test_pipeline_without_a_channel_axis_says_how_to_add_one():
    with pytest.raises(
        ValueError, match=r"got \(64, 8, 8\): add a channel axis with X\[..., None\]"
    ):
        data.pipeline(np.zeros((64, 8, 8), np.uint8))


def test_pipeline_rejects_mismatched_labels(Xy):
    X, y = Xy
    with pytest.raises(ValueError, match="70 images and 69 labels"):
        data.pipeline(X, y[:-1])
