"""A JSON Schema error worded like the rest of the reader's messages.

``jsonschema`` says ``Additional properties are not allowed ('param' was unexpected)`` and
prints Python's ``True``; the reader says where, in the file's terms, what is wrong, in JSON's
spelling, and suggests the nearest valid key or value: ``networks[0].nodes[2] (conv1).params:
units must be at least 1; received 0``.
"""

from __future__ import annotations

from typing import Any

from jsonschema.exceptions import ValidationError

from builder.jsontext import describe, nearest, show, unknown_keys
from builder.reader import label

__all__ = ["NAME", "NAME_OR_ALL", "EDGE_END", "SYMBOL", "NOT_BLANK", "error_text", "where"]

NAME = "^[A-Za-z_][A-Za-z0-9_]{0,63}$"  # a node, network or role name (``valid_name``)
NAME_OR_ALL = "^(\\*|[A-Za-z_][A-Za-z0-9_]{0,63})$"
EDGE_END = "^[A-Za-z_][A-Za-z0-9_]{0,63}\\.[^.]+$"
SYMBOL = "^[A-Za-z_][A-Za-z0-9_]{0,15}$"  # a named dimension of a ``dims`` param ("T")
NOT_BLANK = "\\S"

_NAME_TEXT = "letters, digits and _, not starting with a digit, at most 64 characters"
_PATTERNS = {
    NAME: f"is not a name ({_NAME_TEXT})",
    NAME_OR_ALL: f"is not a network name ({_NAME_TEXT}) nor \"*\"",
    EDGE_END: "must look like 'node.port'",
    SYMBOL: "is neither a whole number nor a size name such as T",
    NOT_BLANK: "must not be empty",
}
_TYPES = {"integer": "a whole number", "number": "a number", "string": "a text",
          "boolean": "true/false", "array": "a list", "object": "an object", "null": "null"}
_BOUNDS = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
           "exclusiveMaximum": "less than"}


def where(path: Any, doc: Any) -> str:
    """The reader's breadcrumb for a path into ``doc``: ``networks[0].nodes[2] (conv1)``."""
    parts: list[str] = []
    value = doc
    for key in path:
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and 0 <= key < len(value) else None
            named = isinstance(value, dict) and isinstance(value.get("id"), str)
            part = f"[{key}]" + (f" ({label(value['id'])})" if named else "")
            if parts:
                parts[-1] += part
            else:
                parts.append(part)
        else:
            value = value.get(key) if isinstance(value, dict) else None
            parts.append(label(str(key)))
    return ".".join(parts) or "the file"


def _subject(error: ValidationError) -> str:
    names = [k for k in error.absolute_path if isinstance(k, str)]
    return names[-1] if names else "the value"


def _message(error: ValidationError) -> str:
    value, keyword, arg = error.instance, error.validator, error.validator_value
    if keyword == "type":
        kinds = arg if isinstance(arg, list) else [arg]
        return f"expected {' or '.join(_TYPES.get(k, k) for k in kinds)}, found {describe(value)}"
    if keyword == "enum":
        close = nearest(value, arg)
        listed = ", ".join(show(a) for a in arg[:12]) + (f", … ({len(arg)} in all)"
                                                         if len(arg) > 12 else "")
        hint = f"; did you mean {show(close)}?" if close else ""
        return f"{show(value)} is not one of {listed}{hint}"
    if keyword == "const":
        return f"expected {show(arg)}, found {show(value)}"
    if keyword in _BOUNDS:
        return f"{_subject(error)} must be {_BOUNDS[keyword]} {show(arg)}; received {show(value)}"
    if keyword == "additionalProperties" and isinstance(value, dict):
        known = list(error.schema.get("properties", {}))
        extra = [k for k in value if k not in known]
        if extra:
            return unknown_keys(extra, known) if known else f"unknown key {show(extra[0])}"
    if keyword == "required" and isinstance(value, dict):
        missing = [k for k in arg if k not in value]
        if missing:
            return f"missing required field {missing[0]!r}"
    if keyword == "pattern":
        return f"{show(value)} {_PATTERNS.get(arg, 'is not an accepted value')}"
    if keyword in ("minItems", "maxItems") and isinstance(value, list):
        bound = "at least" if keyword == "minItems" else "at most"
        return f"expected {bound} {arg} entries, found {len(value)}"
    if keyword == "maxLength":
        return f"a text of at most {arg} characters; found {len(value):,}"
    if keyword == "not" and isinstance(value, dict) and "subnet" in value:
        return "only a Group node may hold a subnet"
    return error.message


def error_text(error: ValidationError, doc: Any) -> str:
    """``where: what`` for the reader's ``LoomError``."""
    return f"{where(error.absolute_path, doc)}: {_message(error)}"
