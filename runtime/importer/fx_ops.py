"""Walks a traced ``torch.fx`` graph and builds the Layerloom network (``Tracer``)."""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

from runtime.importer.fx_graph import (
    _ACTS,
    _ADDS,
    _CATS,
    _FLATTENS,
    _METHOD_ACTS,
    MODULES,
)
from runtime.importer.graph import GraphBuilder

__all__ = ["Tracer"]

_SIZES = (32, 28, 64, 224, 16, 8)  # image sides tried when the model does not say


class _Miss(Exception):
    pass


class _Lost(Exception):
    """Fed by an unmapped node: already named, so not named again."""


_LOST = object()


def _mapper(m: nn.Module):
    for cls in type(m).__mro__:  # subclasses of a mapped module map as their base
        if cls in MODULES:
            return MODULES[cls]
    return None


class Tracer:
    def __init__(self, model: nn.Module, where: str, input_shapes: list | None):
        self.model, self.where = model.eval(), where
        self.shapes = list(input_shapes or [])
        self.b = GraphBuilder()
        self.vals: dict[fx.Node, object] = {}
        self.state = model.state_dict()

    def run(self, graph: fx.Graph) -> GraphBuilder:
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        for node in graph.nodes:
            try:
                getattr(self, f"_{node.op}")(node, placeholders)
            except _Lost:
                self.vals[node] = _LOST
            except _Miss as e:
                self.vals[node] = _LOST
                what = node.target if isinstance(node.target, str) else \
                    getattr(node.target, "__name__", str(node.target))
                self.b.miss(f"{node.op} {what} ({node.name}): {e}")
        return self.b

    def src(self, arg) -> tuple[str, str]:
        v = self.vals.get(arg) if isinstance(arg, fx.Node) else None
        if v is _LOST:
            raise _Lost
        if not (isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str)):
            raise _Miss(f"its input {arg} is not a tensor a block computes")
        return v

    def put(self, node: fx.Node, block: str, args, weights=None, hint=None, **params):
        node_id = self.b.add(hint or node.name, block, [self.src(a) for a in args],
                             weights, **params)
        self.vals[node] = (node_id, "y")
        return node_id

    # --- fx opcodes -------------------------------------------------------------------

    def _placeholder(self, node, placeholders) -> None:
        i = placeholders.index(node)
        shape, kind = (self.shapes[i], None) if i < len(self.shapes) else self._guess(node)
        if kind is None:
            kind = "image" if len(shape) == 3 else "sequence" if len(shape) == 2 else "vector"
        node_id = self.b.add(node.name, "Input", shape=list(shape), kind=kind,
                             field=node.name if len(placeholders) > 1 else "x")
        self.vals[node] = (node_id, "y")

    def _guess(self, node) -> tuple[list, str]:
        """An input's per-sample shape, from the first module that reads it."""
        for user in node.users:
            if user.op != "call_module":
                continue
            m = self.model.get_submodule(user.target)
            if isinstance(m, nn.Embedding):
                return ["T"], "tokens"
            if isinstance(m, (nn.LSTM, nn.GRU, nn.RNN)):
                return ["T", m.input_size], "sequence"
            if isinstance(m, nn.Linear):
                return [m.in_features], "vector"
            if isinstance(m, nn.BatchNorm1d):
                return [m.num_features], "vector"
            if isinstance(m, nn.Conv2d):
                return [m.in_channels, *self._side(m.in_channels)], "image"
        raise _Miss("cannot tell this input's shape from the module that reads it; "
                    "give it with --input-shape")

    def _side(self, channels: int) -> list[int]:
        """An image size the whole model runs on (a Flatten → Linear head fixes one)."""
        for side in _SIZES:
            try:
                with torch.no_grad():
                    self.model(torch.zeros(2, channels, side, side))
                return [side, side]
            except Exception:
                continue
        raise _Miss(f"no image size among {_SIZES} fits the model; give --input-shape")

    def _get_attr(self, node, _) -> None:
        raise _Miss("a parameter or buffer used directly in forward has no block")

    def _call_module(self, node, _) -> None:
        m = self.model.get_submodule(node.target)
        mapper = _mapper(m)
        if mapper is None:
            raise _Miss(f"no Layerloom block for {type(m).__name__}")
        try:
            block, params = mapper(m)
        except ValueError as e:
            raise _Miss(f"{type(m).__name__}: {e}") from None
        if len(node.args) > 1 or node.kwargs:
            raise _Miss("only a module called on one tensor maps")
        prefix = node.target + "."
        weights = {k[len(prefix):]: v for k, v in self.state.items() if k.startswith(prefix)}
        node_id = self.put(node, block, node.args[:1], weights,
                           hint=node.target.replace(".", "_"), **params)
        if block in ("LSTM", "GRU", "RNN"):
            self.vals[node] = ("rnn", node_id, block)

    def _call_function(self, node, _) -> None:
        f, args, kw = node.target, node.args, node.kwargs
        if f is operator.getitem:
            return self._getitem(node, self.vals.get(args[0]), args[1])
        if f in _ACTS:
            return self.put(node, _ACTS[f], args[:1])
        if f in _ADDS:
            if len(args) != 2 or not all(isinstance(a, fx.Node) for a in args) or kw:
                raise _Miss("only adding two tensors maps (Add)")
            return self.put(node, "Add", args, inputs=2)
        if f in _FLATTENS:
            start = args[1] if len(args) > 1 else kw.get("start_dim", 0)
            end = args[2] if len(args) > 2 else kw.get("end_dim", -1)
            if (start, end) != (1, -1):
                raise _Miss("only flatten(x, 1) maps (Flatten)")
            return self.put(node, "Flatten", args[:1])
        if f in _CATS:
            dim = args[1] if len(args) > 1 else kw.get("dim", 0)
            if dim == 0:
                raise _Miss("joining along the batch axis has no block")
            return self.put(node, "Concat", list(args[0]), inputs=len(args[0]),
                            axis=dim - 1 if dim > 0 else dim)
        if f in (F.softmax, torch.softmax):
            dim = args[1] if len(args) > 1 else kw.get("dim")
            if dim in (0, None):
                raise _Miss("only a softmax over a non-batch axis maps")
            return self.put(node, "Softmax", args[:1], axis=dim - 1 if dim > 0 else dim)
        if f is F.dropout:
            self.vals[node] = self.vals.get(args[0])  # the module form carries p; eval: id
            return None
        raise _Miss("no Layerloom block for this function")

    def _getitem(self, node, v, index) -> None:
        if isinstance(v, tuple) and v[0] == "rnn":
            _, node_id, block = v
            if index == 0:
                self.vals[node] = (node_id, "y")
            elif index == 1:
                self.vals[node] = ("state", node_id) if block == "LSTM" else (node_id, "h")
            else:
                raise _Miss(f"{block} output [{index}]")
        elif isinstance(v, tuple) and v[0] == "state" and index in (0, 1):
            self.vals[node] = (v[1], "hc"[index])
        else:
            raise _Miss("indexing a tensor has no block")

    def _call_method(self, node, _) -> None:
        name, args = node.target, node.args
        if name in _METHOD_ACTS:
            return self.put(node, _METHOD_ACTS[name], args[:1])
        if name in ("contiguous",):
            self.vals[node] = self.vals.get(args[0])
            return None
        if name == "size" and len(args) == 2 and args[1] == 0:
            self.vals[node] = ("batch",)
            return None
        if name == "flatten" and (args[1:] or (node.kwargs.get("start_dim"),))[0] == 1:
            return self.put(node, "Flatten", args[:1])
        if name in ("view", "reshape"):
            dims = list(args[1]) if len(args) == 2 and isinstance(args[1], (tuple, list)) \
                else list(args[1:])
            if not dims or self.vals.get(dims[0]) != ("batch",) or \
                    not all(isinstance(d, int) for d in dims[1:]):
                raise _Miss("only x.view(x.size(0), …) with fixed sizes maps")
            if dims[1:] == [-1]:
                return self.put(node, "Flatten", args[:1])
            return self.put(node, "Reshape", args[:1], shape=dims[1:])
        raise _Miss("no Layerloom block for this tensor method")

    def _output(self, node, _) -> None:
        outs = node.args[0] if isinstance(node.args[0], (tuple, list)) else [node.args[0]]
        for i, arg in enumerate(outs):
            self.b.add("out" if len(outs) == 1 else f"out{i + 1}", "Output", [self.src(arg)])
