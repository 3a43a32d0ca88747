"""A PyTorch ``nn.Module`` → Layerloom network, through ``torch.fx.symbolic_trace``.

Modules map by type (``MODULES``), functions and tensor methods by identity (``FUNCTIONS``,
``METHODS``); the module's own parameters and buffers become the blocks' weights, renamed
from the module path (``layer1.0.conv1.weight``) to the node id (``layer1_0_conv1.weight``).
"""

from __future__ import annotations

import importlib.util
import operator
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import fx, nn

from runtime.importer.graph import GraphBuilder, Unreadable

__all__ = ["load_class", "import_module"]


def load_class(spec: str) -> nn.Module:
    """``path/to/model.py:ClassName`` → an instance, made with no arguments."""
    file, sep, name = spec.rpartition(":")
    if not sep or not file.endswith(".py") or not name:
        raise Unreadable(f"expected MODEL.onnx or path/to/model.py:ClassName; received {spec!r}")
    path = Path(file)
    if not path.is_file():
        raise Unreadable(f"{path} does not exist")
    mod_name = f"_layerloom_import_{path.stem}"
    try:
        loader = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[mod_name] = module  # dataclasses and pickling look modules up here
        loader.loader.exec_module(module)
        cls = getattr(module, name)
    except AttributeError:
        raise Unreadable(f"{path} defines no {name!r}") from None
    except Exception as e:
        raise Unreadable(f"{path} cannot be imported ({type(e).__name__}: {e})") from None
    try:
        return cls()
    except Exception as e:
        raise Unreadable(f"{path}:{name}() cannot be created without arguments "
                         f"({type(e).__name__}: {e})") from None


def _rnn(m, kind: str) -> tuple[str, dict]:
    if not m.batch_first:
        raise ValueError("only batch_first=True maps (Layerloom sequences are [batch, T, …])")
    if getattr(m, "proj_size", 0):
        raise ValueError("LSTM proj_size has no block")
    params = dict(hidden=m.hidden_size, num_layers=m.num_layers, bias=m.bias,
                  bidirectional=m.bidirectional, dropout=m.dropout)
    if kind == "RNN":
        params["nonlinearity"] = m.nonlinearity
    return kind, params


def _pair(v):
    v = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    return list(v) if v[0] != v[1] else v[0]


def _pool(m, block):
    if getattr(m, "dilation", 1) not in (1, (1, 1)) or getattr(m, "return_indices", False):
        raise ValueError("dilated pooling or pooling indices have no block")
    params = dict(kernel=_pair(m.kernel_size), stride=_pair(m.stride or m.kernel_size),
                  padding=_pair(m.padding), ceil_mode=m.ceil_mode)
    if block == "AvgPool2d":
        params["count_include_pad"] = m.count_include_pad
        if m.divisor_override:
            raise ValueError("divisor_override has no block")
    return block, params


def _conv(m):
    if m.padding_mode != "zeros":
        raise ValueError(f"padding_mode={m.padding_mode!r} has no block")
    pad = m.padding if isinstance(m.padding, str) else _pair(m.padding)
    return "Conv2d", dict(filters=m.out_channels, kernel=_pair(m.kernel_size),
                          stride=_pair(m.stride), padding=pad, dilation=_pair(m.dilation),
                          groups=m.groups, bias=m.bias is not None)


def _adaptive(m):  # size 1 too: it keeps [C, 1, 1] as torch does, so what follows fits
    if None in (m.output_size if isinstance(m.output_size, tuple) else (m.output_size,)):
        raise ValueError("an output size of None has no block")
    return "AdaptiveAvgPool2d", {"size": _pair(m.output_size)}


def _bn(m):
    if not m.track_running_stats:
        raise ValueError("batch norm without running statistics has no block")
    return "BatchNorm", dict(eps=m.eps, momentum=m.momentum, affine=m.affine)


def _flatten(m):
    if m.start_dim != 1 or m.end_dim != -1:
        raise ValueError("only Flatten(start_dim=1, end_dim=-1) maps")
    return "Flatten", {}


def _softmax(m):
    if m.dim in (0, None):
        raise ValueError("a softmax over the batch axis has no block")
    return "Softmax", {"axis": m.dim - 1 if m.dim > 0 else m.dim}


MODULES = {
    nn.Linear: lambda m: ("Linear", dict(units=m.out_features, bias=m.bias is not None)),
    nn.Conv2d: _conv,
    nn.BatchNorm1d: _bn, nn.BatchNorm2d: _bn,
    nn.ReLU: lambda m: ("ReLU", {}), nn.Sigmoid: lambda m: ("Sigmoid", {}),
    nn.Tanh: lambda m: ("Tanh", {}), nn.Softmax: _softmax,
    nn.MaxPool2d: lambda m: _pool(m, "MaxPool2d"), nn.AvgPool2d: lambda m: _pool(m, "AvgPool2d"),
    nn.AdaptiveAvgPool2d: _adaptive, nn.Flatten: _flatten,
    nn.Dropout: lambda m: ("Dropout", {"p": m.p}), nn.Identity: lambda m: ("Identity", {}),
    nn.LSTM: lambda m: _rnn(m, "LSTM"), nn.GRU: lambda m: _rnn(m, "GRU"),
    nn.RNN: lambda m: _rnn(m, "RNN"),
    nn.Embedding: lambda m: ("Embedding", dict(vocab=m.num_embeddings, dim=m.embedding_dim)),
}
_ACTS = {torch.relu: "ReLU", F.relu: "ReLU", torch.sigmoid: "Sigmoid", F.sigmoid: "Sigmoid",
         torch.tanh: "Tanh", F.tanh: "Tanh"}
_ADDS = (operator.add, torch.add)
_FLATTENS = (torch.flatten,)
_CATS = (torch.cat, torch.concat)
_METHOD_ACTS = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh"}


def import_module(model: nn.Module, where: str, input_shapes: list | None = None
                  ) -> GraphBuilder:
    from runtime.importer.fx_ops import Tracer

    try:
        graph = fx.symbolic_trace(model).graph
    except Exception as e:  # data-dependent control flow, unsupported Python
        b = GraphBuilder()
        b.miss(f"{type(model).__name__}.forward cannot be traced by torch.fx "
               f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
        return b
    return Tracer(model, where, input_shapes).run(graph)
