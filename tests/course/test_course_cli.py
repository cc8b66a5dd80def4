"""The `course` command as a learner types it."""

import subprocess
import sys
from pathlib import Path

COURSE = str(Path(sys.executable).parent / "course")


def course(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([COURSE, *args], capture_output=True, text=True, timeout=timeout)


def test_lessons_lists_every_lesson_with_its_title_and_points():
    done = course("lessons")
    assert done.returncode == 0, done.stderr
    assert "00-getting-started" in done.stdout and "Getting started" in done.stdout
    assert "01-data-preprocessing" in done.stdout and "3 exercises" in done.stdout


def test_data_list_names_the_offline_and_the_downloadable_sets():
    done = course("data", "list")
    assert done.returncode == 0, done.stderr
    for name in ("digits", "shapes", "mnist", "fashion_mnist", "cifar10", "flowers"):
        assert name in done.stdout


def test_data_show_loads_a_dataset_and_saves_a_picture(tmp_path):
    png = tmp_path / "digits.png"
    done = course("data", "show", "digits", "--save", str(png))
    assert done.returncode == 0, done.stderr
    assert "n=1797" in done.stdout and png.stat().st_size > 1000


def test_doctor_reports_devices_datasets_and_serving():
    done = course("doctor")
    assert done.returncode == 0, done.stderr
    for line in ("devices", "offline datasets", "tensorflow_model_server", "docker"):
        assert line in done.stdout
    assert "backbone.weights.h5, held-out accuracy" in done.stdout
    assert done.stderr == ""


def test_run_refuses_an_unknown_lesson_and_names_the_real_ones():
    done = course("run", "42")
    assert done.returncode == 2
    assert "no lesson '42'" in done.stderr and "00-getting-started" in done.stderr


def test_run_refuses_a_malformed_parameter():
    done = course("run", "00", "-p", "image_size")
    assert done.returncode == 2 and "name=value" in done.stderr
