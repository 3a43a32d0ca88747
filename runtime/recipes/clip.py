"""CLIP (Radford et al. 2021): an image encoder and a text encoder learn one embedding space
in which an image lies near its own caption and away from the batch's other captions.

Both embeddings are L2-normalised here (the networks end in a plain Linear), the logits are
exp(s) · cosine with s = log(1/τ) a learned temperature that the recipe owns, trains with a
small Adam of its own and keeps in its state, and the loss is the symmetric cross-entropy:
images pick captions, captions pick images.  Validation reports within-batch retrieval both
ways and, on data whose attributes are known (the shapes), zero-shot classification of the
shape kind (and colour) by averaged caption embeddings.  CLIP makes no images, but it answers
a prompt by retrieval: ``sample`` returns the validation images nearest the prompt.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from runtime.data.core import TensorData
from runtime.data.shapes import decode_caption
from runtime.events import Samples
from runtime.recipes.base import Recipe, RecipeError, Role
from runtime.recipes.clip_parts import (
    PARAMS,
    LogitScale,
    WordSwap,
    ZeroShot,
    contrastive_loss,
    normalised,
    prompt_captions,
    retrieval_hits,
    same_captions,
    short_caption,
)
from runtime.recipes.units import normalise, unnormalise

__all__ = ["CLIP"]

MATRIX = 10  # validation items in the similarity matrix
SHOWN = 24  # images in the zero-shot picture
JUDGED = 500  # validation images behind the per-class bars
GALLERY = 1024  # validation images kept (as pixels) for answering prompts by retrieval


class CLIP(Recipe):
    name = "clip"
    title = "CLIP"
    description = ("An image encoder and a text encoder learn a shared embedding space by "
                   "matching each image with its caption among the batch's captions "
                   "(symmetric contrastive loss, learned temperature); zero-shot "
                   "classification by captions.")
    roles = (
        Role("image_encoder", "An image → its embedding [E] (no normalisation: the recipe "
                              "scales it to length 1)."),
        Role("text_encoder", "A caption's word ids → its embedding [E], as wide as the "
                             "image's."),
    )
    params = PARAMS
    monitor = ("loss", "min")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        o = self.options
        self.image, self.caption = o["image_field"], o["caption_field"]
        for field in (self.image, self.caption):
            if field not in self.info.fields:
                raise RecipeError(f"recipe 'clip' reads field {field!r}, but dataset "
                                  f"{self.info.name!r} has {', '.join(sorted(self.info.fields))}")
        self.scale = LogitScale(o["temperature"], o["learn_temperature"], o["temperature_lr"])
        length = int(self.info.fields[self.caption].shape[0])
        self.zero_shot = ZeroShot.for_data(self.info, length)
        self.swap = WordSwap.for_data(self.info) if o["hard_negatives"] else None
        if o["hard_negatives"] and self.swap is None:
            raise RecipeError(f"hard_negatives swaps attribute words of the captions, but "
                              f"dataset {self.info.name!r} lists no shapes, colours or sizes")
        # The zero-shot class embeddings, made once per validation pass or picture (the
        # weights do not change within one) and forgotten after it.
        self.class_embeddings: tuple[Tensor, Tensor] | None = None
        # uint8 pixels of the first validation images, kept with the checkpoint: what a
        # prompt searches (`layerloom sample` has the weights, not the data)
        self.gallery: Tensor | None = None
        self._pending: list[Tensor] = []  # the gallery while the first validation runs

    # --- embeddings --------------------------------------------------------------------------

    def embed(self, role: str, batch: dict[str, Tensor], train: bool = True) -> Tensor:
        return normalised(self.output(role, self.forward(role, batch, train)))

    def embed_text(self, ids: Tensor) -> Tensor:
        """Normalised embeddings of captions given as word ids (eval mode, no gradient)."""
        return self.embed("text_encoder", {self.caption: ids.to(self.device)}, train=False)

    def check(self, batch):
        img = self.embed("image_encoder", batch, train=False)
        txt = self.embed("text_encoder", batch, train=False)
        if img.shape[1] != txt.shape[1]:
            raise RecipeError(f"the image encoder makes embeddings of {img.shape[1]} numbers and "
                              f"the text encoder of {txt.shape[1]}: they must be as wide")

    def _scale(self) -> Tensor:
        if self.scale.s.device != self.device:
            self.scale.to(self.device)
        return self.scale()

    def _same(self, batch) -> Tensor | None:
        """Which captions of the batch are identical (None: only its own caption counts)."""
        return same_captions(batch[self.caption]) if self.options["same_caption_positive"] \
            else None

    # --- training and validation -------------------------------------------------------------

    def step(self, ctx, batch):
        img = self.embed("image_encoder", batch)
        txt = self.embed("text_encoder", batch)
        same = self._same(batch)
        loss, logits = contrastive_loss(img, txt, self._scale(), same,
                                        *self._hard_negatives(batch))
        ctx.optimize(loss, "image_encoder", "text_encoder")
        self.scale.step()  # its gradient came with the networks' backward pass
        n = img.shape[0]
        # a caption identical to its own is as right as its own, whichever loss trains
        i2t, t2i = retrieval_hits(logits.detach(), same_captions(batch[self.caption]))
        return {"loss": loss.detach(), "image_to_text": i2t.float() / n,
                "text_to_image": t2i.float() / n, "temperature": self.scale.temperature}

    def _hard_negatives(self, batch) -> tuple[Tensor | None, Tensor | None]:
        """Each caption with one attribute swapped, embedded, and which images it fits (a
        swapped caption can be word for word another image's own)."""
        if self.swap is None:
            return None, None
        ids = batch[self.caption]
        wrong = self.swap(ids.repeat(self.options["hard_negatives"], 1), self.generator)
        return (self.embed("text_encoder", {**batch, self.caption: wrong}),
                same_captions(ids, wrong))

    def _classes(self) -> tuple[Tensor, Tensor]:
        if self.class_embeddings is None:
            with torch.no_grad():
                self.class_embeddings = self.zero_shot.classes_of(self.embed_text)
        return self.class_embeddings

    def eval_batch(self, batch):
        img = self.embed("image_encoder", batch, train=False)
        txt = self.embed("text_encoder", batch, train=False)
        same = self._same(batch)
        loss, logits = contrastive_loss(img, txt, self._scale().detach(), same)
        n = img.shape[0]
        i2t, t2i = retrieval_hits(logits, same_captions(batch[self.caption]))
        out = {"n": torch.tensor(n, device=img.device), "loss": loss * n,
               "image_to_text": i2t, "text_to_image": t2i}
        if self.gallery is None:
            self._keep(batch[self.image])
        if self.zero_shot is not None:
            shapes, colours = self._classes()
            for name, field, classes in (("zero_shot_accuracy", "y", shapes),
                                         ("zero_shot_colour", "colour", colours)):
                if field in batch:
                    guess = (img @ classes.t()).argmax(1)
                    out[name] = (guess == batch[field]).sum()
        return out

    def _keep(self, x: Tensor) -> None:
        need = GALLERY - sum(len(p) for p in self._pending)
        if need > 0:
            self._pending.append(self._uint8(x[:need]))

    def _uint8(self, x: Tensor) -> Tensor:
        return (self._pixels(x) * 255).round().to(torch.uint8).cpu()

    def eval_summary(self, totals, count):
        if self.gallery is None and self._pending:  # one whole pass seen: keep it
            self.gallery, self._pending = torch.cat(self._pending), []
        self.class_embeddings = None
        n = max(1.0, float(totals["n"]))
        metrics = {k: float(v) / n for k, v in totals.items() if k != "n"}
        metrics["temperature"] = float(self.scale.temperature)
        return metrics, {}

    # --- state -------------------------------------------------------------------------------

    def state_dict(self):
        state = {"logit_scale": self.scale.state()}
        if self.gallery is not None:
            state["gallery"] = self.gallery.clone()
        return state

    def load_state_dict(self, state):
        self.scale.load(state.get("logit_scale"), self.device)
        gallery = state.get("gallery")
        self.gallery = None if gallery is None else torch.as_tensor(gallery).to(torch.uint8)
        self.class_embeddings = None

    # --- pictures ----------------------------------------------------------------------------

    def _pixels(self, x: Tensor) -> Tensor:
        return unnormalise(self.info, self.image, x.float()).clamp(0, 1)

    def _caption_text(self, ids: Tensor) -> str:
        return decode_caption(ids.tolist(), self.info.vocab)

    def samples(self, data, step, epoch):
        val = data.val
        if not isinstance(val, TensorData) or len(val) == 0:
            return []
        self.class_embeddings = None
        if self.gallery is None:  # pictures before any validation
            self.gallery = self._uint8(val[self.image][:GALLERY].to(self.device))
        events = [self._matrix(val, step, epoch)]
        if self.zero_shot is not None and "y" in val:
            events += self._zero_shot(val, step, epoch)
        return events

    def _matrix(self, val, step, epoch) -> Samples:
        """Cosine similarity of the first images with the first distinct captions."""
        ids = val[self.caption][:64]
        seen, keep = set(), []
        for i, row in enumerate(ids.tolist()):
            if tuple(row) not in seen and len(keep) < MATRIX:
                seen.add(tuple(row))
                keep.append(i)
        index = torch.as_tensor(keep)
        batch = {k: v[index].to(self.device) for k, v in val.items()}
        sim = self.embed("image_encoder", batch, False) @ \
            self.embed("text_encoder", batch, False).t()
        names = [short_caption(self._caption_text(r)) for r in batch[self.caption].cpu()]
        return Samples(step, epoch, "image × caption similarity (cosine)", "matrix",
                       sim.cpu().numpy(), None,
                       {"rows": names, "columns": names, "levels": (-1.0, 1.0),
                        "x_label": "captions", "y_label": "images"})

    def _zero_shot(self, val, step, epoch) -> list[Samples]:
        shapes, _ = self._classes()
        n = min(JUDGED, len(val))
        x = val[self.image][:n].to(self.device)
        img = self.embed("image_encoder", {self.image: x}, False)
        guess = (img @ shapes.t()).argmax(1).cpu()
        truth = val["y"][:n].cpu()
        names = self.zero_shot.classes
        labels = [f"{names[g]} {'✓' if g == t else '✗'}"
                  for g, t in zip(guess[:SHOWN].tolist(), truth[:SHOWN].tolist())]
        right = np.array([float((guess[truth == k] == k).float().mean()) if (truth == k).any()
                          else 0.0 for k in range(len(names))])
        return [Samples(step, epoch, "zero-shot: the nearest class prompt", "images",
                        self._pixels(x[:SHOWN]).cpu().numpy(), labels, {"cols": 8}),
                Samples(step, epoch, f"zero-shot accuracy per shape ({n} images)", "bars",
                        right, list(names), {"reference": 1.0 / len(names)})]

    # --- layerloom sample: retrieval ---------------------------------------------------------

    def sample(self, n, generator, prompt=None, temperature=1.0):
        """The ``n`` kept validation images nearest the prompt's caption embedding (the mean
        over the captions it stands for), nearest first, each captioned with its cosine
        similarity: CLIP draws nothing, it finds."""
        from runtime.prompts import prompt_ids

        if prompt is None:
            raise RecipeError("CLIP makes no images, it finds them: give a prompt such as "
                              "\"a red circle at the top left\"")
        length = int(self.info.fields[self.caption].shape[0])
        ids = torch.as_tensor(np.stack([prompt_ids(text, length, self.info.vocab)
                                        for text in prompt_captions(prompt, self.info)]))
        if self.gallery is None:
            raise RecipeError("no validation images to search yet: they are kept at the "
                              "run's first validation, with its checkpoint")
        pixels = self.gallery.float() / 255
        with torch.no_grad():
            txt = F.normalize(self.embed_text(ids).mean(0, keepdim=True), dim=1)
            x = normalise(self.info, self.image, pixels.to(self.device))
            img = torch.cat([self.embed("image_encoder", {self.image: part}, False)
                             for part in x.split(256)])
            sim = (img @ txt.t())[:, 0]
            best = sim.argsort(descending=True)[:n].cpu()
        return Samples(0, 0, f"nearest images to \"{prompt}\"", "images",
                       pixels[best].numpy(), [f"{float(sim[i]):.2f}" for i in best])
