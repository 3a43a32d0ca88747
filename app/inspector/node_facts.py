"""Texts the inspector shows about a node and a network: shapes, sizes, formula, overview.

Plain functions from builder data to strings (rich text where a table helps), so they can be
tested without widgets.
"""

from __future__ import annotations

import html

from app.canvas.look import format_shape
from builder.analysis import NetworkStats
from builder.document import Network, Node
from builder.ports import params_of, spec_of
from builder.problems import ERROR
from builder.propagate import Report

__all__ = ["human", "shapes_html", "cost_text", "formula_text", "overview_html"]


def human(n: int | None, unit: str = "") -> str:
    """1234 → 1,234; 1_234_567 → 1.23 M; None → 'unknown' (a symbolic size)."""
    if n is None:
        return "depends on T"
    for div, suffix in ((1e12, " T"), (1e9, " G"), (1e6, " M")):
        if abs(n) >= div:
            return f"{n / div:.3g}{suffix}{unit}"
    return f"{n:,}{(' ' + unit) if unit else ''}"


def shapes_html(report: Report | None, node_id: str) -> str:
    if report is None:
        return ""
    rows = []
    for label, table in (("in", report.shapes.inputs), ("out", report.shapes.outputs)):
        for port, shape in table.get(node_id, {}).items():
            rows.append(f"<tr><td style='color:gray'>{label}&nbsp;</td><td>{html.escape(port)}"
                        f"&nbsp;&nbsp;</td><td><b>{html.escape(format_shape(shape))}</b></td></tr>")
    if not rows:
        if node_id not in report.shapes.inputs and node_id not in report.shapes.outputs:
            return "<i>Unknown until the inputs are connected and valid.</i>"
        return "<i>Shapes appear once every input is connected.</i>"
    return "<table cellspacing=0 cellpadding=1>" + "".join(rows) + "</table>"


def cost_text(stats: NetworkStats | None, node: Node) -> str:
    s = stats.nodes.get(node.id) if stats else None
    if s is None:
        return "Unknown until the shapes are."
    lines = [f"Parameters: {s.params:,}" + ("" if s.trainable == s.params or not s.params
                                            else f" (frozen: {s.params - s.trainable:,})")]
    lines.append(f"FLOPs per sample: {human(s.flops)}")
    if s.activation_bytes:
        lines.append(f"Output memory per sample: {human(s.activation_bytes, 'B')}")
    if s.receptive_field and s.receptive_field > 1:
        lines.append(f"Receptive field: {s.receptive_field}×{s.receptive_field} input pixels")
    return "\n".join(lines)


def formula_text(report: Report | None, node: Node) -> str:
    spec = spec_of(node)
    if spec is None or spec.explain is None or report is None:
        return ""
    ins = report.shapes.inputs.get(node.id)
    outs = report.shapes.outputs.get(node.id)
    if ins is None or outs is None:
        return "Connect the inputs to see the formula with your numbers."
    params, _ = params_of(node)
    try:
        return spec.explain(params, list(ins.values()), list(outs.values()))
    except Exception as e:  # noqa: BLE001 - an explain that fails must not break the panel
        return f"(no formula for these inputs: {e})"


def overview_html(net: Network, report: Report | None, stats: NetworkStats | None,
                  selected: int = 0) -> str:
    errors = [p for p in report.problems if p.severity == ERROR] if report else []
    warnings = len(report.problems) - len(errors) if report else 0
    rows = [("Blocks", f"{len(net.nodes):,}"), ("Wires", f"{len(net.edges):,}")]
    if stats is not None:
        rows.append(("Parameters", f"{stats.params:,}"))
        if stats.frozen:
            rows.append(("Frozen", f"{stats.frozen:,}"))
        rows.append(("FLOPs / sample", human(stats.flops)))
    rows.append(("Problems", f"{len(errors)} error{'s' * (len(errors) != 1)}, "
                             f"{warnings} warning{'s' * (warnings != 1)}" if report else "?"))
    table = "".join(f"<tr><td style='color:gray'>{k}&nbsp;&nbsp;</td><td>{v}</td></tr>"
                    for k, v in rows)
    hint = (f"<p>{selected} blocks selected.</p>" if selected > 1 else
            "<p style='color:gray'>Select a block to see and edit its parameters. Add blocks by "
            "dragging them from the palette, double-clicking one, or pressing Tab on the "
            "canvas; wire them by dragging from port to port.</p>")
    return f"<table cellspacing=0 cellpadding=2>{table}</table>{hint}"
