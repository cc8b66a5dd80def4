"""Every lesson on a folder of real colour photos, by changing only its parameters cell.

In a file of its own so that a second test worker can run these lessons while the first runs
``test_lessons.py`` (``make test`` keeps each file on one worker).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO

SOLUTIONS = sorted(p for p in (REPO / "solutions").glob("[0-9][0-9]-*/*.ipynb"))
COURSE = str(Path(sys.executable).parent / "course")
slow = pytest.mark.slow


def _outputs(notebook: Path):
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        for output in cell.get("outputs", []):
            yield cell["id"], output


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """Real photos (scikit-image's samples), cut into crops of varying size, as JPEG files."""
    import skimage.data
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for name in ("chelsea", "coffee", "rocket"):
        photo = getattr(skimage.data, name)()
        (root / name).mkdir()
        for i in range(14):
            h = int(rng.integers(photo.shape[0] // 2, photo.shape[0]))
            w = int(rng.integers(photo.shape[1] // 2, photo.shape[1]))
            top = int(rng.integers(0, photo.shape[0] - h + 1))
            left = int(rng.integers(0, photo.shape[1] - w + 1))
            crop = Image.fromarray(photo[top : top + h, left : left + w])
            crop.save(root / name / f"{name}-{i}.jpg", quality=90)
    (root / "coffee" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


# Lesson 00 looks at the photos as they are; every later lesson is told they are in colour.
PHOTO_RUNS = [
    (path.parent.name[:2], [] if path.parent.name.startswith("00") else ["-p", "channels=3"])
    for path in SOLUTIONS
]


@slow
@pytest.mark.parametrize(("lesson", "extra"), PHOTO_RUNS, ids=[r[0] for r in PHOTO_RUNS])
def test_a_folder_of_photos_works_by_changing_only_the_parameters(
    photo_folder, tmp_path, lesson, extra
):
    done = subprocess.run(
        [
            COURSE,
            "run",
            "--fast",
            "--quiet",
            "--out",
            str(tmp_path),
            lesson,
            "-p",
            f"dataset={photo_folder}",
            "-p",
            "image_size=32",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    executed = next(tmp_path.glob(f"{lesson}-*.ipynb"))
    text = "\n".join(
        "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
        for _, o in _outputs(executed)
    )
    assert "num_classes=3" in text and "(32, 32, 3)" in text
    assert "broken.jpg" in text  # the corrupt file was reported, not fatal
