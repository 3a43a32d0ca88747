"""CLIP's gallery template (written by packaging/build_templates.py).

Two networks on the captioned shapes (32×32, one object each): an image tower of three
convolution stages down to 4×4, flattened (not pooled: the captions name the shape's place,
and a global pool forgets where it was) into a 64-number embedding; a text tower of word
embeddings plus learned positions, one pre-norm Transformer layer that skips the padding,
a mean over the words and a Linear to 64.  The recipe normalises both and learns the
temperature.
"""

from __future__ import annotations

from template_parts import _seq, lay_out

from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from runtime.data.shapes import VOCAB

__all__ = ["BUILDERS", "caption_words"]

EMBED = 64  # the shared embedding's width
WIDTH = 64  # the text tower's width
CAPTION = 10  # words of a one-shape caption, <bos> and <eos> included


def _image_encoder() -> Network:
    net = Network("image_encoder")
    steps = [("Input", "x", {"shape": [3, 32, 32], "kind": "image"})]
    for i, filters in enumerate((32, 64, 64), start=1):
        steps += [("Conv2d", f"conv{i}", {"filters": filters, "kernel": 3, "padding": 1}),
                  ("BatchNorm", f"bn{i}", {}), ("ReLU", f"relu{i}", {}),
                  ("MaxPool2d", f"pool{i}", {"kernel": 2, "stride": 2})]
    steps += [("Flatten", "flatten", {}), ("Linear", "embed", {"units": EMBED}),
              ("Output", "embedding", {})]
    _seq(net, *steps)
    return net


def _text_encoder(tokens: bool = False) -> Network:
    """With ``tokens``, a second Output gives the Transformer layer's per-word features, for
    denoisers that read every word of a caption (Imagen's)."""
    net = Network("text_encoder")
    _seq(net, ("Input", "caption", {"shape": [CAPTION], "kind": "tokens", "field": "caption"}),
         ("Embedding", "words", {"vocab": len(VOCAB), "dim": WIDTH}),
         ("PositionalEncoding", "positions", {"mode": "learned", "max_len": CAPTION}),
         ("TransformerEncoderLayer", "layer1", {"heads": 4, "feedforward": 128,
                                                "dropout": 0.0, "norm_first": True}),
         ("TimePool", "pool", {"mode": "mean"}),
         ("Linear", "embed", {"units": EMBED}), ("Output", "embedding", {}))
    net.add("PaddingMask", id="padding", pad_id=0)
    net.connect("caption", "padding")
    net.connect("padding", "layer1", dst_port="pad_mask")
    net.connect("padding", "pool", dst_port="mask")
    if tokens:
        _seq(net, ("Output", "tokens", {}), after="layer1")
    return net


def caption_words(net: Network, units: int) -> str:
    """A denoiser's view of a caption's per-word features (the text encoder's tokens Output,
    filled by the recipe): their mean, normalised, then a Linear to ``units``; returns the
    last node."""
    return _seq(net, ("Input", "tokens", {"shape": [CAPTION, WIDTH], "kind": "sequence",
                                          "field": "tokens", "source": "recipe"}),
                ("TimePool", "words", {"mode": "mean"}), ("LayerNorm", "words_norm", {}),
                ("Linear", "words_proj", {"units": units}))


def clip_shapes() -> Project:
    nets = {"image_encoder": _image_encoder(), "text_encoder": _text_encoder()}
    for net in nets.values():
        lay_out(net)
    return Project(
        networks=nets,
        dataset=DatasetConfig("shapes", {"n_samples": 20_000}),
        # Nine hard negatives per image (its caption with a shape, colour or size word
        # swapped): zero-shot shapes 80% after 6 epochs, against 71% with none.
        recipe=RecipeConfig("clip", {r: r for r in nets}, {"hard_negatives": 9}),
        training=TrainingSettings(epochs=6, batch_size=128,
                                  optimizers={r: OptimizerConfig("adam", 1e-3) for r in nets},
                                  samples_every=100, samples_unit="steps"),
        description=(
            "CLIP on captioned shapes\n"
            "An image encoder and a text encoder learn one embedding space: each image must "
            "pick its own caption among the batch's captions, and each caption its image. "
            "Then the shapes are classified with no labels at all, by the caption they are "
            "nearest (zero-shot), and a typed prompt finds the images that fit it."),
    )


BUILDERS = {"clip_shapes": clip_shapes}
