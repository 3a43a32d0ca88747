"""Auto-layout: columns from the graph's topological generations, rows by barycentre; a long
chain of columns wraps into bands, read like lines of text, so the whole network fits a
screen at a size where every block is readable."""

from __future__ import annotations

import networkx as nx

from builder.document import Network

__all__ = ["layered_positions", "wrap_bands", "COLUMN", "ROW"]

COLUMN = 220.0  # horizontal distance between generations, in scene units
ROW = 110.0
BAND_GAP = 1.6 * ROW  # between bands: room for the wire back to the next band's start
WRAP_FROM = 7  # columns; up to this many stay in one band
ASPECT = 2.1  # width / height of a canvas beside the docks (1038 × 488 at 1600 × 1000)


def wrap_bands(pos: dict[str, tuple[float, float]], aspect: float = ASPECT
               ) -> dict[str, tuple[float, float]]:
    """Cut a long left-to-right layout into bands of k columns stacked top to bottom, with
    the k whose result fills a canvas of ``aspect`` best (the largest zoom that fits)."""
    columns = sorted({x for x, _ in pos.values()})
    if len(columns) < WRAP_FROM:
        return pos
    col = {x: i for i, x in enumerate(columns)}

    def bands(k: int):
        out, top = {}, 0.0
        for b in range(0, len(columns), k):
            members = {n: p for n, p in pos.items() if b <= col[p[0]] < b + k}
            low = min(y for _, y in members.values())
            high = max(y for _, y in members.values())
            for n, (x, y) in members.items():
                out[n] = ((col[x] - b) * COLUMN, top + y - low)
            top += high - low + BAND_GAP
        width = (min(k, len(columns)) - 1) * COLUMN + COLUMN
        return out, min(aspect / width, 1.0 / (top - BAND_GAP + ROW))

    best = max(range(2, len(columns) + 1), key=lambda k: (bands(k)[1], k))
    return bands(best)[0]


def layered_positions(net: Network, wrap: bool = True) -> dict[str, tuple[float, float]]:
    """Positions for every node: generation k goes to column k; within a column nodes are
    ordered by the mean row of their predecessors, which keeps wires mostly straight.  Long
    chains wrap into bands (``wrap``)."""
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
    return wrap_bands(pos) if wrap else pos
