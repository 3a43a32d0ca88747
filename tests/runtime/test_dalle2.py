"""The DALL·E 2 miniature: both stages through the trainer with CLIP frozen in the second, the
decoder and the prior steered by their conditions, the prior's ẑ_0 turned into the sampler's
ε, prompts answered with pictures (also through ``layerloom sample``) and unknown words refused
by name, variations of a picture (also ``layerloom sample --input``), and the prior's and
decoder's ONNX export."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
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
from runtime.assemble import SetupError, load_data, make_recipe
from runtime.data.shapes import VOCAB
from runtime.events import Samples, StageStarted, StepMetrics
from runtime.export import TOLERANCE, export_onnx, parity
from runtime.optimize import Optimization
from runtime.prompts import PromptError
from runtime.recipes.dalle2_parts import eps_from_x0, nearest_candidate
from runtime.recipes.diffusion_parts import Schedule
from runtime.sampling import sample_project, translate_project
from runtime.trainer import Trainer

E, CAPTION = 8, 10
PROMPT = "a large red circle at the top left"


# --- tiny networks -------------------------------------------------------------------------

def _vector(net: Network, name: str, width: int = E) -> str:
    return net.add("Input", id=name, shape=[width], kind="vector", field=name, source="recipe")


def _step(net: Network, out: int) -> str:
    net.chain(net.add("Input", id="t", shape=[1], kind="vector", field="t", source="recipe"),
              net.add("TimestepEmbedding", id="step", dim=8, out=out))
    return "step"


def tiny_networks(text_width: int = E, words: str | None = None) -> dict[str, Network]:
    """``words``: the decoder also reads the caption, as the text encoder's per-word
    ``features`` or as word ``ids`` through an Embedding of its own (GLIDE's text pathway)."""
    img, txt, prior, dec = (Network(n) for n in ("image_encoder", "text_encoder", "prior",
                                                 "decoder"))
    img.chain(img.add("Input", id="x", shape=[3, 32, 32], kind="image"),
              img.add("Conv2d", id="down", filters=4, kernel=8, stride=8),
              img.add("ReLU", id="relu"), img.add("Flatten", id="flat"),
              img.add("Linear", id="embed", units=E), img.add("Output", id="embedding"))
    txt.chain(txt.add("Input", id="caption", shape=[CAPTION], kind="tokens", field="caption"),
              txt.add("Embedding", id="words", vocab=len(VOCAB), dim=16),
              txt.add("Flatten", id="flat"), txt.add("Linear", id="embed", units=E),
              txt.add("Output", id="embedding"))
    prior.add("Concat", id="join", inputs=3)
    for i, src in enumerate((_vector(prior, "text", text_width), _vector(prior, "z_t"),
                             _step(prior, E)), start=1):
        prior.connect(src, "join", dst_port=f"x{i}")
    prior.chain("join", prior.add("Linear", id="fc", units=32), prior.add("SiLU", id="act"),
                prior.add("Linear", id="z_0", units=E), prior.add("Output", id="out"))
    dec.chain(_vector(dec, "embedding"), dec.add("Linear", id="proj", units=16))
    dec.add("Add", id="condition", inputs=3 if words else 2)
    dec.connect("proj", "condition", dst_port="x1")
    dec.connect(_step(dec, 16), "condition", dst_port="x2")
    if words == "features":  # the text encoder's second Output
        txt.chain("words", txt.add("Output", id="tokens"))
        dec.chain(dec.add("Input", id="tokens", shape=[CAPTION, 16], kind="sequence",
                          field="tokens", source="recipe"),
                  dec.add("TimePool", id="pool"), dec.add("Linear", id="words_proj", units=16))
        dec.connect("words_proj", "condition", dst_port="x3")
    elif words == "ids":
        dec.chain(dec.add("Input", id="caption", shape=[CAPTION], kind="tokens",
                          field="caption"),
                  dec.add("Embedding", id="words", vocab=len(VOCAB), dim=16),
                  dec.add("TimePool", id="pool"))
        dec.connect("pool", "condition", dst_port="x3")
    dec.add("Input", id="x_t", shape=[3, 32, 32], kind="image", field="x_t", source="recipe")
    dec.add("UNet", id="unet", filters=8, depth=2, out_channels=3, norm="group",
            level="residual", output="none", condition="film")
    dec.connect("x_t", "unet", dst_port="x")
    dec.connect("condition", "unet", dst_port="c")
    dec.chain("unet", dec.add("Output", id="eps"))
    return {"image_encoder": img, "text_encoder": txt, "prior": prior, "decoder": dec}


def tiny_project(epochs: int = 2, words: str | None = None, **params) -> Project:
    nets = tiny_networks(words=words)
    return Project(nets, DatasetConfig("shapes", {"n_samples": 80, "normalize": False,
                                                  "val_fraction": 0.2}),
                   RecipeConfig("dalle2", {r: r for r in nets},
                                {"prompt_accuracy": 0, "clip_share": 0.5, "timesteps": 100,
                                 "sample_steps": 4, **params}),
                   TrainingSettings(epochs=epochs, batch_size=16,
                                    optimizers={"*": OptimizerConfig("adam", 3e-3)},
                                    samples_unit="end"))


def _recipe(project: Project | None = None):
    project = project or tiny_project()
    data = load_data(project)
    torch.manual_seed(0)
    recipe = make_recipe(project, data)
    recipe.generator = torch.Generator().manual_seed(0)
    return recipe, data


def test_with_decoder_shift_the_decoder_learns_on_a_chain_of_less_noise():
    # The same batch, steps and noise at decoder_shift 1 and 2: the decoder's x_t follow the
    # shifted chain, the prior's (over embeddings) stay as they were.
    seen = {}
    for shift in (1.0, 2.0):
        recipe, data = _recipe(tiny_project(decoder_shift=shift))
        calls = recorded(recipe, "_out")
        batch = {k: v[:8] for k, v in data.train.items()}
        recipe._losses(batch, torch.Generator().manual_seed(0), train=False)
        seen[shift] = {role: (x, t) for role, x, t, *_ in calls}
    (plain, t), (shifted, _) = seen[1.0]["decoder"], seen[2.0]["decoder"]
    assert t.max() > 80  # steps spread over the whole chain
    assert_noised_on_a_shifted_chain(plain, shifted, data.train["x"][:8].float() * 2 - 1,
                                     recipe._chain().alpha_bar[t], 2.0)
    torch.testing.assert_close(seen[1.0]["prior"][0], seen[2.0]["prior"][0])


# --- the prior's arithmetic ----------------------------------------------------------------

def test_the_prior_s_clean_guess_gives_back_the_noise_and_the_best_candidate_is_kept():
    chain = Schedule.make("cosine", 100)
    g = torch.Generator().manual_seed(0)
    z0, eps = torch.randn(6, E, generator=g), torch.randn(6, E, generator=g)
    t = torch.tensor([0, 10, 40, 70, 90, 99])
    torch.testing.assert_close(eps_from_x0(chain.noisy(z0, t, eps), t, z0, chain), eps,
                               rtol=1e-3, atol=1e-3)
    text = torch.eye(E)[:2]
    drawn = torch.stack([torch.stack([-text[0], 3 * text[0]]), torch.stack([text[1], -text[1]])])
    torch.testing.assert_close(nearest_candidate(drawn, text), torch.stack([3 * text[0],
                                                                            text[1]]))


# --- training ------------------------------------------------------------------------------

def test_both_stages_train_clip_stays_frozen_and_the_run_answers_prompts_and_pictures(tmp_path):
    frozen = {}

    def record(event):
        rec(event)
        if isinstance(event, StageStarted) and event.name == "prior and decoder":
            frozen.update({f"{r}.{k}": v.clone() for r in ("image_encoder", "text_encoder")
                           for k, v in trainer.run.recipe.nets[r].state_dict().items()})

    rec = Recorder()
    project = tiny_project(epochs=2)
    trainer = Trainer(project, device="cpu", callback=record, run_dir=tmp_path / "run")
    fin = trainer.fit()
    assert fin.reason == "completed", trainer.failure
    stages = rec.of(StageStarted)
    assert [(s.name, s.recipe) for s in stages] == [("CLIP", "clip"),
                                                    ("prior and decoder", "dalle2")]
    assert stages[0].trainable["prior"] == [] and stages[1].trainable["image_encoder"] == []
    assert stages[1].trainable["text_encoder"] == [] and stages[1].trainable["decoder"]
    assert "temperature" in rec.of(StepMetrics)[0].values  # CLIP's step first
    assert set(rec.of(StepMetrics)[-1].values) == {"loss", "loss_prior", "loss_decoder"}
    nets = trainer.run.recipe.nets
    for r in ("image_encoder", "text_encoder"):
        for k, v in nets[r].state_dict().items():
            assert torch.equal(v, frozen[f"{r}.{k}"]), f"{r}.{k} changed in the second stage"
    assert {"prior_cosine", "text_cosine", "loss_prior", "loss_decoder"} <= set(fin.final)
    assert all(math.isfinite(fin.final[k]) for k in ("loss", "prior_cosine"))
    pictures = {s.name: s for s in rec.of(Samples)}
    grid = pictures["samples per prompt"]
    assert grid.extra["prompt"] == "" and grid.extra["prompt_hint"]
    assert grid.data.shape == (len(grid.extra["rows"]) * grid.extra["cols"], 3, 32, 32)
    assert 0 <= grid.data.min() and grid.data.max() <= 1
    varied = pictures["variations: a picture, then its embedding redrawn"]
    assert varied.extra["columns"][0] == "picture" and varied.data.shape[0] % varied.extra[
        "cols"] == 0
    # layerloom sample --prompt, and --input without and with a picture of one's own
    out = sample_project(project, tmp_path / "run", n=3, prompt=PROMPT)
    assert out.kind == "images" and out.data.shape == (3, 3, 32, 32)
    assert out.extra["prompt"] == PROMPT
    pairs = translate_project(project, tmp_path / "run", n=2)
    assert pairs.data.shape == (4, 3, 32, 32) and pairs.extra["cols"] == 2
    picture = tmp_path / "mine.png"
    Image.fromarray(np.asarray(load_data(project).val["x"][0].permute(1, 2, 0) * 255,
                               dtype=np.uint8)).save(picture)
    mine = translate_project(project, tmp_path / "run", image=picture)
    assert mine.data.shape == (2, 3, 32, 32)


def _train(recipe, data, steps: int) -> dict[str, list[float]]:
    """``steps`` steps of the second stage on one batch of 16; the losses of each."""
    batch = {k: v[:16] for k, v in data.train.items()}
    recipe.check(batch)
    opts = {r: torch.optim.Adam(recipe.nets[r].parameters(), 3e-3) if r in ("prior", "decoder")
            else None for r in recipe.nets}
    ctx = Optimization(recipe.nets, recipe.names, opts, torch.device("cpu"), total_steps=steps)
    losses = {"loss_prior": [], "loss_decoder": []}
    for i in range(steps):
        ctx.begin(i, False)
        metrics = recipe.step(ctx, batch)
        for k in losses:
            losses[k].append(float(metrics[k]))
    return losses


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_a_few_steps_on_one_batch_lower_both_losses(prediction):
    recipe, data = _recipe(tiny_project(ema=0.0, prediction=prediction))
    before = {r: [p.clone() for p in recipe.nets[r].parameters()] for r in recipe.nets}
    losses = _train(recipe, data, 40)
    for k, v in losses.items():
        assert np.mean(v[-8:]) < 0.8 * np.mean(v[:8]), (k, v)
    for r in ("image_encoder", "text_encoder"):  # only the denoisers are stepped
        assert all(torch.equal(a, b) for a, b in zip(before[r], recipe.nets[r].parameters()))


# --- conditions ----------------------------------------------------------------------------

def test_the_decoder_and_the_prior_follow_their_conditions():
    recipe, data = _recipe(tiny_project(ema=0.0))
    _train(recipe, data, 3)  # FiLM starts as the identity: the condition is learned in
    x = data.val["x"][:4] * 2 - 1
    t = torch.full((4,), 50)
    emb = recipe.image_embeddings(data.val["x"][:4])
    with torch.no_grad():
        base = recipe._out("decoder", x, t, {"embedding": emb}, train=False)
        for other in (emb.flip(0), torch.zeros_like(emb)):
            assert not torch.allclose(base, recipe._out("decoder", x, t, {"embedding": other},
                                                        False))
        z = torch.randn(4, E)
        text = recipe.captions([PROMPT, "a small blue star at the right"] * 2,
                               torch.Generator().manual_seed(0))["text"]
        out = recipe._out("prior", z, t, {"text": text}, False)
        flipped = recipe._out("prior", z, t, {"text": text.flip(0)}, False)
        assert not torch.allclose(out[0], flipped[3])
    drawn = recipe.prior_embeddings(text, torch.Generator().manual_seed(0))
    torch.testing.assert_close(drawn.norm(dim=1), torch.ones(4))


@pytest.mark.parametrize("words", ["features", "ids"])
def test_a_decoder_that_reads_the_caption_gets_it_and_drops_it_for_guidance(words):
    recipe, data = _recipe(tiny_project(words=words, caption_drop=0.5, p_uncond=0.0))
    with torch.no_grad():  # weights that read the condition (FiLM starts as the identity)
        for p in recipe.nets["decoder"].parameters():
            p.add_(torch.randn_like(p) * 0.1)
    ids = data.val["caption"][:4]
    said = recipe.said(recipe.read(ids) | {"caption": ids})
    key = {"features": "tokens", "ids": "caption"}[words]
    assert list(said) == [key]
    assert said[key].shape == ((4, CAPTION, 16) if words == "features" else (4, CAPTION))
    x, t = data.val["x"][:4] * 2 - 1, torch.full((4,), 50)
    emb = recipe.image_embeddings(data.val["x"][:4])
    with torch.no_grad():
        heard = recipe._out("decoder", x, t, {"embedding": emb, **said}, False)
        unheard = recipe._out("decoder", x, t, {"embedding": emb,
                                                key: torch.zeros_like(said[key])}, False)
    assert not torch.allclose(heard, unheard)
    # what reaches the decoder's text pathway: the word features, or the ids (zero: padding)
    seen = []
    hook = recipe.nets["decoder"].get_submodule("pool" if words == "features" else "words") \
        .register_forward_hook(lambda m, args, out: seen.append(args[0].detach()))
    # training drops the caption of about half the samples, and the embedding of none
    batch = {k: v[:64] for k, v in data.train.items()}
    recipe._losses(batch, torch.Generator().manual_seed(0), train=True)
    kept = seen.pop().flatten(1).abs().sum(1) > 0
    assert 0.25 < kept.float().mean() < 0.75
    # a prompt: its caption in the guided pair's first half, none in the second
    assert recipe.sample(2, torch.Generator().manual_seed(0), PROMPT).data.shape == \
        (2, 3, 32, 32)
    heard = [bool(v.abs().sum() > 0) for s in seen for v in s.flatten(1)]
    assert heard == [True, True, False, False] * (len(heard) // 4)
    # a variation has no caption at all
    seen.clear()
    assert recipe.translate(data.val["x"][:2]).shape == (2, 3, 32, 32)
    assert seen and all(float(s.abs().sum()) == 0 for s in seen)
    hook.remove()


def test_variations_redraw_a_picture_from_its_own_embedding():
    recipe, data = _recipe()
    x = data.val["x"][:3]
    out = recipe.translate(x)
    assert out.shape == x.shape and 0 <= float(out.min()) and float(out.max()) <= 1
    assert torch.equal(out, recipe.translate(x))  # a fixed seed: the same each time
    other = recipe.decode(recipe.image_embeddings(x), torch.Generator().manual_seed(7))
    assert not torch.equal(out, other)  # other noise, another variation
    pictures = recipe._variations(data, 0, 0)[0]
    assert pictures.data.shape == (3 * pictures.extra["cols"], 3, 32, 32)
    torch.testing.assert_close(torch.as_tensor(pictures.data[0]), x[0])  # the original first


# --- prompts -------------------------------------------------------------------------------

def test_a_prompt_draws_pictures_and_unknown_words_are_named():
    recipe, _ = _recipe()
    g = torch.Generator().manual_seed(0)
    out = recipe.sample(3, g, PROMPT)
    assert out.kind == "images" and out.data.shape == (3, 3, 32, 32)
    assert out.extra["prompt"] == PROMPT and "figures" not in out.extra  # accuracy off
    assert recipe.sample(2, g, "a blue heart").data.shape == (2, 3, 32, 32)  # a partial one
    with pytest.raises(PromptError, match='"purple".*"dodecagon"'):
        recipe.sample(2, g, "a purple dodecagon")
    free = recipe.sample(4, g)  # no prompt: the evaluation prompts in turn
    assert len(free.labels) == 4 and free.extra["prompt"] == ""


def test_prompt_accuracy_is_reported_on_the_shapes_data():
    recipe, _ = _recipe(tiny_project(prompt_accuracy=1))
    scores = recipe.prompt_accuracy(per_prompt=1)
    assert set(scores) == {"prompt_colour", "prompt_shape", "prompt_all"}
    assert all(0 <= v <= 1 for v in scores.values())
    out = recipe.sample(2, torch.Generator().manual_seed(0), PROMPT)
    assert {"prompt colour", "prompt shape", "prompt all"} <= set(out.extra["figures"])
    assert not recipe.cadence.due()  # no step since the last measurement
    recipe.cadence.done = 1
    assert recipe.cadence.due() and not recipe.cadence.due()
    again, _ = _recipe(tiny_project(prompt_accuracy=1))
    recipe.updates = 1  # a recipe that has stepped keeps its counters
    again.load_state_dict(recipe.state_dict())
    assert again.cadence.state() == {"steps_done": 1, "measured_at": 1}


def test_refusals_name_the_problem():
    project = tiny_project()
    project.networks["prior"] = tiny_networks(text_width=6)["prior"]
    with pytest.raises(SetupError, match=r"the prior's text \[6\]"):
        _recipe(project)
    project.networks["prior"] = tiny_networks()["prior"]
    project.networks["decoder"].nodes["embedding"].params["source"] = "data"
    with pytest.raises(SetupError, match="input 'embedding' reads field 'embedding' from the "
                                         "data, but recipe 'dalle2' fills it"):
        _recipe(project)
    project = tiny_project()
    dec = project.networks["decoder"]  # a prompt gives no picture: the decoder cannot read one
    dec.nodes["condition"].params["inputs"] = 3
    dec.chain(dec.add("Input", id="picture", shape=[3, 32, 32], kind="image", field="x"),
              dec.add("Flatten", id="flat"), dec.add("Linear", id="seen", units=16))
    dec.connect("seen", "condition", dst_port="x3")
    with pytest.raises(SetupError, match="the decoder's Input 'picture' reads field 'x' "
                                         "from the data; of the data the decoder may read "
                                         "only the captions"):
        _recipe(project)


# --- ONNX ----------------------------------------------------------------------------------

@pytest.mark.parametrize("network", ["prior", "decoder"])
def test_the_template_prior_and_decoder_export_to_onnx_with_parity(network, tmp_path):
    compiled = compile_network(load(TEMPLATES / "dalle2_shapes.loom").networks[network])
    path = export_onnx(compiled, tmp_path / f"{network}.onnx")
    assert parity(compiled, path) <= TOLERANCE
