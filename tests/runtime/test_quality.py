"""Sample-quality figures: the Fréchet distance, diversity, the judge and its cache, and the
events and warnings ``Quality`` hands the generative recipes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from runtime import judge as judge_mod
from runtime.data import load
from runtime.data.core import DataInfo, FieldInfo, TensorData
from runtime.data.splits import Splits
from runtime.events import Samples, Warning
from runtime.quality import Quality, diversity, frechet_distance


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("judges")


@pytest.fixture(scope="module")
def digits(root):
    """digits8 and its judge, trained once for the module into ``root``."""
    data = load("digits8", {"seed": 0}, root=root)
    judge_mod.forget()
    judge = judge_mod.judge_for(data, root=root)
    assert judge.source == "trained"
    return data, judge


def _names(events) -> list[str]:
    return [e.name if isinstance(e, Samples) else e.code for e in events]


# --- the Fréchet distance ----------------------------------------------------------------

def test_frechet_distance_matches_the_closed_form_of_two_gaussians():
    rng = np.random.default_rng(0)
    m1, m2 = np.array([0.0, 1.0, -2.0, 0.5]), np.array([1.0, 1.0, 0.0, -0.5])
    v1, v2 = np.array([1.0, 4.0, 0.25, 2.0]), np.array([2.0, 1.0, 1.0, 0.5])
    a = m1 + rng.standard_normal((40_000, 4)) * np.sqrt(v1)
    b = m2 + rng.standard_normal((40_000, 4)) * np.sqrt(v2)
    exact = ((m1 - m2) ** 2).sum() + (v1 + v2 - 2 * np.sqrt(v1 * v2)).sum()
    assert frechet_distance(a, b) == pytest.approx(exact, rel=0.03)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_handles_singular_and_broken_features():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((50, 3)), rng.standard_normal((60, 3))
    a[:, 2] = b[:, 2] = 0.0  # a dead feature: singular covariances
    value = frechet_distance(a, b)
    assert np.isfinite(value) and value >= 0
    b[0, 0] = np.nan
    assert np.isnan(frechet_distance(a, b))
    with pytest.raises(ValueError):
        frechet_distance(a, b[:, :2])


def test_fid_of_real_halves_is_far_below_real_against_noise(digits):
    data, judge = digits
    val = data.val["x"]
    half = len(val) // 2
    a, b = judge.features(val[:half]).numpy(), judge.features(val[half:]).numpy()
    noise = torch.randn(val[:half].shape, generator=torch.Generator().manual_seed(0))
    # ~180 samples a side in 64 dimensions: the estimate's own bias is most of the first
    assert frechet_distance(a, b) * 5 < frechet_distance(a, judge.features(noise).numpy())


def test_diversity_is_a_ratio_to_the_real_data():
    x = torch.randn(300, 5, generator=torch.Generator().manual_seed(0))
    assert diversity(x, x) == pytest.approx(1.0)
    assert diversity(x[:1].expand(300, 5), x) == pytest.approx(0.0, abs=1e-4)
    assert diversity(x * 0.5, x) == pytest.approx(0.5, rel=1e-4)


# --- the judge -----------------------------------------------------------------------------

def test_judge_is_accurate_and_cached_on_disk_and_in_memory(digits, root, monkeypatch):
    data, trained = digits
    assert trained.accuracy > 0.95
    assert any((root / judge_mod.FOLDER).glob("digits8-*.safetensors"))

    def no_training(*args):
        raise AssertionError("the cached judge was trained again")

    monkeypatch.setattr(judge_mod, "_train", no_training)
    judge_mod.forget()
    from_disk = judge_mod.judge_for(data, root=root)
    assert from_disk.source == "disk" and from_disk.accuracy == trained.accuracy
    assert judge_mod.judge_for(data, root=root).source == "memory"


def test_a_corrupt_cache_is_retrained_identically_and_the_rng_is_untouched(
        digits, root, tmp_path):
    data, trained = digits
    shutil.copytree(root, tmp_path, dirs_exist_ok=True)
    (path,) = (tmp_path / judge_mod.FOLDER).glob("digits8-*.safetensors")
    path.write_bytes(b"not a torch file")
    judge_mod.forget()
    before = torch.get_rng_state()
    with torch.no_grad():  # as the trainer draws pictures: the judge must still learn
        again = judge_mod.judge_for(data, root=tmp_path)
    assert torch.equal(torch.get_rng_state(), before)
    assert again.source == "trained"
    for (k, a), b in zip(trained.net.state_dict().items(), again.net.state_dict().values()):
        assert torch.equal(a, b), k  # a fixed seed: the same weights
    judge_mod.forget()
    assert judge_mod.judge_for(data, root=tmp_path).source == "disk"  # rewritten whole


# --- Quality -------------------------------------------------------------------------------

def test_a_one_class_generator_warns_once_of_mode_collapse(digits, root):
    data, _ = digits
    threes = data.train["x"][data.train["y"] == 3]
    mixed = data.train["x"][:300]
    q = Quality(count=300, root=root)
    first = q.events(threes, data, 0, 0)
    assert _names(first) == ["Fréchet distance", "sample diversity", "generated classes"]
    bars = first[-1]
    assert bars.kind == "bars" and bars.labels == list("0123456789")
    assert bars.data[3] > 0.9 and bars.data.sum() == pytest.approx(1.0)
    assert bars.extra == {"reference": 0.1}
    assert q.last["classes_covered"] == 1 and q.last["judge_accuracy"] > 0.95
    assert "mode_collapse" not in _names(q.events(threes, data, 10, 0))  # warming up
    assert "mode_collapse" not in _names(q.events(threes, data, 20, 0))
    warned = [e for e in q.events(threes, data, 30, 0) if isinstance(e, Warning)]
    assert [w.code for w in warned] == ["mode_collapse"]
    assert "1 of 10 classes" in warned[0].message and "wgan_gp" in warned[0].message
    assert "mode_collapse" not in _names(q.events(threes, data, 40, 0))  # not repeated
    assert "mode_collapse" not in _names(q.events(mixed, data, 50, 0))  # recovered
    assert q.last["classes_covered"] == 10 and q.last["diversity"] > 0.8
    assert "mode_collapse" in _names(q.events(threes, data, 60, 0))  # a new collapse


def test_the_curves_carry_their_history_through_state(digits, root):
    data, _ = digits
    fake = data.train["x"][:300]
    q = Quality(count=300, root=root)
    for step in (10, 20, 20):  # a repeated step replaces its point
        q.events(fake, data, step, 0)
    state = json.loads(json.dumps(q.state_dict()))  # plain data, as checkpoints carry it
    resumed = Quality(count=300, root=root)
    resumed.load_state_dict(state)
    assert resumed.last["fid"] == q.last["fid"]
    fid = resumed.events(fake + 0.3, data, 30, 1)[0]
    assert fid.kind == "curve" and fid.extra["x_label"] == "step"
    assert fid.extra["y_label"] == "Fréchet distance (judge features)"
    assert fid.data[:, 0].tolist() == [10, 20, 30]
    assert fid.data[:2, 1].tolist() == [p[1] for p in state["fid"]]


def test_figures_degrade_without_labels_judge_or_enough_data(digits, root):
    data, _ = digits
    fake = data.train["x"][:100]
    assert _names(Quality(label=None).events(fake, data, 1, 0)) == ["sample diversity"]
    assert _names(Quality(label="nope").events(fake, data, 1, 0)) == ["sample diversity"]
    assert Quality(root=root).events(fake[:, :, :4], data, 1, 0) == []  # not the data's shape
    tiny = Splits(data.train, TensorData({k: v[:1] for k, v in data.val.items()}), data.info)
    assert Quality(root=root).events(fake, tiny, 1, 0) == []
    few = Splits(data.train, TensorData({k: v[:10] for k, v in data.val.items()}), data.info)
    assert _names(Quality(root=root).events(fake, few, 1, 0)) == ["sample diversity",
                                                                  "generated classes"]
    broken = fake.clone()
    broken[::2] = float("nan")
    q = Quality(root=root)
    assert len(q.events(broken, data, 1, 0)) == 3 and np.isfinite(q.last["fid"])
    assert q.events(broken[:1], data, 2, 0) == []


def test_points_get_a_raw_frechet_distance_and_unlabelled_data_no_judge():
    ring = load("ring", {"n_samples": 600})
    q = Quality(count=200)
    events = q.events(ring.train["x"][:200], ring, 5, 0)
    assert _names(events) == ["Fréchet distance", "sample diversity"]
    assert events[0].extra["y_label"] == "Fréchet distance (raw values)"
    assert q.judge is None and q.last["judge_accuracy"] is None
    blobs = load("blobs", {"n_samples": 600, "centers": 4})
    q = Quality(count=200)
    assert _names(q.events(blobs.train["x"][:200], blobs, 5, 0))[-1] == "generated classes"
    assert q.last["classes_covered"] == 4 and q.judge.accuracy > 0.8  # the blobs overlap


@pytest.mark.parametrize("shape", [(1, 8, 8), (2, 3, 3), (3, 10, 14), (1, 28, 28),
                                   (3, 227, 100), (7,)])
def test_the_judge_network_fits_any_image_or_vector(shape):
    net = judge_mod._network(shape, 4)
    features, logits = net[:-1](torch.zeros(2, *shape)), net(torch.zeros(2, *shape))
    assert features.shape == (2, judge_mod.FEATURES) and logits.shape == (2, 4)
    assert sum(p.numel() for p in net.parameters()) < 500_000  # big images are pooled first


def test_colour_images_of_any_size_are_judged():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(400) % 3
    x = torch.randn(400, 3, 10, 14, generator=gen) * 0.3
    x[torch.arange(400), y] += 1.0  # the class is the brightest channel
    info = DataInfo("colours", "classification",
                    {"x": FieldInfo((3, 10, 14), "image", "float32"),
                     "y": FieldInfo((), "label", "int64")}, num_classes=3)
    data = Splits(TensorData({"x": x[:300], "y": y[:300]}),
                  TensorData({"x": x[300:], "y": y[300:]}), info)
    q = Quality(count=100)
    assert _names(q.events(x[:100], data, 1, 0))[-1] == "generated classes"
    assert q.last["judge_accuracy"] > 0.9 and q.last["classes_covered"] == 3


def test_discriminator_warning_needs_a_sustained_complete_win():
    q = Quality(window=5)
    assert [q.discriminator_warning(0.999, 0.001, s) for s in range(4)] == [None] * 4
    assert q.discriminator_warning(0.5, 0.5, 4) is None  # the streak is broken
    calls = [q.discriminator_warning(0.999, 0.001, s) for s in range(5, 12)]
    fired = [w for w in calls if w is not None]
    assert len(fired) == 1 and calls[4] is fired[0]  # the fifth in a row, once
    assert fired[0].code == "discriminator_collapse" and "learning rate" in fired[0].message
    assert q.discriminator_warning(float("nan"), float("nan"), 12) is None
