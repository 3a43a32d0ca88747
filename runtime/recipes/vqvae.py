"""VQ-VAE: an ``encoder`` (image → latents → a VectorQuantiser block, whose quantised latents
are the network's output) and a ``decoder`` (quantised latents → the image rebuilt; its Input
has source ``recipe`` and field ``latents``).

The loss is the reconstruction's mean squared error; the quantiser's codebook and commitment
losses are the block's auxiliary loss, which ``ctx.optimize`` adds (the straight-through
estimator carries the reconstruction's gradient past the quantiser into the encoder).  The
reported ``loss`` is the whole objective, in training and in validation alike.  The codebook
loss ‖sg[x] − q‖² and the commitment loss ‖x − sg[q]‖² have the same value and differ only in
where their gradient goes, so one figure reports both: ``quantisation``, the mean ‖x − q‖²
(the block's aux loss is (1 + β) times it).  Validation
also tells how much of the codebook is in use (its share of codes chosen, and the perplexity
e^H of the codes' distribution: K when all are used equally, 1 when one code does it all).

``layerloom sample`` refuses: a VQ-VAE learns no distribution over its code maps, and codes
drawn independently decode to patchwork.  Learning that prior (a transformer over the codes)
is the DALL·E miniature's second stage.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from builder.blocks.modules.quantise import VectorQuantiser
from builder.blocks.spec import Param
from runtime.data.core import TensorData
from runtime.events import Samples
from runtime.recipes.base import Feed, Recipe, RecipeError, Role
from runtime.recipes.units import unnormalise

__all__ = ["VQVAE", "perplexity", "code_colours"]

ROWS = 16  # images in the reconstruction grid
POINTS = 1000  # validation images whose codes make the usage bars


def perplexity(counts: Tensor) -> Tensor:
    """e^H of the distribution that ``counts`` [K] describe (H in nats)."""
    p = counts.float() / counts.float().sum().clamp_min(1)
    return torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())


def code_colours(codes: Tensor, k: int, size: tuple[int, int]) -> Tensor:
    """A code map [N, h, w] as pictures [N, 3, *size]: a fixed colour per code, each cell
    blown up to the image's size so it lines up with the image it describes."""
    palette = torch.rand(k, 3, generator=torch.Generator().manual_seed(7)).to(codes.device)
    pictures = palette[codes].permute(0, 3, 1, 2)
    return F.interpolate(pictures, size=tuple(size), mode="nearest")


