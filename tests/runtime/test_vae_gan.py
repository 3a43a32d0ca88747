"""VAE-GAN: real steps with every loss reported, the feature loss against a hand computation
on the discriminator's own layer, the plain-VAE twin (same start, its own loss), the
pictures, state through a checkpoint, and the decoder's ONNX export with parity."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from rt_helpers import Recorder

import runtime.judge
from builder.compiler import compile_network
from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from builder.serialize import load
from resources import TEMPLATES
from runtime.assemble import SetupError, load_data, make_recipe
from runtime.events import Samples, StepMetrics
from runtime.export import TOLERANCE, export_onnx, parity
from runtime.optimize import Optimization
from runtime.recipes.base import RecipeError
from runtime.recipes.vae_gan import VAEGAN
from runtime.recipes.vae_gan_parts import feature_loss, sharpness
from runtime.trainer import Trainer

LATENT = 4


def _networks() -> dict[str, Network]:
    """Dense networks for 8×8 digits: x → μ, log σ² → z; z → 64 pixels; x → features → 1."""
    enc, dec, disc = Network("encoder"), Network("decoder"), Network("discriminator")
    enc.chain(enc.add("Input", id="x", shape=[1, 8, 8], kind="image"),
              enc.add("Flatten", id="flat"), enc.add("Linear", id="fc", units=32),
              enc.add("ReLU", id="relu"))
    enc.chain("relu", enc.add("Linear", id="mu", units=LATENT))
    enc.chain("relu", enc.add("Linear", id="logvar", units=LATENT))
    enc.add("Reparameterize", id="sample")
    enc.connect("mu", "sample", dst_port="mu")
    enc.connect("logvar", "sample", dst_port="logvar")
    enc.chain("sample", enc.add("Output", id="z"))
    dec.chain(dec.add("Input", id="code", shape=[LATENT], kind="vector", source="recipe",
                      field="code"),
              dec.add("Linear", id="fc1", units=32), dec.add("ReLU", id="relu"),
              dec.add("Linear", id="fc2", units=64), dec.add("Sigmoid", id="pixels"),
              dec.add("Reshape", id="image", shape=[1, 8, 8]), dec.add("Output", id="out"))
    disc.chain(disc.add("Input", id="x", shape=[1, 8, 8], kind="image"),
               disc.add("Flatten", id="flat"), disc.add("Linear", id="fc", units=16),
               disc.add("LeakyReLU", id="features", alpha=0.2),
               disc.add("Linear", id="score", units=1), disc.add("Output", id="realness"))
    return {"encoder": enc, "decoder": dec, "discriminator": disc}


def _project(lr: float = 2e-3, optimizer: str = "adam", **params) -> Project:
    roles = ("encoder", "decoder", "discriminator")
    return Project(_networks(), DatasetConfig("digits8", {"n_samples": 120, "normalize": False}),
                   RecipeConfig("vae_gan", {r: r for r in roles},
                                {"feature_node": "features", "quality": False,
                                 "pixel_loss": "bce", **params}),
                   TrainingSettings(epochs=1, batch_size=32,
                                    optimizers={"*": OptimizerConfig(optimizer, lr)},
                                    samples_every=2, samples_unit="steps"))


def _recipe(p: Project) -> tuple[VAEGAN, object]:
    data = load_data(p)
    torch.manual_seed(0)
    recipe = make_recipe(p, data)
    recipe.generator = torch.Generator().manual_seed(0)
    return recipe, data


def _batch(data, n: int = 16) -> dict[str, torch.Tensor]:
    return {k: v[:n] for k, v in data.train.items()}


def test_real_steps_report_each_loss_and_validation_the_pixels(tmp_path):
    rec = Recorder()
    fin = Trainer(_project(), device="cpu", callback=rec, run_dir=tmp_path / "run").fit(
        max_steps=3)
    steps = rec.of(StepMetrics)
    assert len(steps) == 3
    for name in ("loss", "loss_kl", "loss_feature", "loss_d", "loss_g", "loss_vae",
                 "loss_kl_vae", "mse", "mse_vae", "d_real", "d_fake"):
        assert all(math.isfinite(s.values[name]) for s in steps), name
    first = steps[0].values  # one encoder call: the total is its objective, β = 1
    assert first["loss"] == pytest.approx(first["loss_feature"] + first["loss_kl"], rel=1e-5)
    for name in ("loss", "loss_feature", "loss_kl", "mse", "mse_vae", "sharpness",
                 "sharpness_vae", "sharpness_data", "loss_vae"):
        assert math.isfinite(fin.final[name]), name
    grid = next(s for s in rec.of(Samples) if s.name == "VAE-GAN vs plain VAE")
    rows = grid.extra["rows"]
    assert [r.split(" · ")[0] for r in rows] == [
        "input", "VAE-GAN reconstruction", "plain VAE reconstruction",
        "VAE-GAN prior sample", "plain VAE prior sample"]
    assert grid.data.shape == (5 * grid.extra["cols"], 1, 8, 8)
    # Only the project's networks are results; the plain VAE is a helper.
    saved = sorted(p.name for p in (tmp_path / "run").glob("*.safetensors"))
    assert saved == ["decoder.safetensors", "discriminator.safetensors",
                     "encoder.safetensors"]


def test_feature_loss_is_the_squared_distance_of_the_named_layer():
    recipe, data = _recipe(_project())
    x = _batch(data, 5)["x"]
    fake = torch.rand_like(x)
    d = recipe.nets["discriminator"].eval()
    with torch.no_grad():
        _, f_real = recipe.judge({}, x, train=False)
        _, f_fake = recipe.judge({}, fake, train=False)
        # The layer by hand: Flatten → Linear → LeakyReLU(0.2) with D's own weights.
        fc = d.get_submodule("fc")
        by_hand = F.leaky_relu(x.flatten(1) @ fc.weight.T + fc.bias, 0.2)
    assert torch.allclose(f_real, by_hand, atol=1e-6)
    expected = sum(float(((f_fake[i] - f_real[i]) ** 2).sum()) for i in range(5)) / 5
    assert float(feature_loss(f_fake, f_real)) == pytest.approx(expected, rel=1e-6)
    given_a = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    given_b = torch.tensor([[0.0, 0.0], [3.0, 1.0]])
    assert float(feature_loss(given_a, given_b)) == pytest.approx(((1 + 4) + (9 + 4)) / 2)


def test_feature_node_must_name_a_layer_of_the_discriminator():
    with pytest.raises(SetupError, match="feature_node"):
        _recipe(_project(feature_node=""))
    with pytest.raises(SetupError, match="'nope'"):
        _recipe(_project(feature_node="nope"))


def test_the_plain_vae_starts_from_the_same_weights_as_a_helper():
    recipe, _ = _recipe(_project())
    for role, twin in recipe.twins.items():
        assert recipe.nets[twin] is not recipe.nets[role]
        ours, theirs = recipe.nets[role].state_dict(), recipe.nets[twin].state_dict()
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert set(recipe.by_name()) == {"encoder", "decoder", "discriminator"}
    assert sorted(recipe.nets) == ["decoder", "decoder_vae", "discriminator", "encoder",
                                   "encoder_vae"]
    assert _recipe(_project(twin=False))[0].twins == {}


def test_the_plain_vae_starts_from_the_weights_training_starts_from():
    """Start-from weights are loaded after the recipe is built: the copies take the
    networks' weights again at the first step (here: nothing learns, lr 0)."""
    recipe, data = _recipe(_project())
    with torch.no_grad():  # as loading start-from weights would
        for p in recipe.nets["encoder"].parameters():
            p.mul_(0.5)
    optimizers = {r: torch.optim.SGD(m.parameters(), 0.0) for r, m in recipe.nets.items()}
    ctx = Optimization(recipe.nets, recipe.names, optimizers, torch.device("cpu"))
    recipe.step(ctx, _batch(data))
    ours, theirs = recipe.nets["encoder"].state_dict(), recipe.nets["encoder_vae"].state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert recipe.state_dict()["synced"] is True


