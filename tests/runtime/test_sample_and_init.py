"""``layerloom sample`` (files, exit codes, refusals), the GAN's WGAN-GP loss and weight
average (restored exactly on resume), ``train --init`` with its report, and the step
context's input gradients."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from rt_helpers import mlp, project

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
from runtime.checkpoint import load_checkpoint
from runtime.cli import main
from runtime.events import Failure, StepMetrics
from runtime.optimize import Optimization
from runtime.recipes.base import RecipeError
from runtime.recipes.gan_parts import class_labels, gradient_penalty, r1_penalty
from runtime.sampling import grid_size
from runtime.trainer import Trainer


def _gan(tmp_path: Path, **params) -> Path:
    p = load(TEMPLATES / "gan_2d.loom")
    p.dataset.params["n_samples"] = 1000  # 13 steps an epoch: quick
    p.recipe.params = params
    return save(p, tmp_path / "gan.loom")


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory) -> tuple[Path, Path]:
    """gan_2d trained 30 steps with a weight average: (project file, run folder)."""
    folder = tmp_path_factory.mktemp("gan")
    file = _gan(folder, ema=0.99)
    run = folder / "run"
    assert main(["train", str(file), "--out", str(run), "--max-steps", "30",
                 "--device", "cpu"]) == 0
    return file, run


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


# --- layerloom sample -------------------------------------------------------------------------

def test_sample_writes_n_points_as_csv_and_the_seed_decides(gan_run, tmp_path, capsys):
    file, run = gan_run
    out = tmp_path / "points.csv"
    assert main(["sample", str(file), "--weights", str(run), "-n", "50", "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert said.count("\n") == 1 and "50 points" in said and str(out) in said
    rows = list(csv.reader(open(out, newline="")))
    assert rows[0] == ["x", "y"] and len(rows) == 51
    points = np.array(rows[1:], dtype=float)
    assert np.isfinite(points).all() and points.std(0).min() > 0  # not one point 50 times
    again = tmp_path / "again.csv"
    assert main(["sample", str(file), "--weights", str(run), "-n", "50", "-o", str(again)]) == 0
    assert again.read_text() == out.read_text()
    other = tmp_path / "other.csv"
    assert main(["sample", str(file), "--weights", str(run), "-n", "50", "--seed", "1",
                 "-o", str(other)]) == 0
    assert other.read_text() != out.read_text()
    # A temperature below 1 draws the points towards the typical one.
    cold = tmp_path / "cold.csv"
    assert main(["sample", str(file), "--weights", str(run), "-n", "50", "--temperature",
                 "0.01", "-o", str(cold)]) == 0
    cold_points = np.array(list(csv.reader(open(cold)))[1:], dtype=float)
    assert cold_points.std(0).max() < 0.5 * points.std(0).min()


def test_sample_in_a_real_subprocess(gan_run, tmp_path):
    file, run = gan_run
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [sys.executable, "-m", "app", "sample", str(file), "--weights", str(run)]
    out = tmp_path / "p.csv"
    proc = subprocess.run(command + ["-n", "5", "-o", str(out)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"wrote 5 points to {out}\n" and len(out.read_text().splitlines()) == 6
    proc = subprocess.run(command + ["--prompt", "cat", "-o", str(tmp_path / "q.csv")],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr == (
        "layerloom: recipe 'gan' is not conditional: --prompt does not apply\n")


def test_sample_refusals_exit_2_with_one_line(gan_run, tmp_path, capsys):
    file, run = gan_run
    out = tmp_path / "p.csv"
    assert main(["sample", str(file), "--weights", str(run), "--prompt", "3",
                 "-o", str(out)]) == 2
    assert "recipe 'gan' is not conditional: --prompt does not apply" in _err(capsys)
    assert main(["sample", str(file), "--weights", str(tmp_path / "nope"), "-o", str(out)]) == 2
    assert "no weights at" in _err(capsys)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["sample", str(file), "--weights", str(empty), "-o", str(out)]) == 2
    assert "no weights for network 'generator'" in _err(capsys)
    assert main(["sample", str(file), "--weights", str(run), "-o", str(tmp_path / "p.png")]) == 2
    assert "gan samples are points: use -o OUT.csv" in _err(capsys)
    assert main(["sample", str(tmp_path / "missing.loom"), "--weights", str(run),
                 "-o", str(out)]) == 2
    _err(capsys)
    assert main(["sample", str(file), "--weights", str(run), "--temperature", "0",
                 "-o", str(out)]) == 2
    _err(capsys)
    assert not out.exists() and not (tmp_path / "p.png").exists()


def test_sample_never_overwrites_without_force(gan_run, tmp_path, capsys):
    file, run = gan_run
    out = tmp_path / "p.csv"
    out.write_text("mine\n")
    assert main(["sample", str(file), "--weights", str(run), "-o", str(out)]) == 2
    assert str(out) in _err(capsys) and out.read_text() == "mine\n"
    assert main(["sample", str(file), "--weights", str(run), "-n", "5", "-o", str(out),
                 "--force"]) == 0
    assert len(out.read_text().splitlines()) == 6


def test_sample_of_one_network_or_from_one_file(gan_run, tmp_path, capsys):
    file, run = gan_run
    one = tmp_path / "one.csv"
    assert main(["sample", str(file), "--weights", str(run / "generator.safetensors"),
                 "--network", "generator", "-n", "7", "-o", str(one)]) == 0
    assert len(one.read_text().splitlines()) == 8
    assert main(["sample", str(file), "--weights", str(run / "generator.safetensors"),
                 "-o", str(tmp_path / "two.csv")]) == 2
    assert "--network" in _err(capsys)
    assert main(["sample", str(file), "--weights", str(run / "discriminator.safetensors"),
                 "--network", "generator", "-o", str(tmp_path / "three.csv")]) == 2
    assert "does not fit network 'generator': missing: g_hidden1" in _err(capsys)
    narrower = load(file)
    narrower.networks["generator"].nodes["g_hidden2"].params["units"] = 32
    narrower = save(narrower, tmp_path / "narrower.loom")
    assert main(["sample", str(narrower), "--weights", str(run), "-o",
                 str(tmp_path / "four.csv")]) == 2
    assert "shapes differ: g_hidden2.weight ([64, 64] in the file, [32, 64] here)" \
        in _err(capsys)


def test_a_recipe_that_cannot_sample_says_so(tmp_path, capsys):
    file = save(project(epochs=1), tmp_path / "moons.loom")
    assert main(["sample", str(file), "--weights", str(tmp_path), "-o",
                 str(tmp_path / "x.csv")]) == 2
    assert "recipe 'classification' does not generate samples" in _err(capsys)


def _image_gan(tmp_path: Path) -> Project:
    """A tiny conditional GAN on 8×8 grey digits (scikit-learn's, or generated blobs)."""
    try:
        import runtime.data.digits  # noqa: F401 - registers digits8 where the package does not
        dataset = DatasetConfig("digits8", {"n_samples": 200})
    except ImportError:
        g = np.random.default_rng(0)
        np.savez(tmp_path / "blobs.npz", x=g.random((200, 1, 8, 8), np.float32),
                 y=np.arange(200) % 10)
        dataset = DatasetConfig("npz", {"path": str(tmp_path / "blobs.npz"), "x_kind": "image",
                                        "task": "classification"})
    gen, disc = Network("generator"), Network("discriminator")
    gen.chain(gen.add("LabelInput", id="label", num_classes=10),
              gen.add("Embedding", id="embed", vocab=10, dim=8))
    gen.add("Noise", id="z", shape=[8])
    gen.add("Concat", id="both", inputs=2)
    gen.connect("z", "both")
    gen.connect("embed", "both")
    gen.chain("both", gen.add("Linear", id="fc", units=64),
              gen.add("Reshape", id="image", shape=[1, 8, 8]), gen.add("Output", id="fake"))
    disc.chain(disc.add("Input", id="x", shape=[1, 8, 8], kind="image"),
               disc.add("Flatten", id="flat"), disc.add("Linear", id="h", units=16),
               disc.add("LeakyReLU", id="act", alpha=0.2), disc.add("Linear", id="score", units=1),
               disc.add("Output", id="realness"))
    return Project({"generator": gen, "discriminator": disc}, dataset,
                   # No quality figures: their judge would take longer to train than this.
                   RecipeConfig("gan", {"generator": "generator",
                                        "discriminator": "discriminator"}, {"quality": False}),
                   TrainingSettings(epochs=1, batch_size=32,
                                    optimizers={"*": OptimizerConfig("adam", 0.001)}))


def test_an_image_gan_writes_a_png_grid_and_takes_a_class_as_prompt(tmp_path, capsys):
    from PIL import Image

    file = save(_image_gan(tmp_path), tmp_path / "cgan.loom")
    run = tmp_path / "run"
    assert main(["train", str(file), "--out", str(run), "--max-steps", "5"]) == 0
    out = tmp_path / "grid.png"
    assert main(["sample", str(file), "--weights", str(run), "-n", "20", "-o", str(out)]) == 0
    assert "20 images" in capsys.readouterr().out
    image = Image.open(out)  # the classes in turn: a column per class, 0 to 9
    g = grid_size(20, 8, 8, cols=10)
    assert (g.rows, g.cols) == (2, 10) and image.mode == "L"
    assert image.size == (10 * 8 + 9 * 2, 2 * 8 + 2) == (g.width, g.height)
    g = grid_size(10, 8, 8)  # without a layout: near square
    assert (g.rows, g.cols) == (3, 4) and (g.width, g.height) == (4 * 8 + 3 * 2, 3 * 8 + 2 * 2)
    seven = tmp_path / "seven.png"
    assert main(["sample", str(file), "--weights", str(run), "-n", "4", "--prompt", "7",
                 "-o", str(seven)]) == 0
    assert Image.open(seven).size == (2 * 8 + 2, 2 * 8 + 2)
    assert main(["sample", str(file), "--weights", str(run), "--prompt", "eleven",
                 "-o", str(tmp_path / "x.png")]) == 2
    err = _err(capsys)
    assert "unknown class 'eleven'" in err and "0, 1, 2" in err
    assert main(["sample", str(file), "--weights", str(run), "-o", str(tmp_path / "x.txt")]) == 2
    assert "gan samples are images: use -o OUT.png" in _err(capsys)


def test_class_labels_cycle_or_follow_the_prompt():
    ids, names = class_labels(5, None, 3, ("a", "b", "c"), "gan")
    assert ids.tolist() == [0, 1, 2, 0, 1] and names == ["a", "b", "c", "a", "b"]
    assert class_labels(3, "B", 3, ("a", "b", "c"), "gan")[0].tolist() == [1, 1, 1]
    assert class_labels(2, "2", 3, ("a", "b", "c"), "gan")[1] == ["c", "c"]
    with pytest.raises(RecipeError, match="unknown class '5'.*a, b, c"):
        class_labels(2, "5", 3, ("a", "b", "c"), "gan")


# --- WGAN-GP ----------------------------------------------------------------------------------

def _ctx(scaler=None) -> Optimization:
    return Optimization({}, {}, {}, torch.device("cpu"), scaler=scaler)


def test_gradient_penalty_is_finite_positive_and_matches_its_definition():
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    real, fake = torch.randn(32, 2), torch.randn(32, 2) + 3
    gp = gradient_penalty(_ctx(), lambda x: critic(x)[:, 0], real, fake,
                          torch.Generator().manual_seed(1))
    assert math.isfinite(gp.item()) and gp.item() > 0
    eps = torch.rand(32, 1, generator=torch.Generator().manual_seed(1))
    mixed = (eps * real + (1 - eps) * fake).requires_grad_()
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed)
    torch.testing.assert_close(gp, (grad.norm(dim=1) - 1).square().mean())
    gp.backward()  # it trains the critic: a gradient reaches its weights
    assert critic[0].weight.grad.abs().sum() > 0


