"""Run a grading kernel in a sandbox: its own file system view, no network, hard limits.

Each submission's kernel starts under bubblewrap (``bwrap``, Debian's ``bubblewrap``):

- **Files.** The kernel sees the operating system and the Python environment read-only, the
  ``course`` package read-only, and a private, size-limited ``/home/student`` (its HOME, with
  the notebook's working folder ``/home/student/work`` holding only the lesson's data files)
  and ``/tmp``. ``solutions/``, the gradebook, the grader's files and other students' work
  are not in its file system at all.
- **Network.** A network namespace of its own: loopback only (lesson 09 serves a model on
  127.0.0.1 inside the sandbox); the host's 127.0.0.1 and every other address are unreachable.
  The kernel talks to the grader over Unix sockets (ZeroMQ ``ipc``) in a folder bound in.
- **Processes.** A PID namespace of its own (killing the sandbox kills everything in it, and
  nothing outside is visible), a user namespace (an unprivileged ``student``), no capabilities.
- **Limits.** A cgroup per kernel when the machine lets the grader make one (memory, number of
  tasks: a memory bomb or a fork bomb ends inside its own group); ``prlimit`` for open files,
  file size and CPU time always; without cgroups, per-process data size and process count
  rlimits plus a watchdog that totals the sandbox's memory and tasks.
- **Environment.** Cleared, then only what a kernel needs: nothing names nbgrader or grading.
  Python runs with ``-I``: the working folder is not importable ahead of installed packages.

:func:`protections` says which of these this machine provides (``autograder doctor``).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager

from course.env import QUIET_ENV

HOME = "/home/student"
WORK = f"{HOME}/work"
GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Per-submission limits; every kernel and process it starts shares them."""

    memory_bytes: int = 4 * GiB
    tasks: int = 1024  # processes and threads together (cgroup pids)
    processes: int = 256  # without cgroups: RLIMIT_NPROC (not enforced for root)
    open_files: int = 1024
    file_bytes: int = 256 * MiB  # largest file it may write
    disk_bytes: int = 1 * GiB  # size of its HOME and of its /tmp (each)
    cpu_seconds: int = 4 * 3600

    def describe(self) -> str:
        """One line for reports."""
        return (
            f"memory {self.memory_bytes / GiB:g} GiB, {self.tasks} tasks, "
            f"{self.open_files} open files, files up to {self.file_bytes // MiB} MiB, "
            f"disk {self.disk_bytes / GiB:g} GiB, CPU {self.cpu_seconds} s"
        )


def parse_size(text: str) -> int:
    """``'4G'``, ``'512M'``, ``'1.5GiB'`` or a number of bytes -> bytes."""
    t = str(text).strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 1 << 10, "M": MiB, "G": GiB, "T": 1 << 40}.get(t[-1:], 1)
    number = t[:-1] if t[-1:] in "KMGT" and t[-1:] else t
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (use e.g. 4G, 512M or a number of bytes)") from None
    if value <= 0:
        raise ValueError(f"a size must be positive, got {text!r}")
    return int(value * scale)


# --- what the machine offers ---------------------------------------------------------------


@functools.cache
def bwrap_path() -> str | None:
    """The ``bwrap`` binary when it can actually build a sandbox here, else None."""
    exe = shutil.which("bwrap")
    if exe is None:
        return None
    probe = [
        exe, "--unshare-all", "--unshare-user", "--die-with-parent", "--cap-drop", "ALL",
        "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true",
    ]  # fmt: skip
    try:
        ok = subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return exe if ok else None


def _cgroup_v1_roots() -> dict[str, Path] | None:
    roots = {c: Path("/sys/fs/cgroup") / c for c in ("memory", "pids")}
    if all(os.access(r, os.W_OK) and (r / "cgroup.procs").exists() for r in roots.values()):
        return roots
    return None


