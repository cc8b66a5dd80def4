"""``autograder doctor``: what the grader would use, in one screen."""

from __future__ import annotations

import sys
from importlib import metadata

from autograder.answer_key import cache_dir
from autograder.device import detect_device
from autograder.paths import CONFIG_FILE, RELEASE_DIR, SOURCE_DIR, course_dir, list_lessons

PACKAGES = (
    "nbgrader",
    "jupyter_core",
    "jupyter_client",
    "nbclient",
    "nbconvert",
    "nbformat",
    "ipykernel",
)


def kernel_for(name: str = "python3") -> str:
    """The command the grader's kernels run for kernelspec ``name``."""
    import os

    from autograder.run import job_env

    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = job_env(False)["JUPYTER_PATH"]
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

        try:
            spec = KernelSpecManager().get_kernel_spec(name)
        except NoSuchKernel:
            return f"no kernelspec {name!r} found"
        return f"{spec.argv[0]} (spec in {spec.resource_dir})"
    finally:
        if saved is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = saved


def report() -> str:
    """The doctor's report."""
    lines = [f"python: {sys.executable} ({sys.version.split()[0]})"]
    for pkg in PACKAGES:
        try:
            lines.append(f"{pkg}: {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{pkg}: not installed")
    lines.append(f"kernel python3: {kernel_for('python3')}")
    lines.append(f"nbgrader config: {CONFIG_FILE}")
    lines.append(f"course directory: {course_dir()}")
    sources, released = list_lessons(SOURCE_DIR), list_lessons(RELEASE_DIR)
    lines.append(f"lessons in {SOURCE_DIR.name}/: {len(sources)} ({', '.join(sources)})")
    lines.append(f"lessons in {RELEASE_DIR.name}/: {len(released)}")
    missing = sorted(set(sources) - set(released))
    if missing:
        lines.append(f"  not released yet: {', '.join(missing)} (run `autograder release`)")
    lines.append(f"device: {detect_device()}")
    keys = sorted(cache_dir().glob("*.json")) if cache_dir().is_dir() else []
    lines.append(f"answer keys: {len(keys)} cached in {cache_dir()} (autograder key LESSON)")
    lines.append("isolation of submissions (autograder grade):")
    lines += [f"  {name}: {status}" for name, status in sandbox_report().items()]
    return "\n".join(lines)


def sandbox_report() -> dict[str, str]:
    """The sandbox's protections, and whether ``autograder grade`` will grade at all."""
    from autograder.sandbox import Limits, bwrap_path, protections

    out = protections()
    out["default limits"] = Limits().describe()
    out["grading"] = (
        "isolated: every submission in its own sandbox"
        if bwrap_path()
        else "REFUSED without --no-isolation (install bubblewrap to isolate submissions)"
    )
    return out
