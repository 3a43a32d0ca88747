"""The recursive (tree) network: one cell applied bottom-up over a parsed tree.

A tree travels as arrays over node positions 0..M-1 of each sample: node features ``x``
[M, D] (an Embedding of the node tokens), the positions of each node's children ``left`` and
``right`` [M] (-1: none, for leaves and padding) and the position of the ``root`` [].  The
``expressions`` dataset provides exactly that, in post-order.
"""

from __future__ import annotations

from builder.blocks.lazy import lazy
from builder.blocks.spec import INDEX, BlockSpec, Param, Port, check, make, register
from builder.shapes import fmt_shape

# imported at the first build, so that the catalogue loads without torch
modules = lazy("builder.blocks.modules.tree")

__all__: list[str] = []


# --- spec ------------------------------------------------------------------------------------


def _dim(d) -> int:
    """A size for counting: a symbolic number of nodes counts as 1."""
    return d if isinstance(d, int) else 1


def _tree_inputs(ins):
    x, left, right, root = (list(ins) + [None] * 4)[:4]
    check(x is not None and len(x) == 2,
          f"TreeCell needs node features x [M, features] per sample (M nodes); received "
          f"{fmt_shape(x)}")
    check(isinstance(x[1], int),
          f"TreeCell needs a known feature size on the last axis of x; received {fmt_shape(x)}")
    for name, s in (("left", left), ("right", right)):
        check(s is not None and len(s) == 1 and s[0] == x[0],
              f"TreeCell: {name} must hold one child position per node, [M] = [{x[0]}] for x "
              f"{fmt_shape(x)}; received {fmt_shape(s)}")
    check(root is None or tuple(root) in ((), (1,)),
          f"TreeCell: root must be one position per sample, [] or [1]; received "
          f"{fmt_shape(root)}")
    return x


def _shape(p, ins):
    x = _tree_inputs(ins)
    return [(x[0], p["hidden"]), (p["hidden"],)]


def _build(p, ins):
    x = _tree_inputs(ins)
    return make(modules.TreeCell, x[1], p["hidden"], activation=p["activation"],
                max_depth=p["max_depth"])


def _flops(p, ins, outs):
    m, d, h = _dim(ins[0][0]), ins[0][1], p["hidden"]
    return 2 * m * d * h + p["max_depth"] * 2 * m * 2 * h * h


def _explain(p, ins, outs):
    d, h, act = ins[0][1], p["hidden"], p["activation"]
    total = d * h + h + 2 * h * h
    return (f"leaf: h = {act}(W_x·x + b); inner node: h = {act}(W_l·h_left + W_r·h_right + "
            f"W_x·x + b), levels 1..{p['max_depth']} bottom-up; top = h[root]\n"
            f"params = D·H + H + 2·H·H = {d}·{h} + {h} + 2·{h}·{h} = {total:,} "
            f"(W_x {h}×{d}, b {h}, [W_l W_r] {h}×{2 * h}), shared by every node")


register(
    BlockSpec(
        "TreeCell",
        "Recurrent",
        "A recursive neural network: the same cell turns every node of a parse tree into a "
        "vector, bottom-up, each parent from its two children and its own token, so the root's "
        "vector sums up the whole expression. It is the tree-shaped cousin of the RNN, which "
        "is the special case of a tree leaning all one way.",
        params=(
            Param("hidden", "int", 64, help="Size H of each node's vector.", min=1,
                  max=65_536),
            Param("activation", "choice", "tanh", choices=("tanh", "relu"),
                  help="Nonlinearity applied to each node's new vector."),
            Param("max_depth", "int", 6, min=1, max=64,
                  help="Tree levels above the leaves that are computed (fixed, so the loop "
                       "unrolls in ONNX); training refuses deeper trees."),
        ),
        inputs=(
            Port("x", help="Node features [M, features], e.g. an Embedding of the tokens."),
            Port("left", INDEX, help="Position of each node's left child [M]; -1 for none."),
            Port("right", INDEX, help="Position of each node's right child [M]; -1 for none."),
            Port("root", INDEX, optional=True,
                 help="Position of the root []; unconnected: the first node of greatest "
                      "height (the root of a post-order tree)."),
        ),
        outputs=(
            Port("h", help="Every node's vector [M, H]."),
            Port("top", help="The root's vector [H]: the whole tree in one vector."),
        ),
        build=_build,
        shape=_shape,
        explain=_explain,
        flops=_flops,
        title="Tree cell (recursive)",
        example_inputs=((15, 8), (15,), (15,), ()),
    ),
)
