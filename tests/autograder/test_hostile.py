# ruff: noqa: E501  (the table of cases reads best one case per line)
"""Hostile and broken submissions of the real lesson 00, graded in one batch with 2 workers.

Every case is a student notebook that tries to cheat, break the grader or escape its sandbox.
For each case: the batch finishes, the honest students in the same batch get exactly the grade
they get when graded alone, the solutions and the gradebook are untouched, and the case ends
graded correctly (the cheat did not help) or flagged with its reason (points withheld).
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import socket
import threading
from pathlib import Path

import pytest
from fixtures.answers.lesson_00 import ALTERNATIVE, WRONG
from helpers import REPO
from helpers.hostile import (
    LESSON,
    PATCH_ASSERTS,
    SOLUTION,
    SOURCE,
    Case,
    notebook,
)
from helpers.sandbox import require_sandbox

from autograder import notebooks
from autograder.batch import grade_batch

TIMEOUT = 20  # seconds per cell: the sleeping case runs past it
MEMORY = 1536 << 20  # the memory limit of this batch


pytestmark = pytest.mark.slow
require_sandbox()


def _set(gid: str, **changes):
    def edit(nb):
        for cell in nb["cells"]:
            if notebooks.grade_id(cell) == gid:
                for key, value in changes.items():
                    if key in ("points", "grade_id", "schema_version"):
                        cell["metadata"]["nbgrader"][key] = value
                    else:
                        cell[key] = value

    return edit


def _duplicate(gid: str):
    def edit(nb):
        cells = nb["cells"]
        at = next(i for i, c in enumerate(cells) if notebooks.grade_id(c) == gid)
        cells.insert(at + 1, copy.deepcopy(cells[at]))

    return edit


def _delete(gid: str):
    def edit(nb):
        nb["cells"] = [c for c in nb["cells"] if notebooks.grade_id(c) != gid]

    return edit


def _kernelspec(nb):
    nb["metadata"]["kernelspec"] = {"name": "bash", "display_name": "Bash", "language": "bash"}


def _schema(nb):
    for cell in nb["cells"]:
        if "nbgrader" in cell["metadata"]:
            cell["metadata"]["nbgrader"]["schema_version"] = 4


ALWAYS_EQUAL = """
class Anything(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__
    def __ne__(self, other):
        return False

def describe(X, y):
    return {k: Anything(0) for k in ("n_images", "image_shape", "dtype", "min", "max",
                                     "class_counts")}
"""

NOT_GRADED_HERE = """
import os
_seen = " ".join(os.environ) + " " + os.getcwd() + " " + " ".join(os.listdir("/"))
_graded = any(w in _seen.upper() for w in ("NBGRADER", "AUTOGRADE", "SUBMITTED", "GRADEBOOK"))
print("grading detected:", _graded)
if _graded:
    def describe(X, y):  # a student who cheats only when not graded would be caught here
        return {}
"""

STEAL = f"""
import glob, json, os
found = []
for pattern in ("{SOURCE}/**/*.ipynb", "../../../source/**/*.ipynb", "/**/solutions/**/*.ipynb",
                "../**/*.ipynb", "/tmp/**/*.ipynb", "/home/**/*.ipynb", "/work/**/*.ipynb"):
    found += glob.glob(pattern, recursive=True)
print("readable notebooks:", found)
for path in found:
    cells = json.load(open(path))["cells"]
    for c in cells:
        text = "".join(c["source"])
        if "def describe" in text and "BEGIN SOLUTION" in text:
            exec(text)
"""

WRITE_GRADEBOOK = f"""
import glob, sqlite3
targets = glob.glob("../../../gradebook.db") + glob.glob("/**/gradebook.db", recursive=True)
targets += ["{REPO}/grading/gradebook.db"]
for path in targets:
    try:
        db = sqlite3.connect(path)
        db.execute("UPDATE grade SET manual_score = 100")
        db.commit()
        print("wrote", path)
    except Exception as exc:
        print("cannot write", path, type(exc).__name__)
"""

SHADOW_FOLDER = """
open("statistics.py", "w").write("raise RuntimeError('the shadowing module was imported')")
import statistics  # the standard library's, not the file above
print(statistics.__file__)
"""

SHADOW_PATH = """
import importlib, sys
open("fractions.py", "w").write("GRADED = 'fake'\\n")
sys.path.insert(0, ".")
sys.modules.pop("fractions", None)
importlib.invalidate_caches()
import fractions
"""

FAKE_NUMPY_FILE = "def allclose(*a, **k):\n    return True\ndef __getattr__(name):\n    raise AttributeError(name)\n"

CONNECT = """
import shutil
import socket
s = socket.socket()
s.settimeout(3)
print("connect to the grader's 127.0.0.1:{port}:", s.connect_ex(("127.0.0.1", {port})))
"""

TRANSFORMER = """
def _drop_tests(lines):
    return ["pass\\n"] if any("assert" in line for line in lines) else lines
get_ipython().input_transformers_cleanup.append(_drop_tests)
"""

AST_TRANSFORMER = """
import ast
class _NoAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
get_ipython().ast_transformers.append(_NoAsserts())
"""

SHOWTRACEBACK = """
ip = get_ipython()
ip.showtraceback = lambda *a, **k: None
ip._showtraceback = lambda *a, **k: None
"""

CUSTOM_EXC = """
get_ipython().set_custom_exc((AssertionError,), lambda shell, etype, evalue, tb, tb_offset=None: None)
"""

CALLBACK = """
def _before(info):
    info.raw_cell = "pass"
get_ipython().events.register("pre_run_cell", _before)
"""

RUN_CELL = """
ip = get_ipython()
_real = ip.run_cell
def run_cell(raw_cell, *a, **k):
    return _real("pass" if "assert" in raw_cell else raw_cell, *a, **k)
ip.run_cell = run_cell
"""

DO_EXECUTE = """
k = get_ipython().kernel
_real = k.do_execute
async def do_execute(code, *a, **kw):
    return await _real("pass" if "assert" in code else code, *a, **kw)
k.do_execute = do_execute
"""

BUILTINS = """
import builtins
builtins.sorted = lambda items, **k: list(items)
"""

HIJACK = """
import builtins
builtins.isinstance = lambda *a: True  # breaks IPython itself: the kernel stops answering
"""

SETTRACE = """
import sys
sys.settrace(lambda *a: None)
"""

GC_SEARCH = """
import gc
hooks = [o for o in gc.get_objects() if callable(o) and getattr(o, "__name__", "") == "hook"]
print(len(hooks), "audit hooks found")
"""

THREAD = """
import threading, time
threading.Thread(target=lambda: time.sleep(600), daemon=True).start()
"""

SEGFAULT = """
import ctypes
ctypes.string_at(0)
"""

MEMORY_BOMB = """
blocks = []
while True:
    blocks.append(b"x" * (64 << 20))
"""

FORK_BOMB = """
import os
while True:
    os.fork()
"""

EXIT = "import os\nos._exit(0)\n"
KILL_ALL = "import os, signal\nos.kill(-1, signal.SIGKILL)\n"
SLEEP = "import time\ntime.sleep(10 * 60)\n"
BIG_FILE = """
with open("big.bin", "wb") as fh:
    for _ in range(1024):
        fh.write(b"0" * (1 << 20))
"""
FILL_DISK = """
import os
i = 0
while True:
    with open(f"/tmp/fill{i}.bin", "wb") as fh:
        fh.write(b"0" * (100 << 20))
    i += 1
"""
STDOUT_FLOOD = """
line = "x" * 999
for _ in range(100_000):
    print(line)
"""
WRITE_COURSE = f"""
open("{REPO}/course/planted.py", "w").write("x = 1")
"""

CASES: dict[str, Case] = {
    # integrity of the notebook: repaired from the source, the batch never stops
    "duplicated-test": Case("graded", "7", "duplicated grade cell", edit=_duplicate("ex1-describe-tests")),
    "deleted-test": Case(
        "graded", "5", "was missing and was restored",
        answers={"ex2-class-means": WRONG["ex2-class-means"]}, edit=_delete("ex2-class-means-tests"),
    ),
    "edited-test": Case(
        "graded", "5", "was edited and the original was restored",
        answers={"ex1-describe": WRONG["ex1-describe"]},
        edit=_set("ex1-describe-tests", source="pass"),
    ),
    "retyped-test": Case(
        "graded", "4", "changed type",
        answers={"ex3-nearest-mean": WRONG["ex3-nearest-mean"]},
        edit=_set("ex3-nearest-mean-tests", cell_type="markdown"),
    ),
    "reidentified-test": Case(
        "graded", "5", "unknown grade_id",
        answers={"ex1-describe": WRONG["ex1-describe"]},
        edit=_set("ex1-describe-tests", grade_id="ex1-free-points"),
    ),
    "changed-points": Case("graded", "7", "points of ex3", edit=_set("ex3-nearest-mean-tests", points=100)),
    "changed-kernelspec": Case("graded", "7", "kernelspec", edit=_kernelspec),
    "schema-version-4": Case("graded", "7", "schema_version", edit=_schema),
    "not-a-notebook": Case("error", reason="not a valid notebook", raw=b"{ this is not json"),
    "huge-notebook": Case("error", reason="at most 64 MB", raw=b" " * (65 << 20)),
    # cheating inside the kernel: flagged, points withheld
    "input-transformer": Case("flagged", reason="transformers", answers=WRONG, start=TRANSFORMER),
    "ast-transformer": Case("flagged", reason="transformers", answers=WRONG, start=AST_TRANSFORMER),
    "showtraceback": Case("flagged", reason="showtraceback", answers=WRONG, start=SHOWTRACEBACK),
    "custom-exception-handler": Case("flagged", reason="custom exception", answers=WRONG, start=CUSTOM_EXC),
    "monkeypatched-asserts": Case("flagged", reason="math.isclose was replaced", answers=WRONG, start=PATCH_ASSERTS),
    "always-equal": Case("flagged", reason="defines __eq__", start=ALWAYS_EQUAL, answers={"ex1-describe": ""}),
    "fake-numpy": Case(
        "flagged", reason="np, imported by a lesson cell, was rebound", answers=WRONG,
        start="class _Np:\n    def __getattr__(self, n):\n        import numpy\n"
        "        return (lambda *a, **k: True) if 'close' in n or 'equal' in n else getattr(numpy, n)\n"
        "np = _Np()\n",
    ),
    "patched-builtins": Case("flagged", reason="builtins.sorted was replaced", start=BUILTINS),
    "hijacked-kernel": Case("flagged", reason="never answered", answers=WRONG, start=HIJACK),
    "pre-run-callback": Case("flagged", reason="callback", answers=WRONG, start=CALLBACK),
    "patched-run-cell": Case("flagged", reason="run_cell was replaced", answers=WRONG, start=RUN_CELL),
    "patched-do-execute": Case("flagged", reason="do_execute was replaced", answers=WRONG, start=DO_EXECUTE),
    "settrace": Case("flagged", reason="sys.settrace", start=SETTRACE),
    "gc-search": Case("flagged", reason="gc.get_objects", start=GC_SEARCH),
    "background-thread": Case("flagged", reason="thread started by the notebook", start=THREAD),
    "ctypes-segfault": Case("flagged", reason="ctypes", end=SEGFAULT),
    "shadowing-module-path": Case("flagged", reason="shadows an installed one", start=SHADOW_PATH),
    # escapes and resource abuse: contained, graded on what ran
    "shadowing-file-in-folder": Case("graded", "7", start=SHADOW_FOLDER),
    "shadowing-file-submitted": Case(
        "graded", "5", answers={"ex2-class-means": WRONG["ex2-class-means"]},
        files={"numpy.py": FAKE_NUMPY_FILE, "math.py": "isclose = lambda *a, **k: True\n"},
    ),
    "detects-grading": Case("graded", "7", start=NOT_GRADED_HERE),
    "reads-solutions": Case("graded", "5", start=STEAL, answers={"ex1-describe": ""}),
    "writes-gradebook": Case("graded", "7", start=WRITE_GRADEBOOK),
    "writes-course-package": Case("graded", "7", start=WRITE_COURSE),
    "connects-to-host": Case("graded", "7", start="{connect}"),
    "memory-bomb-end": Case("graded", "7", "ran out of its memory limit", end=MEMORY_BOMB),
    "memory-bomb-start": Case("graded", "0", "ran out of its memory limit", start=MEMORY_BOMB),
    "fork-bomb": Case("graded", "7", end=FORK_BOMB),
    "os-exit": Case("graded", "7", "the kernel died", end=EXIT),
    "kill-everything": Case("graded", "7", end=KILL_ALL),  # kill(-1) reaches only its sandbox
    "sleep-past-timeout": Case("graded", "7", f"ran longer than {TIMEOUT} s", start=SLEEP),
    "writes-1gb-file": Case("graded", "7", start=BIG_FILE),
    "fills-disk": Case("graded", "7", start=FILL_DISK),
    "100mb-stdout": Case("graded", "7", start=STDOUT_FLOOD),
}  # fmt: skip

HONEST = {"honest-solution": {}, "honest-alternative": ALTERNATIVE}


class Listener:
    """A TCP server on the host's 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


def tree_digest(path: Path) -> str:
    """A digest of every file's path and bytes under ``path``."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade every case and the honest students in one batch; the honest ones also alone."""
    base = tmp_path_factory.mktemp("hostile")
    subs = base / "submissions"
    listener = Listener()
    for name, case in CASES.items():
        folder = subs / name / LESSON
        folder.mkdir(parents=True)
        target = folder / f"{LESSON}.ipynb"
        if case.raw is not None:
            target.write_bytes(case.raw)
            continue
        if case.start == "{connect}":
            case = Case(**{**case.__dict__, "start": CONNECT.format(port=listener.port)})
        target.write_text(json.dumps(notebook(case)))
        for fname, text in (case.files or {}).items():
            (folder / fname).write_text(text)
    for name, answers in HONEST.items():
        folder = subs / name / LESSON
        folder.mkdir(parents=True)
        (folder / f"{LESSON}.ipynb").write_text(json.dumps(notebook(None, answers)))
    alone = base / "alone"
    for name in HONEST:
        (alone / name).mkdir(parents=True)
        shutil.copytree(subs / name / LESSON, alone / name / LESSON)
    before = {"solutions": tree_digest(SOURCE), "course": tree_digest(REPO / "course")}
    options = dict(
        timeout=TIMEOUT, fast=True, source_dir=SOURCE, progress=False,
        limits={"memory_bytes": MEMORY},
    )  # fmt: skip
    try:
        batch = grade_batch(subs, out=base / "out", workers=2, **options)
        solo = grade_batch(alone, out=base / "alone-out", workers=1, **options)
    finally:
        listener.close()
    after = {"solutions": tree_digest(SOURCE), "course": tree_digest(REPO / "course")}
    rows = {r.student: r for r in batch.rows}
    return {
        "rows": rows,
        "solo": {r.student: r for r in solo.rows},
        "batch": batch,
        "before": before,
        "after": after,
        "accepted": listener.accepted,
        "template_gradebook": base / "out" / "work" / "_templates" / LESSON / "gradebook.db",
    }


def test_at_least_thirty_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", sorted(CASES))
def test_case(graded, name):
    case, row = CASES[name], graded["rows"][name]
    summary = f"{name}: {row.status} {row.total} / {row.max_score}: {row.reason}"
    assert row.status == case.status, summary
    assert case.reason in row.reason, summary
    if case.status == "graded":
        assert f"{row.total:g}" == case.total, summary
        assert row.max_score == 7, summary
    if case.status == "flagged":
        assert row.total == "" and not row.scores, "a flagged row withholds its points"
        assert "points withheld (measured" in row.reason


def test_honest_students_get_the_grade_they_get_alone(graded):
    for name in HONEST:
        together, alone = graded["rows"][name], graded["solo"][name]
        assert together.status == alone.status == "graded", together.reason
        assert together.scores == alone.scores and together.total == alone.total == 7


def test_solutions_course_and_gradebook_are_untouched(graded):
    assert graded["before"] == graded["after"]
    assert not (REPO / "course" / "planted.py").exists()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['template_gradebook']}") as gb:
        assert gb.students == [], "the lesson's template gradebook never sees a student"


