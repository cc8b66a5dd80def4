"""Run nbgrader's converters with the course configuration, in this process.

The course configuration is ``autograder/nbgrader_config.py``; each call points it at a course
root of its own (a temporary folder), so nothing here touches ``grading/`` or the repository.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from autograder.paths import CONFIG_FILE


def tool_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default ``os.environ``) with this Python's ``bin/`` first on ``PATH``.

    nbgrader's Gradebook runs the ``alembic`` command found on ``PATH`` when it creates a
    gradebook, and ``jupyter`` helpers are found the same way: both must be the ones of the
    environment running the grader, even when it was started without activating the venv.
    """
    env = dict(os.environ if base is None else base)
    bindir = str(Path(sys.executable).parent)
    parts = env.get("PATH", "").split(os.pathsep)
    if not parts or parts[0] != bindir:
        env["PATH"] = os.pathsep.join([bindir, *[p for p in parts if p and p != bindir]])
    return env


def use_tool_env() -> None:
    """Prepare this process for nbgrader: ``bin/`` first on ``PATH``, alembic asked once.

    nbgrader's ``Gradebook`` runs ``alembic heads`` in a subprocess every time it creates a
    gradebook (seconds on a busy laptop); the answer never changes within one process.
    """
    import functools

    import nbgrader.api

    os.environ["PATH"] = tool_env()["PATH"]
    if not hasattr(nbgrader.api.get_alembic_version, "cache_info"):
        nbgrader.api.get_alembic_version = functools.cache(nbgrader.api.get_alembic_version)


def load_config(root: str | os.PathLike, **overrides: Any) -> Any:
    """The course's nbgrader config with ``CourseDirectory`` moved to ``root``.

    ``overrides`` are ``"Section.trait": value`` pairs given as ``Section__trait=value``.
    """
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(CONFIG_FILE.name, path=str(CONFIG_FILE.parent)).load_config()
    root = Path(root).resolve()
    cd = config.CourseDirectory
    cd.root = str(root)
    cd.source_directory = "source"
    cd.release_directory = "release"
    cd.db_url = f"sqlite:///{root / 'gradebook.db'}"
    for key, value in overrides.items():
        section, trait = key.split("__", 1)
        setattr(config[section], trait, value)
    return config


def run_converter(
    kind: str,
    root: str | os.PathLike,
    assignment: str,
    student: str = ".",
    config: Any = None,
    **attrs: Any,
) -> tuple[bool, str]:
    """Run nbgrader's ``kind`` converter (GenerateAssignment, Autograde, GenerateFeedback).

    Returns ``(success, log)``; the log holds nbgrader's messages and any traceback.
    """
    import traceback

    from nbgrader import converters
    from nbgrader.coursedir import CourseDirectory

    use_tool_env()
    config = config if config is not None else load_config(root)
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment
    coursedir.student_id = student
    converter = getattr(converters, kind)(coursedir=coursedir, config=config)
    for key, value in attrs.items():
        setattr(converter, key, value)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    log = converter.log
    saved = (log.handlers[:], log.level, log.propagate)
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    ok = True
    try:
        converter.start()
    except Exception:  # nbgrader reports every failure as an exception; keep its traceback
        ok = False
        buffer.write(traceback.format_exc())
    finally:
        log.handlers[:], level, log.propagate = saved[0], saved[1], saved[2]
        log.setLevel(level)
    return ok, buffer.getvalue()


def generate_assignment(
    source_dir: str | os.PathLike, lesson: str, root: str | os.PathLike
) -> Path:
    """Run ``generate_assignment`` for ``lesson`` in a fresh course ``root``.

    Copies ``source_dir/lesson`` to ``root/source/lesson``; leaves the student version in
    ``root/release/lesson`` and a gradebook that knows the lesson's grade cells in
    ``root/gradebook.db``. Returns the release folder.
    """
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(
        Path(source_dir) / lesson,
        root / "source" / lesson,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
    )
    ok, log = run_converter("GenerateAssignment", root, lesson, force=True, create_assignment=True)
    release = root / "release" / lesson
    if not ok or not (release / f"{lesson}.ipynb").is_file():
        raise RuntimeError(f"nbgrader generate_assignment failed for {lesson}:\n{log}")
    return release
