"""Auto-layout: columns from the graph's topological generations, rows by barycentre."""

from __future__ import annotations

import networkx as nx

from builder.document import Network

__all__ = ["layered_positions", "COLUMN", "ROW"]

COLUMN = 220.0  # horizontal distance between generations, in scene units
ROW = 110.0


def layered_positions(net: Network) -> dict[str, tuple[float, float]]:
    """Positions for every node: generation k goes to column k; within a column nodes are
    ordered by the mean row of their predecessors, which keeps wires mostly straight."""
    g = nx.DiGraph()
    g.add_nodes_from(net.nodes)
    g.add_edges_from((e.src, e.dst) for e in net.edges if e.src in g and e.dst in g)
    if not nx.is_directed_acyclic_graph(g):
        g = nx.condensation(g)  # lay out strongly connected parts as single slots
        members = nx.get_node_attributes(g, "members")
        generations = [[m for c in gen for m in sorted(members[c])]
                       for gen in nx.topological_generations(g)]
        g = nx.DiGraph(e for e in ((s.src, s.dst) for s in net.edges))
        g.add_nodes_from(net.nodes)
    else:
        generations = [list(gen) for gen in nx.topological_generations(g)]
    row: dict[str, float] = {}
    pos: dict[str, tuple[float, float]] = {}
    order = list(net.nodes)
    for col, gen in enumerate(generations):
        def key(n):
            preds = [row[p] for p in g.predecessors(n) if p in row]
            return (sum(preds) / len(preds) if preds else order.index(n), order.index(n))

        gen.sort(key=key)
        offset = (len(gen) - 1) / 2
        for i, n in enumerate(gen):
            row[n] = i - offset + (sum(row.get(p, 0) for p in g.predecessors(n)) /
                                   max(1, g.in_degree(n)) if len(gen) == 1 else 0)
            pos[n] = (col * COLUMN, row[n] * ROW)
    return pos