def test_the_host_server_was_never_reached(graded):
    assert graded["accepted"] == 0


def test_outputs_and_files_stay_small(graded):
    """100 MB of prints and a 1 GB file leave no large file behind on the grader's disk."""
    out = graded["batch"].out
    largest = max(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert largest < 20 << 20, f"largest file under the results: {largest} bytes"


def test_feedback_never_shows_hidden_tests(graded):
    hidden = []
    for cell in notebooks.load(SOLUTION)["cells"]:
        text = notebooks.source_text(cell)
        if "### BEGIN HIDDEN TESTS" in text:
            region = text.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
            hidden += [ln.strip() for ln in region.splitlines() if len(ln.strip()) > 20]
    assert hidden
    pages = list((graded["batch"].out / "feedback").rglob("*.html"))
    assert len(pages) >= len(CASES) - 2
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not any(line in text for line in hidden), page


def test_table_of_outcomes(graded, capsys):
    """Every case has a row; the table (pytest -s shows it) is what the closing note quotes."""
    lines = ["| case | status | total | reason |", "| --- | --- | --- | --- |"]
    for name in sorted(CASES):
        row = graded["rows"][name]
        total = "withheld" if row.status == "flagged" else f"{row.total}/{row.max_score}"
        reason = row.reason.split("; points withheld")[0][:160]
        lines.append(f"| {name} | {row.status} | {total} | {reason} |")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert len(lines) == len(CASES) + 2
