"""Dense and shape blocks: Linear, DropConnect, Embedding, and the wiring helpers."""

from __future__ import annotations

import math
import operator

from builder.blocks.lazy import lazy
from builder.blocks.spec import ANY, INDEX, BlockSpec, Param, Port, check, make, register
from builder.shapes import fmt_shape

# imported at the first build, so that the catalogue loads without torch
nn = lazy("torch.nn")
modules = lazy("builder.blocks.modules.dense")

__all__ = ["passthrough"]


def passthrough(x):
    """A reroute point in the compiled graph: the same tensor, no module, no copy."""
    return x


# --- shape helpers ------------------------------------------------------------------------


def _features(ins, block: str) -> int:
    (x,) = ins
    check(len(x) >= 1, f"{block} needs at least one axis; received a scalar per sample")
    check(isinstance(x[-1], int), f"{block} needs a known feature size on the last axis; "
          f"received {fmt_shape(x)}")
    return x[-1]


def _axis(dim: int, shape, block: str) -> int:
    check(-len(shape) <= dim < len(shape),
          f"{block}: axis {dim} does not exist in a per-sample shape {fmt_shape(shape)}")
    return dim % len(shape)


def _dense_shape(p, ins, block: str):
    _features(ins, block)
    return [(*ins[0][:-1], p["units"])]


def _same_shapes(ins, block: str):
    first = ins[0]
    for s in ins[1:]:
        check(s == first, f"{block} needs inputs of the same shape; received "
              + " and ".join(fmt_shape(s) for s in ins))
    return [first]


def _n_inputs(p):
    return tuple(Port(f"x{i + 1}", ANY) for i in range(p["inputs"]))


def _linear_flops(p, ins, outs):
    lead = math.prod(d if isinstance(d, int) else 1 for d in ins[0][:-1])
    return 2 * lead * ins[0][-1] * p["units"]


def _linear_explain(p, ins, outs):
    n_in, n_out = ins[0][-1], p["units"]
    b = n_out if p["bias"] else 0
    return (f"y = W·x + b with W of size {n_out}×{n_in}\n"
            f"params = {n_in}·{n_out} + {b} = {n_in * n_out + b:,}")


def _concat_shape(p, ins):
    ax = _axis(p["axis"], ins[0], "Concat")
    total = 0
    for s in ins:
        check(len(s) == len(ins[0]) and all(a == b for i, (a, b) in enumerate(zip(s, ins[0]))
                                            if i != ax),
              "Concat needs all sizes equal except on axis "
              f"{p['axis']}; received " + " and ".join(fmt_shape(s) for s in ins))
        total = total + s[ax] if isinstance(s[ax], int) and isinstance(total, int) else "?"
    out = list(ins[0])
    out[ax] = total
    return [tuple(out)]


def _reshape_shape(p, ins):
    (x,) = ins
    target = list(p["shape"])
    check(all(isinstance(d, int) for d in x), f"Reshape needs a fixed input shape; received "
          f"{fmt_shape(x)}")
    n = math.prod(x)
    check(target.count(-1) <= 1, "Reshape allows at most one -1 in its target shape")
    known = math.prod(d for d in target if d != -1)
    if -1 in target:
        check(n % known == 0, f"Reshape cannot fit {n} values into {fmt_shape(tuple(target))}")
        target[target.index(-1)] = n // known
    check(math.prod(target) == n, f"Reshape: {fmt_shape(x)} holds {n} values but "
          f"{fmt_shape(tuple(target))} holds {math.prod(target)}")
    return [tuple(target)]


def _slice_shape(p, ins):
    (x,) = ins
    ax = _axis(p["axis"], x, "Slice")
    size = x[ax]
    check(p["end"] > p["start"], f"Slice: end {p['end']} must be after start {p['start']}")
    check(not isinstance(size, int) or p["end"] <= size,
          f"Slice: end {p['end']} is past the axis size {size} of {fmt_shape(x)}")
    out = list(x)
    out[ax] = p["end"] - p["start"]
    return [tuple(out)]


