"""Prometheus metrics named and written as TensorFlow Serving exports them.

TF Serving keeps TensorFlow monitoring metrics (``/tensorflow/serving/request_count``, ...) and,
when ``--monitoring_config_file`` enables ``prometheus_config``, writes them at
``/monitoring/prometheus/metrics`` (or the configured path) in Prometheus' text format with
every character outside ``[a-zA-Z0-9_]`` turned into ``:`` (``util/prometheus_exporter.cc``).
Latencies are microseconds in exponential buckets (``servables/tensorflow/util.cc``). A
dashboard or alert written against this server reads the same series from real TF Serving.

The development server's own additions start with ``course_serving_`` (examples per model
call, requests in flight, versions available): TF Serving has no counterpart to read.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

__all__ = ["Registry", "Counter", "Gauge", "Histogram", "exponential_buckets", "ServingMetrics"]


def exponential_buckets(scale: float, growth: float, count: int) -> list[float]:
    """TensorFlow's ``Buckets::Exponential``: ``scale * growth**i`` for ``i < count``."""
    return [scale * growth**i for i in range(count)]


def _number(value: float) -> str:
    """A double as ``absl::StrCat`` writes it (six significant digits)."""
    return f"{value:.6g}"


def prometheus_name(name: str) -> str:
    """``/tensorflow/serving/request_count`` -> ``:tensorflow:serving:request_count``."""
    out = "".join(ch if ch.isascii() and (ch.isalnum() or ch == "_") else ":" for ch in name)
    return "_" + out if out[:1].isdigit() else out


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class _Metric:
    kind = "untyped"

    def __init__(self, registry: Registry, name: str, labels: tuple[str, ...] = ()):
        self.name = prometheus_name(name) if name.startswith("/") else name
        self.labels = labels
        self._lock = threading.Lock()
        registry.add(self)

    def _key(self, values: tuple[str, ...]) -> tuple[str, ...]:
        if len(values) != len(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {values}")
        return tuple(str(v) for v in values)

    def _labels(self, key: tuple[str, ...]) -> str:
        return ",".join(f'{n}="{_label_value(v)}"' for n, v in zip(self.labels, key, strict=True))


class Counter(_Metric):
    kind = "counter"

    def __init__(self, registry: Registry, name: str, labels: tuple[str, ...] = ()):
        super().__init__(registry, name, labels)
        self._values: dict[tuple[str, ...], int] = defaultdict(int)

    def inc(self, *labels: str, by: int = 1) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] += by

    def value(self, *labels: str) -> int:
        return self._values.get(self._key(labels), 0)

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{{{self._labels(k)}}} {v}" for k, v in items]


class Gauge(Counter):
    kind = "gauge"

    def set(self, value: int, *labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = value


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, registry: Registry, name: str, labels: tuple[str, ...], limits: list[float]):
        super().__init__(registry, name, labels)
        self.limits = limits
        self._counts: dict[tuple[str, ...], list[int]] = {}
        self._sums: dict[tuple[str, ...], float] = defaultdict(float)

    def observe(self, value: float, *labels: str) -> None:
        key = self._key(labels)
        bucket = bisect.bisect_right(self.limits, value)  # the first limit above the value
        with self._lock:
            counts = self._counts.setdefault(key, [0] * (len(self.limits) + 1))
            counts[bucket] += 1
            self._sums[key] += value

    def count(self, *labels: str) -> int:
        return sum(self._counts.get(self._key(labels), []))

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted((k, list(c), self._sums[k]) for k, c in self._counts.items())
        out = []
        for key, counts, total in items:
            labels = self._labels(key)
            prefix = f"{self.name}_bucket{{{labels}{',' if labels else ''}"
            running = 0
            for i, n in enumerate(counts):
                running += n
                limit = _number(self.limits[i]) if i < len(self.limits) else "+Inf"
                out.append(f'{prefix}le="{limit}"}} {running}')
            out.append(f"{self.name}_sum{{{labels}}} {_number(total)}")
            out.append(f"{self.name}_count{{{labels}}} {running}")
        return out


class Registry:
    """The metrics of one server, written in the order they were made."""

    def __init__(self) -> None:
        self.metrics: list[_Metric] = []

    def add(self, metric: _Metric) -> None:
        self.metrics.append(metric)

    def text(self) -> str:
        lines = []
        for metric in self.metrics:
            body = metric.lines()
            if body:  # TF Serving writes a metric once it has a point
                lines.append(f"# TYPE {metric.name} {metric.kind}")
                lines.extend(body)
        return "\n".join(lines) + "\n"


LATENCY_BUCKETS = exponential_buckets(10, 1.8, 33)  # microseconds, ~20 minutes at the top


class ServingMetrics:
    """The metrics one development server keeps (a fresh set per server)."""

    def __init__(self) -> None:
        r = self.registry = Registry()
        self.request_count = Counter(
            r, "/tensorflow/serving/request_count", ("model_name", "status")
        )
        self.request_latency = Histogram(
            r,
            "/tensorflow/serving/request_latency",
            ("model_name", "API", "entrypoint"),
            LATENCY_BUCKETS,
        )
        self.runtime_latency = Histogram(
            r,
            "/tensorflow/serving/runtime_latency",
            ("model_name", "API", "runtime"),
            LATENCY_BUCKETS,
        )
        self.example_counts = Histogram(
            r,
            "/tensorflow/serving/request_example_counts",
            ("model",),
            exponential_buckets(1, 2, 15),
        )
        self.example_count_total = Counter(
            r, "/tensorflow/serving/request_example_count_total", ("model",)
        )
        self.wrapped_run_count = Counter(
            r, "/tensorflow/serving/batching_session/wrapped_run_count"
        )
        self.queuing_latency = Histogram(
            r,
            "/tensorflow/serving/batching_session/queuing_latency",
            ("thread_pool_name",),
            exponential_buckets(100, 1.2, 52),
        )
        self.load_attempts = Counter(
            r, "/tensorflow/cc/saved_model/load_attempt_count", ("model_path", "status")
        )
        # the development server's own
        self.batch_size = Histogram(
            r, "course_serving_batch_size", (), [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
        )
        self.in_flight = Gauge(r, "course_serving_requests_in_flight")
        self.available = Gauge(r, "course_serving_model_versions_available", ("model",))

    def text(self) -> str:
        return self.registry.text()