def test_r1_penalty_is_the_mean_squared_gradient_norm_at_the_real_samples():
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    real = torch.randn(32, 2).requires_grad_(True)
    r1 = r1_penalty(_ctx(), critic(real)[:, 0], real)
    # by hand: D is a sum of tanh units, ∂D/∂x = W2 · diag(1 − tanh²(W1 x + b1)) · W1
    w1, b1, w2 = critic[0].weight, critic[0].bias, critic[2].weight
    slope = (1 - torch.tanh(real @ w1.T + b1).square()) * w2  # [32, 16]
    by_hand = (slope @ w1).square().sum(1).mean()
    torch.testing.assert_close(r1, by_hand)
    r1.backward()  # it trains the discriminator: a gradient reaches its weights
    assert critic[0].weight.grad.abs().sum() > 0


def test_the_wgan_gp_template_trains_and_reports_the_wasserstein_estimate(events):
    p = load(TEMPLATES / "wgan_gp_2d.loom")
    assert p.recipe.params["loss"] == "wgan_gp" and p.recipe.params["d_steps"] == 5
    assert p.training.optimizers["discriminator"].params["betas"] == [0.5, 0.9]
    p.dataset.params["n_samples"] = 1000
    finished = Trainer(p, callback=events, device="cpu").fit(max_steps=15)
    assert finished.reason == "max_steps", events.of(Failure)
    steps = events.of(StepMetrics)
    assert steps and {"loss_d", "loss_g", "gp", "wasserstein"} <= set(steps[-1].values)
    assert all(math.isfinite(e.values["gp"]) and e.values["gp"] >= 0 for e in steps)
    assert "wasserstein" in finished.final and math.isfinite(finished.final["wasserstein"])


