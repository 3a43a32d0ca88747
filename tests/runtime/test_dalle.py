"""The DALL·E miniature: the prior's causal mask (a later token never changes an earlier
step's scores), writing codes token by token, both stages through the trainer with the VQ-VAE
frozen in the second, prompts answered with pictures (also through ``layerloom sample``'s
path) and unknown words refused by name, and the decoder's and prior's ONNX export."""

from __future__ import annotations

import contextlib
import io
import math

import pytest
import torch
from rt_helpers import Recorder

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
from runtime.events import Samples, StageStarted, StepMetrics
from runtime.export import TOLERANCE, export_onnx, parity
from runtime.optimize import Optimization
from runtime.prompts import PromptError
from runtime.recipes.dalle_parts import top_k_pick, write_codes
from runtime.sampling import sample_project
from runtime.trainer import Trainer

CAPTION, CODES, GRID, LATENT = 10, 16, 4, 8
PROMPT = "a large red circle at the top left"


# --- tiny networks: 32×32 → a 4×4 map of 16 codes; a one-layer causal prior ---------------

def tiny_networks(prior_codes=("L",)) -> dict[str, Network]:
    enc, dec, prior = Network("encoder"), Network("decoder"), Network("prior")
    enc.chain(enc.add("Input", id="x", shape=[3, 32, 32], kind="image"),
              enc.add("Conv2d", id="down1", filters=8, kernel=4, stride=4),
              enc.add("ReLU", id="relu"),
              enc.add("Conv2d", id="down2", filters=LATENT, kernel=2, stride=2),
              enc.add("VectorQuantiser", id="quantise", codes=CODES),
              enc.add("Output", id="latents"))
    dec.chain(dec.add("Input", id="latents", shape=[LATENT, GRID, GRID], kind="image",
                      field="latents", source="recipe"),
              dec.add("ConvTranspose2d", id="up1", filters=8, kernel=2, stride=2, padding=0),
              dec.add("ReLU", id="relu"),
              dec.add("ConvTranspose2d", id="up2", filters=3, kernel=4, stride=4, padding=0),
              dec.add("Sigmoid", id="pixels"), dec.add("Output", id="image"))
    prior.chain(prior.add("Input", id="caption", shape=[CAPTION], kind="tokens",
                          field="caption"),
                prior.add("Embedding", id="words", vocab=len(VOCAB), dim=16))
    prior.chain(prior.add("Input", id="codes", shape=list(prior_codes), kind="tokens",
                          field="codes", source="recipe"),
                prior.add("Embedding", id="image_tokens", vocab=CODES, dim=16))
    prior.add("Concat", id="join", inputs=2, axis=0)
    prior.connect("words", "join", dst_port="x1")
    prior.connect("image_tokens", "join", dst_port="x2")
    prior.chain("join", prior.add("PositionalEncoding", id="positions", mode="learned",
                                  max_len=CAPTION + GRID * GRID),
                prior.add("TransformerEncoderLayer", id="layer", heads=2, feedforward=32,
                          dropout=0.0, norm_first=True, causal=True),
                prior.add("TimeDistributedLinear", id="next_code", units=CODES),
                prior.add("Output", id="logits"))
    return {"encoder": enc, "decoder": dec, "prior": prior}


