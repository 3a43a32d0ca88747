"""Prompts for the text-to-image models trained on the captioned shapes data.

A prompt is English in the words of the training captions ("a large red circle in the
centre").  ``parse_prompt`` reads what it says about the one shape it describes (kind,
colour, size, place; None where it does not say), so that generated pictures can be checked
against it; ``prompt_ids`` turns it into word ids in the caption format the models were trained
on.  A word the captions never use would mean nothing to a model, so it is refused by name
rather than dropped in silence.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from runtime.data.shapes import BOS, COLOURS, EOS, PAD, SHAPES, SIZES, VOCAB
from runtime.recipes.base import RecipeError

__all__ = ["PromptError", "Prompt", "parse_prompt", "prompt_ids", "EVAL_PROMPTS"]

_SPECIAL = frozenset(("<pad>", "<bos>", "<eos>"))
_ROW = {"top": 0, "bottom": 2}  # the 3×3 grid of POSITIONS: row * 3 + column
_COLUMN = {"left": 0, "right": 2}
_ATTRIBUTES = {"shape": {w: i for i, w in enumerate(SHAPES)},
               "colour": {w: i for i, w in enumerate(COLOURS)},
               "size": {w: i for i, w in enumerate(SIZES)}}


class PromptError(RecipeError):
    """A prompt the model cannot read; the message says which words and what it knows."""


@dataclass(frozen=True)
class Prompt:
    """What a prompt asks for: indices into ``shapes.SHAPES``, ``COLOURS``, ``SIZES`` and
    ``POSITIONS``, None where it does not say.  ``words`` are its words as read; with two
    shapes ("... and a ..."), the attributes are the first one's and ``objects`` is 2."""

    text: str
    shape: int | None = None
    colour: int | None = None
    size: int | None = None
    position: int | None = None
    words: tuple[str, ...] = ()
    objects: int = 1


def _words(text: str) -> list[str]:
    """Lower-case words, split on spaces, digits' neighbours and punctuation."""
    return [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]


def _known(vocab: Sequence[str]) -> str:
    """The vocabulary in a line, grouped so it reads as a hint."""
    words = [w for w in vocab if w not in _SPECIAL]
    groups = [("shapes", SHAPES), ("colours", tuple(COLOURS)), ("sizes", SIZES),
              ("places", ("top", "bottom", "left", "right", "centre"))]
    named = set()
    parts = []
    for label, group in groups:
        have = [w for w in group if w in words]
        named.update(have)
        if have:
            parts.append(f"{label} {', '.join(have)}")
    rest = [w for w in words if w not in named]
    if rest:
        parts.append(f"and {', '.join(rest)}")
    return "; ".join(parts)


def _unknown(words: list[str], vocab: Sequence[str]) -> PromptError:
    known = [w for w in vocab if w not in _SPECIAL]
    unknown = list(dict.fromkeys(w for w in words if w not in known))
    named = ", ".join(f'"{w}"' for w in unknown)
    hints = []
    for w in unknown:
        close = difflib.get_close_matches(w, known, n=1, cutoff=0.75)
        if close:
            hints.append(f'"{close[0]}" for "{w}"')
    maybe = f" (perhaps {', '.join(hints)})" if hints else ""
    return PromptError(f"the prompt uses words the vocabulary lacks: {named}{maybe}; "
                       f"it knows: {_known(vocab)}")


def _describe(part: list[str]) -> dict[str, int | None]:
    """The attributes one shape's words state; PromptError where they contradict."""
    found: dict[str, int | None] = dict.fromkeys(("shape", "colour", "size", "position"))
    for name, table in _ATTRIBUTES.items():
        said = list(dict.fromkeys(w for w in part if w in table))
        if len(said) > 1:
            raise PromptError(f"the prompt gives one shape two {name}s ({', '.join(said)}); "
                              f"name one, or describe a second shape after \"and\"")
        if said:
            found[name] = table[said[0]]
    rows = list(dict.fromkeys(w for w in part if w in _ROW))
    columns = list(dict.fromkeys(w for w in part if w in _COLUMN))
    for said, axis in ((rows, "top or bottom"), (columns, "left or right")):
        if len(said) > 1:
            raise PromptError(f"the prompt puts one shape at {' and '.join(said)}; "
                              f"say {axis}, not both")
    if rows or columns or "centre" in part:  # "centre" alone, or the middle of a side
        found["position"] = (_ROW[rows[0]] if rows else 1) * 3 + (
            _COLUMN[columns[0]] if columns else 1)
    return found


def parse_prompt(text: str, vocab: Sequence[str] = VOCAB) -> Prompt:
    """What ``text`` asks for.  PromptError for an empty prompt, words ``vocab`` lacks (each
    named) and contradictions ("red blue", "left right")."""
    words = _words(text or "")
    if not words:
        raise PromptError("the prompt is empty; describe a shape, e.g. "
                          "\"a large red circle in the centre\"")
    known = set(vocab) - _SPECIAL
    if any(w not in known for w in words):
        raise _unknown(words, vocab)
    parts: list[list[str]] = [[]]
    for w in words:
        if w == "and":
            parts.append([])
        else:
            parts[-1].append(w)
    parts = [p for p in parts if p] or [[]]
    described = [_describe(p) for p in parts]
    return Prompt(text.strip(), **described[0], words=tuple(words), objects=len(parts))


def prompt_ids(prompt: Prompt | str, length: int, vocab: Sequence[str] = VOCAB) -> np.ndarray:
    """[length] int64 word ids in the captions' format: ``<bos>`` words ``<eos>`` then
    ``<pad>``; PromptError when the prompt does not fit in ``length``."""
    if isinstance(prompt, str):
        prompt = parse_prompt(prompt, vocab)
    words = prompt.words or tuple(_words(prompt.text))
    if len(words) + 2 > length:
        raise PromptError(f"the prompt has {len(words)} words; the model reads at most "
                          f"{length - 2}")
    index = {w: i for i, w in enumerate(vocab)}
    missing = [w for w in words if w not in index]
    if missing:
        raise _unknown(list(words), vocab)
    ids = np.full(length, index.get("<pad>", PAD), np.int64)
    ids[: len(words) + 2] = [index.get("<bos>", BOS), *(index[w] for w in words),
                             index.get("<eos>", EOS)]
    return ids


# A fixed test card in the words of the training captions: every shape at least twice, every
# colour three times, every place at least twice; mostly large, since a small shape is only a
# few pixels wide in a 16- or 32-pixel picture.
EVAL_PROMPTS: tuple[str, ...] = (
    "a large red circle at the top left",
    "a large yellow square in the centre",
    "a large white triangle at the bottom right",
    "a large green cross at the left",
    "a large magenta star at the bottom",
    "a small orange diamond at the top right",
    "a large blue hexagon at the bottom left",
    "a large cyan ring at the top",
    "a large red heart at the right",
    "a large yellow arrow at the top",
    "a large white circle at the right",
    "a small green square at the top left",
    "a large magenta triangle in the centre",
    "a large orange cross at the bottom right",
    "a large blue star at the left",
    "a large cyan diamond at the bottom",
    "a large red hexagon at the top right",
    "a small yellow ring at the bottom left",
    "a large white heart at the top right",
    "a large green arrow at the bottom left",
    "a large magenta circle at the top",
    "a large orange square at the right",
    "a large blue triangle at the top left",
    "a small cyan cross in the centre",
)
