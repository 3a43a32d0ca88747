"""The GAN family as options of one recipe: the four losses each move the right way, the
conditional GAN's grid and labels, InfoGAN's codes, prompts and Q, the pictures' kinds and
shapes, the recipe state through a resume, and every GAN template for two steps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from rt_helpers import Recorder

import runtime.judge
from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from builder.serialize import load, save
from resources import TEMPLATES
from runtime.assemble import compile_roles, load_data
from runtime.checkpoint import load_checkpoint
from runtime.cli import main
from runtime.events import Failure, Samples, StepMetrics, Warning
from runtime.optimize import Optimization
from runtime.recipes.base import RecipeError
from runtime.recipes.gan import GAN
from runtime.recipes.gan_parts import g_loss
from runtime.trainer import Trainer

GAN_TEMPLATES = ("gan_mlp", "dcgan", "wgan", "wgan_gp_images", "cgan", "infogan")


@pytest.fixture
def quick_judge(monkeypatch):
    """A judge trained for a few steps (its class counts mean little; the figures' kinds and
    shapes are the point), forgotten afterwards so no other test meets it."""
    monkeypatch.setattr(runtime.judge, "STEPS", (5, 5))
    yield
    runtime.judge.forget()


# --- small projects ---------------------------------------------------------------------------

def _ring(loss: str, **params) -> Project:
    p = load(TEMPLATES / "gan_2d.loom")
    p.dataset.params["n_samples"] = 600
    p.recipe.params = {"loss": loss, **params}
    return p


def _digits(gen: Network, disc: Network, **params) -> Project:
    """A GAN on 200 of scikit-learn's 8×8 digits, pixels in [0, 1]."""
    return Project({"generator": gen, "discriminator": disc},
                   DatasetConfig("digits8", {"n_samples": 200, "normalize": False}),
                   RecipeConfig("gan", {"generator": "generator",
                                        "discriminator": "discriminator"},
                                {"quality": False, **params}),
                   TrainingSettings(epochs=1, batch_size=32,
                                    optimizers={"*": OptimizerConfig("adam", 2e-3)}))


def _image_gan(label: bool = False, codes: tuple[int, int] = (0, 0), **params) -> Project:
    """Dense G and D on 8×8 digits; ``label``: both read it; ``codes``: InfoGAN's (K, M)."""
    gen, disc = Network("generator"), Network("discriminator")
    parts = [gen.add("Noise", id="z", shape=[8])]
    if label:
        parts.append(gen.add("LabelInput", id="label", num_classes=10))
        gen.chain("label", gen.add("Embedding", id="embed", vocab=10, dim=8))
        parts[-1] = "embed"
    for field, size in zip(("c_cat", "c_cont"), codes):
        if size:
            parts.append(gen.add("Input", id=field, shape=[size], source="recipe",
                                 field=field))
    last = parts[0]
    if len(parts) > 1:
        last = gen.add("Concat", id="join", inputs=len(parts))
        for part in parts:
            gen.connect(part, "join")
    gen.chain(last, gen.add("Linear", id="fc", units=64), gen.add("Sigmoid", id="pixels"),
              gen.add("Reshape", id="image", shape=[1, 8, 8]), gen.add("Output", id="fake"))
    disc.chain(disc.add("Input", id="x", shape=[1, 8, 8], kind="image"),
               disc.add("Flatten", id="flat"))
    body = "flat"
    if label:
        disc.chain(disc.add("LabelInput", id="label", num_classes=10),
                   disc.add("Embedding", id="embed", vocab=10, dim=8))
        disc.add("Concat", id="join", inputs=2)
        disc.connect("flat", "join")
        disc.connect("embed", "join")
        body = "join"
    disc.chain(body, disc.add("Linear", id="h", units=32),
               disc.add("LeakyReLU", id="act", alpha=0.2))
    disc.chain("act", disc.add("Linear", id="score", units=1), disc.add("Output", id="realness"))
    if sum(codes):
        disc.chain("act", disc.add("Linear", id="q_head", units=sum(codes)),
                   disc.add("Output", id="q"))
        params = {"categorical_codes": codes[0], "continuous_codes": codes[1], **params}
    return _digits(gen, disc, **params)