class VQVAE(Recipe):
    name = "vqvae"
    title = "VQ-VAE (vector-quantised autoencoder)"
    description = ("An encoder turns each image into a grid of latent vectors, a vector "
                   "quantiser snaps each to the nearest of K learned codes, and a decoder "
                   "rebuilds the image from them.")
    roles = (
        Role("encoder", "An image → its latents, ending in a VectorQuantiser block whose "
                        "quantised latents are the output."),
        Role("decoder", "The quantised latents → the image rebuilt; its Input has source "
                        "'recipe' and field 'latents'."),
    )
    feeds = (Feed("decoder", "latents", "the encoder's quantised latents"),)
    params = (
        Param("field", "str", "x", help="The data field to rebuild (the encoder reads it)."),
    )
    monitor = ("loss", "min")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.field = self.options["field"]
        if not any(s.field == self.field for s in self.fed_inputs("encoder")):
            raise RecipeError(f"the encoder {self.names['encoder']!r} needs an Input reading "
                              f"field {self.field!r}")
        found = [m for m in self.nets["encoder"].modules() if isinstance(m, VectorQuantiser)]
        if len(found) != 1:
            raise RecipeError(f"the encoder {self.names['encoder']!r} needs exactly one "
                              f"VectorQuantiser block before its output; it has {len(found)}")
        self.vq: VectorQuantiser = found[0]
        self.latents_spec = next(s for s in self.recipe_inputs("decoder")
                                 if s.field == "latents")

    # --- the networks ------------------------------------------------------------------------

    def encode(self, batch, x: Tensor, train: bool = True) -> Tensor:
        """The quantised latents (the quantiser leaves its codes and losses on ``self.vq``)."""
        return self.output("encoder", self.forward("encoder", batch, train,
                                                   replace={self.field: x}))

    def decode(self, batch, latents: Tensor, train: bool = True) -> Tensor:
        return self.output("decoder", self.forward("decoder", batch, train,
                                                   replace={"latents": latents}))

    def raw(self, x: Tensor) -> Tensor:
        return unnormalise(self.info, self.field, x.float())

    def check(self, batch):
        x = batch[self.field]
        latents = self.encode(batch, x, train=False)
        want = tuple(self.latents_spec.shape)
        if tuple(latents.shape[1:]) != want:
            raise RecipeError(f"the encoder {self.names['encoder']!r} outputs latents of shape "
                              f"{list(latents.shape[1:])}, but the decoder "
                              f"{self.names['decoder']!r} input {self.latents_spec.name!r} "
                              f"takes {list(want)}")
        out = self.decode(batch, latents, train=False)
        if out.shape != x.shape:
            raise RecipeError(f"the decoder {self.names['decoder']!r} outputs "
                              f"{list(out.shape[1:])} per sample; it must rebuild field "
                              f"{self.field!r}, {list(x.shape[1:])}")

    def counts(self) -> Tensor:
        """How many positions chose each code in the last forward, [K]."""
        codes = self.vq.codes.reshape(-1)
        k = self.vq.codebook.num_embeddings
        # scatter, not bincount: no wait for the device to learn the output's size
        return torch.zeros(k, device=codes.device).scatter_add_(
            0, codes, torch.ones(codes.shape, device=codes.device))

    # --- one step ----------------------------------------------------------------------------

    def step(self, ctx, batch):
        x = batch[self.field]
        out = self.decode(batch, self.encode(batch, x))
        recon = F.mse_loss(out.float(), x.float())
        ctx.optimize(recon, "encoder", "decoder")  # adds the quantiser's aux loss itself
        vq = self.vq
        return {"loss": recon.detach() + vq.aux_loss.detach(), "recon": recon.detach(),
                "quantisation": vq.commitment_loss.detach(),
                "perplexity": perplexity(self.counts())}

    # --- validation --------------------------------------------------------------------------

    def eval_batch(self, batch):
        x = batch[self.field]
        out = self.decode(batch, self.encode(batch, x, False), False)
        n = torch.tensor(float(x.shape[0]), device=x.device)
        return {"se": (out.float() - x.float()).square().sum(),
                "pixel_se": (self.raw(out) - self.raw(x)).square().sum(),
                "values": n * x[0].numel(), "n": n, "counts": self.counts(),
                "quantisation": self.vq.commitment_loss.float() * n}

    def eval_summary(self, totals, count):
        n = max(1.0, float(totals["n"]))
        recon = float(totals["se"]) / max(1.0, float(totals["values"]))
        error = float(totals["quantisation"]) / n
        counts = totals["counts"]
        metrics = {"loss": recon + (1 + self.vq.beta) * error, "recon": recon,
                   "mse": float(totals["pixel_se"]) / max(1.0, float(totals["values"])),
                   "quantisation": error,
                   "perplexity": float(perplexity(counts)),
                   "codes_used": float((counts > 0).float().mean())}
        return metrics, {}

    # --- pictures ----------------------------------------------------------------------------

    def samples(self, data, step, epoch):
        val = data.val
        if not isinstance(val, TensorData) or len(val) == 0:
            return []  # file-backed parts have no cheap random access to show
        batch = {k: v[:POINTS].to(self.device) for k, v in val.items()}
        x = batch[self.field]
        latents = self.encode(batch, x, False)
        counts = self.counts()
        k = len(counts)
        share = (counts / counts.sum().clamp_min(1)).cpu().numpy()
        events = [Samples(step, epoch, "codebook usage", "bars", share,
                          [str(i) for i in range(k)], {"reference": 1.0 / k})]
        if x.dim() != 4:
            return events
        codes = self.vq.codes[:ROWS]
        few = {key: v[:ROWS] for key, v in batch.items()}
        rebuilt = self.raw(self.decode(few, latents[:ROWS], False))
        shown = [self.raw(x[:ROWS]), rebuilt]
        columns = ["input", "reconstruction"]
        if codes.dim() == 3 and x.shape[1] in (1, 3):  # the code map, one colour per code
            shown = [s.expand(-1, 3, -1, -1) for s in shown]
            shown.insert(1, code_colours(codes, k, x.shape[-2:]))
            columns.insert(1, "codes")
        grid = torch.stack([s.float().clamp(0, 1) for s in shown], 1).flatten(0, 1)
        events.insert(0, Samples(step, epoch, "reconstructions", "images", grid.cpu().numpy(),
                                 None, {"cols": len(shown), "columns": columns}))
        return events

    # --- layerloom sample --------------------------------------------------------------------

    def sample(self, n, generator, prompt=None, temperature=1.0):
        raise RecipeError("a VQ-VAE rebuilds images but learns no distribution over its code "
                          "maps, so it cannot invent new ones (codes drawn at random decode "
                          "to patchwork); the DALL·E miniature learns that prior")
