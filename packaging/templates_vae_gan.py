"""The VAE-GAN's gallery template (written by packaging/build_templates.py).

Three networks on offline glyph digits, pixels in [0, 1] (normalize off): a convolutional
encoder ending in a Reparameterize block, a decoder of transposed convolutions ending in a
Sigmoid (the generator), and the course's discriminator without dropout, whose second
convolution's activation (``d_features``) is the layer the reconstruction is measured in.
The discriminator learns ten times slower than the VAE: a discriminator that wins early
makes its features, and so the reconstruction loss, a target that runs away.
"""

from __future__ import annotations

from template_parts import IMAGE, _seq, glyphs, image_in, lay_out

from builder.document import Network, OptimizerConfig, Project, RecipeConfig, TrainingSettings

__all__ = ["BUILDERS"]

LATENT = 16
ROLES = ("encoder", "decoder", "discriminator")


def _encoder() -> Network:
    """Two stride-2 convolutions to 7×7, then μ and log σ² heads → Reparameterize → z."""
    enc = Network("encoder")
    trunk = _seq(enc, image_in("x"),
                 ("Conv2d", "conv1", {"filters": 32, "kernel": 4, "stride": 2, "padding": 1}),
                 ("LeakyReLU", "act1", {"alpha": 0.2}),
                 ("Conv2d", "conv2", {"filters": 64, "kernel": 4, "stride": 2, "padding": 1}),
                 ("LeakyReLU", "act2", {"alpha": 0.2}), ("Flatten", "flatten", {}))
    _seq(enc, ("Linear", "mu", {"units": LATENT}), after=trunk)
    _seq(enc, ("Linear", "logvar", {"units": LATENT}), after=trunk)
    enc.add("Reparameterize", id="sample", beta=1.0)
    enc.connect("mu", "sample", dst_port="mu")
    enc.connect("logvar", "sample", dst_port="logvar")
    _seq(enc, ("Output", "z", {}), after="sample")
    return enc


def _decoder() -> Network:
    """z → dense to 64×7×7 → two transposed convolutions up to 28×28 → Sigmoid."""
    dec = Network("decoder")
    _seq(dec, ("Input", "code", {"shape": [LATENT], "kind": "vector", "field": "code",
                                 "source": "recipe"}),
         ("Linear", "fc", {"units": 64 * 7 * 7}), ("BatchNorm", "bn0", {}), ("ReLU", "relu0", {}),
         ("Reshape", "grid", {"shape": [64, 7, 7]}),
         ("ConvTranspose2d", "up1", {"filters": 32, "kernel": 4, "stride": 2, "padding": 1}),
         ("BatchNorm", "bn1", {}), ("ReLU", "relu1", {}),
         ("ConvTranspose2d", "up2", {"filters": IMAGE[0], "kernel": 4, "stride": 2,
                                     "padding": 1}),
         ("Sigmoid", "pixels", {}), ("Output", "image", {}))
    return dec


def _discriminator() -> Network:
    """Conv → LeakyReLU twice (the second activation is D_l), then one logit."""
    disc = Network("discriminator")
    _seq(disc, image_in(),
         ("Conv2d", "d_conv1", {"filters": 32, "kernel": 4, "stride": 2, "padding": 1}),
         ("LeakyReLU", "d_act1", {"alpha": 0.2}),
         ("Conv2d", "d_conv2", {"filters": 64, "kernel": 4, "stride": 2, "padding": 1}),
         ("LeakyReLU", "d_features", {"alpha": 0.2}),
         ("Flatten", "d_flat", {}), ("Linear", "d_score", {"units": 1}),
         ("Output", "realness", {}))
    return disc


def vae_gan_digits() -> Project:
    nets = {"encoder": _encoder(), "decoder": _decoder(), "discriminator": _discriminator()}
    for net in nets.values():
        lay_out(net)
    adam = {name: OptimizerConfig("adam", 2e-3, {"betas": [0.5, 0.999]}) for name in ROLES}
    adam["discriminator"].lr = 2e-4
    return Project(
        networks=nets,
        dataset=glyphs(10_000),
        recipe=RecipeConfig("vae_gan", {r: r for r in ROLES},
                            {"feature_node": "d_features", "gamma": 0.5, "pixel_loss": "bce"}),
        training=TrainingSettings(epochs=3, batch_size=64, optimizers=adam,
                                  samples_every=200, samples_unit="steps"),
        description=(
            "VAE-GAN on glyph digits\n"
            "A VAE whose decoder is also a GAN's generator: the reconstruction is measured in "
            "the discriminator's features (layer d_features) instead of pixel by pixel. A "
            "plain VAE with the same starting weights trains on the same batches. Compare "
            "the rows: the plain VAE's reconstructions and prior samples blur, the VAE-GAN's "
            "keep crisper strokes (see each row's sharpness and the Fréchet distance)."),
    )


BUILDERS = {"vae_gan_digits": vae_gan_digits}
