"""Loading a folder root/<class>/<image>: formats, resizing, bad files skipped and reported."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course import data


def _save(path: Path, image: Image.Image, fmt: str, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt, **kwargs)
    return path


def _noise(size, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    return Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode=mode)


@pytest.fixture
def tree(tmp_path):
    """Three classes of real images in four formats and sizes, plus every kind of bad file."""
    root = tmp_path / "photos"
    _save(root / "cats" / "a.png", _noise((40, 30)), "PNG")
    _save(root / "cats" / "b.JPG", _noise((60, 80), seed=1), "JPEG")
    _save(root / "cats" / "c.bmp", _noise((20, 20), seed=2), "BMP")
    frames = [Image.new("P", (50, 25), 1), Image.new("P", (50, 25), 2)]
    frames[0].save(root / "cats" / "d.gif", save_all=True, append_images=frames[1:])
    _save(root / "dogs" / "e.png", Image.new("RGBA", (33, 17), (255, 0, 0, 128)), "PNG")
    _save(root / "dogs" / "f.jpeg", _noise((70, 50), mode="L"), "JPEG")
    _save(root / "dogs" / "deep" / "g.PNG", _noise((16, 16), seed=3), "PNG")
    _save(root / "birds" / "h.gif", _noise((24, 30), seed=4).convert("P"), "GIF")

    jpeg = io.BytesIO()
    _noise((64, 64), seed=5).save(jpeg, "JPEG", quality=95)
    bad = {
        root / "cats" / "broken.jpg": jpeg.getvalue()[: len(jpeg.getvalue()) // 2],
        root / "cats" / "empty.png": b"",
        root / "dogs" / "notes.png": b"this is text, not a PNG\n",
        root / "dogs" / "readme.txt": b"hello\n",
    }
    for path, content in bad.items():
        path.write_bytes(content)
    _save(root / ".ipynb_checkpoints" / "x.png", _noise((8, 8)), "PNG")
    _save(root / "cats" / ".ipynb_checkpoints" / "y.png", _noise((8, 8)), "PNG")
    (root / "cats" / ".DS_Store").write_bytes(b"\0\0")
    return root, sorted(str(p) for p in bad)


def test_folder_loads_every_readable_image_with_sorted_class_names(tree):
    root, _ = tree
    ds = data.load(root, image_size=32, verbose=False)
    assert ds.class_names == ["birds", "cats", "dogs"]
    assert ds.counts() == {"birds": 1, "cats": 4, "dogs": 3}
    assert ds.images.dtype == np.uint8
    assert ds.name == "photos"


def test_folder_accepts_a_str_path(tree):
    root, _ = tree
    assert len(data.load(str(root), image_size=16, verbose=False)) == 8


@pytest.mark.parametrize("fit", ["pad", "crop", "stretch"])
def test_folder_resizes_every_image_to_the_requested_size(tree, fit):
    root, _ = tree
    ds = data.load(root, image_size=24, fit=fit, verbose=False)
    assert ds.images.shape == (8, 24, 24, 3)


def test_folder_image_size_can_be_height_and_width(tree):
    root, _ = tree
    ds = data.load(root, image_size=(20, 30), verbose=False)
    assert ds.image_shape == (20, 30, 3)


def test_folder_greyscale_has_one_channel(tree):
    root, _ = tree
    ds = data.load(root, image_size=16, channels=1, verbose=False)
    assert ds.image_shape == (16, 16, 1)


def test_folder_reports_every_bad_file_in_skipped(tree):
    root, bad = tree
    ds = data.load(root, image_size=16, verbose=False)
    assert sorted(path for path, _ in ds.skipped) == bad
    assert all(reason for _, reason in ds.skipped)


def test_folder_detects_a_truncated_jpeg(tree):
    root, _ = tree
    ds = data.load(root, image_size=16, verbose=False)
    reasons = dict(ds.skipped)
    assert "truncated" in reasons[str(root / "cats" / "broken.jpg")]


def test_folder_prints_one_summary_on_stdout_and_nothing_on_stderr(tree, capfd):
    root, bad = tree
    data.load(root, image_size=16)
    out, err = capfd.readouterr()
    assert err == ""
    assert "skipped 4 of 12 files that are not readable images (see ds.skipped):" in out
    for path in bad:
        assert path in out


def test_folder_is_silent_when_not_verbose(tree, capfd):
    root, _ = tree
    data.load(root, image_size=16, verbose=False)
    assert capfd.readouterr() == ("", "")


def test_folder_summary_lists_at_most_ten_paths():
    skipped = [(f"/x/{i}.png", "empty file") for i in range(25)]
    text = data.skipped_summary(skipped, total=40)
    assert text.count("/x/") == 10
    assert "... and 15 more" in text


def test_folder_pad_keeps_the_aspect_ratio_with_black_bars(tmp_path):
    _save(tmp_path / "a" / "wide.png", Image.new("RGB", (80, 40), (200, 100, 50)), "PNG")
    _save(tmp_path / "b" / "tall.png", Image.new("RGB", (40, 80), (200, 100, 50)), "PNG")
    ds = data.load(tmp_path, image_size=32, fit="pad", verbose=False)
    wide, tall = ds.images
    assert (wide[:6] == 0).all() and (wide[-6:] == 0).all()
    assert (wide[10:22] == [200, 100, 50]).all()
    assert (tall[:, :6] == 0).all() and (tall[:, 10:22] == [200, 100, 50]).all()


def test_folder_crop_keeps_the_centre(tmp_path):
    image = np.zeros((40, 120, 3), np.uint8)
    image[:, 40:80] = (0, 255, 0)  # the centre third is green, the sides black
    _save(tmp_path / "a" / "wide.png", Image.fromarray(image), "PNG")
    ds = data.load(tmp_path, image_size=16, fit="crop", verbose=False)
    assert (ds.images[0][..., 1] > 200).mean() > 0.8


def test_folder_stretch_fills_the_whole_image(tmp_path):
    _save(tmp_path / "a" / "wide.png", Image.new("RGB", (80, 20), (10, 200, 10)), "PNG")
    ds = data.load(tmp_path, image_size=16, fit="stretch", verbose=False)
    assert (ds.images[0] == [10, 200, 10]).all()


def test_folder_gif_uses_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "x.gif", save_all=True, append_images=frames[1:])
    (tmp_path / "a").mkdir()
    (tmp_path / "x.gif").rename(tmp_path / "a" / "x.gif")
    ds = data.load(tmp_path, image_size=10, verbose=False)
    red, green, blue = ds.images[0].reshape(-1, 3).mean(axis=0)
    assert red > 200 and blue < 50


def test_folder_limit_keeps_a_balanced_subsample(tree):
    root, _ = tree
    ds = data.load(root, image_size=16, limit=3, verbose=False)
    assert len(ds) == 3
    assert ds.counts() == {"birds": 1, "cats": 1, "dogs": 1}


def test_folder_missing_root_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        data.load_folder(tmp_path / "nope")


def test_folder_without_class_subfolders_explains_the_layout(tmp_path):
    _save(tmp_path / "loose.png", _noise((8, 8)), "PNG")
    with pytest.raises(ValueError, match=r"root/<class>|root/cats"):
        data.load_folder(tmp_path)


def test_folder_with_no_readable_images_explains_the_layout(tmp_path, capfd):
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "a.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="no readable images"):
        data.load_folder(tmp_path)
    assert capfd.readouterr().err == ""


def test_folder_with_an_unknown_fit_is_an_error(tree):
    root, _ = tree
    with pytest.raises(ValueError, match="fit must be one of"):
        data.load(root, fit="zoom")


def test_folder_skips_an_oversized_image_quietly(tmp_path, monkeypatch, capfd):
    _save(tmp_path / "a" / "small.png", _noise((8, 8)), "PNG")
    _save(tmp_path / "a" / "huge.png", _noise((40, 40)), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 40x40 counts as a decompression bomb
    ds = data.load(tmp_path, image_size=8)
    assert [p for p, _ in ds.skipped] == [str(tmp_path / "a" / "huge.png")]
    assert capfd.readouterr().err == ""
