"""The bundled digits: uint8 images with a channel axis, resizing, channels, limit."""

import numpy as np
import pytest

from course import data


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def test_digits_are_uint8_images_with_a_channel_axis(digits):
    assert digits.images.shape == (1797, 8, 8, 1)
    assert digits.images.dtype == np.uint8
    assert digits.labels.shape == (1797,)
    assert digits.labels.dtype == np.int64


def test_digits_span_the_full_0_to_255_range(digits):
    assert digits.images.min() == 0
    assert digits.images.max() == 255


def test_digits_values_are_the_sklearn_values_scaled_by_255_over_16(digits):
    from sklearn.datasets import load_digits

    raw = load_digits().images
    np.testing.assert_array_equal(digits.images[..., 0], np.rint(raw * 255 / 16).astype(np.uint8))


def test_digits_class_names_are_the_ten_digits(digits):
    assert digits.class_names == [str(d) for d in range(10)]
    assert digits.num_classes == 10


@pytest.mark.parametrize("size", [16, 32])
def test_digits_upsample_to_the_requested_size(size):
    ds = data.load("digits", image_size=size, limit=50)
    assert ds.images.shape == (50, size, size, 1)
    assert ds.images.dtype == np.uint8
    assert ds.images.max() > 200  # still bright strokes after resizing


def test_digits_with_three_channels_repeat_the_grey_channel():
    grey = data.load("digits", limit=30)
    rgb = data.load("digits", channels=3, limit=30)
    assert rgb.images.shape == (30, 8, 8, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb.images[..., c], grey.images[..., 0])


def test_digits_limit_keeps_every_class_balanced():
    ds = data.load("digits", limit=50)
    assert len(ds) == 50
    assert sorted(set(ds.labels.tolist())) == list(range(10))
    assert set(ds.counts().values()) == {5}


def test_digits_limit_is_deterministic_from_the_seed():
    a = data.load("digits", limit=40, seed=1)
    b = data.load("digits", limit=40, seed=1)
    c = data.load("digits", limit=40, seed=2)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


def test_digits_reject_an_unsupported_channel_count():
    with pytest.raises(ValueError, match="channels must be 1"):
        data.load("digits", channels=2)
