"""Train / validation / test splits: disjoint, covering, stratified, deterministic."""

import numpy as np
import pytest

from course import data


@pytest.fixture
def y():
    return np.repeat(np.arange(4), [50, 30, 20, 13])


def test_split_indices_are_disjoint_and_cover_every_sample(y):
    parts = data.split_indices(y, val=0.2, test=0.1)
    joined = np.concatenate(parts)
    assert len(joined) == len(y)
    assert sorted(joined.tolist()) == list(range(len(y)))


def test_split_indices_have_roughly_the_requested_sizes(y):
    train, val, test = data.split_indices(y, val=0.2, test=0.1)
    assert abs(len(val) - 0.2 * len(y)) <= 4  # within one sample per class
    assert abs(len(test) - 0.1 * len(y)) <= 4


def test_split_keeps_each_class_share_within_one_sample(y):
    fractions = (0.7, 0.15, 0.15)
    for part, fraction in zip(data.split_indices(y), fractions, strict=True):
        for c in range(4):
            expected = fraction * (y == c).sum()
            assert abs((y[part] == c).sum() - expected) < 1


def test_split_is_deterministic_from_the_seed(y):
    a = data.split_indices(y, seed=3)
    b = data.split_indices(y, seed=3)
    c = data.split_indices(y, seed=4)
    for left, right in zip(a, b, strict=True):
        np.testing.assert_array_equal(left, right)
    assert not np.array_equal(a[0], c[0])


def test_split_returns_arrays_matching_their_labels(y):
    X = np.arange(len(y))[:, None, None, None] * np.ones((1, 4, 4, 1), np.uint8)
    (X_train, y_train), (X_val, y_val), (X_test, y_test) = data.split(X, y)
    for X_part, y_part in ((X_train, y_train), (X_val, y_val), (X_test, y_test)):
        np.testing.assert_array_equal(y[X_part[:, 0, 0, 0]], y_part)
    assert X_train.shape[1:] == (4, 4, 1)


def test_split_with_no_validation_gives_empty_arrays_of_the_right_shape(y):
    X = np.zeros((len(y), 8, 8, 3), np.uint8)
    (X_train, _), (X_val, y_val), (X_test, _) = data.split(X, y, val=0)
    assert X_val.shape == (0, 8, 8, 3)
    assert y_val.shape == (0,)
    assert len(X_train) + len(X_test) == len(y)


def test_split_unstratified_still_disjoint_and_covering():
    y = np.array([0] * 9 + [1])
    parts = data.split_indices(y, stratify=False, val=0.2, test=0.2)
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))


def test_split_with_a_too_small_class_names_the_class_and_the_fix():
    y = np.array([0] * 20 + [7] * 2)
    with pytest.raises(ValueError, match="class 7") as info:
        data.split_indices(y)
    assert "2 sample" in str(info.value)
    assert "stratify=False" in str(info.value)


def test_split_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="10 images and 9 labels"):
        data.split(np.zeros((10, 2, 2, 1)), np.zeros(9))


@pytest.mark.parametrize(("val", "test"), [(-0.1, 0.1), (0.6, 0.5), (0.2, 1.0)])
def test_split_rejects_impossible_fractions(val, test):
    with pytest.raises(ValueError, match="val|test"):
        data.split_indices(np.arange(100) % 2, val=val, test=test)
