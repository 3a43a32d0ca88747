"""Token targets, shared by the recipes that predict a symbol per time step (classification of
token sequences, language models, seq2seq): the vocabulary size, padding left out of the loss
and of the accuracies, per-sequence accuracy, shape checks that name the shapes, and turning
ids back into text.

No recipe is defined here (every ``Recipe`` subclass with a name in this package is
registered), only functions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from runtime.data.core import DataInfo
from runtime.recipes.base import RecipeError

__all__ = ["IGNORE", "vocab_size", "pad_id", "is_tokens", "check_logits", "token_loss",
           "token_counts", "pick", "decode", "encode_prompt", "text_line"]

IGNORE = -100  # cross-entropy's default ignore_index: "no padding" when the data has none
GREEDY = 1e-4  # a temperature below this picks the most likely symbol (no division by ~0)


def vocab_size(info: DataInfo, recipe: str) -> int:
    """Classes per position: the dataset's class count, else the size of its vocabulary."""
    if info.num_classes is not None:
        return int(info.num_classes)
    if info.vocab:
        return len(info.vocab)
    raise RecipeError(f"recipe {recipe!r}: dataset {info.name!r} has no class count and no "
                      "vocabulary; choose the regression recipe, or a labelled or token "
                      "dataset")


def pad_id(info: DataInfo) -> int:
    """The padding id, which no loss or accuracy counts; IGNORE when the data has none."""
    pad = info.extra.get("pad")
    return IGNORE if pad is None else int(pad)


def is_tokens(info: DataInfo, target: str) -> bool:
    """The target is one symbol per time step (``[T]`` integer ids), not one label."""
    f = info.fields.get(target)
    return f is not None and len(f.shape) >= 1 and f.dtype.startswith(("int", "uint"))


def check_logits(pred: Tensor, y: Tensor, classes: int, network: str, data: str) -> None:
    """Raise RecipeError unless ``pred`` is ``[B, *y.shape[1:], classes]``; the message names
    the shapes and says what to change."""
    per = list(pred.shape[1:])
    if pred.dim() < 2 or pred.shape[-1] != classes:
        raise RecipeError(
            f"network {network!r} outputs {per} per sample, but {data!r} has {classes} "
            f"classes: the last layer needs {classes} units (one logit per class)")
    if pred.shape[:-1] == y.shape:
        return
    want = [*y.shape[1:], classes]
    if pred.dim() == 2 and y.dim() == 2:
        raise RecipeError(
            f"network {network!r} outputs one prediction per sample {per}, but the targets "
            f"of {data!r} have one per time step {list(y.shape[1:])}: it must output "
            f"{want} — keep every step (a recurrent layer's output 'sequence') and end with "
            f"a Linear of {classes} units")
    raise RecipeError(f"network {network!r} outputs {per} per sample, which does not line up "
                      f"with the targets {list(y.shape[1:])} of {data!r}: it must output {want}")


def token_loss(logits: Tensor, y: Tensor, pad: int, smoothing: float = 0.0,
               reduction: str = "mean") -> Tensor:
    """Cross-entropy of ``[B, T, V]`` logits against ``[B, T]`` ids, padding left out."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1),
                           ignore_index=pad, label_smoothing=smoothing, reduction=reduction)


def token_counts(pred: Tensor, y: Tensor, pad: int) -> dict[str, Tensor]:
    """Additive counts of predicted ids ``pred`` against ``y`` (both ``[B, T]``): right tokens
    and real (non-pad) tokens, and sequences whose every real token is right."""
    real = y != pad
    right = (pred == y) & real
    whole = (right | ~real).reshape(y.shape[0], -1).all(1)
    return {"correct": right.sum(), "n": real.sum(), "seq_correct": whole.sum(),
            "seqs": torch.tensor(y.shape[0], device=y.device)}


def pick(logits: Tensor, temperature: float, generator: torch.Generator | None = None
         ) -> Tensor:
    """One id per row of ``[N, V]`` logits: the most likely (``temperature`` ≈ 0), or one
    drawn from softmax(logits / temperature) with ``generator`` (which may live on the CPU
    while the logits are on an accelerator)."""
    if temperature < GREEDY:
        return logits.argmax(-1)
    probs = (logits.float() / temperature).softmax(-1)
    where = generator.device if generator is not None else probs.device
    drawn = torch.multinomial(probs.to(where), 1, generator=generator)[:, 0]
    return drawn.to(logits.device)


def decode(ids, vocab: tuple[str, ...], keep=None) -> str:
    """Ids as text: one vocabulary entry per id, where ``keep`` (a bool per position) is true;
    single characters joined as a word, longer entries (``<bos>``, words) spaced."""
    ids = [int(i) for i in ids]
    if keep is not None:
        ids = [i for i, k in zip(ids, keep, strict=True) if k]
    words = [vocab[i] if 0 <= i < len(vocab) else f"<{i}>" for i in ids]
    return "".join(words) if all(len(w) == 1 for w in words) else " ".join(words)


def encode_prompt(prompt: str, vocab: tuple[str, ...], recipe: str) -> list[int]:
    """The ids of a prompt's characters; a character outside the vocabulary is named."""
    index = {s: i for i, s in enumerate(vocab) if len(s) == 1}
    unknown = [c for c in dict.fromkeys(prompt) if c not in index]
    if unknown:
        raise RecipeError(
            f"recipe {recipe!r}: the prompt has {', '.join(repr(c) for c in unknown)}, which "
            f"the vocabulary lacks; it knows {''.join(s for s in vocab if len(s) == 1)!r}")
    if not prompt:
        raise RecipeError(f"recipe {recipe!r}: the prompt is empty")
    return [index[c] for c in prompt]


def text_line(source: str, pred: str, target: str | None) -> str:
    """One sample as text: ``✓ abc → cba (cba)``, marked right or wrong against the target."""
    if target is None:
        return f"{source} → {pred}"
    mark = "✓" if pred == target else "✗"
    return f"{mark} {source} → {pred} ({target})"
