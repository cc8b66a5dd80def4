"""Heat maps that point at the evidence, on models whose evidence is known: course.explain's
saliency and occlusion, and lesson 08's solutions for Grad-CAM and the pointing game (the
exercises, which the course package does not hold)."""

import subprocess
import sys

import numpy as np
import pytest

import course

course.setup(seed=0, verbose=False)

import keras  # noqa: E402

from autograder import solution_code  # noqa: E402
from course import explain, models, plots  # noqa: E402

layers = keras.layers
LESSON = solution_code.load("08-interpretability")
grad_cam, pointing_game = LESSON["grad_cam"], LESSON["pointing_game"]


def bright_square(size=16, top=9, left=3, side=4, n=1):
    """Black images with one bright square, and the square's mask."""
    images = np.zeros((n, size, size, 1), dtype=np.float32)
    images[:, top : top + side, left : left + side] = 1.0
    masks = images[..., 0] > 0
    return images, masks


def brightness_model(size=16, activation=None):
    """Class 0's score is the mean of a 3x3 box filter's output; class 1's is its negative."""
    inputs = keras.Input((size, size, 1))
    maps = layers.Conv2D(1, 3, padding="same", activation="relu", name="box")(inputs)
    pooled = layers.GlobalAveragePooling2D()(maps)
    outputs = layers.Dense(2, activation=activation, name="head")(pooled)
    model = keras.Model(inputs, outputs)
    model.get_layer("box").set_weights([np.ones((3, 3, 1, 1)) / 9, np.zeros(1)])
    model.get_layer("head").set_weights([np.array([[1.0, -1.0]]), np.zeros(2)])
    return model


def corner_model(size=8):
    """A linear model that reads only the top-left 2x2 pixels (class 0) or nothing (class 1)."""
    inputs = keras.Input((size, size, 1))
    outputs = layers.Dense(2, name="head")(layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((size * size, 2))
    for r in range(2):
        for c in range(2):
            kernel[r * size + c, 0] = 3.0
    model.get_layer("head").set_weights([kernel, np.zeros(2)])
    return model


def test_grad_cam_peaks_on_the_evidence_and_is_scaled_to_one():
    images, masks = bright_square()
    cam = grad_cam(brightness_model(), images, "box", [0])
    assert cam.shape == (1, 16, 16)
    assert cam.max() == pytest.approx(1.0) and cam.min() >= 0.0
    row, col = np.unravel_index(cam[0].argmax(), cam[0].shape)
    assert masks[0, row, col]
    assert pointing_game(cam, masks) == 1.0


def test_grad_cam_of_a_class_with_only_negative_evidence_is_empty():
    images, _ = bright_square()
    cam = grad_cam(brightness_model(), images, "box", [1])
    assert np.all(cam == 0.0)  # the ReLU keeps only what speaks for the class


def test_grad_cam_explains_the_class_asked_for_not_the_prediction():
    images, _ = bright_square(n=2)
    model = brightness_model()
    cams = grad_cam(model, images, "box", [0, 1])
    assert cams[0].max() == pytest.approx(1.0) and np.all(cams[1] == 0.0)


def test_grad_cam_maps_of_a_deeper_layer_are_resized_to_the_image():
    model = models.digits_cnn((16, 16, 1), 3, augment=False, compile=False)
    images = np.random.default_rng(1).random((2, 16, 16, 1)).astype(np.float32)
    cams = grad_cam(model, images, explain.last_conv_layer(model).name, [0, 2])
    assert cams.shape == (2, 16, 16)
    assert cams.min() >= 0.0 and cams.max() <= 1.0 + 1e-6


def test_last_conv_layer_skips_pooling():
    model = models.digits_cnn((16, 16, 1), 10, augment=False, compile=False)
    assert explain.last_conv_layer(model).name == "block2_relu2"
    flat = keras.Sequential([keras.Input((4, 4, 1)), layers.Flatten(), layers.Dense(2)])
    with pytest.raises(ValueError, match="needs a convolutional layer"):
        explain.last_conv_layer(flat)


def test_saliency_is_zero_where_the_model_does_not_look():
    images = np.random.default_rng(0).random((3, 8, 8, 1)).astype(np.float32)
    sal = explain.saliency(corner_model(), images, class_index=0)
    assert sal.shape == (3, 8, 8)
    assert np.all(sal[:, :2, :2] == pytest.approx(1.0))
    assert np.all(sal[:, 2:, :] == 0.0) and np.all(sal[:, :, 2:] == 0.0)


def test_occlusion_drops_the_score_where_the_evidence_is():
    images = np.ones((2, 8, 8, 1), dtype=np.float32)
    model = keras.Sequential([corner_model(), layers.Softmax()])
    occ = explain.occlusion(model, images, class_index=0, patch=2, stride=2, fill=0.0)
    assert occ.shape == (2, 8, 8)
    assert np.all(occ[:, :2, :2] == pytest.approx(1.0))
    assert np.all(occ[:, 4:, 4:] < 1e-5)  # float noise of a second forward pass at most


def test_pointing_game_counts_peaks_on_the_object_with_a_tolerance():
    masks = np.zeros((3, 6, 6), dtype=bool)
    masks[:, 2:4, 2:4] = True
    maps = np.zeros((3, 6, 6))
    maps[0, 3, 3] = 1.0  # on the object
    maps[1, 0, 0] = 1.0  # two pixels off, diagonally
    maps[2, 3, 5] = 1.0  # two pixels off, to the right
    assert pointing_game(maps, masks) == pytest.approx(1 / 3)
    assert pointing_game(maps, masks, tolerance=1) == pytest.approx(1 / 3)
    assert pointing_game(maps, masks, tolerance=2) == 1.0


def test_pointing_game_gives_ties_to_the_first_pixel():
    flat = np.ones((1, 5, 5))
    masks = np.zeros((1, 5, 5), dtype=bool)
    masks[0, 4, 4] = True
    assert pointing_game(flat, masks) == 0.0
    masks[0, 0, 0] = True
    assert pointing_game(flat, masks) == 1.0


def test_bad_images_get_an_actionable_error():
    model = brightness_model()
    with pytest.raises(ValueError, match=r"image\[None\]"):
        explain.saliency(model, np.zeros((16, 16, 1), dtype=np.float32))
    with pytest.raises(ValueError, match="Divide by 255"):
        explain.saliency(model, np.zeros((1, 16, 16, 1), dtype=np.uint8))
    with pytest.raises(ValueError, match="class_index must lie in 0..1"):
        explain.saliency(model, np.zeros((1, 16, 16, 1), dtype=np.float32), class_index=5)


def test_heatmaps_lays_each_method_over_the_images_and_marks_the_peaks():
    images, masks = bright_square(n=3)
    cam = grad_cam(brightness_model(), images, "box", [0, 0, 0])
    fig = plots.heatmaps(images, {"Grad-CAM": cam, "flat": np.ones_like(cam)}, masks=masks)
    assert len(fig.axes) == 9  # 3 images x (image + 2 methods)
    assert [ax.get_title() for ax in fig.axes[1:3]] == ["Grad-CAM", "flat"]
    with pytest.raises(ValueError, match="like the images"):
        plots.heatmaps(images, cam[:, :8, :8])


def test_importing_explain_does_not_import_keras_or_tensorflow():
    code = "import course.explain, sys; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
