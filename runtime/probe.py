"""Run to here: what one block outputs for one sample of the project's data, with the weights
of a run or fresh ones, for the inspector to show (statistics, a histogram, feature maps).

The network runs through an fx Interpreter that keeps the value of the fx node made from the
chosen canvas node (the compiler tags each with ``meta["layerloom_node"]``), so any block
works, a module or an inline operation alike.  Inputs the recipe fills itself (a decoder's
code, shifted targets) have no sample: they are zeros, and the probe says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import fx

from builder.document import Project
from runtime.assemble import load_data, make_recipe
from runtime.checkpoint import load_weights
from runtime.data import Splits

__all__ = ["Probe", "ProbeError", "probe"]


class ProbeError(ValueError):
    """The block cannot be run to: the message says why and what to do."""


@dataclass(frozen=True)
class Probe:
    network: str
    node: str
    values: np.ndarray  # the block's (first) output for one sample, batch axis dropped
    weights: str  # whose weights, in words
    part: str  # "validation" or "training": where the sample came from
    zeros: tuple[str, ...] = ()  # recipe-filled inputs given zeros

    @property
    def stats(self) -> dict[str, float]:
        v = self.values.astype(np.float64).ravel()
        if not v.size:
            return {}
        return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
                "max": float(v.max()), "zero share": float((v == 0).mean())}


class _Keep(fx.Interpreter):
    def __init__(self, module: fx.GraphModule, node: str):
        super().__init__(module)
        self.node, self.kept = node, None

    def run_node(self, n: fx.Node):
        out = super().run_node(n)
        if self.kept is None and n.meta.get("layerloom_node") == self.node:
            self.kept = out[0] if isinstance(out, tuple) else out
        return out


def _sample(splits: Splits) -> tuple[dict[str, torch.Tensor], str]:
    for part, words in (("val", "validation"), ("train", "training")):
        try:
            batch = next(splits.batches(part, 1, shuffle=False, device="cpu", augment=False))
        except StopIteration:
            continue
        return batch, words
    raise ProbeError("the dataset has no samples to run")


def probe(project: Project, network: str, node: str, weights: str | Path | None = None,
          data: Splits | None = None) -> Probe:
    """``node``'s output in ``network`` for the first validation sample (the first training
    one where there is no validation part).  ``weights``: a run folder holding
    ``<network>.safetensors``; None: fresh weights.  Raises ProbeError, SetupError (the
    data or the recipe) or CheckpointError (weights that do not fit)."""
    net = project.networks.get(network)
    if net is None or node not in net.nodes:
        raise ProbeError(f"network {network!r} has no block {node!r}")
    target = node
    if net.nodes[node].block == "Output":  # an Output shows what reaches it
        target = next((e.src for e in net.edges if e.dst == node), None)
        if target is None:
            raise ProbeError(f"nothing is wired into {node!r}")
    splits = data if data is not None else load_data(project)
    recipe = make_recipe(project, splits)
    role = next((r for r, name in recipe.names.items() if name == network), None)
    if role is None:
        raise ProbeError(f"network {network!r} has no role in recipe "
                         f"{project.recipe.name!r}; bind it in the training setup")
    module = recipe.nets[role].cpu().eval()
    said = "fresh weights (untrained)"
    if weights is not None:
        folder = Path(weights)
        load_weights(module, folder / f"{network}.safetensors")
        run = folder.parent if folder.name == "checkpoint" else folder  # a cut-short run
        said = f"the weights of run {run.name}"
    batch, part = _sample(splits)
    zeros = {s.field: torch.zeros(1, *s.shape) if s.kind == "tensor" else
             torch.zeros(1, *s.shape, dtype=torch.int64)
             for s in recipe.recipe_inputs(role) if s.field not in batch}
    keep = _Keep(module, target)
    with torch.no_grad():
        keep.run(*recipe.inputs(role, batch, zeros))
    if keep.kept is None:
        raise ProbeError(f"{node!r} does not lie on the way to an output of {network!r}")
    values = keep.kept.detach().float().cpu().numpy()[0]
    return Probe(network, node, values, said, part, tuple(sorted(zeros)))


