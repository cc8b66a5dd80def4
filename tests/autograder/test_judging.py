"""Values judged outside the kernel: the guard's encoding, the grader's decoding and its rules.

The encoder is the one the guard sends into the kernel (``guard_kernel.py``), run here in this
process; the decoder and the comparison are the grader's (:mod:`autograder.judging`).
"""

import _json
import binascii
import json
import math

import numpy as np
import pytest

from autograder import judging
from autograder.guard import KERNEL_SOURCE


@pytest.fixture(scope="module")
def value_line():
    namespace: dict = {}
    exec(compile(KERNEL_SOURCE.read_text(), str(KERNEL_SOURCE), "exec"), namespace)  # noqa: S102
    return namespace["__autograder_encoder"](np, binascii, _json, 1 << 20)


def sent(value_line, name, value, **rule):
    """What the grader reads back from one judge event."""
    return judging.read_sent([value_line((name, value, rule))])[0][0]


@pytest.mark.parametrize(
    "value",
    [
        None, True, 3, -2**70, 0.1, float("nan"), float("inf"), "é\n\"x\"", b"\x00\xff",
        [1, 2.5, "a"], (1, (2, 3)), {"a": 1, 2: [3]}, {(1, 2): "pair"},
        np.arange(6, dtype=np.int16).reshape(2, 3), np.array([[0.5, np.nan]], np.float32),
        np.array([True, False]), np.float32(1.5), np.int64(-7), np.complex64(1 + 2j),
        np.zeros((0, 4)), np.arange(12)[::3],
    ],
)  # fmt: skip
def test_plain_values_survive_the_round_trip(value_line, value):
    got = sent(value_line, "x", value).value
    if isinstance(value, np.ndarray):
        assert isinstance(got, np.ndarray) and got.dtype == value.dtype
        np.testing.assert_array_equal(got, value)
    elif isinstance(value, float) and math.isnan(value):
        assert math.isnan(got)
    elif isinstance(value, np.generic):
        assert type(got) is type(value) and got == value
    else:
        assert got == value and type(got) is type(value)


def test_objects_of_other_types_are_never_encoded(value_line):
    class Sneaky(float):
        def __eq__(self, other):
            return True

    for value in (Sneaky(1.0), np.ma.array([1, 2]), np.array(["a"]), object(), {1, 2}):
        got = sent(value_line, "x", value).value
        assert isinstance(got, judging.Unreadable), value
        assert judging.compare(1.0, got, {}) is not None


def test_values_too_large_or_too_deep_become_unreadable(value_line):
    big = sent(value_line, "x", np.zeros(300_000)).value  # 2.4 MB, over the 1 MB line here
    assert isinstance(big, judging.Unreadable) and "too large" in big.what
    deep: list = []
    for _ in range(50):
        deep = [deep]
    assert isinstance(sent(value_line, "x", deep).value, judging.Unreadable)


def test_rules_travel_with_the_value(value_line):
    item = sent(value_line, "x", [1.0], rtol=1e-3, proportional=True)
    assert item.rule == {"rtol": 1e-3, "proportional": True}


def test_numbers_match_within_tolerance_and_shape():
    assert judging.compare(1.0, 1.0 + 1e-7, {}) is None
    assert "differ" in judging.compare(1.0, 1.1, {})
    assert judging.compare([1, 2, 3], np.array([1.0, 2.0, 3.0]), {}) is None
    assert "shape" in judging.compare([1, 2, 3], [1, 2], {})
    assert judging.compare(np.array([np.nan, 1.0]), [float("nan"), 1.0], {}) is None
    assert "NaN" in judging.compare([np.nan, 1.0], [0.0, 1.0], {})
    assert judging.compare(0.5, 0.51, {"rtol": 0.05}) is None


def test_exact_types_when_the_rule_asks_for_them():
    f32 = np.ones(3, np.float32)
    assert judging.compare(f32, np.ones(3, np.float64), {}) is None
    assert "type" in judging.compare(f32, np.ones(3, np.float64), {"dtype": "exact"})
    assert "type" in judging.compare(3, 3.0, {"dtype": "exact"})


def test_booleans_are_not_numbers():
    assert judging.compare(True, np.True_, {}) is None
    assert judging.compare(True, 1, {}) is not None
    assert judging.compare([True, False], [True, True], {}) is not None


def test_proportional_arrays_share_one_positive_factor():
    a = np.array([1.0, 2.0, 0.0, 4.0])
    assert judging.compare(a, 3 * a, {"proportional": True}) is None
    assert judging.compare(a, -a, {"proportional": True}) is not None
    assert judging.compare(a, a + [0, 0, 1, 0], {"proportional": True}) is not None


