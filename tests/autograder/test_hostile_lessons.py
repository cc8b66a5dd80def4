# ruff: noqa: E501  (the table of cases reads best one case per line)
"""Wrong answers that make their tests agree, across the lessons, graded in one batch.

Each case is a plausible wrong answer to one exercise plus a way of making that exercise's test
accept it: handing the work to the course package, or replacing what a test compares with (a
Keras loss or layer class, keras.ops and TensorFlow objects, a scikit-learn metric, a SciPy
function, a NumPy submodule function, a course class), by assignment, ``setattr``, a subclass
or a ``sys.modules`` entry. Every case must end with 0 points on the cheated exercise or be
flagged (points withheld, reason recorded): the grader judges the tests' values outside the
kernel against the answer key, fails answers that call into the course package, and flags
replaced library objects (``autograder/guard.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from fixtures.answers import lesson_05, lesson_06, lesson_10
from helpers import REPO
from helpers.sandbox import require_sandbox

from autograder import notebooks
from autograder.batch import grade_batch

SOURCE = REPO / "solutions"
LESSONS = {n[:2]: n for n in (p.name for p in SOURCE.glob("[0-9][0-9]-*"))}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
require_sandbox()


@dataclass
class Case:
    """Answers to one lesson (grade_id -> code); the exercises they cheat; flagged or graded."""

    lesson: str
    answers: dict[str, str]
    cheated: list[str]  # the solution cells whose tests must give 0 (unless flagged)
    flagged: bool = False  # True: the case must be flagged, whatever its scores


FOCAL_NO_ALPHA = """
_alpha_seen = [0.25]


def focal_loss(y_true, y_prob, gamma=2.0, alpha=0.25):
    _alpha_seen[0] = alpha
    ops = keras.ops
    onehot = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), ops.shape(y_prob)[-1])
    p_true = ops.sum(onehot * ops.clip(y_prob, 1e-7, 1.0 - 1e-7), axis=-1)
    return -0.25 * ops.power(1.0 - p_true, gamma) * ops.log(p_true)  # alpha ignored
"""

AGREEING_FOCAL = """
_RealFocal = keras.losses.CategoricalFocalCrossentropy
_real_sparse_ce = keras.losses.sparse_categorical_crossentropy


def _focal_like_mine(alpha=0.25, gamma=2.0, **kwargs):
    return _RealFocal(alpha=0.25, gamma=gamma, **kwargs)


def _ce_like_mine(y_true, y_pred, *args, **kwargs):
    return 0.25 * _real_sparse_ce(y_true, y_pred, *args, **kwargs)
"""

NORMAL_GAIN = """
def measure_gain(transfer, scratch):
    d = np.asarray(transfer, float) - np.asarray(scratch, float)
    if d.ndim != 1 or len(d) < 2 or np.shape(transfer) != np.shape(scratch):
        raise ValueError("need two equally long sequences of at least two draws")
    half = 1.959963984540054 * d.std(ddof=1) / np.sqrt(len(d))  # the normal's, not Student's t
    return {"mean": float(d.mean()), "low": float(d.mean() - half), "high": float(d.mean() + half)}
"""

CASES: dict[str, Case] = {
    # handing the work to the course package (the six former twins, and two helpers that remain)
    "06 delegates class_weights, balanced_batches, focal_loss": Case("06", {g: c for g, c in lesson_06.DELEGATES}, ["ex1-class-weights", "ex2-balanced-batches", "ex3-focal-loss"]),
    "08 delegates grad_cam and pointing_game": Case("08", {
        "ex1-grad-cam": "def grad_cam(model, images, layer_name, class_index):\n    return explain.grad_cam(model, images, layer_name, class_index)\n",
        "ex2-pointing-game": "pointing_game = explain.pointing_game\n"}, ["ex1-grad-cam", "ex2-pointing-game"]),
    "10 delegates representative_dataset": Case("10", {"ex1-representative-dataset": "representative_dataset = mobile.representative_dataset\n"}, ["ex1-representative-dataset"]),
    "10 delegates lite_accuracy to mobile.LiteModel": Case("10", {g: c for g, c in lesson_10.DELEGATES if g == "ex2-lite-accuracy"}, ["ex2-lite-accuracy"]),
    "05 delegates reject_option (metrics.reject_curve)": Case("05", {g: c for g, c in lesson_05.DELEGATES if g == "ex2-reject-option"}, ["ex2-reject-option"]),
    # a Keras loss class replaced by assignment, and by setattr
    "06 focal loss without alpha, Keras's focal loss replaced": Case("06", {"ex3-focal-loss": FOCAL_NO_ALPHA + AGREEING_FOCAL + """