def _recipe(p: Project, data=None) -> tuple[GAN, object]:
    data = data or load_data(p)
    torch.manual_seed(0)  # the initial weights: the same whichever test ran before
    recipe = GAN(compile_roles(p, ["generator", "discriminator"]), data.info, p.recipe.params)
    recipe.generator = torch.Generator().manual_seed(0)
    return recipe, data


def _ctx(recipe: GAN, fixed: tuple[str, ...] = (), opt=torch.optim.Adam, lr=1e-3):
    """A step context; the networks in ``fixed`` get no optimizer: they never change."""
    optimizers = {r: None if r in fixed else opt(m.parameters(), lr)
                  for r, m in recipe.nets.items()}
    return Optimization(recipe.nets, recipe.names, optimizers, torch.device("cpu"))


def _train(recipe: GAN, data, ctx, steps: int, batch: int = 32) -> list[dict[str, float]]:
    train, out = data.train, []
    n = len(train)
    torch.manual_seed(0)
    for i in range(steps):
        idx = torch.randint(0, n, (batch,))
        ctx.begin(i, False)
        metrics = recipe.step(ctx, {k: v[idx] for k, v in train.items()})
        out.append({k: float(v) for k, v in metrics.items()})
    return out


def _mean(history, key, part) -> float:
    values = [m[key] for m in history]
    return float(np.mean(values[:5] if part == "first" else values[-5:]))


# --- the four losses --------------------------------------------------------------------------

@pytest.mark.parametrize("loss", ["standard", "minimax"])
def test_the_discriminator_learns_against_a_fixed_generator(loss):
    recipe, data = _recipe(_ring(loss))
    history = _train(recipe, data, _ctx(recipe, fixed=("generator",)), 60)
    assert _mean(history, "loss_d", "last") < 0.7 * _mean(history, "loss_d", "first")
    last = history[-1]
    assert last["d_real"] > 0.5 > last["d_fake"]  # sigmoid means: D believes it now
    assert {"loss_g", "d_real", "d_fake"} <= set(last) and "wasserstein" not in last


def test_r1_keeps_the_discriminator_flat_at_the_real_samples():
    def slope(r1: float) -> tuple[float, list[dict]]:
        """Mean ‖∇ₓ D(x)‖² over real samples after 60 steps against a fixed G."""
        recipe, data = _recipe(_ring("standard", r1=r1))
        history = _train(recipe, data, _ctx(recipe, fixed=("generator",)), 60)
        real = data.val["x"][:256].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(recipe.nets["discriminator"](real).sum(), real)
        return float(grad.square().sum(1).mean()), history

    free, plain = slope(0.0)
    held, history = slope(10.0)
    assert "r1" not in plain[-1] and all(math.isfinite(m["r1"]) for m in history)
    assert held < 0.25 * free
    assert history[-1]["d_real"] > 0.5 > history[-1]["d_fake"]  # and it still tells them apart
    with pytest.raises(RecipeError, match="r1 penalises a discriminator's logits; loss "
                                          "'wgan_gp' trains a critic: set r1 to 0"):
        _recipe(_ring("wgan_gp", r1=1.0))


def test_a_wgan_critic_keeps_its_weights_clipped_and_widens_the_gap():
    recipe, data = _recipe(_ring("wgan", clip=0.05, d_steps=5))
    history = _train(recipe, data, _ctx(recipe, ("generator",), torch.optim.RMSprop, 5e-3), 12)
    assert _mean(history, "wasserstein", "last") > _mean(history, "wasserstein", "first")
    assert all(p.abs().max() <= 0.05 for p in recipe.nets["discriminator"].parameters())
    assert {"loss_d", "loss_g", "d_real", "d_fake", "wasserstein"} <= set(history[-1])
    assert "gp" not in history[-1]


