"""Edits of transfer learning, each one undoable command: freeze everything up to a block, and
give a network a new output layer for another number of classes.

A new head is a *new* layer: it gets a new node id, so start-from weights (matched by name)
leave it freshly initialised and their report lists it as new, whatever its size.
"""

from __future__ import annotations

import networkx as nx

from builder.commands import Command, CommandError, Macro, RenameNode, SetNodeOptions, SetParams
from builder.document import Network, valid_name
from builder.ports import GROUP, spec_of

__all__ = ["upstream", "weighted", "freeze_up_to", "new_head", "head_param"]


def upstream(net: Network, node_id: str) -> set[str]:
    """``node_id`` and every node whose output reaches it."""
    graph = nx.DiGraph((e.src, e.dst) for e in net.edges)
    graph.add_nodes_from(net.nodes)
    return {node_id} | nx.ancestors(graph, node_id)


def _has_weights(net: Network, node_id: str) -> bool:
    node = net.nodes[node_id]
    if node.block == GROUP:
        return True
    spec = spec_of(node)
    return spec is not None and spec.has_weights


def weighted(net: Network, node_ids) -> list[str]:
    """Those of ``node_ids`` that hold weights (blocks with weights, groups)."""
    return [i for i in node_ids if i in net.nodes and _has_weights(net, i)]


def freeze_up_to(net_name: str, net: Network, node_id: str) -> Command | None:
    """Freeze ``node_id`` and every block with weights before it (the pre-trained feature
    extractor, when ``node_id`` is its last layer); None when nothing there is trainable."""
    if node_id not in net.nodes:
        raise CommandError(f"network {net_name!r} has no node {node_id!r}")
    ids = tuple(sorted(i for i in weighted(net, upstream(net, node_id))
                       if net.nodes[i].trainable))
    if not ids:
        return None
    command = SetNodeOptions(net_name, ids, trainable=False)
    command.text = f"Freeze everything up to {node_id}"
    return command


def head_param(net: Network, node_id: str) -> str | None:
    """The param that sets how many outputs the block gives (a Linear's ``units``, a
    convolution's ``filters``), or None for a block that cannot be a head."""
    node = net.nodes.get(node_id)
    spec = spec_of(node) if node is not None and node.block != GROUP else None
    names = {p.name for p in spec.params} if spec is not None else set()
    return next((n for n in ("units", "filters") if n in names), None)


def new_head(net_name: str, net: Network, node_id: str, classes: int) -> Command:
    """Replace output layer ``node_id`` by a new one giving ``classes`` outputs: renamed
    (``logits`` → ``logits_new``), trainable, freshly initialised when the network starts
    from saved weights."""
    param = head_param(net, node_id)
    if param is None:
        raise CommandError(f"{node_id!r} cannot be a new output layer: choose a Linear (or a "
                           "convolution) that gives the class scores")
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise CommandError(f"a new head needs a whole number of classes ≥ 1; received "
                           f"{classes!r}")
    base = f"{node_id}_new" if not node_id.endswith("_new") else node_id
    name, k = base, 1
    while name in net.nodes or not valid_name(name):
        k += 1
        name = f"{base}{k}"
    steps = [RenameNode(net_name, node_id, name),
             SetParams(net_name, name, {param: classes}),
             SetNodeOptions(net_name, (name,), trainable=True, init="default")]
    return Macro(f"New output layer for {classes} classes", steps)
