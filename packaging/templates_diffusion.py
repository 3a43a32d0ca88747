"""The diffusion gallery template (written by packaging/build_templates.py).

A text-conditional DDPM on the captioned shapes, pixels in [0, 1] (normalize off; the recipe
maps them to [−1, 1]).  The denoiser reads the noisy image x_t and the step t (both filled by
the recipe) and the caption (from the data): the caption's word vectors are averaged (a bag
of words is enough for captions of one fixed pattern) and added to the step's sinusoidal
embedding; the sum conditions every level of a U-Net through FiLM.
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

__all__ = ["BUILDERS", "denoiser"]

SIDE = 32
WIDTH = 128  # the condition vector


def denoiser(side: int = SIDE, filters: int = 24, depth: int = 3) -> Network:
    """x_t, t, caption → ε̂."""
    net = Network("denoiser")
    _seq(net, ("Input", "caption", {"shape": [10], "kind": "tokens", "field": "caption"}),
         ("Embedding", "words", {"vocab": len(VOCAB), "dim": WIDTH}),
         ("TimePool", "text", {"mode": "mean"}))
    _seq(net, ("Input", "t", {"shape": [1], "kind": "vector", "field": "t",
                              "source": "recipe"}),
         ("TimestepEmbedding", "step", {"dim": 64, "out": WIDTH}))
    net.add("Add", id="condition")
    net.connect("text", "condition", dst_port="x1")
    net.connect("step", "condition", dst_port="x2")
    _seq(net, ("SiLU", "c", {}), after="condition")
    net.add("Input", id="x_t", shape=[3, side, side], kind="image", field="x_t",
            source="recipe")
    net.add("UNet", id="unet", filters=filters, depth=depth, out_channels=3, norm="group",
            level="residual", output="none", condition="film")
    net.connect("x_t", "unet", dst_port="x")
    net.connect("c", "unet", dst_port="c")
    _seq(net, ("Output", "eps", {}), after="unet")
    return lay_out(net)


def ddpm_shapes() -> Project:
    return Project(
        networks={"denoiser": denoiser()},
        dataset=DatasetConfig("shapes", {"n_samples": 20_000, "size": str(SIDE),
                                         "normalize": False, "val_fraction": 0.05}),
        recipe=RecipeConfig("diffusion", {"denoiser": "denoiser"},
                            {"timesteps": 1000, "schedule": "cosine", "guidance": 3.0,
                             "prediction": "v", "ema": 0.995}),
        # Batches of 16: on a CPU a picture costs about as much in a batch of 16 as in one of
        # 64, and four updates learn more than one; 8 per batch learn less (38% of the shapes
        # right after the same time).  The rate rises to 3e-3 over a tenth of an epoch and
        # follows a cosine down to 0, so the last epochs settle rather than wander: shapes
        # right in 79% of the pictures after 6 epochs, against 71% peaking at 2e-3 and 64% at
        # a constant 1e-3; 7 epochs (8,316 steps) reach 85%.  The weight average spans ~200
        # steps.
        training=TrainingSettings(epochs=7, batch_size=16,
                                  optimizers={"denoiser": OptimizerConfig("adam", 3e-3)},
                                  schedule={"name": "cosine", "min_factor": 0.0,
                                            "warmup_epochs": 0.1},
                                  samples_every=500, samples_unit="steps"),
        description=(
            "Diffusion: shapes from captions\n"
            "A denoising diffusion model learns to predict the noise in a noised picture, at "
            "every step of a chain that ends in pure noise. To generate, it starts from noise "
            "and removes it step by step, steered by a caption. Watch the denoising strip "
            "turn noise into a shape, and type a prompt on the Samples tab: \"a large red "
            "circle in the centre\"."),
    )


BUILDERS = {"ddpm_shapes": ddpm_shapes}
