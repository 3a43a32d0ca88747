"""Batching, splitting, normalisation, augmentation, previews and the catalogue itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from builder.blocks.spec import Param
from runtime.data import (
    DATASETS,
    FIELD_KINDS,
    TASKS,
    Augment,
    DataInfo,
    FieldInfo,
    Splits,
    TensorData,
    colour_jitter,
    load,
    make_loader,
    normalise,
    preview,
    random_crop,
    random_flip,
    split_indices,
)


def _data(n=103):
    return TensorData({"x": torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 3),
                       "y": torch.arange(n) % 4})


@pytest.mark.parametrize("drop_last", [False, True])
def test_batches_cover_every_sample_once_per_epoch(drop_last):
    d = _data()
    gen = torch.Generator().manual_seed(1)
    for _ in range(2):
        batches = list(d.batches(10, shuffle=True, generator=gen, drop_last=drop_last))
        ids = torch.cat([b["x"][:, 0] for b in batches]).long()
        assert len(batches) == d.num_batches(10, drop_last)
        assert all(torch.equal(b["y"], b["x"][:, 0].long() % 4) for b in batches)  # rows kept
        if drop_last:
            assert len(ids) == 100 and len(set(ids.tolist())) == 100
        else:
            assert sorted(ids.tolist()) == list(range(103))


def test_batches_are_reproducible_and_ordered_without_shuffle():
    d = _data()
    a = [b["x"] for b in d.batches(16, generator=torch.Generator().manual_seed(5))]
    b = [b["x"] for b in d.batches(16, generator=torch.Generator().manual_seed(5))]
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    plain = torch.cat([b["x"][:, 0] for b in d.batches(16, shuffle=False)])
    assert torch.equal(plain, torch.arange(103, dtype=torch.float32))
    with pytest.raises(ValueError, match="batch_size"):
        next(d.batches(0))


def test_tensor_data_checks_lengths_and_moves():
    with pytest.raises(ValueError, match="same number of samples"):
        TensorData({"x": torch.zeros(3, 2), "y": torch.zeros(4)})
    d = _data().to("cpu")
    assert d.device.type == "cpu" and len(d.subset(torch.tensor([0, 5]))) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_batches_on_the_gpu():
    s = load("moons", {"n_samples": 500}).to("cuda")
    gen = torch.Generator(device="cuda").manual_seed(0)
    batches = list(s.batches("train", 64, generator=gen, device="cuda"))
    assert all(b["x"].is_cuda for b in batches)
    assert sum(len(b["y"]) for b in batches) == 400
    cpu_gen = torch.Generator().manual_seed(0)  # a CPU generator still works with GPU data
    assert sum(len(b["y"]) for b in s.train.batches(64, generator=cpu_gen)) == 400
    img = torch.rand(8, 3, 16, 16, device="cuda")
    assert Augment(jitter=0.3)({"x": img}, gen)["x"].is_cuda


def test_split_is_stratified_and_seeded():
    labels = np.array([0] * 80 + [1] * 20)
    tr, va = split_indices(100, 0.25, seed=7, labels=labels)
    assert len(va) == 25 and np.bincount(labels[va]).tolist() == [20, 5]
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 100
    tr2, va2 = split_indices(100, 0.25, seed=7, labels=labels)
    assert np.array_equal(va, va2) and not np.array_equal(va, split_indices(100, 0.25, 8)[1])
    with pytest.raises(ValueError, match="val_fraction"):
        split_indices(10, 1.0, 0)


def test_normalise_uses_training_statistics():
    x = torch.randn(200, 3, 4, 4) * torch.tensor([1.0, 2.0, 0.0]).view(1, 3, 1, 1) + 5
    train = TensorData({"x": x[:150]})
    val = TensorData({"x": x[150:]})
    info = DataInfo("t", "generative", {"x": FieldInfo((3, 4, 4), "image", "float32")})
    tr, va, info = normalise(train, val, info)
    m = tr["x"].mean(dim=(0, 2, 3))
    assert torch.allclose(m, torch.zeros(3), atol=1e-5)
    assert torch.allclose(tr["x"].std(dim=(0, 2, 3), correction=0)[:2], torch.ones(2), atol=1e-4)
    assert info.std[2] == 1.0  # the constant channel is not divided by zero
    assert len(info.mean) == 3 and torch.isfinite(va["x"]).all()


def _images(b=16, c=3, s=12, seed=0):
    return torch.rand(b, c, s, s, generator=torch.Generator().manual_seed(seed))


def test_flip_mirrors_some_images_and_keeps_the_rest():
    x = _images()
    out = random_flip(x, torch.Generator().manual_seed(0))
    same = [torch.equal(o, i) for o, i in zip(out, x, strict=True)]
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x, strict=True)]
    assert all(s or m for s, m in zip(same, mirrored, strict=True))
    assert any(same) and any(mirrored)


def test_crop_takes_windows_of_the_padded_image():
    x = _images(b=8)
    out = random_crop(x, 3, torch.Generator().manual_seed(2))
    assert out.shape == x.shape and not torch.equal(out, x)
    padded = torch.nn.functional.pad(x, (3, 3, 3, 3))
    for o, p in zip(out, padded, strict=True):
        assert any(torch.equal(o, p[:, r:r + 12, c:c + 12]) for r in range(7) for c in range(7))


def test_jitter_and_full_augment_keep_shapes_and_change_values():
    x = _images()
    j = colour_jitter(x, 0.4, torch.Generator().manual_seed(0))
    assert j.shape == x.shape and not torch.allclose(j, x) and j.min() >= 0 and j.max() <= 1
    aug = Augment(padding=2, flip=True, jitter=0.3, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))
    batch = {"x": (x - 0.5) / 0.2, "y": torch.arange(16)}
    out = aug(batch, torch.Generator().manual_seed(0))
    assert out["x"].shape == x.shape and torch.equal(out["y"], batch["y"])
    assert not torch.allclose(out["x"], batch["x"])
    again = aug(batch, torch.Generator().manual_seed(0))
    assert torch.equal(out["x"], again["x"])
    grey = colour_jitter(_images(c=1), 0.5, torch.Generator().manual_seed(0))
    assert grey.shape == (16, 1, 12, 12)


ALL_OPS = [{"op": "flip", "p": 1.0}, {"op": "rotate", "degrees": 30.0},
           {"op": "crop", "padding": 4}, {"op": "jitter", "brightness": 0.5},
           {"op": "blur"}, {"op": "erase", "p": 1.0}, {"op": "noise", "std": 0.2}]


@pytest.mark.parametrize("augment", [lambda: Augment(padding=4, jitter=0.5),
                                     lambda: Augment.from_ops(ALL_OPS)],
                         ids=["old params", "every op of the list"])
def test_only_training_batches_are_augmented(augment):
    x = _images(b=10)
    info = DataInfo("t", "classification", {"x": FieldInfo((3, 12, 12), "image", "float32"),
                                            "y": FieldInfo((), "label", "int64")},
                    num_classes=2)
    d = TensorData({"x": x, "y": torch.arange(10) % 2})
    s = Splits(d, d, info, augment=augment())
    val = torch.cat([b["x"] for b in s.batches("val", 4)])
    assert torch.equal(val, x)
    train = torch.cat([b["x"] for b in s.batches("train", 10, shuffle=False)])
    assert train.shape == x.shape and not torch.equal(train, x)
    plain = torch.cat([b["x"] for b in s.batches("train", 10, shuffle=False, augment=False)])
    assert torch.equal(plain, x)


def test_make_loader_is_seeded():
    ds = [{"x": torch.tensor([i])} for i in range(20)]
    a = [b["x"].flatten().tolist() for b in make_loader(ds, 5, seed=3, num_workers=0)]
    b = [b["x"].flatten().tolist() for b in make_loader(ds, 5, seed=3, num_workers=0)]
    assert a == b and sorted(sum(a, [])) == list(range(20))


@pytest.mark.parametrize(("name", "params", "kind"), [
    ("moons", {"n_samples": 100}, "points"),
    ("ring", {"n_samples": 100}, "points"),
    ("curve", {"n_samples": 100}, "curve"),
    ("timeseries", {"n_samples": 100, "horizon": 2}, "series"),
    ("addition", {"n_samples": 100}, "text"),
    ("text", {}, "text"),
    ("expressions", {"n_samples": 100}, "text"),
])
def test_preview_kinds(name, params, kind):
    p = preview(load(name, params), n=5)
    assert p.kind == kind and len(p.data) == 5
    if name == "moons":
        assert p.labels.shape == (5,) and p.class_names == ("class 0", "class 1")
    if name == "addition":
        assert "+" in p.data[0] and "→" in p.data[0]
    if name == "expressions":
        assert "=" in p.data[0]
    if name == "timeseries":
        assert p.data.shape == (5, 32) and p.targets.shape == (5, 2)
    if name == "curve":
        assert np.all(np.diff(p.data[:, 0]) >= 0)


def test_preview_undoes_normalisation(tmp_path):
    rows = "a,b,c\n" + "\n".join(f"{i},{100 + i},{i % 2}" for i in range(40))
    (tmp_path / "t.csv").write_text(rows)
    s = load("csv", {"path": str(tmp_path / "t.csv")})
    p = preview(s, 40, part="train")
    assert p.kind == "points" and p.data[:, 1].min() >= 100 - 1e-3


def test_catalogue_specs_are_complete():
    for name, spec in DATASETS.items():
        assert spec.name == name and spec.title and spec.description and spec.category
        assert spec.task in (*TASKS, "auto")
        assert all(isinstance(p, Param) for p in spec.params)
        assert spec.coerce(None) == spec.defaults()  # every default passes its own check
        for param, what in spec.paths:
            assert spec.param(param).kind == "str" and what
    assert {"mnist", "fashion_mnist", "kmnist", "cifar10", "csv", "npz", "image_folder"} \
        <= set(DATASETS)
    with pytest.raises(ValueError, match="field kind"):
        FieldInfo((1,), "picture", "float32")
    assert "index" in FIELD_KINDS
