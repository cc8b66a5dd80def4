"""Server-side batching: many small predict requests become one model call.

Introduced in lesson 09. TF Serving's ``--enable_batching`` with ``max_batch_size`` and
``batch_timeout_micros`` does this: a request waits up to the timeout for others with the same
signature and inner shape, they run as one batch, and each gets its own rows back. On a CPU or
a GPU one call on 32 images costs far less than 32 calls on one, so throughput under
concurrency rises several-fold (``bench/serving.py`` measures it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from course.serving.config import BatchingParameters, read_batching_parameters

__all__ = ["BatchingParameters", "Batcher", "read_batching_parameters"]

Arrays = dict[str, np.ndarray]


@dataclass
class _Task:
    arrays: Arrays
    size: int
    future: asyncio.Future


class Batcher:
    """Collect predict requests on the server's event loop and run them in batches.

    ``await batcher.submit(arrays)`` returns that request's rows of the outputs. A request
    waits at most ``batch_timeout_micros`` for others with the same inner shapes and dtypes;
    a batch goes as soon as it holds ``max_batch_size`` examples. At most
    ``num_batch_threads`` batches run at once (in ``executor``); while they run, the next
    batch fills, so under load batches are full without waiting. More than
    ``max_enqueued_batches`` batches waiting is answered 503 (UNAVAILABLE), as TF Serving does.
    A request larger than ``max_batch_size`` runs alone; if a merged batch fails, its requests
    are retried one by one so that a bad request fails alone.

    ``run(arrays) -> arrays`` must accept any batch size in dimension 0. Collection happens on
    the event loop (no thread hand-off per request); only whole batches cross to a thread.
    """

    def __init__(
        self,
        run: Callable[[Arrays], Arrays],
        params: BatchingParameters,
        executor: Executor | None = None,
        on_batch: Callable[[int], None] | None = None,
    ):
        self.run = run
        self.params = params
        self.executor = executor
        self.on_batch = on_batch
        self._pending: dict[tuple, list[_Task]] = {}
        self._sizes: dict[tuple, int] = {}
        self._timers: dict[tuple, asyncio.TimerHandle] = {}
        self._slots: asyncio.Semaphore | None = None
        self._waiting = 0

    async def submit(self, arrays: Arrays) -> Arrays:
        loop = asyncio.get_running_loop()
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.params.num_batch_threads)
        sizes = {a.shape[0] if a.ndim else 1 for a in arrays.values()}
        size = max(sizes)
        task = _Task(arrays, size, loop.create_future())
        if len(sizes) != 1 or size >= self.params.max_batch_size:
            self._start([task])
            return await task.future
        key = tuple(sorted((n, a.shape[1:], a.dtype.str) for n, a in arrays.items()))
        if self._sizes.get(key, 0) + size > self.params.max_batch_size:
            self._flush(key)
        self._pending.setdefault(key, []).append(task)
        self._sizes[key] = self._sizes.get(key, 0) + size
        if self._sizes[key] >= self.params.max_batch_size:
            self._flush(key)
        elif key not in self._timers:
            self._timers[key] = loop.call_later(
                self.params.batch_timeout_micros / 1e6, self._flush, key
            )
        return await task.future

    def _flush(self, key: tuple) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        tasks = self._pending.pop(key, [])
        self._sizes.pop(key, None)
        if tasks:
            self._start(tasks)

    def _start(self, tasks: list[_Task]) -> None:
        if self._waiting >= self.params.max_enqueued_batches:
            from course.serving.errors import ServingError

            error = ServingError("The batch scheduling queue is full", "UNAVAILABLE")
            for task in tasks:
                if not task.future.done():
                    task.future.set_exception(error)
            return
        self._waiting += 1
        asyncio.get_running_loop().create_task(self._execute(tasks))

    async def _call(self, arrays: Arrays) -> Arrays:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.run, arrays)

    async def _execute(self, tasks: list[_Task]) -> None:
        assert self._slots is not None
        async with self._slots:
            self._waiting -= 1
            if len(tasks) == 1:
                await self._run_alone(tasks[0])
                return
            names = list(tasks[0].arrays)
            merged = {n: np.concatenate([t.arrays[n] for t in tasks]) for n in names}
            try:
                outputs = await self._call(merged)
            except Exception:
                for task in tasks:
                    await self._run_alone(task)
                return
            if self.on_batch:
                self.on_batch(sum(t.size for t in tasks))
            start = 0
            for task in tasks:
                stop = start + task.size
                if not task.future.done():
                    task.future.set_result({n: v[start:stop] for n, v in outputs.items()})
                start = stop

    async def _run_alone(self, task: _Task) -> None:
        try:
            outputs = await self._call(task.arrays)
        except Exception as exc:  # delivered to the request that caused it
            if not task.future.done():
                task.future.set_exception(exc)
            return
        if self.on_batch:
            self.on_batch(task.size)
        if not task.future.done():
            task.future.set_result(outputs)
