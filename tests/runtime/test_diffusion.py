"""Diffusion: the noise schedules' ᾱ and one DDPM and DDIM step against hand computations,
real training steps of a tiny text-conditional denoiser, classifier-free guidance's empty
condition, prompts (refused words named), the weight average through a checkpoint, and the
denoiser's ONNX export with parity."""

from __future__ import annotations

import math

import pytest
import torch
from rt_helpers import Recorder, assert_noised_on_a_shifted_chain, recorded

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
from runtime.assemble import load_data, make_recipe
from runtime.data.shapes import VOCAB
from runtime.events import Samples, StepMetrics
from runtime.export import TOLERANCE, export_onnx, parity
from runtime.recipes.base import RecipeError
from runtime.recipes.diffusion_parts import Schedule, betas, generate, guided
from runtime.trainer import Trainer


def test_linear_schedule_alpha_bar_is_the_running_product():
    beta = betas("linear", 1000)
    assert beta[0].item() == pytest.approx(1e-4) and beta[-1].item() == pytest.approx(0.02)
    s = Schedule.make("linear", 4)  # scaled by 1000/4: β from 0.025 to 0.999 (capped at 5)
    hand = [0.025, 0.025 + (0.999 - 0.025) / 3, 0.025 + 2 * (0.999 - 0.025) / 3, 0.999]
    bar = 1.0
    for t, b in enumerate(hand):
        bar *= 1 - b
        assert s.alpha_bar[t].item() == pytest.approx(bar, rel=1e-5)


def test_cosine_schedule_follows_the_squared_cosine():
    T, off = 10, 0.008
    s = Schedule.make("cosine", T)

    def f(t):
        return math.cos((t / T + off) / (1 + off) * math.pi / 2) ** 2

    for t in range(T - 1):  # the last β is capped at 0.999
        assert s.alpha_bar[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-5)
    assert torch.all(s.beta > 0) and s.beta.max().item() == pytest.approx(0.999)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_a_shifted_schedule_multiplies_every_steps_signal_to_noise_ratio(kind):
    plain, shifted = Schedule.make(kind, 100), Schedule.make(kind, 100, shift=3.0)
    torch.testing.assert_close(Schedule.make(kind, 100, shift=1.0).alpha_bar, plain.alpha_bar)
    for t in (0, 10, 50, 90):
        a = plain.alpha_bar[t].item()
        assert shifted.alpha_bar[t].item() == pytest.approx(9 * a / (1 + 8 * a), rel=1e-4)
    # still a chain: each β in (0, 1), ᾱ the running product of 1 − β
    assert torch.all((shifted.beta > 0) & (shifted.beta < 1))
    torch.testing.assert_close(torch.cumprod(1 - shifted.beta, 0), shifted.alpha_bar)


def test_noising_mixes_image_and_noise_by_alpha_bar():
    s = Schedule.make("linear", 10)
    x0, eps = torch.full((2, 1, 2, 2), 0.5), torch.full((2, 1, 2, 2), -1.0)
    t = torch.tensor([0, 9])
    out = s.noisy(x0, t, eps)
    for i in range(2):
        bar = s.alpha_bar[t[i]].item()
        assert out[i, 0, 0, 0].item() == pytest.approx(
            math.sqrt(bar) * 0.5 - math.sqrt(1 - bar), rel=1e-5)


