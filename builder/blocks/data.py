"""Data blocks: where tensors enter a network (Input, Noise, Label input) and leave it (Output).

They compile to fx placeholders and the graph's output; the recipe decides what feeds them.
"""

from __future__ import annotations

from builder.blocks.lazy import lazy
from builder.blocks.spec import ANY, INDEX, TENSOR, BlockSpec, Param, Port, make, register

# imported at the first build, so that the catalogue loads without torch
nn = lazy("torch.nn")

__all__ = ["INPUT_KINDS", "INPUT_SOURCES", "SOURCE_TYPES"]

INPUT_KINDS = ("vector", "image", "sequence", "tokens")
SOURCE_TYPES = ("Input", "Noise", "LabelInput")

_FIELD = Param("field", "str", "x", help="Which field of each data sample feeds this input "
               "(a second dataset's field as stream.field, e.g. target.x).")
INPUT_SOURCES = ("data", "recipe")
_SOURCE = Param("source", "choice", "data", choices=INPUT_SOURCES,
                help="data: read the field from each batch. recipe: the training recipe fills "
                "it (a diffusion model's noisy image and timestep, a decoder's shifted "
                "targets); the field then names what the recipe provides.")


def _input_ports(p):
    return (Port("y", INDEX if p["kind"] == "tokens" else TENSOR),)


def _identity(p, ins):
    return make(nn.Identity)


register(
    BlockSpec(
        "Input",
        "Data",
        "Where samples enter the network. Its shape is one sample's shape, without the batch: "
        "a 784-vector, a 3×32×32 image, or a T×8 sequence whose length T may vary.",
        params=(
            Param("shape", "dims", (2,), min=1, max=1_000_000, length=(1, 4),
                  help="Shape of one sample, batch excluded (T = any length)."),
            Param("kind", "choice", "vector", choices=INPUT_KINDS,
                  help="What a sample is: tokens are integer ids (for an Embedding)."),
            _SOURCE,  # before the field: the canvas shows three lines, and "recipe" matters
            _FIELD,
        ),
        inputs=(),
        example_inputs=(),
        outputs=_input_ports,
        build=_identity,
        shape=lambda p, ins: [tuple(p["shape"])],
        has_weights=False,
        tags=("source",),
    ),
    BlockSpec(
        "Noise",
        "Data",
        "A random code z drawn fresh for every sample, z ~ N(0, I) or U(-1, 1): the seed a "
        "generator turns into a sample. Fixed noise lets you watch the same samples improve.",
        params=(
            Param("shape", "dims", (16,), help="Shape of one noise sample.", min=1,
                  max=1_000_000, length=(1, 4)),
            Param("distribution", "choice", "normal", choices=("normal", "uniform")),
        ),
        inputs=(),
        example_inputs=(),
        outputs=(Port("z"),),
        build=_identity,
        shape=lambda p, ins: [tuple(p["shape"])],
        title="Noise",
        has_weights=False,
        tags=("source",),
    ),
    BlockSpec(
        "LabelInput",
        "Data",
        "The class label of a sample as an integer, for conditional models (a conditional GAN "
        "or VAE) that are told which class to produce.",
        params=(
            Param("num_classes", "int", 10, min=2, max=1_000_000),
            Param("field", "str", "y", help="Which field of each sample is the label."),
        ),
        inputs=(),
        example_inputs=(),
        outputs=(Port("y", INDEX),),
        build=_identity,
        shape=lambda p, ins: [()],
        title="Label input",
        has_weights=False,
        tags=("source",),
    ),
    BlockSpec(
        "Output",
        "Data",
        "Where a result leaves the network. A network may have several outputs (a VAE's μ and "
        "log σ², a classifier's logits and features); the recipe reads them by name.",
        inputs=(Port("x", ANY),),
        outputs=(),
        build=_identity,
        shape=lambda p, ins: [],
        example_inputs=((8,),),
        has_weights=False,
        tags=("sink",),
    ),
)
