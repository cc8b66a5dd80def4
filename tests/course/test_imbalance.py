"""course.imbalance (resampling indices, logit adjustment, scores) and lesson 06's solutions for
class weights, balanced batches and the focal loss (the exercises, not in the course package)."""

import subprocess
import sys

import numpy as np
import pytest

from autograder import solution_code
from course import imbalance


@pytest.fixture(scope="module")
def lesson():
    """Lesson 06's solution functions."""
    return solution_code.load("06-imbalanced-data")


@pytest.fixture
def y():
    """Class 0: 40 images, class 1: 10, class 2: 4."""
    return np.array([0] * 40 + [1] * 10 + [2] * 4)


def test_importing_imbalance_does_not_import_keras_or_tensorflow():
    code = (
        "import course.imbalance, sys; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_make_imbalanced_keeps_the_other_classes_and_a_share_of_the_rare_ones():
    labels = np.repeat(np.arange(4), 100)
    keep = imbalance.make_imbalanced(labels, minority=[1, 3], ratio=0.1, seed=0)
    assert np.array_equal(np.bincount(labels[keep]), [100, 10, 100, 10])
    assert np.array_equal(keep, np.sort(keep)) and len(set(keep)) == len(keep)
    again = imbalance.make_imbalanced(labels, minority=[1, 3], ratio=0.1, seed=0)
    assert np.array_equal(keep, again)
    tiny = imbalance.make_imbalanced(labels, minority=[2], ratio=0.001)
    assert np.bincount(labels[tiny])[2] == 2  # never fewer than two


def test_make_imbalanced_refuses_bad_arguments():
    with pytest.raises(ValueError, match="in \\(0, 1\\]"):
        imbalance.make_imbalanced([0, 1, 1], [0], ratio=1.5)
    with pytest.raises(ValueError, match=r"minority classes \[7\] have no images"):
        imbalance.make_imbalanced([0, 1, 1], [7], ratio=0.5)


def test_class_weights_match_scikit_learns_balanced_heuristic(y, lesson):
    from sklearn.utils.class_weight import compute_class_weight

    expected = compute_class_weight("balanced", classes=np.arange(3), y=y)
    got = lesson["class_weights"](y, 3)
    assert list(got) == [0, 1, 2] and np.allclose(list(got.values()), expected)
    assert lesson["class_weights"]([0, 0, 2], 4) == {0: 0.75, 1: 0.0, 2: 1.5, 3: 0.0}


def test_oversample_repeats_every_class_up_to_the_largest_and_keeps_every_image(y):
    idx = imbalance.oversample(y, seed=1)
    assert np.array_equal(np.bincount(y[idx]), [40, 40, 40])
    assert set(idx) == set(range(len(y)))


def test_undersample_cuts_every_class_down_to_the_smallest_without_repeats(y):
    idx = imbalance.undersample(y, seed=1)
    assert np.array_equal(np.bincount(y[idx]), [4, 4, 4]) and len(set(idx)) == len(idx)


def test_balanced_batches_draw_every_class_equally_often_and_keep_labels_with_images(y, lesson):
    X = np.broadcast_to(y[:, None, None, None], (len(y), 4, 4, 1)).astype(np.float32)
    stream = lesson["balanced_batches"](X, y, 30, seed=0)
    labels, pixels = [], []
    for images, batch_labels in stream.take(40):
        assert images.shape == (30, 4, 4, 1) and images.dtype.name == "float32"
        labels.append(batch_labels.numpy())
        pixels.append(images.numpy()[:, 0, 0, 0])
    labels = np.concatenate(labels)
    assert np.array_equal(np.concatenate(pixels), labels)  # each image comes with its label
    shares = np.bincount(labels) / len(labels)
    assert np.all(np.abs(shares - 1 / 3) < 0.05), shares


def test_focal_loss_matches_keras_and_reduces_to_cross_entropy(lesson):
    import keras

    focal_loss = lesson["focal_loss"]
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=16).astype(np.float32)
    labels = rng.integers(0, 5, size=16)
    onehot = np.eye(5, dtype=np.float32)[labels]
    for gamma, alpha in ((2.0, 0.25), (0.5, 1.0)):
        mine = np.mean(keras.ops.convert_to_numpy(focal_loss(labels, probs, gamma, alpha)))
        theirs = keras.losses.CategoricalFocalCrossentropy(alpha=alpha, gamma=gamma)(onehot, probs)
        assert mine == pytest.approx(float(theirs), rel=1e-5)
    plain = np.mean(keras.ops.convert_to_numpy(focal_loss(labels, probs, 0.0, 1.0)))
    ce = keras.losses.SparseCategoricalCrossentropy()(labels, probs)
    assert plain == pytest.approx(float(ce), rel=1e-5)


def test_logit_adjustment_moves_decisions_towards_rare_classes():
    probs = np.array([[0.6, 0.4], [0.9, 0.1]])
    prior = np.array([0.8, 0.2])
    assert np.allclose(imbalance.logit_adjust(probs, prior, tau=0.0), probs)
    assert np.allclose(imbalance.logit_adjust(probs, [0.5, 0.5]), probs)
    adjusted = imbalance.logit_adjust(probs, prior)
    assert np.allclose(adjusted.sum(axis=1), 1.0)
    # 0.6/0.8 = 0.75 against 0.4/0.2 = 2: the first image now goes to the rare class
    assert adjusted.argmax(axis=1).tolist() == [1, 0]
    with pytest.raises(ValueError, match="prior above 0"):
        imbalance.logit_adjust(probs, [1.0, 0.0])


def test_scores_of_a_model_that_never_predicts_the_rare_class():
    y_true = np.array([0, 0, 0, 1, 1, 1])
    probs = np.array([[0.9, 0.1]] * 6)
    row = imbalance.scores(y_true, probs, minority=[1], prior=[0.9, 0.1])
    assert row["accuracy"] == 0.5 and row["balanced accuracy"] == 0.5
    assert row["accuracy (train mix)"] == pytest.approx(0.9)  # the accuracy paradox
    assert row["minority recall"] == 0.0 and row["macro-F1"] == pytest.approx(1 / 3)
    assert row["minority PR-AUC"] == pytest.approx(0.5)  # every score tied: the class share