def test_one_ddim_step_against_a_hand_computation():
    s = Schedule.make("linear", 10)
    x, eps, t, prev = torch.tensor([0.3]), torch.tensor([0.8]), 6, 3
    a, b = s.alpha_bar[t].item(), s.alpha_bar[prev].item()
    x0 = (0.3 - math.sqrt(1 - a) * 0.8) / math.sqrt(a)
    hand = math.sqrt(b) * x0 + math.sqrt(1 - b) * 0.8
    assert s.ddim_step(x, t, prev, eps, None, 0.0, clip=False).item() == pytest.approx(
        hand, rel=1e-5)
    # η = 1 adds σ·noise and shortens the direction by σ².
    sigma = math.sqrt((1 - b) / (1 - a) * (1 - a / b))
    noisy = math.sqrt(b) * x0 + math.sqrt(1 - b - sigma**2) * 0.8 + sigma * 0.5
    assert s.ddim_step(x, t, prev, eps, torch.tensor([0.5]), 1.0, clip=False).item() == \
        pytest.approx(noisy, rel=1e-5)
    # The last step lands on the estimate of x_0 itself.
    assert s.ddim_step(x, t, -1, eps, None, 0.0, clip=False).item() == pytest.approx(x0)


def test_ddpm_step_is_the_posterior_mean_in_its_noise_form():
    s = Schedule.make("linear", 10)
    x, eps, noise, t = torch.tensor([0.2]), torch.tensor([-0.4]), torch.tensor([1.0]), 5
    alpha, beta, bar = s.alpha[t].item(), s.beta[t].item(), s.alpha_bar[t].item()
    mean = (0.2 - beta / math.sqrt(1 - bar) * -0.4) / math.sqrt(alpha)
    var = beta * (1 - s.alpha_bar[t - 1].item()) / (1 - bar)
    out = s.ddpm_step(x, t, eps, noise, clip=False)
    assert out.item() == pytest.approx(mean + math.sqrt(var), rel=1e-4)


def test_clipping_keeps_the_estimate_of_x0_inside_the_image_range():
    s = Schedule.make("cosine", 50)
    x = torch.tensor([3.0])  # far outside: its x̂_0 is clipped to 1
    assert s.ddim_step(x, 0, -1, torch.tensor([0.0]), None).item() == pytest.approx(1.0)


def test_dynamic_thresholding_scales_each_estimate_back_by_its_quantile():
    s = Schedule.make("cosine", 50)
    eps = torch.zeros(2, 1, 1, 4)
    # The last step lands on x̂_0 = x / √ᾱ_0: an image reaching 3 and one inside the range.
    x = torch.tensor([[[[0.5, -1.0, 2.0, 3.0]]], [[[0.2, -0.4, 0.6, 0.8]]]])
    x0 = x / s.alpha_bar[0].sqrt()
    out = s.ddim_step(x, 0, -1, eps, None, threshold=0.9)
    # image 0: the 0.9 quantile of |x̂_0| lies 0.7 of the way from its 3rd to its 4th value;
    # clamped to ±q, then divided by q.  Image 1 stays inside: q < 1, so s = 1, it is as is.
    a = x0[0, 0, 0].abs().sort().values
    q = a[2] + 0.7 * (a[3] - a[2])
    torch.testing.assert_close(out[0, 0, 0], x0[0, 0, 0].clamp(-q, q) / q)
    torch.testing.assert_close(out[1], x0[1])
    # Static clipping flattens 2 and 3 alike; the dynamic one keeps them apart.
    static = s.ddim_step(x, 0, -1, eps, None)
    assert static[0, 0, 0, 2] == static[0, 0, 0, 3] == pytest.approx(1.0)
    assert out[0, 0, 0, 2] < out[0, 0, 0, 3] == pytest.approx(1.0)


def test_guidance_mixes_conditional_and_free_predictions():
    seen = []

    def denoise(x, t, conditional):
        seen.append(conditional)
        return torch.cat([torch.ones_like(x[:1]), torch.zeros_like(x[1:])])  # cond 1, free 0

    eps = guided(denoise, 3.0)(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))
    assert seen == [None] and torch.allclose(eps, torch.full((1, 2), 3.0))