def tiny_project(epochs: int = 2, **params) -> Project:
    nets = tiny_networks()
    return Project(nets, DatasetConfig("shapes", {"n_samples": 80, "normalize": False,
                                                  "val_fraction": 0.2}),
                   RecipeConfig("dalle", {r: r for r in nets},
                                {"prompt_accuracy": False, "vqvae_share": 0.5, **params}),
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


def _captions(n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(3, len(VOCAB), (n, CAPTION), generator=g)


# --- the causal mask -----------------------------------------------------------------------

def test_the_template_prior_never_lets_a_later_token_change_an_earlier_step():
    prior = compile_network(load(TEMPLATES / "dalle_shapes.loom").networks["prior"]).module
    prior.eval()
    g = torch.Generator().manual_seed(0)
    caption, codes = _captions(3), torch.randint(0, 64, (3, 64), generator=g)
    with torch.no_grad():
        base = prior(caption, codes)
        assert base.shape == (3, CAPTION + 64, 64)
        for j in (0, 17, 63):  # change code j: steps before it (text and codes) stay put
            changed = codes.clone()
            changed[:, j] = (changed[:, j] + 1) % 64
            out = prior(caption, changed)
            step = CAPTION + j
            torch.testing.assert_close(out[:, :step], base[:, :step], rtol=0, atol=0)
            assert not torch.allclose(out[:, step:], base[:, step:])
        reworded = caption.clone()
        reworded[:, 4] = (reworded[:, 4] + 1) % len(VOCAB)  # a word reaches every code
        out = prior(reworded, codes)
        torch.testing.assert_close(out[:, :4], base[:, :4], rtol=0, atol=0)
        assert not torch.allclose(out[:, CAPTION:], base[:, CAPTION:])


def test_writing_codes_one_at_a_time_reads_the_prefix_alone():
    """Feeding only the codes written so far draws exactly what feeding all of them draws:
    the scores for code i come from the caption and codes < i alone."""
    recipe, _ = _recipe()
    caption = _captions(4)
    with torch.no_grad():
        drawn = [write_codes(lambda c: recipe.code_logits(caption, c, train=False), 4,
                             GRID * GRID, 1.0, 0, torch.Generator().manual_seed(5),
                             torch.device("cpu"), grow) for grow in (True, False)]
        assert torch.equal(drawn[0], drawn[1])
        logits = recipe.code_logits(caption, drawn[0], train=False)
    assert logits.shape == (4, GRID * GRID, CODES)
    assert int(drawn[0].min()) >= 0 and int(drawn[0].max()) < CODES


def test_top_k_draws_only_among_the_likeliest():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0]]).expand(200, -1)
    g = torch.Generator().manual_seed(0)
    assert set(top_k_pick(logits, 1.0, 2, g).tolist()) == {1, 3}
    assert set(top_k_pick(logits, 5.0, 1, g).tolist()) == {1}
    assert set(top_k_pick(logits, 0.0, 0, g).tolist()) == {1}  # temperature 0: the likeliest
    assert len(set(top_k_pick(logits, 5.0, 0, g).tolist())) == 4


# --- training ------------------------------------------------------------------------------

def test_prior_steps_learn_the_codes_of_a_batch():
    recipe, data = _recipe()
    batch = {k: v[:16] for k, v in data.train.items()}
    recipe.check(batch)
    opts = {r: torch.optim.Adam(m.parameters(), 1e-2) if r == "prior" else None
            for r, m in recipe.nets.items()}
    ctx = Optimization(recipe.nets, recipe.names, opts, torch.device("cpu"), total_steps=30)
    losses = []
    for i in range(30):
        ctx.begin(i, False)
        metrics = recipe.step(ctx, batch)
        losses.append(float(metrics["loss_prior"]))
    assert set(metrics) == {"loss_prior", "accuracy"}
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5


def test_both_stages_train_and_the_vqvae_stays_frozen_in_the_second(tmp_path):
    frozen = {}

    def record(event):
        rec(event)
        if isinstance(event, StageStarted) and event.name == "prior":
            frozen.update({f"{r}.{k}": v.clone() for r in ("encoder", "decoder")
                           for k, v in trainer.run.recipe.nets[r].state_dict().items()})

    rec = Recorder()
    project = tiny_project(epochs=2)
    trainer = Trainer(project, device="cpu", callback=record, run_dir=tmp_path / "run")
    fin = trainer.fit()
    assert fin.reason == "completed", trainer.failure
    stages = rec.of(StageStarted)
    assert [(s.name, s.recipe) for s in stages] == [("vq-vae", "vqvae"), ("prior", "dalle")]
    assert stages[0].trainable["prior"] == [] and stages[1].trainable["encoder"] == []
    assert "recon" in rec.of(StepMetrics)[0].values  # the VQ-VAE's step first
    assert set(rec.of(StepMetrics)[-1].values) >= {"loss_prior", "accuracy"}
    nets = trainer.run.recipe.nets
    for r in ("encoder", "decoder"):  # weights, the codebook and its usage buffers alike
        for k, v in nets[r].state_dict().items():
            assert torch.equal(v, frozen[f"{r}.{k}"]), f"{r}.{k} changed in the prior stage"
    assert math.isfinite(fin.final["loss_prior"]) and 0 <= fin.final["accuracy"] <= 1
    pictures = {s.name: s for s in rec.of(Samples)}
    grid = pictures["samples per prompt"]
    assert grid.extra["prompt"] == "" and grid.extra["prompt_hint"]
    assert grid.data.shape == (len(grid.extra["rows"]) * grid.extra["cols"], 3, 32, 32)
    assert 0 <= grid.data.min() and grid.data.max() <= 1
    assert pictures["codes written → picture"].extra["columns"] == ["codes", "picture"]
    # layerloom sample --prompt: the trained run answers a prompt, and refuses unknown words
    out = sample_project(project, tmp_path / "run", n=3, prompt=PROMPT)
    assert out.kind == "images" and out.data.shape == (3, 3, 32, 32)
    assert out.extra["prompt"] == PROMPT
    save(project, tmp_path / "dalle.loom")
    said = io.StringIO()
    args = ["sample", str(tmp_path / "dalle.loom"), "--weights", str(tmp_path / "run"),
            "-n", "2"]
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        assert main([*args, "--prompt", PROMPT, "-o", str(tmp_path / "a.png")]) == 0
        assert main([*args, "--prompt", "a purple circle", "-o", str(tmp_path / "b.png")]) == 2
    assert (tmp_path / "a.png").is_file() and not (tmp_path / "b.png").exists()
    assert '"purple"' in said.getvalue()


