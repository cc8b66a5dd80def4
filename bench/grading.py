"""Grading benchmark: plain nbgrader against the isolated ``autograder grade``, 1 and 2 workers.

In one run, on the same N honest submissions of one lesson that trains a model (the released
student notebook with every solution cell answered as in ``solutions/``), in test mode
(``COURSE_FAST=1``, the grader's ``--fast``):

- plain nbgrader: ``nbgrader autograde LESSON`` (the CLI of this environment) in a plain
  nbgrader course folder with a minimal ``nbgrader_config.py``; ``generate_assignment`` runs
  once before and is not timed. nbgrader grades the submissions one after another, each in a
  kernel with the grader's own environment and file system, and writes no feedback;
- ``autograder grade SUBMISSIONS --lesson L --fast --workers 1 --out DIR --fresh``: each
  submission in a subprocess of its own, its kernel in a bubblewrap sandbox, the integrity
  guard around every test cell, its values judged against the lesson's answer key, then
  nbgrader's ``generate_feedback`` (the wall time includes the batch's one
  ``generate_assignment`` of the lesson; the answer key is made before, by ``autograder key``,
  as it is once per lesson and machine, and its time printed apart);
- the same with ``--workers 2``.

Each run gets a fresh results folder. It prints wall time, seconds per submission, submissions
per minute, and how many of the machine's cores were busy on average during the run, in all
and by other processes. Run it on an otherwise idle machine: before each run it waits (up to
``--idle-wait`` s) for other processes to go quiet, runs a row again (up to ``--attempts``)
when they took more than 0.1 core, shows the least disturbed attempt, and warns when even
that one was disturbed. It checks that every run gave every submission full marks
(grades.csv for the autograder, the gradebook for nbgrader; it exits 1 otherwise), and prints
PASS / FALL SHORT for the project's two targets: isolated grading (1 worker) costs at most 1.3x
plain nbgrader per submission, and 2 workers give at least 1.7x the throughput of 1 worker.

    .venv/bin/python bench/grading.py                          # 8 submissions of lesson 03
    .venv/bin/python bench/grading.py --n 4 --lesson 04-training
    .venv/bin/python bench/grading.py --keep                   # keep the folders (logs, job.log)
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder import notebooks  # noqa: E402
from autograder.paths import RELEASE_DIR, SOURCE_DIR, list_lessons, resolve_lesson  # noqa: E402

BIN = Path(sys.executable).parent
COST_TARGET = 1.3  # isolated grading (1 worker) per submission vs plain nbgrader, at most
SPEEDUP_TARGET = 1.7  # throughput of 2 workers vs 1 worker, at least
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
BUSY = 0.1  # cores taken by other processes above which a run is disturbed

PLAIN_CONFIG = """\
c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = {db!r}
c.Execute.timeout = {timeout}
c.Execute.startup_timeout = 120
"""


def honest_submission(lesson: str) -> dict:
    """The released student notebook with every solution cell answered as in the source."""
    source = notebooks.load(SOURCE_DIR / lesson / f"{lesson}.ipynb")
    release = copy.deepcopy(notebooks.load(RELEASE_DIR / lesson / f"{lesson}.ipynb"))
    answers = {notebooks.grade_id(c): c["source"] for c in source["cells"] if notebooks.grade_id(c)}
    replaced = 0
    for cell in release["cells"]:
        if (cell["metadata"].get("nbgrader") or {}).get("solution"):
            gid = notebooks.grade_id(cell)
            if gid not in answers:
                raise SystemExit(f"solution cell {gid!r} of the release is not in the source")
            cell["source"] = answers[gid]
            replaced += 1
    if not replaced:
        raise SystemExit(f"{lesson} has no solution cells")
    return release


def max_points(lesson: str) -> float:
    """Points of the lesson's autograded test cells."""
    source = notebooks.load(SOURCE_DIR / lesson / f"{lesson}.ipynb")
    return sum(
        float(c["metadata"]["nbgrader"].get("points", 0))
        for c in source["cells"]
        if notebooks.is_test_cell(c)
    )


def env_for(base: Path, fast: bool) -> dict[str, str]:
    """The grader's environment: this venv's bin/ first, quiet TensorFlow, scratch folders."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env.update(QUIET)
    env["AUTOGRADER_COURSE_DIR"] = str(base / "course-dir")  # never the repository's grading/
    env.pop("COURSE_FAST", None)
    if fast:
        env["COURSE_FAST"] = "1"
    return env


def busy_seconds() -> float:
    """CPU seconds this machine's cores have been busy since boot (all processes)."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait


class Others(threading.Thread):
    """CPU seconds used by processes that are not this benchmark's (sampled every second).

    Another test run on the same cores skews every timing here; this says how much of it
    there was. Processes that live less than a second between two samples are missed.
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.tick = os.sysconf("SC_CLK_TCK")
        self.me = os.getpid()
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.done = threading.Event()
        self.sample(baseline=True)

    def sample(self, baseline: bool = False) -> None:
        parents, cpu = {}, {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    with open(f"/proc/{entry.name}/stat", "rb") as fh:
                        stat = fh.read().rsplit(b")", 1)[1].split()
                except OSError:
                    continue
                pid = int(entry.name)
                parents[pid] = int(stat[1])
                cpu[pid] = (int(stat[11]) + int(stat[12])) / self.tick  # utime + stime
        for pid, used in cpu.items():
            p, seen = pid, set()
            while p > 1 and p != self.me and p not in seen:
                seen.add(p)
                p = parents.get(p, 0)
            if p == self.me:
                continue
            self.first.setdefault(pid, used if baseline else 0.0)
            self.last[pid] = used

    def run(self) -> None:
        while not self.done.wait(1.0):
            self.sample()

    def used(self) -> float:
        return sum(self.last[p] - self.first[p] for p in self.last)

    def stop(self) -> float:
        self.done.set()
        self.join()
        self.sample()
        return self.used()


def wait_idle(max_wait: float) -> None:
    """Wait (at most ``max_wait`` s) until other processes use less than 0.05 core for 3 s."""
    deadline = time.monotonic() + max_wait
    while True:
        others = Others()
        time.sleep(3)
        others.sample()
        load = others.used() / 3
        if load < 0.05 or time.monotonic() > deadline:
            return
        print(f"  waiting: other processes use {load:.2f} core", file=sys.stderr, flush=True)
        time.sleep(7)


def timed(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[float, float, float]:
    """Run ``cmd``; (wall seconds, busy CPU seconds of the whole machine meanwhile, CPU
    seconds of other processes meanwhile). Exits when the command fails.

    The machine's CPU time, not the command's: a sandboxed kernel is reaped inside its PID
    namespace, so its CPU time never reaches this process's ``RUSAGE_CHILDREN``.
    """
    others = Others()
    others.start()
    before = busy_seconds()
    started = time.perf_counter()
    with open(log, "wb") as fh:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - started
    cpu = busy_seconds() - before
    other = others.stop()
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{tail}")
    return wall, cpu, other


def plain_nbgrader(base: Path, lesson: str, subs: Path, timeout: int, attempt: int) -> dict:
    """``nbgrader autograde`` of every submission in a plain nbgrader course folder."""
    from nbgrader.api import Gradebook

    root = base / f"plain-{attempt}"
    (root / "source").mkdir(parents=True)
    shutil.copytree(
        SOURCE_DIR / lesson,
        root / "source" / lesson,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
    )
    db = f"sqlite:///{root / 'gradebook.db'}"
    config = PLAIN_CONFIG.format(root=str(root), db=db, timeout=timeout)
    (root / "nbgrader_config.py").write_text(config)
    env = env_for(base, fast=True)
    nbgrader = str(BIN / "nbgrader")
    generate, _, _ = timed(
        [nbgrader, "generate_assignment", lesson, "--force"], root, env, root / "generate.log"
    )
    shutil.copytree(subs, root / "submitted")
    wall, cpu, other = timed([nbgrader, "autograde", lesson], root, env, root / "autograde.log")
    scores = {}
    with Gradebook(db) as gb:
        for student in sorted(p.name for p in subs.iterdir()):
            try:
                nb = gb.find_submission_notebook(lesson, lesson, student)
                scores[student] = (float(nb.score or 0), float(nb.max_score or 0), "graded")
            except Exception as exc:  # not in the gradebook: nbgrader did not grade it
                scores[student] = (0.0, 0.0, f"missing: {exc}")
    return {"wall": wall, "cpu": cpu, "other": other, "scores": scores, "generate": generate}


def autograder_grade(
    base: Path, lesson: str, subs: Path, timeout: int, workers: int, attempt: int
) -> dict:
    """``autograder grade`` of every submission, in a fresh results folder."""
    out = base / f"out-w{workers}-{attempt}"
    cmd = [
        str(BIN / "autograder"), "grade", str(subs), "--lesson", lesson, "--fast",
        "--workers", str(workers), "--out", str(out), "--fresh", "--timeout", str(timeout),
    ]  # fmt: skip
    log = base / f"autograder-w{workers}-{attempt}.log"
    wall, cpu, other = timed(cmd, base, env_for(base, fast=False), log)
    scores = {}
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            total = float(rec["total"]) if rec["total"] else 0.0
            top = float(rec["max_score"]) if rec["max_score"] else 0.0
            why = rec["status"] + (f" ({rec['reason']})" if rec["reason"] else "")
            scores[rec["student"]] = (total, top, why)
    return {"wall": wall, "cpu": cpu, "other": other, "scores": scores, "out": out}


def full_marks(name: str, scores: dict, students: list[str], points: float) -> list[str]:
    """Problems: a student missing, or not graded with ``points`` out of ``points``."""
    problems = []
    for student in students:
        total, top, status = scores.get(student, (0.0, 0.0, "no row"))
        if not status.startswith("graded") or total != points or top != points:
            problems.append(f"{name}: {student} got {total:g}/{top:g} of {points:g}, {status}")
    extra = sorted(set(scores) - set(students))
    if extra:
        problems.append(f"{name}: rows for unknown students {extra}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="honest submissions (default 8)")
    parser.add_argument(
        "--lesson", default="03-building-a-cnn", help="lesson id or number (default 03)"
    )
    parser.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    parser.add_argument(
        "--attempts",
        type=int,
        default=3,
        help="runs of a row at most, while other processes took more than "
        f"{BUSY} core (the least disturbed is shown; default 3)",
    )
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=180,
        help="seconds to wait at most before each run for other processes to go quiet",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args()
    lesson = resolve_lesson(args.lesson, list_lessons(SOURCE_DIR))
    if lesson is None:
        parser.error(f"unknown lesson {args.lesson!r}")
    if args.n < 1 or args.attempts < 1:
        parser.error("--n and --attempts must be at least 1")

    base = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    subs = base / "submitted"
    nb = honest_submission(lesson)
    students = [f"student{i:02d}" for i in range(1, args.n + 1)]
    for student in students:
        path = subs / student / lesson / f"{lesson}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    points = max_points(lesson)

    # the first run would otherwise pay for reading TensorFlow from disk
    warm = [str(sys.executable), "-c", "import tensorflow, keras, nbgrader, course"]
    timed(warm, base, env_for(base, fast=True), base / "warm.log")
    # the answer key: made once per lesson, mode and machine, then cached (like the release)
    key_cmd = [str(BIN / "autograder"), "key", lesson, "--fast", "--timeout", str(args.timeout)]
    key_seconds, _, _ = timed(key_cmd, base, env_for(base, fast=False), base / "key.log")

    names = {
        "plain": "plain nbgrader autograde",
        1: "autograder grade --workers 1",
        2: "autograder grade --workers 2",
    }
    runs = {
        "plain": lambda a: plain_nbgrader(base, lesson, subs, args.timeout, a),
        1: lambda a: autograder_grade(base, lesson, subs, args.timeout, 1, a),
        2: lambda a: autograder_grade(base, lesson, subs, args.timeout, 2, a),
    }
    results: dict = {}
    problems: list[str] = []
    for key, run in runs.items():
        for attempt in range(1, args.attempts + 1):
            wait_idle(args.idle_wait)
            print(f"{names[key]}, {args.n} submissions ...", file=sys.stderr, flush=True)
            r = run(attempt)
            r["attempt"] = attempt
            problems += full_marks(names[key], r["scores"], students, points)
            others = r["other"] / r["wall"]
            if key not in results or others < results[key]["other"] / results[key]["wall"]:
                results[key] = r
            if others <= BUSY:
                break
            print(f"  other processes took {others:.2f} core", file=sys.stderr, flush=True)

    n = args.n
    per_plain = results["plain"]["wall"] / n
    print(
        f"\nlesson {lesson}, {n} honest submissions, test mode (COURSE_FAST=1), "
        f"{os.cpu_count()} cores"
    )
    print(
        f"{'':<32} {'wall s':>8} {'s/submission':>14} {'submissions/min':>17} "
        f"{'vs plain nbgrader':>19} {'cores busy':>11} {'of them others':>15}"
    )
    for key in runs:
        r = results[key]
        per = r["wall"] / n
        vs = "-" if key == "plain" else f"{per / per_plain:.2f}x cost"
        print(
            f"{names[key]:<32} {r['wall']:>8.1f} {per:>14.2f} {60 / per:>17.2f} {vs:>19} "
            f"{r['cpu'] / r['wall']:>11.2f} {r['other'] / r['wall']:>15.2f}"
        )
    speedup = results[1]["wall"] / results[2]["wall"]
    cost = (results[1]["wall"] / n) / per_plain
    print(f"workers 2 vs 1: throughput {speedup:.2f}x")
    print(
        f"(not timed: plain nbgrader's generate_assignment, {results['plain']['generate']:.1f} s;"
        f" the lesson's answer key, {key_seconds:.1f} s, made once per lesson and machine and "
        "cached; the autograder rows include generate_assignment and a feedback page per "
        "submission)"
    )
    busy = [k for k in runs if results[k]["other"] / results[k]["wall"] > BUSY]
    if busy:
        print(
            f"warning: other processes kept more than {BUSY} core busy during "
            + ", ".join(names[k] for k in busy)
            + f" in each of {args.attempts} attempt(s): those timings are skewed"
        )
    retried = [f"{names[k]} (attempt {results[k]['attempt']})" for k in runs]
    if any(results[k]["attempt"] > 1 for k in runs):
        print("rows from: " + ", ".join(retried))

    if problems:
        print(f"\nFULL MARKS CHECK FAILED ({len(problems)} problem(s)):")
        for problem in problems:
            print(f"  {problem}")
    else:
        print(f"full marks: every run gave all {n} submissions {points:g}/{points:g}")

    verdict = {True: "PASS", False: "FALL SHORT"}
    print(
        f"{verdict[cost <= COST_TARGET]}: isolated grading (workers 1) costs {cost:.2f}x plain "
        f"nbgrader per submission (target at most {COST_TARGET}x)"
    )
    print(
        f"{verdict[speedup >= SPEEDUP_TARGET]}: 2 workers give {speedup:.2f}x the throughput of "
        f"1 worker (target at least {SPEEDUP_TARGET}x)"
    )
    if args.keep or problems:
        print(f"folders kept in {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
