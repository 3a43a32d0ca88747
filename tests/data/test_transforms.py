"""The augmentation ops and their pipeline: shapes, ranges, strength zero, per-sample
randomness, seeding, the legacy params, validation untouched, and the exported source."""

import pytest
import torch

from builder.augment_spec import OPS, full_ops, legacy_ops
from runtime.data import Augment, load
from runtime.data.transforms import augment_batch, pipeline_source

ZERO = {"flip": {"p": 0.0}, "rotate": {"degrees": 0.0}, "crop": {"padding": 0},
        "jitter": {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0},
        "blur": {"p": 0.0}, "erase": {"p": 0.0}, "noise": {"std": 0.0}}
STRONG = {"flip": {"p": 0.5}, "rotate": {"degrees": 30.0}, "crop": {"padding": 4},
          "jitter": {"brightness": 0.5}, "blur": {"p": 1.0, "sigma_min": 0.5, "sigma_max": 2.0},
          "erase": {"p": 1.0, "area_min": 0.1, "area_max": 0.3}, "noise": {"std": 0.1}}


def _images(b=16, c=3, s=12, seed=0):
    return torch.rand(b, c, s, s, generator=torch.Generator().manual_seed(seed))


def _run(name, params, x, seed=0, mean=None, std=None):
    ops = full_ops([{"op": name, **params}])
    return augment_batch(x, ops, torch.Generator().manual_seed(seed), mean, std)


def test_every_op_is_tested():
    assert set(ZERO) == set(OPS) == set(STRONG)


@pytest.mark.parametrize("name", list(OPS))
def test_op_keeps_shape_and_range_and_is_identity_at_zero(name):
    x = _images()
    y = _run(name, STRONG[name], x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= -1e-6 and y.max() <= 1 + 1e-6
    assert not torch.allclose(y, x)
    assert torch.allclose(_run(name, ZERO[name], x), x, atol=1e-6)
    grey = _images(c=1)
    assert _run(name, STRONG[name], grey).shape == grey.shape


@pytest.mark.parametrize("name", list(OPS))
def test_op_is_random_per_sample_and_seeded(name):
    x = _images(b=8)[:1].expand(8, -1, -1, -1).contiguous()  # eight copies of one image
    y = _run(name, STRONG[name], x)
    differ = [not torch.allclose(y[0], y[i]) for i in range(1, 8)]
    assert any(differ), f"{name}: every sample got the same change"
    assert torch.equal(y, _run(name, STRONG[name], x))
    assert not torch.equal(y, _run(name, STRONG[name], x, seed=1))


def test_ops_on_normalised_data_work_in_pixels():
    x = _images()
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    ops = full_ops([{"op": n, **STRONG[n]} for n in OPS])
    y = augment_batch((x - m) / s, ops, torch.Generator().manual_seed(0), mean, std)
    pixels = y * s + m
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5
    erased = _run("erase", {"p": 1.0, "area_min": 0.5, "area_max": 0.5}, (x - m) / s,
                  mean=mean, std=std)
    assert (erased.abs() < 1e-5).all(dim=1).sum() > 0  # filled with the mean colour: zero


def test_rotate_turns_about_the_centre():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 2:7] = 1.0  # a horizontal bar through the centre
    gen = torch.Generator().manual_seed(0)
    turned = augment_batch(x.expand(64, -1, -1, -1), [{"op": "rotate", "degrees": 90.0,
                                                       "p": 1.0}], gen)
    assert torch.allclose(turned[:, 0, 4, 4], torch.ones(64), atol=1e-4)  # centre stays
    assert (turned[:, 0, 2, 4] > 0.5).any()  # some turned near upright


def test_vertical_flip_and_mean_colour_fill():
    x = _images(b=4)
    flipped = augment_batch(x, [{"op": "flip", "p": 1.0, "direction": "vertical"}])
    assert torch.equal(flipped, x.flip(-2))


