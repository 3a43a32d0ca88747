"""DANN's baselines (source_only, per_domain_bn, reweight) and the feature pictures through
the real trainer on tiny two-domain data, and the digits template's honesty (target labels
never reach training); the gallery templates' own 3-step runs are in test_gallery_trains.py
(-k dann).  How much DANN gains with the templates' defaults is measured in docs/transfer.md."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from runtime.assemble import load_data
from runtime.data.core import TensorData
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


@pytest.mark.filterwarnings("error::UserWarning")  # no schedule-order warning for the idle head
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


def test_the_digits_template_adapts_plain_to_inverted_with_dann_by_default():
    p = BUILDERS["dann_digits"]()
    assert p.recipe.params["method"] == "dann" and p.recipe.params["lambda_max"] == 1.0
    assert p.dataset.params.get("domain", "plain") == "plain"
    assert p.streams["target"].params["domain"] == "inverted"
    assert p.training.schedule["name"] == "cosine"  # a calm end to the adversarial game
    kinds = [n.block for n in p.networks["features"].nodes.values()]
    assert kinds.count("BatchNorm") == 3  # one per layer: statistics of the mixed batch


def test_the_target_labels_never_reach_training(events):
    """Three real steps with the target's training labels shuffled leave every weight exactly
    as with the true ones: only target_accuracy (validation) reads them."""
    p = tiny("dann", epochs=1)
    trained = []
    for shuffle in (False, True):
        data = load_data(p)
        if shuffle:
            part = data.others["target"].train
            y = part["y"][torch.randperm(len(part), generator=torch.Generator().manual_seed(1))]
            assert not torch.equal(y, part["y"])
            data.others["target"] = data.others["target"].with_parts(
                TensorData({**part.fields, "y": y}))
        trainer = Trainer(p, data=data, callback=events)
        assert trainer.fit(max_steps=3).reason in ("completed", "max_steps"), events.of(Failure)
        trained.append([w for role in ("features", "label_head", "domain_head")
                        for w in weights(trainer, role)])
    assert all(torch.equal(a, b) for a, b in zip(*trained, strict=True))


def test_the_textured_domain_draws_the_same_digits_over_seeded_textures():
    from runtime.data.glyphs import glyph_digits

    plain, y = glyph_digits(32, 3, "plain")
    tex, y_tex = glyph_digits(32, 3, "textured")
    assert (y == y_tex).all() and (tex == glyph_digits(32, 3, "textured")[0]).all()
    background = [t[p == 0].astype(float) for p, t in zip(plain, tex, strict=True)]
    assert min(b.std() for b in background) > 5  # each a texture, not a flat grey
    assert len({round(b.mean()) for b in background}) > 10  # of varied brightness
