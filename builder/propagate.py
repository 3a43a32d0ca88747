"""Shape propagation: the shape and kind of the tensor on every port, with diagnostics.

Walks the validated graph in topological order and applies each block's fast shape rule.
Results are memoised on (block, params, input shapes), so after an edit only the nodes whose
inputs or params changed are computed again: that is what keeps re-propagation of a
1,000-node network within a few milliseconds.  Composite blocks and groups propagate through
their sub-network.  A Group's inside gets a report of its own (``Report.inner``) whose problems
name the inside by its path, so each shows on the inner node that is wrong; the Group node
carries one summary of them (``Code.IN_GROUP``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from builder.blocks.spec import ANY, INDEX, TENSOR, BlockSpec
from builder.document import Network, Node
from builder.ports import GROUP, freeze, params_of, source_kind, spec_of
from builder.problems import ERROR, WARNING, Code, Problem
from builder.shapes import Shape, ShapeError, concretize, fmt_shape, is_concrete
from builder.validate import SOURCES, Graph, validate

__all__ = ["Shapes", "Report", "propagate", "check", "subnet_of", "meta_shapes", "clear_memo"]

_MEMO: dict[tuple, tuple[bool, object]] = {}
_MEMO_LIMIT = 200_000


def clear_memo() -> None:
    """Forget every memoised rule result (benchmarks measure a cold start with this)."""
    from builder.ports import _PARAMS_CACHE

    _MEMO.clear()
    _PARAMS_CACHE.clear()


@dataclass
class Shapes:
    """Per node: input shapes by port, output shapes by port, output kinds by port."""

    inputs: dict[str, dict[str, Shape | None]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Shape]] = field(default_factory=dict)
    kinds: dict[str, dict[str, str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    inner: dict[str, Report] = field(default_factory=dict)  # per Group node: its inside


@dataclass
class Report:
    """Everything the editor shows about a network: problems, shapes, order."""

    graph: Graph
    shapes: Shapes
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not any(p.severity == ERROR for p in self.problems)

    def problems_of(self, node_id: str) -> list[Problem]:
        return [p for p in self.problems if p.node == node_id]

    @property
    def inner(self) -> dict[str, Report]:
        """The reports of its Groups' insides, by Group node id."""
        return self.shapes.inner

    def all_problems(self) -> list[Problem]:
        """Its own problems, then those inside its groups (at any depth), each naming the
        network it is in by path."""
        found = list(self.problems)
        for report in self.shapes.inner.values():
            found += report.all_problems()
        return found


def subnet_of(node: Node, params: dict, in_shapes: list[Shape | None]) -> Network | None:
    """The sub-network a Group holds or a composite block expands to (memoised)."""
    if node.block == GROUP:
        return node.subnet
    spec = spec_of(node)
    if spec is None or spec.expand is None:
        return None
    key = ("expand", node.block, freeze(params), tuple(in_shapes))
    hit = _MEMO.get(key)
    if hit is None:
        hit = _MEMO[key] = (True, spec.expand(params, list(in_shapes)))
    return hit[1]


def meta_shapes(spec: BlockSpec, params: dict, in_shapes: list[Shape | None],
                symbols: dict[str, int] | None = None) -> list[tuple[int, ...]]:
    """Ground truth: build the module and run it on meta tensors (batch 2)."""
    import torch  # here, not at the top: the block reference reads shapes without it

    module = spec.build(params, list(in_shapes))()
    args = []
    for port, s in zip(spec.input_ports(params), in_shapes):
        if s is None:
            args.append(None)
            continue
        dims = concretize(s, symbols or {})
        dtype = torch.long if port.kind == INDEX else torch.float32
        args.append(torch.zeros((2, *dims), dtype=dtype, device="meta"))
    with torch.no_grad():
        out = module.to("meta")(*args)
    outs = out if isinstance(out, tuple) else (out,)
    return [tuple(o.shape[1:]) for o in outs]


def _block_outputs(node: Node, params: dict, in_shapes: list[Shape | None]) -> list[Shape]:
    """Output shapes of one plain or composite block, or ShapeError (memoised)."""
    key = (node.block, freeze(params), tuple(in_shapes))
    hit = _MEMO.get(key)
    if hit is None:
        spec = spec_of(node)
        try:
            if spec.expand is not None:
                value = _subnet_outputs(node, subnet_of(node, params, in_shapes), in_shapes)
            elif spec.shape is not None:
                value = [tuple(s) for s in spec.shape(params, list(in_shapes))]
            elif all(s is None or is_concrete(s) for s in in_shapes):
                value = meta_shapes(spec, params, in_shapes)
            else:
                raise ShapeError(f"{spec.label} needs fixed input sizes; received "
                                 + ", ".join(fmt_shape(s) for s in in_shapes))
            hit = (True, value)
        except ShapeError as e:
            hit = (False, str(e))
        except (ValueError, RuntimeError, TypeError, ZeroDivisionError) as e:
            # A rule or module that fails in an unforeseen way: still a problem on the node,
            # never a crash of the editor.
            hit = (False, f"{node.block} cannot take inputs "
                          f"{', '.join(fmt_shape(s) for s in in_shapes)}: {e}")
        if len(_MEMO) > _MEMO_LIMIT:
            _MEMO.clear()
        _MEMO[key] = hit
    ok, value = hit
    if not ok:
        raise ShapeError(value)
    return value


