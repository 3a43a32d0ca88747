"""Compile a network into a ``torch.fx.GraphModule``.

One ``call_module`` per block, with the node's name as the attribute name (``self.conv1``),
``placeholder``s for Input-like nodes and the graph output for Output nodes.  A node id that
torch or Python already uses (``code``, ``forward``, ``class``…) gets the attribute name
``builder.names.attr_names`` gives it (``code_``).  Each fx node keeps the originating canvas
node id in ``meta["layerloom_node"]`` so a runtime error, a statistic or a frozen set maps back
to the canvas.  Groups and composite blocks become nested GraphModules.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
from torch import fx, nn

from builder.document import Network, Node, Project
from builder.names import attr_names, is_reserved, user_path
from builder.ports import GROUP, params_of, source_kind, spec_of
from builder.problems import ERROR, Problem
from builder.propagate import check, subnet_of
from builder.shapes import Shape
from builder.validate import SOURCES

__all__ = [
    "LR_SCALE",
    "CompileError",
    "InputSpec",
    "Compiled",
    "compile_network",
    "compile_project",
    "apply_node_options",
    "aux_losses",
]


class CompileError(ValueError):
    """The network has errors; ``problems`` lists them (each names its node)."""

    def __init__(self, network: str, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  - {p.node or network}: {p.message}" for p in problems[:10])
        more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
        super().__init__(f"network {network!r} cannot be compiled:\n{lines}{more}")


@dataclass(frozen=True)
class InputSpec:
    """One placeholder: which node, its per-sample shape, and what feeds it."""

    name: str
    block: str  # Input, Noise or LabelInput
    shape: Shape
    kind: str  # "tensor" or "index"
    field: str | None  # data field for Input / LabelInput; None for Noise
    params: dict

    @property
    def from_recipe(self) -> bool:
        """Filled by the recipe (noise, or an Input whose source is ``recipe``), not by a
        data field."""
        return self.block == "Noise" or self.params.get("source", "data") == "recipe"


@dataclass
class Compiled:
    network: str
    module: fx.GraphModule
    inputs: list[InputSpec]
    outputs: list[str]  # Output node names, in the order the module returns them

    @property
    def code(self) -> str:
        return self.module.code


def _init_weights(module: nn.Module, how: str) -> None:
    for name, p in module.named_parameters(recurse=True):
        if p.dim() < 2:
            if name.endswith("bias") and how != "default":
                nn.init.zeros_(p)
            continue
        if how == "xavier":
            nn.init.xavier_uniform_(p)
        elif how == "he":
            nn.init.kaiming_uniform_(p, nonlinearity="relu")
        elif how == "orthogonal":
            nn.init.orthogonal_(p.reshape(p.shape[0], -1))


LR_SCALE = "layerloom_lr_scale"  # the attribute a node's learning-rate factor is kept in


def apply_node_options(module: nn.Module, node: Node) -> None:
    """Initialiser, trainable switch and learning-rate factor of a node, applied to its built
    module (the factor as an attribute the optimizer reads: ``LR_SCALE``)."""
    if node.init != "default":
        with torch.no_grad():
            _init_weights(module, node.init)
    if not node.trainable:
        module.requires_grad_(False)
    if node.lr_scale != 1.0:
        setattr(module, LR_SCALE, float(node.lr_scale))


def _build_module(node: Node, params: dict, in_shapes: list[Shape | None],
                  read: set[str]) -> nn.Module:
    sub = subnet_of(node, params, in_shapes)
    if sub is not None:
        inputs = [n.id for n in sub.nodes.values() if n.block == "Input"]
        return compile_network(sub, dict(zip(inputs, in_shapes))).module
    return spec_of(node).make(params, list(in_shapes), read)()


def compile_network(net: Network, input_shapes: dict[str, Shape | None] | None = None) -> Compiled:
    """Compile ``net``; raises CompileError listing every error-level problem."""
    report = check(net, input_shapes)
    errors = [p for p in report.problems if p.severity == ERROR]
    if errors:
        raise CompileError(net.name, errors)
    shapes = report.shapes
    root = nn.Module()
    graph = fx.Graph()
    values: dict[tuple[str, str], fx.Node] = {}
    incoming = {(e.dst, e.dst_port): (e.src, e.src_port) for e in net.edges}
    inputs: list[InputSpec] = []
    results: dict[str, fx.Node] = {}
    attrs = attr_names(net.nodes)
    for node_id in report.graph.order:
        node = net.nodes[node_id]
        in_ports, out_ports = report.graph.ports[node_id]
        params, _ = params_of(node)
        if node.block in SOURCES:
            ph = graph.placeholder(attrs[node_id])
            ph.meta["layerloom_node"] = node_id
            shape = shapes.outputs[node_id][out_ports[0].name]
            field_name = params.get("field") if node.block != "Noise" else None
            inputs.append(InputSpec(node_id, node.block, shape, source_kind(node), field_name,
                                    params))
            values[(node_id, out_ports[0].name)] = ph
            continue
        args = tuple(values.get(incoming[(node_id, p.name)]) if (node_id, p.name) in incoming
                     else None for p in in_ports)
        if node.block == "Output":
            results[node_id] = args[0]
            continue
        if node.bypass:  # checked: the first input has the first output's shape
            values[(node_id, out_ports[0].name)] = args[0]
            continue
        spec = spec_of(node)
        fn = spec.inline(params) if spec is not None and spec.inline else None
        if fn is not None:  # stateless hot-path op: no module call overhead
            values[(node_id, out_ports[0].name)] = call = graph.call_function(fn, args)
            call.meta["layerloom_node"] = node_id
            continue
        in_shapes = [shapes.inputs[node_id][p.name] for p in in_ports]
        read = {e.src_port for e in net.edges if e.src == node_id}
        module = _build_module(node, params, in_shapes, read)
        if node.block == GROUP or spec_of(node).has_weights:
            apply_node_options(module, node)
        root.add_module(attrs[node_id], module)
        call = graph.call_module(attrs[node_id], args)
        call.meta["layerloom_node"] = node_id
        if len(out_ports) == 1:
            values[(node_id, out_ports[0].name)] = call
        else:
            for i, port in enumerate(out_ports):
                item = graph.call_function(operator.getitem, (call, i))
                item.meta["layerloom_node"] = node_id
                values[(node_id, port.name)] = item
    # Document order, as node_ports gives a Group's output ports: the two must agree.
    outputs = [i for i, n in net.nodes.items() if n.block == "Output"]
    graph.output(results[outputs[0]] if len(outputs) == 1 else tuple(results[o] for o in outputs))
    graph.lint()
    gm = fx.GraphModule(root, graph, class_name=_class_name(net.name))
    return Compiled(net.name, gm, inputs, outputs)


def _class_name(name: str) -> str:
    name = "".join(part.capitalize() or "_" for part in name.split("_")) or "Network"
    return name + "_" if is_reserved(name) else name


def compile_project(project: Project) -> dict[str, Compiled]:
    return {name: compile_network(net) for name, net in project.networks.items()}


def aux_losses(module: nn.Module) -> dict[str, torch.Tensor]:
    """Auxiliary losses (sparsity, KL, activity L1) left by the last forward, by node path
    (the user's node ids, dotted inside groups)."""
    out = {}
    for name, m in module.named_modules():
        loss = getattr(m, "aux_loss", None)
        if isinstance(loss, torch.Tensor):
            out[user_path(module, name)] = loss
    return out
