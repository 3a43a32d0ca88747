"""The GAN family's gallery templates (written by packaging/build_templates.py).

Two networks each, ``generator`` and ``discriminator``, on offline digits.  The data stay in
[0, 1] (normalize off) and every generator ends in a Sigmoid, so its samples are pixels as
they are; every discriminator ends in one raw score (a logit, or a critic's value): the
recipe's loss applies the sigmoid where the game has one.
"""

from __future__ import annotations

from template_parts import IMAGE, _seq, glyphs, image_in, lay_out

from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)

__all__ = ["BUILDERS"]

ADAM = {"betas": [0.5, 0.999]}  # DCGAN's β₁ = 0.5: less momentum, a steadier game


def _project(description: str, gen: Network, disc: Network, params: dict, dataset: DatasetConfig,
             *, epochs: int, batch: int, optimizer: OptimizerConfig, every: int,
             d_lr: float | None = None) -> Project:
    """``optimizer`` for both networks; ``d_lr``: the discriminator's own learning rate."""
    for net in (gen, disc):
        lay_out(net)
    opts = {name: OptimizerConfig(optimizer.name, optimizer.lr, dict(optimizer.params))
            for name in ("generator", "discriminator")}
    if d_lr is not None:
        opts["discriminator"].lr = d_lr
    return Project(
        networks={"generator": gen, "discriminator": disc},
        dataset=dataset,
        recipe=RecipeConfig("gan", {"generator": "generator", "discriminator": "discriminator"},
                            params),
        training=TrainingSettings(epochs=epochs, batch_size=batch, optimizers=opts,
                                  samples_every=every, samples_unit="steps"),
        description=description,
    )


def _up(gen: Network, after: str, channels: int = 32) -> str:
    """Dense to channels×7×7, then two transposed convolutions up to 28×28 pixels."""
    return _seq(gen,
                ("Linear", "g_dense", {"units": 2 * channels * 7 * 7}),
                ("BatchNorm", "g_bn0", {}), ("ReLU", "g_relu0", {}),
                ("Reshape", "g_grid", {"shape": [2 * channels, 7, 7]}),
                ("ConvTranspose2d", "g_up1", {"filters": channels, "kernel": 4, "stride": 2,
                                              "padding": 1}),
                ("BatchNorm", "g_bn1", {}), ("ReLU", "g_relu1", {}),
                ("ConvTranspose2d", "g_up2", {"filters": 1, "kernel": 4, "stride": 2,
                                              "padding": 1}),
                ("Sigmoid", "g_pixels", {}), ("Output", "fake", {}), after=after)


def _down(disc: Network, after: str, channels: int = 32, dropout: float = 0.3) -> str:
    """The course's discriminator body: Conv → LeakyReLU → Dropout, twice, then Flatten (no
    Dropout for a critic: its scores must not be noisy)."""
    steps: list[tuple] = []
    for i, filters in ((1, channels), (2, 2 * channels)):
        steps += [("Conv2d", f"d_conv{i}", {"filters": filters, "kernel": 4, "stride": 2,
                                            "padding": 1}),
                  ("LeakyReLU", f"d_act{i}", {"alpha": 0.2})]
        if dropout:
            steps.append(("Dropout", f"d_drop{i}", {"p": dropout}))
    return _seq(disc, *steps, ("Flatten", "d_flat", {}), after=after)


def _score(disc: Network, after: str) -> str:
    return _seq(disc, ("Linear", "d_score", {"units": 1}), ("Output", "realness", {}),
                after=after)


# --- the templates -------------------------------------------------------------------------


