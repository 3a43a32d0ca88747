"""Pieces of the CLIP recipe that are not the step: its settings, the symmetric contrastive
loss, the learned temperature, within-batch retrieval and the zero-shot class prompts.

No ``Recipe`` subclass lives here (every module of this package is scanned for recipes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from builder.blocks.spec import Param
from runtime.data.core import DataInfo
from runtime.recipes.base import RecipeError

__all__ = ["PARAMS", "HARD_NEGATIVES", "CLIP_BATCH", "normalised", "same_captions",
           "contrastive_loss", "retrieval_hits", "LogitScale", "ZeroShot", "WordSwap",
           "short_caption", "caption", "prompt_captions"]

HARD_NEGATIVES = Param(
    "hard_negatives", "int", 0, min=0, max=32,
    help="Wrong captions per image that CLIP learns from, made from its own by swapping one "
         "attribute word (shape, colour or size) for another. Without them an attribute that "
         "the batch's other captions rarely hinge on (the shape, when they differ in colour "
         "or place) is learnt last (NegCLIP's hard negatives). 0: only the batch's captions. "
         "On data whose captions name such attributes.")
CLIP_BATCH = Param(
    "clip_batch_size", "int", 0, min=0, max=65_536,
    help="Batch size of the CLIP stage; 0: the training settings'. CLIP learns from many "
         "captions at once, a denoiser from many small steps: let each have its own.")

PARAMS = (
    Param("image_field", "str", "x", help="The data field of the images (shown in the "
                                          "pictures and searched by a prompt)."),
    Param("caption_field", "str", "caption",
          help="The data field of the captions (word ids): identical captions in a batch are "
               "found by it, and prompts are written in its format."),
    Param("temperature", "float", 0.07, min=0.01, max=1.0,
          help="The temperature τ the learned one starts from: similarities are divided by it "
               "(CLIP starts at 0.07, so the logits are cosine similarities × 14.3)."),
    Param("learn_temperature", "bool", True,
          help="Learn τ with the networks (never below 0.01: logits at most 100 × the cosine, "
               "as in the CLIP paper); off: keep the starting value."),
    Param("temperature_lr", "float", 0.001, min=0.0, max=1.0,
          help="Learning rate of log(1/τ) (Adam, its own optimizer, no weight decay)."),
    Param("same_caption_positive", "bool", True,
          help="Treat images whose captions are word for word the same as matches of each "
               "other's captions (multi-positive targets); off: only the image's own caption "
               "counts, as in CLIP, where duplicates are rare."),
    HARD_NEGATIVES,
)

MAX_SCALE = math.log(100.0)  # the paper clips the logit scale at 100 (τ ≥ 0.01)


def normalised(e: Tensor) -> Tensor:
    """Each embedding scaled to length 1 (float32: a cosine must not round in half)."""
    return F.normalize(e.float().flatten(1), dim=1)


def same_captions(tokens: Tensor, others: Tensor | None = None) -> Tensor:
    """[n, m] bool: caption i of ``tokens`` is word for word caption j of ``others`` (by
    default ``tokens`` itself: [n, n], the diagonal always true)."""
    t = tokens.reshape(tokens.shape[0], -1)
    o = t if others is None else others.reshape(others.shape[0], -1)
    return (t[:, None, :] == o[None, :, :]).all(-1)


def contrastive_loss(img: Tensor, txt: Tensor, scale: Tensor, same: Tensor | None = None,
                     negatives: Tensor | None = None, same_negatives: Tensor | None = None
                     ) -> tuple[Tensor, Tensor]:
    """CLIP's symmetric cross-entropy and its logits [n, n] = scale · img · txtᵀ (img, txt
    L2-normalised): each image picks its caption among the batch's captions, each caption
    its image, the two losses averaged.

    Hard negatives: ``negatives`` [m, E] are captions with no image, wrong for every image
    but those ``same_negatives`` [n, m] marks: images pick among n + m captions, captions
    still among the n images.  The logits returned are the batch's own [n, n].

    Duplicates: the shapes captions name 1,440 scenes, so a batch of 128 holds a few
    identical captions.  With one-hot targets, image i would be pushed away from caption j
    although j is i's caption word for word, a loss no model can remove that only adds
    noise.  With ``same`` the target of a row spreads evenly over every identical caption
    (and of a column over every image with that caption)."""
    logits = scale * img @ txt.t()
    n = img.shape[0]
    if same is None:
        same = torch.eye(n, dtype=torch.bool, device=img.device)
    target = same.float() / same.float().sum(1, keepdim=True)  # symmetric: rows = columns
    loss_t = -(target * F.log_softmax(logits.t(), 1)).sum(1).mean()
    if negatives is None:
        loss_i = -(target * F.log_softmax(logits, 1)).sum(1).mean()
        return (loss_i + loss_t) / 2, logits
    wide = torch.cat([same, same_negatives if same_negatives is not None else
                      same.new_zeros(n, len(negatives))], 1).float()
    wide_logits = torch.cat([logits, scale * img @ negatives.t()], 1)
    loss_i = -(wide / wide.sum(1, keepdim=True) * F.log_softmax(wide_logits, 1)).sum(1).mean()
    return (loss_i + loss_t) / 2, logits


def retrieval_hits(logits: Tensor, same: Tensor) -> tuple[Tensor, Tensor]:
    """Within the batch, image → text and text → image: how many pick a right partner (its
    own, or one with the same caption): two 0-d counts."""
    rows = torch.arange(logits.shape[0], device=logits.device)
    i2t = same[rows, logits.argmax(1)].sum()
    t2i = same[logits.argmax(0), rows].sum()
    return i2t, t2i


class WordSwap:
    """Captions with one attribute word swapped for another of its kind ("a large red circle"
    → "a large red star", "a small red circle" or "a large blue circle"): the hard negatives
    of ``contrastive_loss``.  Groups are the data's single-word attributes: shape kinds,
    colours and sizes (places are phrases and are left as they are)."""

    def __init__(self, groups: list[list[int]], vocab_size: int):
        self.group = torch.full((vocab_size,), -1, dtype=torch.long)  # word id → its group
        self.rank = torch.zeros(vocab_size, dtype=torch.long)  # its place in the group
        width = max(len(g) for g in groups)
        self.members = torch.zeros(len(groups), width, dtype=torch.long)
        self.sizes = torch.tensor([len(g) for g in groups])
        for k, ids in enumerate(groups):
            self.group[ids] = k
            self.rank[ids] = torch.arange(len(ids))
            self.members[k, :len(ids)] = torch.tensor(ids)

    @classmethod
    def for_data(cls, info: DataInfo) -> WordSwap | None:
        found = _attributes(info)
        if found is None:
            return None
        index = {w: i for i, w in enumerate(info.vocab)}
        groups = [[index[w] for w in words] for words in found[:3]
                  if len(words) > 1 and all(w in index for w in words)]
        return cls(groups, len(info.vocab)) if groups else None

    def __call__(self, ids: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A copy of ``ids`` [n, L] in which one attribute word per caption (chosen evenly
        among those it has) is another of its group; a caption with none stays as it is."""
        dev = ids.device
        if self.group.device != dev:  # moved once, not every step
            self.group, self.rank, self.members, self.sizes = (
                t.to(dev) for t in (self.group, self.rank, self.members, self.sizes))
        group, rank = self.group[ids], self.rank[ids]
        has = group >= 0
        weights = has.float() + (~has.any(1, keepdim=True)).float()  # none: any place
        pos = torch.multinomial(weights, 1, generator=generator).squeeze(1)
        rows = torch.arange(len(ids), device=dev)
        k = group[rows, pos]
        ok = k >= 0
        k = k.clamp(min=0)
        size = self.sizes[k]
        step = 1 + (torch.rand(len(ids), device=dev, generator=generator) * (size - 1)).long()
        new = self.members[k, (rank[rows, pos] + step) % size]
        out = ids.clone()
        out[rows[ok], pos[ok]] = new[ok]
        return out


