"""The generated tasks of the recurrent shapes (runtime/data/rnn_tasks.py): fields, shapes,
padding, determinism, and labels recomputed by hand, sample by sample."""

from __future__ import annotations

import pytest
import torch

from runtime.data import DATASETS, load
from runtime.data.rnn_tasks import TAG_RULES, majority, progression, remember_first, tags

SMALL = {"n_samples": 200}


@pytest.mark.parametrize("name, x_shape, y_shape, task", [
    ("progression", (2,), (8,), "sequence"),
    ("majority", (16,), (), "classification"),
    ("tagging", (12,), (12,), "sequence"),
    ("remember_first", (50,), (), "classification"),
])
def test_fields_shapes_and_determinism(name, x_shape, y_shape, task):
    a, b = load(name, SMALL), load(name, SMALL)
    info = a.info
    assert info.task == task and info.extra["pad"] == 0 and info.vocab[0] == "<pad>"
    assert info.fields["x"].shape == x_shape and info.fields["x"].kind == "tokens"
    assert info.fields["y"].shape == y_shape
    assert len(a.train) + len(a.val) == 200
    for part in ("train", "val"):
        for key in ("x", "y"):
            assert torch.equal(getattr(a, part)[key], getattr(b, part)[key])
    assert int(a.train["x"].max()) < len(info.vocab)
    other = load(name, {**SMALL, "seed": 1})
    assert not torch.equal(a.train["x"], other.train["x"])
    assert DATASETS[name].title and DATASETS[name].description


def test_progression_spells_first_plus_i_times_step():
    x, y = progression(300, 8, seed=0)
    digits = [[d - 1 for d in row] for row in y.tolist()]
    for (first, step), row in zip((x - 1).tolist(), digits, strict=True):
        assert row == [(first + i * step) % 10 for i in range(8)]
    vocab = load("progression", SMALL).info.vocab
    assert vocab[1:] == tuple("0123456789")  # digit d is id d + 1
    row = next(i for i, (a, b) in enumerate(x.tolist()) if (a, b) == (4, 5))  # 3, step 4
    assert "".join(vocab[i] for i in y[row]) == "37159371"


def test_majority_has_one_answer_and_pads_at_the_front():
    x, y = majority(500, 16, 8, 4, seed=0)
    for row, label in zip(x.tolist(), y.tolist(), strict=True):
        real = [s for s in row if s != 0]
        assert 8 <= len(real) <= 16 and row[len(row) - len(real):] == real  # pads first
        counts = [real.count(s) for s in range(1, 5)]
        assert counts.count(max(counts)) == 1 and counts.index(max(counts)) == label
    splits = load("majority", SMALL)
    assert splits.info.class_names == ("a", "b", "c", "d") and splits.info.num_classes == 4


def _by_hand(rule: str, digits: list[int]) -> list[int]:
    out = []
    for t, d in enumerate(digits):
        if rule == "seen_before":
            yes = d in digits[:t]
        elif rule == "larger_than_previous":
            yes = t > 0 and d > digits[t - 1]
        else:
            yes = t == len(digits) - 1 or d > digits[t + 1]
        out.append(2 if yes else 1)
    return out


@pytest.mark.parametrize("rule", TAG_RULES)
def test_tags_follow_their_rule_and_padding_lines_up(rule):
    x, y = tags(rule, 300, 12, 4, 10, seed=0)
    for row, tag in zip(x.tolist(), y.tolist(), strict=True):
        n = sum(1 for s in row if s != 0)
        assert 4 <= n <= 12 and all(s == 0 for s in row[n:]) and all(t == 0 for t in tag[n:])
        assert tag[:n] == _by_hand(rule, [s - 3 for s in row[:n]])


def test_a_hand_checked_tagging():
    info = load("tagging", {**SMALL, "rule": "larger_than_next"}).info
    assert info.vocab[:3] == ("<pad>", "-", "+") and info.num_classes == 3
    assert info.extra["rule"] == "larger_than_next"
    # 8 1 5 7 9 1 8 4 0 1 0: larger than the next one? (the last: nothing follows, so yes)
    assert "".join("-+"[t - 1] for t in _by_hand("larger_than_next",
                                                 [8, 1, 5, 7, 9, 1, 8, 4, 0, 1, 0])) \
        == "+---+-++-++"


def test_remember_first_starts_with_its_class_then_only_distractors():
    x, y = remember_first(400, 50, 4, seed=0)
    assert (x[:, 0] == y + 1).all() and x.shape == (400, 50)
    assert (x[:, 1:] > 4).all() and (x[:, 1:] < 15).all()  # digits, never a class symbol
    info = load("remember_first", {**SMALL, "length": 41}).info
    assert info.fields["x"].shape == (41,) and info.vocab[1:5] == ("a", "b", "c", "d")


def test_a_shortest_length_above_the_longest_is_named():
    with pytest.raises(ValueError, match=r"min_length \(20\) exceeds length \(12\)"):
        load("tagging", {**SMALL, "min_length": 20})
