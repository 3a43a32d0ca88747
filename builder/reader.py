"""Strict reading of untrusted JSON: the parser and the checks every level of a file shares.

``parse`` refuses what Python's ``json`` lets through (duplicate keys, NaN and Infinity, a
number too large to be finite, a whole number too long to convert) and names where it is in
the file.  ``Reader`` type-checks fields and refuses unknown keys, with a breadcrumb
(``networks[0].nodes[3] (conv1).params``) so every message says where.  The ``.loom`` format
in ``builder/serialize.py`` is built on these.
"""

from __future__ import annotations

import json
import math
from typing import Any

from builder.jsontext import describe, show, unknown_keys

__all__ = ["LoomError", "Reader", "parse", "check_json_value", "label"]


class LoomError(ValueError):
    """A project file could not be read.  The message says what is wrong and where."""


def label(name: str) -> str:
    """A name as it appears in a breadcrumb, cut when long."""
    return name if len(name) <= 40 else name[:39] + "…"


class Reader:
    """Type-checked access to untrusted JSON with a breadcrumb for messages."""

    def __init__(self, where: str = ""):
        self.where = where

    def fail(self, what: str, at: str = "") -> LoomError:
        place = ".".join(p for p in (self.where, at) if p) or "the file"
        return LoomError(f"{place}: {what}")

    def at(self, part: str) -> Reader:
        return Reader(f"{self.where}.{part}" if self.where else part)

    def keys(self, d: dict, known) -> None:
        """Refuse any key of ``d`` not in ``known``, naming it and the nearest known key."""
        unknown = [k for k in d if k not in known]
        if unknown:
            raise self.fail(unknown_keys(unknown, known))

    def get(self, d: dict, key: str, kind, default=...):
        if key not in d:
            if default is ...:
                raise self.fail(f"missing required field {key!r}")
            return default
        value = d[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(f"expected {_json_type(names)}, found {describe(value)}", key)
        return value


def _json_type(python_names: str) -> str:
    return (python_names.replace("dict", "an object").replace("list", "a list")
            .replace("str", "a text").replace("float", "a number").replace("int", "a whole number")
            .replace("bool", "true/false"))


def check_json_value(value: Any, r: Reader, depth: int = 0) -> Any:
    """Free-form JSON (params): refuse non-finite numbers and absurd nesting."""
    if depth > 8:
        raise r.fail("values are nested too deeply")
    if isinstance(value, float) and not math.isfinite(value):
        raise r.fail(f"{show(value)} is not a finite number")
    if isinstance(value, list):
        if len(value) > 4096:
            raise r.fail("a list with more than 4096 entries")
        return [check_json_value(v, r, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): check_json_value(v, r, depth + 1) for k, v in value.items()}
    return value


# --- parsing --------------------------------------------------------------------------------


class _Refused:
    """Stands in the parsed document where a value was refused, until it is located."""

    def __init__(self, message: str):
        self.message = message


class _Duplicated(dict):
    """An object in which a key appeared more than once."""

    message = ""


def parse(text: str) -> Any:
    """``json.loads`` that refuses duplicate keys and non-finite or overlong numbers, naming
    where they are (the parser's hooks cannot know; the document is searched on failure)."""
    refused: list[bool] = []

    def refuse(message: str) -> _Refused:
        refused.append(True)
        return _Refused(message)

    def constant(name: str) -> _Refused:
        return refuse(f"{name} is not allowed in a project file (numbers must be finite)")

    def number(literal: str) -> float | _Refused:
        value = float(literal)
        if math.isfinite(value):
            return value
        shown = literal if len(literal) <= 24 else literal[:20] + "…"
        return refuse(f"{shown} is too large to be a number (numbers must be finite)")

    def whole(literal: str) -> int | _Refused:
        try:
            return int(literal)
        except ValueError:  # longer than Python converts (4,300 digits by default)
            return refuse(f"a whole number of {len(literal.lstrip('-')):,} digits is too long")

    def obj(pairs: list[tuple[str, Any]]) -> dict:
        d = dict(pairs)
        if len(d) == len(pairs):
            return d
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        count = sum(1 for k, _ in pairs if k == key)
        dup = _Duplicated(d)
        dup.message = (f"duplicate key {show(key)} (it appears {count} times; a key may appear "
                       "only once in an object)")
        refused.append(True)
        return dup

    try:
        doc = json.loads(text, parse_constant=constant, parse_float=number, parse_int=whole,
                         object_pairs_hook=obj)
    except json.JSONDecodeError as e:
        raise LoomError(f"not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise LoomError("the file is nested too deeply to be a Layerloom project") from None
    if refused:
        where, message = _locate(doc)
        raise LoomError(f"{where or 'the file'}: {message}")
    return doc


def _locate(doc: Any) -> tuple[str, str]:
    """The breadcrumb and message of the first refused value, in the file's order."""
    stack = [(doc, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, _Refused):
            return where, value.message
        if isinstance(value, _Duplicated):
            return where, value.message
        if isinstance(value, dict):
            children = [(v, f"{where}.{label(k)}" if where else label(k))
                        for k, v in value.items()]
        elif isinstance(value, list):
            children = [(v, f"{where}[{i}]" + (f" ({label(v['id'])})" if isinstance(v, dict)
                                               and isinstance(v.get("id"), str) else ""))
                        for i, v in enumerate(value)]
        else:
            continue
        stack.extend(reversed(children))
    return "", "the file could not be read"  # not reached: a refusal is always in the document
