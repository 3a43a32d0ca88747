"""Imagen in miniature: the CLIP stage then the denoisers' stage with the text encoder really
frozen, real steps with the losses falling, the super-resolution model reading its low image,
a prompt answered with full-size images (unknown words refused by name), the pictures, the
weight averages through the recipe state, and both template denoisers' ONNX export with
parity."""

from __future__ import annotations

import contextlib
import io
import math

import pytest
import torch
from rt_helpers import Recorder, assert_noised_on_a_shifted_chain, recorded

from app.cli import main
from builder.compiler import compile_network
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
from runtime import attributes
from runtime.assemble import SetupError, load_data, make_recipe
from runtime.data.shapes import VOCAB
from runtime.events import StageStarted, StepMetrics
from runtime.export import TOLERANCE, export_onnx, parity
from runtime.recipes.base import RecipeError
from runtime.recipes.imagen_parts import resize
from runtime.trainer import Trainer

E = 16  # the text embedding's width in the tiny networks


def _text_encoder(tokens: bool = False) -> Network:
    net = Network("text_encoder")
    net.chain(net.add("Input", id="caption", shape=[10], kind="tokens", field="caption"),
              net.add("Embedding", id="words", vocab=len(VOCAB), dim=E),
              net.add("TimePool", id="pool"), net.add("Linear", id="embed", units=E),
              net.add("Output", id="embedding"))
    if tokens:  # the word vectors themselves, as a second Output
        net.chain("words", net.add("Output", id="tokens"))
    return net


def _read_words(net: Network, into: str) -> None:
    """A tokens Input [10, E], mean-pooled and projected, added into the Add node ``into``."""
    net.chain(net.add("Input", id="tokens", shape=[10, E], kind="sequence", field="tokens",
                      source="recipe"),
              net.add("TimePool", id="words"), net.add("Linear", id="words_proj", units=16))
    node = net.nodes[into]
    node.params["inputs"] = node.params.get("inputs", 2) + 1
    net.connect("words_proj", into, dst_port=f"x{node.params['inputs']}")


def _image_encoder() -> Network:
    net = Network("image_encoder")
    net.chain(net.add("Input", id="x", shape=[3, 32, 32], kind="image"),
              net.add("Conv2d", id="conv", filters=4, kernel=4, stride=4),
              net.add("Flatten", id="flat"), net.add("Linear", id="embed", units=E),
              net.add("Output", id="embedding"))
    return net


def _denoiser(name: str, side: int, low: bool) -> Network:
    """x_t, t, the text (and the low image and its noise level) → ε̂ through a tiny U-Net."""
    net = Network(name)
    net.chain(net.add("Input", id="text", shape=[E], kind="vector", field="text",
                      source="recipe"), net.add("Linear", id="text_proj", units=16))
    net.chain(net.add("Input", id="t", shape=[1], kind="vector", field="t", source="recipe"),
              net.add("TimestepEmbedding", id="step", dim=16, out=16))
    parts = ["text_proj", "step"]
    if low:
        net.chain(net.add("Input", id="aug", shape=[1], kind="vector", field="aug",
                          source="recipe"),
                  net.add("TimestepEmbedding", id="level", dim=16, out=16))
        parts.append("level")
    net.add("Add", id="cond", inputs=len(parts))
    for i, src in enumerate(parts, start=1):
        net.connect(src, "cond", dst_port=f"x{i}")
    net.add("Input", id="x_t", shape=[3, side, side], kind="image", field="x_t",
            source="recipe")
    image = "x_t"
    if low:
        net.chain(net.add("Input", id="low", shape=[3, 16, 16], kind="image", field="low",
                          source="recipe"),
                  net.add("Upsample", id="enlarge", scale=2.0, mode="bilinear"))
        net.add("Concat", id="join")
        net.connect("x_t", "join", dst_port="x1")
        net.connect("enlarge", "join", dst_port="x2")
        image = "join"
    net.add("UNet", id="unet", filters=8, depth=1, out_channels=3, norm="group",
            level="residual", output="none", condition="film")
    net.connect(image, "unet", dst_port="x")
    net.connect("cond", "unet", dst_port="c")
    net.chain("unet", net.add("Output", id="eps"))
    return net


