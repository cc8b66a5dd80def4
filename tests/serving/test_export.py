"""serving.export: version folders, no half-written versions, and the image-bytes signature
preparing a photo as course.data.load does."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.serving import tiny_model
from PIL import Image


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    import skimage.data

    root = tmp_path_factory.mktemp("photo")
    cat = skimage.data.chelsea()[::3, ::3]  # 100x151, wider than tall
    for name, image in (("wide", cat), ("tall", cat.transpose(1, 0, 2).copy())):
        (root / name).mkdir()
        Image.fromarray(image).save(root / name / f"{name}.png")
    return root


@pytest.mark.parametrize("fit, tolerance", [("pad", 0.01), ("stretch", 0.01), ("crop", 0.06)])
@pytest.mark.parametrize("channels", [1, 3])
def test_bytes_signature_prepares_photos_as_data_load(photo_folder, fit, tolerance, channels):
    import tensorflow as tf

    from course import data
    from course.serving.savedmodel import _decode

    ds = data.load(
        str(photo_folder), image_size=(24, 32), channels=channels, fit=fit, verbose=False
    )
    for i, name in enumerate(ds.class_names):
        want = ds.images[i].astype(np.float32) / 255.0
        raw = (photo_folder / name / f"{name}.png").read_bytes()
        got = _decode(tf, tf.constant(raw), 24, 32, channels, fit).numpy()
        assert got.shape == want.shape
        # Bilinear resizing in TensorFlow and in PIL differ by about one grey level; PIL's crop
        # box is fractional, which moves edge pixels a little more.
        assert np.abs(got - want).max() < tolerance, (fit, name)
        assert np.abs(got - want).mean() < 0.005, (fit, name)


def test_versions_are_numbered_and_never_overwritten(tmp_path):
    from course import serving

    model = tiny_model(0)
    assert serving.next_version(tmp_path / "m") == 1
    first = serving.export(model, tmp_path, "m")
    (tmp_path / "m" / "notes").mkdir()  # not a version
    second = serving.export(model, tmp_path, "m")
    assert (first.name, second.name) == ("1", "2")
    assert serving.versions(tmp_path / "m") == [1, 2]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1", "2", "notes"]  # no temp
    assert (second / "saved_model.pb").is_file() and (second / "variables").is_dir()
    with pytest.raises(FileExistsError, match="already exists"):
        serving.export(model, tmp_path, "m", 2)
    with pytest.raises(ValueError, match="model name"):
        serving.export(model, tmp_path, "no spaces please")
    with pytest.raises(ValueError, match="class names"):
        serving.export(model, tmp_path, "m", 3, class_names=["a", "b"])
