"""``autograder``: release lessons, grade and validate notebooks, make answer keys, doctor.

autograder release [--check]
autograder grade SUBMISSIONS [--lesson L] [--out DIR] [--timeout S] [--fast] [--workers N]
                 [--memory-limit SIZE] [--max-tasks N] [--no-isolation]
                 [--fresh] [--dask-scheduler ADDRESS]
autograder validate NOTEBOOK [--timeout S] [--fast] [--lesson L]
autograder key LESSON [--fast] [--timeout S] [--no-isolation]
autograder doctor
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.spec import DEFAULT_TIMEOUT


def _release(args: argparse.Namespace) -> int:
    from autograder.release import release

    result = release(args.source, args.release, check=args.check)
    if args.check:
        if result.in_sync:
            print(f"lessons in sync with solutions ({len(result.lessons)} lesson(s))")
            return 0
        print("out of date (run `autograder release`):", file=sys.stderr)
        for problem in result.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    for path in result.written:
        print(f"wrote {path}")
    print(f"released {len(result.lessons)} lesson(s); {len(result.written)} file(s) changed")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from autograder import report
    from autograder.batch import grade_batch
    from autograder.submissions import SubmissionError

    try:
        result = grade_batch(
            args.submissions,
            lesson=args.lesson,
            out=args.out,
            timeout=args.timeout,
            fast=args.fast,
            workers=args.workers,
            source_dir=args.source,
            fresh=args.fresh,
            dask_scheduler=args.dask_scheduler,
            isolate=not args.no_isolation,
            limits=_limits(args),
        )
    except (SubmissionError, ValueError, OSError) as exc:
        print(f"autograder grade: {exc}", file=sys.stderr)
        return 2
    print(report.summary(result.rows))
    print(
        f"graded {len(result.graded)} submission(s) now, "
        f"reused {len(result.reused)} result(s) of an earlier run"
    )
    print(f"grades: {result.csv}")
    print(f"feedback: {result.out / 'feedback'}")
    return 0


def _limits(args: argparse.Namespace) -> dict | None:
    """The sandbox limits given on the command line (only those that differ from defaults)."""
    limits = {}
    if args.memory_limit:
        limits["memory_bytes"] = args.memory_limit
    if args.max_tasks:
        limits["tasks"] = args.max_tasks
    return limits or None


def _size(text: str) -> int:
    from autograder.sandbox import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _validate(args: argparse.Namespace) -> int:
    from autograder.validate import validate

    ok, text = validate(
        args.notebook,
        timeout=args.timeout,
        fast=args.fast,
        source_dir=args.source,
        lesson=args.lesson,
    )
    print(text)
    return 0 if ok else 1


def _key(args: argparse.Namespace) -> int:
    import time

    from autograder import answer_key
    from autograder.paths import SOURCE_DIR, list_lessons, resolve_lesson

    source = Path(args.source or SOURCE_DIR)
    lesson = resolve_lesson(args.lesson, list_lessons(source))
    if lesson is None:
        print(f"autograder key: unknown lesson {args.lesson!r}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        path = answer_key.prepare(
            lesson,
            source_dir=source,
            fast=args.fast,
            timeout=args.timeout,
            isolate=not args.no_isolation,
            progress=lambda text: print(text, file=sys.stderr),
        )
    except (answer_key.AnswerKeyError, OSError, RuntimeError) as exc:
        print(f"autograder key: {exc}", file=sys.stderr)
        return 1
    print(f"answer key of {lesson}: {path} ({time.monotonic() - started:.1f} s)")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from autograder.doctor import report

    print(report())
    return 0


def parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(prog="autograder", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("release", help="regenerate lessons/ from solutions/")
    r.add_argument("--check", action="store_true", help="change nothing; exit 1 when stale")
    r.add_argument("--source", type=Path, default=None, help="source folder (solutions/)")
    r.add_argument("--release", type=Path, default=None, help="release folder (lessons/)")
    r.set_defaults(func=_release)

    g = sub.add_parser("grade", help="grade a folder or zip of submissions")
    g.add_argument(
        "submissions",
        type=Path,
        help="<student>/<lesson>/<notebook>.ipynb, <student>_<lesson>.ipynb, or a zip",
    )
    g.add_argument("--lesson", help="grade only this lesson (id or number)")
    g.add_argument(
        "--out", type=Path, default=None, help="results folder (default: <course dir>/results)"
    )
    g.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds per cell")
    g.add_argument("--fast", action="store_true", help="run lessons in test mode (COURSE_FAST=1)")
    g.add_argument(
        "--workers",
        type=int,
        default=None,
        help="submissions graded in parallel (default: one per GPU, each pinned to its GPU; "
        "one per CPU core without GPUs)",
    )
    g.add_argument(
        "--fresh", action="store_true", help="regrade everything; ignore results saved in --out"
    )
    g.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        default=None,
        help="grade on this Dask cluster (tcp://host:port); its workers must see the same "
        "paths (shared file system) and run the same environment",
    )
    g.add_argument(
        "--memory-limit",
        type=_size,
        default=None,
        metavar="SIZE",
        help="memory per submission, all its processes together (default 4G)",
    )
    g.add_argument(
        "--max-tasks",
        type=int,
        default=None,
        metavar="N",
        help="processes and threads per submission (default 1024)",
    )
    g.add_argument(
        "--no-isolation",
        action="store_true",
        help="run kernels without the sandbox (refused by default when no sandbox can be "
        "built; only for code you trust)",
    )
    g.add_argument("--source", type=Path, default=None, help="source folder (solutions/)")
    g.set_defaults(func=_grade)

    v = sub.add_parser("validate", help="check and run one notebook before handing it in")
    v.add_argument("notebook", type=Path)
    v.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds per cell")
    v.add_argument("--fast", action="store_true", help="run the lesson in test mode")
    v.add_argument("--lesson", help="the lesson, when the file name does not say")
    v.add_argument("--source", type=Path, default=None, help="source folder (solutions/)")
    v.set_defaults(func=_validate)

    k = sub.add_parser(
        "key",
        help="make a lesson's answer key now (grading makes it when missing; it is cached)",
    )
    k.add_argument("lesson", help="lesson id or number")
    k.add_argument("--fast", action="store_true", help="for grading in test mode")
    k.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds per cell")
    k.add_argument("--no-isolation", action="store_true", help="run the solution unsandboxed")
    k.add_argument("--source", type=Path, default=None, help="source folder (solutions/)")
    k.set_defaults(func=_key)

    d = sub.add_parser("doctor", help="versions, kernel, course directory, lessons, GPUs")
    d.set_defaults(func=_doctor)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the ``autograder`` command."""
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
