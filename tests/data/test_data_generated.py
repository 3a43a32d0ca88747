"""Every generated dataset: deterministic under its seed, with the documented fields, and
actually the task it claims to be."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from builder.blocks.spec import ParamError
from runtime.data import DATASETS, load
from runtime.data.text import decode
from runtime.data.trees import tree_text

SMALL = {"n_samples": 200}
# name -> (params, {field: (shape, kind, dtype)}, task)
EXPECTED = {
    "moons": (SMALL, {"x": ((2,), "vector", "float32"), "y": ((), "label", "int64")},
              "classification"),
    "circles": (SMALL, {"x": ((2,), "vector", "float32"), "y": ((), "label", "int64")},
                "classification"),
    "spirals": ({**SMALL, "arms": 3}, {"x": ((2,), "vector", "float32"),
                                       "y": ((), "label", "int64")}, "classification"),
    "xor": (SMALL, {"x": ((2,), "vector", "float32"), "y": ((), "label", "int64")},
            "classification"),
    "blobs": (SMALL, {"x": ((2,), "vector", "float32"), "y": ((), "label", "int64")},
              "classification"),
    "ring": (SMALL, {"x": ((2,), "vector", "float32")}, "generative"),
    "curve": (SMALL, {"x": ((1,), "vector", "float32"), "y": ((1,), "target", "float32")},
              "regression"),
    "timeseries": ({**SMALL, "window": 16, "horizon": 3},
                   {"x": ((16, 1), "sequence", "float32"), "y": ((3,), "target", "float32")},
                   "regression"),
    "copy": ({**SMALL, "length": 6}, {"x": ((6,), "tokens", "int64"),
                                      "y": ((6,), "tokens", "int64")}, "sequence"),
    "reverse": ({**SMALL, "length": 6, "min_length": 3},
                {"x": ((6,), "tokens", "int64"), "y": ((6,), "tokens", "int64")}, "sequence"),
    "sort": ({**SMALL, "length": 6, "min_length": 2},
             {"x": ((6,), "tokens", "int64"), "y": ((6,), "tokens", "int64")}, "sequence"),
    "addition": ({**SMALL, "digits": 4}, {"x": ((9,), "tokens", "int64"),
                                          "y": ((5,), "tokens", "int64")}, "sequence"),
    "expressions": ({**SMALL, "max_depth": 3},
                    {"tokens": ((15,), "tokens", "int64"), "left": ((15,), "index", "int64"),
                     "right": ((15,), "index", "int64"), "root": ((), "index", "int64"),
                     "node_values": ((15,), "target", "float32"),
                     "y": ((1,), "target", "float32")}, "regression"),
    "text": ({"seq_len": 32}, {"x": ((32,), "tokens", "int64"), "y": ((32,), "tokens", "int64")},
             "language"),
    "progression": (SMALL, {"x": ((2,), "tokens", "int64"), "y": ((8,), "tokens", "int64")},
                    "sequence"),
    "majority": (SMALL, {"x": ((16,), "tokens", "int64"), "y": ((), "label", "int64")},
                 "classification"),
    "tagging": (SMALL, {"x": ((12,), "tokens", "int64"), "y": ((12,), "tokens", "int64")},
                "sequence"),
    "remember_first": (SMALL, {"x": ((50,), "tokens", "int64"), "y": ((), "label", "int64")},
                       "classification"),
}


# Offline image sets, covered by tests/data/test_data_offline.py (the generated ones cache to
# the data folder, so each test there passes a folder of its own).
OFFLINE_IMAGES = {"digits8", "glyph_digits", "shapes"}
# Word corpora have no n_samples (their size is the text's): tests/data/test_word_corpora.py.
WORD_CORPORA = {"analogies", "words"}


def test_every_generated_dataset_is_covered():
    offline = {n for n, s in DATASETS.items() if s.kind in ("generated", "bundled")}
    assert offline == set(EXPECTED) | OFFLINE_IMAGES | WORD_CORPORA


def _same(a, b) -> bool:
    return all(torch.equal(a.train[k], b.train[k]) and torch.equal(a.val[k], b.val[k])
               for k in a.train.keys())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shapes_and_determinism(name):
    params, fields, task = EXPECTED[name]
    a = load(name, {**params, "seed": 3} if name != "text" else params)
    b = load(name, {**params, "seed": 3} if name != "text" else params)
    assert _same(a, b)
    assert a.info.task == task
    assert {k: (f.shape, f.kind, f.dtype) for k, f in a.info.fields.items()} == fields
    for part in (a.train, a.val):
        assert len(part) > 0
        for k, (shape, _, dtype) in fields.items():
            assert tuple(part[k].shape[1:]) == shape and str(part[k].dtype) == f"torch.{dtype}"
    if name != "text":
        assert len(a.train) + len(a.val) == params["n_samples"]
        assert not _same(a, load(name, {**params, "seed": 4}))


def test_classification_toys_have_balanced_stratified_splits():
    s = load("spirals", {"n_samples": 300, "arms": 3, "val_fraction": 0.2})
    assert s.info.num_classes == 3 and len(s.info.class_names) == 3
    assert np.bincount(s.val["y"].numpy()).tolist() == [20, 20, 20]


def test_ring_points_sit_on_eight_modes():
    x = load("ring", {"n_samples": 800, "noise": 0.01, "radius": 2.0}).train["x"].numpy()
    assert np.allclose(np.linalg.norm(x, axis=1), 2.0, atol=0.06)
    angles = np.round(np.arctan2(x[:, 1], x[:, 0]) / (2 * np.pi / 8)) % 8
    assert len(np.unique(angles)) == 8


def test_curve_without_noise_is_the_function():
    s = load("curve", {"n_samples": 100, "noise": 0.0, "function": "sine"})
    np.testing.assert_allclose(s.train["y"].numpy(), np.sin(s.train["x"].numpy()), atol=1e-6)


def test_timeseries_target_continues_the_window():
    s = load("timeseries", {"n_samples": 50, "noise": 0.0, "window": 40, "horizon": 1})
    x, y = s.train["x"][:, :, 0].double().numpy(), s.train["y"][:, 0].double().numpy()
    # A pure sine obeys s[t+1] = 2cos(w) s[t] - s[t-1]; fit 2cos(w) on the window, predict.
    c = ((x[:, 2:] + x[:, :-2]) * x[:, 1:-1]).sum(1) / (x[:, 1:-1] ** 2).sum(1)
    np.testing.assert_allclose(c * x[:, -1] - x[:, -2], y, atol=1e-4)


def _real(ids):
    return [int(t) for t in ids if int(t) != 0]


def test_symbol_tasks_are_what_they_say():
    for name, rule in [("copy", lambda r: r), ("reverse", lambda r: r[::-1]),
                       ("sort", sorted)]:
        s = load(name, {"n_samples": 100, "length": 7, "min_length": 2, "symbols": 5})
        assert s.info.vocab[:2] == ("<pad>", "<bos>") and len(s.info.vocab) == 7
        for x, y in zip(s.train["x"], s.train["y"], strict=True):
            assert _real(y) == rule(_real(x))
            assert all(2 <= t <= 6 for t in _real(x))


@pytest.mark.parametrize("reverse", [False, True])
def test_addition_sums_are_right(reverse):
    s = load("addition", {"n_samples": 100, "digits": 3, "reverse_digits": reverse})
    for x, y in zip(s.train["x"], s.train["y"], strict=True):
        text, total = decode(x, s.info.vocab), decode(y, s.info.vocab)
        a, b = text.split("+")
        if reverse:
            a, b, total = a[::-1], b[::-1], total[::-1]
        assert int(a) + int(b) == int(total)


def _evaluate(tokens, left, right, i):
    tok = ("<pad>", *"0123456789", "+", "-", "*")[int(tokens[i])]
    if int(left[i]) < 0:
        return int(tok)
    assert left[i] < i and right[i] < i  # post-order: children first
    a = _evaluate(tokens, left, right, int(left[i]))
    b = _evaluate(tokens, left, right, int(right[i]))
    return {"+": a + b, "-": a - b, "*": a * b}[tok]


@pytest.mark.parametrize("target", ["value", "last digit"])
def test_expression_trees_encode_their_values(target):
    s = load("expressions", {"n_samples": 100, "ops": "+ - *", "target": target})
    d = s.train
    for i in range(len(d)):
        v = _evaluate(d["tokens"][i], d["left"][i], d["right"][i], int(d["root"][i]))
        assert int(d["root"][i]) == int((d["tokens"][i] != 0).sum()) - 1
        assert float(d["y"][i].item()) == (v if target == "value" else v % 10)
    text = tree_text(d["tokens"][0], d["left"][0], d["right"][0], int(d["root"][0]))
    assert text[0] in "(0123456789"


def test_text_targets_are_next_characters():
    s = load("text", {"seq_len": 20, "stride": 5, "text": "weaver"})
    x, y = s.train["x"], s.train["y"]
    assert torch.equal(x[:, 1:], y[:, :-1])
    assert torch.equal(x[1, :15], x[0, 5:])  # stride 5
    assert decode(x[0], s.info.vocab).startswith("The Weaver")


def test_text_from_own_file(tmp_path):
    (tmp_path / "t.txt").write_text("abcabcabc" * 50, encoding="utf-8")
    s = load("text", {"path": str(tmp_path / "t.txt"), "seq_len": 8})
    assert s.info.vocab == ("a", "b", "c")
    with pytest.raises(ValueError, match="cannot fill one window"):
        load("text", {"path": str(tmp_path / "t.txt"), "seq_len": 400})


def test_bad_params_are_reported_together():
    with pytest.raises(ParamError) as e:
        load("moons", {"n_samples": 1, "noise": "lots", "colour": 3})
    text = str(e.value)
    assert "n_samples" in text and "noise" in text and "colour" in text
    with pytest.raises(KeyError, match="unknown dataset 'mnistt'"):
        load("mnistt")
    with pytest.raises(ValueError, match="exceeds length"):
        load("copy", {"length": 4, "min_length": 6})
