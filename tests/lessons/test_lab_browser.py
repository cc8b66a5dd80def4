"""End to end in a real browser: `make lab`'s JupyterLab loads, and the lessons run in it offline.

JupyterLab serves copies of `lessons/` (as `make lab` does) and of `solutions/`, so running the
notebooks never writes outputs into the repository. Headless Chromium drives the UI with
Playwright: open a notebook, Run > Run All Cells, wait for the kernel, read what the page shows.
The browser may reach 127.0.0.1 only. Lessons run in test mode (`COURSE_FAST=1`).

Needs Chromium (`apt-get install -y chromium`) and the `playwright` package (dev extras; no
`playwright install`). Without them the tests skip, except under CI (`CI` set), where they fail.
Screenshots go to each test's tmp_path and, when `LAB_SCREENSHOT_DIR` is set, there too.
"""

import json
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import REPO
from helpers.lab import (
    CHROMIUM_ARGS,
    STDERR_OUTPUT,
    LabServer,
    find_chromium,
    open_notebook,
    require,
    run_all_cells,
    screenshot_end,
    tracebacks,
    wait_for_run,
)

pytestmark = pytest.mark.slow

LESSON_IDS = [Path(p).name for p in sorted((REPO / "solutions").glob("[0-9][0-9]-*/"))]
RUN_TIMEOUT_S = 180
IGNORE = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")


def _released(lesson: str) -> Path:
    return REPO / "lessons" / lesson / f"{lesson}.ipynb"


def _require_released(*lessons: str) -> None:
    missing = [str(_released(x).relative_to(REPO)) for x in lessons if not _released(x).is_file()]
    if missing:
        message = f"not released yet: {', '.join(missing)}; run `make release`"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def _shot(page, tmp_path: Path, name: str, at: str | None = None) -> Path:
    path = screenshot_end(page, tmp_path / name, at)
    if os.environ.get("LAB_SCREENSHOT_DIR"):
        out = Path(os.environ["LAB_SCREENSHOT_DIR"])
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, out / name)
    return path


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory) -> Path:
    """Copies of lessons/ and solutions/, so runs never write outputs into the repository."""
    root = tmp_path_factory.mktemp("course")
    for name in ("lessons", "solutions"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=IGNORE)
        else:
            (root / name).mkdir()
    return root


def _server(course_copy: Path, name: str):
    server = LabServer(course_copy / name, course_copy.parent / f"jupyter-{name}",
                       env={"COURSE_FAST": "1"})  # fmt: skip
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright package is not importable")
    chromium = find_chromium()
    require(chromium is not None, "Chromium is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def lab(browser, course_copy):
    """JupyterLab on the copy of lessons/, as `make lab` starts it."""
    yield from _server(course_copy, "lessons")


@pytest.fixture(scope="module")
def solutions_lab(browser, course_copy):
    """The same on the copy of solutions/, to run the complete notebooks."""
    yield from _server(course_copy, "solutions")


@pytest.fixture
def page(browser, request):
    """A fresh browser context; records every request that would leave 127.0.0.1."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.offsite = []

    def record(req):
        url = urlsplit(req.url)
        if url.scheme in {"http", "https", "ws", "wss"} and url.hostname != "127.0.0.1":
            page.offsite.append(req.url)

    page.on("request", record)
    try:
        yield page
    finally:
        context.close()
        for name in ("lab", "solutions_lab"):  # stop the test's kernels
            if name in request.fixturenames:
                request.getfixturevalue(name).shutdown_kernels()


# ----------------------------------------------------------------------------- tests


def test_lab_opens_on_the_lessons(lab, page, tmp_path):
    _require_released(*LESSON_IDS)
    page.goto(f"{lab.url}/lab?token={lab.token}")
    page.wait_for_selector(".jp-LabShell", timeout=60_000)
    items = page.locator(".jp-FileBrowser .jp-DirListing-item .jp-DirListing-itemText")
    items.first.wait_for(timeout=60_000)
    page.wait_for_timeout(500)  # let the listing settle before the screenshot
    page.screenshot(path=str(tmp_path / "lab.png"))
    if os.environ.get("LAB_SCREENSHOT_DIR"):
        shutil.copy(tmp_path / "lab.png", Path(os.environ["LAB_SCREENSHOT_DIR"]) / "lab.png")
    names = [t.strip() for t in items.all_inner_texts()]
    assert "00-getting-started" in names, f"file browser shows {names}"
    assert set(LESSON_IDS) <= set(names), f"file browser shows {names}, lessons are {LESSON_IDS}"
    assert not page.offsite, f"the Lab UI tried to reach the network: {page.offsite}"


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_solution_runs_top_to_bottom_in_lab(solutions_lab, page, tmp_path, lesson):
    open_notebook(page, solutions_lab, f"{lesson}/{lesson}.ipynb")
    try:
        run_all_cells(page)
        state = wait_for_run(page, RUN_TIMEOUT_S)
    finally:
        _shot(page, tmp_path, f"{lesson}-solution.png")
    assert not state["stderr"], f"{lesson}: error or stderr output in Lab:\n" + "\n---\n".join(
        f"code cell {i}: {t}" for i, t in zip(state["stderr_cells"], state["stderr"], strict=True)
    )
    assert state["images"] >= 2, f"{lesson}: {state['images']} images rendered, expected >= 2"
    assert "devices: CPU" in state["text"], f"{lesson}: course.setup() did not report devices"
    assert not page.offsite, f"{lesson}: the page tried to reach the network: {page.offsite}"


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_released_lesson_stops_at_the_first_exercise(lab, page, tmp_path, lesson):
    _require_released(lesson)
    cells = json.loads(_released(lesson).read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    # The first exercise runs from its stub to its test cell: a stub that defines a function
    # raises only where the function is called, in a demo cell or in the test.
    stub = next(
        i for i, c in enumerate(code) if "raise NotImplementedError" in "".join(c["source"])
    )
    test = next(
        i for i, c in enumerate(code) if i > stub and c["metadata"].get("nbgrader", {}).get("grade")
    )

    open_notebook(page, lab, f"{lesson}/{lesson}.ipynb")
    try:
        run_all_cells(page)
        state = wait_for_run(page, RUN_TIMEOUT_S, until_error=True)
    finally:
        _shot(page, tmp_path, f"{lesson}-student.png", at=STDERR_OUTPUT)

    errors = tracebacks(state)
    assert len(errors) == 1, f"{lesson}: expected one error, got:\n" + "\n---\n".join(
        text for _, text in errors
    )
    where, text = errors[0]
    assert "NotImplementedError" in text, f"{lesson}: the run stopped on:\n{text}"
    assert stub <= where <= test, f"{lesson}: error in code cell {where}, not in the first exercise"
    # Every cell up to the error ran, and Run All stopped there.
    ran = [i for i, p in enumerate(state["prompts"]) if any(ch.isdigit() for ch in p)]
    assert ran == list(range(where + 1)), f"{lesson}: cells run {ran}, expected 0..{where}"
    assert not page.offsite, f"{lesson}: the page tried to reach the network: {page.offsite}"
