"""The U-Net's diffusion options: residual levels and a condition c through FiLM.  The plain
block is unchanged; the conditional one takes a second port, compiles, trains, exports with
parity, generates the same code, and its output really depends on c."""

from __future__ import annotations

import pytest
import torch
from test_diffusion_blocks import export_and_codegen

from builder import blocks
from builder.compiler import compile_network
from builder.document import Network
from builder.ports import node_ports
from builder.propagate import check
from builder.shapes import ShapeError
from runtime.export import TOLERANCE


def _denoiser(level="residual", norm="group", condition="film", size=8, name="denoiser"):
    """A diffusion-style network: image x and step t in, a same-size image out."""
    net = Network(name)
    net.add("Input", id="x_t", shape=(3, size, size), kind="image", field="x_t")
    net.add("Input", id="t", shape=(1,), field="t")
    net.add("TimestepEmbedding", id="temb", dim=8, out=16)
    net.add("UNet", id="unet", filters=4, depth=2, norm=norm, level=level,
            condition=condition, output="none")
    net.add("Output", id="eps")
    net.connect("x_t", "unet", dst_port="x")
    net.connect("t", "temb")
    if condition == "film":
        net.connect("temb", "unet", dst_port="c")
    net.connect("unet", "eps")
    return net


def test_ports_follow_the_condition_param():
    spec = blocks.get("UNet")
    assert [q.name for q in spec.input_ports(spec.defaults())] == ["x"]
    p, _ = spec.coerce_params({"condition": "film"})
    assert [q.name for q in spec.input_ports(p)] == ["x", "c"]
    net = _denoiser()
    assert [q.name for q in node_ports(net.nodes["unet"])[0]] == ["x", "c"]


def test_the_default_expansion_is_unchanged():
    # the plain block's sub-network is what Pix2Pix and CycleGAN templates were built on
    spec = blocks.get("UNet")
    p, _ = spec.coerce_params({"filters": 4, "depth": 2, "out_channels": 2})
    net = spec.expand(p, [(3, 8, 8)])
    assert not any(n.block == "FiLM" for n in net.nodes.values())
    assert [n.id for n in net.nodes.values() if n.block == "Input"] == ["x"]
    module = compile_network(net, {"x": (3, 8, 8)}).module
    assert sum(q.numel() for q in module.parameters()) == 1830  # test_unet's hand count


@pytest.mark.parametrize("level,norm", [("residual", "group"), ("residual", "none"),
                                        ("pix2pix", "batch"), ("pix2pix", "group")])
def test_every_level_gets_film_after_its_norm(level, norm):
    spec = blocks.get("UNet")
    p, _ = spec.coerce_params({"filters": 4, "depth": 2, "level": level, "norm": norm,
                               "condition": "film"})
    sub = spec.expand(p, [(3, 8, 8), (16,)])
    assert [n.id for n in sub.nodes.values() if n.block == "Input"] == ["x", "c"]
    films = [i for i, n in sub.nodes.items() if n.block == "FiLM"]
    # pix2pix: 2 down + 2 up; residual: 2 encoder units, the middle and 2 decoder units
    assert len(films) == (5 if level == "residual" else 4)
    for f in films:
        feeds = {e.dst_port: e.src for e in sub.edges if e.dst == f}
        assert feeds["c"] == "c"
        after = [e.dst for e in sub.edges if e.src == f]
        assert [sub.nodes[a].block for a in after] in (["SiLU"], ["LeakyReLU"], ["ReLU"])
        if norm != "none" and feeds["x"].endswith("_norm"):
            assert sub.nodes[feeds["x"]].block in ("GroupNorm", "BatchNorm")
    report = check(sub, {"x": (3, 8, 8), "c": (16,)})
    assert report.ok, [q.message for q in report.problems]
    assert spec.explain(p, [(3, 8, 8), (16,)], [(3, 8, 8)])


def test_residual_levels_keep_the_size_and_count_their_weights():
    spec = blocks.get("UNet")
    p, _ = spec.coerce_params({"filters": 4, "depth": 1, "level": "residual", "norm": "none",
                               "out_channels": 2, "output": "none"})
    sub = spec.expand(p, [(3, 8, 8)])
    module = compile_network(sub, {"x": (3, 8, 8)}).module
    conv = lambda i, o, k: i * o * k * k + o  # noqa: E731 - every conv has a bias here
    # stem 3→4; enc1 4→4 (two 3×3); mid 4→4; dec1 (4+4)→4 with a 1×1 skip; out 4→2
    hand = (conv(3, 4, 3) + 2 * conv(4, 4, 3) + 2 * conv(4, 4, 3)
            + conv(8, 4, 3) + conv(4, 4, 3) + conv(8, 4, 1) + conv(4, 2, 3))
    assert sum(q.numel() for q in module.parameters()) == hand
    assert module(torch.randn(2, 3, 8, 8)).shape == (2, 2, 8, 8)


def test_conditional_unet_without_c_is_refused_in_a_sentence():
    spec = blocks.get("UNet")
    p, _ = spec.coerce_params({"condition": "film"})
    with pytest.raises(ShapeError, match=r"c as one vector \[D\]"):
        spec.expand(p, [(3, 32, 32), (4, 4)])


