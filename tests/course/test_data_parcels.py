"""The parcels of lesson 11: a digit photo and a note, a class that needs both."""

import numpy as np
import pytest

from course import data
from course.data.parcels import SERVICES, ZONE_WORDS


@pytest.fixture(scope="module")
def parcels():
    return data.load("parcels")


def test_every_digit_is_a_parcel_with_a_note_and_a_zone_service_class(parcels):
    digits = data.load("digits")
    assert len(parcels) == len(digits) and len(parcels.texts) == len(parcels)
    assert parcels.num_classes == 20
    assert parcels.class_names[3] == "3 express" and parcels.class_names[13] == "3 standard"
    np.testing.assert_array_equal(parcels.images, digits.images)  # the photo is the zone digit
    np.testing.assert_array_equal(parcels.labels % 10, digits.labels)


def test_each_zone_goes_half_express_half_standard(parcels):
    zone, service = parcels.labels % 10, parcels.labels // 10
    for z in range(10):
        express = int(np.sum((zone == z) & (service == 0)))
        assert abs(express - np.sum(zone == z) / 2) <= 0.5


def test_notes_name_the_service_and_hint_at_the_zone_in_the_asked_shares(parcels):
    names, hints, contradictions = 0, 0, 0
    for text, label in zip(parcels.texts, parcels.labels, strict=True):
        words = set(text.split())
        service, other = ("express", "standard") if label < 10 else ("standard", "express")
        names += bool(words & set(SERVICES[service]))
        contradictions += bool(words & set(SERVICES[other]))
        hints += ZONE_WORDS[label % 10] in words
        assert 3 <= len(text.split()) <= 8
    assert contradictions == 0  # a note never names the other service
    assert abs(names / len(parcels) - 0.85) < 0.04
    assert abs(hints / len(parcels) - 0.3) < 0.04


def test_the_service_is_not_in_the_pixels(parcels):
    # Express and standard parcels of a zone are a random half-split of its digits: their mean
    # images are far closer to each other than to another zone's.
    zone, service = parcels.labels % 10, parcels.labels // 10
    for z, other in ((0, 1), (7, 4)):
        a = parcels.images[(zone == z) & (service == 0)].mean(axis=0)
        b = parcels.images[(zone == z) & (service == 1)].mean(axis=0)
        c = parcels.images[zone == other].mean(axis=0)
        assert np.abs(a - b).mean() < np.abs(a - c).mean() / 3


def test_same_seed_same_parcels_and_another_seed_other_notes():
    a, b = data.load("parcels", seed=3), data.load("parcels", seed=3)
    assert a.texts == b.texts and np.array_equal(a.labels, b.labels)
    assert data.load("parcels", seed=4).texts != a.texts


def test_options_shape_the_notes_and_the_images():
    quiet = data.load("parcels", names_service=0.0, hints_zone=0.0, limit=100, image_size=16)
    assert quiet.images.shape == (100, 16, 16, 1)
    assert len(quiet.texts) == 100 and np.bincount(quiet.labels).min() == 5
    every = {w for words in SERVICES.values() for w in words} | set(ZONE_WORDS)
    assert not any(set(t.split()) & every for t in quiet.texts)
    sub = quiet.subset([0, 5])
    assert sub.texts == [quiet.texts[0], quiet.texts[5]]


@pytest.mark.parametrize(
    "option", [{"names_service": 1.5}, {"hints_zone": -0.1}, {"hints_zone": "a lot"}]
)
def test_shares_outside_zero_to_one_are_refused(option):
    with pytest.raises(ValueError, match="between 0 and 1"):
        data.load("parcels", **option)


def test_a_dataset_refuses_a_text_count_that_does_not_match_its_images():
    with pytest.raises(ValueError, match="one text per image"):
        data.Dataset(
            "x", np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 1]), ["a", "b"], texts=["only one"]
        )
