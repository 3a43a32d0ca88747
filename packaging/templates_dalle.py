"""The DALL·E miniature's gallery template (written by packaging/build_templates.py).

Three networks on 32×32 captioned shapes, pixels in [0, 1] (normalize off).  The encoder and
decoder are the VQ-VAE template's (an 8×8 map of codes from a codebook of 64); the prior is
a small GPT: the caption's word embeddings and the code map's token embeddings joined into
one sequence of 10 + 64 steps, learned positions, causal pre-norm Transformer layers, and a
Linear at every step that scores the 64 codes.  Step 9 + i (the caption's last word, then
code i − 1) predicts code i, so the same network reads the caption and writes the picture.
"""

from __future__ import annotations

from template_parts import _seq, lay_out
from templates_vqvae import CODES, GRID, _decoder, _encoder

from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from runtime.data.shapes import VOCAB

__all__ = ["BUILDERS"]

CAPTION = 10  # words of a one-shape caption, <bos> and <eos> included
WIDTH = 128  # the prior's width
LAYERS = 3


def _prior() -> Network:
    """[caption ; codes] → causal Transformer → one score per code at every step."""
    net = Network("prior")
    _seq(net, ("Input", "caption", {"shape": [CAPTION], "kind": "tokens",
                                    "field": "caption"}),
         ("Embedding", "words", {"vocab": len(VOCAB), "dim": WIDTH}))
    # Any number of codes (in ONNX too): drawing feeds only the codes written so far.
    _seq(net, ("Input", "codes", {"shape": ["L"], "kind": "tokens", "field": "codes",
                                  "source": "recipe"}),
         ("Embedding", "image_tokens", {"vocab": CODES, "dim": WIDTH}))
    net.add("Concat", id="text_then_image", inputs=2, axis=0)  # along the steps
    net.connect("words", "text_then_image", dst_port="x1")
    net.connect("image_tokens", "text_then_image", dst_port="x2")
    steps = [("PositionalEncoding", "positions", {"mode": "learned",
                                                  "max_len": CAPTION + GRID * GRID})]
    steps += [("TransformerEncoderLayer", f"layer{i}",
               {"heads": 4, "feedforward": 2 * WIDTH, "dropout": 0.0, "norm_first": True,
                "activation": "gelu", "causal": True}) for i in range(1, LAYERS + 1)]
    steps += [("LayerNorm", "final_norm", {}),
              ("TimeDistributedLinear", "next_code", {"units": CODES}),
              ("Output", "logits", {})]
    _seq(net, *steps, after="text_then_image")
    return net


def dalle_shapes() -> Project:
    nets = {"encoder": _encoder(), "decoder": _decoder(), "prior": _prior()}
    for net in nets.values():
        lay_out(net)
    return Project(
        networks=nets,
        dataset=DatasetConfig("shapes", {"n_samples": 12_000, "normalize": False}),
        # A quarter of the run for the VQ-VAE: 900 steps, after which its reconstructions
        # keep a shape's colour (98% of validation pictures by the attribute classifier; 31%
        # after 450 steps at half the rate) though they blur its outline (20%).
        recipe=RecipeConfig("dalle", {r: r for r in nets}, {"vqvae_share": 0.25}),
        training=TrainingSettings(epochs=24, batch_size=64,
                                  optimizers={"*": OptimizerConfig("adam", 2e-3),
                                              "prior": OptimizerConfig("adam", 1e-3)},
                                  schedule={"name": "cosine"},  # decays within each stage
                                  samples_every=100, samples_unit="steps"),
        description=(
            "DALL·E in miniature on captioned shapes\n"
            "First a VQ-VAE learns to write each picture as 64 codes; then, with it frozen, "
            "a small causal Transformer reads a caption and learns to continue it with the "
            "picture's codes, one at a time. Type a prompt such as \"a large red circle at "
            "the top left\": the Transformer writes 64 codes and the VQ-VAE's decoder paints "
            "them."),
    )


BUILDERS = {"dalle_shapes": dalle_shapes}
