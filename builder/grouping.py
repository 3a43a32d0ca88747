"""Sub-networks: group a selection into a Group node, ungroup it, open a composite block as an
editable group.  Each is one undoable command that swaps the network for its edited copy.

A Group's ports are the Input and Output nodes of its sub-network: grouping creates one Input
per distinct outside source feeding the selection and one Output per distinct value leaving it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from builder.commands import Change, Command, CommandError
from builder.document import Edge, Network, Node, Project, resolve_network, unique_name
from builder.ports import GROUP, params_of
from builder.propagate import check, subnet_of

__all__ = ["ReplaceNetwork", "group_nodes", "ungroup", "open_composite"]


@dataclass
class ReplaceNetwork(Command):
    """Swap a network for an edited copy; revert puts the original back (one undo step)."""

    name: str
    new: Network
    text: str = "Edit network"
    _old: Network | None = field(default=None, repr=False)

    def apply(self, project: Project) -> Change:
        self._old = _swap(project, self.name, self.new.copy())
        return Change(self.name, structure=True)

    def revert(self, project: Project) -> Change:
        _swap(project, self.name, self._old)
        return Change(self.name, structure=True)


def _swap(project: Project, path: str, new: Network) -> Network:
    """Put ``new`` where ``path`` points (a network, or a group's sub-network); return the old."""
    parent, _, node_id = path.rpartition("/")
    try:
        if not parent:
            old = project.networks[path]
            project.networks[path] = new
        else:
            holder = resolve_network(project, parent).nodes[node_id]
            old, holder.subnet = holder.subnet, new
    except KeyError:
        raise CommandError(f"there is no network {path!r}") from None
    new.name = old.name
    return old


def _port_name(base: str, taken) -> str:
    """A group port is named after the value it carries (``x``, ``hidden2``), numbered only
    when that name is taken."""
    return base if base not in taken else unique_name(base, taken)


def _centre(nodes: list[Node]) -> tuple[float, float]:
    xs, ys = [n.pos[0] for n in nodes], [n.pos[1] for n in nodes]
    return (sum(xs) / len(xs), sum(ys) / len(ys))


def group_nodes(net: Network, node_ids, name: str | None = None,
                path: str | None = None) -> ReplaceNetwork:
    """A command replacing ``node_ids`` by one Group node holding them.  ``path`` says where
    ``net`` is when it is itself inside a group (``"main/block1"``)."""
    chosen = [i for i in net.nodes if i in set(node_ids)]
    if not chosen:
        raise CommandError("select the blocks to group first")
    for i in chosen:
        if net.nodes[i].block in {"Input", "Output", "Noise", "LabelInput"}:
            raise CommandError(f"{i} is a {net.nodes[i].block}: a group's inputs and outputs "
                               "are made for you from the wires crossing the selection")
    inside = set(chosen)
    report = check(net)
    group_id = name or unique_name("group", net.nodes)
    sub = Network(group_id)
    for i in chosen:
        sub.nodes[i] = net.nodes[i].copy()
    outer = Network(net.name, {k: n.copy() for k, n in net.nodes.items() if k not in inside})
    sources: dict[tuple[str, str], str] = {}  # outside value → Input node id inside
    results: dict[tuple[str, str], str] = {}  # inside value → Output node id inside
    x0, y0 = _centre([net.nodes[i] for i in chosen])
    for e in net.edges:
        src_in, dst_in = e.src in inside, e.dst in inside
        if src_in and dst_in:
            sub.edges.append(e)
        elif not src_in and not dst_in:
            outer.edges.append(e)
        elif dst_in:  # crossing in
            key = (e.src, e.src_port)
            if key not in sources:
                port = _port_name(e.src, sub.nodes)
                shape = report.shapes.outputs.get(e.src, {}).get(e.src_port)
                params = {"shape": list(shape)} if shape and all(
                    isinstance(d, int) or str(d).isidentifier() for d in shape) else {}
                sub.nodes[port] = Node(port, "Input", params, (x0 - 400, y0 + 80 * len(sources)))
                sources[key] = port
                outer.edges.append(Edge(e.src, e.src_port, group_id, port))
            sub.edges.append(Edge(sources[key], "y", e.dst, e.dst_port))
        else:  # crossing out
            key = (e.src, e.src_port)
            if key not in results:
                port = _port_name(f"{e.src}_out", sub.nodes)
                sub.nodes[port] = Node(port, "Output", {}, (x0 + 400, y0 + 80 * len(results)))
                results[key] = port
                sub.edges.append(Edge(e.src, e.src_port, port, "x"))
            outer.edges.append(Edge(group_id, results[key], e.dst, e.dst_port))
    outer.nodes[group_id] = Node(group_id, GROUP, {}, (x0, y0), subnet=sub)
    return ReplaceNetwork(path or net.name, outer, f"Group {len(chosen)} blocks")


def _inline(outer: Network, group_id: str, sub: Network) -> Network:
    """``outer`` with the group node replaced by the sub-network's blocks, rewired."""
    taken = set(outer.nodes) - {group_id}
    rename = {}
    for i, n in sub.nodes.items():
        if n.block not in {"Input", "Output"}:
            rename[i] = i if i not in taken else unique_name(i.rstrip("0123456789_"), taken)
            taken.add(rename[i])
    out = Network(outer.name, {k: n.copy() for k, n in outer.nodes.items() if k != group_id})
    gx, gy = outer.nodes[group_id].pos
    sx, sy = _centre(list(sub.nodes.values()))
    for i, new in rename.items():
        node = sub.nodes[i].copy()
        node.id = new
        node.pos = (node.pos[0] - sx + gx, node.pos[1] - sy + gy)
        out.nodes[new] = node
    feeding = {e.dst_port: (e.src, e.src_port) for e in outer.edges if e.dst == group_id}
    produced = {e.dst: (rename[e.src], e.src_port) if e.src in rename else feeding.get(e.src)
                for e in sub.edges if sub.nodes[e.dst].block == "Output"}
    for e in outer.edges:
        if e.dst == group_id:
            continue
        if e.src == group_id:
            value = produced.get(e.src_port)
            if value is not None:
                out.edges.append(Edge(value[0], value[1], e.dst, e.dst_port))
        else:
            out.edges.append(e)
    for e in sub.edges:
        if e.dst not in rename:
            continue
        if e.src in rename:
            out.edges.append(Edge(rename[e.src], e.src_port, rename[e.dst], e.dst_port))
        elif e.src in feeding:
            src = feeding[e.src]
            out.edges.append(Edge(src[0], src[1], rename[e.dst], e.dst_port))
    return out


def ungroup(net: Network, group_id: str, path: str | None = None) -> ReplaceNetwork:
    node = net.nodes.get(group_id)
    if node is None or node.block != GROUP or node.subnet is None:
        raise CommandError(f"{group_id} is not a group")
    return ReplaceNetwork(path or net.name, _inline(net, group_id, node.subnet),
                          f"Ungroup {group_id}")


def open_composite(net: Network, node_id: str, path: str | None = None) -> ReplaceNetwork:
    """Turn a composite block (Residual, Dense, Inception, MobileNet…) into an editable Group
    holding exactly the sub-network it stood for."""
    node = net.nodes.get(node_id)
    if node is None:
        raise CommandError(f"there is no node {node_id!r}")
    report = check(net)
    ins = report.shapes.inputs.get(node_id)
    if ins is None or any(v is None for v in ins.values()):
        raise CommandError(f"{node_id} needs known input shapes before it can be opened")
    params, _ = params_of(node)
    sub = subnet_of(node, params, list(ins.values()))
    if sub is None or node.block == GROUP:
        raise CommandError(f"{node_id} is not a composite block")
    copy = Network(net.name, {k: n.copy() for k, n in net.nodes.items()}, list(net.edges))
    copy.nodes[node_id] = Node(node_id, GROUP, {}, node.pos, node.trainable, node.init,
                               sub.copy())
    return ReplaceNetwork(path or net.name, copy, f"Open {node_id} as a group")