def test_samplers_visit_the_chain_downwards():
    s = Schedule.make("linear", 100)
    assert s.visits("ddpm", 0) == list(range(99, -1, -1))
    ddim = s.visits("ddim", 10)
    assert ddim == list(range(90, -1, -10))  # DDIM's spacing: a stride of T // steps
    _, strip = generate(lambda x, t: torch.zeros_like(x), s, (2, 1, 4, 4),
                        torch.Generator().manual_seed(0), torch.device("cpu"), "ddim", 10,
                        keep=5)
    assert [t for t, _ in strip][0] == 100 and strip[-1][0] == 0 and len(strip) == 5


def test_min_snr_weights_cap_the_signal_to_noise_ratio_at_gamma():
    s = Schedule.make("cosine", 1000)
    t = torch.tensor([0, 200, 500, 999])
    bar = s.alpha_bar[t].double()
    snr = bar / (1 - bar)
    hand = torch.minimum(snr, torch.tensor(5.0, dtype=torch.float64)) / snr
    assert torch.allclose(s.snr_weight(t, 5.0).double(), hand, rtol=1e-5)
    assert s.snr_weight(t, 5.0)[0] < 0.01 and s.snr_weight(t, 5.0)[-1] == 1  # clean: small
    assert torch.equal(s.snr_weight(t, 0.0), torch.ones(4))


def test_the_velocity_target_and_its_noise_agree_with_a_hand_computation():
    s = Schedule.make("cosine", 1000)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.rand(4, 3, 2, 2, generator=g) * 2 - 1, torch.randn(4, 3, 2, 2, generator=g)
    t = torch.tensor([0, 300, 700, 999])
    a = s.alpha_bar[t].sqrt().view(-1, 1, 1, 1)
    b = (1 - s.alpha_bar[t]).sqrt().view(-1, 1, 1, 1)
    v = s.target("v", x0, t, eps)
    assert torch.allclose(v, a * eps - b * x0, atol=1e-6)
    assert torch.equal(s.target("eps", x0, t, eps), eps)
    x = s.noisy(x0, t, eps)
    assert torch.allclose(s.as_eps("v", x, t, v), eps, atol=1e-5)  # v̂ = v gives back ε
    assert torch.allclose(v[-1], -x0[-1], atol=1e-3)  # near pure noise v is −x_0
    bar = s.alpha_bar[t].double()
    snr = bar / (1 - bar)
    hand = torch.minimum(snr, torch.tensor(5.0, dtype=torch.float64)) / (snr + 1)
    assert torch.allclose(s.snr_weight(t, 5.0, "v").double(), hand, rtol=1e-5)


# --- the recipe ------------------------------------------------------------------------------

def tiny_denoiser() -> Network:
    """x_t [3, 32, 32], t and the caption → ε̂: two convolutions, conditioned by a broadcast
    add of the caption's mean word vector plus the step's embedding."""
    net = Network("denoiser")
    net.chain(net.add("Input", id="caption", shape=[10], kind="tokens", field="caption"),
              net.add("Embedding", id="words", vocab=len(VOCAB), dim=16),
              net.add("TimePool", id="text"))
    net.chain(net.add("Input", id="t", shape=[1], kind="vector", field="t", source="recipe"),
              net.add("TimestepEmbedding", id="step", dim=16, out=16))
    net.add("Add", id="cond")
    net.connect("text", "cond", dst_port="x1")
    net.connect("step", "cond", dst_port="x2")
    net.chain(net.add("Input", id="x_t", shape=[3, 32, 32], kind="image", field="x_t",
                      source="recipe"),
              net.add("Conv2d", id="conv1", filters=16, kernel=3, padding=1),
              net.add("BroadcastAdd", id="film"))
    net.connect("cond", "film", dst_port="v")
    net.chain("film", net.add("SiLU", id="act"),
              net.add("Conv2d", id="conv2", filters=3, kernel=3, padding=1),
              net.add("Output", id="eps"))
    return net


