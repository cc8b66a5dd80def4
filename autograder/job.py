"""One grading job, run as ``python -m autograder.job JOBDIR`` in a subprocess of the grader.

``JOBDIR`` is a complete nbgrader course root for one student and one lesson (source, a copy
of the lesson's gradebook, the sanitised submission) plus ``job.json``. This process runs
nbgrader's ``autograde`` then ``generate_feedback`` with the course configuration and writes
``result.json``. A crash here, a dead kernel or an nbgrader abort affect this job only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def run(jobdir: Path) -> dict:
    """Autograde and render feedback for the job in ``jobdir``; return what happened."""
    from autograder import nbg
    from autograder.preprocessors import Execute

    spec = json.loads((jobdir / "job.json").read_text())
    lesson, student = spec["lesson"], spec["student"]
    config = nbg.load_config(jobdir, Execute__timeout=int(spec["timeout"]))
    result: dict = {"autograded": False, "feedback": False, "died_at": None}
    ok, log = nbg.run_converter(
        "Autograde", jobdir, lesson, student, config=config, force=True, create_student=True
    )
    result["autograded"] = ok
    result["died_at"] = Execute.died_at
    result["log"] = log[-20000:]
    if ok:
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
    argv = sys.argv[1:] if argv is None else argv
    jobdir = Path(argv[0]).resolve()
    result = run(jobdir)
    (jobdir / "result.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
