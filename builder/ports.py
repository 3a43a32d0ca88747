"""What ports a node has, and its params as the block spec sees them (defaults, coerced)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from builder import blocks
from builder.blocks.spec import ANY, INDEX, TENSOR, BlockSpec, Port

if TYPE_CHECKING:
    from builder.document import Network, Node

__all__ = ["GROUP", "spec_of", "params_of", "node_ports", "default_ports", "source_kind",
           "freeze"]

GROUP = "Group"  # a node holding an editable sub-network in ``node.subnet``


def spec_of(node: Node) -> BlockSpec | None:
    return blocks.REGISTRY.get(node.block)


def freeze(value: Any) -> Any:
    """A hashable twin of a params value (lists → tuples, dicts → sorted item tuples)."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


_PARAMS_CACHE: dict[tuple, tuple[dict, list]] = {}


def params_of(node: Node) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """(coerced params with defaults, [(param, error)]) — memoised on the raw values."""
    spec = spec_of(node)
    if spec is None:
        return dict(node.params), []
    key = (node.block, freeze(node.params))
    hit = _PARAMS_CACHE.get(key)
    if hit is None:
        if len(_PARAMS_CACHE) > 50_000:
            _PARAMS_CACHE.clear()
        hit = _PARAMS_CACHE[key] = spec.coerce_params(node.params)
    return hit


def source_kind(node: Node) -> str:
    """The port kind an Input-like node emits."""
    if node.block == "Input":
        return INDEX if node.params.get("kind") == "tokens" else TENSOR
    return INDEX if node.block == "LabelInput" else TENSOR


def node_ports(node: Node) -> tuple[tuple[Port, ...], tuple[Port, ...]]:
    """(input ports, output ports).  A Group's ports are its sub-network's Inputs/Outputs."""
    if node.block == GROUP and node.subnet is not None:
        sub = node.subnet.nodes.values()
        ins = tuple(Port(n.id, ANY) for n in sub if n.block == "Input")
        outs = tuple(Port(n.id, ANY) for n in sub if n.block == "Output")
        return ins, outs
    spec = spec_of(node)
    if spec is None:
        return (), ()
    params, _ = params_of(node)
    return spec.input_ports(params), spec.output_ports(params)


def default_ports(net: Network, src: str, dst: str, src_port: str | None,
                  dst_port: str | None) -> tuple[str, str]:
    """Fill in ports for a script-level ``connect``: first output, first free input."""
    if src not in net.nodes or dst not in net.nodes:
        missing = src if src not in net.nodes else dst
        raise KeyError(f"network {net.name!r} has no node {missing!r}")
    outs = node_ports(net.nodes[src])[1]
    ins = node_ports(net.nodes[dst])[0]
    if src_port is None:
        if not outs:
            raise ValueError(f"{src!r} has no output port")
        src_port = outs[0].name
    if dst_port is None:
        used = {e.dst_port for e in net.edges if e.dst == dst}
        free = [p.name for p in ins if p.name not in used]
        if not free:
            raise ValueError(f"{dst!r} has no free input port")
        dst_port = free[0]
    return src_port, dst_port
