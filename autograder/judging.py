"""Judge a test's values outside the student's kernel.

A hidden test sends what the learner's code produced to the grader instead of (or as well as)
comparing it in the kernel, where student code could have replaced the comparison or the
reference::

    def _judge(name, value, **rule):  # sent to the grader, which compares it with the solution's
        __import__("sys").audit("autograder.judge", name, value, rule)

    _judge("weights, classes 0-2", class_weights(np.array([0, 0, 0, 2, 2, 1]), 3), rtol=1e-9)

``sys.audit`` does nothing in a plain kernel (JupyterLab, ``course run``); in a graded kernel
the integrity guard's audit hook (:mod:`autograder.guard`) encodes the value as JSON (plain
Python and NumPy values only, size-limited, never pickle) and writes it to the grader's pipe.
The grader runs the lesson's solution the same way once (:mod:`autograder.answer_key`): the
values its tests send are the answer key. After each test cell of a submission, the grader
compares the values sent while the cell ran with the key (:func:`judge_cell`); a difference,
a value that was never sent or one sent twice fails the cell, whatever the kernel said.

Rules (keyword arguments of the call; the key's rules are the ones applied):

- ``rtol``, ``atol``: numbers and arrays match as in ``numpy.allclose`` (defaults 1e-5, 1e-8);
  NaN matches NaN. Python and NumPy numbers, lists and arrays of numbers compare by value and
  shape; ``dtype="exact"`` also requires the same NumPy dtype (or Python type).
- ``mean_atol=x``: arrays whose mean absolute difference is at most ``x`` (and, with ``atol``,
  whose largest difference is at most ``atol``): maps that honest variants resize differently.
- ``proportional=True``: arrays equal up to one positive factor (e.g. an unnormalised filter).
- ``at_least=x`` / ``at_most=x``: a number judged against a bound, not against the solution.
- ``accuracy_at_least=x, truth="name"``: predicted labels scored against the solution's value
  ``name`` sent earlier in the same cell (the true labels, checked like any other value).
- Strings, ``None`` and booleans must be equal; dicts need the same keys; lists and tuples
  the same length.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

EVENT = "autograder.judge"
RULES = {"rtol", "atol", "mean_atol", "dtype", "proportional", "at_least", "at_most",
         "accuracy_at_least", "truth"}  # fmt: skip
DEFAULT_RTOL, DEFAULT_ATOL = 1e-5, 1e-8
MAX_MESSAGES = 3


@dataclass(frozen=True)
class Unreadable:
    """A value the guard would not encode (an object of another type, too large, ...)."""

    what: str


class BadValue(ValueError):
    """A value line that does not decode."""


# --- decoding ----------------------------------------------------------------------------------


def parse(text: str) -> dict[str, Any]:
    """The raw JSON of one ``VALUE`` line: ``{"name", "value", "rule"}`` (value still encoded)."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise BadValue(f"not JSON: {exc}") from None
    if not (isinstance(raw, dict) and isinstance(raw.get("name"), str) and "value" in raw):
        raise BadValue("not a value report")
    return raw


def decode(raw: Any) -> Any:
    """Turn the guard's JSON encoding back into Python and NumPy values."""
    if isinstance(raw, list):
        return [decode(item) for item in raw]
    if not isinstance(raw, dict):
        return raw
    if "$t" in raw:
        return tuple(decode(item) for item in raw["$t"])
    if "$d" in raw:
        out = {}
        for key, value in raw["$d"]:
            key = decode(key)
            if isinstance(key, list):
                key = tuple(key)
            try:
                out[key] = decode(value)
            except TypeError:  # an unhashable key (an array)
                return Unreadable("dict with a key of type " + type(key).__name__)
        return out
    if "$f" in raw:
        return float(raw["$f"])
    if "$b" in raw:
        return _b64(raw["$b"])
    if "$a" in raw:
        dtype = _dtype(raw["$a"])
        shape = tuple(int(n) for n in raw.get("shape", []))
        data = _b64(raw["b64"])
        if math.prod(shape) * dtype.itemsize != len(data):
            raise BadValue("array bytes do not match its shape")
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    if "$s" in raw:
        dtype = _dtype(raw["$s"])
        data = _b64(raw["b64"])
        if len(data) != dtype.itemsize:
            raise BadValue("scalar bytes do not match its type")
        return np.frombuffer(data, dtype=dtype)[0]
    if "$x" in raw:
        return Unreadable(str(raw["$x"]))
    raise BadValue(f"unknown encoding with keys {sorted(raw)}")


