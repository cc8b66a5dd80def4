"""Training over time: learning curves of one run, and several runs compared."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from course.plots.base import _new_figure


def _phases(history: Any) -> tuple[dict[str, list], list[tuple[str, int]]]:
    """One log from a History, its dict, or a mapping of named phases run one after another."""

    def logs_of(h: Any) -> Any:
        return getattr(h, "history", h)

    if (
        isinstance(history, Mapping)
        and history
        and all(isinstance(logs_of(v), Mapping) for v in history.values())
    ):
        merged: dict[str, list] = {}
        starts, done = [], 0
        for name, phase in history.items():
            logs = logs_of(phase)
            length = max((len(v) for v in logs.values()), default=0)
            for key, values in logs.items():
                merged.setdefault(key, [np.nan] * done)
                merged[key] += list(values)
            for values in merged.values():
                values += [np.nan] * (done + length - len(values))
            starts.append((str(name), done))
            done += length
        return merged, starts
    return logs_of(history), []


def learning_curves(
    history: Any, *, metrics: Sequence[str] | None = None, title: str | None = None
) -> Figure:
    """Training and validation curves, one panel per metric, from a Keras ``History``.

    Introduced in lesson 01 (data-preprocessing); lesson 04 reads them to diagnose under- and
    overfitting. Accepts the ``History`` returned by ``model.fit`` or its ``.history`` dict, or
    a dict of named phases trained one after another, such as ``{"frozen": h1, "fine-tuned":
    h2}`` (lesson 07): their epochs are joined, with a dashed line where each phase starts.

    Example::

        history = model.fit(train_ds, validation_data=val_ds, epochs=10)
        plots.learning_curves(history)
    """
    logs, starts = _phases(history)
    if not isinstance(logs, Mapping) or not logs:
        raise ValueError(
            "expected a Keras History (what model.fit returns), its .history dict, or a dict "
            f"of them by phase; got {type(history).__name__}"
        )
    if metrics is None:
        metrics = [k for k in logs if not k.startswith("val_") and k != "learning_rate"]
    missing = [m for m in metrics if m not in logs]
    if missing:
        raise ValueError(f"history has no {missing}; it has {sorted(logs)}")
    fig = _new_figure(figsize=(4.2 * len(metrics), 3.2))
    axes = np.atleast_1d(fig.subplots(1, len(metrics), squeeze=False)).ravel()
    for ax, metric in zip(axes, metrics, strict=True):
        train = np.asarray(logs[metric], dtype=float)
        epochs = np.arange(1, len(train) + 1)
        ax.plot(epochs, train, marker="o", ms=3, label="train")
        if f"val_{metric}" in logs:
            ax.plot(
                epochs,
                np.asarray(logs[f"val_{metric}"], dtype=float),
                marker="o",
                ms=3,
                label="validation",
            )
        for name, start in starts:
            ax.axvline(start + 0.5, color="grey", ls="--", lw=1)
            ax.annotate(name, (start + 0.7, 1.0), xycoords=("data", "axes fraction"),
                        va="top", fontsize=8, color="grey")  # fmt: skip
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def compare_runs(
    runs: Mapping[str, Any],
    metric: str = "val_accuracy",
    *,
    title: str | None = None,
    log_scale: bool = False,
) -> Figure:
    """One curve per training run for one metric, to compare settings on the same axes.

    Introduced in lesson 04 (training): optimisers, learning rates, batch sizes and
    regularisers compared on one plot. ``runs`` maps a label to a Keras ``History`` (what
    ``model.fit`` returns) or its ``.history`` dict; ``log_scale`` puts the y-axis on a log
    scale (useful for losses).

    Example::

        plots.compare_runs({"SGD": h_sgd, "Adam": h_adam}, metric="loss")
    """
    if not isinstance(runs, Mapping) or not runs:
        raise ValueError("expected a mapping such as {'SGD': history_sgd, 'Adam': history_adam}")
    fig = _new_figure(figsize=(5.6, 3.4))
    ax = fig.subplots()
    for label, history in runs.items():
        logs = getattr(history, "history", history)
        if not isinstance(logs, Mapping) or metric not in logs:
            have = sorted(logs) if isinstance(logs, Mapping) else type(history).__name__
            raise ValueError(f"run {label!r} has no {metric!r}; it has {have}")
        values = np.asarray(logs[metric], dtype=float)
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=str(label))
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or metric)
    return fig