def _learns_the_noise(module, x, *conditions) -> None:
    """Four Adam steps of predicting the noise added to x lower the loss; leaves the module in
    eval mode."""
    noise = torch.randn(x.shape)
    opt = torch.optim.Adam(module.parameters(), 1e-2)
    losses = []
    for _ in range(4):
        loss = (module(x + noise, *conditions) - noise).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    module.eval()


@pytest.mark.parametrize("level", ["residual", "pix2pix"])
def test_conditional_unet_trains_and_c_changes_the_output(level):
    torch.manual_seed(0)
    net = _denoiser(level, norm="group")
    report = check(net)
    assert report.ok, [q.message for q in report.problems]
    module = compile_network(net).module
    x = torch.randn(8, 3, 8, 8)
    _learns_the_noise(module, x, torch.randint(0, 1000, (8, 1)).float())
    with torch.no_grad():  # FiLM started as the identity; after training c matters
        a = module(x[:1], torch.tensor([[10.0]]))
        b = module(x[:1], torch.tensor([[900.0]]))
    assert (a - b).abs().max() > 1e-4


def test_conditional_unet_exports_and_generates_code(tmp_path):
    net = _denoiser("residual", norm="group", size=8)
    compiled = compile_network(net)
    with torch.no_grad():  # non-zero FiLM weights, so that c reaches the output
        for m in compiled.module.modules():
            if type(m).__name__ == "FiLM":
                torch.nn.init.normal_(m.proj.weight, std=0.5)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        a = compiled.module.eval()(x, torch.full((2, 1), 10.0))
        b = compiled.module(x, torch.full((2, 1), 900.0))
    assert (a - b).abs().max() > 1e-3
    assert export_and_codegen(net, tmp_path, compiled) <= TOLERANCE


# --- cross-attention to a context sequence ------------------------------------------------------


def _reader(cross="middle", level="residual", depth=2, film=True):
    """A denoiser that also reads a caption's word features [6, 12] through its U-Net."""
    net = _denoiser(level, norm="group", condition="film" if film else "none")
    net.nodes["unet"].params.update(cross_attention=cross, depth=depth)
    net.add("Input", id="words", shape=(6, 12), kind="sequence", field="words")
    net.connect("words", "unet", dst_port="context")
    return net


@pytest.mark.parametrize("level,depth", [("residual", 2), ("pix2pix", 3)])
@pytest.mark.parametrize("cross,attending", [("middle", 1), ("inner", 3)])
def test_cross_attention_adds_a_context_port_and_attends_where_asked(level, depth, cross,
                                                                     attending):
    spec = blocks.get("UNet")
    p, _ = spec.coerce_params({"filters": 4, "depth": depth, "level": level, "norm": "group",
                               "condition": "film", "cross_attention": cross})
    assert [q.name for q in spec.input_ports(p)] == ["x", "c", "context"]
    sub = spec.expand(p, [(3, 8, 8), (16,), (6, 12)])
    assert [n.id for n in sub.nodes.values() if n.block == "Input"] == ["x", "c", "context"]
    reads = [i for i, n in sub.nodes.items() if n.block == "CrossAttention"]
    # middle: the middle level (pix2pix: the innermost); inner: also each level below full
    # size on the way down and up (residual: enc2, dec2; pix2pix: down2 and up3, its size)
    assert len(reads) == attending
    for r in reads:
        assert {e.dst_port: e.src for e in sub.edges if e.dst == r}["context"] == "context"
    report = check(sub, {"x": (3, 8, 8), "c": (16,), "context": (6, 12)})
    assert report.ok, [q.message for q in report.problems]
    assert "cross-attention (4 heads)" in spec.explain(p, [(3, 8, 8), (16,), (6, 12)],
                                                       [(3, 8, 8)])
    # without the condition c, the context is the second port
    p, _ = spec.coerce_params({"filters": 4, "depth": depth, "level": level,
                               "cross_attention": cross})
    assert [q.name for q in spec.input_ports(p)] == ["x", "context"]
    assert check(spec.expand(p, [(3, 8, 8), (6, 12)]), {"x": (3, 8, 8), "context": (6, 12)}).ok


def test_cross_attention_refuses_a_missing_context_and_bad_heads_in_sentences():
    spec = blocks.get("UNet")
    p, _ = spec.coerce_params({"filters": 4, "depth": 2, "cross_attention": "middle"})
    with pytest.raises(ShapeError, match=r"context as a sequence \[S, D\]"):
        spec.expand(p, [(3, 8, 8), (12,)])
    p, _ = spec.coerce_params({"filters": 4, "depth": 2, "cross_attention": "middle",
                               "heads": 3})
    with pytest.raises(ShapeError, match=r"3 heads must divide the 8 channels"):
        spec.expand(p, [(3, 8, 8), (6, 12)])


def test_the_words_steer_the_output_and_it_exports_with_parity(tmp_path):
    torch.manual_seed(0)
    net = _reader("inner")
    report = check(net)
    assert report.ok, [q.message for q in report.problems]
    compiled = compile_network(net)
    module = compiled.module
    x, t = torch.randn(8, 3, 8, 8), torch.full((8, 1), 10.0)
    words = torch.randn(8, 6, 12)
    _learns_the_noise(module, x, t, words)  # the gradients reach the attention too
    with torch.no_grad():
        a = module(x[:2], t[:2], words[:2])
        b = module(x[:2], t[:2], torch.randn(2, 6, 12))
    assert (a - b).abs().max() > 1e-4  # other words, another output
    assert export_and_codegen(net, tmp_path, compiled) <= TOLERANCE
