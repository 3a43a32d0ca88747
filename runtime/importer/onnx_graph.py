"""ONNX → Layerloom network: operators to blocks, initializers to the blocks' weights.

Torch's exporter spreads one module over several operators (a Linear becomes MatMul + Add,
an LSTM sits between Transposes, a ``view(x.size(0), -1)`` computes its shape with Shape,
Gather and Concat).  So values are tracked with a little context: a graph value knows
whether it is time-major (the ONNX LSTM's layout), and shape arithmetic is evaluated
symbolically (``Dim`` = an axis of the tensor it was read from) so a Reshape whose target
shape is computed at run time still maps when its result is expressible per sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from runtime.importer.graph import GraphBuilder, Unreadable

__all__ = ["import_onnx"]


@dataclass(frozen=True)
class Val:
    """A tensor flowing in the network: the node and port that make it, and its layout
    (``""`` batch-major, ``"tm"`` time-major [T, B, …], ``"tm4"`` an ONNX LSTM's Y)."""

    node: str
    port: str
    layout: str = ""
    rank: int | None = None  # with the batch axis


@dataclass(frozen=True)
class Dim:
    """Axis ``axis`` of a tensor, known only at run time (the batch) or statically."""

    axis: int
    size: int | None


def _attrs(node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _shape(value_info) -> list | None:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in t.shape.dim]


def _hint(node) -> str:
    """``/layer1/conv/Conv`` → ``layer1_conv``: the torch module path the exporter kept."""
    parts = [p for p in node.name.split("/") if p]
    return "_".join(parts[:-1]) or node.op_type.lower()


OPS = {}  # ONNX operator → handler(importer, node, attributes), from onnx_ops and onnx_rnn


def op(*names):
    def wrap(fn):
        for n in names:
            OPS[n] = fn
        return fn
    return wrap


class _Importer:
    def __init__(self, model: onnx.ModelProto, where: str):
        self.where = where
        self.b = GraphBuilder()
        self.vals: dict[str, object] = {}  # Val, np.ndarray (constant) or list (a shape)
        self.ranks = {vi.name: len(s) for vi in (*model.graph.value_info, *model.graph.input,
                                                 *model.graph.output)
                      if (s := _shape(vi)) is not None}
        self.static = {vi.name: _shape(vi) for vi in (*model.graph.value_info, *model.graph.input)}
        self.uses: dict[str, int] = {}
        for n in model.graph.node:
            for i in n.input:
                self.uses[i] = self.uses.get(i, 0) + 1

    def const(self, name: str):
        v = self.vals.get(name)
        return v if isinstance(v, np.ndarray) else None

    def run(self, model: onnx.ModelProto) -> GraphBuilder:
        graph = model.graph
        for init in graph.initializer:
            self.vals[init.name] = numpy_helper.to_array(init)
        inputs = [i for i in graph.input if i.name not in self.vals]
        for vi in inputs:
            self._input(vi, many=len(inputs) > 1)
        for node in graph.node:
            try:
                self._node(node)
            except _Lost:
                self.vals.update(dict.fromkeys(node.output, _LOST))
            except _Miss as e:
                self.vals.update(dict.fromkeys(node.output, _LOST))
                self.b.miss(f"{node.op_type} ({node.name or node.output[0]}): {e}")
        for vi in graph.output:
            v = self.vals.get(vi.name)
            if isinstance(v, Val) and not v.layout:
                self.b.add(vi.name, "Output", [(v.node, v.port)])
            elif not self.b.unmapped:
                self.b.miss(f"output {vi.name}: not a tensor a block computes")
        return self.b

    def _input(self, vi, many: bool) -> None:
        shape = _shape(vi)
        if not shape or len(shape) < 2:
            raise Unreadable(f"{self.where}: input {vi.name!r} needs a batch axis and at least "
                             f"one more (has shape {shape})")
        dims = [d if isinstance(d, int) and d > 0 else (d or "T") for d in shape[1:]]
        integer = vi.type.tensor_type.elem_type in (onnx.TensorProto.INT64,
                                                    onnx.TensorProto.INT32)
        kind = "tokens" if integer else "image" if len(dims) == 3 else \
            "sequence" if len(dims) == 2 else "vector"
        node = self.b.add(vi.name, "Input", shape=dims, kind=kind,
                          field=vi.name if many else "x")
        self.vals[vi.name] = Val(node, "y", rank=len(shape))

    def val(self, name: str) -> Val:
        v = self.vals.get(name)
        if v is _LOST:
            raise _Lost
        if not isinstance(v, Val):
            raise _Miss(f"input {name!r} is not a network tensor")
        return v

    def put(self, node, block: str, src: list[Val], weights=None, **params) -> str:
        if any(v.layout for v in src):
            raise _Miss("its input is time-major (from an LSTM/GRU/RNN) and has no block")
        node_id = self.b.add(_hint(node), block, [(v.node, v.port) for v in src], weights,
                             **params)
        self.vals[node.output[0]] = Val(node_id, "y", rank=self.ranks.get(node.output[0]))
        return node_id

    def _node(self, node) -> None:
        from runtime.importer import onnx_ops, onnx_rnn  # noqa: F401 (they fill OPS)

        op, a = node.op_type, _attrs(node)
        handler = OPS.get(op)
        if handler is None:
            raise _Miss("no Layerloom block for this operator")
        if any(self.vals.get(i) is _LOST for i in node.input):
            raise _Lost
        handler(self, node, a)


class _Miss(Exception):
    """One operator that cannot be mapped; the import goes on to find every other."""


class _Lost(Exception):
    """Fed by an unmapped operator: already named, so not named again."""


_LOST = object()


def import_onnx(path: Path) -> GraphBuilder:
    """The network of an ONNX file; Unreadable for a file that is not ONNX, with the
    unmapped operators left in the builder's ``unmapped``."""
    try:
        model = onnx.load(str(path))
        model = onnx.shape_inference.infer_shapes(model)
    except Exception as e:  # a missing, truncated or foreign file
        raise Unreadable(f"{path} is not a readable ONNX model ({type(e).__name__}: {e})") \
            from None
    if not model.graph.node:
        raise Unreadable(f"{path}: the ONNX graph has no operators")
    return _Importer(model, str(path)).run(model)
