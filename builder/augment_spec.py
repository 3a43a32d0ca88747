"""The augmentation pipeline of a dataset as data: an ordered list of ``{"op": name, ...}``.

Each op is a small declarative spec (typed params with ranges and help, as blocks have), so
the reader, the JSON schema, the dataset form and the runtime's tensor ops
(``runtime/data/transforms.py``) all agree on what a pipeline may hold.  No torch here: the
builder checks a ``.loom`` without it.

The old dataset params (``augment``, ``crop_padding``, ``flip``, ``jitter``) still work:
``legacy_ops`` turns them into the equivalent list, which is what they always did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from builder.blocks.spec import Param, ParamError, coerce_params
from builder.jsontext import nearest

__all__ = ["OpSpec", "OPS", "MAX_OPS", "op_problems", "check_ops", "full_ops", "legacy_ops",
           "effective_ops", "LEGACY_PARAMS", "describe_op"]

MAX_OPS = 32  # a pipeline longer than this is a mistake, not an experiment


def _p(name: str, default: float, lo: float, hi: float, help: str) -> Param:
    return Param(name, "float", default, min=lo, max=hi, help=help)


def _chance(default: float) -> Param:
    return _p("p", default, 0.0, 1.0, "Chance that a training image gets this change.")


@dataclass(frozen=True)
class OpSpec:
    """One transform: its name in the file, a title for menus, what it does, its params and
    the (low, high) param pairs whose low must not exceed its high."""

    name: str
    title: str
    help: str
    params: tuple[Param, ...]
    ranges: tuple[tuple[str, str], ...] = ()

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


OPS: dict[str, OpSpec] = {s.name: s for s in (
    OpSpec("flip", "Flip", "Mirror the image (left-right, or upside down).",
           (_chance(0.5), Param("direction", "choice", "horizontal",
                                choices=("horizontal", "vertical"),
                                help="Left-right mirror, or upside-down."))),
    OpSpec("rotate", "Rotate", "Turn the image by a random angle in [-degrees, degrees].",
           (_p("degrees", 15.0, 0.0, 180.0, "Largest turn either way, in degrees."),
            _chance(1.0))),
    OpSpec("crop", "Crop and pad", "Pad each side, then cut a random window of the original "
           "size: the object shifts by up to `padding` pixels.",
           (Param("padding", "int", 4, min=0, max=64,
                  help="Pixels added on each side before cropping back."),)),
    OpSpec("jitter", "Colour jitter", "Scale brightness, contrast and saturation by random "
           "factors in [1-s, 1+s].",
           (_p("brightness", 0.2, 0.0, 0.9, "Brightness varies by up to this share."),
            _p("contrast", 0.2, 0.0, 0.9, "Contrast varies by up to this share."),
            _p("saturation", 0.2, 0.0, 0.9, "Saturation varies by up to this share."))),
    OpSpec("blur", "Gaussian blur", "Blur with a random width between sigma_min and "
           "sigma_max pixels.",
           (_chance(0.5), _p("sigma_min", 0.1, 0.01, 5.0, "Smallest blur width, in pixels."),
            _p("sigma_max", 1.0, 0.01, 5.0, "Largest blur width, in pixels.")),
           ranges=(("sigma_min", "sigma_max"),)),
    OpSpec("erase", "Random erasing", "Blank out a random rectangle (filled with the mean "
           "colour) covering area_min to area_max of the image.",
           (_chance(0.5), _p("area_min", 0.02, 0.0, 1.0, "Smallest share of the image erased."),
            _p("area_max", 0.2, 0.0, 1.0, "Largest share of the image erased.")),
           ranges=(("area_min", "area_max"),)),
    OpSpec("noise", "Gaussian noise", "Add pixel noise of this standard deviation (pixels "
           "run from 0 to 1).",
           (_p("std", 0.05, 0.0, 1.0, "Standard deviation of the noise."),)),
)}

LEGACY_PARAMS = ("augment", "crop_padding", "flip", "jitter")


_SUMMARY = {
    "flip": "Flip {direction}, p {p:g}",
    "rotate": "Rotate ±{degrees:g}°, p {p:g}",
    "crop": "Crop and pad {padding} px",
    "jitter": "Colour jitter {brightness:g} / {contrast:g} / {saturation:g}",
    "blur": "Blur σ {sigma_min:g}–{sigma_max:g}, p {p:g}",
    "erase": "Erase {area_min:.0%}–{area_max:.0%} of area, p {p:g}",
    "noise": "Noise σ {std:g}",
}


def describe_op(op: Mapping[str, Any]) -> str:
    """A short line for lists, like ``Rotate ±15°, p 1``."""
    spec = OPS.get(op.get("op"))
    if spec is None:
        return str(op.get("op"))
    values = {**spec.defaults(), **{k: v for k, v in op.items() if k != "op"}}
    try:
        return _SUMMARY[spec.name].format(**values)
    except (KeyError, ValueError, TypeError):  # a value the reader would refuse
        return spec.title


def op_problems(ops: Any) -> list[tuple[str, str]]:
    """Every problem of a pipeline as ``(where, message)``; ``where`` is like ``[2]`` or
    ``[2].sigma_min``.  An empty list: the pipeline is fine."""
    if not isinstance(ops, list):
        return [("", f"expected a list of transforms, found {type(ops).__name__}")]
    if len(ops) > MAX_OPS:
        return [("", f"{len(ops)} transforms is more than the {MAX_OPS} allowed")]
    out: list[tuple[str, str]] = []
    for i, op in enumerate(ops):
        here = f"[{i}]"
        if not isinstance(op, dict):
            out.append((here, f"a transform must be an object like {{\"op\": \"flip\"}}, "
                              f"found {type(op).__name__}"))
            continue
        name = op.get("op")
        spec = OPS.get(name) if isinstance(name, str) else None
        if spec is None:
            close = nearest(str(name), OPS) if isinstance(name, str) else None
            hint = f"; did you mean {close!r}?" if close else ""
            out.append((here, f"unknown transform {name!r}{hint} (known: {', '.join(OPS)})"))
            continue
        given = {k: v for k, v in op.items() if k != "op"}
        values, problems = coerce_params(spec.params, given, f"transform {name!r}")
        out += [(f"{here}.{p}", message) for p, message in problems]
        for lo, hi in spec.ranges:
            if values[lo] > values[hi]:
                out.append((f"{here}.{lo}", f"transform {name!r}: {lo} {values[lo]:g} is "
                                            f"above {hi} {values[hi]:g}"))
    return out


def check_ops(ops: Any, where: str = "augment") -> list[dict[str, Any]]:
    """``ops`` unchanged when valid, else a ParamError naming the first problem's place."""
    problems = op_problems(ops)
    if problems:
        at, message = problems[0]
        raise ParamError(f"{where}{at}: {message}")
    return ops


def full_ops(ops: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A checked pipeline with every param filled in (what the tensor ops receive)."""
    check_ops(list(ops))
    out = []
    for op in ops:
        spec = OPS[op["op"]]
        values, _ = coerce_params(spec.params, {k: v for k, v in op.items() if k != "op"},
                                  spec.name)
        out.append({"op": spec.name, **values})
    return out


def legacy_ops(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The pipeline the old dataset params meant: crop, flip, then colour jitter."""
    if not params.get("augment"):
        return []
    ops: list[dict[str, Any]] = []
    padding = int(params.get("crop_padding", 4))
    if padding > 0:
        ops.append({"op": "crop", "padding": padding})
    if params.get("flip", True):
        ops.append({"op": "flip", "p": 0.5})
    jitter = float(params.get("jitter", 0.0))
    if jitter > 0:
        ops.append({"op": "jitter", "brightness": jitter, "contrast": jitter,
                    "saturation": jitter})
    return ops


def effective_ops(augment: Sequence[Mapping[str, Any]] | None,
                  params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What a dataset config trains with: its list when it has one, else the old params."""
    return [dict(op) for op in augment] if augment else legacy_ops(params)
