"""Functions that pool workers of the batch tests run: a module of their own, so a spawned
worker imports nothing else (no test module with module-level checks) to unpickle them."""

from __future__ import annotations

import os

from autograder.device import detect_device


def pinned_device(barrier) -> tuple[str, str]:
    """Wait until every worker runs a task, then say which GPU this worker was pinned to."""
    barrier.wait(timeout=120)
    return os.environ.get("CUDA_VISIBLE_DEVICES", ""), detect_device()