def tiny_project(**params) -> Project:
    return Project({"denoiser": tiny_denoiser()},
                   DatasetConfig("shapes", {"n_samples": 96, "normalize": False, "size": "32",
                                            "val_fraction": 0.25}),
                   RecipeConfig("diffusion", {"denoiser": "denoiser"},
                                {"timesteps": 50, "sample_steps": 4, "prompt_accuracy": 0,
                                 **params}),
                   TrainingSettings(epochs=1, batch_size=24,
                                    optimizers={"*": OptimizerConfig("adam", 3e-3)},
                                    samples_every=3, samples_unit="steps"))


def _recipe(p: Project):
    data = load_data(p)
    torch.manual_seed(0)
    recipe = make_recipe(p, data)
    recipe.generator = torch.Generator().manual_seed(0)
    return recipe, data


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_real_steps_lower_the_noise_prediction_loss_and_draw_the_pictures(prediction, tmp_path):
    rec = Recorder()
    p = tiny_project(prediction=prediction)
    p.training.epochs = 12
    fin = Trainer(p, device="cpu", callback=rec, run_dir=tmp_path / "run").fit(max_steps=36)
    losses = [s.values["loss"] for s in rec.of(StepMetrics)]
    assert len(losses) == 36 and all(math.isfinite(v) for v in losses)
    assert sum(losses[-6:]) / 6 < 0.7 * sum(losses[:6]) / 6  # it learns
    assert math.isfinite(fin.final["loss"])
    pictures = {s.name: s for s in rec.of(Samples)}
    grid = pictures["samples per prompt"]
    assert grid.extra["prompt"] == "" and len(grid.extra["rows"]) == 6
    assert grid.data.shape == (6 * grid.extra["cols"], 3, 32, 32)
    assert 0 <= grid.data.min() and grid.data.max() <= 1
    strip = pictures["denoising x_T → x_0"]
    assert strip.extra["columns"][0] == "t=50" and strip.extra["columns"][-1] == "t=0"
    assert strip.data.shape == (3 * strip.extra["cols"], 3, 32, 32)


def test_with_a_shift_the_denoiser_learns_on_a_chain_of_less_noise():
    seen = {}
    for shift in (1.0, 2.0):  # the same batch, steps and noise
        recipe, data = _recipe(tiny_project(shift=shift))
        calls = recorded(recipe, "_net")
        recipe._loss({k: v[:8] for k, v in data.train.items()},
                     torch.Generator().manual_seed(0), train=False)
        seen[shift] = calls[0][:2]
    (plain, t), (shifted, _) = seen[1.0], seen[2.0]
    assert t.max() > 40
    assert_noised_on_a_shifted_chain(plain, shifted, data.train["x"][:8].float() * 2 - 1,
                                     Schedule.make("cosine", 50).alpha_bar[t], 2.0)


def test_dropped_conditions_are_the_empty_caption_in_the_same_samples():
    recipe, data = _recipe(tiny_project(p_uncond=0.5))
    batch = {k: v[:40] for k, v in data.train.items()}
    dropped = recipe._drop(batch, 0.5)["caption"]
    empty = (dropped == 0).all(1)
    assert 5 < int(empty.sum()) < 35  # about half, drawn per sample
    assert torch.equal(dropped[~empty], batch["caption"][~empty])


def test_a_prompt_conditions_the_samples_and_unknown_words_are_named():
    recipe, _ = _recipe(tiny_project())
    g = torch.Generator().manual_seed(0)
    out = recipe.sample(3, g, "a large red circle in the centre")
    assert out.kind == "images" and out.data.shape == (3, 3, 32, 32)
    assert out.extra["prompt"] == "a large red circle in the centre"
    with pytest.raises(RecipeError, match="purple"):
        recipe.sample(2, g, "a purple circle")
    cond = recipe.conditions_for(["a large red circle in the centre", None], 2)["caption"]
    assert cond.shape == (4, 10) and (cond[2:] == 0).all() and cond[0, 0] == 1


