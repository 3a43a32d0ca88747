"""Pix2Pix and the PatchGAN map: GAN losses averaged over every patch, the pix2pix recipe's
separate losses (the L1 term checked by hand), its pictures, the generator's ONNX parity, and
``layerloom sample --input`` translating a PNG or refusing in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from rt_helpers import Recorder, project, splits

from app.cli import main
from builder.document import DatasetConfig, Network, Project, RecipeConfig, TrainingSettings
from builder.serialize import load, save
from resources import TEMPLATES
from runtime.assemble import compile_roles, load_data, make_recipe
from runtime.data import FieldInfo
from runtime.events import Samples, StepMetrics
from runtime.export import export_project
from runtime.optimize import Optimization
from runtime.recipes.gan import GAN
from runtime.trainer import Trainer

TEMPLATE = TEMPLATES / "pix2pix_shapes.loom"


def _ctx(recipe):
    optimizers = {r: torch.optim.Adam(m.parameters(), 2e-4) for r, m in recipe.nets.items()}
    return Optimization(recipe.nets, recipe.names, optimizers, torch.device("cpu"))


# --- the GAN recipe with a PatchGAN map -------------------------------------------------------


def _patch_gan() -> tuple[GAN, dict]:
    gen, disc = Network("generator"), Network("discriminator")
    gen.chain(gen.add("Noise", id="z", shape=[8]), gen.add("Linear", id="fc", units=64),
              gen.add("Sigmoid", id="px"), gen.add("Reshape", id="img", shape=[1, 8, 8]),
              gen.add("Output", id="fake"))
    disc.chain(disc.add("Input", id="image", shape=[1, 8, 8], kind="image"),
               disc.add("Conv2d", id="patches", filters=1, kernel=4, stride=2, padding=1),
               disc.add("Output", id="realness"))
    p = Project({"generator": gen, "discriminator": disc}, DatasetConfig("digits8", {}),
                RecipeConfig("gan", {"generator": "generator", "discriminator": "discriminator"},
                             {"quality": False}), TrainingSettings())
    data = splits({"x": torch.rand(48, 1, 8, 8, generator=torch.Generator().manual_seed(0))},
                  {"x": FieldInfo((1, 8, 8), "image", "float32")}, "generative", val=16)
    torch.manual_seed(0)
    recipe = GAN(compile_roles(p, ["generator", "discriminator"]), data.info, p.recipe.params)
    recipe.generator = torch.Generator().manual_seed(0)
    return recipe, {"x": data.train["x"][:16]}


def test_a_patchgan_map_is_scored_patch_by_patch_and_the_losses_average_over_it():
    recipe, batch = _patch_gan()
    real = batch["x"]
    with torch.no_grad():
        scores, _ = recipe._judge(batch, real, train=False)
        assert scores.shape == (16, 16)  # a 4×4 map per sample, every patch kept
        out = recipe.eval_batch(batch)
        fake = recipe._generate(batch, None, False, torch.Generator().manual_seed(4321))
        d = recipe.nets["discriminator"].eval()
        real_map, fake_map = d(real), d(fake)
    assert real_map.shape == (16, 1, 4, 4)
    hand_d = (F.binary_cross_entropy_with_logits(real_map, torch.ones_like(real_map))
              + F.binary_cross_entropy_with_logits(fake_map, torch.zeros_like(fake_map)))
    hand_g = F.softplus(-fake_map).mean()
    hand_acc = ((real_map > 0).float().mean() + (fake_map <= 0).float().mean()) / 2
    assert float(out["loss_d"]) / 16 == pytest.approx(float(hand_d), rel=1e-5)
    assert float(out["loss_g"]) / 16 == pytest.approx(float(hand_g), rel=1e-5)
    assert float(out["d_accuracy"]) / 32 == pytest.approx(float(hand_acc), rel=1e-5)
    ctx = _ctx(recipe)
    for i in range(3):  # and it trains on the map
        ctx.begin(i, False)
        metrics = recipe.step(ctx, batch)
    assert all(torch.isfinite(v) for v in metrics.values())


# --- pix2pix ----------------------------------------------------------------------------------


def _small(tmp_path=None) -> Project:
    p = load(TEMPLATE)
    p.dataset.params["n_samples"] = 60
    p.dataset.params["val_fraction"] = 0.2
    p.training.batch_size = 8
    return p


def test_the_l1_term_and_the_patch_map_are_what_a_hand_computation_gives():
    p = _small()
    data = load_data(p)
    torch.manual_seed(0)
    recipe = make_recipe(p, data)
    batch = {k: v[:8] for k, v in data.train.items()}
    g, d = recipe.nets["generator"], recipe.nets["discriminator"]
    with torch.no_grad():
        hand_l1 = (g(batch["x"]) - batch["target"]).abs().mean()  # train mode, as the step
        patch_map = d(batch["x"], batch["target"])
    assert patch_map.shape == (8, 1, 8, 8)  # the 3-layer PatchGAN: an 8×8 map of logits
    metrics = recipe.step(_ctx(recipe), batch)
    assert float(metrics["loss_l1"]) == pytest.approx(float(hand_l1), rel=1e-5)
    assert float(metrics["loss_g"]) == pytest.approx(
        float(metrics["loss_g_adv"]) + 100 * float(metrics["loss_l1"]), rel=1e-5)
    assert 0 < float(metrics["loss_d"]) < 2


def test_pix2pix_trains_with_its_losses_apart_and_shows_input_output_target():
    p = _small()
    p.training.samples_unit = "end"
    events = Recorder()
    from runtime.trainer import Watch

    trainer = Trainer(p, callback=events, device="cpu", watch=Watch(samples=True))
    trainer.fit(max_steps=4)
    steps = events.of(StepMetrics)
    assert len(steps) == 4
    assert {"loss_d", "loss_g", "loss_g_adv", "loss_l1"} <= set(steps[-1].values)
    pictures = [s for s in events.of(Samples) if s.name == "source / translation / target"]
    assert pictures, [s.name for s in events.of(Samples)]
    grid = pictures[-1]
    assert grid.data.shape == (24, 3, 32, 32) and grid.extra["rows"] == ["input", "output",
                                                                         "target"]
    assert trainer.recipe.monitor == ("loss_l1", "min")


def test_the_generator_exports_to_onnx_with_parity(tmp_path):
    results = export_project(load(TEMPLATE), tmp_path / "p2p.onnx")
    gen = next(r for r in results if r.network == "generator")
    assert gen.ok and gen.max_abs_diff <= 1e-4, gen.max_abs_diff


# --- layerloom sample --input -----------------------------------------------------------------


def _png(array: np.ndarray, path):
    from PIL import Image

    pixels = (np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)
    Image.fromarray(pixels, "RGB").save(path)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("p2p")
    file, run = folder / "p2p.loom", folder / "run"
    save(_small(), file)
    assert main(["train", str(file), "--max-steps", "2", "--epochs", "1", "--device", "cpu",
                 "--out", str(run), "--stats-every", "1000"]) == 0
    return file, run


def test_sample_input_translates_a_png_beside_its_input(trained, tmp_path, capsys):
    from PIL import Image

    from runtime.sampling import load_trained

    file, run = trained
    p = load(file)
    data = load_data(p)
    source = data.val["x"][:1]
    image = _png(source[0].numpy(), tmp_path / "outline.png")
    out = tmp_path / "translated.png"
    assert main(["sample", str(file), "--weights", str(run), "--input", str(image),
                 "--out", str(out)]) == 0
    written = np.asarray(Image.open(out).convert("RGB"), dtype=np.float32) / 255
    assert written.shape == (32, 66, 3)  # input | 2 px gap | output
    recipe = load_trained(p, run, recipe=make_recipe(p, data))
    want = recipe.translate(source)[0].permute(1, 2, 0).numpy()
    assert np.abs(written[:, 34:] - want).max() <= 1 / 255 + 1e-6
    assert np.abs(written[:, :32] - source[0].permute(1, 2, 0).numpy()).max() <= 1 / 255
    # without --input: the first validation sources, one input | output pair a row
    grid = tmp_path / "val.png"
    assert main(["sample", str(file), "--weights", str(run), "-n", "3", "-o", str(grid)]) == 0
    assert Image.open(grid).size == (66, 3 * 32 + 2 * 2)


def test_sample_input_refuses_a_wrong_size_or_a_model_that_does_not_translate(
        trained, tmp_path, capsys):
    file, run = trained
    big = _png(np.random.default_rng(0).random((3, 64, 64)), tmp_path / "big.png")
    out = tmp_path / "o.png"
    capsys.readouterr()
    assert main(["sample", str(file), "--weights", str(run), "--input", str(big),
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("big.png is 64×64 RGB; this model takes 32×32 RGB") and \
        "\n" not in err and not out.exists()
    mlp = tmp_path / "mlp.loom"
    save(project(), mlp)
    assert main(["sample", str(mlp), "--weights", str(run), "--input", str(big),
                 "-o", str(out)]) == 2
    assert "does not translate images" in capsys.readouterr().err


def test_the_pictures_measure_translations_against_their_targets(monkeypatch):
    """A Fréchet-distance curve of held-out translations to their targets, kept in the
    recipe state; measured by the same judge, the targets themselves are at distance ~0 and
    the sources (outlines) far away."""
    import runtime.judge
    from runtime.frechet_curves import FrechetHistory, Generated

    monkeypatch.setattr(runtime.judge, "STEPS", (20, 20))  # a quick judge: plumbing, not skill
    p = _small()
    p.dataset.params["n_samples"] = 160  # 32 held out: enough for a Fréchet distance
    data = load_data(p)
    torch.manual_seed(0)
    try:
        recipe = make_recipe(p, data)
        events = recipe.samples(data, 7, 0)
        val = data.val
        fid = FrechetHistory("y", 500, "check")
        fid.events({"targets": Generated(val["target"], data, "target"),
                    "sources": Generated(val["x"], data, "target")}, 1, 0)
    finally:
        runtime.judge.forget()
    curve = next(e for e in events if e.kind == "curve")
    assert curve.name == "Fréchet distance to the targets" and curve.extra["name"] == \
        "translations"
    assert curve.data.shape == (1, 2) and curve.data[0, 0] == 7 and curve.data[0, 1] > 0
    assert recipe.state_dict()["fid"]["translations"][0][0] == 7
    assert fid.last["targets"] < 1e-6 < fid.last["sources"]
    other = make_recipe(p, data)
    other.load_state_dict(recipe.state_dict())
    assert other.fid.points == recipe.fid.points