def _cgroup_v2_root() -> Path | None:
    base = Path("/sys/fs/cgroup")
    if not (base / "cgroup.controllers").is_file():
        return None
    try:
        rel = next(
            ln.split("::", 1)[1]
            for ln in Path("/proc/self/cgroup").read_text().splitlines()
            if ln.startswith("0::")
        )
    except (OSError, StopIteration):
        return None
    # a delegated sub-tree: ours (or its parent) lets us create children with these controllers
    for cand in (base / rel.lstrip("/"), (base / rel.lstrip("/")).parent):
        try:
            enabled = (cand / "cgroup.subtree_control").read_text().split()
        except OSError:
            continue
        if {"memory", "pids"} <= set(enabled) and os.access(cand, os.W_OK):
            return cand
    return None


@functools.cache
def cgroup_mode() -> str | None:
    """``'v2'`` or ``'v1'`` when the grader can make a cgroup per kernel, else None."""
    if _cgroup_v2_root() is not None:
        return "v2"
    if _cgroup_v1_roots() is not None:
        return "v1"
    return None


def protections() -> dict[str, str]:
    """What isolates a kernel on this machine, for ``autograder doctor`` (name -> status)."""
    bwrap = bwrap_path()
    found = shutil.which("bwrap")
    out = {
        "bubblewrap": f"yes, {bwrap}" if bwrap else (
            f"installed at {found} but cannot create namespaces here" if found
            else "not installed (Debian/Ubuntu: apt-get install bubblewrap)"
        ),
    }  # fmt: skip
    if bwrap:
        out["file system"] = (
            "private: OS and Python read-only, own HOME and /tmp; no solutions, "
            "gradebook or other students"
        )
        out["network"] = "none (own loopback only)"
        out["processes"] = "own PID and user namespace, no capabilities"
        out["environment"] = "cleared; nothing tells the code it is graded; python -I"
    mode = cgroup_mode()
    out["cgroups"] = (
        f"{mode}: memory and task limits per kernel"
        if mode
        else "not available: rlimits and a memory/process watchdog instead"
    )
    out["rlimits"] = (
        "prlimit (open files, file size, CPU time)"
        if shutil.which("prlimit")
        else ("prlimit not found (util-linux): open file, file size and CPU limits are missing")
    )
    out["integrity guard"] = (
        "audit hook from before the first cell, checks around every test cell "
        "(autograder/guard.py); findings flag the submission"
    )
    out["judged values"] = (
        "hidden tests' values compared outside the kernel with the solution's (the answer "
        "key); answers that call the course package fail their test"
    )
    for tool in ("unshare", "firejail"):
        if shutil.which(tool):
            out[tool] = "installed (not used: bubblewrap gives the complete sandbox)"
    return out


# --- the sandbox of one kernel ---------------------------------------------------------------


@dataclass
class SandboxSpec:
    """Everything needed to start one sandboxed kernel (derived from a job's
    :class:`~autograder.spec.JobSpec` by the run step)."""

    ipc_dir: str  # host folder with the ZeroMQ sockets and the connection file (bound in)
    data_dir: str = ""  # host folder whose files (not notebooks) appear read-only in WORK
    limits: Limits = field(default_factory=Limits)
    env: dict[str, str] = field(default_factory=dict)  # extra variables (COURSE_FAST, ...)
    isolate: bool = True  # False only with --no-isolation: the kernel runs unconfined
    mpl_cache: str = ""  # a matplotlib font cache to copy in (saves seconds per kernel)
    threads: int = 0  # CPU threads per kernel (0: as many as the machine has)


def font_cache() -> str:
    """The grader's matplotlib font list, copied into each kernel (it saves a rebuild)."""
    base = Path(os.environ.get("MPLCONFIGDIR") or Path.home() / ".cache" / "matplotlib")
    found = sorted(base.glob("fontlist-v*.json"), key=lambda p: p.stat().st_mtime)
    return str(found[-1]) if found else ""


def kernel_env(spec: SandboxSpec) -> dict[str, str]:
    """The whole environment of a sandboxed kernel."""
    env = {
        "PATH": os.pathsep.join(
            [str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]
        ),
        "HOME": HOME,
        "USER": "student",
        "LOGNAME": "student",
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "MPLCONFIGDIR": f"{HOME}/.config/matplotlib",
        "JPY_PARENT_PID": "1",  # no parent poller: the sandbox's PID 1 is the parent
        **QUIET_ENV,
    }
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    if _gpu_devices():
        env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    env.update(thread_env(spec.threads))
    env.update(spec.env)
    return env


