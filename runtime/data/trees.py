"""Arithmetic expression trees and their values, for recursive neural networks.

Tensor encoding of one tree with at most M = 2**(max_depth+1) - 1 nodes, listed in post-order
(children before their parent, so a recursive net can compute node vectors in index order):
- ``tokens`` [M] int64: the node's token; 0 = ``<pad>`` after the last node, 1..10 = digits
  0..9 (leaves), 11 = ``+``, 12 = ``-``, 13 = ``*`` (inner nodes);
- ``left``, ``right`` [M] int64: positions of the node's children in the same arrays, -1 for
  leaves and padding;
- ``root`` [] int64: position of the root, which is the last real node;
- ``node_values`` [M] float32: the value of the subtree under each node (a digit's own value
  at a leaf), 0 for padding: what a view shows under each node;
- ``y``: the value, [1] float32 (target ``value``) or its last digit as a class [] int64
  (target ``last digit``: value mod 10, always 0..9).
``DataInfo.extra["tree"]`` names these fields (``TREE``): where a recipe finds trees to draw.
"""

from __future__ import annotations

import numpy as np
import torch

from builder.blocks.spec import Param
from runtime.data.core import DataInfo, FieldInfo, TensorData
from runtime.data.registry import SEED, VAL_FRACTION, DatasetSpec, n_samples, register

__all__ = ["VOCAB", "OPS", "TREE", "random_trees", "tree_text"]

VOCAB = ("<pad>", *"0123456789", "+", "-", "*")
OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
_LEAF_CHANCE = 0.3  # below the root, an inner position becomes a leaf this often
# DataInfo.extra["tree"]: which fields encode the trees, for the recipes' tree pictures.
TREE = {"tokens": "tokens", "left": "left", "right": "right", "root": "root",
        "values": "node_values"}


def _grow(rng, depth: int, max_depth: int, ops: str, out: list) -> tuple[int, int]:
    """Append one random subtree in post-order to ``out`` as (token, left, right, value)
    per node; returns (its position, value)."""
    if depth == max_depth or (depth > 0 and rng.random() < _LEAF_CHANCE):
        digit = int(rng.integers(0, 10))
        out.append((1 + digit, -1, -1, digit))
        return len(out) - 1, digit
    op = ops[int(rng.integers(0, len(ops)))]
    left, a = _grow(rng, depth + 1, max_depth, ops, out)
    right, b = _grow(rng, depth + 1, max_depth, ops, out)
    out.append((VOCAB.index(op), left, right, OPS[op](a, b)))
    return len(out) - 1, OPS[op](a, b)


def random_trees(n: int, max_depth: int, ops: str, seed: int):
    """(tokens, left, right, root, values, node_values) arrays for ``n`` random trees (see
    the module doc; ``values`` [n] is each whole tree's)."""
    rng = np.random.default_rng(seed)
    m = 2 ** (max_depth + 1) - 1
    tokens = np.zeros((n, m), np.int64)
    left = np.full((n, m), -1, np.int64)
    right = np.full((n, m), -1, np.int64)
    root = np.zeros(n, np.int64)
    values = np.zeros(n, np.int64)
    node_values = np.zeros((n, m), np.float32)
    for i in range(n):
        nodes: list[tuple[int, int, int, int]] = []
        root[i], values[i] = _grow(rng, 0, max_depth, ops, nodes)
        k = len(nodes)
        tokens[i, :k], left[i, :k], right[i, :k], node_values[i, :k] = zip(*nodes, strict=True)
    return tokens, left, right, root, values, node_values


def tree_text(tokens, left, right, root: int) -> str:
    """The infix text of one encoded tree, e.g. ``(3+(4*2))``."""
    tok = VOCAB[int(tokens[root])]
    if int(left[root]) < 0:
        return tok
    return (f"({tree_text(tokens, left, right, int(left[root]))}{tok}"
            f"{tree_text(tokens, left, right, int(right[root]))})")


def _build(p, ctx):
    ops = p["ops"].replace(" ", "")
    tokens, left, right, root, values, node_values = random_trees(
        p["n_samples"], p["max_depth"], ops, p["seed"])
    m = tokens.shape[1]
    fields = {
        "tokens": FieldInfo((m,), "tokens", "int64", "node tokens in post-order"),
        "left": FieldInfo((m,), "index", "int64", "left child position, -1 if none"),
        "right": FieldInfo((m,), "index", "int64", "right child position, -1 if none"),
        "root": FieldInfo((), "index", "int64", "position of the root node"),
        "node_values": FieldInfo((m,), "target", "float32", "value of each node's subtree"),
    }
    data = {"tokens": tokens, "left": left, "right": right, "root": root,
            "node_values": node_values}
    if p["target"] == "value":
        task, y, fy, classes, names = "regression", values[:, None].astype(np.float32), \
            FieldInfo((1,), "target", "float32", "value of the expression"), None, ()
    else:
        task, y, fy, classes, names = "classification", np.mod(values, 10), \
            FieldInfo((), "label", "int64", "last digit of the value"), 10, tuple("0123456789")
    fields["y"] = fy
    data["y"] = y
    info = DataInfo("expressions", task, fields, num_classes=classes, class_names=names,
                    vocab=VOCAB, source="generated",
                    extra={"encoding": "post-order", "pad": 0, "max_nodes": m, "tree": TREE})
    return TensorData({k: torch.from_numpy(v) for k, v in data.items()}), info


register(
    DatasetSpec(
        "expressions", "Arithmetic expression trees",
        "Random expressions like (3+(4-2)) as trees, with their values: for recursive nets.",
        "generated", "Structures", "regression",
        (n_samples(5000, 200_000),
         Param("max_depth", "int", 3, min=1, max=6, help="Deepest nesting of operators."),
         Param("ops", "choice", "+ -", choices=("+ -", "+ - *"),
               help="Operators used; multiplication makes values grow fast."),
         Param("target", "choice", "value", choices=("value", "last digit"),
               help="Predict the value (regression) or its last digit (10 classes)."),
         SEED, VAL_FRACTION),
        _build,
    ),
)