def _subnet_outputs(node: Node, sub: Network, in_shapes) -> list[Shape]:
    """A composite block's outputs; a problem inside is one problem on the block (the user
    cannot open its inside without turning it into a group)."""
    inputs = [n.id for n in sub.nodes.values() if n.block == "Input"]
    outputs = [n.id for n in sub.nodes.values() if n.block == "Output"]
    report = check(sub, dict(zip(inputs, in_shapes)))
    errors = [p for p in report.problems if p.severity == ERROR]
    if errors:
        first = errors[0]
        raise ShapeError(f"inside {node.id}: {first.node or first.network}: {first.message}")
    return [report.shapes.inputs[o]["x"] for o in outputs]


def _holds_net(node: Node) -> bool:
    return node.block == GROUP and node.subnet is not None and bool(node.subnet.nodes)


def _inside(G: Graph, out: Shapes, node_id: str, in_ports, in_shapes) -> Report:
    """Check a Group's inside with the shapes that reach it (its Inputs' own where none do
    yet, as its tab shows them) and summarise its problems on the Group node."""
    given = {p.name: s for p, s in zip(in_ports, in_shapes) if s is not None}
    path = f"{G.path}/{node_id}"
    inner = out.inner[node_id] = check(G.net.nodes[node_id].subnet, given or None, path)
    found = [p for p in inner.all_problems() if p.code != Code.IN_GROUP]
    if found:
        first = next((p for p in found if p.severity == ERROR), found[0])
        steps = [*first.network[len(path) + 1:].split("/"), first.node or ""]
        where = " ▸ ".join(w for w in steps if w)  # from the group in: "pair ▸ conv2"
        n = len(found)
        out.problems.append(Problem(
            Code.IN_GROUP, f"{n} problem{'s' * (n != 1)} inside {node_id}: "
            + (f"{where}: " if where else "") + first.message, G.path, node_id,
            severity=first.severity))
    return inner


def _kind_problem(G: Graph, node_id: str, port, got: str, src: str) -> Problem | None:
    if port.kind == ANY or got == port.kind or got == ANY:
        return None
    block = G.net.nodes[node_id].block
    if port.kind == TENSOR:
        message = (f"{block} expects real-valued inputs but {src} sends integer ids; "
                   "insert an Embedding to turn ids into vectors")
        fix = {"insert": "Embedding", "before": node_id, "port": port.name}
    else:
        message = f"{block} expects integer ids but {src} sends real values"
        fix = None
    return Problem(Code.PORT_KIND, message, G.path, node_id, port.name, fix=fix)


_SAME_PADDING = {"Conv2d", "SeparableConv2d", "SpatialSeparableConv2d", "Conv1d"}


def _shape_fix(G: Graph, out: Shapes, node_id: str, in_shapes) -> dict | None:
    """The obvious repair of a shape problem, where there is one: inputs of a join whose
    spatial sizes differ because an upstream stride-1 convolution shrinks them get that
    convolution's padding set to "same"."""
    node = G.net.nodes[node_id]
    if node.block not in {"Concat", "Add", "Multiply"}:
        return None
    sizes = [s[1:] for s in in_shapes if s is not None and len(s) >= 2]
    if len(sizes) < 2:
        return None
    target = max(sizes, key=lambda s: tuple(d if isinstance(d, int) else 0 for d in s))
    for e in G.net.edges:
        if e.dst != node_id:
            continue
        src = G.net.nodes[e.src]
        shape = out.outputs.get(e.src, {}).get(e.src_port)
        ins = out.inputs.get(e.src, {})
        if src.block not in _SAME_PADDING or shape is None or shape[1:] == target:
            continue
        params, _ = params_of(src)
        if params.get("stride", 1) in (1, (1, 1)) and params.get("padding") != "same" and any(
                s is not None and s[1:] == target for s in ins.values()):
            return {"set": {"padding": "same"}, "node": e.src}
    return None


def _lint(G: Graph, out: Shapes) -> list[Problem]:
    """Valid but probably unintended: a dense layer applied to the last axis of an image."""
    found = []
    for node_id, node in G.net.nodes.items():
        if node.block not in {"Linear", "DropConnectLinear"}:
            continue
        shape = out.inputs.get(node_id, {}).get("x")
        if shape is not None and len(shape) == 3:
            found.append(Problem(
                Code.SHAPE, f"{node.block} acts on the last axis only of {fmt_shape(shape)}; "
                "to connect every value, flatten the image first", G.path, node_id,
                severity=WARNING, fix={"insert": "Flatten", "before": node_id, "port": "x"}))
    return found