def test_legacy_params_map_to_the_same_pipeline():
    assert legacy_ops({"augment": False, "crop_padding": 4}) == []
    assert legacy_ops({"augment": True, "crop_padding": 2, "flip": True, "jitter": 0.3}) == [
        {"op": "crop", "padding": 2}, {"op": "flip", "p": 0.5},
        {"op": "jitter", "brightness": 0.3, "contrast": 0.3, "saturation": 0.3}]
    old = Augment(padding=2, flip=True, jitter=0.3)
    new = Augment.from_ops(legacy_ops({"augment": True, "crop_padding": 2, "jitter": 0.3}))
    batch = {"x": _images()}
    assert torch.equal(old(batch, torch.Generator().manual_seed(3))["x"],
                       new(batch, torch.Generator().manual_seed(3))["x"])


def _glyph_project_splits(augment):
    return load("glyph_digits", {"n_samples": 60}, augment=augment)


def test_load_takes_the_list_and_falls_back_to_the_params(tmp_path, helpers):
    s = _glyph_project_splits([{"op": "rotate", "degrees": 10}, {"op": "noise"}])
    assert [op["op"] for op in s.augment.pipeline()] == ["rotate", "noise"]
    assert s.augment.pipeline()[1]["std"] == 0.05
    assert load("glyph_digits", {"n_samples": 60}).augment is None
    helpers.fake_idx_set(tmp_path / "mnist", 30, 10)
    params = {"download": False, "augment": True, "jitter": 0.2}
    old = load("mnist", params, root=tmp_path)
    assert [op["op"] for op in old.augment.pipeline()] == ["crop", "flip", "jitter"]
    listed = load("mnist", params, root=tmp_path, augment=[{"op": "erase"}])
    assert [op["op"] for op in listed.augment.pipeline()] == ["erase"]  # the list wins
    with pytest.raises(ValueError, match=r"augment\[0\].*'spin'"):
        _glyph_project_splits([{"op": "spin"}])


def test_exported_source_is_standalone_and_matches():
    ops = [{"op": n, **STRONG[n]} for n in OPS]
    src = pipeline_source(ops, (0.5, 0.5, 0.5), (0.2, 0.2, 0.2))
    assert "from runtime" not in src and "builder" not in src
    scope: dict = {}
    exec(compile(src, "train.py", "exec"), scope)  # noqa: S102 - our own generated code
    x = _images()
    ours = augment_batch(x, full_ops(ops), torch.Generator().manual_seed(5),
                         (0.5, 0.5, 0.5), (0.2, 0.2, 0.2))
    theirs = scope["augment_batch"](x, scope["AUGMENT"], torch.Generator().manual_seed(5),
                                    scope["AUGMENT_MEAN"], scope["AUGMENT_STD"])
    assert torch.equal(ours, theirs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_pipeline_runs_on_the_gpu_with_a_cpu_generator():
    x = _images().cuda()
    y = augment_batch(x, full_ops([{"op": n, **STRONG[n]} for n in OPS]),
                      torch.Generator().manual_seed(0))
    assert y.is_cuda and y.shape == x.shape


def test_a_project_trains_with_its_list(monkeypatch):
    from builder import serialize
    from builder.document import DatasetConfig
    from builder.gallery import template_path
    from runtime import assemble
    from runtime.trainer import Trainer

    p = serialize.load(template_path("lenet"))
    ops = [{"op": "rotate", "degrees": 10}, {"op": "erase"}, {"op": "noise", "std": 0.1}]
    p.dataset = DatasetConfig("glyph_digits", {"n_samples": 200}, ops)
    p.training.batch_size = 32
    assert [op["op"] for op in assemble.load_data(p).augment.pipeline()] == [
        "rotate", "erase", "noise"]
    seen = []
    real = Augment.__call__
    monkeypatch.setattr(Augment, "__call__", lambda self, b, g=None: seen.append(1) or
                        real(self, b, g))
    finished = Trainer(p, device="cpu").fit(max_steps=3)
    assert finished.reason == "max_steps"
    assert len(seen) >= 3  # every training step's batch went through the pipeline
