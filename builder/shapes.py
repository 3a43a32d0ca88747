"""Per-sample tensor shapes (batch excluded) and the small arithmetic shape rules share.

A dimension is an ``int`` or a symbol (``str``) such as ``"T"`` for a sequence length that is
only known at run time.  Rules that must compute on a symbol produce a readable expression.
"""

from __future__ import annotations

import math

__all__ = [
    "Dim",
    "Shape",
    "ShapeError",
    "conv_out",
    "convT_out",
    "fmt_shape",
    "numel",
    "is_concrete",
    "concretize",
]

Dim = int | str
Shape = tuple[Dim, ...]


class ShapeError(ValueError):
    """A block cannot accept its input shapes.  The message is a sentence for a student."""


def conv_out(n: Dim, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
             ceil_mode: bool = False) -> Dim:
    """Output length of a convolution or pooling window along one axis."""
    span = dilation * (kernel - 1)
    if isinstance(n, str):
        if stride == 1 and 2 * padding == span:
            return n
        return f"({n}{_signed(2 * padding - span - 1)})//{stride}+1" if stride > 1 else \
            f"{n}{_signed(2 * padding - span)}"
    numerator = n + 2 * padding - span - 1
    out = (math.ceil(numerator / stride) if ceil_mode else numerator // stride) + 1
    if ceil_mode and (out - 1) * stride >= n + padding:
        out -= 1  # PyTorch drops a last window that would start inside the right padding
    return out


def _signed(k: int) -> str:
    return f"+{k}" if k > 0 else (f"-{-k}" if k < 0 else "")


def convT_out(n: Dim, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0,
              dilation: int = 1) -> Dim:
    """Output length of a transposed convolution along one axis."""
    if isinstance(n, str):
        extra = dilation * (kernel - 1) - 2 * padding + output_padding + 1
        return f"({n}-1)*{stride}{_signed(extra)}"
    return (n - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def is_concrete(shape: Shape) -> bool:
    return all(isinstance(d, int) for d in shape)


def concretize(shape: Shape, symbols: dict[str, int]) -> tuple[int, ...]:
    """Replace symbols by sizes, evaluating the small expressions ``conv_out`` writes."""
    out = []
    for d in shape:
        if isinstance(d, int):
            out.append(d)
        else:
            out.append(int(eval(d, {"__builtins__": {}}, dict(symbols))))  # noqa: S307 - own syntax
    return tuple(out)


def numel(shape: Shape, symbols: dict[str, int] | None = None) -> int:
    return math.prod(concretize(shape, symbols or {}) if not is_concrete(shape) else shape)


def fmt_shape(shape: Shape | None) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join(str(d) for d in shape) + "]"
