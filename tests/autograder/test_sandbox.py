"""The sandbox itself, without nbgrader: a Python process started the way kernels are."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO
from helpers.sandbox import require_sandbox

from autograder import sandbox
from autograder.sandbox import CGroup, Limits, SandboxSpec, bwrap_command, parse_size

require_sandbox()


def run_inside(tmp_path: Path, code: str, limits: Limits | None = None, **spec) -> dict:
    """Run ``code`` in the sandbox (in a cgroup when there are cgroups); it prints JSON."""
    ipc = tmp_path / "ipc"
    ipc.mkdir(exist_ok=True)
    spec = SandboxSpec(ipc_dir=str(ipc), limits=limits or Limits(), **spec)
    cmd = bwrap_command(spec, [sys.executable, "-c", code])
    group = CGroup(spec.limits) if sandbox.cgroup_mode() else None
    if group is not None:
        cmd = group.enter_command(cmd)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        oom = group.out_of_memory() if group else None
        if group is not None:
            group.close()
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    out = json.loads(lines[-1]) if lines else {}
    return {"rc": proc.returncode, "stderr": proc.stderr, "oom": oom, **out}


def test_the_kernel_sees_nothing_of_the_grader(tmp_path, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    secret = tmp_path / "gradebook.db"
    secret.write_text("scores")
    code = f"""
import json, os, sys
print(json.dumps({{
    "cwd": os.getcwd(), "uid": os.getuid(), "pid": os.getpid(),
    "env": sorted(os.environ),
    "solutions": os.path.exists({str(REPO / "solutions")!r}),
    "tests": os.path.exists({str(REPO / "tests")!r}),
    "gradebook": os.path.exists({str(secret)!r}),
    "home": os.listdir(os.environ["HOME"]),
    "path0": sys.path[0],
    "course": __import__("course").__file__,
}}))
"""
    seen = run_inside(tmp_path, code)
    assert seen["rc"] == 0, seen["stderr"]
    assert seen["cwd"] == sandbox.WORK and seen["uid"] == 1000 and seen["pid"] <= 3
    assert not seen["solutions"] and not seen["tests"] and not seen["gradebook"]
    assert not any("NBGRADER" in k or "AUTOGRADER" in k for k in seen["env"])
    assert seen["home"] == [".config", "work"] or sorted(seen["home"]) == [".config", "work"]
    assert seen["path0"] != "" and "work" not in seen["path0"]
    assert seen["course"].startswith(str(REPO / "course"))


def test_no_network_not_even_the_hosts_loopback(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    code = f"""
import json, socket
s = socket.socket(); s.settimeout(2)
host = s.connect_ex(("127.0.0.1", {port}))
try:
    socket.create_connection(("8.8.8.8", 53), timeout=2); outside = "connected"
except OSError as exc:
    outside = type(exc).__name__
own = socket.socket(); own.bind(("127.0.0.1", 0)); own.listen(1)
c = socket.socket(); c.connect(own.getsockname())
print(json.dumps({{"host": host, "outside": outside, "own_loopback": True}}))
"""
    seen = run_inside(tmp_path, code)
    with pytest.raises(TimeoutError):
        server.accept()
    server.close()
    assert seen["host"] != 0 and seen["outside"] != "connected"
    assert seen["own_loopback"], "lesson 09 serves on 127.0.0.1 inside the sandbox"


def test_read_only_system_and_limited_files(tmp_path):
    code = f"""
import json, errno
out = {{}}
try:
    open({str(REPO / "course" / "planted.py")!r}, "w"); out["course"] = "written"
except OSError as exc:
    out["course"] = errno.errorcode[exc.errno]
try:
    with open("big.bin", "wb") as fh:
        fh.write(b"0" * (8 << 20))
    out["big"] = "written"
except OSError as exc:
    out["big"] = errno.errorcode[exc.errno]
files = []
try:
    for i in range(100):
        files.append(open("/dev/null"))
    out["files"] = "opened"
