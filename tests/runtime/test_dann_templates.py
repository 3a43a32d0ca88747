"""DANN's baselines (source_only, per_domain_bn, reweight) and the feature pictures through
the real trainer on tiny two-domain data; the gallery templates' own 3-step runs are in
test_gallery_trains.py (-k dann)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from runtime.events import EpochSummary, Failure, Samples, StepMetrics
from runtime.trainer import Trainer, Watch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "packaging"))
from templates_transfer import BUILDERS  # noqa: E402


def tiny(method: str, n: int = 256, epochs: int = 2):
    p = BUILDERS["dann_digits"]()
    p.recipe.params["method"] = method
    p.dataset.params["n_samples"] = n
    p.streams["target"].params["n_samples"] = n
    p.training.epochs = epochs
    return p


def weights(trainer: Trainer, role: str) -> list[torch.Tensor]:
    net = trainer.current.active.nets[role]
    return [t.detach().clone() for t in net.parameters()]


@pytest.mark.parametrize("method", ["dann", "source_only", "per_domain_bn", "reweight"])
def test_every_method_trains_and_reports_both_domains(events, method):
    finished = Trainer(tiny(method), callback=events, watch=Watch(every_steps=1)).fit()
    assert finished.reason == "completed", events.of(Failure)
    val = events.of(EpochSummary)[-1].val
    assert {"accuracy", "target_accuracy"} <= set(val)
    assert ("domain_accuracy" in val) == (method in ("dann", "reweight"))
    steps = [e.values for e in events.of(StepMetrics) if "loss" in e.values]
    assert all(torch.isfinite(torch.tensor(s["loss"])) for s in steps)
    if method == "reweight":
        assert max(s["weight_max"] for s in steps) > 1.0  # some source samples count more


def test_the_reversal_strength_follows_progress_and_only_dann_has_one(events):
    from runtime.recipes.dann import DANN

    recipe = DANN.__new__(DANN)
    recipe.options = DANN.coerce({"gamma": 10.0, "lambda_max": 2.0})
    recipe.method = "dann"
    lam = [recipe.strength(p / 10) for p in range(11)]
    assert lam[0] == 0.0 and lam == sorted(lam) and 1.99 < lam[-1] <= 2.0
    assert abs(lam[5] - 2.0 * (2 / (1 + torch.exp(torch.tensor(-5.0)).item()) - 1)) < 1e-9
    recipe.method = "source_only"
    assert recipe.strength(0.5) == 0.0


def test_source_only_leaves_the_domain_head_and_gives_features_no_domain_gradient(events):
    trainer = Trainer(tiny("source_only", epochs=1), callback=events,
                      watch=Watch(every_steps=1))
    seen = {}

    def spy(event):
        events(event)
        if isinstance(event, StepMetrics) and "before" not in seen and trainer.current:
            seen["before"] = weights(trainer, "domain_head")

    trainer.callback = spy
    assert trainer.fit().reason == "completed", events.of(Failure)
    lam = {e.values["lambda"] for e in events.of(StepMetrics) if "lambda" in e.values}
    assert lam == {0.0}  # the reversal passes no gradient to the features
    after = weights(trainer, "domain_head")
    assert all(torch.equal(a, b) for a, b in zip(seen["before"], after, strict=True))


def test_the_first_feature_picture_is_kept_beside_the_latest(events):
    finished = Trainer(tiny("dann", epochs=2), callback=events).fit()
    assert finished.reason == "completed", events.of(Failure)
    pictures = [e for e in events.of(Samples) if e.kind == "points"]
    first = [e for e in pictures if e.name.startswith("features before")]
    assert len({e.name for e in first}) == 1 and len(first) >= 2  # one title, every time
    assert (first[0].data == first[-1].data).all()
    now = [e for e in pictures if e.name.startswith("features now")]
    assert now[-1].extra["names"] == ["source", "target"]
    assert set(now[-1].labels.tolist()) == {0, 1} and now[-1].data.shape[1] == 2
