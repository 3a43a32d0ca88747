"""Every gallery entry trains from the command line with its loss falling.

A copy of each template, shrunk to one batch of 32 training samples where its dataset has a
size, runs ``layerloom train COPY --max-steps 10`` through the real entry point; the training
loss in its ``metrics.csv`` must fall: the mean of the last three steps below that of the
first three.  With the same samples every step, a network that does not learn cannot pass by
luck.  ``tests/runtime/test_gallery_trains.py`` checks the pictures; this checks learning.
"""

from __future__ import annotations

import contextlib
import csv
import io
from pathlib import Path

import pytest

from app.cli import main
from builder.gallery import templates
from builder.serialize import load, save
from runtime.data import DATASETS

STEPS = 10
# Entries whose lesson is a loss that does not fall in the first steps; they must still train
# without an error and keep a finite loss.
NOT_FALLING = {
    "vanishing_gradients": "ten sigmoid layers: the gradient vanishes before it reaches fc1",
    "perceptron_xor": "one straight line cannot separate XOR",
    "activations_dead_relu": "a learning rate of 1.0 on purpose: the loss jumps as units die",
    "activations_leaky": "the dead-ReLU entry's rate of 1.0, with leaky units",
    "wgan": "the clipped critic's estimate rises as the generator catches up",
}
SKIP = {"alexnet": "62M weights at 227×227: too slow for the suite"}


def small_copy(template, folder: Path) -> Path:
    project = load(template.path)
    params = {p.name: p for p in DATASETS[project.dataset.name].params}
    if "n_samples" in params:  # one batch of 32 training samples, the same every step
        project.dataset.params["n_samples"] = 40
        project.dataset.params["val_fraction"] = 0.2
    if "sentences" in params:  # a generated corpus: as few sentences as it takes
        project.dataset.params["sentences"] = params["sentences"].min
    project.training.batch_size = 32
    path = folder / f"{template.name}.loom"
    save(project, path)
    return path


def train_losses(run: Path) -> dict[str, list[float]]:
    """The training losses per step, by name, from a run's metrics.csv."""
    out: dict[str, list[float]] = {}
    with (run / "metrics.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            if row["split"] == "train" and row["name"].startswith("loss"):
                out.setdefault(row["name"], []).append(float(row["value"]))
    return out


def watched(losses: dict[str, list[float]]) -> tuple[str, list[float]]:
    """The loss to watch: the total, else a GAN's discriminator's (its generator's rises as
    the discriminator learns), else the first one reported."""
    for name in ("loss", "loss_d"):
        if name in losses:
            return name, losses[name]
    return next(iter(losses.items()))


@pytest.mark.parametrize("template", [t for t in templates() if t.name not in SKIP],
                         ids=lambda t: t.name)
def test_entry_trains_from_the_cli_with_its_loss_falling(template, tmp_path):
    run = tmp_path / "run"
    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        code = main(["train", str(small_copy(template, tmp_path)), "--max-steps", str(STEPS),
                     "--epochs", "1000", "--device", "cpu", "--out", str(run),
                     "--stats-every", "1000"])
    assert code == 0, said.getvalue()[-2000:]
    name, values = watched(train_losses(run))
    assert len(values) >= 6, f"{template.name}: only {len(values)} steps of {name}"
    first, last = sum(values[:3]) / 3, sum(values[-3:]) / 3
    if template.name in NOT_FALLING:
        assert all(abs(v) < 1e6 for v in values), f"{name} blew up: {values}"
    else:
        assert last < first, f"{template.name}: {name} {first:.4f} → {last:.4f}: {values}"
