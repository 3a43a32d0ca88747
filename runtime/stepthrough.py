"""Step-through: one training step of a supervised network for one sample, block by block.

The forward pass runs through an fx Interpreter that keeps each canvas node's output (the
compiler tags every fx node with ``meta["layerloom_node"]``), in execution order.  The loss is
the recipe's own, plus what the trainer adds (block auxiliary losses, L1/L2 penalties).  One
``torch.autograd.grad`` call then gives dLoss/d(output) of every block and dLoss/d(weight) of
every trainable parameter, so the numbers shown are autograd's own.  Finally the project's
optimizer takes one step on a *copy* of the network: the weights of a run never change.

The network runs in evaluation mode (dropout off, batch-norm running statistics): one sample
in train mode would make batch-norm fail and dropout random.  The optimizer starts fresh (no
momentum or Adam moments from a run).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, fx, nn

from builder.compiler import aux_losses
from builder.document import Project
from builder.names import attr_path
from runtime.assemble import load_data, make_recipe
from runtime.checkpoint import load_weights
from runtime.data import Splits
from runtime.optim import lr_scales, make_optimizer
from runtime.recipes.supervised import SupervisedRecipe

__all__ = ["StepThrough", "StepThroughError", "Summary", "ForwardStep", "ParamGrad",
           "BackwardStep", "ParamChange", "Update", "summary"]

PREVIEW = 8  # values of a tensor kept for display
PARTS = {"validation": "val", "training": "train"}


class StepThroughError(ValueError):
    """The step cannot be followed: the message says why and what to do."""


@dataclass(frozen=True)
class Summary:
    """A tensor in a few numbers (one sample: the batch axis is dropped)."""

    shape: tuple[int, ...]
    mean: float
    std: float
    min: float
    max: float
    norm: float
    preview: np.ndarray  # the first PREVIEW values, flattened


def summary(t: Tensor) -> Summary:
    v = t.detach().double().reshape(-1)
    if not v.numel():
        return Summary(tuple(t.shape), 0.0, 0.0, 0.0, 0.0, 0.0, np.zeros(0))
    return Summary(tuple(t.shape), float(v.mean()), float(v.std(unbiased=False)),
                   float(v.min()), float(v.max()), float(v.norm()),
                   v[:PREVIEW].float().numpy())


@dataclass(frozen=True)
class ForwardStep:
    index: int  # position in execution order
    node: str
    block: str
    value: Summary  # the node's (first) output for the sample


@dataclass(frozen=True)
class ParamGrad:
    name: str  # full parameter name in the network (``hidden1.weight``)
    trainable: bool
    weight: Summary
    grad: Summary | None  # None: frozen, it gets no gradient


@dataclass(frozen=True)
class BackwardStep:
    index: int  # position in the backward order (0 = next to the loss)
    node: str
    block: str
    grad: Summary | None  # dLoss/d(output); None: an integer output carries none
    params: tuple[ParamGrad, ...]


@dataclass(frozen=True)
class ParamChange:
    name: str
    node: str
    trainable: bool
    weight: float  # ‖w‖ before the step
    delta: float  # ‖Δw‖
    relative: float  # ‖Δw‖ / ‖w‖
    preview: np.ndarray  # the first PREVIEW values of Δw


@dataclass(frozen=True)
class Update:
    optimizer: str
    lr: float
    loss_before: float
    loss_after: float  # the same sample's loss after the step
    changes: tuple[ParamChange, ...]

    def of(self, node: str) -> list[ParamChange]:
        return [c for c in self.changes if c.node == node]


class _Record(fx.Interpreter):
    """Runs the network, keeping each canvas node's output (its first fx node's value)."""

    def __init__(self, module: fx.GraphModule):
        super().__init__(module)
        self.kept: dict[str, object] = {}

    def run_node(self, n: fx.Node):
        out = super().run_node(n)
        tag = n.meta.get("layerloom_node")
        if tag is not None and tag not in self.kept:
            self.kept[tag] = out
        return out


def _tensors(value) -> list[Tensor]:
    items = value if isinstance(value, (tuple, list)) else (value,)
    return [t for t in items if isinstance(t, Tensor)]


class StepThrough:
    """One sample's forward pass, loss, backward pass and optimizer step, recorded.

    ``weights``: a run folder holding ``<network>.safetensors`` (None: fresh weights);
    ``sample``: an index into ``part`` ("validation" or "training").  Raises
    StepThroughError, SetupError (the data or the recipe) or CheckpointError."""

    def __init__(self, project: Project, weights: str | Path | None = None, sample: int = 0,
                 part: str = "validation", data: Splits | None = None):
        if part not in PARTS:
            raise StepThroughError(f"part must be 'validation' or 'training'; received {part!r}")
        self.project, self.sample, self.part = project, int(sample), part
        splits = data if data is not None else load_data(project)
        with torch.random.fork_rng():  # fresh weights from the project's seed: a Reset and
            torch.manual_seed(project.training.seed)  # a second look show the same numbers
            recipe = make_recipe(project, splits)
        if not isinstance(recipe, SupervisedRecipe):
            raise StepThroughError(
                f"the step-through follows one supervised step (a prediction and its loss); "
                f"recipe {project.recipe.name!r} trains with steps of its own: use a "
                "classification, regression or multi-label project")
        self.recipe = recipe
        self.network = recipe.names["model"]
        self.module = module = recipe.nets["model"].cpu().eval()
        self.weights = "fresh weights (untrained)"
        if weights is not None:
            folder = Path(weights)
            load_weights(module, folder / f"{self.network}.safetensors")
            run = folder.parent if folder.name == "checkpoint" else folder
            self.weights = f"the weights of run {run.name}"
        self.batch = self._one(splits)
        # Float inputs get a gradient too: what the loss "wants" of the sample itself.
        self.args = [a.detach().clone().requires_grad_(a.is_floating_point())
                     for a in recipe.inputs("model", self.batch)]
        self._forward()
        self._backward()
        self._update: Update | None = None
        self.deltas: dict[str, Tensor] = {}  # parameter name → Δw, after update()

    def _one(self, splits: Splits) -> dict[str, Tensor]:
        data = splits.part(PARTS[self.part])
        n = len(data)
        if not 0 <= self.sample < n:
            raise StepThroughError(f"sample {self.sample} is not among the {n} {self.part} "
                                   f"samples (0 to {n - 1})" if n else
                                   f"the dataset has no {self.part} samples")
        if hasattr(data, "items"):  # in memory
            return {k: v[self.sample:self.sample + 1] for k, v in data.items()}
        item = data[self.sample]  # file-backed: one dict of tensors
        return {k: torch.as_tensor(v)[None] for k, v in item.items()}

    # --- the pass -------------------------------------------------------------------------
    def _loss(self, result) -> tuple[Tensor, dict[str, float]]:
        """The recipe's loss, plus what the trainer adds to it (``runtime.optimize``)."""
        recipe, settings = self.recipe, self.project.training
        pred = recipe.output("model", result, recipe.options.get("output") or None)
        loss, _ = recipe.loss(pred, self.batch[recipe.target])
        terms = {"loss": float(loss.detach())}
        total = loss
        for name, aux in aux_losses(self.module).items():
            total = total + aux
            terms[f"aux/{name}"] = float(aux.detach())
        weights = [p for p in self.module.parameters() if p.requires_grad and p.dim() >= 2]
        if settings.l1 and weights:
            pen = settings.l1 * sum(p.abs().sum() for p in weights)
            total, terms["l1"] = total + pen, float(pen.detach())
        if settings.l2 and weights:
            pen = settings.l2 * sum(p.square().sum() for p in weights)
            total, terms["l2"] = total + pen, float(pen.detach())
        return total, terms

    def _forward(self) -> None:
        rec = _Record(self.module)
        result = rec.run(*self.args)
        net = self.project.networks[self.network]
        # Bypassed blocks and Outputs make no fx node: the step lists what really runs.
        self.order = [k for k in rec.kept if k in net.nodes]
        self.blocks = {k: net.nodes[k].block for k in self.order}
        self.outputs = {k: _tensors(rec.kept[k]) for k in self.order}
        self.total, self.terms = self._loss(result)

    def _backward(self) -> None:
        wanted = [(k, t) for k in self.order for t in self.outputs[k]
                  if t.requires_grad and t.is_floating_point()]
        params = [(n, p) for n, p in self.module.named_parameters() if p.requires_grad]
        if not self.total.requires_grad:
            raise StepThroughError("nothing in the network learns: every block is frozen and "
                                   "the input carries no gradient")
        grads = torch.autograd.grad(self.total, [t for _, t in wanted] + [p for _, p in params],
                                    allow_unused=True)
        # No path to the loss (an output nobody reads): the loss does not change with it.
        grads = [torch.zeros_like(t) if g is None else g
                 for (_, t), g in zip(wanted + params, grads)]
        self.output_grads: dict[str, list[Tensor]] = {}
        for (k, _), g in zip(wanted, grads):
            self.output_grads.setdefault(k, []).append(g.detach())
        self.param_grads = {n: g.detach() for (n, _), g in zip(params, grads[len(wanted):])}

    def node_params(self, node: str) -> list[tuple[str, nn.Parameter]]:
        """The parameters of a canvas node's module (all of a group's), by full name."""
        path = attr_path(self.module, node)
        try:
            sub = self.module.get_submodule(path)
        except AttributeError:
            return []  # an inline operation or an Input: no module, no weights
        return [(f"{path}.{n}", p) for n, p in sub.named_parameters()]

    # --- what is shown --------------------------------------------------------------------
    @property
    def loss(self) -> float:
        return float(self.total.detach())

    def forward_steps(self) -> list[ForwardStep]:
        return [ForwardStep(i, k, self.blocks[k], summary(self.outputs[k][0][0]))
                for i, k in enumerate(self.order) if self.outputs[k]]

    def backward_steps(self) -> list[BackwardStep]:
        out = []
        for k in reversed(self.order):
            grads = self.output_grads.get(k)
            grad = None
            if grads:  # a block with several outputs: all of their gradients together
                first = summary(grads[0][0])
                norm = float(torch.stack([g.double().norm() for g in grads]).norm())
                grad = Summary(first.shape, first.mean, first.std, first.min, first.max,
                               norm, first.preview)
            params = tuple(ParamGrad(n, p.requires_grad, summary(p),
                                     summary(self.param_grads[n]) if n in self.param_grads
                                     else None) for n, p in self.node_params(k))
            out.append(BackwardStep(len(out), k, self.blocks[k], grad, params))
        return out

    def update(self) -> Update:
        """One step of the project's optimizer, on a copy of the network (cached)."""
        if self._update is not None:
            return self._update
        settings = self.project.training
        config = settings.optimizer_for(self.network)
        twin = copy.deepcopy(self.module)
        for n, p in twin.named_parameters():
            p.grad = self.param_grads[n].clone() if n in self.param_grads else None
        trainable = [p for p in twin.parameters() if p.requires_grad]
        if settings.grad_clip and trainable:
            nn.utils.clip_grad_norm_(trainable, settings.grad_clip)
        if trainable:
            make_optimizer(config, trainable, torch.device("cpu"), lr_scales(twin)).step()
        before = dict(self.module.named_parameters())
        owner = {n: k for k in self.order for n, _ in self.node_params(k)}
        changes = []
        for n, p in twin.named_parameters():
            delta = (p.detach() - before[n].detach())
            self.deltas[n] = delta
            size = float(before[n].detach().double().norm())
            norm = float(delta.double().norm())
            changes.append(ParamChange(n, owner.get(n, n.split(".")[0]), p.requires_grad,
                                       size, norm, norm / size if size else 0.0,
                                       delta.reshape(-1)[:PREVIEW].numpy()))
        with torch.no_grad():
            pred = self.recipe.output("model", twin(*self.args),
                                      self.recipe.options.get("output") or None)
            after = float(self.recipe.loss(pred, self.batch[self.recipe.target])[0])
        self._update = Update(config.name, float(config.lr), self.terms["loss"], after,
                              tuple(changes))
        return self._update