def test_a_wgan_gp_critic_widens_the_gap_with_a_bounded_penalty():
    recipe, data = _recipe(_ring("wgan_gp", gp_weight=1.0))
    history = _train(recipe, data, _ctx(recipe, ("generator",)), 40)
    assert _mean(history, "wasserstein", "last") > 2 * _mean(history, "wasserstein", "first")
    gaps = [m["gp"] for m in history]
    assert all(math.isfinite(g) and 0 <= g < 5 for g in gaps)


def test_the_minimax_generator_gradient_saturates_where_the_non_saturating_does_not():
    recipe, _ = _recipe(_ring("minimax"))
    gen, disc = recipe.nets["generator"], recipe.nets["discriminator"]
    z = torch.randn(64, 16, generator=torch.Generator().manual_seed(1))

    def grad_norm(kind: str, shift: float) -> float:
        gen.zero_grad()
        logits = disc(gen(z))[:, 0] + shift  # shift: how surely D rejects the fakes
        g_loss(kind, logits).backward()
        return float(torch.cat([p.grad.flatten() for p in gen.parameters()]).norm())

    confident = torch.no_grad()(lambda: disc(gen(z)).mean())()
    rejected = -12.0 - float(confident)  # D(G(z)) ≈ 6e-6
    assert grad_norm("minimax", rejected) < 1e-3 * grad_norm("standard", rejected)
    # Where D is unsure (D(G(z)) ≈ ½) both push the same way, equally hard.
    balanced = -float(confident)
    assert grad_norm("minimax", balanced) == pytest.approx(grad_norm("standard", balanced),
                                                           rel=0.2)
    # softplus keeps the saturating loss finite where log(1 − σ(l)) would be log 0.
    far = torch.tensor([60.0, -60.0], requires_grad=True)
    value = g_loss("minimax", far)
    value.backward()
    assert math.isfinite(value.item()) and torch.isfinite(far.grad).all()


# --- the conditional GAN ----------------------------------------------------------------------

def test_the_discriminator_judges_each_fake_with_the_label_the_generator_was_given():
    recipe, data = _recipe(_image_gan(label=True))
    seen = {"generator": [], "discriminator": []}
    for role, ids in seen.items():
        embed = recipe.nets[role].get_submodule("embed")
        embed.register_forward_pre_hook(lambda m, args, ids=ids: ids.append(args[0].clone()))
    _train(recipe, data, _ctx(recipe), 1)
    given = seen["generator"][0]
    assert len(seen["discriminator"]) == 3  # real, fake for D's step, fake for G's step
    assert all(torch.equal(ids, given) for ids in seen["discriminator"])


def test_the_conditional_grid_has_a_row_per_class_and_the_same_noise_down_a_column():
    gen, disc = Network("generator"), Network("discriminator")
    gen.chain(gen.add("Noise", id="z", shape=[4]), gen.add("Linear", id="fc", units=64))
    gen.chain(gen.add("LabelInput", id="label", num_classes=10),
              gen.add("Embedding", id="embed", vocab=10, dim=64))
    gen.add("Add", id="sum")
    gen.connect("fc", "sum")
    gen.connect("embed", "sum")
    gen.chain("sum", gen.add("Reshape", id="image", shape=[1, 8, 8]), gen.add("Output", id="o"))
    disc.chain(disc.add("Input", id="x", shape=[1, 8, 8], kind="image"),
               disc.add("Flatten", id="flat"), disc.add("Linear", id="score", units=1),
               disc.add("Output", id="realness"))
    recipe, data = _recipe(_digits(gen, disc))
    net = recipe.nets["generator"]
    with torch.no_grad():  # image = 0.5 + W z + E[label], all inside [0, 1]
        net.get_submodule("fc").weight.uniform_(-0.02, 0.02)
        net.get_submodule("fc").bias.fill_(0.5)
        net.get_submodule("embed").weight.uniform_(-0.2, 0.2)
    (grid,) = recipe.samples(data, 1, 0)
    assert grid.kind == "images" and grid.data.shape == (80, 1, 8, 8)
    assert grid.extra["cols"] == 8 and grid.extra["rows"] == [str(i) for i in range(10)]
    images = torch.from_numpy(grid.data).reshape(10, 8, 64)
    embed = net.get_submodule("embed").weight
    # Minus the class's embedding, every row is the same: row = class, column = one z.
    style = images - embed[:, None, :]
    torch.testing.assert_close(style, style[:1].expand_as(style), atol=1e-5, rtol=0)
    assert (style[0, 1:] - style[0, :1]).abs().max() > 1e-3  # and the columns differ


