"""Recurrent blocks: shape rules against torch, FLOPs, errors, torch equivalence.
(Attention blocks: test_attention.py.)"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from support import as_tuple as _as_tuple
from support import check_rule as _check
from support import spec_params as _params
from support import tensors as _tensors
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from builder import blocks
from builder.shapes import ShapeError

TYPES = ["RNN", "LSTM", "GRU", "RepeatVector", "TimeDistributedLinear"]



@pytest.mark.parametrize("block", TYPES)
def test_defaults_run_and_match_rule(block):
    spec = blocks.get(block)
    assert spec.category == "Recurrent"
    assert spec.concept
    assert len(spec.example_inputs) == len(spec.input_ports(spec.defaults()))
    _check(block)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("layers,bidirectional,output",
                         list(itertools.product([1, 3], [False, True], ["sequence", "last"])))
def test_recurrent_variants(kind, layers, bidirectional, output):
    over = dict(hidden=7, num_layers=layers, bidirectional=bidirectional, output=output,
                dropout=0.2)
    _, _, rule = _check(kind, [(5, 3)] + [None] * (2 if kind == "LSTM" else 1), **over)
    d = 2 if bidirectional else 1
    assert rule[0] == ((5, 7 * d) if output == "sequence" else (7 * d,))
    assert rule[1] == (layers * d, 7)
    # with initial states connected
    n_states = 2 if kind == "LSTM" else 1
    _check(kind, [(5, 3)] + [(layers * d, 7)] * n_states, **over)


def test_rnn_relu_and_no_bias():
    _check("RNN", [(4, 6), None], nonlinearity="relu", bias=False, hidden=5)
    _check("LSTM", [(4, 6), None, None], bias=False, hidden=5)


def test_lstm_only_one_initial_state():
    spec, p = _params("LSTM", hidden=4)
    m = spec.build(p, [(3, 2), (1, 4), None])()
    y, h, c = m(torch.randn(2, 3, 2), torch.randn(2, 1, 4), None)
    assert c.shape == (2, 1, 4)
    y, h, c = m(torch.randn(2, 3, 2), None, torch.randn(2, 1, 4))
    assert h.shape == (2, 1, 4)


def test_symbolic_length_passes_through():
    spec, p = _params("LSTM", bidirectional=True, num_layers=2, hidden=16)
    assert spec.shape(p, [("T", 8), None, None]) == [("T", 32), (4, 16), (4, 16)]
    spec, p = _params("GRU", output="last", hidden=16)
    assert spec.shape(p, [("T", 8), None]) == [(16,), (1, 16)]
    spec, p = _params("TimeDistributedLinear", units=3)
    assert spec.shape(p, [("T", 8)]) == [("T", 3)]


@pytest.mark.parametrize("cls_name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_matches_torch(cls_name, bidirectional):
    torch.manual_seed(0)
    spec, p = _params(cls_name, hidden=6, num_layers=2, bidirectional=bidirectional,
                      output="last")
    d = 2 if bidirectional else 1
    lstm = cls_name == "LSTM"
    ins = [(5, 3)] + [(2 * d, 6)] * (2 if lstm else 1)
    ours = spec.build(p, ins)()
    ref = getattr(nn, cls_name)(3, 6, 2, batch_first=True, bidirectional=bidirectional)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(4, 5, 3)
    states = [torch.randn(2 * d, 4, 6) for _ in range(2 if lstm else 1)]
    # ours takes batch-first states
    got = ours(x, *[s.transpose(0, 1) for s in states])
    y, st = ref(x, tuple(states) if lstm else states[0])
    st = st if lstm else (st,)
    if bidirectional:
        last = torch.cat([y[:, -1, :6], y[:, 0, 6:]], dim=-1)
        # the same as the last layer's final states of both directions
        torch.testing.assert_close(last, torch.cat([st[0][-2], st[0][-1]], dim=-1))
    else:
        last = y[:, -1]
    torch.testing.assert_close(got[0], last)
    for ours_state, ref_state in zip(got[1:], st, strict=True):
        torch.testing.assert_close(ours_state, ref_state.transpose(0, 1))
    # sequence output is torch's output as is
    ours.output = "sequence"
    torch.testing.assert_close(ours(x)[0], ref(x)[0])


def test_encoder_state_wires_into_decoder():
    enc_spec, ep = _params("LSTM", hidden=8, num_layers=2, output="last")
    dec_spec, dp = _params("LSTM", hidden=8, num_layers=2)
    enc_out = enc_spec.shape(ep, [("T", 5), None, None])
    h, c = enc_out[1], enc_out[2]
    rep_spec, rp = _params("RepeatVector", n=7)
    seq = rep_spec.shape(rp, [enc_out[0]])[0]
    assert dec_spec.shape(dp, [seq, h, c])[0] == (7, 8)
    enc = enc_spec.build(ep, [(9, 5), None, None])()
    dec = dec_spec.build(dp, [seq, h, c])()
    rep = rep_spec.build(rp, [enc_out[0]])()
    y, hh, cc = enc(torch.randn(3, 9, 5))
    out, _, _ = dec(rep(y), hh, cc)
    assert out.shape == (3, 7, 8)


def test_repeat_vector_matches_expand():
    spec, p = _params("RepeatVector", n=4)
    x = torch.randn(3, 5)
    torch.testing.assert_close(spec.build(p, [(5,)])()(x), x.unsqueeze(1).expand(3, 4, 5))


def test_time_distributed_matches_per_step_linear():
    spec, p = _params("TimeDistributedLinear", units=3)
    m = spec.build(p, [(6, 4)])()
    x = torch.randn(2, 6, 4)
    per_step = torch.stack([m(x[:, t]) for t in range(6)], dim=1)
    torch.testing.assert_close(m(x), per_step)
    assert "params = 4·3 + 3 = 15" in spec.explain(p, [(6, 4)], [(6, 3)])


def test_explain_param_counts_match_modules():
    cases = [("RNN", [(5, 3), None], dict(hidden=7, num_layers=2, bidirectional=True)),
             ("LSTM", [(5, 3), None, None], dict(hidden=7, num_layers=3)),
             ("GRU", [(5, 3), None], dict(hidden=7, bias=False, bidirectional=True))]
    for block, ins, over in cases:
        spec, p = _params(block, **over)
        m = spec.build(p, ins)()
        text = spec.explain(p, ins, spec.shape(p, ins))
        n = sum(t.numel() for t in m.parameters())
        assert f"{n:,}" in text, (block, text, n)


@pytest.mark.parametrize("block,ins,over,words", [
    ("LSTM", [(3, 32, 32), None, None], {}, "sequence [T, features]"),
    ("GRU", [(8,), None], {}, "received [8]"),
    ("RNN", [(5, "F"), None], {}, "known feature size"),
    ("LSTM", [(5, 3), (1, 64), (2, 64)], {}, "c0 must be [num_layers·directions, hidden]"),
    ("GRU", [(5, 3), (1, 64)], {"bidirectional": True}, "received [1, 64]"),
    ("TimeDistributedLinear", [(16,)], {}, "received [16]"),
    ("RepeatVector", [()], {}, "scalar"),
])
def test_invalid_inputs_raise_clear_errors(block, ins, over, words):
    spec, p = _params(block, **over)
    with pytest.raises(ShapeError, match=words.replace("[", r"\[").replace("]", r"\]")):
        spec.shape(p, ins)


def test_fused_rnn_flops_on_cpu():
    """CPU runs RNN and GRU as plain matmuls (counted); LSTM goes to a fused kernel there, so
    the rule follows the meta-device decomposition that analysis and the property tests use."""
    for block, ins in (("RNN", [(5, 3), None]), ("GRU", [(5, 3), None])):
        spec, p = _params(block, hidden=7)
        m = spec.build(p, ins)()
        with FlopCounterMode(display=False) as counter:
            m(torch.randn(1, 5, 3))
        assert spec.flops(p, ins, spec.shape(p, ins)) == counter.get_total_flops()


@pytest.mark.parametrize("block,ins,over", [
    ("RNN", [(5, 3), (2, 4)], dict(hidden=4, num_layers=2, nonlinearity="relu")),
    ("LSTM", [(5, 3), (2, 4), (2, 4)], dict(hidden=4, bidirectional=True, output="last")),
    ("GRU", [(5, 3), None], dict(hidden=4, num_layers=2, bidirectional=True, output="last")),
    ("RepeatVector", [(6,)], {}),
])
def test_modules_are_self_contained(block, ins, over):
    """Generated code copies a custom module's source with only torch, nn, F and math around."""
    import math

    spec, p = _params(block, **over)
    made = spec.build(p, ins)
    from builder.codegen import _Writer

    writer = _Writer()
    writer.ctor(made)  # collects the class and its custom bases, as code generation does
    namespace = {"torch": torch, "nn": nn, "F": F, "math": math}
    for source in writer.helpers.values():
        exec(compile(source, "<generated>", "exec"), namespace)  # noqa: S102
    copy = namespace[made.cls.__name__](*made.args, **dict(made.kwargs))
    original = made()
    copy.load_state_dict(original.state_dict())
    xs = _tensors(ins, 2)
    for a, b in zip(_as_tuple(original(*xs)), _as_tuple(copy(*xs)), strict=True):
        torch.testing.assert_close(a, b)
