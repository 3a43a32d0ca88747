"""One handler per ONNX operator (registered in ``onnx_graph.OPS``): each turns the operator
into a block, a change of layout, a constant, or a piece of shape arithmetic; ``_Miss``
names what does not map."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from runtime.importer.onnx_graph import Dim, Val, _Miss, op
from runtime.importer.onnx_rnn import _last_step

__all__ = []

def _pair(values, what: str):
    values = list(values)
    if len(values) != 2:
        raise _Miss(f"only 2-D {what} maps (Conv2d, pooling 2d); got {len(values)}-D")
    return values if values[0] != values[1] else values[0]


def _pads(a, what: str):
    pads = list(a.get("pads", [0, 0, 0, 0]))
    half = len(pads) // 2
    if pads[:half] != pads[half:]:
        raise _Miss(f"asymmetric {what} padding {pads} has no block")
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise _Miss(f"auto_pad={a['auto_pad']!r} is not supported; export with explicit pads")
    return _pair(pads[:half], what)


@op("Constant")
def _constant(im, node, a):
    from onnx import numpy_helper

    if "value" not in a:
        raise _Miss("only tensor constants map")
    im.vals[node.output[0]] = numpy_helper.to_array(a["value"])


@op("Identity", "Dropout")
def _alias(im, node, a):
    im.vals[node.output[0]] = im.vals.get(node.input[0])


@op("Relu", "Sigmoid", "Tanh")
def _activation(im, node, a):
    im.put(node, node.op_type.replace("Relu", "ReLU"), [im.val(node.input[0])])


@op("Softmax")
def _softmax(im, node, a):
    axis = a.get("axis", -1)
    if axis == 0:
        raise _Miss("a softmax over the batch axis has no block")
    im.put(node, "Softmax", [im.val(node.input[0])], axis=axis - 1 if axis > 0 else axis)


@op("Gemm")
def _gemm(im, node, a):
    x, w = im.val(node.input[0]), im.const(node.input[1])
    bias = im.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if w is None or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or \
            a.get("beta", 1.0) != 1.0 or (len(node.input) > 2 and bias is None):
        raise _Miss("only x·Wᵀ + b with constant W and b maps (a Linear)")
    w = w if a.get("transB", 0) else w.T
    weights = {"weight": w} | ({"bias": np.broadcast_to(bias, w.shape[:1])}
                               if bias is not None else {})
    im.put(node, "Linear", [x], weights, units=int(w.shape[0]), bias=bias is not None)


@op("MatMul")
def _matmul(im, node, a):
    x, w = im.val(node.input[0]), im.const(node.input[1])
    if w is None or w.ndim != 2:
        raise _Miss("only a product with a constant 2-D matrix maps (a Linear)")
    im.put(node, "Linear", [x], {"weight": w.T}, units=int(w.shape[1]), bias=False)


@op("Add")
def _add(im, node, a):
    consts = [im.const(i) for i in node.input]
    if all(c is None for c in consts):
        im.put(node, "Add", [im.val(i) for i in node.input], inputs=2)
        return
    bias, other = (consts[0], node.input[1]) if consts[0] is not None else \
        (consts[1], node.input[0])
    if bias is None or other not in im.vals:
        raise _Miss("adding two constants")
    v = im.val(other)
    lin = im.b.net.nodes[v.node]
    # MatMul + Add is how torch exports a Linear on a sequence: fold the bias in.
    if lin.block != "Linear" or lin.params.get("bias", True) or im.uses.get(other, 0) != 1 \
            or bias.size != lin.params["units"]:
        raise _Miss("adding a constant tensor has no block (only a Linear's bias maps)")
    lin.params["bias"] = True
    im.b.weights[f"{v.node}.bias"] = torch.from_numpy(bias.reshape(-1).copy())
    im.vals[node.output[0]] = v


@op("Conv")
def _conv(im, node, a):
    x, w = im.val(node.input[0]), im.const(node.input[1])
    bias = im.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if w is None or (len(node.input) > 2 and node.input[2] and bias is None):
        raise _Miss("only a convolution with constant weights maps")
    weights = {"weight": w} | ({"bias": bias} if bias is not None else {})
    im.put(node, "Conv2d", [x], weights, filters=int(w.shape[0]),
           kernel=_pair(w.shape[2:], "convolution"),
           stride=_pair(a.get("strides", [1, 1]), "convolution"),
           padding=_pads(a, "convolution"),
           dilation=_pair(a.get("dilations", [1, 1]), "convolution"),
           groups=int(a.get("group", 1)), bias=bias is not None)


@op("MaxPool", "AveragePool")
def _pool(im, node, a):
    if len(node.output) > 1 and node.output[1]:
        raise _Miss("max-pooling indices have no block")
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        raise _Miss("dilated pooling has no block")
    kernel = _pair(a["kernel_shape"], "pooling")
    params = dict(kernel=kernel, stride=_pair(a.get("strides", a["kernel_shape"]), "pooling"),
                  padding=_pads(a, "pooling"), ceil_mode=bool(a.get("ceil_mode", 0)))
    if node.op_type == "AveragePool":
        params["count_include_pad"] = bool(a.get("count_include_pad", 0))
    im.put(node, "MaxPool2d" if node.op_type == "MaxPool" else "AvgPool2d",
           [im.val(node.input[0])], **params)


@op("GlobalAveragePool")
def _gap(im, node, a):  # keeps [C, 1, 1], as the adaptive pool does
    im.put(node, "AdaptiveAvgPool2d", [im.val(node.input[0])], size=1)


@op("ReduceMean")
def _mean(im, node, a):
    x = im.val(node.input[0])
    axes = a.get("axes")
    if axes is None and len(node.input) > 1:
        axes = im.const(node.input[1])
    rank = x.rank or 0
    axes = sorted(int(i) % rank for i in axes) if axes is not None and rank else None
    if a.get("keepdims", 1) or not rank or axes != list(range(2, rank)):
        raise _Miss("only a mean over every axis after the channels, dropping them, maps "
                    "(GlobalAvgPool)")
    net = im.b.net
    prev = net.nodes[x.node]
    if prev.block == "Reshape" and len(prev.params["shape"]) == 2 and \
            prev.params["shape"][1] == -1 and im.uses.get(node.input[0], 0) == 1:
        # torch's adaptive_avg_pool exports as reshape [N, C, -1] + mean: one GlobalAvgPool
        feed = net.inputs_of(x.node)["x"]
        net.edges.remove(feed)
        del net.nodes[x.node]
        x = Val(feed.src, feed.src_port)
    im.put(node, "GlobalAvgPool", [x])


@op("BatchNormalization")
def _batchnorm(im, node, a):
    scale, bias, mean, var = (im.const(i) for i in node.input[1:5])
    if any(t is None for t in (scale, bias, mean, var)):
        raise _Miss("only batch norm with constant statistics maps")
    im.put(node, "BatchNorm", [im.val(node.input[0])],
           {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var,
            "num_batches_tracked": np.array(0)},
           eps=float(a.get("epsilon", 1e-5)), momentum=round(1 - a.get("momentum", 0.9), 6))


@op("Flatten")
def _flatten(im, node, a):
    if a.get("axis", 1) != 1:
        raise _Miss(f"only Flatten(axis=1) maps; got axis={a.get('axis')}")
    im.put(node, "Flatten", [im.val(node.input[0])])


@op("Concat")
def _concat(im, node, a):
    parts = [im.vals.get(i) for i in node.input]
    if all(isinstance(p, (list, np.ndarray)) for p in parts):  # shape arithmetic
        im.vals[node.output[0]] = [d for p in parts for d in _dims(p)]
        return
    axis = a["axis"]
    if axis == 0:
        raise _Miss("joining along the batch axis has no block")
    im.put(node, "Concat", [im.val(i) for i in node.input], inputs=len(node.input),
           axis=axis - 1 if axis > 0 else axis)


def _dims(p) -> list:
    return list(p) if isinstance(p, list) else [int(v) for v in np.asarray(p).reshape(-1)]


@op("Shape")
def _shape_of(im, node, a):
    x = im.val(node.input[0])
    static = im.static.get(node.input[0]) or [None] * (x.rank or 0)
    if not static:
        raise _Miss("the rank of its input is unknown")
    im.vals[node.output[0]] = [Dim(i, s if isinstance(s, int) and i else None)
                               for i, s in enumerate(static)]


@op("Gather")
def _gather(im, node, a):
    data, idx = im.vals.get(node.input[0]), im.vals.get(node.input[1])
    if isinstance(data, list) and isinstance(idx, np.ndarray) and idx.ndim == 0:
        im.vals[node.output[0]] = [data[int(idx)]]
        return
    if isinstance(data, Val) and isinstance(idx, np.ndarray) and idx.ndim == 0 and \
            int(idx) == -1 and a.get("axis", 0) == 1 and _last_step(im, data, node.input[0]):
        im.vals[node.output[0]] = data
        return
    table = im.const(node.input[0])
    if table is None or table.ndim != 2 or a.get("axis", 0) != 0:
        raise _Miss("only a lookup in a constant 2-D table maps (an Embedding)")
    im.put(node, "Embedding", [im.val(node.input[1])], {"weight": table},
           vocab=int(table.shape[0]), dim=int(table.shape[1]))


@op("Unsqueeze", "Squeeze")
def _squeeze(im, node, a):
    v = im.vals.get(node.input[0])
    axes = a.get("axes")
    if axes is None and len(node.input) > 1:
        axes = _dims(im.const(node.input[1]))
    if isinstance(v, list):  # a scalar of shape arithmetic, as a 1-vector or back
        im.vals[node.output[0]] = v
    elif isinstance(v, Val) and v.layout == "tm4" and node.op_type == "Squeeze" and \
            list(axes) == [1]:
        im.vals[node.output[0]] = replace(v, layout="tm")  # one-direction RNN: [T, B, H]
    else:
        raise _Miss("adding or removing axes of a tensor has no block")


@op("Slice")
def _slice(im, node, a):
    v = im.vals.get(node.input[0])
    if v == "zeros":  # one layer's share of a stacked RNN's zero initial state
        im.vals[node.output[0]] = v
        return
    starts, ends = (_dims(im.const(i)) for i in node.input[1:3])
    if not isinstance(v, list) or len(starts) != 1:
        raise _Miss("only slicing a shape maps")
    im.vals[node.output[0]] = v[starts[0]:ends[0]]


@op("ConstantOfShape")
def _const_of_shape(im, node, a):
    im.vals[node.output[0]] = "zeros"  # an RNN's initial state: the block's default


@op("Transpose")
def _transpose(im, node, a):
    v = im.val(node.input[0])
    if list(a.get("perm", [])) != [1, 0, 2]:
        raise _Miss(f"transpose {list(a.get('perm', []))} has no block (only the batch ↔ "
                    "time swap around an RNN maps)")
    im.vals[node.output[0]] = replace(v, layout="" if v.layout == "tm" else "tm") \
        if v.layout in ("", "tm") else _fail("an RNN's 4-D output")


def _fail(what):
    raise _Miss(f"transposing {what} has no block")


@op("Reshape")
def _reshape(im, node, a):
    x, target = im.val(node.input[0]), im.vals.get(node.input[1])
    dims = _dims(target) if isinstance(target, (list, np.ndarray)) else None
    batch = dims[0] if dims else None
    if dims is None or not (batch == 0 or (isinstance(batch, Dim) and batch.axis == 0) or
                            (batch == -1 and -1 not in dims[1:])):
        raise _Miss("only a reshape that keeps the batch axis maps")
    rest = [d.size if isinstance(d, Dim) else d for d in dims[1:]]
    if any(d is None or d == 0 for d in rest):
        raise _Miss("a reshape to sizes known only at run time has no block")
    if rest == [-1]:
        im.put(node, "Flatten", [x])
    else:
        im.put(node, "Reshape", [x], shape=rest)

