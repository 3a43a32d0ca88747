"""Greedy layer-wise pre-training: a deep network's hidden layers learn one at a time, each
without labels on what the frozen layers below make of the data, then the whole network is
fine-tuned with labels beside a copy of itself trained from its random initial weights.

The ``layerwise`` recipe finds the stack in the ``model`` network (Input → [Flatten] →
hidden layers → head → Output) and declares one stage per hidden layer, then ``fine-tune``:

- ``method`` ``autoencoder`` (a stacked autoencoder, Bengio et al. 2007): the layer and its
  activation encode, a decoder of its own (tied: the layer's weights transposed, plus a bias)
  reconstructs the layer's input; sub-recipe ``layer_autoencoder``.
- ``method`` ``rbm`` (a deep belief network, Hinton et al. 2006): the layers are RBM blocks,
  each trained by contrastive divergence CD-k; sub-recipe ``layer_rbm``.
- ``fine-tune``: the ``fine_tune`` recipe: classification by back-propagation through every
  layer while the from-scratch twin (the network as it was before pre-training) learns from
  the same batches; ``accuracy`` and ``scratch_accuracy`` share one plot.

Each pre-training stage shows its reconstruction error (``loss``), reconstructions of
validation digits taken back down through the stack to pixels, and the first layer's
filters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from builder.blocks.modules.rbm import RBM
from builder.blocks.spec import Param
from runtime.recipes.base import RecipeError, Stage
from runtime.recipes.classification import Classification
from runtime.recipes.layer_parts import LayerRecipe, id_list, stack_layers, weighted_nodes

__all__ = ["Layerwise", "LayerAutoencoder", "LayerRBM"]

CD_K = Param("cd_k", "int", 1, min=1, max=100,
             help="Gibbs steps per contrastive-divergence update (CD-k).")
TIED = Param("tied", "bool", True,
             help="The decoder uses the layer's weights transposed (plus a bias of its own).")
NOISE = Param("noise", "float", 0.0, min=0.0, max=0.9,
              help="Share of each layer's inputs set to zero before encoding (a stacked "
                   "denoising autoencoder); 0: plain.")


class Layerwise(Classification):
    name = "layerwise"
    title = "Greedy layer-wise pre-training"
    description = ("Pre-train each hidden layer alone, bottom up, as an autoencoder or an RBM "
                   "(CD-k) on the frozen layers below, then fine-tune everything with labels "
                   "beside the same network trained from its random initialisation.")
    tasks = ("classification",)
    params = Classification.params + (
        Param("method", "choice", "autoencoder", choices=("autoencoder", "rbm"),
              help="autoencoder: each layer learns to reconstruct its input through a "
                   "decoder; rbm: the layers are RBM blocks trained by contrastive "
                   "divergence (a deep belief network)."),
        Param("layers", "str", "",
              help="The layers to pre-train, bottom first (comma-separated node ids); "
                   "empty: every hidden layer with weights below the head."),
        Param("head", "str", "",
              help="The output layer, trained only in fine-tuning (node id); empty: the "
                   "last layer with weights."),
        CD_K, TIED, NOISE,
        Param("pretrain_share", "float", 0.5, min=0.05, max=0.95,
              help="Share of the run's epochs spent pre-training, split evenly among the "
                   "layers."),
        Param("scratch", "bool", True,
              help="Train the from-scratch copy alongside fine-tuning, for the comparison."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        o = self.options
        self.layers, self.head_id = stack_layers(self.nets["model"], o["method"],
                                                 id_list(o["layers"]), o["head"],
                                                 self.names["model"])

    def stages(self):
        o = self.options
        share = o["pretrain_share"] / len(self.layers)
        if o["method"] == "rbm":
            recipe, extra = "layer_rbm", {"cd_k": o["cd_k"]}
        else:
            recipe, extra = "layer_autoencoder", {"tied": o["tied"], "noise": o["noise"]}
        # Pictures go back down to pixels only through a stack pre-trained from the bottom.
        bottom = [i for i, _ in weighted_nodes(self.nets["model"])]
        stages = [Stage(f"pre-train {node}", share=share, recipe=recipe,
                        params={"layer": node, **extra, "below": ",".join(self.layers[:i])
                                if self.layers[:i + 1] == bottom[:i + 1] else ""},
                        train={"model": [node]})
                  for i, node in enumerate(self.layers)]
        keep = {k: o[k] for k in ("target", "output", "label_smoothing", "top_k", "scratch")}
        return [*stages, Stage("fine-tune", recipe="fine_tune", params=keep)]


class LayerAutoencoder(LayerRecipe):
    name = "layer_autoencoder"
    title = "One autoencoder layer (layer-wise pre-training)"
    description = ("Trains one layer of a network alone, as the encoder of an autoencoder "
                   "whose decoder is the recipe's own, on the input the layers below give it; "
                   "a stage of the layerwise recipe, or used on its own.")
    params = LayerRecipe.params + (TIED, NOISE)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        weight = getattr(self.layer, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
            raise RecipeError(f"recipe {self.name!r}: layer {self.layer_id!r} is a "
                              f"{type(self.layer).__name__}; it pre-trains Linear or RBM "
                              "layers")
        hidden, visible = weight.shape
        decoder = nn.Linear(hidden, visible)
        if self.options["tied"]:  # only the bias is the decoder's own
            decoder = nn.ParameterDict({"bias": nn.Parameter(torch.zeros(visible))})
        role = "decoder"
        self.nets[role] = self.calls[role] = decoder.to(weight.device)
        self.names[role] = f"{self.names['model']}_{self.layer_id}_decoder"
        self.bce: bool | None = None  # chosen from the data: inputs in [0, 1] or not

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        decoder = self.nets["decoder"]
        if self.options["tied"]:
            return F.linear(h, self.layer.weight.t(), decoder["bias"])
        return decoder(h)

    def down(self, h):
        out = self._logits(h)
        return torch.sigmoid(out) if self.bce else out

    def _error(self, v: torch.Tensor, train: bool) -> torch.Tensor:
        """Reconstruction error per sample: cross-entropy for inputs in [0, 1] (pixels,
        sigmoid codes), squared error otherwise; summed over the layer's inputs."""
        if self.bce is None:
            self.bce = bool(v.min() >= 0 and v.max() <= 1)
        shown = v
        if train and self.options["noise"] > 0:
            u = torch.rand(v.shape, device=v.device, generator=self.generator)
            shown = v.masked_fill(u < self.options["noise"], 0.0)
        out = self._logits(self.code(shown))
        if self.bce:
            return F.binary_cross_entropy_with_logits(out, v, reduction="none").sum(1)
        return (out - v).square().sum(1)

    def check(self, batch):
        v = self.visible(batch)
        self.bce = bool(v.min() >= 0 and v.max() <= 1)
        self._error(v, False)

    def step(self, ctx, batch):
        v = self.visible(batch)
        loss = self._error(v, True).mean()  # summed over inputs: SGD's usual scale
        ctx.optimize(loss, "model", "decoder")
        return {"loss": loss.detach() / v.shape[1]}  # reported per input, beside the CE

    def eval_batch(self, batch):
        v = self.visible(batch)
        return {"loss": self._error(v, False).sum() / v.shape[1],
                "n": torch.tensor(v.shape[0], device=v.device)}

    def state_dict(self):
        return {"bce": self.bce}

    def load_state_dict(self, state):
        self.bce = state.get("bce", self.bce)


