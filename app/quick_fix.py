"""Problem fixes: the plain-data ``Problem.fix`` turned into one undoable command.

Understood forms:
- ``{"insert": BLOCK, "before": NODE, "port": PORT}``: put BLOCK on the wire into NODE.PORT.
- ``{"insert": BLOCK, "after": NODE, "port": PORT}``: put BLOCK on the wires out of NODE.PORT.
- ``{"set": {PARAM: VALUE, ...}, "node": NODE}``: change params of NODE (default: the
  problem's node).
"""

from __future__ import annotations

from app.canvas.edits import new_node
from builder import blocks
from builder.commands import AddNode, Command, Connect, Macro, SetParams
from builder.document import Edge, Project, resolve_network
from builder.ports import node_ports
from builder.problems import Problem

__all__ = ["fix_label", "fix_command"]


def fix_label(problem: Problem) -> str | None:
    fix = problem.fix or {}
    if "insert" in fix and fix["insert"] in blocks.catalogue():
        return f"Insert {blocks.get(fix['insert']).label}"
    if isinstance(fix.get("set"), dict):
        return "Set " + ", ".join(f"{k} = {v}" for k, v in fix["set"].items())
    return None


def fix_command(project: Project, problem: Problem) -> Command | None:
    fix = problem.fix or {}
    try:  # a network by name, or a group's inside by path ("main/block1")
        net = resolve_network(project, problem.network)
    except KeyError:
        return None
    if fix_label(problem) is None:
        return None
    where = problem.network  # commands address the inside by the same path
    if "set" in fix:
        node = fix.get("node", problem.node)
        if node not in net.nodes:
            return None
        return SetParams(where, node, dict(fix["set"]))
    block, port = fix["insert"], fix.get("port")
    if "before" in fix:
        dst = fix["before"]
        if dst not in net.nodes:
            return None
        wires = [e for e in net.edges if e.dst == dst and e.dst_port == port]
        anchor = net.nodes[dst].pos
        pos = (anchor[0] - 60, anchor[1] + 110)
    elif "after" in fix:
        src = fix["after"]
        if src not in net.nodes:
            return None
        wires = [e for e in net.edges if e.src == src and (port is None or e.src_port == port)]
        anchor = net.nodes[src].pos
        pos = (anchor[0] + 60, anchor[1] + 110)
    else:
        return None
    node = new_node(net, block, pos)
    ins, outs = node_ports(node)
    if not ins or not outs:
        return None
    commands: list[Command] = [AddNode(where, node)]
    if "before" in fix:
        for e in wires[:1]:
            commands.append(Connect(where, Edge(e.src, e.src_port, node.id, ins[0].name)))
        commands.append(Connect(where, Edge(node.id, outs[0].name, fix["before"], port)))
    else:
        out_port = port or (wires[0].src_port if wires else None)
        if out_port is None:
            return None
        commands.append(Connect(where, Edge(fix["after"], out_port, node.id, ins[0].name)))
        for e in wires:  # Connect replaces each old wire into the same input
            commands.append(Connect(where, Edge(node.id, outs[0].name, e.dst, e.dst_port)))
    return Macro(fix_label(problem), commands)