def test_a_conditional_sample_takes_a_class_or_refuses_with_the_classes():
    recipe, _ = _recipe(_image_gan(label=True))
    seven = recipe.sample(5, torch.Generator().manual_seed(0), "7")
    assert seven.kind == "images" and seven.data.shape == (5, 1, 8, 8)
    assert seven.labels == ["7"] * 5
    with pytest.raises(RecipeError, match="unknown class 'seven'"):
        recipe.sample(5, torch.Generator(), "seven")


# --- InfoGAN ----------------------------------------------------------------------------------

def test_infogan_feeds_its_codes_and_q_learns_to_read_them():
    recipe, data = _recipe(_image_gan(codes=(4, 2), info_weight=1.0))
    fed = []
    recipe.nets["generator"].register_forward_pre_hook(lambda m, args: fed.append(args))
    history = _train(recipe, data, _ctx(recipe, lr=1e-2), 60)
    z, c_cat, c_cont = fed[0]  # in the order of the generator's inputs
    assert z.shape == (32, 8) and c_cat.shape == (32, 4) and c_cont.shape == (32, 2)
    assert torch.equal(c_cat.sum(1), torch.ones(32)) and set(c_cat.unique().tolist()) == {0, 1}
    assert c_cont.abs().max() <= 1 and c_cont.std() > 0.3
    assert not torch.equal(fed[0][1], fed[1][1])  # fresh codes every step
    assert _mean(history, "info_loss", "last") < 0.8 * _mean(history, "info_loss", "first")
    assert _mean(history, "code_accuracy", "last") > 0.5  # chance: 0.25
    with torch.no_grad():
        metrics, _ = recipe.eval_summary(recipe.eval_batch(dict(data.val.items())), 1)
    assert {"info_loss", "code_accuracy", "d_accuracy"} <= set(metrics)


@pytest.mark.parametrize("prompt, ids, cont", [
    ("3", [3, 3], None),
    (" 3 , 0.5, -1 ", [3, 3], [0.5, -1.0]),
])
def test_infogan_prompts_fix_the_codes(prompt, ids, cont):
    recipe, _ = _recipe(_image_gan(codes=(4, 2)))
    drawn = recipe.codes.for_prompt(2, prompt, "gan", torch.Generator().manual_seed(0))
    assert drawn.ids.tolist() == ids
    if cont is None:
        assert drawn.cont.shape == (2, 2) and not torch.equal(drawn.cont[0], drawn.cont[1])
    else:
        assert drawn.cont.tolist() == [cont, cont]
    samples = recipe.sample(2, torch.Generator().manual_seed(0), prompt)
    assert samples.data.shape == (2, 1, 8, 8) and samples.labels == ["c=3", "c=3"]


@pytest.mark.parametrize("prompt", ["4", "-1", "3.5", "3.0", "3, 0.5", "3, 0.5, -1, 2",
                                    "three", "3, x, 1", "", "3, nan, 1", ", 0.5, 1"])
def test_infogan_refuses_a_prompt_of_another_form(prompt):
    recipe, _ = _recipe(_image_gan(codes=(4, 2)))
    with pytest.raises(RecipeError, match=r'does not fit the InfoGAN codes; give a categorical '
                                          r'value 0–3 \(e\.g\. "3"\), or it followed by exactly '
                                          r'2 continuous values \(e\.g\. "3, 0\.5, -1"\)'):
        recipe.sample(2, torch.Generator(), prompt)


