"""The VQ-VAE recipe: real steps on tiny images with the loss dropping, validation's codebook
figures, the pictures, the refusals, and ONNX parity of an encoder ending in the quantiser."""

from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort
import pytest
import torch
from rt_helpers import splits

from builder.compiler import compile_network
from builder.document import Network
from builder.serialize import load
from resources import TEMPLATES
from runtime.data import FieldInfo
from runtime.evaluate import eval_mode, take_samples, validate
from runtime.events import Failure, Samples
from runtime.export import export_onnx, parity
from runtime.optimize import Optimization
from runtime.recipes import RecipeError, get
from runtime.recipes.vqvae import perplexity
from runtime.trainer import Trainer

SIDE, LATENT, CODES = 8, 4, 16


def images(n: int = 96, val: int = 32, seed: int = 0):
    """8×8 RGB images in [0, 1]: a bright square of one of three colours in one corner."""
    g = torch.Generator().manual_seed(seed)
    x = 0.1 * torch.rand(n, 3, SIDE, SIDE, generator=g)
    for i in range(n):
        r, c = 4 * (i % 2), 4 * ((i // 2) % 2)
        x[i, i % 3, r:r + 4, c:c + 4] += 0.8
    return splits({"x": x.clamp(0, 1)}, {"x": FieldInfo((3, SIDE, SIDE), "image", "float32")},
                  "generative", val=val)


def networks(quantisers: int = 1) -> tuple[Network, Network]:
    enc, dec = Network("enc"), Network("dec")
    chain = [enc.add("Input", id="x", shape=[3, SIDE, SIDE], kind="image"),
             enc.add("Conv2d", id="down", filters=8, kernel=4, stride=2, padding=1),
             enc.add("ReLU", id="relu"),
             enc.add("Conv2d", id="to_latent", filters=LATENT, kernel=1)]
    chain += [enc.add("VectorQuantiser", id=f"vq{i}", codes=CODES) for i in range(quantisers)]
    enc.chain(*chain, enc.add("Output", id="latents"))
    dec.chain(dec.add("Input", id="latents", shape=[LATENT, 4, 4], kind="image",
                      field="latents", source="recipe"),
              dec.add("Conv2d", id="conv", filters=8, kernel=3, padding=1),
              dec.add("ReLU", id="relu"),
              dec.add("ConvTranspose2d", id="up", filters=3, kernel=4, stride=2, padding=1),
              dec.add("Sigmoid", id="pixels"), dec.add("Output", id="image"))
    return enc, dec


def recipe(nets=None, data=None):
    enc, dec = nets or networks()
    data = data or images()
    r = get("vqvae")({"encoder": compile_network(enc), "decoder": compile_network(dec)},
                     data.info)
    r.generator = torch.Generator().manual_seed(0)
    return r


def test_steps_lower_the_loss_and_report_the_quantiser():
    torch.manual_seed(0)
    data = images()
    r = recipe(data=data)
    opts = {role: torch.optim.Adam(m.parameters(), 1e-2) for role, m in r.nets.items()}
    ctx = Optimization(r.nets, r.names, opts, torch.device("cpu"), total_steps=30)
    batch = {k: v[:32] for k, v in data.train.items()}
    r.check(batch)
    losses = []
    for i in range(30):
        ctx.begin(i, False)
        metrics = r.step(ctx, batch)
        losses.append(float(metrics["loss"]))
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    vq = r.vq
    torch.testing.assert_close(ctx.extra["aux/enc/vq0"], vq.aux_loss)  # the trainer added it
    assert set(metrics) == {"loss", "recon", "quantisation", "perplexity"}
    torch.testing.assert_close(metrics["loss"], metrics["recon"] + vq.aux_loss.detach())
    assert 1 <= float(metrics["perplexity"]) <= CODES


def test_validation_reports_reconstruction_and_codebook_use():
    torch.manual_seed(0)
    data = images()
    r = recipe(data=data)
    metrics, _ = validate(r, data, 16, None, (torch.device("cpu"), False))
    assert set(metrics) == {"loss", "recon", "mse", "quantisation", "perplexity", "codes_used"}
    with eval_mode(r.nets.values()), torch.no_grad():
        x = data.val["x"]
        out = r.decode({}, r.encode({}, x, False), False)
        codes = r.vq.codes.reshape(-1)
    assert math.isclose(metrics["recon"], float(((out - x) ** 2).mean()), rel_tol=1e-5)
    used = torch.bincount(codes, minlength=CODES)
    assert math.isclose(metrics["codes_used"], float((used > 0).float().mean()))
    assert math.isclose(metrics["perplexity"], float(perplexity(used)), rel_tol=1e-5)
    assert math.isclose(metrics["loss"], metrics["recon"] + 1.25 * metrics["quantisation"],
                        rel_tol=1e-6)


def test_perplexity_by_hand():
    assert math.isclose(float(perplexity(torch.tensor([5.0, 5, 5, 5]))), 4.0, rel_tol=1e-6)
    assert math.isclose(float(perplexity(torch.tensor([7.0, 0, 0]))), 1.0, rel_tol=1e-6)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert math.isclose(float(perplexity(torch.tensor([3.0, 1]))), math.exp(h), rel_tol=1e-6)


def test_pictures_show_input_codes_reconstruction_and_usage():
    data = images()
    r = recipe(data=data)
    events = take_samples(r, data, 5, 1)
    by_name = {e.name: e for e in events if isinstance(e, Samples)}
    grid = by_name["reconstructions"]
    assert grid.kind == "images" and grid.extra["columns"] == ["input", "codes",
                                                               "reconstruction"]
    assert grid.data.shape == (3 * 16, 3, SIDE, SIDE)
    np.testing.assert_allclose(grid.data[0::3], data.val["x"][:16].numpy(), atol=1e-6)
    usage = by_name["codebook usage"]
    assert usage.kind == "bars" and usage.data.shape == (CODES,) and len(usage.labels) == CODES
    assert math.isclose(float(usage.data.sum()), 1.0, rel_tol=1e-5)
    assert usage.extra["reference"] == 1 / CODES


def test_refusals_name_the_problem():
    with pytest.raises(RecipeError, match="exactly one VectorQuantiser block.*it has 0"):
        recipe(networks(quantisers=0))
    with pytest.raises(RecipeError, match="it has 2"):
        recipe(networks(quantisers=2))
    enc, dec = networks()
    dec.nodes["latents"].params["field"] = "code"
    with pytest.raises(RecipeError, match="as 'code', but recipe 'vqvae' does not provide "
                                          "that; it fills latents"):
        recipe((enc, dec))
    with pytest.raises(RecipeError, match="learns no distribution"):
        recipe().sample(4, torch.Generator().manual_seed(0))


def test_encoder_with_quantiser_exports_to_onnx_with_parity(tmp_path):
    enc, _ = networks()
    enc.connect("vq0", enc.add("Output", id="codes"), src_port="codes")
    compiled = compile_network(enc)
    path = export_onnx(compiled, tmp_path / "encoder.onnx")
    assert parity(compiled, path) < 1e-5
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = images().val["x"][:5]
    latents, codes = session.run(["latents", "codes"], {"x": x.numpy()})
    with torch.no_grad():
        want_latents, want_codes = compiled.module.eval()(x)
    assert codes.dtype == np.int64 and np.array_equal(codes, want_codes.numpy())
    np.testing.assert_allclose(latents, want_latents.numpy(), atol=1e-6)


def test_the_template_trains_through_the_trainer(events):
    p = load(TEMPLATES / "vqvae_shapes.loom")
    assert p.recipe.name == "vqvae" and p.dataset.params["normalize"] is False
    p.dataset.params["n_samples"] = 120
    p.training.batch_size = 16
    finished = Trainer(p, callback=events, device="cpu").fit(max_steps=3)
    assert finished.reason == "max_steps", events.of(Failure)
    assert 0 < finished.final["codes_used"] <= 1 and math.isfinite(finished.final["loss"])
