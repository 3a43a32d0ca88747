"""How messages show values read from a project file: the JSON way, and short.

Every message that prints a user's value goes through ``show`` (the value: ``true``, ``null``,
``[1, 2]``, ``'conv1'``) or ``describe`` (what kind of value it is: ``the number 3``, ``a
list``), so a message never prints Python's ``True``/``None`` nor a 401-digit number in full.
``nearest`` and ``unknown_keys`` word a typo the same way at every level of the file.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable
from typing import Any

__all__ = ["show", "describe", "nearest", "unknown_keys", "MAX_DIGITS", "MAX_TEXT"]

MAX_DIGITS = 20  # a whole number longer than this is shown as its first digits and a count
MAX_TEXT = 40  # characters of a text shown before it is cut with "…"
_MAX_SHOWN = 60  # characters of a list or object shown before the rest is left out


def show(value: Any) -> str:
    """``value`` as a short piece of text for a message, in JSON's spelling."""
    if isinstance(value, str):
        return repr(value if len(value) <= MAX_TEXT else value[:MAX_TEXT - 1] + "…")
    return _json(value, _MAX_SHOWN)


def describe(value: Any) -> str:
    """What ``value`` is, for "expected X, found Y" messages: ``the number 3``, ``a list``."""
    if value is None or isinstance(value, bool):
        return show(value)
    if isinstance(value, (int, float)):
        return f"the number {show(value)}"
    if isinstance(value, str):
        return f"the text {show(value)}"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "an object" if isinstance(value, dict) else f"a {type(value).__name__}"


def _number(value: int | float) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    sign = "-" if value < 0 else ""
    try:
        digits = str(abs(value))
    except ValueError:  # beyond Python's limit for turning an int into text
        return f"{sign}a whole number of more than 4,300 digits"
    if len(digits) <= MAX_DIGITS:
        return sign + digits
    return f"{sign}{digits[:10]}…({len(digits):,} digits)"


def _json(value: Any, budget: int) -> str:
    """Compact JSON text of ``value``, cut with "…" once it passes ``budget`` characters."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, str):
        cut = value if len(value) <= MAX_TEXT else value[:MAX_TEXT - 1] + "…"
        return json.dumps(cut, ensure_ascii=False)
    if isinstance(value, dict):
        items = [(json.dumps(str(k)[:MAX_TEXT], ensure_ascii=False) + ": ", v)
                 for k, v in value.items()]
        return _joined(items, "{", "}", budget)
    if isinstance(value, (list, tuple)):
        return _joined([("", v) for v in value], "[", "]", budget)
    return f"<{type(value).__name__}>"


def _joined(items: list[tuple[str, Any]], left: str, right: str, budget: int) -> str:
    parts: list[str] = []
    used = len(left) + len(right)
    for prefix, v in items:
        if used > budget:
            parts.append(f"… {len(items) - len(parts)} more")
            break
        part = prefix + _json(v, max(budget - used, 8))
        parts.append(part)
        used += len(part) + 2
    return left + ", ".join(parts) + right


def nearest(word: Any, options: Iterable[Any]) -> str | None:
    """The option ``word`` was most likely meant to be (ignoring case), or None."""
    if not isinstance(word, str):
        return None
    lowered = {o.lower(): o for o in options if isinstance(o, str)}
    key = word[:100].lower()
    if key in lowered:
        return lowered[key] if lowered[key] != word else None
    close = difflib.get_close_matches(key, list(lowered), n=1)
    return lowered[close[0]] if close else None


def unknown_keys(unknown: list[Any], known: Iterable[str]) -> str:
    """``unknown key 'param'; did you mean 'params'? (known: id, block, params, …)``."""
    known = list(known)
    first, *rest = unknown
    close = nearest(first, known)
    text = f"unknown key {show(first)}" + (f"; did you mean {show(close)}?" if close else "")
    if rest:
        shown = ", ".join(show(k) for k in rest[:5]) + (", …" if len(rest) > 5 else "")
        text += f"; also unknown: {shown}"
    return f"{text} (known: {', '.join(known)})"
