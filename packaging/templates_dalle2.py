"""DALL·E 2 in miniature's gallery template (written by packaging/build_templates.py).

Four networks on the captioned shapes, pixels in [0, 1] (normalize off):

- ``image_encoder`` and ``text_encoder``: CLIP's two towers (the CLIP template's own). The
  first stage trains them as CLIP; then both are frozen.
- ``prior``: the text embedding, a noised image embedding z_t and the step t → the clean
  image embedding. An MLP over the three joined side by side: DALL·E 2's prior is a
  Transformer over the same few vectors, which an MLP reads as well when they are this few.
- ``decoder``: x_t, t, the CLIP image embedding and the caption → ε̂. The embedding (through
  a Linear) and the mean of the caption's word vectors (an Embedding of its own, learnt with
  the decoder) are added to the step's embedding; the sum steers every level of a U-Net
  through FiLM. DALL·E 2's decoder keeps GLIDE's text pathway so, for what the picture
  embedding leaves out; it learns without the caption in a fifth of its samples, which
  variations need.
"""

from __future__ import annotations

from template_parts import _seq, lay_out
from templates_clip import CAPTION, EMBED, _image_encoder, _text_encoder, caption_words

from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from runtime.data.shapes import VOCAB

__all__ = ["BUILDERS", "prior", "decoder"]

SIDE = 32
WIDTH = 128  # the decoder's condition vector


def prior(width: int = 512, layers: int = 3) -> Network:
    """text [E], z_t [E], t → ẑ_0 [E], the image embedding the caption should have."""
    net = Network("prior")
    net.add("Input", id="text", shape=[EMBED], kind="vector", field="text", source="recipe")
    net.add("Input", id="z_t", shape=[EMBED], kind="vector", field="z_t", source="recipe")
    _seq(net, ("Input", "t", {"shape": [1], "kind": "vector", "field": "t",
                              "source": "recipe"}),
         ("TimestepEmbedding", "step", {"dim": 64, "out": EMBED}))
    net.add("Concat", id="join", inputs=3)
    for i, src in enumerate(("text", "z_t", "step"), start=1):
        net.connect(src, "join", dst_port=f"x{i}")
    steps = []
    for i in range(1, layers + 1):
        steps += [("Linear", f"fc{i}", {"units": width}), ("SiLU", f"act{i}", {})]
    _seq(net, *steps, ("Linear", "z_0", {"units": EMBED}), ("Output", "embedding", {}),
         after="join")
    return lay_out(net)


def _caption_ids(net: Network, units: int) -> str:
    """The decoder's own text pathway, GLIDE's: the caption's word ids (from the data)
    through a learned Embedding, averaged; returns the last node."""
    return _seq(net, ("Input", "caption", {"shape": [CAPTION], "kind": "tokens",
                                           "field": "caption"}),
                ("Embedding", "caption_words", {"vocab": len(VOCAB), "dim": units}),
                ("TimePool", "caption_mean", {"mode": "mean"}))


def decoder(filters: int = 24, depth: int = 3, words: str | None = "features") -> Network:
    """x_t [3, 32, 32], t, the CLIP image embedding [E] (and the caption: ``words``
    features, the frozen text encoder's per-word features; ids, a learned embedding of the
    word ids) → ε̂."""
    net = Network("decoder")
    _seq(net, ("Input", "embedding", {"shape": [EMBED], "kind": "vector",
                                      "field": "embedding", "source": "recipe"}),
         ("Linear", "embedding_proj", {"units": WIDTH}))
    _seq(net, ("Input", "t", {"shape": [1], "kind": "vector", "field": "t",
                              "source": "recipe"}),
         ("TimestepEmbedding", "step", {"dim": 64, "out": WIDTH}))
    text = {"features": caption_words, "ids": _caption_ids, None: None}[words]
    sources = ["embedding_proj", "step", *([text(net, WIDTH)] if text else [])]
    net.add("Add", id="condition", inputs=len(sources))
    for i, src in enumerate(sources, start=1):
        net.connect(src, "condition", dst_port=f"x{i}")
    _seq(net, ("SiLU", "c", {}), after="condition")
    net.add("Input", id="x_t", shape=[3, SIDE, SIDE], kind="image", field="x_t",
            source="recipe")
    net.add("UNet", id="unet", filters=filters, depth=depth, out_channels=3, norm="group",
            level="residual", output="none", condition="film")
    net.connect("x_t", "unet", dst_port="x")
    net.connect("c", "unet", dst_port="c")
    _seq(net, ("Output", "eps", {}), after="unet")
    return lay_out(net)


# CLIP's towers and the prior at 1e-3; the decoder peaks at 3e-3 under the cosine schedule.
LR = {"image_encoder": 1e-3, "text_encoder": 1e-3, "prior": 1e-3, "decoder": 3e-3}


def dalle2_shapes() -> Project:
    nets = {"image_encoder": lay_out(_image_encoder()),
            "text_encoder": lay_out(_text_encoder()), "prior": prior(),
            "decoder": decoder(words="ids")}
    return Project(
        networks=nets,
        dataset=DatasetConfig("shapes", {"n_samples": 16_000, "size": str(SIDE),
                                         "normalize": False, "val_fraction": 0.05}),
        # Each stage in the batches it learns best from: CLIP in 64s with nine hard negatives
        # per picture (5 epochs: the picture embedding, all the decoder gets of a variation,
        # then holds the shape, 86-89% by a linear probe against 59% after 2), the prior and
        # the decoder in 16s, as on the diffusion template (13 epochs, 12,350 steps on 16,000
        # pictures: 17 minutes on two cores with channels-last convolutions), with a weight
        # average spanning ~200 steps.  The decoder reads the caption too, missing it in one
        # sample of five.  Its epochs decide the shapes: after 6 of them 45% to 62% of the
        # pictures (five runs), after 11 79-86%, after 13 89-93%.
        recipe=RecipeConfig("dalle2", {r: r for r in nets},
                            {"clip_share": 0.28, "timesteps": 1000, "guidance": 3.0,
                             "caption_drop": 0.2,
                             "prediction": "v", "clip_batch_size": 64, "hard_negatives": 9,
                             "ema": 0.995}),
        training=TrainingSettings(epochs=18, batch_size=16,
                                  optimizers={r: OptimizerConfig("adam", LR[r]) for r in nets},
                                  schedule={"name": "cosine", "min_factor": 0.0,
                                            "warmup_epochs": 0.1},
                                  samples_every=1, samples_unit="epochs"),
        description=(
            "DALL·E 2 in miniature: captions to CLIP to pictures\n"
            "First CLIP learns one space for pictures and captions. Then a prior learns to "
            "turn a caption's point in that space into a picture's point, and a diffusion "
            "decoder learns to draw a picture from a picture's point. Re-drawing a picture "
            "from its own point gives variations of it. Type a prompt on the Samples tab: "
            "\"a large red heart at the right\"."),
    )


BUILDERS = {"dalle2_shapes": dalle2_shapes}
