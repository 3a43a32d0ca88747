"""Structural validation with networkx: a list of small rules, each testable alone.

Each rule takes a ``Graph`` (the network plus its networkx view) and yields ``Problem``s.
Shape and port-kind problems come from ``builder.propagate``, which walks the same graph.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

from builder.blocks.lazy import lazy
from builder.blocks.spec import Port
from builder.document import Network
from builder.ports import GROUP, node_ports, params_of, spec_of
from builder.problems import WARNING, Code, Problem

__all__ = ["Graph", "RULES", "validate", "SOURCES", "SINKS"]

nx = lazy("networkx")  # ~0.5 s to import: only once a graph is checked, not for the reference

SOURCES = frozenset({"Input", "Noise", "LabelInput"})
SINKS = frozenset({"Output"})


@dataclass
class Graph:
    """A network with its ports resolved and a networkx DiGraph of its wiring.

    ``path`` is what its problems name as their network: its name, or inside a group the
    path a command edits it by ("main/block1").
    """

    net: Network
    path: str = ""
    ports: dict[str, tuple[tuple[Port, ...], tuple[Port, ...]]] = field(init=False)

    def __post_init__(self):
        self.path = self.path or self.net.name
        self.ports = {i: node_ports(n) for i, n in self.net.nodes.items()}

    @cached_property
    def g(self) -> nx.DiGraph:
        g = nx.DiGraph()
        g.add_nodes_from(self.net.nodes)
        g.add_edges_from((e.src, e.dst) for e in self.net.edges
                         if e.src in self.net.nodes and e.dst in self.net.nodes)
        return g

    @cached_property
    def cyclic(self) -> frozenset[str]:
        """Nodes on a cycle (in a non-trivial strongly connected component or a self-loop)."""
        if nx.is_directed_acyclic_graph(self.g):
            return frozenset()
        out: set[str] = set()
        for comp in nx.strongly_connected_components(self.g):
            if len(comp) > 1:
                out |= comp
        out |= {u for u, v in nx.selfloop_edges(self.g)}
        return frozenset(out)

    @cached_property
    def order(self) -> list[str]:
        """Topological order of the acyclic part (nodes downstream of a cycle excluded)."""
        if not self.cyclic:
            return list(nx.topological_sort(self.g))
        blocked = set(self.cyclic)
        for n in list(blocked):
            blocked |= nx.descendants(self.g, n)
        return list(nx.topological_sort(self.g.subgraph(n for n in self.g if n not in blocked)))


Rule = Callable[[Graph], Iterator[Problem]]


def unknown_blocks(G: Graph):
    for node in G.net.nodes.values():
        if node.block == GROUP:
            if node.subnet is None or not node.subnet.nodes:
                yield Problem(Code.EMPTY_GROUP, "this group holds no sub-network", G.path,
                              node.id)
        elif spec_of(node) is None:
            yield Problem(Code.UNKNOWN_BLOCK, f"unknown block type {node.block!r}", G.path,
                          node.id)


def params_in_range(G: Graph):
    for node in G.net.nodes.values():
        for name, message in params_of(node)[1]:
            yield Problem(Code.PARAM, message, G.path, node.id, name)


def cycles(G: Graph):
    if not G.cyclic:
        return
    for comp in nx.strongly_connected_components(G.g.subgraph(G.cyclic)):
        loop = nx.find_cycle(G.g.subgraph(comp))
        names = " → ".join([u for u, _ in loop] + [loop[0][0]])
        for node_id in sorted(comp):
            yield Problem(Code.CYCLE, f"this node is on a cycle ({names}); a feed-forward "
                          "network must not loop back — use a recurrent block for recurrence",
                          G.path, node_id)


def ports_wired(G: Graph):
    """Every edge names real ports, each input takes at most one wire, required ones one."""
    seen: dict[tuple[str, str], str] = {}
    for e in G.net.edges:
        if e.src not in G.net.nodes or e.dst not in G.net.nodes:
            missing = e.src if e.src not in G.net.nodes else e.dst
            yield Problem(Code.UNKNOWN_PORT, f"a wire refers to a missing node {missing!r}",
                          G.path, e.dst if e.dst in G.net.nodes else None)
            continue
        outs = {p.name for p in G.ports[e.src][1]}
        ins = {p.name for p in G.ports[e.dst][0]}
        if e.src_port not in outs:
            yield Problem(Code.UNKNOWN_PORT, f"{e.src} has no output {e.src_port!r}", G.path,
                          e.src, e.src_port)
        if e.dst_port not in ins:
            yield Problem(Code.UNKNOWN_PORT, f"no input port {e.dst_port!r} (it has "
                          f"{', '.join(sorted(ins)) or 'none'})", G.path, e.dst, e.dst_port)
        key = (e.dst, e.dst_port)
        if key in seen:
            yield Problem(Code.DUPLICATE_INPUT, f"input {e.dst_port!r} receives two wires "
                          f"(from {seen[key]} and {e.src}); an input takes one — add or "
                          "concatenate them first", G.path, e.dst, e.dst_port)
        seen[key] = e.src
    for node_id, (ins, _) in G.ports.items():
        for p in ins:
            if not p.optional and (node_id, p.name) not in seen:
                label = G.net.nodes[node_id].block
                yield Problem(Code.MISSING_INPUT, f"{label} input {p.name!r} is not connected",
                              G.path, node_id, p.name)


def has_inputs_and_outputs(G: Graph):
    blocks_used = {n.block for n in G.net.nodes.values()}
    if not blocks_used & SOURCES:
        yield Problem(Code.NO_INPUT, f"network {G.net.name!r} has no Input block",
                      G.path)
    if not blocks_used & SINKS:
        yield Problem(Code.NO_OUTPUT, f"network {G.net.name!r} has no Output block",
                      G.path)


def reachability(G: Graph):
    sources = [i for i, n in G.net.nodes.items() if n.block in SOURCES]
    sinks = [i for i, n in G.net.nodes.items() if n.block in SINKS]
    if not sources or not sinks:
        return  # reported by has_inputs_and_outputs
    fed = set(sources).union(*(nx.descendants(G.g, s) for s in sources))
    used = set(sinks).union(*(nx.ancestors(G.g, s) for s in sinks))
    for node_id, node in G.net.nodes.items():
        if node_id not in fed:
            yield Problem(Code.UNREACHABLE, "no input reaches this block", G.path, node_id,
                          severity=WARNING)
        elif node_id not in used and node.block not in SOURCES:
            yield Problem(Code.UNUSED, "this block's result never reaches an Output",
                          G.path, node_id, severity=WARNING)


RULES: tuple[Rule, ...] = (
    unknown_blocks,
    params_in_range,
    cycles,
    ports_wired,
    has_inputs_and_outputs,
    reachability,
)


def validate(G: Graph | Network) -> list[Problem]:
    G = G if isinstance(G, Graph) else Graph(G)
    return [p for rule in RULES for p in rule(G)]
