"""The declarative block spec: ports, typed params, build, shape rule, explain, concept.

A block file declares ``SPEC = BlockSpec(...)`` objects (or several) and registers them with
``register``.  Everything else — the palette, the inspector form, validation, the compiler,
the code generator, the docs — reads these specs and nothing else.
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from builder.jsontext import nearest, show
from builder.shapes import Shape, ShapeError

__all__ = [
    "Param",
    "ParamError",
    "Port",
    "BlockSpec",
    "Make",
    "make",
    "register",
    "REGISTRY",
    "TENSOR",
    "INDEX",
    "ANY",
    "check",
    "coerce_params",
]

# Port kinds: what flows on a wire.  Float tensors are the common case; integer index tensors
# (tokens, class labels) may only enter blocks that take indices (Embedding) or any kind.
TENSOR = "tensor"
INDEX = "index"
ANY = "any"

_MAX_INT = 2**31 - 1


class ParamError(ValueError):
    """A param value was refused.  The message names the param and what was received."""


@dataclass(frozen=True)
class Param:
    """One typed, ranged, documented parameter of a block.

    kind: ``int``, ``float``, ``bool``, ``choice``, ``str``, ``ints`` (a list of ints, e.g. a
    shape) or ``pair`` (an int or two ints, e.g. a kernel ``3`` or ``(3, 5)``).
    ``dims`` (a list of ints or symbols like ``"T"``: a per-sample shape).
    ``special`` lists string values accepted besides numbers (``"same"`` padding).
    """

    name: str
    kind: str
    default: Any
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    special: tuple[str, ...] = ()
    length: tuple[int, int] = (1, 8)  # allowed list length for ``ints``

    def coerce(self, value: Any) -> Any:
        """Return ``value`` normalised to this param's type, or raise ``ParamError``."""
        if isinstance(value, str) and value in self.special:
            return value
        try:
            out = _COERCE[self.kind](self, value)
        except ParamError:
            raise
        except (TypeError, ValueError, OverflowError):
            raise ParamError(f"{self.name} must be {self.describe()}; received {show(value)}"
                             ) from None
        return out

    def describe(self) -> str:
        base = {
            "int": "a whole number",
            "float": "a number",
            "bool": "true or false",
            "choice": "one of " + ", ".join(self.choices),
            "str": "a text",
            "ints": "a list of whole numbers",
            "pair": "a whole number or two",
            "dims": "a list of sizes (whole numbers, or a name such as T)",
        }[self.kind]
        rng = _range_text(self.min, self.max)
        special = f" or {' / '.join(repr(s) for s in self.special)}" if self.special else ""
        return base + (f" {rng}" if rng else "") + special

    def _check_range(self, v: float) -> None:
        if isinstance(v, float) and not math.isfinite(v):
            raise ParamError(f"{self.name} must be a finite number; received {show(v)}")
        lo = self.min
        hi = self.max if self.max is not None else (_MAX_INT if self.kind != "float" else None)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ParamError(f"{self.name} must be {_range_text(lo, hi)}; received {show(v)}")


