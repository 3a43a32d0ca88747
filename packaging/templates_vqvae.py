"""The VQ-VAE's gallery template (written by packaging/build_templates.py).

Two networks on 32×32 shapes, pixels in [0, 1] (normalize off): a convolutional encoder down
to an 8×8 grid of latent vectors, a VectorQuantiser with a codebook of 64, and a decoder of
transposed convolutions ending in a Sigmoid.  Each image becomes 64 integers below 64: the
token grid the DALL·E miniature later learns to write.
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

__all__ = ["BUILDERS"]

LATENT = 32  # numbers per code vector
GRID = 8  # the code map's side
CODES = 64


def _encoder() -> Network:
    """32 → 16 → 8 by two stride-2 convolutions, a 3×3 convolution to the latent size, then
    the quantiser."""
    enc = Network("encoder")
    _seq(enc, ("Input", "x", {"shape": [3, 32, 32], "kind": "image"}),
         ("Conv2d", "conv1", {"filters": 32, "kernel": 4, "stride": 2, "padding": 1}),
         ("ReLU", "relu1", {}),
         ("Conv2d", "conv2", {"filters": 64, "kernel": 4, "stride": 2, "padding": 1}),
         ("ReLU", "relu2", {}),
         ("Conv2d", "to_latent", {"filters": LATENT, "kernel": 3, "padding": 1}),
         ("VectorQuantiser", "quantise", {"codes": CODES, "beta": 0.25}),
         ("Output", "latents", {}))
    return enc


def _decoder() -> Network:
    """The quantised 8×8 grid → a 3×3 convolution → two transposed convolutions to 32×32."""
    dec = Network("decoder")
    _seq(dec, ("Input", "latents", {"shape": [LATENT, GRID, GRID], "kind": "image",
                                    "field": "latents", "source": "recipe"}),
         ("Conv2d", "conv", {"filters": 64, "kernel": 3, "padding": 1}),
         ("ReLU", "relu0", {}),
         ("ConvTranspose2d", "up1", {"filters": 32, "kernel": 4, "stride": 2, "padding": 1}),
         ("ReLU", "relu1", {}),
         ("ConvTranspose2d", "up2", {"filters": 3, "kernel": 4, "stride": 2, "padding": 1}),
         ("Sigmoid", "pixels", {}), ("Output", "image", {}))
    return dec


def vqvae_shapes() -> Project:
    nets = {"encoder": _encoder(), "decoder": _decoder()}
    for net in nets.values():
        lay_out(net)
    return Project(
        networks=nets,
        dataset=DatasetConfig("shapes", {"n_samples": 12_000, "normalize": False}),
        recipe=RecipeConfig("vqvae", {"encoder": "encoder", "decoder": "decoder"}),
        training=TrainingSettings(epochs=5, batch_size=64,
                                  optimizers={"*": OptimizerConfig("adam", 2e-3)},
                                  samples_every=100, samples_unit="steps"),
        description=(
            "VQ-VAE on 32×32 shapes\n"
            "The encoder turns each image into an 8×8 grid of vectors and the quantiser "
            "snaps each to the nearest of 64 learned codes, so a picture becomes 64 small "
            "integers; the decoder paints the image back from them. Watch the "
            "reconstructions (input | code map | reconstruction) and the codebook usage: "
            "how many of the 64 codes the images really use."),
    )


BUILDERS = {"vqvae_shapes": vqvae_shapes}