def test_the_plain_vae_learns_pixel_reconstruction_plus_kl():
    """One SGD step of the twin equals −lr·∇(BCE summed per image + KL) computed here on a
    copy with the same noise ε; the VAE-GAN's own networks are not touched by it."""
    recipe, data = _recipe(_project())
    enc, dec = recipe.twins["encoder"], recipe.twins["decoder"]
    copies = {r: copy.deepcopy(recipe.nets[r]) for r in (enc, dec)}
    before = {r: copy.deepcopy(recipe.nets[r].state_dict()) for r in ("encoder", "decoder")}
    lr = 0.05
    optimizers = {r: torch.optim.SGD(m.parameters(), lr) for r, m in recipe.nets.items()}
    ctx = Optimization(recipe.nets, recipe.names, optimizers, torch.device("cpu"))
    x = _batch(data)["x"]
    torch.manual_seed(7)
    metrics = recipe._twin_step(ctx, {"x": x}, x)
    torch.manual_seed(7)  # the same ε in the copy's Reparameterize
    out = copies[dec](copies[enc](x))
    block = next(m for m in copies[enc].modules() if type(m).__name__ == "Reparameterize")
    kl = (-0.5 * (1 + block.logvar - block.mu ** 2 - block.logvar.exp())).sum(1).mean()
    bce = F.binary_cross_entropy(out, x, reduction="sum") / len(x)
    (bce + kl).backward()
    assert float(metrics["loss_vae"]) == pytest.approx(float((bce + kl).detach()), rel=1e-5)
    assert float(metrics["loss_kl_vae"]) == pytest.approx(float(kl.detach()), rel=1e-5)
    for role in (enc, dec):
        trained = dict(recipe.nets[role].named_parameters())
        for name, p in copies[role].named_parameters():
            assert torch.allclose(trained[name], p - lr * p.grad, atol=1e-6), (role, name)
    for role, state in before.items():
        now = recipe.nets[role].state_dict()
        assert all(torch.equal(now[k], v) for k, v in state.items())


