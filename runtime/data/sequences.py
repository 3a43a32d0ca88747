"""Generated sequence data: time-series windows to forecast, and token-sequence tasks for
encoder-decoder models (copy, reverse, sort, add two numbers).

Token tasks share one vocabulary layout: id 0 is ``<pad>`` (fills sequences shorter than the
maximum), id 1 is ``<bos>`` (the start token a decoder is fed first), real symbols follow.
``info.extra`` records ``pad`` and ``bos``.
"""

from __future__ import annotations

import string

import numpy as np
import torch

from builder.blocks.spec import Param
from runtime.data.core import DataInfo, FieldInfo, TensorData
from runtime.data.registry import SEED, VAL_FRACTION, DatasetSpec, n_samples, noise, register

__all__ = ["PAD", "BOS", "sine_windows", "symbol_task", "addition", "SYMBOL_TASKS"]

PAD, BOS = 0, 1
_SPECIALS = ("<pad>", "<bos>")
SYMBOL_TASKS = ("copy", "reverse", "sort")


def sine_windows(n: int, window: int, horizon: int, waves: int, noise: float, seed: int):
    """x [n, window, 1]: a sum of ``waves`` random sines; y [n, horizon]: what comes next.

    Every sample has its own frequencies, amplitudes and phases, so the model must read
    them off the window (and no validation window overlaps a training one).
    """
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.02, 0.15, (n, waves, 1))  # cycles per step
    amp = rng.uniform(0.3, 1.0, (n, waves, 1)) / waves
    phase = rng.uniform(0.0, 2 * np.pi, (n, waves, 1))
    t = np.arange(window + horizon)[None, None, :]
    series = (amp * np.sin(2 * np.pi * freq * t + phase)).sum(1)
    if noise > 0:
        series = series + rng.normal(0.0, noise, series.shape)
    return series[:, :window, None], series[:, window:]


def symbol_task(task: str, n: int, length: int, min_length: int, symbols: int, seed: int):
    """Random symbol strings (ids 2..symbols+1) and their copy / reversal / sorted form."""
    rng = np.random.default_rng(seed)
    x = rng.integers(2, symbols + 2, (n, length))
    lengths = rng.integers(min_length, length + 1, n)
    real = np.arange(length)[None, :] < lengths[:, None]
    x = np.where(real, x, PAD)
    if task == "copy":
        y = x.copy()
    elif task == "reverse":
        # Reverse only the real tokens: position i takes token len-1-i, padding stays put.
        src = np.clip(lengths[:, None] - 1 - np.arange(length)[None, :], 0, None)
        y = np.where(real, np.take_along_axis(x, src, 1), PAD)
    else:
        # Padding sorts last by giving it a key above every symbol.
        y = np.sort(np.where(real, x, symbols + 2), axis=1)
        y = np.where(y == symbols + 2, PAD, y)
    return x, y


