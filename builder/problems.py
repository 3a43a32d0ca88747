"""Diagnostics: declared codes (tests assert on them) with a sentence for the user."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = ["Code", "Problem", "ERROR", "WARNING"]

ERROR = "error"
WARNING = "warning"


class Code(str, Enum):
    CYCLE = "cycle"
    MISSING_INPUT = "missing-input"
    DUPLICATE_INPUT = "duplicate-input"
    UNKNOWN_PORT = "unknown-port"
    PORT_KIND = "port-kind"
    UNREACHABLE = "unreachable"
    UNUSED = "unused"
    PARAM = "param"
    NO_INPUT = "no-input"
    NO_OUTPUT = "no-output"
    SHAPE = "shape"
    UNKNOWN_BLOCK = "unknown-block"
    EMPTY_GROUP = "empty-group"
    IN_GROUP = "in-group"  # on a Group node: a summary of the problems inside it
    BYPASS = "bypass"  # a bypassed block whose input cannot stand in for its output


@dataclass(frozen=True)
class Problem:
    """One diagnostic.  ``network`` is the path commands edit it by: a network's name, or
    inside a group "main/block1" (and "main/block1/pair" further in)."""

    code: Code
    message: str
    network: str
    node: str | None = None
    port: str | None = None
    severity: str = ERROR
    # A suggested edit, as plain data the editor turns into commands ("insert Flatten").
    fix: dict[str, Any] | None = field(default=None, compare=False)

    def __str__(self) -> str:
        where = f"{self.network}" + (f".{self.node}" if self.node else "")
        return f"{self.severity}: {where}: {self.message}"

    def to_dict(self) -> dict:
        return {"code": self.code.value, "severity": self.severity, "network": self.network,
                "node": self.node, "port": self.port, "message": self.message,
                **({"fix": self.fix} if self.fix else {})}