# --- prompts -------------------------------------------------------------------------------

def test_a_prompt_draws_pictures_and_unknown_words_are_named():
    recipe, _ = _recipe()
    g = torch.Generator().manual_seed(0)
    out = recipe.sample(3, g, PROMPT, temperature=0.5)
    assert out.kind == "images" and out.data.shape == (3, 3, 32, 32)
    assert out.extra["prompt"] == PROMPT and "figures" not in out.extra  # accuracy off
    with pytest.raises(PromptError, match='"purple".*"dodecagon"'):
        recipe.sample(2, g, "a purple dodecagon")
    free = recipe.sample(4, g)  # no prompt: the evaluation prompts in turn
    assert len(free.labels) == 4 and free.extra["prompt"] == ""
    ids = recipe.captions([PROMPT])
    assert ids.shape == (1, CAPTION) and ids[0, 0] == 1 and ids[0, -1] == 2


def test_prompt_accuracy_is_reported_on_the_shapes_data(monkeypatch):
    # An untrained attribute classifier: the figures' wiring is tested here, not the judge
    # (tests/runtime/test_attributes.py), whose training would take the suite's time.
    monkeypatch.setattr(attributes, "attribute_classifier",
                        lambda device="cpu", root=None: attributes.AttributeNet().eval())
    recipe, _ = _recipe(tiny_project(prompt_accuracy=True))
    scores = recipe.prompt_accuracy(per_prompt=1)
    assert set(scores) == {"prompt_colour", "prompt_shape", "prompt_all"}
    assert all(0 <= v <= 1 for v in scores.values())
    out = recipe.sample(2, torch.Generator().manual_seed(0), PROMPT)
    assert {"prompt colour", "prompt shape", "prompt all"} <= set(out.extra["figures"])


def test_refusals_name_the_problem():
    project = tiny_project()
    project.networks["prior"] = tiny_networks(prior_codes=(12,))["prior"]
    with pytest.raises(SetupError, match=r"takes \[12\] codes, but the VQ-VAE writes 4×4 = "
                                         r"16 per picture"):
        _recipe(project)
    project.networks["prior"] = tiny_networks()["prior"]
    project.networks["prior"].nodes["caption"].params["source"] = "recipe"
    with pytest.raises(SetupError, match="input 'caption' is to be filled by the recipe as "
                                         "'caption', but recipe 'dalle' does not provide that"):
        _recipe(project)


# --- ONNX ----------------------------------------------------------------------------------

@pytest.mark.parametrize("network", ["decoder", "prior"])
def test_the_template_decoder_and_prior_export_to_onnx_with_parity(network, tmp_path):
    compiled = compile_network(load(TEMPLATES / "dalle_shapes.loom").networks[network])
    path = export_onnx(compiled, tmp_path / f"{network}.onnx")
    assert parity(compiled, path) <= TOLERANCE