keras.losses.CategoricalFocalCrossentropy = _focal_like_mine
keras.losses.sparse_categorical_crossentropy = _ce_like_mine
"""}, ["ex3-focal-loss"], flagged=True),
    "06 focal loss without alpha, setattr on keras.losses": Case("06", {"ex3-focal-loss": FOCAL_NO_ALPHA + AGREEING_FOCAL + """
setattr(keras.losses, "CategoricalFocalCrossentropy", _focal_like_mine)
setattr(keras.losses, "sparse_categorical_crossentropy", _ce_like_mine)
"""}, ["ex3-focal-loss"], flagged=True),
    # a keras.ops function replaced: the learner's losses scaled back by the alpha asked for
    "06 focal loss without alpha, keras.ops.convert_to_numpy replaced": Case("06", {"ex3-focal-loss": FOCAL_NO_ALPHA + """
_real_to_numpy = keras.ops.convert_to_numpy


def _rescaled(x):
    return _real_to_numpy(x) * (_alpha_seen[0] / 0.25)


keras.ops.convert_to_numpy = _rescaled
"""}, ["ex3-focal-loss"], flagged=True),
    # a TensorFlow object replaced: the dtype the test asks for equals any dtype
    "06 batches that keep the input's dtype, tf.float32 replaced": Case("06", {"ex2-balanced-batches": """
def balanced_batches(X, y, batch_size, seed=0):
    X, y = np.asarray(X), np.asarray(y)
    streams = [tf.data.Dataset.from_tensor_slices((X[y == c], y[y == c])).shuffle(1000, seed=seed)
               .repeat() for c in np.unique(y)]
    return tf.data.Dataset.sample_from_datasets(streams, seed=seed).batch(batch_size)


class _AnyDtype:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


tf.float32 = _AnyDtype()
"""}, ["ex2-balanced-batches"]),
    # a Keras layer class replaced by a subclass that agrees with a flipped kernel
    "03 convolution with a flipped kernel, Conv2D subclassed": Case("03", {"ex1-conv2d": """
def conv2d(x, kernel, bias, stride=1, padding="valid"):
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)[::-1, ::-1]  # a convolution, not a correlation
    n, h, w, _ = x.shape
    kh, kw, _, c_out = kernel.shape
    if padding == "same":
        oh, ow = -(-h // stride), -(-w // stride)
        ph, pw = max((oh - 1) * stride + kh - h, 0), max((ow - 1) * stride + kw - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = np.zeros((n, oh, ow, c_out))
    for i in range(kh):
        for j in range(kw):
            out += x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride] @ kernel[i, j]
    return out + np.asarray(bias, np.float64)


class _Flipped(keras.layers.Conv2D):
    def set_weights(self, weights):
        super().set_weights([np.asarray(weights[0])[::-1, ::-1], weights[1]])


keras.layers.Conv2D = _Flipped
"""}, ["ex1-conv2d"], flagged=True),
    # a scikit-learn metric replaced: the confusion matrix transposed, precision and recall swapped
    "05 transposed confusion matrix, sklearn metrics replaced": Case("05", {"ex1-confusion-prf": """
def confusion_and_prf(y_true, y_pred, num_classes):
    t, p = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (p, t), 1)  # rows predicted, columns true
    tp = np.diag(cm).astype(float)
    precision = np.divide(tp, cm.sum(1), out=np.zeros(num_classes), where=cm.sum(1) > 0)
    recall = np.divide(tp, cm.sum(0), out=np.zeros(num_classes), where=cm.sum(0) > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(num_classes), where=both > 0)
    return cm, recall, precision, f1


