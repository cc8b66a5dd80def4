"""Batches: resuming without grading twice, GPU-pinned workers, the Dask executor, the summary.

The grading tests use four submissions of the real lesson 00 (a solution, wrong answers, one
wrong exercise, differently written answers), graded once uninterrupted (module fixture).
"""

from __future__ import annotations

import copy
import csv
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from fixtures.answers.lesson_00 import ALTERNATIVE, WRONG
from helpers import REPO
from helpers.batch import pinned_device
from helpers.sandbox import require_sandbox

from autograder import notebooks, report
from autograder.batch import grade_batch
from autograder.device import detect_device, gpu_ids
from autograder.executors import default_workers, process_pool
from autograder.saved_rows import row_file_names, submission_key
from autograder.score import Row
from autograder.submissions import Submission

require_sandbox()

SOURCE = REPO / "solutions"
LESSON = "00-getting-started"
RELEASED = REPO / "lessons" / LESSON / f"{LESSON}.ipynb"
OPTIONS = {"timeout": 60, "fast": True, "source_dir": SOURCE}
CLI_OPTIONS = ["--timeout", "60", "--fast", "--source", str(SOURCE)]
ANSWERS = {
    "ann": {},  # the solution: 7 / 7
    "ben": WRONG,  # 0 / 7
    "cat": {"ex1-describe": WRONG["ex1-describe"]},  # 5 / 7
    "dan": ALTERNATIVE,  # 7 / 7
}
TOTALS = {"ann": "7", "ben": "0", "cat": "5", "dan": "7"}

FAKE_SMI = """#!/bin/sh
echo "0, GPU-aaaa-1111, NVIDIA H100 80GB HBM3"
echo "1, GPU-bbbb-2222, NVIDIA A100-SXM4-40GB"
"""
GPU_NAMES = {"GPU-aaaa-1111": "NVIDIA H100 80GB HBM3", "GPU-bbbb-2222": "NVIDIA A100-SXM4-40GB"}


def answered(replace: dict[str, str]) -> str:
    """The released lesson 00 answered as in the solution, except the cells in ``replace``."""
    source = notebooks.load(SOURCE / LESSON / f"{LESSON}.ipynb")
    nb = copy.deepcopy(notebooks.load(RELEASED))
    answers = {notebooks.grade_id(c): c["source"] for c in source["cells"]}
    answers.update(replace)
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("solution"):
            cell["source"] = answers[notebooks.grade_id(cell)]
    return json.dumps(nb)


def write_submissions(root: Path, students: list[str]) -> Path:
    for student in students:
        path = root / student / LESSON / f"{LESSON}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(answered(ANSWERS[student]), encoding="utf-8")
    return root


def row_files(out: Path) -> dict[str, os.stat_result]:
    """The finished row files of ``out`` and their stat (a rewritten file has a new inode)."""
    return {p.name: p.stat() for p in sorted((out / "rows").glob("*.json"))}


def same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_mtime_ns) == (b.st_ino, b.st_mtime_ns)


def kill_leftovers(folder: Path) -> None:
    """SIGKILL every process still working in ``folder`` (grading subprocesses, kernels):
    they run in sessions of their own, so killing the grader's process group leaves them."""
    found = {}
    for proc in psutil.process_iter(["cwd", "cmdline"]):
        cwd = proc.info["cwd"] or ""
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.pid != os.getpid() and (cwd.startswith(str(folder)) or str(folder) in cmdline):
            found[proc.pid] = proc
            try:
                found.update({child.pid: child for child in proc.children(recursive=True)})
            except psutil.Error:
                pass
    for proc in found.values():
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(list(found.values()), timeout=30)


def cli(*args: str, **popen) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "autograder.cli", "grade", *args, *CLI_OPTIONS]
    return subprocess.Popen(cmd, cwd=REPO, start_new_session=True, text=True, **popen)


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> Path:
    return write_submissions(tmp_path_factory.mktemp("class"), list(ANSWERS))