def _digits(v: np.ndarray, width: int) -> np.ndarray:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (v[:, None] // powers) % 10


def addition(n: int, digits: int, seed: int, reverse_digits: bool):
    """x = "a+b" with zero-padded ``digits``-digit numbers, y = a+b in ``digits+1`` digits.

    Tokens: 2..11 are the digits 0..9, 12 is "+".  With ``reverse_digits`` every number is
    written least significant digit first, the order in which carries travel.
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 10**digits, n, dtype=np.int64)
    b = rng.integers(0, 10**digits, n, dtype=np.int64)
    da, db, ds = _digits(a, digits), _digits(b, digits), _digits(a + b, digits + 1)
    if reverse_digits:
        da, db, ds = da[:, ::-1], db[:, ::-1], ds[:, ::-1]
    plus = np.full((n, 1), 12)
    return np.concatenate([da + 2, plus, db + 2], 1), ds + 2


def _tokens(name: str, x: np.ndarray, y: np.ndarray, vocab: tuple[str, ...], extra: dict):
    data = TensorData({"x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64)),
                       "y": torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))})
    info = DataInfo(name, "sequence",
                    {"x": FieldInfo((x.shape[1],), "tokens", "int64", "source tokens"),
                     "y": FieldInfo((y.shape[1],), "tokens", "int64", "target tokens")},
                    vocab=vocab, source="generated", extra={"pad": PAD, "bos": BOS, **extra})
    return data, info


def _symbols_builder(task: str):
    def build(p, ctx):
        shortest = p["min_length"] or p["length"]
        if shortest > p["length"]:
            raise ValueError(f"min_length ({shortest}) exceeds length ({p['length']})")
        x, y = symbol_task(task, p["n_samples"], p["length"], shortest, p["symbols"], p["seed"])
        vocab = _SPECIALS + tuple(string.ascii_lowercase[: p["symbols"]])
        return _tokens(task, x, y, vocab, {})

    return build


def _addition_build(p, ctx):
    x, y = addition(p["n_samples"], p["digits"], p["seed"], p["reverse_digits"])
    vocab = _SPECIALS + tuple(string.digits) + ("+",)
    return _tokens("addition", x, y, vocab, {"reverse_digits": p["reverse_digits"]})


def _series_build(p, ctx):
    x, y = sine_windows(p["n_samples"], p["window"], p["horizon"], p["waves"], p["noise"],
                        p["seed"])
    data = TensorData({"x": torch.from_numpy(x.astype(np.float32)),
                       "y": torch.from_numpy(y.astype(np.float32))})
    info = DataInfo("timeseries", "regression",
                    {"x": FieldInfo((p["window"], 1), "sequence", "float32", "past values"),
                     "y": FieldInfo((p["horizon"],), "target", "float32", "next values")},
                    source="generated")
    return data, info


_SYMBOL_PARAMS = (
    n_samples(5000, 500_000),
    Param("length", "int", 8, min=2, max=128, help="Longest sequence length."),
    Param("min_length", "int", 0, min=0, max=128,
          help="Shortest length (0: every sequence has the full length); shorter sequences "
          "are padded with <pad>."),
    Param("symbols", "int", 10, min=2, max=26, help="How many different symbols (a, b, c...)."),
    SEED, VAL_FRACTION,
)
_TITLES = {
    "copy": ("Copy a sequence", "Output the input sequence unchanged: tests pure memory."),
    "reverse": ("Reverse a sequence", "Output the input backwards: easy with attention, hard "
                "for a plain encoder-decoder."),
    "sort": ("Sort a sequence", "Output the input symbols in alphabetical order."),
}

register(
    DatasetSpec(
        "timeseries", "Sine time series",
        "Windows of a noisy sum of sines; predict the values that follow.",
        "generated", "Sequences", "regression",
        (n_samples(2000, 200_000), noise(0.05, 2.0),
         Param("window", "int", 32, min=2, max=1024, help="Past values shown to the model."),
         Param("horizon", "int", 1, min=1, max=256, help="Future values to predict."),
         Param("waves", "int", 1, min=1, max=8, help="Sines added up: 1 is a pure sine."),
         SEED, VAL_FRACTION),
        _series_build,
    ),
    *(DatasetSpec(t, *_TITLES[t], "generated", "Sequences", "sequence", _SYMBOL_PARAMS,
                  _symbols_builder(t)) for t in SYMBOL_TASKS),
    DatasetSpec(
        "addition", "Add two numbers",
        "Token sequences 'a+b' and their sum, digit by digit: learning to carry.",
        "generated", "Sequences", "sequence",
        (n_samples(10000, 500_000),
         Param("digits", "int", 3, min=1, max=12, help="Digits of each number."),
         Param("reverse_digits", "bool", False,
               help="Write numbers least significant digit first (easier for RNNs)."),
         SEED, VAL_FRACTION),
        _addition_build,
    ),
)