def _b64(text: Any) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadValue(f"bad base64: {exc}") from None


def _dtype(text: Any) -> np.dtype:
    try:
        dtype = np.dtype(str(text))
    except TypeError as exc:
        raise BadValue(f"bad dtype {text!r}: {exc}") from None
    if dtype.kind not in "biufc" or dtype.hasobject:
        raise BadValue(f"dtype {text!r} is not numeric")
    return dtype


def check_rule(rule: Any) -> dict[str, Any]:
    """A rule dict as the author wrote it, or :class:`BadValue` saying what is wrong."""
    if not isinstance(rule, dict) or not all(isinstance(k, str) for k in rule):
        raise BadValue("the rule must be keyword arguments")
    unknown = set(rule) - RULES
    if unknown:
        raise BadValue(f"unknown rule {sorted(unknown)}; the rules are {sorted(RULES)}")
    if ("truth" in rule) != ("accuracy_at_least" in rule):
        raise BadValue("accuracy_at_least and truth go together")
    if rule.get("dtype", "any") not in ("any", "exact"):
        raise BadValue("dtype is 'any' or 'exact'")
    return rule


# --- comparing ---------------------------------------------------------------------------------


def _is_number(x: Any) -> bool:
    return isinstance(x, (bool, int, float, complex, np.bool_, np.number))


def _as_array(x: Any) -> np.ndarray | None:
    """``x`` as a numeric array when it is a number, an array or a rectangular list of numbers."""
    if isinstance(x, np.ndarray):
        return x
    if _is_number(x):
        return np.asarray(x)
    if isinstance(x, (list, tuple)) and _all_numbers(x):
        try:
            arr = np.asarray(x)
        except ValueError:  # ragged
            return None
        return arr if arr.dtype.kind in "biufc" else None
    return None


def _all_numbers(x: Any, depth: int = 0) -> bool:
    if depth > 32:
        return False
    if isinstance(x, (list, tuple)):
        return all(_all_numbers(item, depth + 1) for item in x)
    return _is_number(x) or (isinstance(x, np.ndarray) and x.dtype.kind in "biufc")


def _kind(x: Any) -> str:
    return type(x).__name__


