"""Editor gestures as builder commands: add, connect, delete, paste, layout (no Qt here).

Each function returns one command (a ``Macro`` where a gesture is several edits), so every
gesture is one undo step.
"""

from __future__ import annotations

import networkx as nx

from builder import blocks
from builder.blocks.spec import ANY
from builder.commands import (
    AddNode,
    Command,
    Connect,
    Disconnect,
    Macro,
    MoveNodes,
    RemoveNodes,
    SetNodeOptions,
)
from builder.document import Edge, Network, Node, unique_name
from builder.layout import layered_positions
from builder.ports import node_ports, source_kind
from builder.propagate import Report
from builder.validate import SOURCES

ROW_STRETCH = 1.25

__all__ = ["new_node", "add_block", "add_and_wire", "delete", "output_kind", "input_kind",
           "kinds_fit", "can_connect", "loop_through", "loop_message", "fitting_blocks",
           "toggle_bypass",
           "paste_nodes", "fragment_of", "auto_layout", "dissolve", "set_trainable"]


def new_node(net: Network, block: str, pos: tuple[float, float], taken=()) -> Node:
    """A node of ``block`` with its defaults written out, so the file says what it means."""
    spec = blocks.get(block)
    node_id = unique_name(block, set(net.nodes) | set(taken))
    return Node(node_id, block, spec.defaults(), (float(pos[0]), float(pos[1])))


def add_block(net_name: str, net: Network, block: str, pos) -> AddNode:
    return AddNode(net_name, new_node(net, block, pos))


def output_kind(net: Network, report: Report | None, node_id: str, port: str) -> str:
    """The kind of tensor leaving a port: propagated if known, else declared."""
    if report is not None:
        kind = report.shapes.kinds.get(node_id, {}).get(port)
        if kind:
            return kind
    node = net.nodes[node_id]
    if node.block in SOURCES:
        return source_kind(node)
    for p in node_ports(node)[1]:
        if p.name == port:
            return p.kind
    return ANY


def input_kind(net: Network, node_id: str, port: str) -> str:
    for p in node_ports(net.nodes[node_id])[0]:
        if p.name == port:
            return p.kind
    return ANY


def kinds_fit(out_kind: str, in_kind: str) -> bool:
    return ANY in (out_kind, in_kind) or out_kind == in_kind


def loop_through(net: Network, edge: Edge) -> list[str]:
    """The nodes of the loop ``edge`` would close (from its destination round to it), or []
    when it closes none.  Only wires kept after the edit count: the one ``edge`` replaces on
    its input does not."""
    g = nx.DiGraph((e.src, e.dst) for e in net.edges
                   if (e.dst, e.dst_port) != (edge.dst, edge.dst_port))
    if edge.dst not in g or edge.src not in g or not nx.has_path(g, edge.dst, edge.src):
        return []
    return nx.shortest_path(g, edge.dst, edge.src)


def loop_message(net: Network, loop: list[str]) -> str:
    names = " → ".join([*loop, loop[0]])
    return (f"Not wired: it would close a loop ({names}). A network runs forward only; for "
            "memory over time use an RNN, LSTM or GRU block.")


def can_connect(net: Network, report: Report | None, edge: Edge) -> bool:
    """A wire may go from an output to an input of another node whose kinds fit, and never
    closes a loop (the drag says why when dropped on such a port)."""
    if edge.src == edge.dst or edge.src not in net.nodes or edge.dst not in net.nodes:
        return False
    if edge in net.edges or loop_through(net, edge):
        return False
    return kinds_fit(output_kind(net, report, edge.src, edge.src_port),
                     input_kind(net, edge.dst, edge.dst_port))


def fitting_blocks(shape, kind: str, towards_input: bool = True) -> set[str]:
    """Block types that can take a tensor of ``shape``/``kind`` on their first input (or, with
    ``towards_input=False``, can produce one for an input of that kind)."""
    out = set()
    for spec in blocks.catalogue().values():
        params = spec.defaults()
        if not towards_input:
            outs = spec.output_ports(params)
            if outs and kinds_fit(outs[0].kind, kind):
                out.add(spec.type)
            continue
        ins = spec.input_ports(params)
        if not ins or not kinds_fit(kind, ins[0].kind):
            continue
        if shape is not None and spec.shape is not None and spec.expand is None:
            try:
                spec.shape(params, [tuple(shape)] * len(ins))
            except Exception:  # noqa: BLE001 - any refusal of the rule means "does not fit"
                continue
        out.add(spec.type)
    return out


def add_and_wire(net_name: str, net: Network, block: str, pos, anchor: tuple[str, str, bool]
                 ) -> tuple[Command, str]:
    """Add a block and wire it to the port a dragged wire came from.

    ``anchor`` is (node, port, is_input): an output anchor feeds the new block's first input,
    an input anchor is fed by the new block's first output."""
    node = new_node(net, block, pos)
    ins, outs = node_ports(node)
    commands: list[Command] = [AddNode(net_name, node)]
    a_node, a_port, a_is_input = anchor
    if a_is_input and outs:
        commands.append(Connect(net_name, Edge(node.id, outs[0].name, a_node, a_port)))
    elif not a_is_input and ins:
        commands.append(Connect(net_name, Edge(a_node, a_port, node.id, ins[0].name)))
    return Macro(f"Add {block}", commands), node.id