def test_maps_close_on_average():
    a = np.zeros((4, 4))
    b = a.copy()
    b[0, 0] = 0.15
    assert judging.compare(a, b, {"mean_atol": 0.02, "atol": 0.2}) is None
    assert judging.compare(a, b + 0.03, {"mean_atol": 0.02}) is not None
    b[1, 1] = 0.3
    assert "up to" in judging.compare(a, b, {"mean_atol": 0.05, "atol": 0.2})


def test_bounds_judge_the_value_alone():
    assert judging.compare(0.0, 0.97, {"at_least": 0.95}) is None
    assert "below" in judging.compare(0.99, 0.9, {"at_least": 0.95})
    assert "above" in judging.compare(0.0, 12, {"at_most": 10})
    assert judging.compare(0.0, float("nan"), {"at_least": 0}) is not None
    assert judging.compare(0.0, True, {"at_least": 0}) is not None


def test_structures_need_the_same_keys_and_lengths():
    assert judging.compare({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}, {}) is None
    assert "missing keys 'b'" in judging.compare({"a": 1, "b": 2}, {"a": 1}, {})
    assert "unexpected keys 'c'" in judging.compare({"a": 1}, {"a": 1, "c": 2}, {})
    assert "['b']" in judging.compare({"a": 1, "b": [1, 2]}, {"a": 1, "b": [1, 3]}, {})
    assert judging.compare(["conv", 16, (3, 3)], ["conv", 16, [3, 3]], {}) is None
    assert judging.compare(["a", "b"], ["a", "c"], {}) is not None
    assert judging.compare({1: 2.0}, {np.int64(1): np.float32(2.0)}, {}) is None


def line(name, value, **rule):
    """A VALUE line as the guard writes it (plain JSON values need no tags)."""
    return json.dumps(
        {"name": name, "value": value, "rule": {"$d": [[k, v] for k, v in rule.items()]}}
    )


def test_a_cell_passes_when_every_key_value_matches():
    key, problems = judging.key_entries([line("a", 1.5), line("b", [1, 2], rtol=0)])
    assert problems == []
    assert judging.judge_cell(key, [line("b", [1, 2]), line("a", 1.5)]) == []


def test_a_missing_or_repeated_value_fails_the_cell():
    key, _ = judging.key_entries([line("a", 1.5), line("b", 2)])
    assert judging.judge_cell(key, [line("a", 1.5)]) == ["the check 'b' never sent its value"]
    twice = judging.judge_cell(key, [line("a", 1.5), line("a", 1.5), line("b", 2)])
    assert twice == ["the check 'a' received 2 values instead of one"]
    assert judging.judge_cell(key, [line("a", 9), line("b", 2), "not json"])


def test_the_key_rule_is_applied_not_the_one_sent_with_the_answer():
    key, _ = judging.key_entries([line("a", 1.0, rtol=0)])
    assert judging.judge_cell(key, [line("a", 1.001, rtol=1.0)])


def test_accuracy_against_the_keys_labels():
    key, problems = judging.key_entries(
        [line("labels", [0, 1, 1, 2]), line("pred", [0, 1, 1, 2], accuracy_at_least=0.75,
                                             truth="labels")])  # fmt: skip
    assert problems == []
    assert judging.judge_cell(key, [line("labels", [0, 1, 1, 2]), line("pred", [0, 1, 0, 2])]) == []
    low = judging.judge_cell(key, [line("labels", [0, 1, 1, 2]), line("pred", [0, 0, 0, 2])])
    assert low == ["pred: accuracy 0.500 is below the target 0.75"]
    # labels changed in the kernel fail on their own; the score still uses the key's labels
    faked = judging.judge_cell(key, [line("labels", [0, 0, 0, 2]), line("pred", [0, 0, 0, 2])])
    assert len(faked) == 2


def test_a_key_refuses_what_cannot_be_judged():
    _, problems = judging.key_entries([line("a", 1), line("a", 2)])
    assert "sends twice" in problems[0]
    _, problems = judging.key_entries(
        [json.dumps({"name": "x", "value": {"$x": "Foo"}, "rule": {"$d": []}})]
    )
    assert "cannot read" in problems[0]
    _, problems = judging.key_entries([line("x", 1, tolerance=2)])
    assert "unknown rule" in problems[0]
    _, problems = judging.key_entries([line("x", [1], accuracy_at_least=0.5, truth="y")])
    assert "sent earlier" in problems[0]
