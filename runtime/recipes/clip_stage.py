"""What DALL·E 2 and Imagen in miniature share: CLIP's two towers learn first (a stage run by
the ``clip`` recipe), then they are frozen and the recipe's own networks learn from their
normalised embeddings, denoising on one noise chain.  No recipe here: a base class."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from runtime.recipes.base import Recipe, RecipeError, Stage, eval_mode
from runtime.recipes.clip_parts import normalised
from runtime.recipes.diffusion_parts import Schedule
from runtime.recipes.gan_parts import WeightAverage
from runtime.recipes.units import unnormalise

__all__ = ["AfterClip", "TOWERS", "dropped", "guided_conditions"]

TOWERS = ("image_encoder", "text_encoder")
Conditions = dict[str, Tensor]


def dropped(cond: Conditions, p: float, generator: torch.Generator) -> Conditions:
    """``cond`` with each sample's tensors all replaced by zeros with probability ``p`` (one
    draw per sample, shared by the dict's tensors), as classifier-free guidance trains."""
    if p <= 0 or not cond:
        return cond
    first = next(iter(cond.values()))
    keep = torch.rand(len(first), device=first.device, generator=generator) >= p
    return {k: v * keep.view(-1, *(1,) * (v.dim() - 1)).to(v.dtype) for k, v in cond.items()}


def guided_conditions(cond: Conditions, extra: Conditions, conditional: bool | None
                      ) -> Conditions:
    """A denoiser's conditions for ``guided``'s call: ``cond`` (True), zeros in its place
    (False), or both stacked (None: the guided pair); ``extra`` (not guided) stays."""
    if conditional is None:
        return {**{k: torch.cat([v, v]) for k, v in extra.items()},
                **{k: torch.cat([v, torch.zeros_like(v)]) for k, v in cond.items()}}
    return {**extra, **(cond if conditional else {k: torch.zeros_like(v)
                                                  for k, v in cond.items()})}