@pytest.fixture(scope="module")
def uninterrupted(submissions, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    return grade_batch(submissions, out=out, workers=2, progress=False, **OPTIONS)


@pytest.mark.slow
def test_uninterrupted_batch_grades_every_submission(uninterrupted):
    rows = list(csv.DictReader(uninterrupted.csv.open()))
    assert {r["student"]: r["total"] for r in rows} == TOTALS
    assert all(r["status"] == "graded" for r in rows)
    assert sorted(uninterrupted.graded) == sorted(row_files(uninterrupted.out))
    assert len(uninterrupted.graded) == 4 and uninterrupted.reused == []
    for student in ANSWERS:
        assert (uninterrupted.out / "feedback" / student / f"{LESSON}.html").is_file()


@pytest.mark.slow
def test_killed_batch_resumes_without_grading_twice(submissions, uninterrupted, tmp_path):
    out = tmp_path / "out"
    log = (tmp_path / "first.log").open("w")
    first = cli(str(submissions), "--out", str(out), "--workers", "1", stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 240
        while not row_files(out) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert first.poll() is None, "the first run ended before it was killed"
        assert row_files(out), (tmp_path / "first.log").read_text()
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        log.close()
        kill_leftovers(out)
    done = row_files(out)
    assert 1 <= len(done) < 4  # killed midway

    second = cli(
        str(submissions),
        "--out",
        str(out),
        "--workers",
        "2",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    printed, _ = second.communicate(timeout=300)
    assert second.returncode == 0, printed
    assert f"graded {4 - len(done)} submission(s) now, reused {len(done)} result(s)" in printed
    after = row_files(out)
    assert len(after) == 4
    for name, stat in done.items():
        assert same_file(after[name], stat), f"{name} was graded again"
    assert (out / "grades.csv").read_bytes() == uninterrupted.csv.read_bytes()
    assert (out / "grades.html").read_bytes() == uninterrupted.html.read_bytes()
    assert not list((out / "rows").glob(".tmp-*"))


@pytest.mark.slow
def test_matching_rows_are_reused_and_changed_submissions_regraded(
    submissions, uninterrupted, tmp_path
):
    subs = shutil.copytree(submissions, tmp_path / "class")
    out = shutil.copytree(uninterrupted.out, tmp_path / "out")  # rows survive a moved folder
    before = row_files(out)
    (subs / "ben" / LESSON / f"{LESSON}.ipynb").write_text(answered({}))  # handed in again
    shutil.rmtree(subs / "dan")  # withdrawn

    result = grade_batch(subs, out=out, workers=1, progress=False, **OPTIONS)

    ben, ann, cat, dan = (f"{s}__{LESSON}.json" for s in ("ben", "ann", "cat", "dan"))
    assert result.graded == [ben] and sorted(result.reused) == [ann, cat]
    after = row_files(out)
    assert sorted(after) == [ann, ben, cat]
    assert same_file(after[ann], before[ann]) and same_file(after[cat], before[cat])
    assert not same_file(after[ben], before[ben])
    assert not (out / "feedback" / "dan" / f"{LESSON}.html").exists()
    rows = {r["student"]: r for r in csv.DictReader(result.csv.open())}
    assert {s: r["total"] for s, r in rows.items()} == {"ann": "7", "ben": "7", "cat": "5"}
    reused = {r.student: r for r in result.rows}
    assert reused["ann"].feedback == str(out / "feedback" / "ann" / f"{LESSON}.html")
    assert Path(reused["ann"].feedback).is_file()


@pytest.mark.slow
def test_dask_cluster_gives_the_rows_of_the_process_pool(uninterrupted, tmp_path):
    from distributed import LocalCluster

    subs = write_submissions(tmp_path / "class", ["ann", "cat"])
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        result = grade_batch(
            subs,
            out=tmp_path / "out",
            progress=False,
            dask_scheduler=cluster.scheduler_address,
            **OPTIONS,
        )
    pool = {r.student: r for r in uninterrupted.rows}
    assert [r.student for r in result.rows] == ["ann", "cat"]
    for row in result.rows:
        expected = pool[row.student]
        assert (row.scores, row.total, row.status, row.reason, row.device, row.messages) == (
            expected.scores,
            expected.total,
            expected.status,
            expected.reason,
            expected.device,
            expected.messages,
        )
        assert Path(row.feedback).is_file()
    assert sorted(row_files(tmp_path / "out")) == [f"ann__{LESSON}.json", f"cat__{LESSON}.json"]


# --- no grading needed -----------------------------------------------------------------------


def error_batch(root: Path) -> Path:
    """Submissions that never reach a kernel: an unknown lesson and a stray file."""
    root.mkdir()
    (root / "zed_42.ipynb").write_text("{}")
    (root / "notes.txt").write_text("not a notebook")
    return root


def test_saved_rows_are_reused_until_fresh_or_an_option_changes(tmp_path):
    subs, out = error_batch(tmp_path / "class"), tmp_path / "out"
    first = grade_batch(subs, out=out, workers=1, progress=False, source_dir=SOURCE)
    assert len(first.graded) == 2 and first.reused == []
    before = row_files(out)
    again = grade_batch(subs, out=out, workers=1, progress=False, source_dir=SOURCE)
    assert again.graded == [] and sorted(again.reused) == sorted(before)
    assert all(same_file(row_files(out)[n], s) for n, s in before.items())
    assert again.csv.read_bytes() == first.csv.read_bytes()

    fresh = grade_batch(subs, out=out, workers=1, progress=False, source_dir=SOURCE, fresh=True)
    assert sorted(fresh.graded) == sorted(before) and fresh.reused == []
    other = grade_batch(subs, out=out, workers=1, progress=False, source_dir=SOURCE, timeout=7)
    assert sorted(other.graded) == sorted(before)


def test_damaged_row_files_are_graded_again_and_temporary_files_removed(tmp_path):
    subs, out = error_batch(tmp_path / "class"), tmp_path / "out"
    grade_batch(subs, out=out, workers=1, progress=False, source_dir=SOURCE)
    damaged = sorted(row_files(out))[0]
    (out / "rows" / damaged).write_text('{"key": "abc", "row": {"stud')
    (out / "rows" / ".tmp-leftover.json").write_text("{")
    (out / "rows" / "gone__unknown.json").write_text("{}")
    result = grade_batch(subs, out=out, workers=1, progress=False, source_dir=SOURCE)
    assert result.graded == [damaged]
    assert sorted(p.name for p in (out / "rows").iterdir()) == sorted(result.graded + result.reused)


def test_key_covers_submission_lesson_source_and_options(tmp_path):
    source = tmp_path / "solutions"
    shutil.copytree(SOURCE / LESSON, source / LESSON)
    notebook = tmp_path / "ann.ipynb"
    notebook.write_text(answered({}))
    sub = Submission("ann", LESSON, notebook)
    key = submission_key(sub, source, 60, False)
    assert submission_key(sub, source, 60, False) == key
    assert submission_key(sub, source, 61, False) != key
    assert submission_key(sub, source, 60, True) != key
    assert submission_key(Submission("bob", LESSON, notebook), source, 60, False) != key
    notebook.write_text(answered(WRONG))
    changed = submission_key(sub, source, 60, False)
    assert changed != key
    (source / LESSON / "helper.py").write_text("X = 1\n")  # a new file beside the lesson
    from autograder import saved_rows

    saved_rows.lesson_digest.cache_clear()
    assert submission_key(sub, source, 60, False) != changed


def test_row_file_names_stay_apart_when_students_look_alike():
    subs = [
        Submission("a b", LESSON, Path("x.ipynb")),
        Submission("a_b", LESSON, Path("y.ipynb")),
        Submission("carol", "", None, "unknown lesson '42'"),
        Submission("carol", "", None, "unknown lesson '43'"),
        Submission("dan", LESSON, Path("z.ipynb")),
    ]
    names = row_file_names(subs)
    assert len(set(names.values())) == 5
    assert names[subs[4]] == f"dan__{LESSON}.json"
    assert names[subs[0]].startswith(f"a_b__{LESSON}__")


# --- GPUs ------------------------------------------------------------------------------------


@pytest.fixture
def fake_smi(tmp_path, monkeypatch):
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text(FAKE_SMI)
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(smi.parent))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    detect_device.cache_clear()
    yield monkeypatch
    detect_device.cache_clear()


def test_one_worker_per_visible_gpu(fake_smi):
    assert gpu_ids() == ["GPU-aaaa-1111", "GPU-bbbb-2222"]
    assert default_workers() == 2
    fake_smi.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert gpu_ids() == ["GPU-bbbb-2222"] and default_workers() == 1


def test_one_worker_per_cpu_core_without_gpus(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu_ids() == [] and default_workers() == os.cpu_count()


@pytest.mark.parametrize("workers", [2, 3])
def test_each_pool_worker_is_pinned_to_one_gpu(fake_smi, workers):
    gpus = gpu_ids()
    with multiprocessing.Manager() as manager, process_pool(workers, gpus) as pool:
        barrier = manager.Barrier(workers)  # one task per worker, all at once
        seen = [f.result() for f in [pool.submit(pinned_device, barrier) for _ in range(workers)]]
    assert sorted(v for v, _ in seen) == sorted(gpus[i % len(gpus)] for i in range(workers))
    assert all(name == GPU_NAMES[uuid] for uuid, name in seen)


def test_rows_name_the_gpu_of_their_worker(fake_smi, tmp_path):
    subs = tmp_path / "class"
    subs.mkdir()
    for student in ("a", "b", "c", "d"):
        (subs / f"{student}_42.ipynb").write_text("{}")
    result = grade_batch(subs, out=tmp_path / "out", progress=False, source_dir=SOURCE)
    assert len(result.rows) == 4
    assert {r.device for r in result.rows} <= set(GPU_NAMES.values())


# --- the summary ----------------------------------------------------------------------------


def test_summary_counts_means_flagged_and_errors(tmp_path):
    def row(student, scores, status="graded", reason="", lesson=LESSON):
        ids = ["ex1-tests", "ex2-tests"]
        return Row(
            student,
            lesson,
            ids if lesson else [],
            dict(zip(ids, scores, strict=True)) if lesson else {},
            {"ex1-tests": 2.0, "ex2-tests": 3.0},
            float(sum(scores)),
            5.0 if lesson else "",
            status,
            reason,
            "CPU",
        )

    rows = [
        row("ann", [2.0, 3.0]),
        row("ben", [1.0, 0.0]),
        row("cat", [0.0, 0.0], "flagged", "the notebook read the hidden tests"),
        row("dan", [0.0, 0.0], "error", "the kernel died"),
        row("eve", [], "error", "unknown lesson '42'", lesson=""),
    ]
    text = report.summary(rows)
    lines = text.splitlines()
    assert lines[0] == "2 graded, 1 flagged, 2 error, 5 in all"
    assert f"  {LESSON}: mean 3.00 / 5 over 2 graded submission(s)" in lines
    assert "    ex1-tests  1.50 / 2" in lines and "    ex2-tests  1.50 / 3" in lines
    flagged = lines.index("flagged for review (1):")
    assert lines[flagged + 1] == f"  cat  {LESSON}  the notebook read the hidden tests"
    errors = lines.index("errors (2):")
    assert lines[errors + 1 :] == [
        f"  dan  {LESSON}  the kernel died",
        "  eve  -  unknown lesson '42'",
    ]

    page = report.write_html(rows, tmp_path / "grades.html").read_text()
    assert "<tr class='flagged'><td>cat</td>" in page and "<tr class='error'><td>dan</td>" in page
    assert "<tr><td>ann</td>" in page
