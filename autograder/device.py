"""Which device grades: ``CPU`` or the visible NVIDIA GPU names."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess


def visible_gpus() -> list[tuple[str, str, str]]:
    """(index, UUID, name) of each GPU nvidia-smi lists that ``CUDA_VISIBLE_DEVICES`` allows."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=index,uuid,name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.splitlines():
        fields = [f.strip() for f in line.split(",", 2)]
        if len(fields) == 3:
            gpus.append(tuple(fields))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        wanted = [v.strip() for v in visible.split(",") if v.strip()]
        chosen = []
        for want in wanted:
            if want.startswith("-"):
                break  # CUDA stops at the first invalid entry
            match = [g for g in gpus if g[0] == want or g[1] == want or g[1].startswith(want)]
            if not match:
                break
            chosen.append(match[0])
        gpus = chosen
    return gpus


def gpu_ids() -> list[str]:
    """The UUIDs of the GPUs this process may use, for pinning a worker with
    ``CUDA_VISIBLE_DEVICES`` (UUIDs, unlike indices, mean the same GPU whatever the order CUDA
    numbers them in)."""
    return [uuid for _index, uuid, _name in visible_gpus()]


@functools.cache
def detect_device() -> str:
    """``CPU``, or the names of the GPUs this process may use (``CUDA_VISIBLE_DEVICES``)."""
    return "; ".join(name for _index, _uuid, name in visible_gpus()) or "CPU"
