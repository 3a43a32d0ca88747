"""CycleGAN's gallery templates (written by packaging/build_templates.py).

Four networks each: two small ResNet-style generators (a 7×7 convolution, one downsampling
convolution, residual blocks with instance norm, one transposed convolution back up, a 7×7
convolution to pixels and a Sigmoid: the data stay in [0, 1], normalize off) and two PatchGAN
discriminators (three convolutions to a map of scores, one per overlapping patch).  Domain A is
the project's dataset, domain B the second stream ``b``: the same generator of data with
another domain and another seed, so no image of A has its counterpart in B.  The generators'
size-keeping convolutions pad with the mirrored image, as in the paper: zeros would frame
every translation in a dark border that the generator must then learn to paint over.
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

ADAM = {"betas": [0.5, 0.999]}  # the paper's Adam: β₁ = 0.5 steadies the game
MIRROR = {"padding": "same", "padding_mode": "reflect"}  # size kept, border mirrored


def _image(shape: list[int], field: str) -> tuple:
    return ("Input", "image", {"shape": shape, "kind": "image", "field": field})


def _residual(i: int, channels: int) -> list[tuple]:
    """CycleGAN's residual block as plain blocks: conv 3×3 → instance norm → ReLU → conv
    3×3 → instance norm, added to its input (no ReLU after the sum)."""
    return [("Conv2d", f"res{i}_conv1", {"filters": channels, "kernel": 3, **MIRROR}),
            ("InstanceNorm", f"res{i}_norm1", {"affine": True}), ("ReLU", f"res{i}_relu", {}),
            ("Conv2d", f"res{i}_conv2", {"filters": channels, "kernel": 3, **MIRROR}),
            ("InstanceNorm", f"res{i}_norm2", {"affine": True})]


def generator(name: str, shape: list[int], field: str, width: int, blocks: int) -> Network:
    """image → 7×7 conv → conv stride 2 → residual blocks at half size → transposed conv up
    → 7×7 conv to C channels → Sigmoid.  Instance norm, as in the paper: each image is
    normalised with its own statistics in training and in use alike (batch norm's running
    averages would mix the real and the translated images each generator sees)."""
    net = Network(name)
    last = _seq(net, _image(shape, field),
                ("Conv2d", "c_in", {"filters": width, "kernel": 7, **MIRROR}),
                ("InstanceNorm", "norm_in", {"affine": True}), ("ReLU", "relu_in", {}),
                ("Conv2d", "down", {"filters": 2 * width, "kernel": 3, "stride": 2,
                                    "padding": 1}),
                ("InstanceNorm", "norm_down", {"affine": True}), ("ReLU", "relu_down", {}))
    for i in range(1, blocks + 1):
        body = _seq(net, *_residual(i, 2 * width), after=last)
        add = net.add("Add", id=f"res{i}", inputs=2)
        net.connect(body, add, dst_port="x1")
        net.connect(last, add, dst_port="x2")
        last = add
    _seq(net, ("ConvTranspose2d", "up", {"filters": width, "kernel": 4, "stride": 2,
                                         "padding": 1}),
         ("InstanceNorm", "norm_up", {"affine": True}), ("ReLU", "relu_up", {}),
         ("Conv2d", "c_out", {"filters": shape[0], "kernel": 7, **MIRROR}),
         ("Sigmoid", "pixels", {}), ("Output", "fake", {}), after=last)
    return lay_out(net)


def patch_discriminator(name: str, shape: list[int], field: str, width: int) -> Network:
    """A 3-layer PatchGAN: two 4×4 stride-2 convolutions with LeakyReLU, then a 4×4
    convolution to one score per patch (a map [1, H/4 − 1, W/4 − 1], no sigmoid)."""
    net = Network(name)
    _seq(net, _image(shape, field),
         ("Conv2d", "c1", {"filters": width, "kernel": 4, "stride": 2, "padding": 1}),
         ("LeakyReLU", "act1", {"alpha": 0.2}),
         ("Conv2d", "c2", {"filters": 2 * width, "kernel": 4, "stride": 2, "padding": 1}),
         ("LeakyReLU", "act2", {"alpha": 0.2}),
         ("Conv2d", "score", {"filters": 1, "kernel": 4, "padding": 1}),
         ("Output", "realness", {}))
    return lay_out(net)


def _project(description: str, a: DatasetConfig, b: DatasetConfig, shape: list[int], *,
             width: int, blocks: int, epochs: int, batch: int, lr: float, every: int,
             params: dict | None = None) -> Project:
    nets = [generator("g_ab", shape, "x", width, blocks),
            generator("g_ba", shape, "b.x", width, blocks),
            patch_discriminator("d_a", shape, "x", 2 * width),
            patch_discriminator("d_b", shape, "b.x", 2 * width)]
    return Project(
        networks={n.name: n for n in nets},
        dataset=a,
        streams={"b": b},
        recipe=RecipeConfig("cyclegan", {n.name: n.name for n in nets}, params or {}),
        training=TrainingSettings(epochs=epochs, batch_size=batch,
                                  optimizers={"*": OptimizerConfig("adam", lr, ADAM)},
                                  samples_every=every, samples_unit="steps"),
        description=description,
    )


def cyclegan_shapes() -> Project:
    return _project(
        "CycleGAN: shapes by day ↔ shapes by night\n"
        "Two generators learn to turn daylight pictures into night ones and back from "
        "unpaired examples: the night set is drawn with another seed, so no picture has "
        "its counterpart. PatchGAN discriminators judge each domain patch by patch; the "
        "cycle loss asks that day → night → day gives the picture back. Watch the rows "
        "A → B → A and B → A → B: the night pictures darken and turn blue while every shape "
        "stays where it was.",
        DatasetConfig("shapes", {"n_samples": 2400, "normalize": False}),
        DatasetConfig("shapes", {"n_samples": 2400, "seed": 1, "domain": "night",
                                 "normalize": False}),
        [3, 32, 32], width=16, blocks=2, epochs=2, batch=16, lr=1e-3, every=50)


def cyclegan_digits() -> Project:
    return _project(
        "CycleGAN: white digits on black ↔ black digits on white\n"
        "The same recipe on glyph digits: domain A is white on black, domain B black on "
        "white, drawn with another seed, so no digit has its inverted twin in the data. "
        "Inverting would satisfy every loss, but it is not the only answer they allow: watch "
        "how the round trip A → B → A keeps each digit even where the translation looks "
        "broken.",
        DatasetConfig("glyph_digits", {"n_samples": 2400, "normalize": False}),
        DatasetConfig("glyph_digits", {"n_samples": 2400, "seed": 1, "domain": "inverted",
                                       "normalize": False}),
        [1, 28, 28], width=8, blocks=2, epochs=4, batch=16, lr=1e-3, every=50)


BUILDERS = {f.__name__: f for f in (cyclegan_shapes, cyclegan_digits)}
