"""Conditioning blocks (TimestepEmbedding, FiLM, BroadcastAdd): the fast rules agree with
torch, the modules compute the formulas they explain, refuse what they cannot take in a
sentence, and export to ONNX and to generated code computing the same thing."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch
from support import check_block, spec_params

from builder.codegen import generate
from builder.compiler import compile_network
from builder.document import Network, Project
from builder.shapes import ShapeError
from runtime.export import TOLERANCE, example_inputs, export_onnx, parity


def export_and_codegen(net: Network, tmp_path, compiled=None) -> float:
    """ONNX export of ``net`` (checked, dynamic batch) and its parity with torch; the
    generated code's module, given the compiled module's weights, computes the same outputs.
    ``compiled``: ``net`` compiled (weights set by the caller).  Returns the ONNX max abs
    difference."""
    compiled = compiled or compile_network(net)
    path = export_onnx(compiled, tmp_path / f"{net.name}.onnx")
    diff = parity(compiled, path)
    assert diff <= TOLERANCE, diff
    source = generate(Project({net.name: net}))
    file = tmp_path / f"{net.name}_gen.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(f"{net.name}_gen", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls = next(getattr(module, n) for n in dir(module) if n.lower() == net.name.lower())
    gen = cls()
    gen.load_state_dict(compiled.module.state_dict())
    gen.eval()
    compiled.module.eval()
    args = example_inputs(compiled, 3, seed=2)
    with torch.no_grad():
        want, got = compiled.module(*args), gen(*args)
    for w, g in zip(want if isinstance(want, tuple) else (want,),
                    got if isinstance(got, tuple) else (got,)):
        torch.testing.assert_close(g, w)
    return diff


# --- TimestepEmbedding ------------------------------------------------------------------------


@pytest.mark.parametrize("ins,over,out", [
    (None, {}, (128,)),
    ([()], {"mlp": False, "dim": 10}, (10,)),
    ([(1,)], {"dim": 8, "out": 20, "scale": 1000.0}, (20,)),
])
def test_timestep_embedding_rule_agrees_with_torch(ins, over, out):
    spec, p, _ = check_block("TimestepEmbedding", ins, **over)
    assert spec.shape(p, list(ins or spec.example_inputs)) == [out]


def test_timestep_embedding_is_sines_and_cosines_of_the_step():
    spec, p = spec_params("TimestepEmbedding", dim=6, mlp=False, max_period=100.0)
    m = spec.build(p, [(1,)])()
    t = torch.tensor([[0.0], [3.0], [250.0]])
    freqs = [100 ** (-i / 3) for i in range(3)]
    want = torch.tensor([[math.sin(s * f) for f in freqs] + [math.cos(s * f) for f in freqs]
                         for s in (0.0, 3.0, 250.0)])
    torch.testing.assert_close(m(t), want)
    torch.testing.assert_close(m(t.squeeze(1)), want)  # [] per sample: the same
    torch.testing.assert_close(m(t.long()), want)  # integer steps too
    # near steps get near codes, far ones far: what lets a network tell steps apart
    e = m(torch.tensor([100.0, 101.0, 900.0]))
    assert (e[0] - e[1]).norm() < (e[0] - e[2]).norm()
    assert "100^(−i/3)" in spec.explain(p, [(1,)], [(6,)])


def test_timestep_embedding_scale_maps_a_fraction_onto_steps():
    spec, p = spec_params("TimestepEmbedding", dim=8, mlp=False)
    steps = spec.build(p, [(1,)])()
    spec, p = spec_params("TimestepEmbedding", dim=8, mlp=False, scale=1000.0)
    fractions = spec.build(p, [(1,)])()
    torch.testing.assert_close(fractions(torch.tensor([0.25])), steps(torch.tensor([250.0])))


def test_timestep_embedding_mlp_and_its_params():
    spec, p = spec_params("TimestepEmbedding", dim=16, out=32)
    m = spec.build(p, [(1,)])()
    assert sum(q.numel() for q in m.parameters()) == 16 * 32 + 32 + 32 * 32 + 32
    assert "1,600" in spec.explain(p, [(1,)], [(32,)])
    assert not m.state_dict().keys() & {"freqs"}  # rebuilt from the params, never saved


@pytest.mark.parametrize("ins,over,match", [
    ([(3,)], {}, r"one number t per sample"),
    ([(1,)], {"dim": 7}, r"dim must be even"),
])
def test_timestep_embedding_refusals_say_why(ins, over, match):
    spec, p = spec_params("TimestepEmbedding", **over)
    with pytest.raises(ShapeError, match=match):
        spec.shape(p, ins)


# --- FiLM and BroadcastAdd --------------------------------------------------------------------


@pytest.mark.parametrize("block", ["FiLM", "BroadcastAdd"])
@pytest.mark.parametrize("x", [(16, 8, 8), (5, 16), (16,), (16, "T", 6), ("T", 16)])
def test_conditioning_rules_agree_with_torch(block, x):
    check_block(block, [x, (12,)])


def test_film_starts_as_the_identity_then_scales_and_shifts_each_channel():
    spec, p = spec_params("FiLM")
    m = spec.build(p, [(4, 3, 3), (5,)])()
    x, c = torch.randn(2, 4, 3, 3), torch.randn(2, 5)
    torch.testing.assert_close(m(x, c), x)  # zero-initialised: the identity
    torch.nn.init.normal_(m.proj.weight)
    torch.nn.init.normal_(m.proj.bias)
    gamma, beta = (m.proj.weight @ c.T + m.proj.bias[:, None]).T.chunk(2, 1)
    want = x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
    torch.testing.assert_close(m(x, c), want)
    # on a sequence [T, C] the channels are last
    spec, p = spec_params("FiLM")
    m = spec.build(p, [(6, 4), (5,)])()
    torch.nn.init.normal_(m.proj.weight)
    s = torch.randn(2, 6, 4)
    gamma, beta = m.proj(c).chunk(2, 1)
    torch.testing.assert_close(m(s, c), s * (1 + gamma[:, None]) + beta[:, None])


def test_film_gets_a_gradient_from_the_identity_start():
    spec, p = spec_params("FiLM")
    m = spec.build(p, [(4, 3, 3), (5,)])()
    m(torch.randn(2, 4, 3, 3), torch.randn(2, 5)).square().sum().backward()
    assert m.proj.weight.grad.abs().sum() > 0


def test_broadcast_add_adds_the_projected_vector_everywhere():
    spec, p = spec_params("BroadcastAdd")
    m = spec.build(p, [(4, 3, 3), (5,)])()
    x, v = torch.randn(2, 4, 3, 3), torch.randn(2, 5)
    torch.testing.assert_close(m(x, v), x + m.proj(v)[:, :, None, None])
    spec, p = spec_params("BroadcastAdd", project=False)
    m = spec.build(p, [(6, 4), (4,)])()
    s, v = torch.randn(2, 6, 4), torch.randn(2, 4)
    torch.testing.assert_close(m(s, v), s + v[:, None])
    assert not list(m.parameters())


def test_add_does_not_broadcast_so_broadcast_add_is_needed():
    spec, p = spec_params("Add")
    with pytest.raises(ShapeError, match="same shape"):
        spec.shape(p, [(4, 3, 3), (4,)])


@pytest.mark.parametrize("block,over,ins,match", [
    ("FiLM", {}, [(4, 3, 3), (5, 2)], r"c as one vector \[D\]"),
    ("FiLM", {}, [(2, 4, 3, 3), (5,)], r"image \[C, H, W\], a sequence \[T, C\]"),
    ("BroadcastAdd", {"project": False}, [(4, 3, 3), (5,)], r"turn project on"),
    ("BroadcastAdd", {}, [("T", "C"), (5,)], r"known channel count"),
])
def test_conditioning_refusals_say_why(block, over, ins, match):
    spec, p = spec_params(block, **over)
    with pytest.raises(ShapeError, match=match):
        spec.shape(p, ins)


# --- together: export and generated code ------------------------------------------------------


def test_step_conditioned_network_exports_and_generates_code(tmp_path):
    net = Network("cond")
    net.add("Input", id="x", shape=(4, 8, 8), kind="image")
    net.add("Input", id="t", shape=(1,), field="t")
    net.add("TimestepEmbedding", id="temb", dim=16, out=24)
    net.add("FiLM", id="film")
    net.add("BroadcastAdd", id="bias")
    net.add("Output", id="y")
    net.connect("t", "temb")
    net.connect("x", "film", dst_port="x")
    net.connect("temb", "film", dst_port="c")
    net.connect("film", "bias", dst_port="x")
    net.connect("temb", "bias", dst_port="v")
    net.connect("bias", "y")
    assert export_and_codegen(net, tmp_path) <= TOLERANCE