def delete(net_name: str, node_ids, edges) -> Command | None:
    """Delete nodes (with their wires) and loose wires as one step."""
    node_ids = tuple(dict.fromkeys(node_ids))
    gone = set(node_ids)
    commands: list[Command] = [Disconnect(net_name, e) for e in dict.fromkeys(edges)
                               if e.src not in gone and e.dst not in gone]
    if node_ids:
        commands.append(RemoveNodes(net_name, node_ids))
    if not commands:
        return None
    return commands[0] if len(commands) == 1 else Macro("Delete", commands)


def dissolve(net_name: str, net: Network, node_ids) -> Command | None:
    """Delete nodes but keep the flow: what fed a removed node's first input now feeds
    whatever its outputs fed (Blender's "dissolve"), as one step."""
    gone = [i for i in net.nodes if i in set(node_ids)]
    if not gone:
        return None
    first_in: dict[str, tuple[str, str] | None] = {}
    for node_id in gone:
        ins = node_ports(net.nodes[node_id])[0]
        wire = next((e for e in net.edges if e.dst == node_id and ins and
                     e.dst_port == ins[0].name), None)
        first_in[node_id] = (wire.src, wire.src_port) if wire else None
    feeds: dict[str, tuple[str, str] | None] = {}
    for node_id in gone:  # follow the wires up past other removed nodes
        src, seen = first_in[node_id], {node_id}
        while src is not None and src[0] in first_in:
            if src[0] in seen:  # a loop of removed nodes feeds nothing
                src = None
                break
            seen.add(src[0])
            src = first_in[src[0]]
        feeds[node_id] = src
    commands: list[Command] = [RemoveNodes(net_name, tuple(gone))]
    for e in net.edges:
        if e.src in feeds and e.dst not in feeds and feeds[e.src] is not None:
            src, port = feeds[e.src]
            commands.append(Connect(net_name, Edge(src, port, e.dst, e.dst_port)))
    return Macro("Delete and reconnect", commands)


def set_trainable(net_name: str, net: Network, node_ids, on: bool) -> Command | None:
    ids = tuple(i for i in node_ids if i in net.nodes)
    return SetNodeOptions(net_name, ids, trainable=on) if ids else None


def toggle_bypass(net_name: str, net: Network, node_ids) -> tuple[Command | None, str]:
    """Bypass the selected blocks (or, when all are bypassed, switch it off): one command,
    or none and why.  Where shapes do not allow it, the check says so on the block."""
    ids = tuple(i for i in node_ids if i in net.nodes
                and net.nodes[i].block not in (*SOURCES, "Output"))
    if not ids:
        return None, ("Select a block to bypass (Ctrl+B); Input and Output blocks have "
                      "nothing to pass on")
    on = not all(net.nodes[i].bypass for i in ids)
    command = SetNodeOptions(net_name, ids, bypass=on)
    command.text = f"{'Bypass' if on else 'Restore'} {', '.join(ids)}"
    return command, ""


def paste_nodes(net_name: str, net: Network, fragment: Network, offset=(40.0, 40.0),
                text: str = "Paste") -> tuple[Command | None, list[str]]:
    """Add copies of a fragment's nodes (renamed where taken) and the wires between them."""
    renamed: dict[str, str] = {}
    commands: list[Command] = []
    taken = set(net.nodes)
    for node in fragment.nodes.values():
        new_id = node.id if node.id not in taken else unique_name(node.block, taken)
        taken.add(new_id)
        renamed[node.id] = new_id
        copy = node.copy()
        copy.id = new_id
        copy.pos = (node.pos[0] + offset[0], node.pos[1] + offset[1])
        commands.append(AddNode(net_name, copy))
    for e in fragment.edges:
        if e.src in renamed and e.dst in renamed:
            commands.append(Connect(net_name, Edge(renamed[e.src], e.src_port,
                                                   renamed[e.dst], e.dst_port)))
    if not commands:
        return None, []
    return Macro(text, commands), list(renamed.values())


def fragment_of(net: Network, node_ids) -> Network:
    """The selected nodes and the wires among them, as a small network (for the clipboard)."""
    ids = [i for i in net.nodes if i in set(node_ids)]
    frag = Network("main", {i: net.nodes[i].copy() for i in ids})
    frag.edges = [e for e in net.edges if e.src in frag.nodes and e.dst in frag.nodes]
    return frag


def auto_layout(net_name: str, net: Network) -> Command | None:
    """Columns by topological generation; rows a little taller than the builder's default
    because nodes show up to three params."""
    if not net.nodes:
        return None
    positions = {i: (x, round(y * ROW_STRETCH, 1)) for i, (x, y) in layered_positions(net).items()}
    return Macro("Auto-layout", [MoveNodes(net_name, positions)])