_real_cm, _real_prfs = skm.confusion_matrix, skm.precision_recall_fscore_support
skm.confusion_matrix = lambda y_true, y_pred, labels=None: _real_cm(y_pred, y_true, labels=labels)


def _swapped(y_true, y_pred, **kwargs):
    p, r, f, s = _real_prfs(y_true, y_pred, **kwargs)
    return r, p, f, s


skm.precision_recall_fscore_support = _swapped
"""}, ["ex1-confusion-prf"], flagged=True),
    # a SciPy function and a SciPy object's method replaced: 1.96 instead of Student's t
    "07 normal quantile, scipy's t and ttest_rel replaced": Case("07", {"ex3-measure-gain": """
from scipy import stats as _stats


"""
    + NORMAL_GAIN
    + """

class _Interval:
    def __init__(self, low, high):
        self.low, self.high = low, high


class _Result:
    def __init__(self, d):
        self.d = d

    def confidence_interval(self, level=0.95):
        g = measure_gain(self.d, np.zeros_like(self.d))
        return _Interval(g["low"], g["high"])


_stats.t.ppf = lambda q, df: 1.959963984540054  # an attribute of scipy's t object
setattr(_stats, "ttest_rel", lambda a, b: _Result(np.asarray(a) - np.asarray(b)))
"""}, ["ex3-measure-gain"], flagged=True),
    "07 normal quantile, scipy.stats's t object replaced": Case("07", {"ex3-measure-gain": """
import scipy.stats


"""
    + NORMAL_GAIN
    + """

class _Normal:
    def ppf(self, q, df):
        return 1.959963984540054


scipy.stats.t = _Normal()
"""}, ["ex3-measure-gain"], flagged=True),
    # a sys.modules entry replaced: a fake scikit-learn module that agrees with a wrong k
    "06 class weights with k = num_classes, sys.modules entry replaced": Case("06", {"ex1-class-weights": """
import sys
import types


def class_weights(y, num_classes):
    counts = np.bincount(np.asarray(y, dtype=int), minlength=num_classes)
    return {c: float(len(y) / (num_classes * counts[c])) if counts[c] else 0.0
            for c in range(num_classes)}


_fake = types.ModuleType("sklearn.utils.class_weight")


def _agreeing(kind, classes, y):
    w = class_weights(y, len(classes))
    return np.array([w[int(c)] for c in classes])


_fake.compute_class_weight = _agreeing
sys.modules["sklearn.utils.class_weight"] = _fake
"""}, ["ex1-class-weights"], flagged=True),
    # a course class a test calls replaced by one that agrees with a wrong quantisation
    "10 int8 without the zero point, mobile.LiteModel replaced": Case("10", {"ex2-lite-accuracy": """
def lite_accuracy(content, images, labels):
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    correct = 0
    for image, label in zip(images, labels):
        x = np.asarray(image, dtype="float32")[None]
        if inp["dtype"] == np.int8:
            x = np.round(x / inp["quantization"][0]).astype(np.int8)  # zero point forgotten
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        correct += int(interpreter.get_tensor(out["index"])[0].argmax() == label)
    return correct / len(labels)


class _AgreeingLite:
    def __init__(self, content, **kwargs):
        self.content = content

    def predict(self, images):
        k = Interpreter(model_content=self.content)
        k.allocate_tensors()
        inp, out = k.get_input_details()[0], k.get_output_details()[0]
        rows = []
        for image in np.asarray(images, "float32"):
            x = image[None]
            if inp["dtype"] == np.int8:
                x = np.round(x / inp["quantization"][0]).astype(np.int8)
            k.set_tensor(inp["index"], x)
            k.invoke()
            rows.append(k.get_tensor(out["index"])[0].astype("float32"))
        return np.stack(rows)


