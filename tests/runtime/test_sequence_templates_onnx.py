"""The sequence templates export to ONNX that answers like torch at any batch size and any
sequence length: exported at one length, run at another (RNN, LSTM, GRU, attention and the
transformer)."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from builder.compiler import compile_network
from builder.gallery import template_path
from builder.serialize import load
from runtime.export import SYMBOL_SIZE, export_onnx, parity

TEMPLATES = {  # template: the recurrent or attention blocks it holds
    "rnn_long_rnn": "RNN",
    "rnn_many_to_one": "LSTM",
    "rnn_long_gru": "GRU",
    "rnn_bidirectional": "bidirectional LSTM/GRU",
    "seq2seq_reverse": "GRU encoder-decoder with attention",
    "char_transformer": "causal transformer",
}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_exported_at_one_length_it_runs_at_another(name, tmp_path):
    net = next(iter(load(template_path(name)).networks.values()))
    compiled = compile_network(net)
    module = compiled.module.eval()
    path = export_onnx(compiled, tmp_path / f"{name}.onnx")
    assert parity(compiled, path) < 1e-4
    vocab = min(m.num_embeddings for m in module.modules()
                if isinstance(m, torch.nn.Embedding))
    gen = torch.Generator().manual_seed(1)
    length = SYMBOL_SIZE + 6  # not the exported length
    inputs = [torch.randint(0, vocab, (3, length), generator=gen) for _ in compiled.inputs]
    assert all(not isinstance(s.shape[0], int) for s in compiled.inputs)  # declared dynamic
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {s.name: x.numpy() for s, x in zip(compiled.inputs, inputs,
                                                                strict=True)})
    with torch.no_grad():
        want = module(*inputs)
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want, strict=True):
        assert g.shape == tuple(w.shape) and g.shape[0] == 3
        np.testing.assert_allclose(g, w.numpy(), atol=1e-4, rtol=1e-4)