def _split_shape(p, ins):
    (x,) = ins
    ax = _axis(p["axis"], x, "Split")
    size, k = x[ax], p["parts"]
    check(isinstance(size, int) and size % k == 0,
          f"Split: axis {p['axis']} of {fmt_shape(x)} does not divide into {k} equal parts")
    out = list(x)
    out[ax] = size // k
    return [tuple(out)] * k


def _embedding_shape(p, ins):
    return [(*ins[0], p["dim"])]


_AXIS_HELP = "Axis of one sample (0 = channels or features; negative counts from the end)."

register(
    BlockSpec(
        "Linear",
        "Dense & shape",
        "A fully connected layer: every output is a weighted sum of every input plus a bias, "
        "y = Wx + b. Stacked with activations in between it forms a multilayer perceptron.",
        params=(
            Param("units", "int", 64, help="Number of outputs (neurons).", min=1, max=1_000_000),
            Param("bias", "bool", True, help="Learn an additive bias b."),
        ),
        build=lambda p, ins: make(nn.Linear, _features(ins, "Linear"), p["units"], bias=p["bias"]),
        shape=lambda p, ins: _dense_shape(p, ins, "Linear"),
        explain=_linear_explain,
        flops=_linear_flops,
    ),
    BlockSpec(
        "DropConnectLinear",
        "Dense & shape",
        "A Linear layer that, while training, drops individual weights with probability p "
        "instead of whole units (DropConnect), a stronger regulariser than Dropout.",
        params=(
            Param("units", "int", 64, min=1, max=1_000_000),
            Param("bias", "bool", True),
            Param("p", "float", 0.5, help="Probability of dropping each weight.", min=0.0,
                  max=0.95),
        ),
        build=lambda p, ins: make(modules.DropConnectLinear, _features(ins, "DropConnect"),
                                  p["units"], bias=p["bias"], p=p["p"]),
        shape=lambda p, ins: _dense_shape(p, ins, "DropConnect"),
        explain=_linear_explain,
        flops=_linear_flops,
        title="DropConnect Linear",
    ),
    BlockSpec(
        "Embedding",
        "Dense & shape",
        "A lookup table that turns each integer id (a word, a character, a class) into a "
        "learned dense vector; similar ids end up with similar vectors.",
        params=(
            Param("vocab", "int", 1000, help="Number of distinct ids.", min=1, max=10_000_000),
            Param("dim", "int", 32, help="Length of each embedding vector.", min=1,
                  max=100_000),
        ),
        inputs=(Port("ids", INDEX),),
        build=lambda p, ins: make(nn.Embedding, p["vocab"], p["dim"]),
        shape=_embedding_shape,
        example_inputs=((12,),),
        explain=lambda p, ins, outs: f"table of {p['vocab']}×{p['dim']} = "
                                     f"{p['vocab'] * p['dim']:,} learned numbers",
    ),
    BlockSpec(
        "Flatten",
        "Dense & shape",
        "Lays a multi-axis sample (channels × height × width) out as one long vector, so that "
        "Linear layers can follow convolutions.",
        inputs=(Port("x", ANY),),
        build=lambda p, ins: make(nn.Flatten),
        shape=lambda p, ins: [(math.prod(ins[0]),)] if all(isinstance(d, int) for d in ins[0])
        else [("?",)],
        explain=lambda p, ins, outs: f"{fmt_shape(ins[0])} → {fmt_shape(outs[0])}",
        example_inputs=((3, 4, 4),),
        has_weights=False,
    ),
    BlockSpec(
        "Reshape",
        "Dense & shape",
        "Reinterprets a sample's values with a new shape of the same size; one axis may be -1 "
        "to be inferred.",
        params=(Param("shape", "ints", (1, -1), min=-1, max=10_000_000, length=(1, 4)),),
        inputs=(Port("x", ANY),),
        build=lambda p, ins: make(modules.Reshape, tuple(_reshape_shape(p, ins)[0])),
        shape=_reshape_shape,
        example_inputs=((4, 6),),
        has_weights=False,
    ),
    BlockSpec(
        "Identity",
        "Dense & shape",
        "Passes its input through unchanged: a named tap point, or a placeholder while "
        "you experiment.",
        inputs=(Port("x", ANY),),
        outputs=(Port("y", ANY),),
        build=lambda p, ins: make(nn.Identity),
        shape=lambda p, ins: [ins[0]],
        has_weights=False,
        keeps_space=True,
    ),
    BlockSpec(
        "Reroute",
        "Dense & shape",
        "A point on a wire, to route it by hand: around blocks, along a skip connection. "
        "Double-click a wire to add one; the tensor passes on unchanged.",
        inputs=(Port("x", ANY),),
        outputs=(Port("y", ANY),),
        build=lambda p, ins: make(nn.Identity),
        shape=lambda p, ins: [ins[0]],
        inline=lambda p: passthrough,
        has_weights=False,
        keeps_space=True,
        title="Reroute point",
    ),
    BlockSpec(
        "Concat",
        "Dense & shape",
        "Joins tensors side by side along one axis (channels for images): how DenseNet and "
        "Inception combine their branches.",
        params=(
            Param("inputs", "int", 2, help="Number of input ports.", min=2, max=16),
            Param("axis", "int", 0, help=_AXIS_HELP, min=-4, max=3),
        ),
        inputs=_n_inputs,
        outputs=(Port("y", ANY),),
        build=lambda p, ins: make(modules.Concat, p["axis"]),
        shape=_concat_shape,
        example_inputs=((4, 8, 8), (6, 8, 8)),
        has_weights=False,
        keeps_space=True,
    ),
    BlockSpec(
        "Add",
        "Dense & shape",
        "Adds tensors of the same shape element by element: the skip connection of a residual "
        "network, y = F(x) + x.",
        params=(Param("inputs", "int", 2, help="Number of input ports.", min=2, max=16),),
        inputs=_n_inputs,
        outputs=(Port("y", ANY),),
        build=lambda p, ins: make(modules.Add),
        inline=lambda p: operator.add if p["inputs"] == 2 else None,
        shape=lambda p, ins: _same_shapes(ins, "Add"),
        example_inputs=((4, 8, 8), (4, 8, 8)),
        has_weights=False,
        keeps_space=True,
    ),
    BlockSpec(
        "Multiply",
        "Dense & shape",
        "Multiplies tensors of the same shape element by element: gates and masks.",
        params=(Param("inputs", "int", 2, help="Number of input ports.", min=2, max=16),),
        inputs=_n_inputs,
        outputs=(Port("y", ANY),),
        build=lambda p, ins: make(modules.Multiply),
        inline=lambda p: operator.mul if p["inputs"] == 2 else None,
        shape=lambda p, ins: _same_shapes(ins, "Multiply"),
        example_inputs=((16,), (16,)),
        has_weights=False,
        keeps_space=True,
    ),
    BlockSpec(
        "Slice",
        "Dense & shape",
        "Keeps the entries start ≤ i < end along one axis.",
        params=(
            Param("axis", "int", 0, help=_AXIS_HELP, min=-4, max=3),
            Param("start", "int", 0, min=0),
            Param("end", "int", 1, min=1),
        ),
        inputs=(Port("x", ANY),),
        outputs=(Port("y", ANY),),
        build=lambda p, ins: make(modules.Slice, p["axis"], p["start"], p["end"]),
        shape=_slice_shape,
        has_weights=False,
    ),
    BlockSpec(
        "Split",
        "Dense & shape",
        "Cuts a tensor into equal parts along one axis, one output each: e.g. a head that "
        "predicts μ and log σ² side by side.",
        params=(
            Param("axis", "int", 0, help=_AXIS_HELP, min=-4, max=3),
            Param("parts", "int", 2, min=2, max=16),
        ),
        inputs=(Port("x", ANY),),
        outputs=lambda p: tuple(Port(f"y{i + 1}", ANY) for i in range(p["parts"])),
        build=lambda p, ins: make(modules.Split, p["axis"], p["parts"]),
        shape=_split_shape,
        has_weights=False,
    ),
)