def thread_env(threads: int) -> dict[str, str]:
    """Variables that keep TensorFlow and the BLAS libraries to ``threads`` CPU threads.

    Parallel workers share the cores: each kernel using them all would make them fight.
    """
    if threads <= 0:
        return {}
    n = str(threads)
    return {
        "TF_NUM_INTRAOP_THREADS": n,
        "TF_NUM_INTEROP_THREADS": n,
        "OMP_NUM_THREADS": n,
        "OPENBLAS_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
    }


def unconfined_env(spec: SandboxSpec) -> dict[str, str]:
    """The environment of a kernel run without isolation: the grader's, minus anything that
    tells the code it is being graded (``NBGRADER_*``, the grader's own settings)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NBGRADER", "AUTOGRADER", "JPY_", "JUPYTER_"))
    }
    env.update(QUIET_ENV)
    env.update(thread_env(spec.threads))
    env.update(spec.env)
    return env


def _gpu_devices() -> list[str]:
    return sorted(str(p) for p in Path("/dev").glob("nvidia*") if not p.is_dir())


def _os_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for etc in (
        "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "fonts", "localtime", "hosts",
        "nsswitch.conf", "host.conf", "mime.types", "alternatives", "ssl",
    ):  # fmt: skip
        if Path("/etc", etc).exists():
            args += ["--ro-bind", f"/etc/{etc}", f"/etc/{etc}"]
    return args


def _python_binds() -> list[str]:
    """The interpreter, the environment, the ``course`` package and the tooling it starts
    (lesson 09 runs the development server), read-only."""
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix), Path(sys.prefix).resolve()}
    for package in ("course", "course_tools"):
        spec = importlib.util.find_spec(package)  # located, not imported
        if spec is not None and spec.origin:
            roots.add(Path(spec.origin).resolve().parent)
    args: list[str] = []
    for root in sorted(roots, key=lambda p: len(p.parts)):
        args += ["--ro-bind", str(root), str(root)]
    return args


def bwrap_command(spec: SandboxSpec, argv: list[str]) -> list[str]:
    """``argv`` (a kernel command) wrapped in bubblewrap and prlimit as described above."""
    exe = bwrap_path()
    if exe is None:
        raise RuntimeError("bubblewrap cannot create a sandbox on this machine")
    lim = spec.limits
    args = [
        exe,
        "--unshare-all", "--unshare-user", "--uid", "1000", "--gid", "1000",
        "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv",
        "--proc", "/proc", "--dev", "/dev",
        # the private /tmp and HOME first: the environment may live below /tmp (a CI clone)
        "--size", str(lim.disk_bytes), "--tmpfs", "/tmp",
        "--size", str(lim.disk_bytes), "--tmpfs", HOME,
        *_os_binds(), *_python_binds(),
        "--dir", WORK, "--dir", f"{HOME}/.config/matplotlib",
    ]  # fmt: skip
    if spec.mpl_cache and Path(spec.mpl_cache).is_file():
        args += [
            "--ro-bind",
            spec.mpl_cache,
            f"{HOME}/.config/matplotlib/{Path(spec.mpl_cache).name}",
        ]
    if spec.data_dir and Path(spec.data_dir).is_dir():
        for item in sorted(Path(spec.data_dir).iterdir()):
            if item.suffix != ".ipynb" and not item.name.startswith("."):
                args += ["--ro-bind", str(item), f"{WORK}/{item.name}"]
    args += ["--bind", spec.ipc_dir, spec.ipc_dir]
    gpus = _gpu_devices()
    for dev in gpus:
        args += ["--dev-bind", dev, dev]
    if gpus:
        args += ["--ro-bind", "/sys", "/sys"]
    for key, value in kernel_env(spec).items():
        args += ["--setenv", key, value]
    args += ["--chdir", WORK, "--"]
    prlimit = shutil.which("prlimit")
    if prlimit:
        args += [
            prlimit,
            f"--nofile={lim.open_files}:{lim.open_files}",
            f"--fsize={lim.file_bytes}:{lim.file_bytes}",
            f"--cpu={lim.cpu_seconds}:{lim.cpu_seconds}",
        ]
        if cgroup_mode() is None:
            args += [f"--nproc={lim.processes}:{lim.processes}"]
            if not gpus:  # CUDA maps large private regions; the watchdog covers GPUs
                args += [f"--data={lim.memory_bytes}:{lim.memory_bytes}"]
        args += ["--"]
    return args + isolated_python(argv)


def isolated_python(argv: list[str]) -> list[str]:
    """A Python kernel command with ``-I`` added: no PYTHON* variables, no cwd on sys.path."""
    if argv and Path(argv[0]).name.startswith("python") and "-I" not in argv:
        return [argv[0], "-I", *argv[1:]]
    return argv


# --- cgroups ---------------------------------------------------------------------------------


class CGroup:
    """A memory and task limited cgroup for one kernel (v1 or v2), removed by :meth:`close`."""

    def __init__(self, limits: Limits) -> None:
        self.name = f"autograder-{uuid.uuid4().hex[:12]}"
        self.mode = cgroup_mode()
        self.dirs: list[Path] = []
        self.limits = limits
        if self.mode == "v2":
            root = _cgroup_v2_root()
            assert root is not None
            d = root / self.name
            d.mkdir()
            self.dirs = [d]
            (d / "pids.max").write_text(str(limits.tasks))
            (d / "memory.max").write_text(str(limits.memory_bytes))
            if (d / "memory.swap.max").exists():
                (d / "memory.swap.max").write_text("0")
        elif self.mode == "v1":
            roots = _cgroup_v1_roots()
            assert roots is not None
            mem, pids = roots["memory"] / self.name, roots["pids"] / self.name
            mem.mkdir()
            pids.mkdir()
            self.dirs = [mem, pids]
            (pids / "pids.max").write_text(str(limits.tasks))
            (mem / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
            swap = mem / "memory.memsw.limit_in_bytes"
            if swap.exists():
                try:
                    swap.write_text(str(limits.memory_bytes))
                except OSError:
                    pass

    def enter_command(self, argv: list[str]) -> list[str]:
        """``argv`` started inside this cgroup (a shell moves itself in, then execs)."""
        if not self.dirs:
            return argv
        moves = "; ".join(f"echo $$ > '{d}/cgroup.procs'" for d in self.dirs)
        return ["/bin/sh", "-c", f'{moves} && exec "$@"', "sh", *argv]

    def pids(self) -> list[int]:
        """Processes in the group."""
        out: set[int] = set()
        for d in self.dirs:
            try:
                out |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return sorted(out)

    def out_of_memory(self) -> bool:
        """Whether the kernel hit the memory limit (the OOM killer acted or allocations failed)."""
        for d in self.dirs:
            for name in ("memory.events", "memory.oom_control"):
                try:
                    text = (d / name).read_text()
                except OSError:
                    continue
                for line in text.splitlines():
                    key, _, value = line.partition(" ")
                    if key in ("oom_kill", "oom") and value.strip() not in ("", "0"):
                        return True
            try:
                if int((d / "memory.failcnt").read_text()) > 0:
                    return True
            except (OSError, ValueError):
                pass
        return False

    def hit_task_limit(self) -> bool:
        """Whether a fork or thread creation was refused by the task limit."""
        for d in self.dirs:
            try:
                text = (d / "pids.events").read_text()
            except OSError:
                continue
            if any(ln.split()[-1] != "0" for ln in text.splitlines() if ln.startswith("max")):
                return True
        return False

    def close(self) -> None:
        """Kill whatever is left in the group and remove it."""
        for _ in range(50):
            left = self.pids()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.05)
        for d in self.dirs:
            try:
                d.rmdir()
            except OSError:
                pass


# --- the watchdog used without cgroups -------------------------------------------------------


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(stat[1]), []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _usage(pids: list[int]) -> tuple[int, int]:
    """(resident bytes, tasks) of ``pids``."""
    rss = tasks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Threads:"):
                        tasks += int(line.split()[1])
        except OSError:
            pass
    return rss, tasks


class Watchdog(threading.Thread):
    """Kills a sandbox whose processes together exceed the memory or task limit."""

    def __init__(self, root_pid: int, limits: Limits, interval: float = 0.1) -> None:
        super().__init__(daemon=True, name="sandbox-watchdog")
        self.root_pid, self.limits, self.interval = root_pid, limits, interval
        self.reason = ""
        self.stopped = threading.Event()

    def run(self) -> None:  # noqa: D102
        while not self.stopped.wait(self.interval):
            pids = _descendants(self.root_pid)
            if len(pids) <= 1 and not Path(f"/proc/{self.root_pid}").exists():
                return
            rss, tasks = _usage(pids)
            if rss > self.limits.memory_bytes:
                self.reason = "memory"
            elif tasks > self.limits.tasks:
                self.reason = "tasks"
            if self.reason:
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                return


# --- the kernel manager nbclient uses --------------------------------------------------------


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel starts in a sandbox (:meth:`use` says which).

    The connection uses ZeroMQ over Unix sockets in ``spec.ipc_dir``, the only host folder the
    kernel can write to. Without :meth:`use` it is a plain kernel manager.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec: SandboxSpec | None = None
        self.cgroup: CGroup | None = None
        self.watchdog: Watchdog | None = None

    def use(self, spec: SandboxSpec) -> None:
        """Start the kernel in the sandbox ``spec`` describes (before it starts)."""
        self.spec = spec
        self.transport = "ipc"
        self.connection_file = str(Path(spec.ipc_dir) / "kernel.json")
        self.ip = str(Path(spec.ipc_dir) / "k")

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """The kernelspec's command, inside the sandbox (or plain, with ``isolate=False``)."""
        cmd = super().format_kernel_cmd(extra_arguments)
        spec = self.spec
        if spec is None:
            return cmd
        if not spec.isolate:
            return isolated_python(cmd)
        cmd = bwrap_command(spec, cmd)
        if cgroup_mode() is not None:
            self.cgroup = CGroup(spec.limits)
            cmd = self.cgroup.enter_command(cmd)
        return cmd

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        spec = self.spec
        if spec is not None:
            # bubblewrap clears the environment itself; unconfined kernels get a scrubbed one
            kw["env"] = unconfined_env(spec) if not spec.isolate else {"PATH": "/usr/bin:/bin"}
        await super()._async_launch_kernel(kernel_cmd, **kw)
        if spec is not None and spec.isolate and cgroup_mode() is None:
            pid = getattr(self.provisioner, "pid", None)
            if pid:
                self.watchdog = Watchdog(int(pid), spec.limits)
                self.watchdog.start()

    async def _async_interrupt_kernel(self) -> None:
        """Interrupt the kernel itself: SIGINT to the sandbox's process group would stop
        bubblewrap, and with it the kernel."""
        spec = self.spec
        pid = getattr(self.provisioner, "pid", None)
        if spec is None or not spec.isolate or not pid:
            await super()._async_interrupt_kernel()
            return
        for child in _descendants(int(pid)):
            try:
                with open(f"/proc/{child}/cmdline", "rb") as fh:
                    argv = fh.read().split(b"\0")
                # the kernel itself, not bubblewrap (whose arguments name the kernel too)
                if Path(argv[0].decode()).name.startswith("python") and any(
                    a == b"ipykernel_launcher" for a in argv
                ):
                    os.kill(child, signal.SIGINT)
            except OSError:
                pass

    interrupt_kernel = _async_interrupt_kernel  # AsyncKernelManager binds the base method

    def limit_reached(self) -> str:
        """``'memory'`` or ``'tasks'`` when a limit stopped the kernel, else ``''``."""
        if self.cgroup is not None:
            if self.cgroup.out_of_memory():
                return "memory"
            if self.cgroup.hit_task_limit():
                return "tasks"
        if self.watchdog is not None:
            return self.watchdog.reason
        return ""

    def release(self) -> None:
        """Kill anything left of the sandbox and remove its cgroup."""
        if self.watchdog is not None:
            self.watchdog.stopped.set()
        if self.cgroup is not None:
            self.cgroup.close()
