"""Datasets that need no download: scikit-learn's 8×8 digits, glyph digits, captioned shapes,
and the cache that keeps generated images in the data folder.  Every test passes its own data
folder (``root``), so nothing is written to the user's and nothing needs the network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from runtime.data import DATASETS, load, preview
from runtime.data import cache as cache_mod
from runtime.data import glyphs as glyphs_mod
from runtime.data import shapes as shapes_mod
from runtime.data.shapes import COLOURS, POSITIONS, SHAPES, SIZES, decode_caption

RAW = {"normalize": False}


def _both(splits, key):
    return torch.cat([splits.train[key], splits.val[key]])


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a.keys())


def _balanced(y: torch.Tensor, classes: int = 10, slack: float = 0.25) -> None:
    counts = torch.bincount(y, minlength=classes).float()
    assert (counts > 0).all(), counts
    assert counts.max() <= counts.mean() * (1 + slack), counts


# -- digits8 -----------------------------------------------------------------------------------

def test_digits8_is_the_sklearn_set_scaled_to_unit_range(tmp_path):
    s = load("digits8", RAW, root=tmp_path)
    x, y = _both(s, "x"), _both(s, "y")
    assert len(x) == 1797 and x.shape[1:] == (1, 8, 8) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and s.info.class_names == tuple("0123456789")
    assert 0.0 == x.min() and x.max() == 1.0
    _balanced(y, slack=0.05)
    assert len(s.val) == pytest.approx(0.2 * 1797, abs=10)
    assert not any(tmp_path.iterdir())  # shipped data: nothing cached


def test_digits8_subset_and_seed(tmp_path):
    a = load("digits8", {"n_samples": 300, "seed": 3}, root=tmp_path)
    b = load("digits8", {"n_samples": 300, "seed": 3}, root=tmp_path)
    c = load("digits8", {"n_samples": 300, "seed": 4}, root=tmp_path)
    assert len(a.train) + len(a.val) == 300
    _balanced(_both(a, "y"), slack=0.1)
    assert _same(a.train, b.train) and not torch.equal(a.train["x"], c.train["x"])
    assert a.info.mean is not None  # normalised by default


# -- glyph digits ------------------------------------------------------------------------------

def test_glyph_digits_shapes_balance_and_determinism(tmp_path):
    p = {"n_samples": 200, "seed": 1, **RAW}
    a = load("glyph_digits", p, root=tmp_path / "a")
    b = load("glyph_digits", p, root=tmp_path / "b")  # generated afresh, not read back
    c = load("glyph_digits", {**p, "seed": 2}, root=tmp_path / "a")
    assert _same(a.train, b.train) and _same(a.val, b.val)
    assert not torch.equal(a.train["x"], c.train["x"])
    x, y = _both(a, "x"), _both(a, "y")
    assert x.shape[1:] == (1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [20] * 10  # exactly n/10 of each digit
    assert len(a.val) == pytest.approx(200 / 7, abs=5)  # MNIST's 10,000 of 70,000
    assert 0.0 <= x.min() and x.max() <= 1.0
    # White digits on black, roughly MNIST's ink coverage (about a fifth of the pixels).
    ink = (x > 0.5).float().mean()
    assert x[:, :, 0, :].mean() < 0.1 and 0.05 < ink < 0.35
    assert "mnist" in DATASETS["glyph_digits"].description


def test_glyph_domains_are_the_same_digits_transformed():
    plain, y = glyphs_mod.glyph_digits(40, 5, "plain")
    inverted, y2 = glyphs_mod.glyph_digits(40, 5, "inverted")
    rotated, y3 = glyphs_mod.glyph_digits(40, 5, "rotated")
    assert (y == y2).all() and (y == y3).all() and plain.dtype == np.uint8
    assert np.abs(255 - plain.astype(int) - inverted).max() <= 1
    assert (np.rot90(plain, 1, (2, 3)) == rotated).all()
    with pytest.raises(ValueError, match="domain"):
        glyphs_mod.glyph_digits(10, 0, "upside")


def test_glyph_fonts_come_from_matplotlib():
    fonts = glyphs_mod.font_files()
    assert len(fonts) >= 10 and all(f.suffix == ".ttf" for f in fonts)
    assert glyphs_mod.glyph_templates().shape[1:3] == (len(fonts), 10)


# -- shapes ------------------------------------------------------------------------------------

def test_shapes_fields_balance_and_determinism(tmp_path):
    p = {"n_samples": 200, "seed": 0, **RAW}
    a = load("shapes", p, root=tmp_path / "a")
    b = load("shapes", p, root=tmp_path / "b")
    c = load("shapes", {**p, "seed": 1}, root=tmp_path / "a")
    assert _same(a.train, b.train) and not torch.equal(a.train["x"], c.train["x"])
    info = a.info
    assert info.task == "classification" and info.class_names == SHAPES and len(SHAPES) == 10
    assert set(a.train.keys()) == {"x", "y", "shape", "colour", "size_label", "position",
                                   "caption"}
    x = _both(a, "x")
    assert x.shape[1:] == (3, 32, 32) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    for key in ("y", "shape", "colour", "size_label", "position", "caption"):
        assert a.train[key].dtype == torch.int64 and info.fields[key].kind in ("label", "tokens")
    y = _both(a, "y")
    assert torch.bincount(y).tolist() == [20] * 10 and torch.equal(y, _both(a, "shape"))
    _balanced(_both(a, "colour"), len(COLOURS), slack=0.8)
    assert set(_both(a, "size_label").tolist()) == {0, 1}
    assert set(_both(a, "position").tolist()) == set(range(9))
    assert len(a.val) == pytest.approx(200 / 6, abs=5)
    assert preview(a, 4).data.shape == (4, 32, 32, 3)


def test_captions_name_the_labelled_object(tmp_path):
    s = load("shapes", {"n_samples": 60, "seed": 2}, root=tmp_path)
    info, part = s.info, s.train
    assert info.extra["pad"] == 0 and info.extra["bos"] == 1 and info.extra["eos"] == 2
    assert info.vocab[:3] == ("<pad>", "<bos>", "<eos>")
    caption = part["caption"]
    assert caption.shape[1] == 10 and (caption[:, 0] == 1).all()
    for i in range(len(part)):
        words = decode_caption(caption[i], info.vocab)
        shape, colour = SHAPES[part["shape"][i]], list(COLOURS)[part["colour"][i]]
        size, where = SIZES[part["size_label"][i]], POSITIONS[part["position"][i]]
        place = "in the centre" if where == "centre" else f"at the {where}"
        assert words == f"a {size} {colour} {shape} {place}"
        assert 2 in caption[i].tolist()  # <eos>


def test_two_objects_add_a_count_and_and(tmp_path):
    s = load("shapes", {"n_samples": 80, "max_objects": 2, "size": "64"}, root=tmp_path)
    part = s.train
    assert part["x"].shape[1:] == (3, 64, 64) and part["caption"].shape[1] == 19
    count = part["count"]
    assert set(count.tolist()) == {1, 2}
    for i in range(len(part)):
        words = decode_caption(part["caption"][i], s.info.vocab)
        assert (" and a " in words) == (int(count[i]) == 2)
        assert words.startswith(f"a {SIZES[part['size_label'][i]]} "
                                f"{list(COLOURS)[part['colour'][i]]} {SHAPES[part['y'][i]]}")


@pytest.mark.parametrize("pair,channels", [("outline_to_filled", 3), ("grey_to_colour", 1),
                                           ("mask_to_image", 1)])
def test_paired_variants_add_a_target(tmp_path, pair, channels):
    s = load("shapes", {"n_samples": 30, "variant": "paired", "pair": pair, **RAW},
             root=tmp_path)
    x, target = s.train["x"], s.train["target"]
    assert s.info.task == "generative" and s.info.fields["target"].kind == "image"
    assert x.shape[1:] == (channels, 32, 32) and target.shape[1:] == (3, 32, 32)
    if pair == "grey_to_colour":
        grey = (target * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, True)
        assert (grey - x).abs().max() <= 2 / 255
    elif pair == "mask_to_image":
        assert x.min() == 0 and x.max() > 0.95 and (x > 0.5).float().mean() < 0.3
    else:
        assert not torch.equal(x, target)


def test_night_is_the_same_scenes_darker(tmp_path):
    day = shapes_mod.shapes(50, 4, 32, domain="day")
    night = shapes_mod.shapes(50, 4, 32, domain="night")
    assert all((day[k] == night[k]).all() for k in day if k != "x")
    assert night["x"].mean() < 0.6 * day["x"].mean()
    # Blue survives the night best.
    assert night["x"][:, 2].mean() > night["x"][:, 0].mean()
    # The same geometry, also past the first batch of 81 images of 227×227.
    day, night = (shapes_mod.shapes(90, 4, 227, pair="mask_to_image", domain=d)
                  for d in ("day", "night"))
    assert (day["x"] == night["x"]).all()


def test_a_set_too_big_for_memory_is_refused_with_the_numbers(tmp_path):
    with pytest.raises(ValueError, match=r"n_samples=100,000 at size 227 would take .* GB"):
        load("shapes", {"size": "227", "n_samples": 100_000}, root=tmp_path)


# -- the cache ---------------------------------------------------------------------------------

def _files(root):
    return sorted((root / cache_mod.FOLDER).glob("*.npz"))


def test_the_cache_is_read_back_and_a_bad_file_is_remade(tmp_path, monkeypatch):
    p = {"n_samples": 50, "seed": 7}
    first = load("glyph_digits", p, root=tmp_path)
    [path] = _files(tmp_path)
    assert path.name.startswith("glyph_digits-")
    with np.load(path, allow_pickle=False) as f:
        assert f["x"].dtype == np.uint8 and f["x"].shape == (50, 1, 28, 28)

    made = []
    real = glyphs_mod.glyph_digits
    monkeypatch.setattr(glyphs_mod, "glyph_digits", lambda *a: made.append(a) or real(*a))
    again = load("glyph_digits", p, root=tmp_path)
    assert made == [] and _same(first.train, again.train) and _same(first.val, again.val)

    for bad in (b"not a zip at all", path.read_bytes()[:200]):
        path.write_bytes(bad)
        remade = load("glyph_digits", p, root=tmp_path)
        assert _same(first.train, remade.train)
    assert len(made) == 2 and _files(tmp_path) == [path]
    assert not list((tmp_path / cache_mod.FOLDER).glob("*.tmp"))  # no temporary left over
    load("glyph_digits", {**p, "seed": 8}, root=tmp_path)
    assert len(_files(tmp_path)) == 2  # other params, another file


def test_a_cache_of_the_wrong_length_is_not_trusted(tmp_path):
    arrays = {"x": np.zeros((3, 2), np.uint8)}
    assert cache_mod.cached(tmp_path, "t", 1, {"a": 1}, 3, lambda: arrays) is arrays
    other = {"x": np.ones((4, 2), np.uint8)}
    assert cache_mod.cached(tmp_path, "t", 1, {"a": 1}, 4, lambda: other) is other
    assert cache_mod.cache_path(tmp_path, "t", 1, {"a": 1}) != \
        cache_mod.cache_path(tmp_path, "t", 2, {"a": 1})


def test_an_unwritable_data_folder_only_costs_the_speed_up(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    arrays = {"x": np.zeros((2, 1), np.uint8)}
    assert cache_mod.cached(blocker, "t", 1, {}, 2, lambda: arrays) is arrays