class LogitScale(nn.Module):
    """s = log(1/τ), learned: logits = exp(s) · cosine.  The recipe owns it, not a network,
    so it has an Adam of its own, stepped right after the networks' step on the gradient
    their backward pass left on it (the trainer's ``optimize`` steps the roles' optimizers
    only and never zeroes this one)."""

    def __init__(self, temperature: float, learn: bool, lr: float):
        super().__init__()
        self.s = nn.Parameter(torch.tensor(math.log(1.0 / temperature)), requires_grad=learn)
        self.learn, self.lr = learn and lr > 0, lr
        self._optimizer: torch.optim.Optimizer | None = None

    @property
    def optimizer(self) -> torch.optim.Optimizer | None:
        """Made at the first use: a torch optimizer's first construction imports much of
        torch, which building the recipe to sample from should not wait for."""
        if self._optimizer is None and self.learn:
            self._optimizer = torch.optim.Adam([self.s], lr=self.lr)
        return self._optimizer

    def forward(self) -> Tensor:
        return self.s.exp()

    @property
    def temperature(self) -> Tensor:
        return (-self.s).exp().detach()

    @torch.no_grad()
    def step(self) -> None:
        g = self.s.grad
        if g is None or self.optimizer is None:
            return
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(g)  # one τ for every replica
            g /= torch.distributed.get_world_size()
        # Under mixed precision the gradient arrives scaled (Adam does not care) and may be
        # inf on a step the loss scaler skips: skip it too.
        if bool(torch.isfinite(g)):
            self.optimizer.step()
            self.s.clamp_(max=MAX_SCALE)  # τ ≥ 0.01, as the paper clips it
        self.s.grad = None

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"s": self.s.detach().cpu().clone()}
        if self._optimizer is not None:
            out["optimizer"] = self._optimizer.state_dict()
        return out

    def load(self, saved: Mapping[str, Any] | None, device: torch.device) -> None:
        self.to(device)
        if not saved:
            return
        with torch.no_grad():
            self.s.copy_(torch.as_tensor(saved["s"]).clamp(max=MAX_SCALE))
        if saved.get("optimizer") and self.optimizer is not None:
            self.optimizer.load_state_dict(saved["optimizer"])