def test_guidance_changes_what_a_prompt_makes():
    recipe, data = _recipe(tiny_project())
    for _ in range(3):  # weights that read the caption
        for p in recipe.nets["denoiser"].parameters():
            p.data.add_(torch.randn_like(p) * 0.05)
    cond = recipe.conditions_for(["a large red circle in the centre"], 2)
    made = []
    for w in (0.0, 5.0):
        recipe.options["guidance"] = w
        made.append(recipe.generate(cond, 2, torch.Generator().manual_seed(3))[0])
    assert not torch.allclose(made[0], made[1])


def test_the_weight_average_travels_in_the_recipe_state():
    recipe, data = _recipe(tiny_project(ema=0.9))
    net = recipe.nets["denoiser"]
    recipe.ema.update(net, 0)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    recipe.ema.update(net, 50)
    state = recipe.state_dict()
    other, _ = _recipe(tiny_project(ema=0.9))
    other.load_state_dict(state)
    for k, v in state["ema"].items():
        assert torch.equal(other.ema.shadow[k], v)


def test_the_template_denoiser_exports_to_onnx_with_parity(tmp_path):
    net = load(TEMPLATES / "ddpm_shapes.loom").networks["denoiser"]
    compiled = compile_network(net)
    path = export_onnx(compiled, tmp_path / "denoiser.onnx")
    assert parity(compiled, path) <= TOLERANCE


def test_a_class_conditional_denoiser_learns_with_the_extra_empty_class():
    net = tiny_denoiser()
    for node in ("caption", "words", "text"):
        del net.nodes[node]
    net.edges = [e for e in net.edges if e.src in net.nodes and e.dst in net.nodes]
    net.chain(net.add("LabelInput", id="label", num_classes=11),
              net.add("Embedding", id="classes", vocab=11, dim=16))
    net.connect("classes", "cond", dst_port="x1")
    p = tiny_project(p_uncond=0.5)
    p.networks = {"denoiser": net}
    recipe, data = _recipe(p)
    batch = {k: v[:24] for k, v in data.train.items()}
    dropped = recipe._drop(batch, 0.5)["y"]
    assert set(dropped.tolist()) - set(range(10)) == {10}  # the empty class
    recipe.check(batch)
    out = recipe.sample(2, torch.Generator().manual_seed(0), "star")
    assert out.data.shape == (2, 3, 32, 32) and out.extra["prompt"] == "star"
    with pytest.raises(RecipeError, match="unknown class 'blob'"):
        recipe.sample(2, torch.Generator().manual_seed(0), "blob")
    net.nodes["classes"].params["vocab"] = 10  # no room for the empty class
    p.networks = {"denoiser": net}
    recipe, _ = _recipe(p)
    with pytest.raises(RecipeError, match=r"num_classes \+ 1 = 11 entries"):
        recipe.check(batch)


def test_layerloom_sample_answers_a_prompt_and_refuses_unknown_words(tmp_path, capsys):
    from app.cli import main
    from builder.gallery import template_path
    from builder.serialize import save

    p = tiny_project()
    file = tmp_path / "ddpm.loom"
    save(p, file)
    run = tmp_path / "run"
    Trainer(p, device="cpu", run_dir=run).fit(max_steps=2)
    out = tmp_path / "red.png"
    assert main(["sample", str(file), "--weights", str(run), "-n", "3", "--guidance", "4",
                 "--prompt", "a large red circle in the centre", "-o", str(out)]) == 0
    assert out.is_file()
    capsys.readouterr()
    code = main(["sample", str(file), "--weights", str(run), "--prompt", "a purple blob",
                 "-o", str(tmp_path / "no.png")])
    err = capsys.readouterr().err
    assert code == 2 and '"purple"' in err and '"blob"' in err
    assert not (tmp_path / "no.png").exists()
    code = main(["sample", str(template_path("mlp")), "--weights", str(run), "--guidance", "2",
                 "-o", str(tmp_path / "mlp.csv")])
    assert code == 2 and "has no guidance scale" in capsys.readouterr().err