def tiny_project(epochs: int = 1, n: int = 96, batch: int = 24, words: bool = False,
                 **params) -> Project:
    nets = {"text_encoder": _text_encoder(words), "image_encoder": _image_encoder(),
            "base": _denoiser("base", 16, False), "sr": _denoiser("sr", 32, True)}
    if words:  # both denoisers also read the caption word by word
        for role in ("base", "sr"):
            _read_words(nets[role], "cond")
    return Project(nets,
                   DatasetConfig("shapes", {"n_samples": n, "normalize": False, "size": "32",
                                            "val_fraction": 0.25}),
                   RecipeConfig("imagen", {r: r for r in nets},
                                {"timesteps": 50, "sample_steps": 3, "prompt_accuracy": False,
                                 **params}),
                   TrainingSettings(epochs=epochs, batch_size=batch,
                                    optimizers={"*": OptimizerConfig("adam", 3e-3)},
                                    samples_unit="end"))


def _recipe(words: bool = False, **params):
    p = tiny_project(words=words, **params)
    data = load_data(p)
    torch.manual_seed(0)
    recipe = make_recipe(p, data)
    recipe.generator = torch.Generator().manual_seed(0)
    return recipe, data


def _weights(module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_clip_stage_then_the_denoisers_with_the_text_encoder_frozen(tmp_path):
    rec, seen = Recorder(), {}
    # 76 training samples: CLIP in its own batches of 38 (2 steps an epoch), with hard
    # negatives; the denoisers in the settings' 24 (4 steps)
    p = tiny_project(epochs=2, text_share=0.5, clip_batch_size=38, hard_negatives=2)
    trainer = Trainer(p, device="cpu", run_dir=tmp_path / "run")

    def callback(event):
        rec(event)
        if isinstance(event, StageStarted) and event.index == 1:  # CLIP is done
            nets = trainer.run.recipe.nets
            seen.update({r: _weights(nets[r]) for r in nets})

    trainer.callback = callback
    fin = trainer.fit()
    stages = rec.of(StageStarted)
    assert [(s.recipe, s.step, s.batch_size) for s in stages] == [("clip", 0, 38),
                                                                  ("imagen", 2, 0)]
    assert trainer.run.step_recipes[0].options["hard_negatives"] == 2
    assert fin.step == 2 + 4
    assert stages[1].trainable["text_encoder"] == [] and \
        stages[1].trainable["image_encoder"] == []
    nets = trainer.run.recipe.nets
    for role in ("text_encoder", "image_encoder"):  # not one number moved
        assert all(torch.equal(a, b) for a, b in zip(seen[role], _weights(nets[role]))), role
    for role in ("base", "sr"):
        assert not all(torch.equal(a, b) for a, b in zip(seen[role], _weights(nets[role])))
    steps = rec.of(StepMetrics)
    assert "temperature" in steps[0].values and "loss_sr" in steps[-1].values
    assert all(math.isfinite(v) for s in steps for v in s.values.values())
    assert math.isfinite(fin.final["loss_base"]) and math.isfinite(fin.final["loss_sr"])


@pytest.mark.parametrize("prediction,residual,share,shift", [
    ("eps", False, 1.0, 1.0), ("v", False, 1.0, 1.0), ("v", True, 0.5, 2.0)])
def test_real_steps_lower_both_denoising_losses(prediction, residual, share, shift,
                                                tmp_path):
    rec = Recorder()  # one batch of 32 every step: a denoiser that learns must improve
    p = tiny_project(epochs=24, n=40, batch=32, text_share=0.0, p_uncond=0.0,
                     prediction=prediction, sr_residual=residual, sr_share=share,
                     base_shift=shift)
    p.dataset.params["val_fraction"] = 0.2
    Trainer(p, device="cpu", callback=rec, run_dir=tmp_path / "run").fit()
    steps = [s.values for s in rec.of(StepMetrics)]
    assert len(steps) == 24
    for name in ("loss_base", "loss_sr"):
        v = [s[name] for s in steps]
        assert sum(v[-6:]) / 6 < 0.8 * sum(v[:6]) / 6, (name, v)
    # `layerloom sample --prompt` from the run folder (the weight averages come with it);
    # a word the captions never use is refused with exit 2, by name.
    save(p, tmp_path / "p.loom")
    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        ok = main(["sample", str(tmp_path / "p.loom"), "--weights", str(tmp_path / "run"),
                   "-n", "2", "--prompt", "a large red circle", "-o", str(tmp_path / "out.png")])
        refused = main(["sample", str(tmp_path / "p.loom"), "--weights", str(tmp_path / "run"),
                        "-n", "2", "--prompt", "a mauve circle", "-o", str(tmp_path / "no.png")])
    assert ok == 0 and (tmp_path / "out.png").is_file(), said.getvalue()[-1000:]
    assert refused == 2 and '"mauve"' in said.getvalue()


def test_the_super_resolution_model_reads_its_low_image():
    recipe, data = _recipe()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    t = torch.tensor([10, 40])
    text = recipe.texts(["a large red circle", "a small blue star"])
    outs = []
    for low in (resize(x, 16), -resize(x, 16)):
        cond = recipe._low_condition(low, torch.zeros(2, dtype=torch.long), None)
        outs.append(recipe._net("sr", x, t, {**text, **cond}, train=False))
    assert outs[0].shape == x.shape and not torch.allclose(outs[0], outs[1], atol=1e-4)


def test_a_residual_sr_model_adds_what_it_draws_to_the_enlarged_low_image():
    recipe, _ = _recipe()
    low = resize(torch.rand(2, 3, 32, 32) * 2 - 1, 16)
    text = recipe.texts(["a large red circle", "a small blue star"])
    made = []
    for residual in (False, True):  # the same chain from the same noise
        recipe.options["sr_residual"] = residual
        made.append(recipe.upscale(low, text, torch.Generator().manual_seed(4)))
    whole, residual = made
    # the residual model's pictures sit on the low image enlarged bilinearly, still pictures:
    # in [0, 1] wherever the sum goes
    enlarged = torch.nn.functional.interpolate(low, size=32, mode="bilinear",
                                               align_corners=False)
    torch.testing.assert_close(residual, (whole + enlarged / 2).clamp(0, 1))


def test_with_sr_share_the_sr_model_learns_from_part_of_each_batch_and_validates_on_all():
    recipe, data = _recipe(sr_share=0.25)
    seen = {"base": [], "sr": []}
    hooks = [recipe.nets[r].register_forward_hook(
        lambda m, args, out, r=r: seen[r].append(len(out[0] if isinstance(out, tuple) else out)))
        for r in seen]
    batch = {k: v[:16] for k, v in data.train.items()}
    base, sr = recipe._losses(batch, torch.Generator().manual_seed(0), train=True)
    assert (len(base), len(sr)) == (16, 4) and seen == {"base": [16], "sr": [4]}
    base, sr = recipe._losses(batch, torch.Generator().manual_seed(0), train=False)
    assert (len(base), len(sr)) == (16, 16)
    for h in hooks:
        h.remove()


def test_with_base_shift_the_base_model_learns_on_a_chain_of_less_noise():
    # The same batch, steps and noise at base_shift 1 and 2: the base model's x_t follow
    # the shifted ᾱ' = s²ᾱ / (1 + (s² − 1) ᾱ), hand-computed from the plain chain; the sr
    # model's stay as they were.
    seen = {}
    for shift in (1.0, 2.0):
        recipe, data = _recipe(base_shift=shift)
        calls = recorded(recipe, "_net")
        batch = {k: v[:8] for k, v in data.train.items()}
        recipe._losses(batch, torch.Generator().manual_seed(0), train=False)
        seen[shift] = {role: (x, t) for role, x, t, *_ in calls}
    x0 = resize(data.train["x"][:8].float() * 2 - 1, 16)
    (plain, t), (shifted, t2) = seen[1.0]["base"], seen[2.0]["base"]
    assert torch.equal(t, t2) and t.max() > 40  # steps spread over the whole chain
    assert_noised_on_a_shifted_chain(plain, shifted, x0, recipe._chain("sr").alpha_bar[t], 2.0)
    torch.testing.assert_close(seen[1.0]["sr"][0], seen[2.0]["sr"][0])


def test_the_low_image_is_area_averaged_and_noised_by_its_augmentation_step():
    recipe, _ = _recipe(aug_train=0.5)
    x = torch.rand(3, 3, 32, 32)
    low = resize(x, 16)
    assert torch.allclose(low[0, 0, 0, 0], x[0, 0, :2, :2].mean())
    chain = recipe._chain()
    steps = torch.tensor([0, 10, 49])
    cond = recipe._low_condition(low, steps, torch.Generator().manual_seed(0))
    noise = torch.randn(low.shape, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(cond["low"], chain.noisy(low, steps, noise))
    assert cond["aug"].flatten().tolist() == [0.0, 10.0, 49.0]


def test_a_prompt_answers_with_full_size_images_and_unknown_words_are_named():
    recipe, _ = _recipe()
    out = recipe.sample(3, torch.Generator().manual_seed(0), "a large red circle in the centre")
    assert out.kind == "images" and out.data.shape == (3, 3, 32, 32)
    assert out.extra["prompt"] == "a large red circle in the centre"
    assert "figures" not in out.extra  # prompt accuracy off
    assert 0 <= out.data.min() and out.data.max() <= 1
    with pytest.raises(RecipeError, match='"purple".*"dragon"'):
        recipe.sample(2, torch.Generator(), "a purple dragon")
    free = recipe.sample(4, torch.Generator().manual_seed(0))  # the evaluation prompts
    assert free.data.shape == (4, 3, 32, 32) and len(free.labels) == 4


def test_prompt_accuracy_is_reported_in_validation_and_with_a_prompt(monkeypatch):
    # An untrained attribute classifier: the figures' wiring is tested here, not the judge
    # (tests/runtime/test_attributes.py), whose training would take the suite's time.
    monkeypatch.setattr(attributes, "attribute_classifier",
                        lambda device="cpu", root=None: attributes.AttributeNet().eval())
    recipe, data = _recipe(prompt_accuracy=True)
    totals = recipe.eval_batch({k: v[:8] for k, v in data.val.items()})
    metrics, _ = recipe.eval_summary(totals, 1)
    assert {"loss", "loss_base", "loss_sr", "prompt_colour", "prompt_shape",
            "prompt_all"} <= set(metrics)
    assert metrics["loss"] == pytest.approx(metrics["loss_base"] + metrics["loss_sr"])
    assert all(0 <= metrics[f"prompt_{k}"] <= 1 for k in ("colour", "shape", "all"))
    out = recipe.sample(2, torch.Generator().manual_seed(0), "a large red circle")
    assert {"prompt colour", "prompt shape", "prompt all"} <= set(out.extra["figures"])


def test_layerloom_sample_prints_only_the_figures_a_prompt_can_be_judged_on(monkeypatch,
                                                                            tmp_path):
    monkeypatch.setattr(attributes, "attribute_classifier",  # as above: the wiring only
                        lambda device="cpu", root=None: attributes.AttributeNet().eval())
    p = tiny_project(text_share=0.0, prompt_accuracy=True)
    Trainer(p, device="cpu", run_dir=tmp_path / "run").fit()
    save(p, tmp_path / "p.loom")
    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        code = main(["sample", str(tmp_path / "p.loom"), "--weights", str(tmp_path / "run"),
                     "-n", "2", "--prompt", "a red circle", "-o", str(tmp_path / "out.png")])
    lines = said.getvalue().splitlines()
    assert code == 0 and any(s.startswith("prompt shape: ") for s in lines), lines
    # the prompt names no size and no place: no figure for them (not "nan")
    assert not any("nan" in s or s.startswith(("prompt size", "prompt position"))
                   for s in lines), lines


def test_guidance_changes_the_base_models_pictures():
    recipe, _ = _recipe()
    with torch.no_grad():  # weights that read the text
        for p in recipe.nets["base"].parameters():
            p.add_(torch.randn_like(p) * 0.1)
    text = recipe.texts(["a large red circle in the centre"] * 2)
    made = []
    for w in (0.0, 5.0):
        recipe.options["guidance"] = w
        made.append(recipe.cascade(text, torch.Generator().manual_seed(3))[0])
    assert made[0].shape == (2, 3, 16, 16) and not torch.allclose(made[0], made[1])



def test_dynamic_thresholding_reaches_the_base_models_sampler():
    recipe, _ = _recipe()
    with torch.no_grad():  # untrained weights, pushed hard: estimates far outside [−1, 1]
        for p in recipe.nets["base"].parameters():
            p.add_(torch.randn_like(p) * 0.1)
    recipe.options["guidance"] = 8.0
    text = recipe.texts(["a large red circle in the centre"] * 2)
    made = []
    for q in (0.0, 0.9):
        recipe.options["threshold"] = q
        made.append(recipe.cascade(text, torch.Generator().manual_seed(3))[0])
    assert not torch.allclose(made[0], made[1])
    # static clipping leaves many pixels at the range's edge; scaling back leaves fewer
    edge = [float(((m - 0.5).abs() > 0.499).float().mean()) for m in made]
    assert edge[1] < edge[0]

def test_the_pictures_pair_each_low_image_with_its_redrawing():
    recipe, data = _recipe()
    grid, sr = recipe.samples(data, 5, 0)
    assert grid.extra["prompt"] == "" and len(grid.extra["rows"]) == 8
    assert grid.data.shape == (8 * grid.extra["cols"], 3, 32, 32)
    assert grid.extra["columns"][:2] == ["16×16", "32×32"]
    assert sr.data.shape == (8 * 3, 3, 32, 32)
    assert torch.allclose(torch.as_tensor(sr.data[2]), data.val["x"][0])  # the truth, shown


def test_the_weight_averages_travel_in_the_recipe_state():
    recipe, _ = _recipe(ema=0.9)
    for role, average in recipe.averages.items():
        average.update(recipe.nets[role], 0)
        with torch.no_grad():
            for p in recipe.nets[role].parameters():
                p.add_(1.0)
        average.update(recipe.nets[role], 50)
    recipe.updates = 51
    state = recipe.state_dict()
    other, _ = _recipe(ema=0.9)
    other.load_state_dict(state)
    assert other.updates == 51
    for role in ("base", "sr"):
        for k, v in state[f"ema_{role}"].items():
            assert torch.equal(other.averages[role].shadow[k], v)


def test_a_text_encoder_narrower_than_the_text_input_is_refused():
    p = tiny_project()
    p.networks["text_encoder"].nodes["embed"].params["units"] = E // 2
    data = load_data(p)
    recipe = make_recipe(p, data)
    with pytest.raises(RecipeError, match="text Input takes"):
        recipe.check({k: v[:2] for k, v in data.train.items()})


def test_denoisers_that_read_the_words_get_each_word_s_features_zero_at_the_padding():
    recipe, data = _recipe(words=True)
    prompts = ["a large red circle in the centre", "a small red square at the top left"]
    words = recipe.texts(prompts)
    assert set(words) == {"text", "tokens"} and words["tokens"].shape == (2, 10, E)
    ids = torch.stack([torch.as_tensor(recipe_ids(p)) for p in prompts])
    table = recipe.nets["text_encoder"].get_submodule("words").weight
    pad = ids == VOCAB.index("<pad>")
    assert pad[0].any() and not pad.all()  # the shorter caption is padded
    assert torch.allclose(words["tokens"][~pad], table[ids[~pad]].detach())
    assert torch.count_nonzero(words["tokens"][pad]) == 0
    # the word path changes what the base model predicts: one caption's features swapped
    with torch.no_grad():  # weights that read the condition (FiLM starts as the identity)
        for p in recipe.nets["base"].parameters():
            p.add_(torch.randn_like(p) * 0.1)
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([10, 30])
    swapped = {**words, "tokens": words["tokens"].flip(0)}
    a, b = (recipe._net("base", x, t, w, train=False) for w in (words, swapped))
    assert not torch.allclose(a, b, atol=1e-5)
    # and the cascade, the guidance pair and a training step all carry it
    assert recipe.sample(2, torch.Generator().manual_seed(0), prompts[0]).data.shape == \
        (2, 3, 32, 32)
    recipe.check({k: v[:4] for k, v in data.train.items()})


def recipe_ids(prompt: str):
    from runtime.prompts import prompt_ids

    return prompt_ids(prompt, 10, VOCAB)


def test_words_read_from_a_text_encoder_without_a_tokens_output_are_refused_by_name():
    p = tiny_project(words=True)
    p.networks["text_encoder"] = _text_encoder(tokens=False)
    with pytest.raises(SetupError, match="base.*tokens Input.*no Output named tokens"):
        make_recipe(p, load_data(p))


@pytest.mark.parametrize("role", ["base", "sr"])
def test_the_template_denoisers_export_to_onnx_with_parity(role, tmp_path):
    compiled = compile_network(load(TEMPLATES / "imagen_shapes.loom").networks[role])
    path = export_onnx(compiled, tmp_path / f"{role}.onnx")
    assert parity(compiled, path) <= TOLERANCE