def _bypass(G: Graph, out: Shapes) -> list[Problem]:
    """A bypassed block hands its first input on as its first output: only where the two
    have one shape, and nothing reads its other outputs."""
    found = []
    for node_id, node in G.net.nodes.items():
        if not node.bypass:
            continue
        ins, outs = G.ports.get(node_id, ((), ()))
        said = None
        if not ins or not outs:
            said = f"{node.block} has no input to pass on; it cannot be bypassed"
        else:
            a = out.inputs.get(node_id, {}).get(ins[0].name)
            b = out.outputs.get(node_id, {}).get(outs[0].name)
            extra = sorted({e.src_port for e in G.net.edges if e.src == node_id}
                           - {outs[0].name})
            if a is not None and b is not None and tuple(a) != tuple(b):
                said = (f"bypassed, but it turns {fmt_shape(a)} into {fmt_shape(b)}: its input "
                        "cannot stand in for its output. Switch the bypass off (Ctrl+B)")
            elif extra:
                said = (f"bypassed, but its output {', '.join(extra)} is wired: a bypass passes "
                        f"on only {ins[0].name} as {outs[0].name}")
        if said:
            found.append(Problem(Code.BYPASS, said, G.path, node_id))
    return found


def propagate(G: Graph, input_shapes: dict[str, Shape | None] | None = None) -> Shapes:
    """Shapes on every port of the acyclic part of the network.

    ``input_shapes`` overrides the shapes of Input nodes (a group receives its outer shapes).
    """
    net = G.net
    out = Shapes()
    incoming: dict[str, dict[str, tuple[str, str]]] = {}
    for e in net.edges:
        incoming.setdefault(e.dst, {})[e.dst_port] = (e.src, e.src_port)
    overrides = input_shapes or {}
    for node_id in G.order:
        node = net.nodes[node_id]
        if node.block != GROUP and spec_of(node) is None:
            continue
        params, _ = params_of(node)
        in_ports, out_ports = G.ports[node_id]
        wires = incoming.get(node_id, {})
        in_shapes: list[Shape | None] = []
        in_kinds: list[str] = []
        ready = True
        for port in in_ports:
            src = wires.get(port.name)
            shape = out.outputs.get(src[0], {}).get(src[1]) if src else None
            if src is not None and shape is None:
                ready = False  # upstream failed or is unknown: its own problem says why
            if src is None and not port.optional:
                ready = False
            in_shapes.append(shape)
            kind = out.kinds.get(src[0], {}).get(src[1], ANY) if src else ANY
            in_kinds.append(kind)
            if src is not None:
                problem = _kind_problem(G, node_id, port, kind, src[0])
                if problem:
                    out.problems.append(problem)
                    ready = False
        out.inputs[node_id] = dict(zip((p.name for p in in_ports), in_shapes))
        if node.block == GROUP:
            # the inside is checked even when the outside is not ready, so that its own
            # problems are listed; its outputs are known only when all is well inside
            inner = _inside(G, out, node_id, in_ports, in_shapes) if _holds_net(node) else None
            if not ready or inner is None or not inner.ok:
                continue  # EMPTY_GROUP or the summary says why
            outputs = [n for n in node.subnet.nodes.values() if n.block == "Output"]
            shapes = [inner.shapes.inputs.get(n.id, {}).get("x") for n in outputs]
        elif not ready:
            continue
        elif node.block in SOURCES and node_id in overrides:
            shapes = [overrides[node_id]]
        else:
            try:
                shapes = _block_outputs(node, params, in_shapes)
            except ShapeError as e:
                out.problems.append(Problem(Code.SHAPE, str(e), G.path, node_id,
                                            fix=_shape_fix(G, out, node_id, in_shapes)))
                continue
        first_kind = next((k for k in in_kinds if k != ANY), TENSOR)
        kinds = {}
        for port in out_ports:
            if node.block in SOURCES:
                kinds[port.name] = source_kind(node)
            else:
                kinds[port.name] = first_kind if port.kind == ANY else port.kind
        out.outputs[node_id] = dict(zip((p.name for p in out_ports), shapes))
        out.kinds[node_id] = kinds
    for node_id, node in net.nodes.items():  # groups on or after a cycle: their insides too
        if _holds_net(node) and node_id not in out.inner:
            _inside(G, out, node_id, (), ())
    return out


def check(net: Network, input_shapes: dict[str, Shape | None] | None = None,
          path: str | None = None) -> Report:
    """Validate and propagate shapes: the one call the editor and CLI make after an edit.

    ``path`` names a group's inside in its problems ("main/block1"; default: ``net.name``).
    """
    G = Graph(net, path or "")
    problems = validate(G)
    shapes = propagate(G, input_shapes)
    return Report(G, shapes, problems + shapes.problems + _lint(G, shapes) + _bypass(G, shapes))
