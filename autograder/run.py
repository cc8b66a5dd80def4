"""The *run* step: nbgrader autogrades one job folder in a process of its own.

``JOBDIR`` is a complete nbgrader course root for one student and one lesson (the lesson's
source, a copy of its gradebook, the repaired submission) plus ``job.json`` (a
:class:`~autograder.spec.JobSpec`). :func:`run_job` starts ``python -m autograder.run JOBDIR``
(or a fork of a grader that already imported nbgrader), in a session of its own and with a time
limit. That process runs nbgrader's ``autograde`` and ``generate_feedback`` with the course
configuration and writes ``result.json`` (a :class:`~autograder.spec.RunResult`). The kernel
does not run there: it starts in a sandbox that cannot see ``JOBDIR``
(:class:`~autograder.preprocessors.Execute`) and talks to the process over Unix sockets in a
private temporary folder, which also holds the integrity guard's pipe. A crash, a dead kernel
or an nbgrader abort affect this job only.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from autograder import nbg
from autograder.preprocessors.execute import Execution
from autograder.spec import JobSpec, RunResult, slug
from course.env import FAST_ENV_VAR, QUIET_ENV


def job_env(fast: bool) -> dict[str, str]:
    """The environment of a grading process (and of unconfined kernels it starts)."""
    env = nbg.tool_env()
    env.update(QUIET_ENV)
    env.pop(FAST_ENV_VAR, None)
    if fast:
        env[FAST_ENV_VAR] = "1"
    # the kernelspec `python3` of the environment running the grader wins over any other
    share = str(Path(sys.prefix) / "share" / "jupyter")
    others = [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p and p != share]
    env["JUPYTER_PATH"] = os.pathsep.join([share, *others])
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --- in the grading process ------------------------------------------------------------------


def grade_folder(jobdir: Path) -> RunResult:
    """Autograde and render feedback for the job in ``jobdir``; return what happened."""
    spec = JobSpec.read(jobdir)
    student = slug(spec.student)
    channel = tempfile.mkdtemp(prefix="ag-")  # short: Unix socket paths are limited to 107 bytes
    config = nbg.load_config(
        jobdir,
        Execute__timeout=spec.timeout,
        Execute__job_dir=str(jobdir),
        Execute__channel=channel,
    )
    try:
        ok, log = nbg.run_converter(
            "Autograde",
            jobdir,
            spec.lesson,
            student,
            config=config,
            force=True,
            create_student=True,
        )
    finally:
        shutil.rmtree(channel, ignore_errors=True)
    execution = Execution.read(jobdir)
    result = RunResult(
        autograded=ok,
        died_at=execution.died_at,
        guard=execution.guard,
        recorded=execution.recorded,
        rebinds=execution.rebinds,
        log=log[-20000:],
    )
    if ok and not spec.record:  # an answer-key run needs no feedback
        ok, flog = nbg.run_converter(
            "GenerateFeedback",
            jobdir,
            spec.lesson,
            student,
            config=nbg.load_config(jobdir),
            force=True,
        )
        result.feedback = ok
        if not ok:
            result.log += "\n" + flog[-20000:]
    return result


def die_with_parent() -> None:
    """Ask Linux to kill this process when the grader that started it dies (kill -9 included)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m autograder.run JOBDIR``."""
    die_with_parent()
    argv = sys.argv[1:] if argv is None else argv
    jobdir = Path(argv[0]).resolve()
    grade_folder(jobdir).write(jobdir)
    return 0


# --- in the grader ---------------------------------------------------------------------------


@functools.cache
def preload() -> None:
    """Import what a grading process runs (nbgrader, nbconvert, the kernel manager) once per
    process, so that each job forks from a ready one."""
    import nbgrader.converters  # noqa: F401  (heavy; imported on purpose, once)

    import autograder.preprocessors  # noqa: F401


def run_job(jobdir: Path, spec: JobSpec, limit: float) -> str:
    """Run the job of ``jobdir`` in a process of its own, in its own session; return '' or why
    it did not finish.

    When this process has a single thread, the job is a fork of it with nbgrader already
    imported (about 2 s less per submission than a fresh ``python -m autograder.run``);
    otherwise, and where fork does not exist, a new interpreter starts.
    """
    env = job_env(spec.fast)
    with open(jobdir / "job.log", "wb") as log:
        if hasattr(os, "fork") and threading.active_count() == 1:
            preload()
            pid = _fork(jobdir, env, log.fileno())
        else:
            pid = subprocess.Popen(
                [sys.executable, "-m", "autograder.run", str(jobdir)],
                cwd=jobdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            ).pid
    deadline = time.monotonic() + limit
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return f"grading took longer than {limit:.0f} s and was stopped"
        time.sleep(0.05)
    code = os.waitstatus_to_exitcode(status)
    return "" if code == 0 else f"the grading process failed (exit code {code})"


def _fork(jobdir: Path, env: dict[str, str], log_fd: int) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # the child: a grading process like `python -m autograder.run jobdir`
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.chdir(jobdir)
        os.environ.clear()
        os.environ.update(env)
        code = main([str(jobdir)])
    except BaseException:  # noqa: BLE001  (reported in job.log; the parent sees exit code 1)
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
