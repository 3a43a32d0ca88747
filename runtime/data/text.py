"""Character-level language modelling on a small bundled text (or the user's own file).

Each sample is a window of ``seq_len`` characters ``x`` and the same window shifted by one,
``y``: at every position the model predicts the next character.  The vocabulary is the sorted
set of characters of the whole text (``info.vocab[i]`` is the character of id i).  Validation
is the *end* of the text, not random windows: overlapping windows drawn at random would put
almost every validation character in the training set too.
"""

from __future__ import annotations

from pathlib import Path

import torch

from builder.blocks.spec import Param
from runtime.data.core import DataInfo, FieldInfo, TensorData
from runtime.data.registry import DatasetSpec, register, require_path
from runtime.data.splits import Splits

__all__ = ["TEXTS", "bundled_text", "encode", "decode", "windows"]

_HERE = Path(__file__).with_name("text")
TEXTS = ("weaver", "seasons", "both")
MAX_CHARS = 50_000_000


def bundled_text(name: str) -> str:
    """One of the bundled texts (``both`` joins them with a blank line)."""
    names = ("weaver", "seasons") if name == "both" else (name,)
    return "\n\n".join((_HERE / f"{n}.txt").read_text(encoding="utf-8").strip() for n in names)


def encode(text: str, vocab: tuple[str, ...]) -> torch.Tensor:
    index = {c: i for i, c in enumerate(vocab)}
    return torch.tensor([index[c] for c in text], dtype=torch.int64)


def decode(ids, vocab: tuple[str, ...]) -> str:
    return "".join(vocab[int(i)] for i in ids)


def windows(ids: torch.Tensor, seq_len: int, stride: int) -> TensorData:
    """Inputs ``ids[i:i+seq_len]`` and next-character targets, for i = 0, stride, 2*stride..."""
    if len(ids) < seq_len + 1:
        raise ValueError(f"{len(ids)} characters cannot fill one window of {seq_len} plus the "
                         "next character; use a shorter seq_len or more text")
    w = ids.unfold(0, seq_len + 1, stride)
    return TensorData({"x": w[:, :-1].contiguous(), "y": w[:, 1:].contiguous()})


def _read(p: dict) -> tuple[str, str]:
    if not p["path"]:
        return bundled_text(p["text"]), f"bundled:{p['text']}"
    path = require_path(p, "a text file")
    if path.stat().st_size > MAX_CHARS * 4:
        raise ValueError(f"{path.name} is too large for a character model here "
                         f"(over {MAX_CHARS:,} characters)")
    return path.read_text(encoding="utf-8", errors="replace"), str(path)


def _build(p: dict, ctx) -> Splits:
    text, source = _read(p)
    vocab = tuple(sorted(set(text)))
    ids = encode(text, vocab)
    cut = int(round(len(ids) * (1.0 - p["val_fraction"])))
    t = p["seq_len"]
    try:
        train = windows(ids[:cut], t, p["stride"])
        val = windows(ids[cut:], t, p["stride"])
    except ValueError as e:
        raise ValueError(f"{e} (training part: {cut} characters, validation part: "
                         f"{len(ids) - cut})") from None
    info = DataInfo(
        "text", "language",
        {"x": FieldInfo((t,), "tokens", "int64", "characters"),
         "y": FieldInfo((t,), "tokens", "int64", "the next character at each position")},
        vocab=vocab, source=source, extra={"characters": len(ids)},
    )
    return Splits(train, val, info)


register(
    DatasetSpec(
        "text", "Character text",
        "A short English text, one character at a time: train a model to write like it.",
        "bundled", "Text", "language",
        (Param("text", "choice", "both", choices=TEXTS, help="Which bundled text to use."),
         Param("path", "str", "", help="Your own UTF-8 text file instead (optional)."),
         Param("seq_len", "int", 64, min=2, max=4096, help="Characters per training window."),
         Param("stride", "int", 8, min=1, max=4096,
               help="Step between window starts: smaller gives more, overlapping windows."),
         Param("val_fraction", "float", 0.1, min=0.01, max=0.5,
               help="Share of the text, at its end, kept for validation.")),
        _build,
        paths=(("path", "*.txt"),),
    ),
)
