"""Where jobs run: here, in a local process pool (GPU-pinned workers) or on a Dask cluster.

Jobs hold only paths and plain values (:class:`~autograder.spec.JobSpec`), so any of these can
run them. The process pool is the default: one worker per GPU, each pinned to its GPU, or one
per CPU core without GPUs. With Dask, every worker must see the submissions, the results folder
and this repository at the same paths (a shared file system) and run the same Python
environment; with GPUs, start one Dask worker per GPU, each with its own
``CUDA_VISIBLE_DEVICES`` (as ``dask-cuda-worker`` does).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from autograder.device import detect_device, gpu_ids
from autograder.run import preload
from autograder.spec import JobSpec

Task = Callable[[JobSpec], Any]
Outcomes = Iterator[tuple[JobSpec, Any]]  # (job, its result or the exception it raised)


def default_workers() -> int:
    """One worker per visible NVIDIA GPU, or one per CPU core when there is none."""
    return len(gpu_ids()) or os.cpu_count() or 1


def pin_gpu(gpus: Any) -> None:
    """Process-pool initializer: pin this worker to the next GPU id of the queue ``gpus``.

    It runs before the worker imports anything that could load TensorFlow; the grading
    subprocess and its kernel inherit ``CUDA_VISIBLE_DEVICES``, and :func:`detect_device` in
    this worker names the pinned GPU in its rows.
    """
    os.environ["CUDA_VISIBLE_DEVICES"] = gpus.get()
    detect_device.cache_clear()


def start_worker(gpus: Any) -> None:
    """Process-pool initializer: pin the worker to a GPU (when there are GPUs), then import
    what grading needs, so that each job forks from a ready process."""
    if gpus is not None:
        pin_gpu(gpus)
    preload()


def process_pool(workers: int, gpus: list[str]) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes, started now (they import nbgrader while the
    caller prepares the lessons); with ``gpus``, worker i is pinned to ``gpus[i % len(gpus)]``
    (several workers share a GPU when there are more workers)."""
    ctx = multiprocessing.get_context("spawn")
    queue = None
    if gpus:
        queue = ctx.Queue()
        for i in range(workers):
            queue.put(gpus[i % len(gpus)])
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=start_worker, initargs=(queue,)
    )
    for _ in range(workers):
        pool.submit(int)  # spawns the workers
    return pool


class Executor:
    """Runs tasks over jobs in this process, a process pool or on a Dask cluster."""

    def __init__(
        self, workers: int, *, dask_scheduler: str | None = None, start_pool: bool = True
    ) -> None:
        self.dask_scheduler = dask_scheduler
        gpus = gpu_ids()
        serial = workers <= 1 and not gpus
        self.pool = (
            process_pool(workers, gpus)
            if start_pool and not serial and not dask_scheduler
            else None
        )

    def run(self, jobs: list[JobSpec], task: Task) -> Outcomes:
        """``task`` over ``jobs``, results in the order they finish."""
        if self.dask_scheduler:
            return _run_dask(jobs, self.dask_scheduler, task)
        if self.pool is not None:
            return _run_pool(jobs, self.pool, task)
        return run_here(jobs, task)

    def close(self) -> None:
        """Stop the pool's workers (jobs not started are cancelled)."""
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def run_here(jobs: list[JobSpec], task: Task) -> Outcomes:
    """``task`` over ``jobs`` one after another in this process."""
    for job in jobs:
        try:
            yield job, task(job)
        except Exception as exc:  # noqa: BLE001  (the caller reports it for the job)
            yield job, exc


def _run_pool(jobs: list[JobSpec], pool: ProcessPoolExecutor, task: Task) -> Outcomes:
    futures = {pool.submit(task, job): job for job in jobs}
    for future in as_completed(futures):
        try:
            yield futures[future], future.result()
        except Exception as exc:  # e.g. a worker process that died
            yield futures[future], exc


def _run_dask(jobs: list[JobSpec], address: str, task: Task) -> Outcomes:
    """Run ``task`` on the Dask cluster whose scheduler is at ``address``, one task per job."""
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError as exc:  # an optional extra
        raise ValueError(
            "--dask-scheduler needs Dask distributed: pip install 'image-course[dask]'"
        ) from exc
    with Client(address) as client:
        futures = {client.submit(task, job, pure=False): job for job in jobs}
        for future in dask_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as exc:  # the task raised, or its worker died too often
                yield futures[future], exc
            finally:
                future.release()
