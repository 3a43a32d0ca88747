"""Gallery templates of the recursive (tree) networks (see build_templates.py).

A TreeCell reads arithmetic expression trees of the ``expressions`` dataset bottom-up: the
node tokens through an Embedding, the child positions (``left``/``right``) and the ``root``
straight from the data.  The root's vector ``top`` is what a head reads.

No template classifies the last digit (the dataset's other target): (a + b) mod 10 needs the
children's digits to interact, which one layer act(W_l·h_l + W_r·h_r + W_x·x + b) cannot do;
measured with this network and a 10-way head, it stayed at chance (10%) for 7 epochs.
"""

from __future__ import annotations

from template_parts import _project, _seq

from builder.document import DatasetConfig, Network, Project, RecipeConfig

__all__ = ["BUILDERS"]

DEPTH = 3  # deepest nesting of operators in the data, and so the levels the cell computes
NODES = 2 ** (DEPTH + 1) - 1  # positions per tree (post-order, padded)
VOCAB = 14  # <pad>, ten digits, + - *


def _tree_net(head: tuple, hidden: int = 64) -> Network:
    """tokens → Embedding → TreeCell (left, right, root from the data) → top → head."""
    net = Network("main")
    _seq(net, ("Input", "tokens", {"shape": [NODES], "kind": "tokens", "field": "tokens"}),
         ("Embedding", "embed", {"vocab": VOCAB, "dim": 16}))
    net.add("TreeCell", id="tree", hidden=hidden, max_depth=DEPTH)
    net.connect("embed", "tree", dst_port="x")
    for side in ("left", "right"):
        net.add("Input", id=side, shape=[NODES], kind="tokens", field=side)
        net.connect(side, "tree", dst_port=side)
    # The only source block with a per-sample shape of []: one integer per tree.
    net.add("LabelInput", id="root", num_classes=NODES, field="root")
    net.connect("root", "tree", dst_port="root")
    _seq(net, head, ("Output", "y", {}), after=None)
    net.connect("tree", head[1], src_port="top")
    return net


def recursive_expressions() -> Project:
    net = _tree_net(("Linear", "value", {"units": 1}))
    project = _project(
        "Recursive network: the value of an expression tree\n"
        "One TreeCell reads (3+(4-2)) as a tree, bottom-up: each digit's embedding becomes a "
        "vector, each operator's vector is computed from its two children's, and the root's "
        "vector says what the whole expression is worth; a Linear layer reads the number off "
        "it. Watch the trees: every node with its true value, the prediction at the root.",
        net, DatasetConfig("expressions", {"n_samples": 20_000, "max_depth": DEPTH,
                                           "ops": "+ -"}),
        epochs=12, batch=64, lr=0.003)
    project.recipe = RecipeConfig("regression", {"model": net.name}, {"loss": "mse"})
    return project


BUILDERS = {f.__name__: f for f in (recursive_expressions,)}