def compare(expected: Any, got: Any, rule: dict[str, Any], where: str = "") -> str | None:
    """None when ``got`` matches ``expected`` under ``rule``, else what differs."""
    at = f" at {where}" if where else ""
    if isinstance(got, Unreadable):
        return f"the grader cannot read the value{at} ({got.what})"
    if "at_least" in rule or "at_most" in rule:
        return _bounds(got, rule, at)
    exp_arr, got_arr = _as_array(expected), _as_array(got)
    if exp_arr is not None:
        if got_arr is None:
            return f"expected numbers{at}, got a {_kind(got)}"
        return _compare_arrays(exp_arr, got_arr, expected, got, rule, at)
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"expected a dict{at}, got a {_kind(got)}"
        if set(expected) != set(got):
            missing = sorted(map(repr, set(expected) - set(got)))
            extra = sorted(map(repr, set(got) - set(expected)))
            parts = [f"missing keys {', '.join(missing)}"] if missing else []
            parts += [f"unexpected keys {', '.join(extra)}"] if extra else []
            return f"{'; '.join(parts)}{at}"
        for key in expected:
            found = compare(expected[key], got[key], rule, f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"expected a sequence{at}, got a {_kind(got)}"
        if len(expected) != len(got):
            return f"expected {len(expected)} items{at}, got {len(got)}"
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            found = compare(e, g, rule, f"{where}[{i}]")
            if found:
                return found
        return None
    if isinstance(expected, Unreadable):
        return f"the solution's value{at} cannot be compared ({expected.what})"
    if type(expected) is not type(got) and not (isinstance(got, str) and isinstance(expected, str)):
        return f"expected a {_kind(expected)}{at}, got a {_kind(got)}"
    if expected != got:
        return f"a different {_kind(expected)}{at}"
    return None


def _bounds(got: Any, rule: dict[str, Any], at: str) -> str | None:
    if not _is_number(got) or isinstance(got, (bool, np.bool_, complex, np.complexfloating)):
        return f"expected a number{at}, got a {_kind(got)}"
    value = float(got)
    if math.isnan(value):
        return f"the value{at} is NaN"
    if "at_least" in rule and not value >= float(rule["at_least"]):
        return f"{value:.4g}{at} is below the target {float(rule['at_least']):g}"
    if "at_most" in rule and not value <= float(rule["at_most"]):
        return f"{value:.4g}{at} is above the limit {float(rule['at_most']):g}"
    return None


def _compare_arrays(
    exp: np.ndarray, got: np.ndarray, exp_raw: Any, got_raw: Any, rule: dict[str, Any], at: str
) -> str | None:
    if exp.shape != got.shape:
        return f"shape {got.shape}{at} where {exp.shape} was expected"
    if rule.get("dtype") == "exact":
        same = (type(exp_raw) is type(got_raw)) if not isinstance(exp_raw, np.ndarray) else True
        if not same or exp.dtype != got.dtype:
            want = _describe_type(exp_raw)
            return f"type {_describe_type(got_raw)}{at} where {want} was expected"
    if (exp.dtype.kind == "b") != (got.dtype.kind == "b"):
        return f"expected {'booleans' if exp.dtype.kind == 'b' else 'numbers'}{at}"
    if exp.dtype.kind == "b":
        return None if np.array_equal(exp, got) else f"different truth values{at}"
    rtol = float(rule.get("rtol", DEFAULT_RTOL))
    atol = float(rule.get("atol", DEFAULT_ATOL))
    a = got.astype(np.complex128 if "c" in (exp.dtype.kind, got.dtype.kind) else np.float64)
    b = exp.astype(a.dtype)
    if rule.get("proportional"):
        return _proportional(b, a, rtol, atol, at)
    if "mean_atol" in rule:
        return _mean_close(b, a, float(rule["mean_atol"]), rule.get("atol"), at)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return f"NaN where the solution has a number (or the other way round){at}"
    if np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
        return None
    finite = np.isfinite(a) & np.isfinite(b)
    worst = float(np.max(np.abs(a - b)[finite])) if finite.any() else float("inf")
    return f"values differ{at} by up to {worst:.3g} (tolerance rtol={rtol:g}, atol={atol:g})"


def _mean_close(
    exp: np.ndarray, got: np.ndarray, mean_atol: float, atol: Any, at: str
) -> str | None:
    if not np.all(np.isfinite(got)):
        return f"values that are not finite{at}"
    diff = np.abs(got - exp)
    if diff.size and float(diff.mean()) > mean_atol:
        return f"values differ{at} by {float(diff.mean()):.3g} on average (tolerance {mean_atol:g})"
    if atol is not None and diff.size and float(diff.max()) > float(atol):
        return f"values differ{at} by up to {float(diff.max()):.3g} (tolerance {float(atol):g})"
    return None


def _describe_type(x: Any) -> str:
    return f"array of {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__


def _proportional(
    exp: np.ndarray, got: np.ndarray, rtol: float, atol: float, at: str
) -> str | None:
    if not (np.all(np.isfinite(got)) and np.all(np.isfinite(exp))):
        return f"values that are not finite{at}"
    norm = float(np.vdot(exp, exp).real)
    if norm == 0.0:
        return None if np.allclose(got, 0, atol=atol) else f"values{at} where zeros were expected"
    c = float(np.vdot(exp, got).real / norm)
    if c <= 0:
        return f"values{at} not proportional to the expected ones (factor {c:.3g})"
    worst = float(np.max(np.abs(got - c * exp)))
    if worst > rtol * float(np.max(np.abs(c * exp))) + atol:
        return f"values{at} not proportional to the expected ones (off by up to {worst:.3g})"
    return None


# --- a test cell's verdict ---------------------------------------------------------------------


@dataclass
class Sent:
    """One value a test cell sent: its name, decoded value and the rule it was sent with."""

    name: str
    value: Any
    rule: dict[str, Any]


def read_sent(lines: list[str]) -> tuple[list[Sent], list[str]]:
    """Decode the ``VALUE`` lines of one cell; return the values and problems with the lines."""
    sent, problems = [], []
    for text in lines:
        try:
            raw = parse(text)
            sent.append(Sent(raw["name"], decode(raw["value"]), decode(raw.get("rule")) or {}))
        except BadValue as exc:
            problems.append(f"a value the grader could not decode ({exc})")
    return sent, problems


def judge_cell(key: list[dict[str, Any]], lines: list[str]) -> list[str]:
    """What is wrong with the values a test cell sent (its ``VALUE`` lines) against its key
    entries (``{"name", "value", "rule"}`` with the value still encoded); [] when all match."""
    if not key:
        return []
    sent, messages = read_sent(lines)
    by_name: dict[str, list[Sent]] = {}
    for item in sent:
        by_name.setdefault(item.name, []).append(item)
    expected = {entry["name"]: decode(entry["value"]) for entry in key}
    for entry in key:
        name, rule = entry["name"], entry.get("rule") or {}
        values = by_name.get(name, [])
        if not values:
            messages.append(f"the check {name!r} never sent its value")
            continue
        if len(values) > 1:
            messages.append(f"the check {name!r} received {len(values)} values instead of one")
            continue
        got = values[0].value
        if "accuracy_at_least" in rule:
            found = _accuracy(got, expected.get(rule["truth"]), rule)
        else:
            found = compare(expected[name], got, rule)
        if found:
            messages.append(f"{name}: {found}")
    return messages[:MAX_MESSAGES]


def _accuracy(got: Any, truth: Any, rule: dict[str, Any]) -> str | None:
    labels, pred = _as_array(truth), _as_array(got)
    if labels is None:
        return "no true labels to score against"
    if pred is None or pred.shape != labels.shape:
        shape = None if pred is None else pred.shape
        return f"expected {labels.shape[0]} predicted labels, got {shape}"
    accuracy = float(np.mean(pred == labels))
    target = float(rule["accuracy_at_least"])
    return None if accuracy >= target else f"accuracy {accuracy:.3f} is below the target {target:g}"


def key_entries(lines: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Key entries from the solution's ``VALUE`` lines of one cell, and what is wrong with them
    (a value sent twice, one the grader cannot read, a bad rule): the author must fix those."""
    entries, problems, names = [], [], set()
    for text in lines:
        try:
            raw = parse(text)
            value = decode(raw["value"])
            rule = check_rule(decode(raw.get("rule")) or {})
        except BadValue as exc:
            problems.append(str(exc))
            continue
        name = raw["name"]
        if name in names:
            problems.append(f"the check {name!r} sends twice; give each value its own name")
        elif _contains_unreadable(value):
            problems.append(
                f"the check {name!r} sends a value the grader cannot read: convert "
                "it to NumPy or plain Python first"
            )
        elif "truth" in rule and rule["truth"] not in names:
            problems.append(
                f"the check {name!r} scores against {rule['truth']!r}, which must "
                "be sent earlier in the same cell"
            )
        names.add(name)
        entries.append({"name": name, "value": raw["value"], "rule": rule})
    return entries, problems


def _contains_unreadable(value: Any) -> bool:
    if isinstance(value, Unreadable):
        return True
    if isinstance(value, dict):
        return any(_contains_unreadable(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_unreadable(v) for v in value)
    return False
