"""Reading one user input as a network input expects it: an image file, a ``.npy`` array, CSV
rows (a file or an inline ``1.5,2,3``) or text, on the *raw* scale the user has.

The standardisation training applied is not done here (``runtime.predict`` puts the network
behind ``runtime.preprocess.WithPreprocess``); this only turns files and text into tensors of
the input's per-sample shape, or says in one line what was expected and what was found.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from builder.compiler import InputSpec

__all__ = ["InputError", "Raw", "IMAGE_SUFFIXES", "read_raw", "fmt_shape"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
TEXT_SUFFIXES = (".txt",)
MODES = {1: "L", 3: "RGB"}


class InputError(ValueError):
    """An input that does not fit the network's input: names it, what was expected and what
    was found."""


@dataclass
class Raw:
    """One input on the raw scale: ``tensor`` has the input's per-sample shape."""

    name: str  # what the user gave: a path, ``file.csv:3``, or the text itself
    tensor: torch.Tensor


def fmt_shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _fit(values: np.ndarray, spec: InputSpec, name: str, what: str) -> torch.Tensor:
    """``values`` in the input's shape: as given, or reshaped when the element count says so
    unambiguously (a CSV row of 48 numbers for a [48, 1] window); symbolic axes take any
    length."""
    shape = tuple(spec.shape)
    fixed = all(isinstance(d, int) for d in shape)
    if values.shape == shape or (not fixed and len(values.shape) == len(shape) and all(
            not isinstance(d, int) or d == v for d, v in zip(shape, values.shape))):
        return torch.as_tensor(values)
    known = int(np.prod([d for d in shape if isinstance(d, int)] or [1]))
    free = sum(not isinstance(d, int) for d in shape)
    if free <= 1 and values.size and values.size % known == 0 and (free or values.size == known):
        target = [d if isinstance(d, int) else values.size // known for d in shape]
        return torch.as_tensor(values.reshape(target))
    raise InputError(f"{name}: input {spec.name!r} expects {fmt_shape(shape)} per sample; "
                     f"{what} {fmt_shape(values.shape)} ({values.size} values)")


def _image(path: Path, spec: InputSpec) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    if len(spec.shape) != 3 or not all(isinstance(d, int) for d in spec.shape):
        raise InputError(f"{path}: an image, but input {spec.name!r} takes "
                         f"{fmt_shape(spec.shape)} ({spec.kind}), not [C, H, W] images")
    c, h, w = spec.shape
    if c not in MODES:
        raise InputError(f"{path}: input {spec.name!r} takes {c}-channel images; only grey "
                         "(1) or RGB (3) can be read from an image file (use a .npy array)")
    try:
        with Image.open(path) as im:
            im = im.convert(MODES[c]).resize((w, h), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.float32) / 255.0  # the datasets' [0, 1] scale
    except (OSError, ValueError, UnidentifiedImageError) as e:
        raise InputError(f"{path}: not a readable image ({e})") from None
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(arr))


def _numbers(cells: list[str], where: str) -> np.ndarray:
    cells = [c.strip() for c in cells if c.strip()]
    try:
        return np.array([float(c) for c in cells], dtype=np.float32)
    except ValueError:
        bad = next(c for c in cells if not _is_number(c))
        raise InputError(f"{where}: {bad!r} is not a number (CSV rows hold numbers only)"
                         ) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_rows(path: Path, spec: InputSpec) -> list[Raw]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    if rows and not all(_is_number(c) for c in rows[0] if c.strip()):
        rows = rows[1:]  # a header row of names
    if not rows:
        raise InputError(f"{path}: no rows of numbers")
    out = []
    for i, row in enumerate(rows, 1):
        name = f"{path}:{i}"
        values = _numbers(row, name)
        out.append(Raw(name, _fit(values, spec, name, "the row has")))
    return out


