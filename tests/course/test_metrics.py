"""course.metrics: conventions match scikit-learn; the reject curve counts what it says."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn import metrics as skm

from course import metrics


def test_importing_metrics_does_not_import_keras_or_tensorflow():
    code = "import course.metrics, sys; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_confusion_has_true_classes_as_rows_like_scikit_learn():
    t, p = [0, 0, 0, 1, 2], [1, 1, 0, 1, 2]
    cm = metrics.confusion(t, p, num_classes=4)
    assert cm.tolist() == skm.confusion_matrix(t, p, labels=range(4)).tolist()
    assert cm[0, 1] == 2 and cm[1, 0] == 0


def test_confusion_refuses_too_few_classes_and_probability_rows():
    with pytest.raises(ValueError, match="num_classes=2"):
        metrics.confusion([0, 3], [0, 1], num_classes=2)
    with pytest.raises(ValueError, match=r"argmax\(axis=1\)"):
        metrics.confusion([0, 1], np.eye(2))


def test_report_matches_scikit_learns_classification_report():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 4, 200)
    p = np.where(rng.random(200) < 0.7, t, rng.integers(0, 4, 200))
    p[p == 3] = 2  # class 3 is never predicted: precision 0 by zero_division=0
    text = metrics.report(t, p, ["a", "b", "c", "d"])
    ours = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}
    theirs = skm.classification_report(
        t, p, target_names=list("abcd"), output_dict=True, zero_division=0
    )
    for name in "abcd":
        got = [float(v) for v in ours[name][:3]]
        want = [theirs[name][k] for k in ("precision", "recall", "f1-score")]
        assert got == pytest.approx(want, abs=6e-4)
        assert int(ours[name][3]) == theirs[name]["support"]
    assert float(ours["accuracy"][0]) == pytest.approx(theirs["accuracy"], abs=6e-4)
    macro = [float(v) for v in ours["macro"][1:4]]
    assert macro == pytest.approx(
        [theirs["macro avg"][k] for k in ("precision", "recall", "f1-score")], abs=6e-4
    )
    weighted = [float(v) for v in ours["weighted"][1:4]]
    assert weighted == pytest.approx(
        [theirs["weighted avg"][k] for k in ("precision", "recall", "f1-score")], abs=6e-4
    )


def test_report_names_classes_by_index_without_class_names():
    text = metrics.report([0, 1, 1], [0, 1, 0])
    assert text.splitlines()[2].split()[0] == "0"
    assert "macro avg" in text and "weighted avg" in text


def test_most_confused_lists_off_diagonal_cells_largest_first():
    t = [0, 0, 0, 1, 1, 2, 2, 2]
    p = [1, 1, 0, 0, 1, 0, 1, 2]
    assert metrics.most_confused(t, p, ["zero", "one", "two"]) == [
        ("zero", "one", 2),
        ("one", "zero", 1),
        ("two", "zero", 1),
        ("two", "one", 1),
    ]
    assert metrics.most_confused(t, p, k=1) == [("0", "1", 2)]
    assert metrics.most_confused([0, 1], [0, 1]) == []


def test_reject_curve_accepts_at_the_threshold_and_reports_nan_when_nothing_is_accepted():
    probs = np.array([[0.75, 0.25], [0.5, 0.5], [0.25, 0.75], [0.625, 0.375]])
    curve = metrics.reject_curve(probs, [0, 1, 0, 0], thresholds=[0.0, 0.625, 0.75, 0.9])
    assert curve["coverage"].tolist() == [1.0, 0.75, 0.5, 0.0]
    assert curve["accuracy"][:3].tolist() == pytest.approx([0.5, 2 / 3, 0.5])
    assert np.isnan(curve["accuracy"][3])
    assert curve["threshold"].tolist() == [0.0, 0.625, 0.75, 0.9]


def test_reject_curve_defaults_to_21_thresholds_and_coverage_never_grows():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(4), size=100)
    curve = metrics.reject_curve(probs, rng.integers(0, 4, 100))
    assert len(curve["threshold"]) == 21 and curve["coverage"][0] == 1.0
    assert np.all(np.diff(curve["coverage"]) <= 0)


def test_reject_curve_explains_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(n, num_classes\)"):
        metrics.reject_curve(np.zeros((3, 2)), [0, 1])