def _dense_pair() -> tuple[Network, Network]:
    """Two small dense networks for 8×8 digits: 32 noise numbers → 64 pixels → one score."""
    gen, disc = Network("generator"), Network("discriminator")
    _seq(gen, ("Noise", "z", {"shape": [32]}),
         ("Linear", "g_fc1", {"units": 128}), ("LeakyReLU", "g_act1", {"alpha": 0.2}),
         ("Linear", "g_fc2", {"units": 256}), ("LeakyReLU", "g_act2", {"alpha": 0.2}),
         ("Linear", "g_fc3", {"units": 64}), ("Sigmoid", "g_pixels", {}),
         ("Reshape", "g_image", {"shape": [1, 8, 8]}), ("Output", "fake", {}))
    _seq(disc, ("Input", "image", {"shape": [1, 8, 8], "kind": "image"}),
         ("Flatten", "d_flat", {}),
         ("Linear", "d_fc1", {"units": 256}), ("LeakyReLU", "d_act1", {"alpha": 0.2}),
         ("Linear", "d_fc2", {"units": 128}), ("LeakyReLU", "d_act2", {"alpha": 0.2}),
         ("Linear", "d_score", {"units": 1}), ("Output", "realness", {}))
    return gen, disc


def _digits8() -> DatasetConfig:
    return DatasetConfig("digits8", {"normalize": False})


def gan_mlp() -> Project:
    return _project(
        "Vanilla GAN on 8×8 digits\n"
        "Two small dense networks play Goodfellow's game on scikit-learn's digits. Watch the "
        "grid turn from grey noise into digits, and D(x) and D(G(z)) settle near 0.5 as "
        "neither side wins. Set the loss to minimax for the original, saturating generator "
        "loss: it stalls at the start, while the discriminator rejects every fake.",
        *_dense_pair(), {"loss": "standard"}, _digits8(),
        epochs=400, batch=64, optimizer=OptimizerConfig("adam", 1e-3, ADAM), every=200)


def dcgan() -> Project:
    gen, disc = Network("generator"), Network("discriminator")
    _up(gen, _seq(gen, ("Noise", "z", {"shape": [64]})))
    _score(disc, _down(disc, _seq(disc, image_in())))
    return _project(
        "DCGAN on glyph digits\n"
        "A generator of transposed convolutions with batch norm against the course's "
        "discriminator (Conv → LeakyReLU → Dropout, twice, then one logit), Adam with "
        "β₁ = 0.5. Watch the fixed-noise grid sharpen into digits, the Fréchet distance fall "
        "and the generated classes even out over all ten digits.",
        gen, disc, {"loss": "standard", "ema": 0.999}, glyphs(),
        epochs=6, batch=32, optimizer=OptimizerConfig("adam", 1e-3, ADAM), every=200)


def wgan() -> Project:
    return _project(
        "WGAN (weight clipping) on 8×8 digits\n"
        "The vanilla GAN's networks, but the discriminator is a critic whose raw scores "
        "estimate the Wasserstein distance, kept Lipschitz by clipping its weights to ±0.01; "
        "five critic steps per generator step, RMSprop as the paper advises. Watch the "
        "Wasserstein estimate shrink as the digits appear: unlike a GAN's losses, it tracks "
        "how far the samples are from the data.",
        *_dense_pair(), {"loss": "wgan", "d_steps": 5, "clip": 0.01, "ema": 0.999},
        _digits8(), epochs=70, batch=32, optimizer=OptimizerConfig("rmsprop", 5e-4),
        every=200)


def wgan_gp_images() -> Project:
    gen, disc = Network("generator"), Network("discriminator")
    _up(gen, _seq(gen, ("Noise", "z", {"shape": [64]})))
    _score(disc, _down(disc, _seq(disc, image_in()), dropout=0))
    return _project(
        "WGAN-GP on glyph digits\n"
        "A critic kept 1-Lipschitz by a gradient penalty λ·(‖∇D(x̂)‖ − 1)², λ = 10, on "
        "points between real and fake images; five critic steps per generator step, Adam "
        "with β = (0.5, 0.9). Watch the Wasserstein estimate fall and the penalty stay "
        "small: the critic is smooth, so the generator always gets a useful gradient.",
        gen, disc, {"loss": "wgan_gp", "d_steps": 5, "gp_weight": 10.0, "ema": 0.999},
        glyphs(), epochs=2, batch=32,
        optimizer=OptimizerConfig("adam", 5e-4, {"betas": [0.5, 0.9]}), every=100)


