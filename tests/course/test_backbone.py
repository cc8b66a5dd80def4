"""The shipped pretrained backbone (lesson 07): it loads offline, it is what its card says, its
features transfer to other classes, and ``course pretrain`` regenerates it."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import course

course.setup(seed=0, verbose=False)

import keras  # noqa: E402

from course import data, models  # noqa: E402

COURSE = str(Path(sys.executable).parent / "course")


def test_the_shipped_weights_are_the_ones_the_card_describes():
    card = models.backbone_card()
    digest = hashlib.sha256(models.BACKBONE_WEIGHTS.read_bytes()).hexdigest()
    assert card["weights_sha256"] == digest
    assert models.BACKBONE_WEIGHTS.stat().st_size < 5_000_000  # "a few MB at most"
    assert card["input"] == list(models.BACKBONE_INPUT) and card["embedding"] == 128
    assert card["held_out_accuracy"] >= 0.9 and "shapes" in card["source_task"]
    # the source task differs from lesson 07's target task: none of its classes is a target
    assert not set(card["classes"]) & set(data.load("shapes", per_class=1).class_names)


def test_pretrained_backbone_is_frozen_and_maps_images_to_128_features():
    base = models.pretrained_backbone()
    assert not base.trainable and base.name == "backbone"
    features = keras.ops.convert_to_numpy(base(np.zeros((2, 32, 32, 1), "float32")))
    assert features.shape == (2, 128)


def test_colour_and_other_sizes_are_made_grey_32x32_inside_the_model():
    grey = data.load("shapes", per_class=2, channels=1).images / np.float32(255)
    colour = np.repeat(grey, 3, axis=-1)
    plain = keras.ops.convert_to_numpy(models.pretrained_backbone()(grey))
    wrapped = keras.ops.convert_to_numpy(models.pretrained_backbone((32, 32, 3))(colour))
    np.testing.assert_allclose(wrapped, plain, atol=1e-5)
    big = models.pretrained_backbone((64, 48, 3))
    assert tuple(big.output.shape) == (None, 128)
    with pytest.raises(ValueError, match="1 or 3"):
        models.pretrained_backbone((32, 32, 2))


def _features(base, images):
    return keras.ops.convert_to_numpy(base.predict(images, verbose=0))


def test_pretrained_features_beat_random_ones_on_the_target_shapes_with_ten_labels():
    """The transfer claim, small: a linear head on 40 labelled images of the target classes."""
    from sklearn.linear_model import LogisticRegression

    ds = data.load("shapes", per_class=150, channels=1)
    X, y = ds.images / np.float32(255), ds.labels
    rng = np.random.default_rng(0)
    train = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), 10, replace=False) for c in range(ds.num_classes)]
    )
    test = np.setdiff1d(np.arange(len(y)), train)
    keras.utils.set_random_seed(0)
    scores = {}
    for name, base in (("pretrained", models.pretrained_backbone()), ("random", models.backbone())):
        head = LogisticRegression(max_iter=3000).fit(_features(base, X[train]), y[train])
        scores[name] = float(np.mean(head.predict(_features(base, X[test])) == y[test]))
    assert scores["pretrained"] > scores["random"] + 0.2, scores


def test_a_missing_backbone_says_how_to_regenerate_it(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "BACKBONE_WEIGHTS", tmp_path / "gone.weights.h5")
    monkeypatch.setattr(models, "BACKBONE_CARD", tmp_path / "gone.json")
    with pytest.raises(FileNotFoundError, match="course pretrain"):
        models.pretrained_backbone()
    with pytest.raises(FileNotFoundError, match="course pretrain"):
        models.backbone_card()


def test_course_pretrain_writes_loadable_weights_and_a_card(tmp_path):
    done = subprocess.run(
        [COURSE, "pretrain", "--per-class", "10", "--epochs", "1", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "held_out_accuracy" in done.stdout and "source task" in done.stdout
    card = json.loads((tmp_path / "backbone.json").read_text())
    weights = tmp_path / "backbone.weights.h5"
    assert card["classes"] == ["pentagon", "hexagon", "cross", "ellipse"]
    assert card["train_images"] + card["held_out_images"] == 40
    assert card["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert not list(tmp_path.glob(".partial*"))  # no half-written file left behind
    fresh = models.backbone()
    fresh.load_weights(weights)
    assert len(fresh.get_weights()) == len(models.backbone().get_weights())
