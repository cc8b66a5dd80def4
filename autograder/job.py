"""One grading job, run as ``python -m autograder.job JOBDIR`` in a subprocess of the grader.

``JOBDIR`` is a complete nbgrader course root for one student and one lesson (source, a copy
of the lesson's gradebook, the sanitised submission) plus ``job.json``. This process runs
nbgrader's ``autograde`` then ``generate_feedback`` with the course configuration and writes
``result.json``. The kernel does not run here: it starts in a sandbox
(:mod:`autograder.sandbox`) that cannot see ``JOBDIR``, and talks to this process over Unix
sockets in a private temporary folder, which also holds the integrity guard's pipe
(:mod:`autograder.guard`). A crash here, a dead kernel or an nbgrader abort affect this job
only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path


def die_with_parent() -> None:
    """Ask Linux to kill this process when the grader that started it dies (kill -9 included)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _mpl_font_cache() -> str:
    """The grader's matplotlib font list, copied into each kernel (it saves a rebuild)."""
    base = Path(os.environ.get("MPLCONFIGDIR") or Path.home() / ".cache" / "matplotlib")
    found = sorted(base.glob("fontlist-v*.json"), key=lambda p: p.stat().st_mtime)
    return str(found[-1]) if found else ""


def run(jobdir: Path) -> dict:
    """Autograde and render feedback for the job in ``jobdir``; return what happened."""
    from autograder import guard, nbg, notebooks
    from autograder.preprocessors import Execute
    from autograder.sandbox import SandboxedKernelManager, SandboxSpec

    spec_raw = json.loads((jobdir / "job.json").read_text())
    lesson, student = spec_raw["lesson"], spec_raw["student"]
    channel = tempfile.mkdtemp(prefix="ag-")  # short: Unix socket paths are limited to 107 bytes
    spec = SandboxSpec.from_json({**spec_raw.get("sandbox", {}), "ipc_dir": channel})
    spec.data_dir = str(jobdir / "source" / lesson)
    spec.mpl_cache = _mpl_font_cache() if spec.isolate else ""
    SandboxedKernelManager.spec = spec
    Execute.channel = channel
    if not spec.isolate:
        Execute.writable = (tempfile.gettempdir(), str(jobdir))
    source = notebooks.load(jobdir / "source" / lesson / f"{lesson}.ipynb")
    Execute.preimport = guard.lesson_imports(source)
    Execute.exercises = guard.exercise_names(source)
    Execute.helpers = guard.exercise_helpers(source)
    Execute.record = bool(spec_raw.get("record"))
    if spec_raw.get("key"):
        key = json.loads(Path(spec_raw["key"]).read_text())
        Execute.key, Execute.rebinds = key["cells"], key["rebinds"]
    config = nbg.load_config(jobdir, Execute__timeout=int(spec_raw["timeout"]))
    result: dict = {"autograded": False, "feedback": False, "died_at": None, "guard": None}
    try:
        ok, log = nbg.run_converter(
            "Autograde", jobdir, lesson, student, config=config, force=True, create_student=True
        )
    finally:
        SandboxedKernelManager.release()
        shutil.rmtree(channel, ignore_errors=True)
    result["autograded"] = ok
    result["died_at"] = Execute.died_at
    result["guard"] = Execute.guard_findings
    result["log"] = log[-20000:]
    if Execute.record:
        result["recorded"] = Execute.recorded
        result["rebinds"] = [json.loads(t) for t in Execute.guard_rebinds]
    elif ok:
        config = nbg.load_config(jobdir)
        ok, flog = nbg.run_converter(
            "GenerateFeedback", jobdir, lesson, student, config=config, force=True
        )
        result["feedback"] = ok
        if not ok:
            result["log"] += "\n" + flog[-20000:]
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m autograder.job JOBDIR``."""
    die_with_parent()
    argv = sys.argv[1:] if argv is None else argv
    jobdir = Path(argv[0]).resolve()
    result = run(jobdir)
    (jobdir / "result.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
