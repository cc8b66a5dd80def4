"""The job specification: one submission to grade, from the batch down to its kernel and back.

A :class:`JobSpec` holds plain values only, so it pickles to a pool worker or a Dask worker and
travels as ``job.json`` to the grading process; the grading process derives the kernel's
sandbox (:class:`~autograder.sandbox.SandboxSpec`) and the executor's settings from it, and
hands back a :class:`RunResult` (``result.json``). Nothing passes through class attributes.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.sandbox import Limits

DEFAULT_TIMEOUT = 120  # seconds per cell
JOB_FILE = "job.json"
RESULT_FILE = "result.json"


def slug(name: str) -> str:
    """A file-system and nbgrader safe form of a student id."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip(".") or "student"


@dataclass(frozen=True)
class JobSpec:
    """One grading job: a submission (or, with ``record``, a lesson's solution for its answer
    key) and every option that decides how it is graded."""

    student: str
    lesson: str
    notebook: str | None  # the submitted file; None when there is nothing to grade
    template: str | None  # the lesson's prepared course root (:mod:`autograder.prepare`)
    workdir: str  # this job's own nbgrader course root
    feedback_dir: str
    timeout: int = DEFAULT_TIMEOUT
    fast: bool = False  # test mode (COURSE_FAST=1)
    error: str | None = None  # why it cannot be graded (an error row says so)
    note: str | None = None  # what the reason column should mention anyway
    isolate: bool = True  # False only when the instructor passed --no-isolation
    limits: Limits = field(default_factory=Limits)
    threads: int = 0  # CPU threads for the kernel (0: all); parallel workers share the cores
    key: str | None = None  # the lesson's answer key file; None: nothing is judged
    record: bool = False  # an answer-key run: record what the tests send instead of judging

    def with_options(self, **changes: Any) -> JobSpec:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        """The spec as ``job.json`` holds it."""
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        """The spec of a ``job.json``."""
        raw = json.loads(text)
        return cls(**{**raw, "limits": Limits(**raw.get("limits") or {})})

    @classmethod
    def read(cls, jobdir: Path) -> JobSpec:
        """The spec of the job folder ``jobdir``."""
        return cls.from_json((jobdir / JOB_FILE).read_text(encoding="utf-8"))


@dataclass
class RunResult:
    """What the grading process reports about one run (``result.json``)."""

    autograded: bool = False
    feedback: bool = False
    died_at: dict[str, Any] | None = None  # where the kernel died, and why
    guard: list[str] | None = None  # the integrity guard's findings; None: it never reported
    recorded: dict[str, list[str]] = field(default_factory=dict)  # answer-key runs: values
    rebinds: list[list[str]] = field(default_factory=list)  # answer-key runs: lesson rebinding
    log: str = ""

    def write(self, jobdir: Path) -> None:
        """Save as ``result.json`` in ``jobdir``."""
        (jobdir / RESULT_FILE).write_text(json.dumps(dataclasses.asdict(self), indent=1))

    @classmethod
    def read(cls, jobdir: Path) -> RunResult | None:
        """The result of the job folder ``jobdir``, or None when the run left none."""
        try:
            raw = json.loads((jobdir / RESULT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})