class AfterClip(Recipe):
    """Subclasses name the roles that learn after CLIP (``learners``), the param that gives
    CLIP's share of the epochs (``share_param``), and the two stages' names; their params
    include ``field``, ``caption_field``, ``schedule``, ``timesteps`` and ``ema``; their
    ``_losses`` gives each learner's per-sample losses, which one shared step adds up."""

    learners: ClassVar[tuple[str, ...]] = ()
    #: (role, param): the denoiser whose chain ``param`` moves towards less noise (``shift``
    #: of ``Schedule.make``) for pictures smaller than the schedule was made for
    shifted: ClassVar[tuple[str, str]] = ("", "")
    share_param: ClassVar[str] = "clip_share"
    stage_names: ClassVar[tuple[str, str]] = ("CLIP", "after CLIP")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        o = self.options
        self.field, self.caption = o["field"], o["caption_field"]
        for f in (self.field, self.caption):
            if f not in self.info.fields:
                raise RecipeError(f"recipe {self.name!r} reads field {f!r}, but dataset "
                                  f"{self.info.name!r} has {', '.join(sorted(self.info.fields))}")
        self.specs = {r: {s.field: s for s in self.recipe_inputs(r)} for r in self.learners}
        self.length = int(self.info.fields[self.caption].shape[0])
        self.chains: dict[str, Schedule] = {}
        self.averages = ({r: WeightAverage(o["ema"]) for r in self.learners}
                         if o["ema"] > 0 else {})
        self.updates = 0  # steps after CLIP: the weight averages warm up over them
        readers = [r for r in self.learners if "tokens" in self.specs[r]]
        self.reads_words = bool(readers)
        outputs = self.compiled["text_encoder"].outputs
        if readers and "tokens" not in outputs:
            raise RecipeError(
                f"the {readers[0]} network {self.names[readers[0]]!r} reads the caption's "
                f"words (a tokens Input), but the text encoder "
                f"{self.names['text_encoder']!r} has no Output named tokens (it has "
                f"{', '.join(outputs)}): add one after the layer whose per-word features "
                f"it should read")

    def stages(self):
        frozen = Stage(self.stage_names[1], train={r: () for r in TOWERS})
        share = self.options[self.share_param]
        if share <= 0:
            return [frozen]
        clip = Stage(self.stage_names[0], share=share, recipe="clip",
                     params={"image_field": self.field, "caption_field": self.caption,
                             "hard_negatives": self.options["hard_negatives"]},
                     train={r: () for r in self.learners},
                     batch_size=self.options["clip_batch_size"] or None)
        return [clip, frozen]

    def _losses(self, batch, generator, train: bool) -> tuple[Tensor, ...]:
        """Per-sample losses of each of ``learners``, in their order."""
        raise NotImplementedError

    def step(self, ctx, batch):
        parts = self._losses(batch, self.generator, train=True)
        loss = sum(part.mean() for part in parts)
        ctx.optimize(loss, *self.learners)
        for role, average in self.averages.items():
            average.update(self.nets[role], self.updates)
        self.updates += 1
        return {"loss": loss.detach(),
                **{f"loss_{r}": part.mean().detach() for r, part in zip(self.learners, parts)}}

    def _chain(self, role: str = "") -> Schedule:
        """The chain of ``role``'s denoiser on the networks' device: the ``shifted`` role's
        moved by its param, any other's (and no role's) the plain one."""
        key = role if role and role == self.shifted[0] else ""
        if key not in self.chains:
            o = self.options
            self.chains[key] = Schedule.make(o["schedule"], o["timesteps"],
                                             shift=o[self.shifted[1]] if key else 1.0)
        self.chains[key] = self.chains[key].on(self.device)
        return self.chains[key]

    def embed(self, role: str, batch: dict[str, Tensor]) -> Tensor:
        """A frozen tower's normalised embeddings (eval mode, no gradient: frozen means it
        never changes, dropout and statistics included)."""
        net = self.nets[role]
        with eval_mode([net]), torch.no_grad():
            return normalised(self.output(role, net(*self.inputs(role, batch))))

    def read(self, ids: Tensor) -> Conditions:
        """What the frozen text encoder makes of captions [N, L]: ``text``, the normalised
        embedding [N, E] (its first Output), and, when a learner has a ``tokens`` Input,
        ``tokens``: the per-word features [N, L, D] of its Output named tokens, zero at the
        padding.  A denoiser that reads every word is not limited to what the one pooled
        vector kept of the caption: Imagen's cross-attention to T5's token sequence."""
        ids = ids.to(self.device)
        net = self.nets["text_encoder"]
        with eval_mode([net]), torch.no_grad():
            result = net(*self.inputs("text_encoder", {self.caption: ids}))
        out = {"text": normalised(self.output("text_encoder", result))}
        if self.reads_words:
            words = self.output("text_encoder", result, "tokens")
            keep = ids != self.info.extra.get("pad", 0)
            out["tokens"] = words * keep[..., None].to(words.dtype)
        return out

    def check_words(self, words: Conditions) -> None:
        """RecipeError when what ``read`` makes does not fit a learner's text or tokens
        Input."""
        for role in self.learners:
            for key, what in (("text", "embeddings"), ("tokens", "per-word features")):
                have, want = words.get(key), self.specs[role].get(key)
                if have is not None and want is not None and \
                        tuple(have.shape[1:]) != tuple(want.shape):
                    raise RecipeError(
                        f"the text encoder {self.names['text_encoder']!r} makes {what} of "
                        f"{list(have.shape[1:])}, but the {role} model's {key} Input takes "
                        f"{list(want.shape)}")

    def _pixels(self, x: Tensor) -> Tensor:
        """The data's images in the denoisers' units, [−1, 1]."""
        return unnormalise(self.info, self.field, x).float() * 2 - 1