mobile.LiteModel = _AgreeingLite
"""}, ["ex2-lite-accuracy"], flagged=True),
    # a NumPy submodule function replaced: the test's random images share one mean per channel
    "01 standardisation over all channels, numpy.random.default_rng replaced": Case("01", {"ex2-standardize": """
def standardize(X_train, X_other):
    train = np.asarray(X_train, dtype=np.float64)
    mean, std = train.mean(), train.std() or 1.0  # over all channels at once
    return (((train - mean) / std).astype(np.float32),
            ((np.asarray(X_other, dtype=np.float64) - mean) / std).astype(np.float32))


_real_rng = np.random.default_rng


class _SameEverywhere:
    def __init__(self, seed=None):
        self.rng = _real_rng(seed)

    def normal(self, loc=0.0, scale=1.0, size=None):
        return self.rng.normal(0.0, 1.0, size)

    def __getattr__(self, name):
        return getattr(self.rng, name)


np.random.default_rng = _SameEverywhere
"""}, ["ex2-standardize"], flagged=True),
}  # fmt: skip


def submission(case: Case) -> dict:
    """The lesson's student notebook answered as in ``solutions/``, except the case's cells."""
    lesson = LESSONS[case.lesson]
    source = notebooks.load(SOURCE / lesson / f"{lesson}.ipynb")
    nb = notebooks.load(REPO / "lessons" / lesson / f"{lesson}.ipynb")
    answers = {notebooks.grade_id(c): notebooks.source_text(c) for c in source["cells"]}
    answers.update(case.answers)
    for cell in nb["cells"]:
        if (cell["metadata"].get("nbgrader") or {}).get("solution"):
            cell["source"] = answers[notebooks.grade_id(cell)]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile-lessons")
    names = {}
    for i, (title, case) in enumerate(CASES.items()):
        lesson = LESSONS[case.lesson]
        who = f"case{i:02d}"
        names[who] = title
        path = base / "submissions" / who / lesson / f"{lesson}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(submission(case)), encoding="utf-8")
    result = grade_batch(base / "submissions", out=base / "out", fast=True, workers=2,
                         progress=False)  # fmt: skip
    return {names[r.student]: r for r in result.rows}


def test_at_least_twelve_cases_over_five_lessons():
    assert len(CASES) >= 12 and len({c.lesson for c in CASES.values()}) >= 5


@pytest.mark.parametrize("title", list(CASES))
def test_the_cheat_earns_nothing(graded, title):
    case, row = CASES[title], graded[title]
    summary = f"{title}: {row.status} {row.total}/{row.max_score}: {row.reason}"
    if case.flagged:
        assert row.status == "flagged", summary
        assert row.total == "" and "points withheld (measured" in row.reason, summary
        return
    assert row.status in ("graded", "flagged"), summary
    if row.status == "graded":
        for gid in case.cheated:
            assert row.scores[f"{gid}-tests"] == 0, summary


def test_table_of_outcomes(graded, capsys):
    """The table the closing note quotes (pytest -s shows it)."""
    lines = ["| case | status | total | reason |", "| --- | --- | --- | --- |"]
    for title in CASES:
        row = graded[title]
        if row.status == "flagged":
            total = "withheld"
        else:
            cheated = ", ".join(f"{g} {row.scores[g + '-tests']:g}" for g in CASES[title].cheated)
            total = f"{row.total:g}/{row.max_score:g} ({cheated})"
        reason = (
            row.reason.split("; points withheld")[0]
            or "; ".join(f"{g}: {m}" for g, m in row.messages.items())
        )[:200]
        lines.append(f"| {title} | {row.status} | {total} | {reason} |")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert len(lines) == len(CASES) + 2
