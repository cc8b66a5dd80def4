"""Plots the lessons share, one module per kind of picture.

- :mod:`~course.plots.images`: image grids, class distributions, heatmaps over images;
- :mod:`~course.plots.curves`: learning curves, runs compared;
- :mod:`~course.plots.features`: convolution filters and feature maps;
- :mod:`~course.plots.metrics`: confusion matrices, ROC and PR curves, reliability diagrams,
  coverage against accuracy, grouped bars.

Every function returns a ``matplotlib.figure.Figure`` that pyplot no longer tracks: as the last
line of a notebook cell it is shown exactly once, and in a script or a test it never needs a
display. Save one with ``fig.savefig("grid.png")``.
"""

from course.plots.curves import compare_runs, learning_curves
from course.plots.features import feature_maps, filters
from course.plots.images import class_distribution, heatmaps, image_grid
from course.plots.metrics import (
    confusion_matrix,
    coverage_accuracy,
    grouped_bars,
    pr_curves,
    reliability,
    roc_curves,
)

__all__ = [
    "image_grid",
    "class_distribution",
    "learning_curves",
    "filters",
    "feature_maps",
    "compare_runs",
    "confusion_matrix",
    "roc_curves",
    "pr_curves",
    "reliability",
    "coverage_accuracy",
    "heatmaps",
    "grouped_bars",
]