# --- the weight average: recipe state, restored exactly ---------------------------------------

def test_resume_restores_the_weight_average_exactly(tmp_path):
    file = _gan(tmp_path, ema=0.9)
    whole, part = tmp_path / "whole", tmp_path / "part"
    args = ["train", str(file), "--epochs", "2", "--device", "cpu"]
    assert main(args + ["--out", str(whole), "--max-steps", "20"]) == 0
    assert main(args + ["--out", str(part), "--max-steps", "8"]) == 0
    state, meta = load_checkpoint(part / "checkpoint", {})
    ema = state["recipes"]["0"]["ema"]
    assert meta["step"] == 8 and {"g_hidden1.weight", "g_point.bias"} <= set(ema)
    assert main(args + ["--out", str(part), "--max-steps", "20", "--resume"]) == 0
    a = load_checkpoint(whole / "checkpoint", {})[0]["recipes"]["0"]["ema"]
    b = load_checkpoint(part / "checkpoint", {})[0]["recipes"]["0"]["ema"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # The average differs from the last weights: it is an average, not a copy.
    from safetensors.torch import load_file
    last = load_file(str(whole / "generator.safetensors"))
    assert not torch.equal(last["g_hidden1.weight"], a["g_hidden1.weight"])


# --- train --init -----------------------------------------------------------------------------

def _first_run(tmp_path: Path) -> Path:
    first = save(project(mlp(classes=2), epochs=1), tmp_path / "first.loom")
    assert main(["train", str(first), "--out", str(tmp_path / "run")]) == 0
    return tmp_path / "run"


def _changed() -> Project:
    """The same network with one layer's units changed (three classes, not two)."""
    changed = project(mlp(classes=2), epochs=1)
    changed.networks["main"].nodes["logits"].params["units"] = 3
    changed.dataset = DatasetConfig("blobs", {"centers": 3})
    return changed


def test_init_reports_a_changed_layer_as_skipped_with_both_shapes(tmp_path, capsys,
                                                                   monkeypatch):
    _first_run(tmp_path)
    second = save(_changed(), tmp_path / "second.loom")
    monkeypatch.chdir(tmp_path)  # --init paths are relative to the current folder
    capsys.readouterr()
    assert main(["train", str(second), "--out", str(tmp_path / "second-run"), "--init",
                 "main=run"]) == 0
    out = capsys.readouterr().out
    line = next(s for s in out.splitlines() if s.startswith("network 'main' starts from"))
    assert "4 of 6 tensors loaded (hidden1, hidden2)" in line
    assert "logits.weight (shape [2, 32] in the file, [3, 32] here)" in line
    assert "logits.bias (shape [2] in the file, [3] here)" in line
    records = [json.loads(s) for s in
               (tmp_path / "second-run" / "metrics.jsonl").read_text().splitlines()]
    (loaded,) = [r for r in records if r["event"] == "weights_loaded"]
    assert loaded["source"] == str(tmp_path / "run" / "main.safetensors")
    assert set(loaded["skipped"]) == {"logits.weight", "logits.bias"}
    assert "[2, 32] in the file, [3, 32] here" in loaded["skipped"]["logits.weight"]
    assert sorted(loaded["matched"]) == ["hidden1.bias", "hidden1.weight", "hidden2.bias",
                                         "hidden2.weight"]
    assert not loaded["new"] and not loaded["unused"]
    # The run's copy of the project names the weights wherever it is opened from.
    assert load(tmp_path / "second-run" / "project.loom").training.init == {
        "main": str(tmp_path / "run")}


def test_a_projects_own_init_is_relative_to_its_file(tmp_path, capsys):
    _first_run(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    changed = _changed()
    changed.training.init = {"main": "../run"}
    second = save(changed, tmp_path / "elsewhere" / "second.loom")
    capsys.readouterr()
    assert main(["train", str(second), "--out", str(tmp_path / "second-run")]) == 0
    assert f"starts from {tmp_path / 'run' / 'main.safetensors'}: 4 of 6" in \
        capsys.readouterr().out


def test_init_refuses_malformed_values_and_unknown_networks(tmp_path, capsys):
    file = save(project(epochs=1), tmp_path / "p.loom")
    for value, said in (("main", "NETWORK=PATH"), ("=x", "NETWORK=PATH"),
                        ("other=x", "network 'other'")):
        assert main(["train", str(file), "--out", str(tmp_path / "r"), "--init", value]) == 2
        assert said in _err(capsys)
    assert not (tmp_path / "r").exists()


# --- input gradients --------------------------------------------------------------------------

def test_input_gradients_match_central_differences_also_under_loss_scaling():
    def f(x):  # a small smooth function of each sample
        return (x[:, 0] * x[:, 1].exp() + x[:, 2].sin() * x[:, 0].square()).unsqueeze(1)

    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    (g,) = _ctx().gradients(f(x), x)
    h = 1e-6
    for i in range(3):
        d = torch.zeros_like(x)
        d[:, i] = h
        torch.testing.assert_close(g[:, i], ((f(x + d) - f(x - d)) / (2 * h))[:, 0],
                                   rtol=1e-7, atol=1e-9)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    (scaled,) = _ctx(scaler).gradients(f(x), x)
    torch.testing.assert_close(scaled, g)
    assert scaled.requires_grad  # still differentiable, for a penalty