def _tokens(text: str, name: str, spec: InputSpec, vocab: tuple[str, ...], pad: int
            ) -> torch.Tensor:
    """Text as ids of ``vocab``: by character, or by word when the vocabulary has words."""
    chars = all(len(s) == 1 for s in vocab if not s.startswith("<"))
    index = {s: i for i, s in enumerate(vocab)}
    pieces = list(text) if chars else text.split()
    unknown = [p for p in dict.fromkeys(pieces) if p not in index]
    if unknown:
        known = "".join(s for s in vocab if len(s) == 1) if chars else \
            ", ".join(s for s in vocab[:20]) + (" …" if len(vocab) > 20 else "")
        raise InputError(f"{name!r}: {', '.join(repr(p) for p in unknown)} not in the "
                         f"vocabulary, which knows {known!r}")
    if not pieces:
        raise InputError(f"{name!r}: the text is empty")
    ids = [index[p] for p in pieces]
    width = spec.shape[0] if spec.shape else None
    if isinstance(width, int):
        if len(ids) > width:
            raise InputError(f"{name!r}: {len(ids)} symbols; input {spec.name!r} reads at "
                             f"most {width}")
        ids += [max(pad, 0)] * (width - len(ids))  # padded as the datasets pad
    return torch.tensor(ids, dtype=torch.int64)


def _npy(path: Path, spec: InputSpec, vocab_size: int) -> torch.Tensor:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable .npy array ({e})") from None
    if spec.kind == "index":
        if not np.issubdtype(arr.dtype, np.integer):
            raise InputError(f"{path}: input {spec.name!r} takes integer ids; the array "
                             f"holds {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
            raise InputError(f"{path}: ids must lie in 0…{vocab_size - 1}; found "
                             f"{arr.min()}…{arr.max()}")
        return _fit(arr.astype(np.int64), spec, str(path), "the array is")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(f"{path}: an array of numbers is needed; it holds {arr.dtype}")
    return _fit(arr.astype(np.float32), spec, str(path), "the array is")


def read_raw(source: str | Path, spec: InputSpec, vocab: tuple[str, ...] = (), pad: int = 0
             ) -> list[Raw]:
    """The input(s) in ``source`` for ``spec``: one per image, array or text, one per row of
    a CSV file.  A string that is no file is an inline CSV row or, for token inputs, text."""
    text = str(source)
    path = Path(text).expanduser()
    suffix = path.suffix.lower()
    try:
        is_file = "\n" not in text and path.is_file()
    except OSError:  # a long inline row is no file name
        is_file = False
    if not is_file and suffix in (*IMAGE_SUFFIXES, ".npy", ".csv", *TEXT_SUFFIXES) \
            and " " not in text:
        raise InputError(f"{text}: no such file")
    tokens = spec.kind == "index"
    if is_file:
        if suffix in IMAGE_SUFFIXES:
            return [Raw(text, _image(path, spec))]
        if suffix == ".npy":
            return [Raw(text, _npy(path, spec, len(vocab) or 1 << 62))]
        if suffix == ".csv" and not tokens:
            return _csv_rows(path, spec)
        if suffix in TEXT_SUFFIXES and tokens and vocab:
            body = path.read_text(encoding="utf-8").rstrip("\n")
            return [Raw(text, _tokens(body, text, spec, vocab, pad))]
        wants = ("text (.txt), a .npy of ids" if tokens else
                 "an image (.png, .jpg), a .npy array or a .csv of numbers")
        raise InputError(f"{text}: a {suffix or 'suffix-less'} file; input {spec.name!r} "
                         f"({spec.kind} {fmt_shape(spec.shape)}) takes {wants}")
    if tokens:
        if not vocab:
            raise InputError(f"{text!r}: input {spec.name!r} takes token ids, and the dataset "
                             "has no vocabulary to read text with; give a .npy of ids")
        return [Raw(text, _tokens(text, text, spec, vocab, pad))]
    if len(spec.shape) == 3:
        raise InputError(f"{text!r}: input {spec.name!r} takes images "
                         f"{fmt_shape(spec.shape)}; give an image file or a .npy array")
    values = _numbers(text.split(","), repr(text))
    return [Raw(text, _fit(values, spec, repr(text), "the row has"))]