class LayerRBM(LayerRecipe):
    name = "layer_rbm"
    title = "One RBM layer by contrastive divergence (layer-wise pre-training)"
    description = ("Trains one RBM block of a network alone with contrastive divergence "
                   "(CD-k) on the input the layers below give it; a stage of the layerwise "
                   "recipe (a deep belief network), or used on its own.")
    params = LayerRecipe.params + (CD_K,)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(self.layer, RBM):
            raise RecipeError(f"recipe {self.name!r}: layer {self.layer_id!r} is a "
                              f"{type(self.layer).__name__}, not an RBM block")

    def down(self, h):
        return self.layer.visible_mean(h)

    def check(self, batch):
        v = self.visible(batch)
        if self.layer.visible_type == "bernoulli" and (v.min() < 0 or v.max() > 1):
            raise RecipeError(
                f"RBM {self.layer_id!r} has bernoulli visible units, which need inputs in "
                f"[0, 1], but it receives values in [{float(v.min()):.3g}, "
                f"{float(v.max()):.3g}]: turn the dataset's normalize off, or set the "
                "block's visible to gaussian")
        self.layer.cd_loss(v, self.options["cd_k"])

    def _metrics(self, v, generator):
        """(the CD-k objective F(v) − F(v_k), a batch mean; the squared error of the
        chain's end v_k per sample, summed over the visible units)."""
        gap, negative = self.layer.cd_loss(v, self.options["cd_k"], generator)
        return gap, (negative - v).square().sum(1)

    def step(self, ctx, batch):
        v = self.visible(batch)
        # CD-k is no loss's gradient, but F(v₀) − F(v_k) with v_k held constant has exactly
        # the CD-k gradient: the trainer's step (clipping, penalties, statistics) applies it.
        gap, error = self._metrics(v, self.generator)
        ctx.optimize(gap, "model")
        d = v.shape[1]  # reported per visible unit, on the scale of the fine-tuning loss
        return {"loss": error.mean().detach() / d, "loss_free_energy_gap": gap.detach() / d}

    def eval_batch(self, batch):
        v = self.visible(batch)
        # A fixed stream: validation must not move the training noise (resumes repeat runs).
        g = torch.Generator(v.device).manual_seed(0)
        gap, error = self._metrics(v, g)
        d = v.shape[1]
        return {"loss": error.sum() / d, "loss_free_energy_gap": gap * v.shape[0] / d,
                "n": torch.tensor(v.shape[0], device=v.device)}
