"""``autograder release [--check]``: regenerate ``lessons/`` from ``solutions/``.

Each lesson is run through nbgrader's ``generate_assignment`` in a temporary course root (no
gradebook is left in the repository), and both the source and the student notebook are written
in canonical form (:mod:`autograder.notebooks`). ``--check`` changes nothing: it lists every
stale or non-canonical file and exits 1, or exits 0 when everything is in sync.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder import nbg, notebooks
from autograder.paths import RELEASE_DIR, SOURCE_DIR, list_lessons


@dataclass
class ReleaseResult:
    """What a release (or a check) found: files that changed or would change, and why."""

    lessons: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "path: why"
    written: list[str] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        """True when nothing is stale."""
        return not self.problems


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def release(
    source_dir: str | os.PathLike | None = None,
    release_dir: str | os.PathLike | None = None,
    *,
    check: bool = False,
    lessons: list[str] | None = None,
) -> ReleaseResult:
    """Regenerate ``release_dir`` from ``source_dir`` (or, with ``check``, report staleness)."""
    source_dir = Path(source_dir or SOURCE_DIR).resolve()
    release_dir = Path(release_dir or RELEASE_DIR).resolve()
    base = source_dir.parent
    result = ReleaseResult()
    sources = list_lessons(source_dir)
    result.lessons = [lesson for lesson in sources if lessons is None or lesson in lessons]
    if lessons is None:
        for orphan in sorted(set(list_lessons(release_dir)) - set(sources)):
            folder = release_dir / orphan
            result.problems.append(
                f"{_rel(folder, base)}: lesson has no source in {_rel(source_dir, base)}/"
            )
            if not check:
                shutil.rmtree(folder)
                result.written.append(f"{_rel(folder, base)} (removed)")
    with tempfile.TemporaryDirectory(prefix="autograder-release-") as tmp:
        for lesson in result.lessons:
            _release_one(lesson, source_dir, release_dir, Path(tmp) / lesson, check, result, base)
    return result


def _release_one(
    lesson: str,
    source_dir: Path,
    release_dir: Path,
    tmp: Path,
    check: bool,
    result: ReleaseResult,
    base: Path,
) -> None:
    src_nb = source_dir / lesson / f"{lesson}.ipynb"
    if not src_nb.is_file():
        result.problems.append(f"{_rel(src_nb, base)}: missing (the source notebook of {lesson})")
        return
    try:
        source = notebooks.load(src_nb)
    except ValueError as exc:
        result.problems.append(f"{_rel(src_nb, base)}: not valid JSON ({exc})")
        return
    if not notebooks.is_canonical(src_nb):
        result.problems.append(f"{_rel(src_nb, base)}: not in canonical form")
        if not check:
            notebooks.write_canonical(src_nb, source)
            result.written.append(_rel(src_nb, base))
    # generate from the canonical source, so outputs an author left never reach the release
    staged = tmp / "staged"
    shutil.copytree(
        source_dir / lesson,
        staged / lesson,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
    )
    notebooks.write_canonical(staged / lesson / f"{lesson}.ipynb", source)
    generated = nbg.generate_assignment(staged, lesson, tmp / "root")
    dest = release_dir / lesson
    expected: set[Path] = set()
    for path in sorted(generated.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(generated)
        target = dest / rel
        expected.add(target)
        if path.suffix == ".ipynb":
            text = notebooks.canonical_json(notebooks.load(path))
            same = target.is_file() and target.read_text(encoding="utf-8") == text
            if not same:
                why = "stale" if target.exists() else "missing"
                result.problems.append(f"{_rel(target, base)}: {why} (run `autograder release`)")
                if not check:
                    notebooks.write_canonical(target, notebooks.load(path))
                    result.written.append(_rel(target, base))
        elif not (target.is_file() and filecmp.cmp(path, target, shallow=False)):
            result.problems.append(f"{_rel(target, base)}: stale (run `autograder release`)")
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                result.written.append(_rel(target, base))
    if dest.is_dir():
        for path in sorted(dest.rglob("*")):
            if path.is_file() and path not in expected and ".ipynb_checkpoints" not in path.parts:
                result.problems.append(f"{_rel(path, base)}: not produced by the release")
                if not check:
                    path.unlink()
                    result.written.append(f"{_rel(path, base)} (removed)")