def _range_text(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"between {_number(lo)} and {_number(hi)}"
    if lo is not None:
        return f"at least {_number(lo)}"
    if hi is not None:
        return f"at most {_number(hi)}"
    return ""


def _number(v: float) -> str:
    """1,000,000 rather than 1e+06 for whole numbers a person would type out."""
    if isinstance(v, int) or (float(v).is_integer() and abs(v) < 1e12):
        return f"{int(v):,}"
    return f"{v:g}"


def _as_int(p: Param, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (
        isinstance(v, float) and not v.is_integer()
    ):
        raise ValueError(v)
    v = int(v)
    p._check_range(v)
    return v


def _as_float(p: Param, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(v)
    v = float(v)
    p._check_range(v)
    return v


def _as_bool(p: Param, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(v)
    return v


def _as_choice(p: Param, v: Any) -> str:
    if v not in p.choices:
        raise ValueError(v)
    return v


def _as_str(p: Param, v: Any) -> str:
    if not isinstance(v, str) or len(v) > 200:
        raise ValueError(v)
    return v


def _as_ints(p: Param, v: Any) -> tuple[int, ...]:
    if isinstance(v, (str, bytes)) or not isinstance(v, Sequence):
        raise ValueError(v)
    lo, hi = p.length
    if not lo <= len(v) <= hi:
        raise ParamError(f"{p.name} must have {lo} to {hi} entries; received {len(v)}")
    return tuple(_as_int(p, x) for x in v)


def _as_dims(p: Param, v: Any) -> tuple[int | str, ...]:
    if isinstance(v, (str, bytes)) or not isinstance(v, Sequence):
        raise ValueError(v)
    lo, hi = p.length
    if not lo <= len(v) <= hi:
        raise ParamError(f"{p.name} must have {lo} to {hi} entries; received {len(v)}")
    out: list[int | str] = []
    for x in v:
        if isinstance(x, str):
            if not x.isidentifier() or len(x) > 16:
                raise ValueError(v)
            out.append(x)
        else:
            out.append(_as_int(p, x))
    return tuple(out)


def _as_pair(p: Param, v: Any) -> int | tuple[int, int]:
    if isinstance(v, Sequence) and not isinstance(v, str):
        if len(v) != 2:
            raise ValueError(v)
        a, b = (_as_int(p, x) for x in v)
        return a if a == b else (a, b)
    return _as_int(p, v)


_COERCE: dict[str, Callable[[Param, Any], Any]] = {
    "int": _as_int,
    "float": _as_float,
    "bool": _as_bool,
    "choice": _as_choice,
    "str": _as_str,
    "ints": _as_ints,
    "pair": _as_pair,
    "dims": _as_dims,
}


@dataclass(frozen=True)
class Port:
    name: str
    kind: str = TENSOR  # TENSOR, INDEX or ANY
    optional: bool = False
    help: str = ""


@dataclass(frozen=True)
class Make:
    """A module constructor call: instantiable by the compiler, printable by codegen."""

    cls: type
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def __call__(self):
        return self.cls(*self.args, **dict(self.kwargs))


def make(cls: type, *args: Any, **kwargs: Any) -> Make:
    return Make(cls, args, tuple(kwargs.items()))


Params = dict[str, Any]
Ports = tuple[Port, ...] | Callable[[Params], tuple[Port, ...]]


@dataclass(frozen=True)
class BlockSpec:
    """Everything Layerloom knows about one kind of block.

    build(params, in_shapes) -> Make: the torch module for these params and input shapes.
        The module's forward takes the inputs in port order (``None`` for an unconnected
        optional port) and returns one tensor, or a tuple in output-port order.
    shape(params, in_shapes) -> list of output shapes: the fast rule; raises ShapeError.
        ``None`` means "run the module on the meta device", exact but ~1-3 ms per call.
    expand(params, in_shapes) -> Network: for composite blocks, the editable sub-network
        that the block stands for (compiled as a nested module); build/shape are then unused.
    explain(params, in_shapes, out_shapes) -> str: the formula with the user's numbers.
    flops(params, in_shapes, out_shapes) -> int: FLOPs per sample as torch's FlopCounterMode
        counts them (2 per multiply-add of matmuls and convolutions).
    rf(params) -> (kernel, stride, dilation) for blocks that slide a window over space.
    inline(params) -> a function (e.g. operator.add) the compiler may call in place of the
        module, for stateless blocks on hot paths; ``None`` keeps the module.
    example_inputs: typical per-sample input shapes (one per input port), used by the palette
        preview and by the property tests that check the shape rule against torch.
    """

    type: str
    category: str
    concept: str
    params: tuple[Param, ...] = ()
    inputs: Ports = (Port("x"),)
    outputs: Ports = (Port("y"),)
    build: Callable[[Params, list[Shape]], Make] | None = None
    shape: Callable[[Params, list[Shape]], list[Shape]] | None = None
    expand: Callable[[Params, list[Shape]], Any] | None = None
    explain: Callable[[Params, list[Shape], list[Shape]], str] | None = None
    flops: Callable[[Params, list[Shape], list[Shape]], int] | None = None
    rf: Callable[[Params], tuple[int, int, int]] | None = None
    inline: Callable[[Params], Callable | None] | None = None
    title: str = ""
    aux_loss: bool = False  # the module exposes ``aux_loss`` after each forward
    has_weights: bool = True  # offers the trainable switch and an initialiser
    keeps_space: bool = False  # element-wise: receptive field passes through unchanged
    example_inputs: tuple = ((8,),)
    tags: tuple[str, ...] = field(default_factory=tuple)
    # (output port, constructor flag): an output that costs something to compute, skipped by
    # passing flag=False when nothing reads the port (attention weights: the fused kernel).
    skippable: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        return self.title or self.type

    def make(self, params: Params, in_shapes: list, read: set[str] | frozenset[str]) -> Make:
        """``build`` with the flags of ``skippable`` outputs that nothing reads turned off;
        ``read``: the names of the output ports that have a wire."""
        made = self.build(params, in_shapes)
        off = tuple((flag, False) for port, flag in self.skippable if port not in read)
        return Make(made.cls, made.args, made.kwargs + off) if off else made

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> Params:
        return {p.name: p.default for p in self.params}

    def input_ports(self, params: Params) -> tuple[Port, ...]:
        return self.inputs(params) if callable(self.inputs) else self.inputs

    def output_ports(self, params: Params) -> tuple[Port, ...]:
        return self.outputs(params) if callable(self.outputs) else self.outputs

    def coerce_params(self, params: Params) -> tuple[Params, list[tuple[str, str]]]:
        return coerce_params(self.params, params, self.type)


def coerce_params(declared: Sequence[Param], params: Params | None,
                  owner: str) -> tuple[Params, list[tuple[str, str]]]:
    """Defaults filled in, each value coerced; returns (params, [(name, error), ...]).

    A refused value keeps its default so that the rest can still be analysed.  Unknown names
    are reported, never silently dropped.  Blocks, datasets and recipes all use this.
    """
    known = {p.name: p for p in declared}
    out = {p.name: p.default for p in declared}
    errors: list[tuple[str, str]] = []
    for name, value in (params or {}).items():
        if name not in known:
            close = nearest(name, known)
            hint = f"; did you mean {close!r}?" if close else ""
            errors.append((name, f"{owner} has no param {show(name)}{hint}"))
            continue
        try:
            out[name] = known[name].coerce(value)
        except ParamError as e:
            errors.append((name, str(e)))
    return out, errors


REGISTRY: dict[str, BlockSpec] = {}


def register(*specs: BlockSpec) -> None:
    for spec in specs:
        if spec.type in REGISTRY:
            raise ValueError(f"block type {spec.type!r} registered twice")
        if not spec.type.isidentifier() or keyword.iskeyword(spec.type):
            raise ValueError(f"block type {spec.type!r} must be an identifier")
        if spec.build is None and spec.expand is None:
            raise ValueError(f"block {spec.type!r} needs build or expand")
        REGISTRY[spec.type] = spec


def check(cond: bool, message: str) -> None:
    """Raise ShapeError(message) unless cond: keeps shape rules one line per condition."""
    if not cond:
        raise ShapeError(message)
