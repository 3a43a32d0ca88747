"""``layerloom export --script``: a folder a PyTorch user keeps, which trains to the app's
numbers without Layerloom.

Each template's script runs in a subprocess whose import system refuses ``builder``,
``runtime`` and ``app`` (so Layerloom cannot be used even though it is installed), and its
final validation metrics are compared with ``Trainer.fit(max_steps=N)`` on the same seed.
The script repeats the trainer's random draws in the same order (global seed, data, networks
in role order, noise generator seed+1, batch order seed) with the same kernels on the CPU, so
the numbers agree to float rounding: the tolerance is 1e-4 relative (a few float32 ulps
accumulated over the steps), far below any real difference (one wrong draw moves them by
percent).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from builder.document import OptimizerConfig
from builder.serialize import load, save
from runtime import cli
from runtime.trainer import Trainer

TEMPLATES = Path(__file__).resolve().parents[2] / "resources" / "templates"

# Runs train.py as `python train.py` would, with Layerloom's packages unimportable.
_RUNNER = r"""
import importlib.abc, runpy, sys
class NoLayerloom(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("builder", "runtime", "app"):
            raise ImportError(f"the training script imported {name}")
sys.meta_path.insert(0, NoLayerloom())
folder = sys.argv[1]
sys.path.insert(0, folder)
sys.argv = [folder + "/train.py", *sys.argv[2:]]
runpy.run_path(folder + "/train.py", run_name="__main__")
used = sorted(m for m in sys.modules if m.split(".")[0] in ("builder", "runtime", "app"))
print("layerloom modules:", used)
"""


def _settings(project) -> None:
    """What a template leaves at its defaults: SGD with momentum, a cosine schedule after a
    warm-up, L1 and L2 penalties, gradient clipping, a block's lr_scale and initialiser."""
    t = project.training
    t.optimizers["main"] = OptimizerConfig("momentum", 0.05, {})
    t.schedule = {"name": "cosine", "warmup_epochs": 1, "min_factor": 0.1}
    t.l1, t.l2, t.grad_clip = 1e-4, 1e-3, 0.5
    node = next(n for n in project.networks["main"].nodes.values() if n.block == "Linear")
    node.lr_scale, node.init = 0.5, "xavier"


def _augmented(project) -> None:
    project.dataset.params["n_samples"] = 600
    project.dataset.augment = [{"op": "crop", "padding": 2}, {"op": "flip"},
                               {"op": "jitter"}, {"op": "rotate"}]


def _project(tmp_path, name: str, change=None) -> Path:
    """The template, changed (fewer samples keep the test short on two cores)."""
    if change is None:
        return TEMPLATES / f"{name}.loom"
    project = load(TEMPLATES / f"{name}.loom")
    if isinstance(change, int):
        project.dataset.params["n_samples"] = change
    else:
        change(project)
    path = tmp_path / f"{name}.loom"
    save(project, path)
    return path


def _export(tmp_path, name: str, *extra: str, project: Path | None = None
            ) -> tuple[int, Path]:
    out = tmp_path / name
    parser = cli.build_parser()
    file = project or TEMPLATES / f"{name}.loom"
    args = parser.parse_args(["export", str(file), "--script", str(out), *extra])
    return cli.run(args), out


def _run(folder: Path, steps: int, tmp_path) -> str:
    done = subprocess.run([sys.executable, "-c", _RUNNER, str(folder), "--steps", str(steps),
                           "--device", "cpu", "--out", str(tmp_path / "ckpt")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          # as many threads as the app here: they split the sums differently
                          env=os.environ | {"OMP_NUM_THREADS": str(torch.get_num_threads())})
    assert done.returncode == 0, done.stderr
    assert "layerloom modules: []" in done.stdout
    return done.stdout


def _validation(stdout: str) -> dict[str, float]:
    last = [line for line in stdout.splitlines() if "validation" in line][-1]
    pairs = re.findall(r"(\w+) (-?[\d.]+(?:e-?\d+)?)", last.split("validation", 1)[1])
    return {k: float(v) for k, v in pairs}


def _app(project: Path, steps: int) -> dict[str, float]:
    trainer = Trainer(load(project), device="cpu")
    finished = trainer.fit(max_steps=steps)
    assert finished.reason == "max_steps", trainer.failure
    return trainer.history[-1].val


def _patch_judge(project) -> None:
    """Fewer samples, and D ends in a map of scores, one per patch (PatchGAN), not one."""
    project.dataset.params["n_samples"] = 600
    d = project.networks[project.recipe.roles["discriminator"]]
    flat = next(k for k, n in d.nodes.items() if n.block == "Flatten")
    score = next(k for k, n in d.nodes.items() if n.block == "Linear")
    before = next(e.src for e in d.edges if e.dst == flat)
    d.edges = [e for e in d.edges if flat not in (e.src, e.dst) and e.src != score]
    del d.nodes[flat], d.nodes[score]
    d.add("Conv2d", id="patches", filters=1, kernel=3, padding=1)
    d.connect(before, "patches")
    d.connect("patches", next(k for k, n in d.nodes.items() if n.block == "Output"))


def _patch_judge_r1(project) -> None:
    """A PatchGAN judge held flat at the real samples by R1."""
    _patch_judge(project)
    project.recipe.params["r1"] = 1.0


@pytest.mark.parametrize("name, change, steps, metrics", [
    ("mlp", None, 30, ("loss", "accuracy")),
    ("mlp", _settings, 40, ("loss", "accuracy")),
    ("lenet", _augmented, 5, ("loss", "accuracy", "top5_accuracy")),
    ("forecast_one_step", 400, 5, ("loss", "mse", "mae", "r2")),
    ("gan_2d", 1000, 20, ("loss_d", "loss_g", "d_real", "d_fake", "d_accuracy")),
    ("dcgan", _patch_judge, 4, ("loss_d", "loss_g", "d_real", "d_fake", "d_accuracy")),
    ("dcgan", _patch_judge_r1, 4, ("loss_d", "loss_g", "d_real", "d_fake", "d_accuracy")),
    ("wgan_gp_images", _patch_judge, 3, ("loss_g", "d_real", "d_fake", "wasserstein")),
])
def test_the_script_trains_to_the_apps_numbers(name, change, steps, metrics, tmp_path):
    project = _project(tmp_path, name, change)
    code, folder = _export(tmp_path, name, project=project)
    assert code == 0
    assert {p.name for p in folder.iterdir()} >= {"model.py", "data.py", "train.py",
                                                   "README.txt"}
    out = _run(folder, steps, tmp_path)
    assert re.search(rf"^step {steps}  loss", out, re.MULTILINE)
    mine, app = _validation(out), _app(project, steps)
    # Printed with 5 significant digits.  Where the two sum in another order (a critic's
    # double backward through channels-last convolutions), Adam's first steps, about
    # lr·sign(g), blow float rounding up to 5e-4 after three WGAN-GP steps.
    for key in metrics:
        assert mine[key] == pytest.approx(app[key], rel=1e-3, abs=1e-4), (key, mine, app)
    assert (tmp_path / "ckpt").is_dir()


def test_an_unsupported_recipe_is_refused_by_name(tmp_path, capsys):
    code, folder = _export(tmp_path, "vae")
    assert code == 2
    err = capsys.readouterr().err
    assert "recipe 'autoencoder'" in err and "classification, regression, gan" in err
    assert not folder.exists()


def test_a_non_empty_folder_needs_force(tmp_path, capsys):
    folder = tmp_path / "mlp"
    folder.mkdir()
    (folder / "mine.txt").write_text("keep")
    code, _ = _export(tmp_path, "mlp")
    assert code == 2
    assert "--force" in capsys.readouterr().err
    assert (folder / "mine.txt").read_text() == "keep"


def test_the_script_starts_from_the_exported_weights(tmp_path):
    run = tmp_path / "run"
    trainer = Trainer(load(TEMPLATES / "mlp.loom"), device="cpu", run_dir=run)
    assert trainer.fit(max_steps=3).reason == "max_steps"
    code, folder = _export(tmp_path, "mlp", "--weights", str(run))
    assert code == 0
    saved = torch.load(folder / "weights" / "main.pt", weights_only=True)
    trained = trainer.networks["main"].state_dict()
    assert saved.keys() == trained.keys()
    assert all(torch.equal(saved[k], trained[k]) for k in saved)
    assert "trained weights" in (folder / "README.txt").read_text()