def test_one_step_moves_each_network_by_its_own_objective():
    """The encoder's gradient holds no GAN term and the decoder's no KL: with γ = 0 and
    the discriminator frozen, the decoder learns only to fool D, so D's score of its
    samples rises, while the encoder still learns (the feature loss reaches it)."""
    recipe, data = _recipe(_project(gamma=0.0))
    optimizers = {r: torch.optim.SGD(m.parameters(), 0.05) for r, m in recipe.nets.items()}
    optimizers["discriminator"] = None
    ctx = Optimization(recipe.nets, recipe.names, optimizers, torch.device("cpu"))
    batch = _batch(data, 32)
    z = recipe.prior(32, torch.Generator().manual_seed(1), "cpu")
    with torch.no_grad():
        score = recipe.judge({}, recipe.decode({}, z, False), False)[0].mean()
    enc_before = copy.deepcopy(recipe.nets["encoder"].state_dict())
    for _ in range(3):
        recipe.step(ctx, batch)
    with torch.no_grad():
        after = recipe.judge({}, recipe.decode({}, z, False), False)[0].mean()
    assert float(after) > float(score)
    now = recipe.nets["encoder"].state_dict()
    assert any(not torch.equal(now[k], v) for k, v in enc_before.items())


def test_sharpness_prefers_crisp_images():
    crisp = torch.zeros(1, 1, 8, 8)
    crisp[..., 2:6, 2:6] = 1.0
    blurred = F.avg_pool2d(F.pad(crisp, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    assert float(sharpness(crisp)) > float(sharpness(blurred)) > 0
    assert float(sharpness(torch.full((1, 1, 8, 8), 0.5))) == 0


def test_prior_samples_and_state_round_trip():
    recipe, data = _recipe(_project())
    out = recipe.sample(6, torch.Generator().manual_seed(3))
    again = recipe.sample(6, torch.Generator().manual_seed(3))
    assert out.kind == "images" and out.data.shape == (6, 1, 8, 8)
    assert (out.data == again.data).all()
    with pytest.raises(RecipeError, match="prompt"):
        recipe.sample(2, torch.Generator(), prompt="7")
    recipe.fid.points["VAE-GAN"] = [[10, 3.5]]
    other, _ = _recipe(_project())
    other.load_state_dict(recipe.state_dict())
    assert other.fid.points == {"VAE-GAN": [[10, 3.5]]}


def test_the_decoders_export_to_onnx_with_parity(tmp_path):
    template = load(TEMPLATES / "vae_gan_digits.loom")
    for i, net in enumerate((_networks()["decoder"], template.networks["decoder"])):
        compiled = compile_network(net)
        path = export_onnx(compiled, tmp_path / f"decoder{i}.onnx")
        assert parity(compiled, path) <= TOLERANCE


def test_the_pictures_judge_both_models_prior_samples(monkeypatch):
    """With quality on, one curve of Fréchet distances: a line per model."""
    monkeypatch.setattr(runtime.judge, "STEPS", (5, 5))  # a quick judge: shapes, not skill
    try:
        recipe, data = _recipe(_project(quality=True))
        events = recipe.samples(data, 5, 0)
    finally:
        runtime.judge.forget()
    curve = next(e for e in events if e.kind == "curve")
    assert curve.extra["name"] == "VAE-GAN" and list(curve.extra["series"]) == ["plain VAE"]
    assert curve.data.shape == (1, 2) and curve.data[0, 0] == 5 and curve.data[0, 1] >= 0
    assert recipe.state_dict()["fid"]["plain VAE"][0][0] == 5
