"""The ``course`` command: ``doctor``, ``lessons``, ``run``, ``data``, ``pretrain``.

course doctor                     what this machine has: versions, devices, datasets, serving
course lessons                    the lessons, with titles and exercise points
course run [--fast] [LESSON...]   execute lessons headless into build/ (notebook + HTML)
course data list                  the registered datasets
course data show NAME|FOLDER      one dataset: source, classes, counts (optionally a picture)
course pretrain                   regenerate the shipped backbone (course/assets/) of lesson 07
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from course_tools import runner as lesson_mod

PACKAGES = (
    "tensorflow",
    "keras",
    "numpy",
    "scikit-learn",
    "scikit-image",
    "matplotlib",
    "jupyterlab",
    "nbgrader",
    "papermill",
)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _docker_engine() -> str:
    from course.serving.launcher import docker_engine

    version = docker_engine()
    if version:
        return f"engine {version} answers"
    if shutil.which("docker"):
        return "docker client found, engine not answering"
    return "no docker client"


def _is_cached(name: str) -> bool:
    from course import data

    return all((data.cache_dir() / f.filename).is_file() for f in data.info(name).files)


def _backbone_status() -> str:
    from course import models

    try:
        card = models.backbone_card()
    except FileNotFoundError:
        return "missing: run `course pretrain`"
    if not models.BACKBONE_WEIGHTS.is_file():
        return "weights missing: run `course pretrain`"
    return (
        f"{models.BACKBONE_WEIGHTS.name}, held-out accuracy {card['held_out_accuracy']} on "
        f"{', '.join(card['classes'])}"
    )


def cmd_doctor(args: argparse.Namespace) -> int:
    import course
    from course import data

    rows: list[tuple[str, str]] = [
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("platform", platform.platform()),
    ]
    rows += [(p, _version(p)) for p in PACKAGES]
    env = course.setup(seed=0, verbose=False)
    rows += [
        ("backend", env.backend),
        ("devices", ", ".join(env.devices)),
        ("strategy", type(env.strategy).__name__ if env.strategy is not None else "none"),
        ("test mode", "on (COURSE_FAST)" if env.fast else "off"),
    ]
    offline = [n for n in data.names() if data.info(n).offline]
    rows.append(("offline datasets", ", ".join(offline) + ", any folder root/<class>/<image>"))
    cached = []
    for name in data.names():
        info = data.info(name)
        if not info.offline:
            cached.append(f"{name} ({'cached' if _is_cached(name) else 'needs download'})")
    rows.append(("download datasets", ", ".join(cached)))
    rows.append(("data cache", str(data.cache_dir())))
    rows.append(("pretrained backbone", _backbone_status()))
    tfs = shutil.which("tensorflow_model_server")
    rows.append(("tensorflow_model_server", tfs or "not on PATH"))
    docker = _docker_engine()
    rows.append(("docker", docker))
    serve_with = (
        "TF Serving"
        if tfs
        else "TF Serving in Docker"
        if docker.startswith("engine")
        else "the course's TF-Serving-compatible development server"
    )
    rows.append(("course serve starts", serve_with))
    try:
        root = lesson_mod.repo_root()
        rows.append(("course folder", str(root)))
        rows.append(("lessons", str(len(lesson_mod.find_lessons("lessons", root)))))
    except FileNotFoundError as exc:
        rows.append(("course folder", str(exc)))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def cmd_lessons(args: argparse.Namespace) -> int:
    found = lesson_mod.find_lessons(args.source)
    if not found:
        print(f"no lessons found under {args.source}/", file=sys.stderr)
        return 1
    for lesson in found:
        points = f"{lesson.exercises} exercises, {lesson.points:g} points"
        print(f"{lesson.id:<28} {lesson.title:<40} {points}")
    return 0


def _parse_parameters(pairs: list[str]) -> dict:
    parameters = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"parameters look like name=value (e.g. image_size=32); got {pair!r}")
        try:
            parameters[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            parameters[key] = raw  # a plain string such as a folder path
    return parameters


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    root = lesson_mod.repo_root()
    chosen = lesson_mod.select(lesson_mod.find_lessons(args.source, root), args.lessons)
    parameters = _parse_parameters(args.param)
    out_dir = Path(args.out) if args.out else root / "build" / ("fast" if args.fast else "full")
    mode = "test mode" if args.fast else "full mode"
    print(f"running {len(chosen)} lesson(s) from {args.source}/ in {mode} -> {out_dir}")
    results = []
    with tqdm(chosen, unit="lesson", file=sys.stdout) as bar:
        for lesson in bar:
            bar.set_postfix_str(lesson.id)
            result = lesson_mod.run_lesson(
                lesson,
                out_dir,
                fast=args.fast,
                parameters=parameters,
                progress=not args.quiet,
                timeout=args.timeout,
            )
            results.append(result)
    print(f"\n{'lesson':<28} {'result':<6} {'seconds':>8}  output")
    for r in results:
        status = "pass" if r.ok else "FAIL"
        print(f"{r.lesson.id:<28} {status:<6} {r.seconds:8.1f}  {r.html or r.notebook}")
        if r.error:
            print("    " + r.error.replace("\n", "\n    "))
    total = sum(r.seconds for r in results)
    failed = [r.lesson.id for r in results if not r.ok]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed in {total:.1f} s")
    return 1 if failed else 0


def cmd_data(args: argparse.Namespace) -> int:
    from course import data

    if args.action == "list":
        print(data.describe_registry())
        return 0
    if not args.name:
        print(
            "course data show needs a dataset name or a folder, e.g. `course data show digits`",
            file=sys.stderr,
        )
        return 2
    name = args.name
    if name in data.names():
        info = data.info(name)
        print(f"{info.name}: {info.description}")
        print(f"source: {info.source} | offline: {'yes' if info.offline else 'no'}")
        if not info.offline and not _is_cached(name):
            print("not downloaded yet; `data.load(name)` downloads it once into the cache.")
            return 0
    ds = data.load(name, limit=args.limit) if args.limit else data.load(name)
    print(repr(ds))
    if args.save:
        from course import plots

        plots.image_grid(ds.images, ds.labels, class_names=ds.class_names, n=25).savefig(args.save)
        print(f"wrote {args.save}")
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    import course
    from course import models
    from course_tools.pretrain import pretrain, source_task

    course.setup(seed=args.seed, verbose=False)
    print(f"source task: {source_task(seed=args.seed)}")
    print(
        f"training on {args.per_class} images per class for {args.epochs} epochs "
        "(about 3 minutes on a 2-core CPU with the defaults)"
    )
    card = pretrain(per_class=args.per_class, epochs=args.epochs, seed=args.seed, out=args.out,
                    verbose=2)  # fmt: skip
    for key in ("held_out_accuracy", "final_train_accuracy", "train_seconds", "weights_sha256"):
        print(f"{key}: {card[key]}")
    out = Path(args.out) if args.out else models.ASSETS
    print(f"wrote {out / models.BACKBONE_WEIGHTS.name} and {out / models.BACKBONE_CARD.name}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from course.serving import launcher
    from course_tools.serving import server

    choices = launcher.available_backends()
    backend = choices[0] if args.backend == "auto" else args.backend
    if backend not in choices:
        print(f"course serve: {backend} is not available here (found: {', '.join(choices)})")
        return 2
    argv = list(args.tf_serving_flags)
    flags = server.build_parser().parse_args(argv)  # TF Serving's spelling; exits 2 if not
    if not (flags.model_base_path or flags.model_config_file):
        print(
            "course serve: give --model_base_path DIR [--model_name NAME] or "
            "--model_config_file FILE"
        )
        return 2
    if not any(a.split("=")[0] == "--rest_api_port" for a in argv):
        argv.append(f"--rest_api_port={flags.rest_api_port}")  # TF Serving's default is off
    if backend == "dev":
        print(
            "course serve: no tensorflow_model_server or Docker engine here; starting the "
            "course's TF-Serving-compatible development server (Ctrl-C stops it)",
            flush=True,
        )
        return server.main(argv)
    if backend == "docker":
        if flags.model_config_file:
            print(
                "course serve: with Docker, pass --model_base_path and --model_name (mount "
                "a config yourself: see lesson 09)"
            )
            return 2
        command = launcher.docker_command(
            flags.model_base_path, flags.model_name, flags.rest_api_port
        ).split()
        print(f"course serve: starting TF Serving in Docker: {' '.join(command)}", flush=True)
        return subprocess.call(command)
    binary = shutil.which("tensorflow_model_server") or "tensorflow_model_server"
    print(f"course serve: starting TF Serving ({binary})", flush=True)
    dev_only = ("--host", "--max_body_bytes", "--allow_non_finite")
    os.execv(binary, [binary, *(a for a in argv if not a.startswith(dev_only))])
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="course", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check this machine").set_defaults(func=cmd_doctor)
    p = sub.add_parser("lessons", help="list the lessons")
    p.add_argument("--source", choices=["solutions", "lessons"], default="lessons")
    p.set_defaults(func=cmd_lessons)
    p = sub.add_parser("run", help="execute lessons headless (notebook + HTML under build/)")
    p.add_argument("lessons", nargs="*", help="ids or numbers (default: all)")
    p.add_argument("--fast", action="store_true", help="test mode: small data, few epochs")
    p.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a parameters-cell value, e.g. -p dataset=/path/to/photos",
    )
    p.add_argument(
        "--source",
        choices=["solutions", "lessons"],
        default="solutions",
        help="solutions (complete, default) or lessons (the student copies)",
    )
    p.add_argument("--out", help="output folder (default build/full or build/fast)")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    p.add_argument("--quiet", action="store_true", help="no per-cell progress bar")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("data", help="the datasets")
    p.add_argument("action", choices=["list", "show"])
    p.add_argument("name", nargs="?", help="a dataset name or a folder root/<class>/<image>")
    p.add_argument("--limit", type=int, help="load at most this many images")
    p.add_argument("--save", help="write a grid of 25 images to this PNG")
    p.set_defaults(func=cmd_data)
    p = sub.add_parser("pretrain", help="regenerate lesson 07's pretrained backbone")
    p.add_argument("--per-class", type=int, default=1500, help="source images per class")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--seed", type=int, default=1, help="seed of the source images and weights")
    p.add_argument("--out", help="output folder (default: course/assets/, the shipped copy)")
    p.set_defaults(func=cmd_pretrain)
    p = sub.add_parser(
        "serve",
        help="serve SavedModels over TF Serving's REST API (real TF Serving if present)",
        description="Starts tensorflow_model_server when it is on PATH, else TF Serving in "
        "Docker when an engine answers, else the course's development server. Every other "
        "flag is tensorflow_model_server's (--model_base_path, --model_name, "
        "--model_config_file, --rest_api_port, --port, --enable_batching=true, ...): "
        "python -m course_tools.serving.server --help lists them.",
    )
    p.add_argument(
        "--backend", choices=["auto", "tensorflow_model_server", "docker", "dev"], default="auto"
    )
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "serve":  # the rest are tensorflow_model_server's flags
        args.tf_serving_flags = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"course {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
