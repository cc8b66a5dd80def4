"""course.plots for lessons 04 and 05: run comparisons, confusion matrix, ROC/PR, calibration."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from course import metrics, plots


@pytest.fixture
def predictions():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 30)
    logits = rng.normal(0, 1, (90, 3))
    logits[np.arange(90), y] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


def test_compare_runs_draws_one_line_per_run():
    runs = {"SGD": {"loss": [2.0, 1.5, 1.2]}, "Adam": {"loss": [2.0, 0.8, 0.4]}}
    fig = plots.compare_runs(runs, "loss")
    assert isinstance(fig, Figure) and plt.get_fignums() == []
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["SGD", "Adam"]
    assert lines[1].get_ydata().tolist() == [2.0, 0.8, 0.4]


def test_compare_runs_names_the_missing_metric():
    with pytest.raises(ValueError, match="has no 'val_accuracy'"):
        plots.compare_runs({"a": {"loss": [1.0]}})
    with pytest.raises(ValueError, match="mapping"):
        plots.compare_runs([])


def test_confusion_matrix_puts_true_classes_on_rows_and_writes_counts():
    fig = plots.confusion_matrix([0, 0, 0, 1], [1, 1, 0, 1], class_names=["a", "b"])
    ax = fig.axes[0]
    shown = ax.images[0].get_array()
    assert shown.tolist() == [[1, 2], [0, 1]]
    assert ax.get_ylabel() == "true class" and ax.get_xlabel() == "predicted class"
    assert sorted(t.get_text() for t in ax.texts) == ["1", "1", "2"]


def test_confusion_matrix_normalises_rows_and_accepts_a_ready_matrix():
    cm = metrics.confusion([0, 0, 0, 1], [1, 1, 0, 1])
    fig = plots.confusion_matrix(cm, normalize=True)
    shown = np.asarray(fig.axes[0].images[0].get_array())
    assert np.allclose(shown.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="square"):
        plots.confusion_matrix(np.zeros((2, 3)))


def test_roc_curves_draw_one_curve_per_class_with_its_auc(predictions):
    from sklearn.metrics import roc_auc_score

    y, probs = predictions
    fig = plots.roc_curves(y, probs, class_names=["x", "y", "z"])
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels[0] == "chance" and len(labels) == 4
    auc_x = roc_auc_score(y == 0, probs[:, 0])
    assert labels[1] == f"x (AUC {auc_x:.3f})"
    assert "macro AUC" in fig.axes[0].get_title()


def test_pr_curves_give_each_class_its_average_precision(predictions):
    from sklearn.metrics import average_precision_score

    y, probs = predictions
    fig = plots.pr_curves(y, probs)
    labels = [line.get_label() for line in fig.axes[0].get_lines() if line.get_label()[0] != "_"]
    assert labels[2] == f"2 (AP {average_precision_score(y == 2, probs[:, 2]):.3f})"


def test_reliability_reports_the_expected_calibration_error(predictions):
    y, probs = predictions
    fig = plots.reliability(y, probs, bins=5)
    conf, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    which = np.minimum((conf * 5).astype(int), 4)
    ece = sum(
        np.sum(which == b) * abs(correct[which == b].mean() - conf[which == b].mean())
        for b in range(5)
        if np.any(which == b)
    ) / len(y)
    assert f"ECE {ece:.3f}" in fig.axes[0].get_title()


def test_reliability_of_a_perfect_confident_model_has_zero_error():
    probs = np.eye(3)[[0, 1, 2, 0]]
    assert "ECE 0.000" in plots.reliability([0, 1, 2, 0], probs).axes[0].get_title()


def test_coverage_accuracy_plots_the_reject_curve_and_marks_a_threshold(predictions):
    y, probs = predictions
    curve = metrics.reject_curve(probs, y)
    fig = plots.coverage_accuracy(curve, mark=0.5)
    ax = fig.axes[0]
    line = ax.get_lines()[0]
    ok = np.isfinite(curve["accuracy"])
    assert np.allclose(line.get_xdata(), curve["coverage"][ok])
    assert any("threshold 0.50" in t.get_text() for t in ax.texts)
    with pytest.raises(ValueError, match="reject_curve"):
        plots.coverage_accuracy({"coverage": [1.0]})


def test_probability_plots_explain_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(n, num_classes\)"):
        plots.roc_curves([0, 1], [0.2, 0.8])
    with pytest.raises(ValueError, match="one per image"):
        plots.reliability([0, 1, 1], np.eye(2))
