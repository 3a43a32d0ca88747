"""Generated tasks for the shapes of recurrent networks: one-to-many (a progression spelled out
from its first term and step), many-to-one (the majority symbol; the first symbol after a long
stretch of distractors), and many-to-many tagging (a tag per symbol that needs only the past,
or the future too).

They follow the token layout of ``sequences.py``: id 0 is ``<pad>`` (fills sequences shorter
than the maximum; ``info.extra["pad"]``), real symbols follow.  Tagging targets are ids of the
same vocabulary (the tags come first after ``<pad>``, so a tagger needs only
``num_classes`` = 3 outputs: pad, no, yes) and the recipes leave padding out.  Many-to-one
inputs are padded at the *front* (Keras' "pre" padding), so a recurrent layer's last step is
always a real symbol.
"""

from __future__ import annotations

import string

import numpy as np
import torch

from builder.blocks.spec import Param
from runtime.data.core import DataInfo, FieldInfo, TensorData
from runtime.data.registry import SEED, VAL_FRACTION, DatasetSpec, n_samples, register
from runtime.data.sequences import PAD

__all__ = ["TAG_RULES", "TAGS", "progression", "majority", "tags", "remember_first"]

TAG_RULES = ("seen_before", "larger_than_next", "larger_than_previous")
TAGS = ("-", "+")  # no, yes: ids 1 and 2 of a tagging vocabulary
DIGITS = tuple(string.digits)


def _lengths(rng, n: int, length: int, min_length: int) -> np.ndarray:
    if min_length > length:
        raise ValueError(f"min_length ({min_length}) exceeds length ({length})")
    return rng.integers(min_length or length, length + 1, n)


def progression(n: int, length: int, seed: int):
    """x [n, 2]: a first digit and a step; y [n, length]: first + i·step (mod 10), i = 0...

    Digit d is id d + 1 (after ``<pad>``).  There are only 100 different inputs: the point is
    the shape (one vector in, a whole sequence out), not generalisation.
    """
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 10, (n, 2))
    y = (x[:, :1] + np.arange(length)[None, :] * x[:, 1:]) % 10
    return x + 1, y + 1


def majority(n: int, length: int, min_length: int, symbols: int, seed: int):
    """x [n, length]: symbols (ids 1..symbols) padded at the front; y [n]: the class (0-based)
    of the symbol that occurs most.  Ties are broken by turning one other symbol into the
    first of the tied ones, so every sequence has exactly one answer."""
    rng = np.random.default_rng(seed)
    lengths = _lengths(rng, n, length, min_length)
    x = rng.integers(0, symbols, (n, length))
    real = np.arange(length)[None, :] >= (length - lengths)[:, None]
    counts = np.stack([((x == s) & real).sum(1) for s in range(symbols)], 1)
    y = counts.argmax(1)
    tied = (counts == counts.max(1, keepdims=True)).sum(1) > 1
    for i in np.flatnonzero(tied):
        others = np.flatnonzero(real[i] & (x[i] != y[i]))
        x[i, rng.choice(others)] = y[i]
    return np.where(real, x + 1, PAD), y


def tags(rule: str, n: int, length: int, min_length: int, symbols: int, seed: int):
    """x [n, length]: digits 0..symbols-1 (ids 3...) padded at the end; y: a tag per real
    symbol, ``+`` (id 2) or ``-`` (id 1), ``<pad>`` under the padding.

    seen_before: the digit occurred earlier (needs the past); larger_than_previous: larger
    than the digit before it (the first digit: no); larger_than_next: larger than the digit
    after it (needs the future; the last digit: yes, nothing follows it).
    """
    if rule not in TAG_RULES:
        raise ValueError(f"unknown tagging rule {rule!r}; choose one of {', '.join(TAG_RULES)}")
    rng = np.random.default_rng(seed)
    lengths = _lengths(rng, n, length, min_length)
    d = rng.integers(0, symbols, (n, length))
    real = np.arange(length)[None, :] < lengths[:, None]
    if rule == "seen_before":
        earlier = np.tril(np.ones((length, length), bool), -1)  # [t, s]: s < t
        yes = ((d[:, :, None] == d[:, None, :]) & earlier[None]).any(2)
    elif rule == "larger_than_previous":
        yes = np.zeros_like(real)
        yes[:, 1:] = d[:, 1:] > d[:, :-1]
    else:
        last = np.arange(length)[None, :] == (lengths - 1)[:, None]
        yes = np.ones_like(real)
        yes[:, :-1] = d[:, :-1] > d[:, 1:]
        yes = yes | last
    x = np.where(real, d + 1 + len(TAGS), PAD)
    y = np.where(real, np.where(yes, 2, 1), PAD)
    return x, y


