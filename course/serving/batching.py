"""Server-side batching: many small predict requests become one model call.

Introduced in lesson 09. TF Serving's ``--enable_batching`` with ``max_batch_size`` and
``batch_timeout_micros`` does this: a request waits up to the timeout for others with the same
signature and inner shape, they run as one batch, and each gets its own rows back. On a CPU or
a GPU one call on 32 images costs far less than 32 calls on one, so throughput under
concurrency rises several-fold (``bench/serving.py`` measures it).
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["BatchingParameters", "Batcher", "read_batching_parameters"]

Arrays = dict[str, np.ndarray]


@dataclass
class BatchingParameters:
    """The fields of TF Serving's ``--batching_parameters_file`` that this server honours."""

    max_batch_size: int = 32
    batch_timeout_micros: int = 2000
    max_enqueued_batches: int = 1000
    num_batch_threads: int = 2

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}")
        if int(self.batch_timeout_micros) < 0:
            raise ValueError(f"batch_timeout_micros must be >= 0; got {self.batch_timeout_micros}")


_FIELD = re.compile(r"^\s*(\w+)\s*\{\s*value\s*:\s*(-?\d+)\s*\}\s*$")


def read_batching_parameters(path: str | Path) -> BatchingParameters:
    """Parse a TF Serving batching parameters file (``max_batch_size { value: 32 }`` lines).

    Fields this server does not use (``pad_variable_length_inputs``, ...) are accepted and
    ignored; anything else that is not ``name { value: N }`` is an error naming the line.
    """
    known = set(BatchingParameters.__dataclass_fields__)
    values: dict[str, int] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = _FIELD.match(text)
        if not match:
            raise ValueError(
                f"{path}:{number}: expected `name {{ value: N }}` (TF Serving's batching "
                f"parameters format); got {line.strip()!r}"
            )
        if match.group(1) in known:
            values[match.group(1)] = int(match.group(2))
    return BatchingParameters(**values)


@dataclass
class _Task:
    arrays: Arrays
    size: int
    key: tuple
    future: Future = field(default_factory=Future)


class Batcher:
    """Queue requests for ``run`` and execute them in batches; ``submit`` returns a Future.

    ``run(arrays) -> arrays`` must accept any batch size in dimension 0. Requests join a batch
    only with others of the same inner shapes and dtypes; a request larger than
    ``max_batch_size`` runs alone. If a merged batch fails, its requests are retried one by one
    so a bad request fails alone.
    """

    def __init__(self, run: Callable[[Arrays], Arrays], params: BatchingParameters,
                 on_batch: Callable[[int], None] | None = None):
        self.run = run
        self.params = params
        self.on_batch = on_batch
        self._queue: queue.Queue[_Task | None] = queue.Queue(
            maxsize=params.max_enqueued_batches * params.max_batch_size
        )
        self._lock = threading.Lock()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
            for i in range(params.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, arrays: Arrays) -> Future:
        sizes = {a.shape[0] if a.ndim else 1 for a in arrays.values()}
        size = max(sizes)
        key = tuple(sorted((n, a.shape[1:], a.dtype.str) for n, a in arrays.items()))
        task = _Task(arrays, size, key if len(sizes) == 1 else ("alone", id(arrays)))
        with self._lock:
            if self._closed:
                raise RuntimeError("the batcher is closed")
        try:
            self._queue.put_nowait(task)
        except queue.Full:
            from course.serving.protocol import ServingError

            raise ServingError("The batch scheduling queue is full", "UNAVAILABLE") from None
        return task.future

    def close(self) -> None:
        with self._lock:
            self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    def _collect(self, first: _Task) -> tuple[list[_Task], list[_Task]]:
        batch, others, total = [first], [], first.size
        if first.size >= self.params.max_batch_size or first.key[0] == "alone":
            return batch, others
        deadline = time.monotonic() + self.params.batch_timeout_micros / 1e6
        while total < self.params.max_batch_size:
            left = deadline - time.monotonic()
            try:
                task = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if task is None:
                self._queue.put(None)  # let the other workers see the stop signal too
                break
            if task.key == first.key and total + task.size <= self.params.max_batch_size:
                batch.append(task)
                total += task.size
            else:
                others.append(task)
                if total + task.size > self.params.max_batch_size and task.key == first.key:
                    break
        return batch, others

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, others = self._collect(first)
            self._execute(batch)
            for task in others:  # a different shape: run it now rather than requeue behind
                self._execute([task])

    def _execute(self, batch: list[_Task]) -> None:
        live = [t for t in batch if t.future.set_running_or_notify_cancel()]
        if not live:
            return
        if len(live) == 1:
            self._run_alone(live[0])
            return
        names = list(live[0].arrays)
        merged = {n: np.concatenate([t.arrays[n] for t in live]) for n in names}
        try:
            outputs = self.run(merged)
        except Exception:
            for task in live:
                self._run_alone(task)
            return
        if self.on_batch:
            self.on_batch(sum(t.size for t in live))
        start = 0
        for task in live:
            stop = start + task.size
            task.future.set_result({n: v[start:stop] for n, v in outputs.items()})
            start = stop

    def _run_alone(self, task: _Task) -> None:
        try:
            outputs = self.run(task.arrays)
        except BaseException as exc:  # delivered to the request that caused it
            task.future.set_exception(exc)
            return
        if self.on_batch:
            self.on_batch(task.size)
        task.future.set_result(outputs)
