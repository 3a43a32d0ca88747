"""What a node looks like, computed from the document: texts, ports, size, port positions.

A ``NodeLook`` is a plain frozen value, so the scene can compare the old and the new look and
repaint a node only when something visible changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from builder.blocks.spec import BlockSpec
from builder.document import Node
from builder.ports import GROUP, node_ports, params_of, spec_of

__all__ = ["NodeLook", "look_of", "DOT", "format_value", "format_shape", "NODE_W", "HEADER_H",
           "LINE_H", "PORT_GAP", "PORT_R", "GRID"]

NODE_W = 140.0  # leaves room for a shape label between nodes 220 apart
HEADER_H = 22.0
LINE_H = 15.0
PORT_GAP = 18.0  # vertical distance between two ports
PORT_TOP = HEADER_H + 13.0  # first port, level with the first body line
PORT_R = 4.5
GRID = 20.0
MAX_LINES = 3


@dataclass(frozen=True)
class NodeLook:
    title: str
    name: str
    category: str
    lines: tuple[str, ...]
    inputs: tuple[tuple[str, str, bool], ...]  # (name, kind, optional)
    outputs: tuple[tuple[str, str], ...]  # (name, kind)
    frozen: bool
    known: bool  # the block type exists in the catalogue
    width: float
    height: float
    port_top: float  # y of the first port; below the texts when ports carry labels
    group: bool = False  # a Group: drawn as a stack, ports always named (its inner Inputs)
    bypassed: bool = False  # dimmed, a line from its first input straight to its output
    dot: bool = False  # a reroute point: a small dot on the wire, no box

    def port_pos(self, name: str, is_input: bool) -> tuple[float, float] | None:
        ports = self.inputs if is_input else self.outputs
        for i, port in enumerate(ports):
            if port[0] == name:
                return (0.0 if is_input else self.width, self.port_top + i * PORT_GAP)
        return None


def format_value(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "×".join(str(v) for v in value)
    return str(value)


def format_shape(shape, brackets: bool = True) -> str:
    if shape is None:
        return "?"
    if len(shape) == 0:
        return "scalar"
    text = "×".join(str(d) for d in shape)
    return f"[{text}]" if brackets else text


def _key_lines(spec: BlockSpec, params: dict) -> tuple[str, ...]:
    """Up to three params worth reading on the canvas: the block's first (its main size) and
    then those that differ from their defaults (a conv's padding 2, not its stride 1)."""
    lines = []
    for i, p in enumerate(spec.params):
        value = params.get(p.name, p.default)
        if (i > 0 or p.kind in ("bool", "str")) and value == p.default:
            continue
        if p.kind == "dims" and isinstance(value, (list, tuple)):
            text = f"{p.name} {format_shape(tuple(value))}"
        else:
            text = f"{p.name} {format_value(value)}"
        lines.append(text)
        if len(lines) == MAX_LINES:
            break
    return tuple(lines)


DOT = 16.0  # a reroute point's size


def look_of(node: Node) -> NodeLook:
    spec = spec_of(node)
    ins, outs = node_ports(node)
    if node.block == "Reroute":
        return NodeLook("Reroute point", node.id, spec.category, (),
                        tuple((p.name, p.kind, p.optional) for p in ins),
                        tuple((p.name, p.kind) for p in outs), False, True, DOT, DOT, DOT / 2,
                        dot=True)
    if spec is not None:
        params, _ = params_of(node)
        lines = _key_lines(spec, params)
        title, category = spec.label, spec.category
        frozen = spec.has_weights and not node.trainable
        if spec.has_weights and node.lr_scale != 1.0:
            lines = (*lines, f"learning rate ×{node.lr_scale:g}")
    elif node.block == GROUP and node.subnet is not None:
        inner = sum(n.block not in ("Input", "Output") for n in node.subnet.nodes.values())
        lines = (f"{inner} block{'s' * (inner != 1)} inside",)
        title, category, frozen = "Group", "Composite", False
    else:
        lines = ()
        title = node.block
        category = "Composite" if node.subnet is not None else ""
        frozen = not node.trainable
    body_lines = 1 + len(lines)  # the node's name, then its key params
    text_h = HEADER_H + 6 + body_lines * LINE_H + 6
    group = node.block == GROUP
    labelled = len(ins) > 1 or len(outs) > 1 or group
    port_top = text_h + 6 if labelled else PORT_TOP
    port_h = port_top + max(len(ins), len(outs), 1) * PORT_GAP - 6
    return NodeLook(
        title=title,
        name=node.id,
        category=category,
        lines=lines,
        inputs=tuple((p.name, p.kind, p.optional) for p in ins),
        outputs=tuple((p.name, p.kind) for p in outs),
        frozen=frozen,
        known=spec is not None or node.subnet is not None,
        width=NODE_W,
        height=float(max(text_h, port_h, 48.0)),
        port_top=port_top,
        group=group,
        bypassed=node.bypass,
    )
