"""JSON parsed without recursion, with rapidjson's error messages.

TF Serving parses requests with rapidjson's iterative parser, so a body such as
``{"instances": [1], "nested": [[[[...]]]]}`` with half a million brackets is an ordinary
request (``json_tensor_test.cc``, ``DeeplyNestedWellFormed``). Python's ``json`` module recurses
and raises ``RecursionError`` long before that; :func:`parse` is its fallback: the same values
(a repeated key keeps its first value, ``NaN`` and ``Infinity`` are numbers), an explicit stack
instead of the call stack. It is slower than ``json`` and only used when ``json`` gives up:
on nesting too deep for it, and on a broken document, to say what is wrong in rapidjson's words
(``Invalid value.``, ``Missing a comma or ']' after an array element.``, ...) as TF Serving
does.
"""

from __future__ import annotations

import re
from json.decoder import JSONDecodeError, scanstring
from typing import Any

from course.serving.errors import ServingError

__all__ = ["parse"]

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?")
_SPACE = re.compile(r"[ \t\n\r]*")
_AFTER_ELEMENT = "']' after an array element"
_CONSTANTS = {
    "true": True,
    "false": False,
    "null": None,
    "NaN": float("nan"),
    "Infinity": float("inf"),
    "-Infinity": float("-inf"),
}


def _error(message: str, pos: int) -> ServingError:
    return ServingError(f"JSON Parse error: {message} at offset: {pos}")


# Python's string scanner's complaints, in rapidjson's words (error/en.h)
_STRING_ERRORS = (
    ("Unterminated string", "Missing a closing quotation mark in string."),
    ("Invalid control character", "Invalid encoding in string."),
    ("Invalid \\uXXXX escape", "Incorrect hex digit after \\u escape in string."),
    ("Invalid \\escape", "Invalid escape character in string."),
)


def _string(text: str, pos: int) -> tuple[str, int]:
    """The JSON string starting after the quote at ``pos - 1``."""
    try:
        return scanstring(text, pos)
    except JSONDecodeError as exc:
        words = next((ours for theirs, ours in _STRING_ERRORS if exc.msg.startswith(theirs)),
                     "Invalid encoding in string.")  # fmt: skip
        raise _error(words, exc.pos) from None


def _scalar(text: str, pos: int) -> tuple[Any, int]:
    for word, value in _CONSTANTS.items():
        if text.startswith(word, pos):
            return value, pos + len(word)
    match = _NUMBER.match(text, pos)
    if match is None or match.end() == pos:
        raise _error("Invalid value.", pos)
    after = text[match.end() : match.end() + 1]
    if after == "." and not match.group(1):
        raise _error("Miss fraction part in number.", match.end() + 1)
    if after in ("e", "E") and not match.group(2):
        raise _error("Miss exponent in number.", match.end() + 1)
    literal = match.group(0)
    if match.group(1) or match.group(2):
        return float(literal), match.end()
    return int(literal), match.end()


def parse(text: str, pos: int = 0) -> Any:
    """The first JSON value in ``text`` from ``pos`` (what follows it is ignored)."""
    # Each open container on the stack: [container, pending key (objects only)].
    stack: list[list[Any]] = []
    while True:
        pos = _SPACE.match(text, pos).end()
        if pos >= len(text):
            raise _error("The document root must not be followed by other values."
                         if not stack else "Missing a comma or ']' after an array element.",
                         pos)  # fmt: skip
        char = text[pos]
        if stack and isinstance(stack[-1][0], dict) and stack[-1][1] is None:
            # an object waits for a key (or its end)
            if char == "}" and not stack[-1][0]:
                value, pos = stack.pop()[0], pos + 1
            elif char == '"':
                key, pos = _string(text, pos + 1)
                pos = _SPACE.match(text, pos).end()
                if text[pos : pos + 1] != ":":
                    raise _error("Missing a colon after a name of object member.", pos)
                stack[-1][1] = key
                pos += 1
                continue
            else:
                raise _error("Missing a name for object member.", pos)
        elif char == "[":
            pos = _SPACE.match(text, pos + 1).end()
            if text[pos : pos + 1] == "]":
                value, pos = [], pos + 1
            else:
                stack.append([[], None])
                continue
        elif char == "{":
            stack.append([{}, None])
            pos += 1
            continue
        elif char == '"':
            value, pos = _string(text, pos + 1)
        else:
            value, pos = _scalar(text, pos)
        # a complete value: hand it to the container below, closing containers as they end
        while True:
            if not stack:
                return value
            container, key = stack[-1]
            if isinstance(container, dict):
                container.setdefault(key, value)
                stack[-1][1] = None
                closer = "}"
            else:
                container.append(value)
                closer = "]"
            pos = _SPACE.match(text, pos).end()
            char = text[pos : pos + 1]
            if char == ",":
                pos += 1
                if closer == "}":
                    pos = _SPACE.match(text, pos).end()
                    if text[pos : pos + 1] != '"':
                        raise _error("Missing a name for object member.", pos)
                break
            if char != closer:
                member = "'}' after an object member" if closer == "}" else ""
                raise _error(f"Missing a comma or {member or _AFTER_ELEMENT}.", pos)
            value, pos = stack.pop()[0], pos + 1
