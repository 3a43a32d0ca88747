"""Imagen in miniature's gallery template (written by packaging/build_templates.py).

Four networks on the captioned shapes, pixels in [0, 1] (normalize off):

- ``text_encoder`` and ``image_encoder``: CLIP's two towers (the CLIP template's own, the
  text encoder with a second Output: its Transformer layer's features of every word). The
  first stage trains them together as CLIP; after it the text encoder is frozen and the
  image encoder is done.
- ``base``: a 16×16 denoiser. The frozen text embedding and the mean of the words' features
  (each through a Linear) are added to the step's embedding; the sum steers every level of a
  U-Net through FiLM.
- ``sr``: the 16×16 → 32×32 super-resolution denoiser. The low-resolution image is enlarged
  (bilinear) and joined to x_t on the channels; its condition vector adds the text, the
  words, the step and the noise level the low image was augmented with.
"""

from __future__ import annotations

from template_parts import _seq, lay_out
from templates_clip import EMBED, _image_encoder, _text_encoder, caption_words

from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)

__all__ = ["BUILDERS", "base_denoiser", "sr_denoiser"]

LOW, HIGH = 16, 32
WIDTH = 128  # the condition vector


def _condition(net: Network, parts: list[str]) -> str:
    """The text (its embedding and its words), the step (and the augmentation level): one
    vector, summed, then SiLU."""
    _seq(net, ("Input", "text", {"shape": [EMBED], "kind": "vector", "field": "text",
                                 "source": "recipe"}),
         ("Linear", "text_proj", {"units": WIDTH}))
    parts = [caption_words(net, WIDTH), *parts]
    _seq(net, ("Input", "t", {"shape": [1], "kind": "vector", "field": "t",
                              "source": "recipe"}),
         ("TimestepEmbedding", "step", {"dim": 64, "out": WIDTH}))
    sources = ["text_proj", "step", *parts]
    net.add("Add", id="condition", inputs=len(sources))
    for i, src in enumerate(sources, start=1):
        net.connect(src, "condition", dst_port=f"x{i}")
    return _seq(net, ("SiLU", "c", {}), after="condition")


def base_denoiser(filters: int = 32, depth: int = 2) -> Network:
    """x_t [3, 16, 16], t, the text embedding → ε̂."""
    net = Network("base")
    c = _condition(net, [])
    net.add("Input", id="x_t", shape=[3, LOW, LOW], kind="image", field="x_t",
            source="recipe")
    net.add("UNet", id="unet", filters=filters, depth=depth, out_channels=3, norm="group",
            level="residual", output="none", condition="film")
    net.connect("x_t", "unet", dst_port="x")
    net.connect(c, "unet", dst_port="c")
    _seq(net, ("Output", "eps", {}), after="unet")
    return lay_out(net)


def sr_denoiser(filters: int = 16, depth: int = 2) -> Network:
    """x_t [3, 32, 32], t, the low-resolution image [3, 16, 16], its noise level and the text
    embedding → ε̂."""
    net = Network("sr")
    _seq(net, ("Input", "aug", {"shape": [1], "kind": "vector", "field": "aug",
                                "source": "recipe"}),
         ("TimestepEmbedding", "level", {"dim": 32, "out": WIDTH}))
    c = _condition(net, ["level"])
    net.add("Input", id="x_t", shape=[3, HIGH, HIGH], kind="image", field="x_t",
            source="recipe")
    _seq(net, ("Input", "low", {"shape": [3, LOW, LOW], "kind": "image", "field": "low",
                                "source": "recipe"}),
         ("Upsample", "enlarge", {"scale": HIGH / LOW, "mode": "bilinear"}))
    net.add("Concat", id="join")
    net.connect("x_t", "join", dst_port="x1")
    net.connect("enlarge", "join", dst_port="x2")
    net.add("UNet", id="unet", filters=filters, depth=depth, out_channels=3, norm="group",
            level="residual", output="none", condition="film")
    net.connect("join", "unet", dst_port="x")
    net.connect(c, "unet", dst_port="c")
    _seq(net, ("Output", "eps", {}), after="unet")
    return lay_out(net)


# CLIP's towers at 1e-3; the denoisers peak at 3e-3 under the cosine schedule below.
LR = {"text_encoder": 1e-3, "image_encoder": 1e-3, "base": 3e-3, "sr": 3e-3}


def imagen_shapes() -> Project:
    nets = {"text_encoder": lay_out(_text_encoder(tokens=True)),
            "image_encoder": lay_out(_image_encoder()), "base": base_denoiser(),
            "sr": sr_denoiser()}
    return Project(
        networks=nets,
        dataset=DatasetConfig("shapes", {"n_samples": 19_500, "size": str(HIGH),
                                         "normalize": False, "val_fraction": 0.05}),
        # Each stage in the batches it learns best from: CLIP in 64s with nine hard negatives
        # per picture (2 epochs), the denoisers in 16s, as on the diffusion template (15
        # epochs, 17,370 steps), with a weight average spanning ~200 steps.  The
        # super-resolution model learns from 8 pictures of each batch (sr_share): a step of it
        # then costs half as much, and the base model, whose small pictures decide the
        # shape, gets the time (at 4 of 16, sr rounded more stars and diamonds: 87.0% of the
        # shapes against 89.8%, four sampling seeds of one run each).  Both denoisers
        # read every word of the caption besides its pooled embedding: shapes right in 69% of
        # the pictures, against 44% from the embedding alone.  The super-resolution model
        # draws only what the enlarged small picture lacks (sr_residual): given real small
        # pictures it keeps 90% of the shapes right, against 87% drawing the whole picture.
        # When generating, the small picture goes to it as it is (aug_sample 0), and it
        # follows the caption a little (sr_guidance 2): pushed harder, it rounds hexagons and
        # diamonds into circles (87% of the shapes at 2, 81% at 8, over 768 pictures).  The
        # base model follows the caption at guidance 5, on a chain shifted towards less noise
        # (base_shift 2): a 16×16 picture loses its shape to a quarter of the noise a 32×32
        # one does.
        recipe=RecipeConfig("imagen", {r: r for r in nets},
                            {"text_share": 0.12, "timesteps": 1000, "guidance": 5.0,
                             "sr_guidance": 2.0, "aug_sample": 0.0, "sr_residual": True,
                             "sr_share": 0.5, "base_shift": 2.0,
                             "prediction": "v", "clip_batch_size": 64, "hard_negatives": 9,
                             "ema": 0.995}),
        training=TrainingSettings(epochs=17, batch_size=16,
                                  optimizers={r: OptimizerConfig("adam", LR[r]) for r in nets},
                                  schedule={"name": "cosine", "min_factor": 0.0,
                                            "warmup_epochs": 0.1},
                                  samples_every=1, samples_unit="epochs"),
        description=(
            "Imagen in miniature: a cascade from captions\n"
            "First a text encoder learns what captions mean (as half of CLIP), then it is "
            "frozen. A diffusion model draws a 16×16 picture from its embedding of the "
            "caption, and a second diffusion model, given that small picture, draws it again "
            "at 32×32 with sharp edges. Type a prompt on the Samples tab: \"a large blue "
            "star at the left\"."),
    )


BUILDERS = {"imagen_shapes": imagen_shapes}
