"""What every template builder uses: a one-network project and a chain of blocks."""

from __future__ import annotations

from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from builder.layout import layered_positions

__all__ = ["_project", "_seq", "lay_out", "IMAGE", "image_in", "glyphs"]

IMAGE = [1, 28, 28]  # glyph digits, MNIST-shaped


def image_in(node: str = "image") -> tuple:
    """A chain step (see ``_seq``): an Input of one 28×28 grey image."""
    return ("Input", node, {"shape": IMAGE, "kind": "image"})


def glyphs(n: int = 20_000) -> DatasetConfig:
    """Glyph digits with pixels in [0, 1] (normalize off): what a generator's Sigmoid or a
    decoder's BCE compares with."""
    return DatasetConfig("glyph_digits", {"n_samples": n, "normalize": False})


def lay_out(net: Network) -> Network:
    """Positions for every node (layered, left to right)."""
    for node_id, pos in layered_positions(net).items():
        net.nodes[node_id].pos = pos
    return net


def _project(description: str, net: Network, dataset: DatasetConfig, epochs: int, batch: int,
             lr: float, optimizer: str = "adam") -> Project:
    lay_out(net)
    return Project(
        networks={net.name: net},
        dataset=dataset,
        recipe=RecipeConfig("classification", {"model": net.name}),
        training=TrainingSettings(epochs=epochs, batch_size=batch,
                                  optimizers={net.name: OptimizerConfig(optimizer, lr)}),
        description=description,
    )


def _seq(net: Network, *steps: tuple, after: str | None = None) -> str:
    """Add blocks in a chain (after node ``after``); each step is (block, id, params)."""
    prev = after
    for block, node_id, params in steps:
        cur = net.add(block, id=node_id, **params)
        if prev is not None:
            net.connect(prev, cur)
        prev = cur
    return prev
