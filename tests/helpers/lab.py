"""Helpers for the browser test: a JupyterLab server, headless Chromium, the notebook UI.

Only ``tests/lessons/test_lab_browser.py`` uses them. Everything talks to 127.0.0.1 only, every
wait is bounded, and the server is stopped (with its kernels) whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

# Debian's package; other distributions call the binary chromium-browser.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
INSTALL_HINT = (
    "install Chromium (`apt-get install -y chromium`) and Playwright "
    "(`.venv/bin/pip install -e '.[dev]'`); never `playwright install`, which downloads browsers"
)
# Headless, and quiet on a closed network: without the background-networking flags Chromium keeps
# trying to reach Google's services. The resolver rule makes any non-local host fail at once.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
# JupyterLab's own calls home (news, update checks), switched off in the server's settings dir.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}
STDERR_OUTPUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
# ipykernel's tracebacks; a stderr stream without one is log noise, not an error.
NO_KERNEL = "No Kernel"
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*\w+(Error|Exception)\b", re.M)


def require(ok: bool, why: str) -> None:
    """Skip when a browser prerequisite is missing, but fail under CI (``CI`` set).

    A browser test that silently skips in CI tests nothing.
    """
    if ok:
        return
    message = f"{why}: {INSTALL_HINT}"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so this is an error, not a skip. {message}", pytrace=False)
    pytest.skip(message)


def find_chromium() -> str | None:
    """The Chromium binary: ``$CHROMIUM`` if set, else the first candidate found."""
    for name in ((os.environ.get("CHROMIUM") or "").strip(), *CHROMIUM_CANDIDATES):
        path = shutil.which(name) if name else None
        if path:
            return path
    return None


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies, however it dies.

    A killed pytest runs no finaliser; this way the server still shuts down with its kernels.
    """
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``jupyter lab`` on ``root_dir`` the way ``make lab`` starts it, plus test-only settings.

    The extra flags pin the address, port and token, keep the browser closed, and isolate the
    Jupyter config, settings, workspaces and runtime dirs in ``home`` so that neither the user's
    config nor earlier runs change what the test sees.
    """

    def __init__(self, root_dir: Path, home: Path, env: dict[str, str] | None = None):
        self.root_dir = root_dir
        self.home = home
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "server.log"
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> LabServer:
        self.home.mkdir(parents=True, exist_ok=True)
        dirs = {
            name: self.home / name
            for name in ("config", "data-runtime", "settings", "workspaces", "ipython")
        }
        for path in dirs.values():
            path.mkdir(exist_ok=True)
        for rel, values in LAB_SETTINGS.items():
            target = dirs["settings"] / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values))
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(dirs["config"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["data-runtime"]),
            "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
            "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
            "IPYTHONDIR": str(dirs["ipython"]),
            **self.extra_env,
        }
        # conftest.py sets MPLBACKEND=Agg for the unit tests; in the Lab kernel that would hide
        # every figure. A learner's `make lab` has matplotlib's inline backend.
        env.pop("MPLBACKEND", None)
        jupyter = str(Path(sys.executable).parent / "jupyter")
        cmd = [
            jupyter, "lab",
            f"--ServerApp.root_dir={self.root_dir}",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
        ]  # fmt: skip
        if os.geteuid() == 0:  # as the Makefile's ROOT_FLAG
            cmd.append("--allow-root")
        log = open(self.log_path, "wb")  # the child process keeps writing to it
        self.proc = subprocess.Popen(
            cmd, cwd=self.root_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}\n{self.log()}")
            with contextlib.suppress(OSError, ValueError):
                status = self.api("GET", "/api/status", timeout=2)
                if "started" in status:
                    return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer /api/status in {timeout} s\n{self.log()}")

    def api(self, method: str, path: str, timeout: float = 10) -> dict | list:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            headers={"Authorization": f"token {self.token}"},
            data=b"" if method == "POST" else None,
        )
        # No proxy: a proxy set in the environment must never see this token or this traffic.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else {}

    def shutdown_kernels(self) -> None:
        """End every session and its kernel, so that the next notebook has the CPU to itself."""
        with contextlib.suppress(OSError, ValueError):
            for session in self.api("GET", "/api/sessions"):
                self.api("DELETE", f"/api/sessions/{session['id']}")

    def log(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Shut down the kernels and the server; escalate to signals if it does not go."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        # The kernels run in sessions of their own: a clean shutdown is what stops them.
        with contextlib.suppress(OSError, ValueError):
            self.api("POST", "/api/shutdown", timeout=5)
        for sig, wait in ((None, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if sig is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


# ----------------------------------------------------------------------------- notebook UI

# What the page reports about the open notebook: prompts of code cells, kernel status, outputs.
NOTEBOOK_STATE_JS = """
() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  const cells = [...panel.querySelectorAll('.jp-CodeCell')];
  const prompts = cells.map(c => {
    const p = c.querySelector('.jp-InputArea-prompt');
    return p ? p.textContent.trim() : '';
  });
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  // stderr streams and errors alike (Lab renders an error's traceback as stderr), each with the
  // index of its code cell.
  const stderr = [], stderrCells = [];
  cells.forEach((c, i) => c.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').forEach(o => {
      stderr.push(o.textContent);
      stderrCells.push(i);
    }));
  const kernel = panel.querySelector('.jp-Toolbar-kernelName');
  return {
    prompts,
    kernel: kernel ? kernel.textContent.trim() : null,
    dialog: !!document.querySelector('.jp-Dialog'),
    status: indicator ? indicator.getAttribute('data-status') : null,
    stderr,
    stderr_cells: stderrCells,
    images: panel.querySelectorAll('.jp-RenderedImage img').length,
    text: panel.querySelector('.jp-Notebook').textContent,
  };
}
"""


def notebook_state(page) -> dict | None:
    return page.evaluate(NOTEBOOK_STATE_JS)


def open_notebook(page, server: LabServer, path: str, timeout_s: float = 60) -> None:
    """Open ``path`` (relative to the server's root) and wait until its kernel is ready.

    Ready: the toolbar names a kernel and the execution indicator has said idle twice in a row.
    """
    # ?reset: a fresh workspace, or Lab would also restore the notebooks of earlier tests.
    url = f"{server.url}/lab/tree/{path}?reset&token={server.token}"
    page.goto(url, timeout=timeout_s * 1000)
    page.wait_for_selector(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", state="attached", timeout=timeout_s * 1000
    )
    deadline = time.monotonic() + timeout_s
    ready = 0
    state: dict | None = None
    while time.monotonic() < deadline:
        accept_kernel_dialog(page)
        state = notebook_state(page)
        ok = bool(
            state and state["status"] == "idle" and state["kernel"] not in (None, "", NO_KERNEL)
        )
        ready = ready + 1 if ok else 0
        if ready >= 2:
            return
        time.sleep(0.5)
    summary = state and {k: v for k, v in state.items() if k != "text"}
    raise AssertionError(f"the kernel of {path} was not ready after {timeout_s} s: {summary}")


def accept_kernel_dialog(page) -> bool:
    """If Lab asks which kernel to use (it should not: the notebooks name ``python3``), answer
    ``python3``. Seen now and then when Run All comes right after the kernel connected."""
    dialog = page.locator(".jp-Dialog")
    if not (dialog.count() and dialog.first.is_visible()):
        return False
    select = dialog.locator("select")
    if not select.count():
        return False  # some other dialog: leave it for the test's screenshot
    select.first.select_option(value=_python3_option(select.first))
    dialog.locator(".jp-Dialog-button.jp-mod-accept").first.click()
    return True


def _python3_option(select) -> str:
    values = select.evaluate("s => [...s.options].map(o => o.value)")
    for value in values:
        if '"python3"' in value or value == "python3":
            return value
    raise AssertionError(f"no python3 kernel in the kernel chooser: {values}")


def run_all_cells(page, attempts: int = 3, started_within_s: float = 10) -> None:
    """Run > Run All Cells (`runmenu:run-all`, which runs `notebook:run-all-cells`), by mouse.

    Right after the kernel connects, Lab can still be rebuilding its menus and a click may land
    on a disabled item and do nothing; so check that the first cell is queued (``[*]``) or has
    run, and click again if not. Queued prompts show at once, so this never runs twice.
    """
    menu = page.locator("#jp-MainMenu").get_by_role("menuitem", name="Run", exact=True)
    item = page.locator('.lm-Menu-item[data-command="runmenu:run-all"]:not(.lm-mod-disabled)')
    for _ in range(attempts):
        accept_kernel_dialog(page)
        menu.click()
        item.click()
        deadline = time.monotonic() + started_within_s
        while time.monotonic() < deadline:
            accept_kernel_dialog(page)
            state = notebook_state(page)
            if state and state["prompts"] and re.search(r"\[(\*|\d+)\]", state["prompts"][0]):
                return
            time.sleep(0.25)
    raise AssertionError(f"Run All Cells did not start the first cell in {attempts} attempts")


def wait_for_run(page, timeout_s: float, until_error: bool = False) -> dict:
    """Wait until Run All is over: kernel idle, nothing queued (``[*]``), and either every code
    cell has an execution count or (``until_error``) an error stopped the run."""
    deadline = time.monotonic() + timeout_s
    state: dict | None = None
    while time.monotonic() < deadline:
        accept_kernel_dialog(page)
        state = notebook_state(page)
        if state and state["status"] == "idle" and state["prompts"]:
            queued = any("*" in p for p in state["prompts"])
            counted = [bool(re.search(r"\[\d+\]", p)) for p in state["prompts"]]
            errored = any(TRACEBACK.search(s) for s in state["stderr"])
            if not queued and counted[0] and (all(counted) or (until_error and errored)):
                return state
        time.sleep(0.5)
    summary = state and {k: v for k, v in state.items() if k != "text"}
    raise AssertionError(f"Run All did not finish in {timeout_s} s; last state: {summary}")


def tracebacks(state: dict) -> list[tuple[int, str]]:
    """(code cell index, text) of every error shown, in notebook order."""
    pairs = zip(state["stderr_cells"], state["stderr"], strict=True)
    return [(i, text) for i, text in pairs if TRACEBACK.search(text)]


def screenshot_end(page, path: Path, at: str | None = None) -> Path:
    """Scroll to the notebook's last cell (or to the first element matching ``at``) and save a
    screenshot of the window."""
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    target = panel.locator(at).first if at and panel.locator(at).count() else None
    if target is None:
        target = panel.locator(".jp-Cell").last
    # Off-screen cells have estimated heights (content-visibility) until painted, so one scroll
    # can land short of the target: scroll again once what it passed has been laid out.
    for _ in range(3):
        target.evaluate("e => e.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(250)
    page.screenshot(path=str(path))
    return path