def remember_first(n: int, length: int, classes: int, seed: int):
    """x [n, length]: a class symbol (ids 1..classes), then length-1 random digits that carry
    no information; y [n]: the class of that first symbol, which only a memory that lasts
    ``length`` steps can still tell at the end."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    noise = rng.integers(0, 10, (n, length - 1)) + 1 + classes
    return np.concatenate([y[:, None] + 1, noise], 1), y


# --- datasets --------------------------------------------------------------------------------


def _ids(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))


def _data(name: str, task: str, x: np.ndarray, y: np.ndarray, vocab: tuple[str, ...],
          y_field: FieldInfo, **info) -> tuple[TensorData, DataInfo]:
    fields = {"x": FieldInfo(tuple(x.shape[1:]), "tokens", "int64", "input symbols"),
              "y": y_field}
    return (TensorData({"x": _ids(x), "y": _ids(y)}),
            DataInfo(name, task, fields, vocab=vocab, source="generated",
                     extra={"pad": PAD}, **info))


def _progression_build(p, ctx):
    x, y = progression(p["n_samples"], p["length"], p["seed"])
    return _data("progression", "sequence", x, y, ("<pad>",) + DIGITS,
                 FieldInfo((p["length"],), "tokens", "int64", "the digits of the progression"))


def _majority_build(p, ctx):
    x, y = majority(p["n_samples"], p["length"], p["min_length"], p["symbols"], p["seed"])
    names = tuple(string.ascii_lowercase[: p["symbols"]])
    return _data("majority", "classification", x, y, ("<pad>",) + names,
                 FieldInfo((), "label", "int64", "the symbol that occurs most"),
                 num_classes=p["symbols"], class_names=names)


def _tagging_build(p, ctx):
    x, y = tags(p["rule"], p["n_samples"], p["length"], p["min_length"], p["symbols"],
                p["seed"])
    data, info = _data("tagging", "sequence", x, y, ("<pad>",) + TAGS + DIGITS[: p["symbols"]],
                       FieldInfo((p["length"],), "tokens", "int64", "a tag per symbol"),
                       num_classes=1 + len(TAGS))
    return data, info.with_(extra={**info.extra, "rule": p["rule"], "tags": TAGS})


def _remember_build(p, ctx):
    x, y = remember_first(p["n_samples"], p["length"], p["classes"], p["seed"])
    names = tuple(string.ascii_lowercase[: p["classes"]])
    return _data("remember_first", "classification", x, y, ("<pad>",) + names + DIGITS,
                 FieldInfo((), "label", "int64", "the first symbol"),
                 num_classes=p["classes"], class_names=names)


def _length(default: int, help: str) -> Param:
    return Param("length", "int", default, min=2, max=1024, help=help)


def _min_length(default: int) -> Param:
    return Param("min_length", "int", default, min=0, max=1024,
                 help="Shortest length (0: every sequence has the full length); shorter "
                 "sequences are padded with <pad>.")


register(
    DatasetSpec(
        "progression", "Spell a progression (one-to-many)",
        "From one input, a first digit and a step, output the whole sequence first, "
        "first+step, first+2·step... (mod 10): one vector in, a sequence out.",
        "generated", "Sequences", "sequence",
        (n_samples(4000, 500_000), _length(8, "Digits to output."), SEED, VAL_FRACTION),
        _progression_build,
    ),
    DatasetSpec(
        "majority", "Majority symbol (many-to-one)",
        "Which symbol occurs most in the sequence? One class per sequence; shorter "
        "sequences are padded at the front, so the last step is always a real symbol.",
        "generated", "Sequences", "classification",
        (n_samples(6000, 500_000), _length(16, "Longest sequence length."), _min_length(8),
         Param("symbols", "int", 4, min=2, max=26, help="How many different symbols "
               "(a, b, c...): the classes."),
         SEED, VAL_FRACTION),
        _majority_build,
    ),
    DatasetSpec(
        "tagging", "Tag every symbol (many-to-many)",
        "A tag (+ or -) for every digit of the sequence: 'seen before' and 'larger than the "
        "previous' need only the past, 'larger than the next' needs the future (a "
        "bidirectional layer).",
        "generated", "Sequences", "sequence",
        (n_samples(6000, 500_000), _length(12, "Longest sequence length."), _min_length(4),
         Param("symbols", "int", 10, min=2, max=10, help="How many different digits (0, 1, "
               "2...)."),
         Param("rule", "choice", "seen_before", choices=TAG_RULES,
               help="What the tag says of each digit: it occurred earlier, it is larger than "
               "the next digit, or larger than the previous one."),
         SEED, VAL_FRACTION),
        _tagging_build,
    ),
    DatasetSpec(
        "remember_first", "Remember the first symbol (long memory)",
        "A class symbol, then a long run of random digits: name the first symbol at the end. "
        "A plain RNN mostly loses it over 40+ steps; LSTM and GRU keep it.",
        "generated", "Sequences", "classification",
        (n_samples(6000, 500_000),
         _length(50, "Sequence length: the class symbol, then length-1 distractor digits."),
         Param("classes", "int", 4, min=2, max=26, help="How many class symbols (a, b, c...)."),
         SEED, VAL_FRACTION),
        _remember_build,
    ),
)