except OSError as exc:
    out["files"] = errno.errorcode[exc.errno]
print(json.dumps(out))
"""
    limits = Limits(file_bytes=4 << 20, open_files=32)
    seen = run_inside(tmp_path, code, limits)
    assert seen["course"] == "EROFS"
    assert seen["big"] == "EFBIG"
    assert seen["files"] == "EMFILE"
    assert not (REPO / "course" / "planted.py").exists()


def test_memory_limit_stops_a_memory_bomb(tmp_path):
    code = "blocks = []\nwhile True:\n    blocks.append(b'x' * (32 << 20))\n"
    seen = run_inside(tmp_path, code, Limits(memory_bytes=256 << 20))
    assert seen["rc"] != 0
    if sandbox.cgroup_mode():
        assert seen["oom"], "the cgroup records the out-of-memory kill"


def test_task_limit_stops_a_fork_bomb(tmp_path):
    code = """
import json, os, time
children = 0
try:
    for _ in range(1000):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except OSError as exc:
    print(json.dumps({"children": children, "error": type(exc).__name__}), flush=True)
    os._exit(0)
print(json.dumps({"children": children, "error": None}), flush=True)
"""
    seen = run_inside(tmp_path, code, Limits(tasks=64, processes=64))
    assert seen["error"] == "BlockingIOError"
    assert seen["children"] < 64


def test_threads_per_kernel_reach_tensorflow_and_blas():
    env = sandbox.kernel_env(SandboxSpec(ipc_dir="/tmp", threads=1))
    assert env["TF_NUM_INTRAOP_THREADS"] == env["OMP_NUM_THREADS"] == "1"
    assert "TF_NUM_INTRAOP_THREADS" not in sandbox.kernel_env(SandboxSpec(ipc_dir="/tmp"))


@pytest.mark.parametrize(
    "text, value",
    [("4G", 4 << 30), ("512M", 512 << 20), ("1.5GiB", 3 << 29), ("1024", 1024), ("64k", 65536)],
)
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["lots", "-1G", "0"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


def test_grading_is_refused_without_a_sandbox(monkeypatch, tmp_path):
    from autograder import batch
    from autograder.cli import main

    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    with pytest.raises(batch.IsolationError, match="--no-isolation"):
        batch.grade_batch(tmp_path, out=tmp_path / "out", progress=False)
    assert main(["grade", str(tmp_path), "--out", str(tmp_path / "o")]) == 2


def test_doctor_lists_the_protections():
    from autograder.doctor import report

    text = report()
    for line in ("bubblewrap: yes", "network: none", "integrity guard", "grading: isolated"):
        assert line in text
    assert os.environ.get("CI") is None or "cgroups" in text


@pytest.mark.slow
def test_without_isolation_the_guard_still_flags_cheats(tmp_path):
    """--no-isolation drops the sandbox, not the integrity checks (nor the cleared NBGRADER_*)."""
    from fixtures.answers.lesson_00 import WRONG
    from helpers.hostile import LESSON, PATCH_ASSERTS, SOURCE, Case, notebook

    from autograder.batch import grade_batch

    for name, case in {"cheat": Case("flagged", answers=WRONG, start=PATCH_ASSERTS),
                       "honest": None}.items():  # fmt: skip
        folder = tmp_path / "subs" / name / LESSON
        folder.mkdir(parents=True)
        (folder / f"{LESSON}.ipynb").write_text(json.dumps(notebook(case)))
    result = grade_batch(
        tmp_path / "subs", out=tmp_path / "out", timeout=60, fast=True, workers=2,
        source_dir=SOURCE, progress=False, isolate=False,
    )  # fmt: skip
    rows = {r.student: r for r in result.rows}
    assert rows["honest"].status == "graded" and rows["honest"].total == 7, rows["honest"].reason
    assert rows["cheat"].status == "flagged" and "math.isclose was replaced" in rows["cheat"].reason
