"""The registry and data.load dispatch, the Dataset type, and a cheap import."""

import subprocess
import sys

import numpy as np
import pytest

from course import data

EXPECTED = ["digits", "shapes", "parcels", "mnist", "fashion_mnist", "cifar10", "flowers"]


def test_import_does_not_import_tensorflow_keras_or_matplotlib():
    code = (
        "import sys, course.data; "
        "print([m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_names_lists_every_registered_dataset():
    assert data.names() == EXPECTED


def test_info_says_which_datasets_work_offline():
    offline = {name for name in data.names() if data.info(name).offline}
    assert offline == {"digits", "shapes", "parcels"}
    assert data.info("digits").source == "bundled"
    assert data.info("shapes").source == "generated"
    assert data.info("parcels").source == "generated"
    assert data.info("cifar10").source.startswith("https://")


def test_info_of_remote_sets_lists_urls_and_sha256():
    for name in ("mnist", "fashion_mnist", "cifar10", "flowers"):
        for remote in data.info(name).files:
            assert remote.url.startswith("https://")
            assert len(remote.sha256) == 64


def test_info_of_an_unknown_name_lists_the_registered_ones():
    with pytest.raises(ValueError, match="digits"):
        data.info("imagenet")


def test_describe_registry_is_a_table_of_every_dataset():
    table = data.describe_registry()
    for name in EXPECTED:
        assert name in table
    assert "offline" in table and "root/<class>/<image>" in table


def test_load_of_an_unknown_name_lists_datasets_and_the_folder_layout():
    with pytest.raises(ValueError) as info:
        data.load("no-such-dataset")
    message = str(info.value)
    assert "digits" in message and "shapes" in message and "root/<class>/<image>" in message


def test_load_with_an_unknown_option_lists_the_options():
    with pytest.raises(TypeError, match="image_size"):
        data.load("digits", fit="crop")


def test_dataset_unpacks_into_images_and_labels():
    X, y = data.load("digits", limit=20)
    assert X.shape == (20, 8, 8, 1) and y.shape == (20,)


def test_dataset_repr_is_short_and_names_the_essentials():
    text = repr(data.load("shapes", per_class=3))
    assert "shapes" in text and "n=12" in text and "(32, 32, 3)" in text and "circle: 3" in text
    assert len(text) < 400


def test_dataset_subset_keeps_masks_aligned():
    ds = data.load("shapes", per_class=4)
    part = ds.subset([5, 0, 7])
    np.testing.assert_array_equal(part.images, ds.images[[5, 0, 7]])
    np.testing.assert_array_equal(part.masks, ds.masks[[5, 0, 7]])
    np.testing.assert_array_equal(part.labels, ds.labels[[5, 0, 7]])
    assert part.class_names == ds.class_names


def test_dataset_rejects_images_without_a_channel_axis():
    with pytest.raises(ValueError, match="add a channel axis"):
        data.Dataset("x", np.zeros((2, 4, 4), np.uint8), np.zeros(2), ["a"])


def test_dataset_rejects_float_images():
    with pytest.raises(ValueError, match="uint8"):
        data.Dataset("x", np.zeros((2, 4, 4, 1)), np.zeros(2), ["a"])