def test_infogan_with_continuous_codes_alone_takes_exactly_m_values():
    recipe, _ = _recipe(_image_gan(codes=(0, 2)))
    assert recipe.codes.parse("0.5, -1", "gan") == (None, [0.5, -1.0])
    with pytest.raises(RecipeError, match=r'give 2 continuous values separated by commas'):
        recipe.codes.parse("3", "gan")


def test_infogan_settings_and_networks_must_agree():
    with pytest.raises(RecipeError, match="categorical_codes is 4: add to the generator "
                                          "'generator' an Input with source 'recipe', field "
                                          "'c_cat' and shape \\[4\\]"):
        _recipe(_image_gan(codes=(0, 2), categorical_codes=4))
    with pytest.raises(RecipeError, match="recipe's continuous_codes is 0"):
        _recipe(_image_gan(codes=(4, 2), continuous_codes=0))
    with pytest.raises(RecipeError, match="needs a second Output 'guess'"):
        _recipe(_image_gan(codes=(4, 2), q_output="guess"))
    p = _image_gan(codes=(4, 2))
    p.networks["discriminator"].nodes["q_head"].params["units"] = 5
    recipe, data = _recipe(p)
    with pytest.raises(RecipeError, match="gives \\[5\\] per sample; InfoGAN needs 6 values"):
        recipe.check({k: v[:2] for k, v in data.train.items()})


