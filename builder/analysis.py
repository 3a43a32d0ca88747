"""Per-node and per-network figures: parameters (trainable/frozen), FLOPs, activation memory
and receptive field — the "analyze network" table.

Parameter counts come from building the block's module on the meta device (exact, no memory);
FLOPs from each block's fast rule, which tests hold equal to torch's FlopCounterMode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from builder.document import Network
from builder.ports import GROUP, freeze, params_of, spec_of
from builder.propagate import Report, check, subnet_of
from builder.shapes import Shape, is_concrete
from builder.validate import SINKS, SOURCES

__all__ = ["NodeStats", "NetworkStats", "analyze", "count_params", "field_text"]

_PARAM_MEMO: dict[tuple, int] = {}


@dataclass
class NodeStats:
    params: int = 0
    trainable: int = 0
    flops: int | None = 0  # per sample; None where a size is symbolic
    activation_bytes: int | None = 0  # float32 outputs of one sample
    receptive_field: int | None = None  # in input pixels, for spatial chains
    jump: int | None = None  # input pixels between neighbouring outputs


@dataclass
class NetworkStats:
    report: Report
    nodes: dict[str, NodeStats] = field(default_factory=dict)

    @property
    def params(self) -> int:
        return sum(s.params for s in self.nodes.values())

    @property
    def trainable(self) -> int:
        return sum(s.trainable for s in self.nodes.values())

    @property
    def frozen(self) -> int:
        return self.params - self.trainable

    @property
    def flops(self) -> int | None:
        values = [s.flops for s in self.nodes.values()]
        return None if any(v is None for v in values) else sum(values)

    @property
    def activation_bytes(self) -> int | None:
        values = [s.activation_bytes for s in self.nodes.values()]
        return None if any(v is None for v in values) else sum(values)


def field_text(field: int | None, shape) -> str | None:
    """A receptive field for people: ``11×11`` on an image (C, H, W), ``11`` on a sequence;
    None where it means nothing (flat vectors, unknown shapes).  The analysis gives the wider
    axis of a non-square window."""
    if field is None or shape is None or len(shape) not in (2, 3):
        return None
    return f"{field}×{field}" if len(shape) == 3 else str(field)


def count_params(node, params: dict, in_shapes: list[Shape | None]) -> int:
    """Number of parameters of one node's module, built on the meta device (memoised)."""
    key = (node.block, freeze(params), tuple(in_shapes))
    if node.block == GROUP or key not in _PARAM_MEMO:
        sub = subnet_of(node, params, in_shapes)
        if sub is not None:
            inputs = [n.id for n in sub.nodes.values() if n.block == "Input"]
            stats = analyze(sub, dict(zip(inputs, in_shapes)))
            n = stats.params
        else:
            with torch.device("meta"):
                module = spec_of(node).build(params, list(in_shapes))()
            n = sum(p.numel() for p in module.parameters())
        if node.block == GROUP:
            return n
        _PARAM_MEMO[key] = n
    return _PARAM_MEMO[key]


def _flops(node, params, in_shapes, out_shapes) -> int | None:
    if not all(s is None or is_concrete(s) for s in [*in_shapes, *out_shapes]):
        return None
    sub = subnet_of(node, params, in_shapes)
    if sub is not None:
        inputs = [n.id for n in sub.nodes.values() if n.block == "Input"]
        return analyze(sub, dict(zip(inputs, in_shapes))).flops
    spec = spec_of(node)
    return int(spec.flops(params, in_shapes, out_shapes)) if spec.flops else 0


def analyze(net: Network, input_shapes: dict[str, Shape | None] | None = None,
            report: Report | None = None) -> NetworkStats:
    """Figures for every node whose shapes are known (nodes with problems are skipped)."""
    report = report or check(net, input_shapes)
    stats = NetworkStats(report)
    rf: dict[str, tuple[int, int] | None] = {}
    incoming: dict[str, list[str]] = {}
    for e in net.edges:
        incoming.setdefault(e.dst, []).append(e.src)
    for node_id in report.graph.order:
        node = net.nodes[node_id]
        if node_id not in report.shapes.outputs:
            continue
        in_ports, out_ports = report.graph.ports[node_id]
        ins = [report.shapes.inputs[node_id][p.name] for p in in_ports]
        outs = [report.shapes.outputs[node_id][p.name] for p in out_ports]
        params, _ = params_of(node)
        s = NodeStats()
        if node.block in SOURCES:
            rf[node_id] = (1, 1)
        elif node.block not in SINKS:
            s.params = count_params(node, params, ins)
            s.trainable = s.params if node.trainable else 0
            s.flops = _flops(node, params, ins, outs)
            s.activation_bytes = (4 * sum(math.prod(o) for o in outs)
                                  if all(is_concrete(o) for o in outs) else None)
            rf[node_id] = _receptive(node, params, [rf.get(i) for i in incoming.get(node_id, [])])
        if rf.get(node_id) is not None:
            s.receptive_field, s.jump = rf[node_id]
        stats.nodes[node_id] = s
    return stats


def _receptive(node, params, ups: list[tuple[int, int] | None]) -> tuple[int, int] | None:
    """r_out = r_in + (k − 1)·d·j_in and j_out = j_in·s, through windowed blocks."""
    if not ups or any(u is None for u in ups):
        return None
    r_in = max(u[0] for u in ups)
    j_in = max(u[1] for u in ups)
    spec = spec_of(node)
    if spec is None:
        return None
    if spec.rf is not None:
        k, s, d = spec.rf(params)
        return r_in + (k - 1) * d * j_in, j_in * s
    if spec.keeps_space:
        return r_in, j_in
    return None
