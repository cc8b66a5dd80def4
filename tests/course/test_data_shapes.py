"""The generated shapes: deterministic, configurable, with masks that cover the object."""

import numpy as np
import pytest

from course import data


@pytest.fixture(scope="module")
def shapes():
    return data.load("shapes", per_class=30, seed=0)


def test_shapes_default_to_four_classes_of_32x32_colour_images(shapes):
    assert shapes.class_names == ["circle", "square", "triangle", "star"]
    assert shapes.images.shape == (120, 32, 32, 3)
    assert shapes.images.dtype == np.uint8
    assert shapes.counts() == {"circle": 30, "square": 30, "triangle": 30, "star": 30}


def test_shapes_same_seed_gives_identical_bytes(shapes):
    again = data.load("shapes", per_class=30, seed=0)
    assert again.images.tobytes() == shapes.images.tobytes()
    np.testing.assert_array_equal(again.labels, shapes.labels)
    np.testing.assert_array_equal(again.masks, shapes.masks)


def test_shapes_different_seed_gives_different_images(shapes):
    other = data.load("shapes", per_class=30, seed=1)
    assert not np.array_equal(other.images, shapes.images)


def test_shapes_labels_are_shuffled_not_grouped_by_class(shapes):
    assert not np.array_equal(shapes.labels, np.sort(shapes.labels))


def test_shapes_accept_any_subset_of_the_catalogue_in_any_order():
    ds = data.load("shapes", classes=("hexagon", "cross", "ellipse", "pentagon"), per_class=3)
    assert ds.class_names == ["hexagon", "cross", "ellipse", "pentagon"]
    assert len(ds) == 12


def test_shapes_catalogue_has_at_least_eight_shapes():
    expected = {"circle", "square", "triangle", "star", "pentagon", "hexagon", "cross", "ellipse"}
    assert expected <= set(data.SHAPES_CATALOGUE)
    ds = data.load("shapes", classes=data.SHAPES_CATALOGUE, per_class=2)
    assert ds.num_classes == len(data.SHAPES_CATALOGUE)


def test_shapes_image_size_is_configurable():
    ds = data.load("shapes", image_size=64, per_class=2)
    assert ds.images.shape == (8, 64, 64, 3)
    assert ds.masks.shape == (8, 64, 64)


def test_shapes_per_class_can_be_a_count_per_class():
    ds = data.load("shapes", classes=("circle", "star"), per_class=[5, 2])
    assert ds.counts() == {"circle": 5, "star": 2}


def test_shapes_imbalance_decays_geometrically_across_classes():
    ds = data.load("shapes", per_class=100, imbalance=0.1)
    assert list(ds.counts().values()) == [100, 46, 22, 10]


def test_shapes_greyscale_has_one_channel():
    ds = data.load("shapes", channels=1, per_class=2)
    assert ds.images.shape == (8, 32, 32, 1)


def test_shapes_masks_are_boolean_and_aligned_with_images(shapes):
    assert shapes.masks.dtype == bool
    assert shapes.masks.shape == shapes.images.shape[:3]


def test_shapes_masks_cover_a_plausible_fraction_of_the_image(shapes):
    area = shapes.masks.mean(axis=(1, 2))
    assert area.min() > 0.02
    assert area.max() < 0.65


def test_shapes_masks_mark_pixels_that_differ_from_the_background(shapes):
    for image, mask in zip(shapes.images.astype(float), shapes.masks, strict=True):
        inside = image[mask].mean(axis=0)
        outside = image[~mask].mean(axis=0)
        assert np.abs(inside - outside).max() > 25


def test_shapes_objects_lie_fully_inside_the_image(shapes):
    edges = np.concatenate(
        [
            shapes.masks[:, 0, :],
            shapes.masks[:, -1, :],
            shapes.masks[:, :, 0],
            shapes.masks[:, :, -1],
        ],
        axis=1,
    )
    assert not edges.any()


def test_shapes_without_clutter_have_a_smooth_background():
    from scipy.ndimage import binary_dilation

    ds = data.load("shapes", clutter=False, per_class=5)
    for image, mask in zip(ds.images.astype(float), ds.masks, strict=True):
        near_object = binary_dilation(mask, iterations=2)
        steps = np.abs(np.diff(image, axis=1)).max(axis=2)
        background_steps = steps[~(near_object[:, 1:] | near_object[:, :-1])]
        assert background_steps.max() < 10  # a flat colour or a gentle gradient


def test_shapes_limit_returns_the_same_images_as_the_full_set():
    full = data.load("shapes", per_class=10, seed=3)
    small = data.load("shapes", per_class=10, seed=3, limit=8)
    assert len(small) == 8
    assert set(small.counts().values()) == {2}
    matches = [any(np.array_equal(img, other) for other in full.images) for img in small.images]
    assert all(matches)


def test_shapes_unknown_class_error_lists_the_catalogue():
    with pytest.raises(ValueError, match="unknown shape") as info:
        data.load("shapes", classes=("circle", "blob"))
    assert "blob" in str(info.value)
    assert "hexagon" in str(info.value)


def test_shapes_imbalance_out_of_range_is_an_error():
    with pytest.raises(ValueError, match="imbalance"):
        data.load("shapes", imbalance=1.5)