def test_infogan_sample_through_the_cli_exits_2_on_a_bad_prompt(tmp_path, capsys):
    file = save(_image_gan(codes=(4, 2)), tmp_path / "info.loom")
    run = tmp_path / "run"
    assert main(["train", str(file), "--out", str(run), "--max-steps", "3"]) == 0
    ok = tmp_path / "ok.png"
    assert main(["sample", str(file), "--weights", str(run), "-n", "4", "--prompt",
                 "3, 0.5, -1", "-o", str(ok)]) == 0 and ok.is_file()
    capsys.readouterr()
    assert main(["sample", str(file), "--weights", str(run), "--prompt", "3, 0.5",
                 "-o", str(tmp_path / "bad.png")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    assert "'3, 0.5' does not fit the InfoGAN codes" in err and '"3, 0.5, -1"' in err
    assert not (tmp_path / "bad.png").exists()


# --- pictures ---------------------------------------------------------------------------------

def test_image_samples_are_a_grid_traversals_and_quality_figures(quick_judge):
    recipe, data = _recipe(_image_gan(codes=(4, 2), quality=True))
    events = recipe.samples(data, 10, 0)
    by_name = {e.name: e for e in events}
    grid = by_name["generated images"]
    assert grid.kind == "images" and grid.data.shape == (64, 1, 8, 8)
    assert grid.extra == {"cols": 8} and 0 <= grid.data.min() and grid.data.max() <= 1
    for which in (0, 1):
        walk = by_name[f"code traversal c_cont[{which}]"]
        assert walk.kind == "images" and walk.data.shape == (4 * 9, 1, 8, 8)
        assert walk.extra["cols"] == 9 and walk.extra["rows"] == ["c=0", "c=1", "c=2", "c=3"]
        assert walk.extra["columns"][0] == "-2" and walk.extra["columns"][-1] == "2"
    fid = by_name["Fréchet distance"]
    assert fid.kind == "curve" and fid.data.shape == (1, 2) and fid.data[0, 0] == 10
    bars = by_name["generated classes"]
    assert bars.kind == "bars" and bars.data.shape == (10,) and bars.labels[3] == "3"
    assert bars.data.sum() == pytest.approx(1.0)
    # The same pictures again: fixed noise, fixed codes.
    again = {e.name: e for e in recipe.samples(data, 20, 0)}
    np.testing.assert_array_equal(again["generated images"].data, grid.data)
    assert again["Fréchet distance"].data.shape == (2, 2)


def test_a_discriminator_that_wins_outright_is_reported(quick_judge):
    recipe, data = _recipe(_image_gan(quality=True))
    recipe.quality.window = 3
    recipe.recent.value = torch.tensor([0.999, 0.001])  # D(x) ≈ 1, D(G(z)) ≈ 0
    warnings = [e for step in (1, 2, 3) for e in recipe.samples(data, step, 0)
                if isinstance(e, Warning)]
    assert [w.code for w in warnings] == ["discriminator_collapse"] and warnings[0].step == 3


def test_quality_figures_can_be_turned_off_and_a_critic_gives_no_belief():
    recipe, data = _recipe(_image_gan(loss="wgan"))
    assert recipe.quality is None
    assert [e.name for e in recipe.samples(data, 1, 0)] == ["generated images"]
    _train(recipe, data, _ctx(recipe), 1)
    assert recipe.recent.read() is None  # a critic's scores are no probabilities


def test_resume_restores_the_weight_average_and_the_quality_history(tmp_path, quick_judge):
    p = _image_gan(ema=0.9, quality=True)
    p.training.samples_every, p.training.samples_unit = 2, "steps"
    file = save(p, tmp_path / "gan.loom")
    whole, part = tmp_path / "whole", tmp_path / "part"
    args = ["train", str(file), "--epochs", "2", "--device", "cpu"]
    assert main(args + ["--out", str(whole), "--max-steps", "8"]) == 0
    assert main(args + ["--out", str(part), "--max-steps", "4"]) == 0
    saved = load_checkpoint(part / "checkpoint", {})[0]["recipes"]["0"]
    assert {"ema", "quality", "recent"} <= set(saved)
    assert [s for s, _ in saved["quality"]["fid"]] == [2, 4]
    assert main(args + ["--out", str(part), "--max-steps", "8", "--resume"]) == 0
    a = load_checkpoint(whole / "checkpoint", {})[0]["recipes"]["0"]
    b = load_checkpoint(part / "checkpoint", {})[0]["recipes"]["0"]
    for key in a["ema"]:
        assert torch.equal(a["ema"][key], b["ema"][key]), key
    assert [s for s, _ in b["quality"]["fid"]] == [2, 4, 6, 8]
    np.testing.assert_allclose(np.array(b["quality"]["fid"]), np.array(a["quality"]["fid"]),
                               rtol=1e-6)
    torch.testing.assert_close(a["recent"], b["recent"])


# --- the templates ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", GAN_TEMPLATES)
def test_each_gan_template_trains_two_steps(name):
    p = load(TEMPLATES / f"{name}.loom")
    title, summary = p.description.splitlines()[:2]
    assert title and summary and p.recipe.name == "gan"
    assert set(p.networks) == {"generator", "discriminator"}
    assert not p.dataset.params.get("normalize", True)  # pixels in [0, 1], as G's Sigmoid
    p.dataset.params["n_samples"] = 200 if p.dataset.name == "glyph_digits" else 100
    p.recipe.params["quality"] = False
    p.training.batch_size, p.training.samples_unit = 16, "end"
    events = Recorder()
    finished = Trainer(p, callback=events, device="cpu").fit(max_steps=2)
    assert finished.reason == "max_steps", events.of(Failure)
    steps = events.of(StepMetrics)
    assert steps and all(math.isfinite(v) for s in steps for v in s.values.values())
    pictures = {e.name: e for e in events.of(Samples)}
    grid = pictures["generated images"]
    side = 8 if p.dataset.name == "digits8" else 28
    assert grid.data.shape[1:] == (1, side, side)
    if name == "cgan":
        assert grid.extra["rows"] == [str(i) for i in range(10)]
    if name == "infogan":
        assert {"info_loss", "code_accuracy"} <= set(steps[-1].values)
        assert pictures["code traversal c_cont[1]"].data.shape == (90, 1, 28, 28)
