"""Shared test settings: no display, quiet TensorFlow; shared fixtures.

Tests are arranged as the packages are: ``course/``, ``autograder/``, ``serving/`` (the
TF-Serving-compatible server), ``lessons/`` (the notebooks: structure, runs, the browser, the
graded exercises). ``make test-fast`` runs what is not marked ``slow`` (no notebook runs, no
browser, no grading batches).
"""

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


@pytest.fixture(scope="session")
def digits_dataset():
    """The bundled 8x8 digits, loaded once for the whole session."""
    from course import data

    return data.load("digits")