def cgan() -> Project:
    gen, disc = Network("generator"), Network("discriminator")
    gen.add("Noise", id="z", shape=[64])
    _seq(gen, ("LabelInput", "label", {"num_classes": 10}),
         ("Embedding", "g_embed", {"vocab": 10, "dim": 16}))
    gen.add("Concat", id="g_join", inputs=2)
    gen.connect("z", "g_join")
    gen.connect("g_embed", "g_join")
    _up(gen, "g_join")
    # D sees the label as a 28×28 plane beside the image: real or fake *for this digit*.
    disc.add("Input", id="image", shape=IMAGE, kind="image")
    _seq(disc, ("LabelInput", "label", {"num_classes": 10}),
         ("Embedding", "d_embed", {"vocab": 10, "dim": 28 * 28}),
         ("Reshape", "d_plane", {"shape": IMAGE}))
    disc.add("Concat", id="d_join", inputs=2)
    disc.connect("image", "d_join")
    disc.connect("d_plane", "d_join")
    _score(disc, _down(disc, "d_join"))
    return _project(
        "Conditional GAN on glyph digits\n"
        "Both networks are told the digit: the generator through an embedding beside its "
        "noise, the discriminator as an extra image plane, so a fake must look real for its "
        "label. The grid has one row per digit and the same noise down each column: rows "
        "show the class, columns one handwriting style. Ask for a digit with layerloom "
        "sample --prompt 7.",
        gen, disc, {"loss": "standard", "ema": 0.999}, glyphs(),
        epochs=6, batch=32, optimizer=OptimizerConfig("adam", 1e-3, ADAM), every=200)


def infogan() -> Project:
    gen, disc = Network("generator"), Network("discriminator")
    gen.add("Noise", id="z", shape=[16])  # little noise: the codes must carry the digit
    gen.add("Input", id="c_cat", shape=[10], kind="vector", source="recipe", field="c_cat")
    gen.add("Input", id="c_cont", shape=[2], kind="vector", source="recipe", field="c_cont")
    gen.add("Concat", id="g_join", inputs=3)
    for node in ("z", "c_cat", "c_cont"):
        gen.connect(node, "g_join")
    _up(gen, "g_join")
    body = _down(disc, _seq(disc, image_in()), dropout=0)
    _score(disc, body)
    # Q shares D's body: a small head reads the codes back (10 logits, then 2 means).
    _seq(disc, ("Linear", "q_fc", {"units": 128}), ("LeakyReLU", "q_act", {"alpha": 0.2}),
         ("Linear", "q_codes", {"units": 12}), ("Output", "q", {}), after=body)
    return _project(
        "InfoGAN on glyph digits\n"
        "The generator gets a 10-way categorical code and 2 continuous codes besides its "
        "noise; a head Q on the discriminator must read them back, so each code comes to "
        "mean something, with no label ever shown. Watch code_accuracy rise and the "
        "traversal grids: rows are the categorical values (mostly different digits, in an "
        "order of its own), columns one continuous code from −2 to 2 (stroke width, slant, "
        "shape). Sample with "
        "layerloom sample --prompt \"3, 0.5, -1\".",
        gen, disc, {"loss": "standard", "categorical_codes": 10, "continuous_codes": 2,
                    "info_weight": 1.0, "ema": 0.999}, glyphs(),
        epochs=6, batch=32, optimizer=OptimizerConfig("adam", 1e-3, ADAM), every=200,
        d_lr=2e-4)  # the paper's: G 1e-3, D 2e-4


BUILDERS = {f.__name__: f for f in (gan_mlp, dcgan, wgan, wgan_gp_images, cgan, infogan)}
