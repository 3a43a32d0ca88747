"""Sequence blocks and attention masks through ONNX and generated code, with a dynamic batch
AND a dynamic length: each graph is exported at T = 7 (batch 2), then onnxruntime and the
generated PyTorch code run it at T = 11, batch 3 (a memory of S = 13), against torch."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from builder.codegen import generate
from builder.compiler import compile_network
from builder.document import Network, Project
from runtime import export as export_mod
from runtime.export import TOLERANCE, export_onnx

VOCAB = 12
LENGTHS = {"T": 11, "S": 13}


def _classifier(position: str, pool: str) -> Network:
    """ids → embedding → positions → causal encoder (padding masked) → pool over time."""
    net = Network("main")
    net.add("Input", id="ids", shape=["T"], kind="tokens")
    net.add("PaddingMask", id="pad")
    net.add("Embedding", id="embed", vocab=VOCAB, dim=8)
    net.add("PositionalEncoding", id="position", mode=position, max_len=32)
    net.add("TransformerEncoderLayer", id="encode", heads=2, feedforward=16, causal=True)
    net.add("TimePool", id="pool", mode=pool)
    net.add("Linear", id="logits", units=3)
    net.add("Output", id="y")
    net.chain("ids", "embed", "position", "encode", "pool", "logits", "y")
    net.connect("ids", "pad")
    net.connect("pad", "encode", dst_port="pad_mask")
    net.connect("pad", "pool", dst_port="mask")
    return net


def _seq2seq() -> Network:
    """Encoder over the source, decoder over the target; the logits and the cross-attention
    map, transposed to [S, T]."""
    net = Network("main")
    net.add("Input", id="src", shape=["S"], kind="tokens", field="src")
    net.add("Input", id="tgt", shape=["T"], kind="tokens", field="tgt")
    for side in ("src", "tgt"):
        net.add("PaddingMask", id=f"{side}_pad")
        net.add("Embedding", id=f"{side}_embed", vocab=VOCAB, dim=8)
        net.add("PositionalEncoding", id=f"{side}_position", mode="learned", max_len=32)
        net.chain(side, f"{side}_embed", f"{side}_position")
        net.connect(side, f"{side}_pad")
    net.add("TransformerEncoderLayer", id="encode", heads=2, feedforward=16)
    net.add("TransformerDecoderLayer", id="decode", heads=2, feedforward=16, norm_first=True)
    net.add("TimeDistributedLinear", id="logits", units=VOCAB)
    net.add("Permute", id="transpose", dims="1 0")
    net.add("Output", id="y")
    net.add("Output", id="map")
    net.chain("src_position", "encode")
    net.connect("src_pad", "encode", dst_port="pad_mask")
    net.connect("tgt_position", "decode", dst_port="x")
    net.connect("encode", "decode", dst_port="memory")
    net.connect("tgt_pad", "decode", dst_port="pad_mask")
    net.connect("src_pad", "decode", dst_port="memory_pad_mask")
    net.connect("decode", "logits", src_port="y")
    net.connect("decode", "transpose", src_port="weights")
    net.chain("logits", "y")
    net.chain("transpose", "map")
    return net


def _signals() -> Network:
    """Float sequences with a float mask: causal additive attention, masked multi-head
    attention, then a Conv1d over time between two Permutes."""
    net = Network("main")
    net.add("Input", id="x", shape=["T", 6], kind="sequence")
    net.add("Input", id="m", shape=["T"], kind="sequence", field="m")
    net.add("Attention", id="attend", score="additive", units=5, causal=True)
    net.add("MultiHeadAttention", id="mha", heads=2, causal=True)
    net.add("Permute", id="channels_first", dims="1 0")
    net.add("Conv1d", id="conv", filters=4, kernel=3, padding="same")
    net.add("Permute", id="steps_first", dims="1 0")
    net.add("TimePool", id="pool", mode="last")
    net.add("Output", id="y")
    net.connect("x", "attend", dst_port="query")
    net.connect("x", "attend", dst_port="keys")
    net.connect("m", "attend", dst_port="pad_mask")
    net.connect("attend", "mha", src_port="context", dst_port="query")
    net.connect("m", "mha", dst_port="pad_mask")
    net.chain("mha", "channels_first", "conv", "steps_first", "pool", "y")
    net.connect("m", "pool", dst_port="mask")
    return net


def _inputs(compiled, batch: int) -> list[torch.Tensor]:
    """Inputs at the run-time lengths; token ids padded at the end (one sample all padding),
    float masks 0/1 the same way."""
    g = torch.Generator().manual_seed(3)
    out = []
    for spec in compiled.inputs:
        shape = (batch, *(LENGTHS.get(d, d) for d in spec.shape))
        if spec.kind == "index":
            ids = torch.randint(1, VOCAB, shape, generator=g)
            kept = torch.tensor([shape[1], shape[1] // 2, 0][:batch])
            ids[torch.arange(shape[1]) >= kept.unsqueeze(1)] = 0
            out.append(ids)
        elif len(shape) == 2:  # a mask: 1 = padding
            out.append((torch.arange(shape[1]) >= torch.tensor([shape[1], 4, 0][:batch])
                        .unsqueeze(1)).float())
        else:
            out.append(torch.randn(shape, generator=g))
    return out


def _load_generated(path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check(net: Network, tmp_path, monkeypatch) -> None:
    torch.manual_seed(0)
    compiled = compile_network(net)
    monkeypatch.setattr(export_mod, "SYMBOL_SIZE", 7)  # export at T = 7 (and S = 7)
    path = export_onnx(compiled, tmp_path / "model.onnx")
    model = onnx.load(str(path))
    for given, spec in zip(model.graph.input, compiled.inputs, strict=True):
        dims = [d.dim_param or d.dim_value for d in given.type.tensor_type.shape.dim]
        assert dims == ["batch", *spec.shape], (given.name, dims)
    args = _inputs(compiled, batch=3)
    module = compiled.module.eval()
    with torch.no_grad():
        want = module(*args)
    want = [want] if isinstance(want, torch.Tensor) else list(want)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(list(compiled.outputs),
                      {s.name: a.numpy() for s, a in zip(compiled.inputs, args)})
    for name, w, g in zip(compiled.outputs, want, got, strict=True):
        assert w.shape == g.shape and np.isfinite(g).all(), name
        assert float(np.max(np.abs(w.numpy() - g))) <= TOLERANCE, name
    code = tmp_path / "model.py"
    code.write_text(generate(Project({"main": net})), encoding="utf-8")
    generated = _load_generated(code, f"generated_{tmp_path.name}").Main()
    generated.load_state_dict(module.state_dict())
    with torch.no_grad():
        again = generated.eval()(**{s.name: a for s, a in zip(compiled.inputs, args)})
    again = [again] if isinstance(again, torch.Tensor) else list(again)
    for w, a in zip(want, again, strict=True):
        torch.testing.assert_close(a, w)


@pytest.mark.parametrize("position,pool", [("sinusoidal", "mean"), ("learned", "max"),
                                           ("sinusoidal", "last"), ("learned", "attention")])
def test_masked_classifier_exports_with_dynamic_length(position, pool, tmp_path, monkeypatch):
    _check(_classifier(position, pool), tmp_path, monkeypatch)


def test_encoder_decoder_exports_with_two_dynamic_lengths(tmp_path, monkeypatch):
    _check(_seq2seq(), tmp_path, monkeypatch)


def test_float_masks_attention_and_permute_export(tmp_path, monkeypatch):
    _check(_signals(), tmp_path, monkeypatch)