_FILLER = frozenset(("a", "at", "in", "the", "and"))


def short_caption(text: str) -> str:
    """A caption without its small words: "large red circle top left"."""
    return " ".join(w for w in text.split() if w not in _FILLER)


def caption(size: str, colour: str, kind: str, place: str) -> str:
    """One shape's caption in the words and order of the shapes data."""
    return f"a {size} {colour} {kind} {'in' if place == 'centre' else 'at'} the {place}"


def _attributes(info: DataInfo) -> tuple[tuple[str, ...], ...] | None:
    """(kinds, colours, sizes, places) of data that lists them (the shapes), else None."""
    extra = info.extra
    found = (tuple(info.class_names), *(tuple(extra.get(k) or ()) for k in
                                         ("colours", "sizes", "positions")))
    return found if all(found) and info.vocab else None


def prompt_captions(text: str, info: DataInfo) -> list[str]:
    """The captions a one-shape prompt stands for: what it leaves out ("a blue heart" says
    no size or place) filled in every way, to be averaged like the zero-shot classes, since
    the text encoder only ever read complete captions.  A prompt of two shapes, or for data
    without attribute lists: itself."""
    from runtime.prompts import parse_prompt

    prompt = parse_prompt(text, info.vocab)
    found = _attributes(info)
    if found is None or prompt.objects != 1:
        return [prompt.text]
    kinds, colours, sizes, places = found
    pick = [(kinds, prompt.shape), (colours, prompt.colour), (sizes, prompt.size),
            (places, prompt.position)]
    k, c, s, p = (values if i is None else (values[i],) for values, i in pick)
    return [caption(size, colour, kind, place)
            for kind in k for colour in c for size in s for place in p]


class ZeroShot:
    """Zero-shot classification by captions, as CLIP does it: each class is the mean of the
    (normalised) embeddings of many captions that name it, one for every other attribute
    (prompt ensembling), and an image takes the class whose mean is nearest.

    The prompts exist for data that lists its attributes in ``info.extra`` (the shapes
    data: colours, sizes, positions; the classes are its shape kinds); None otherwise."""

    def __init__(self, ids: Tensor, shape: Tensor, colour: Tensor, classes: tuple[str, ...],
                 colours: tuple[str, ...]):
        self.ids, self.shape, self.colour = ids, shape, colour
        self.classes, self.colours = classes, colours

    @classmethod
    def for_data(cls, info: DataInfo, length: int) -> ZeroShot | None:
        from runtime.prompts import prompt_ids  # the caption format of the prompt box

        found = _attributes(info)
        if found is None:
            return None
        classes, colours, sizes, places = found
        rows, shape, colour = [], [], []
        try:
            for k, kind in enumerate(classes):
                for c, name in enumerate(colours):
                    for size in sizes:
                        for place in places:
                            rows.append(prompt_ids(caption(size, name, kind, place), length,
                                                   info.vocab))
                            shape.append(k)
                            colour.append(c)
        except RecipeError:  # words the captions do not use: no zero-shot for this data
            return None
        return cls(torch.as_tensor(np.stack(rows)), torch.as_tensor(shape), torch.as_tensor(colour),
                   classes, colours)

    @staticmethod
    def _means(emb: Tensor, group: Tensor, k: int) -> Tensor:
        sums = torch.zeros(k, emb.shape[1], device=emb.device).index_add_(0, group, emb)
        return F.normalize(sums, dim=1)

    def classes_of(self, embed_text) -> tuple[Tensor, Tensor]:
        """The class embeddings [K, E] of the shapes and [C, E] of the colours, from the text
        encoder ``embed_text`` (word ids → normalised embeddings)."""
        emb = embed_text(self.ids)
        return (self._means(emb, self.shape.to(emb.device), len(self.classes)),
                self._means(emb, self.colour.to(emb.device), len(self.colours)))
