"""What a recipe is: roles, the binding of data fields to each role's inputs, and one step.

The trainer owns the loop; a recipe owns one step.  It receives the role modules (compiled
networks) and a batch (a dict of tensors on the device), computes its losses and metrics,
and asks the trainer's ``StepContext.optimize`` to apply them, once for a single network or
several times in its own order (a GAN: discriminator, then generator).  Metrics stay on the
device as 0-d tensors; the trainer reads them back in bulk.

Validation is additive: ``eval_batch`` returns sums over the batch's samples (a loss sum, a
count of correct answers, a confusion matrix), the trainer adds them up over the whole
validation part and ``eval_summary`` turns the totals into the reported numbers.

A recipe may split its run into ``stages`` (layer-wise pre-training, a frozen backbone then
fine-tuning): each stage names which nodes train and, optionally, another recipe that does
the step meanwhile.  The trainer runs them in order (``runtime.stages``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from torch import Tensor, fx, nn

from builder.blocks.spec import Param, coerce_params
from builder.compiler import Compiled, InputSpec
from builder.document import OptimizerConfig
from builder.names import attr_path
from runtime.data.core import DataInfo

__all__ = ["node_module", "Role", "Feed", "Stream", "RecipeError", "Recipe", "Stage", "StepContext",
           "noise_like", "eval_mode"]


@contextlib.contextmanager
def eval_mode(modules: Iterable[nn.Module]):
    """Modules in eval mode (dropout off, batch-norm running statistics) for the block, then
    each back in the mode it was in."""
    modes = {m: m.training for m in modules}
    for m in modes:
        m.eval()
    try:
        yield
    finally:
        for m, training in modes.items():
            m.train(training)


class RecipeError(ValueError):
    """The project and the recipe do not fit together; the message says how to fix it."""


@dataclass(frozen=True)
class Role:
    name: str
    help: str = ""


@dataclass(frozen=True)
class Feed:
    """A value the recipe fills into an Input of ``role`` whose source is ``recipe`` and whose
    field is ``field`` (a diffusion model's noisy image, a decoder's shifted targets).  A
    ``required`` feed must have such an Input; an optional one is filled when present."""

    role: str
    field: str
    help: str = ""
    required: bool = True


@dataclass(frozen=True)
class Stream:
    """A named dataset the recipe reads (source and target, domain A and B).  A recipe's
    first stream is its primary one: it is the project's ``dataset`` and defines an epoch;
    each other stream is bound in the project's ``streams`` and its fields reach the batch
    as ``<stream>.<field>``."""

    name: str
    help: str = ""


def _node_sets(value: Mapping[str, Collection[str]] | None, what: str
               ) -> dict[str, frozenset[str]] | None:
    if value is None:
        return None
    out = {}
    for role, ids in dict(value).items():
        if isinstance(ids, str):  # one node id, not its letters
            ids = (ids,)
        ids = frozenset(ids)
        if not all(isinstance(i, str) and i for i in ids):
            raise RecipeError(f"stage {what}: node ids must be non-empty strings")
        out[role] = ids
    return out


@dataclass(frozen=True)
class Stage:
    """One part of a run.

    Length: ``epochs`` (a count) or ``share`` (a fraction of the run's epochs); with neither,
    the stage takes what the others leave (split evenly among such stages).  ``batch_size``:
    the stage's own (None: the training settings'), for a stage that learns best from other
    batches than the rest (CLIP from many captions at once, a denoiser from many steps).
    Step: ``recipe`` names a registered recipe that does the step, validation and samples
    during this stage, built with ``params`` over the declaring recipe's networks (``roles``
    maps its roles to the declaring recipe's; same names, or one role to one, by default).
    None: the declaring recipe itself (with ``params``: a new one of its class).
    Trainable: per role of the declaring recipe, canvas node ids to ``freeze``, or to
    ``train`` alone (an empty set freezes the whole network).  Unnamed networks train as the
    canvas says; a node the user switched off on the canvas stays frozen in every stage.
    """

    name: str
    epochs: int | None = None
    share: float | None = None
    recipe: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    roles: Mapping[str, str] = field(default_factory=dict)
    freeze: Mapping[str, Collection[str]] = field(default_factory=dict)
    train: Mapping[str, Collection[str]] | None = None
    batch_size: int | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise RecipeError("a stage needs a name")
        if self.epochs is not None and self.share is not None:
            raise RecipeError(f"stage {self.name!r}: give epochs or share, not both")
        if self.epochs is not None and (isinstance(self.epochs, bool)
                                        or not isinstance(self.epochs, int) or self.epochs < 1):
            raise RecipeError(f"stage {self.name!r}: epochs must be a whole number ≥ 1; "
                              f"received {self.epochs!r}")
        if self.share is not None and not 0 < self.share <= 1:
            raise RecipeError(f"stage {self.name!r}: share must be in (0, 1]; received "
                              f"{self.share!r}")
        if self.batch_size is not None and (isinstance(self.batch_size, bool) or not
                                            isinstance(self.batch_size, int)
                                            or self.batch_size < 1):
            raise RecipeError(f"stage {self.name!r}: batch_size must be a whole number ≥ 1; "
                              f"received {self.batch_size!r}")
        # Frozen means frozen: copies, so a recipe mutating its dicts later changes nothing.
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "roles", dict(self.roles))
        object.__setattr__(self, "freeze", _node_sets(self.freeze, repr(self.name)))
        object.__setattr__(self, "train", _node_sets(self.train, repr(self.name)))


class StepContext(Protocol):
    """What the trainer lends a recipe during ``step``.

    ``step`` counts finished steps of the run, ``epoch`` the current epoch (from 0);
    ``total_steps`` is the run's planned length and ``progress`` = step / total_steps in
    [0, 1], for schedules (DANN's λ, KL annealing, a β warm-up)."""

    step: int
    epoch: int
    total_steps: int
    progress: float
    device: torch.device

    def optimize(self, loss: Tensor, *roles: str) -> None:
        """Add the roles' auxiliary losses and penalties, back-propagate, clip and step the
        roles' optimizers (with loss scaling under mixed precision)."""

    def gradients(self, outputs: Tensor, inputs: Tensor | Sequence[Tensor]
                  ) -> tuple[Tensor, ...]:
        """d(sum of outputs)/d(inputs) with ``create_graph``, for penalties that are
        themselves differentiated (WGAN-GP, R1, contractive AE); correct under mixed
        precision.  Raises RecipeError where it cannot be right (under DDP)."""


def noise_like(spec: InputSpec, n: int, device: torch.device,
               generator: torch.Generator | None = None) -> Tensor:
    """A batch of ``n`` codes for a Noise input: N(0, 1) or U(-1, 1) per its distribution."""
    shape = (n, *spec.shape)
    if any(not isinstance(d, int) for d in shape):
        raise RecipeError(f"noise input {spec.name!r} needs a fixed shape; received "
                          f"{list(spec.shape)}")
    if spec.params.get("distribution", "normal") == "uniform":
        return torch.rand(shape, device=device, generator=generator) * 2 - 1
    return torch.randn(shape, device=device, generator=generator)


def _fits(spec_shape: tuple, field_shape: tuple) -> bool:
    return len(spec_shape) == len(field_shape) and all(
        not isinstance(a, int) or a == b for a, b in zip(spec_shape, field_shape))


class Recipe:
    """Base of all recipes.  Subclasses set the class attributes and implement ``step``,
    ``eval_batch`` and ``eval_summary``; ``samples`` is optional."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    roles: ClassVar[tuple[Role, ...]] = ()
    params: ClassVar[tuple[Param, ...]] = ()
    tasks: ClassVar[tuple[str, ...]] = ()  # dataset tasks it accepts; empty: any
    feeds: ClassVar[tuple[Feed, ...]] = ()  # Inputs the recipe fills itself
    streams: ClassVar[tuple[Stream, ...]] = ()  # empty: one dataset, the project's
    live: ClassVar[tuple[str, ...]] = ()  # params that may change mid-run (runtime.adjust)
    # The validation metric that decides "best" and early stopping; None: no such metric.
    monitor: ClassVar[tuple[str, str] | None] = ("loss", "min")

    def __init__(self, networks: dict[str, Compiled], info: DataInfo,
                 params: dict[str, Any] | None = None, names: dict[str, str] | None = None,
                 others: Mapping[str, DataInfo] | None = None):
        missing = [r.name for r in self.roles if r.name not in networks]
        if missing:
            raise RecipeError(f"recipe {self.name!r} needs a network for role(s) "
                              f"{', '.join(missing)}; bind them in the recipe settings")
        self.compiled = {r.name: networks[r.name] for r in self.roles}
        self.names = {r: (names or {}).get(r, c.network) for r, c in self.compiled.items()}
        self.nets: dict[str, nn.Module] = {r: c.module for r, c in self.compiled.items()}
        self.calls: dict[str, nn.Module] = dict(self.nets)  # DDP/compiled wrappers go here
        self.info = info  # the primary stream's data
        self.others = dict(others or {})  # the other streams' data, by stream name
        missing = [s.name for s in self.streams[1:] if s.name not in self.others]
        if missing:
            raise RecipeError(f"recipe {self.name!r} reads a second dataset as stream(s) "
                              f"{', '.join(missing)}; choose one in the recipe settings")
        self.options = self.coerce(params)
        self.generator: torch.Generator | None = None  # the trainer's, for noise
        self.device = torch.device("cpu")  # set by the trainer when it moves the networks
        if self.tasks and info.task not in self.tasks:
            raise RecipeError(f"recipe {self.name!r} is for {' or '.join(self.tasks)} data; "
                              f"dataset {info.name!r} is a {info.task} dataset")
        self.check_inputs()

    @classmethod
    def coerce(cls, params: dict[str, Any] | None) -> dict[str, Any]:
        out, problems = coerce_params(cls.params, params, f"recipe {cls.name!r}")
        if problems:
            raise RecipeError("; ".join(message for _, message in problems))
        return out

    # --- binding data to inputs ----------------------------------------------------------

    def by_name(self) -> dict[str, nn.Module]:
        """The project's networks this recipe trains, by network name; a recipe's own helper
        modules (a decoder, a from-scratch twin) are left out: they are not results."""
        return {self.names[r]: self.nets[r] for r in self.compiled}

    def fed_inputs(self, role: str) -> list[InputSpec]:
        """The role's inputs read from the data (Noise inputs and Inputs whose source is
        ``recipe`` are filled by the recipe)."""
        return [s for s in self.compiled[role].inputs if not s.from_recipe]

    def recipe_inputs(self, role: str) -> list[InputSpec]:
        """The role's Inputs (not Noise) that the recipe fills."""
        return [s for s in self.compiled[role].inputs if s.from_recipe and s.block != "Noise"]

    def data_field(self, name: str) -> tuple[DataInfo, str]:
        """(the stream's data, the field) for a field name: ``x`` in the primary stream,
        ``target.x`` in stream ``target``."""
        stream, dot, rest = name.partition(".")
        if dot and stream in self.others:
            return self.others[stream], rest
        return self.info, name

    def check_inputs(self) -> None:
        """Every data-fed input names a field its dataset has, with the same shape; every
        recipe-filled input is one this recipe fills, and every feed it needs has its
        Input."""
        for role in self.compiled:
            for spec in self.fed_inputs(role):
                where = f"network {self.names[role]!r}, input {spec.name!r}"
                info, key = self.data_field(spec.field)
                fields = info.fields
                if any(f.role == role and f.field == spec.field for f in self.feeds):
                    raise RecipeError(f"{where} reads field {spec.field!r} from the data, "
                                      f"but recipe {self.name!r} fills it: set the input's "
                                      "source to 'recipe'")
                if key not in fields:
                    raise RecipeError(f"{where} reads field {spec.field!r}, but dataset "
                                      f"{info.name!r} has {', '.join(sorted(fields))}")
                f = fields[key]
                if not _fits(tuple(spec.shape), tuple(f.shape)):
                    raise RecipeError(
                        f"{where} expects samples of shape {list(spec.shape)}, but field "
                        f"{key!r} of {info.name!r} is {list(f.shape)}")
                if spec.kind == "index" and not f.dtype.startswith(("int", "uint")):
                    raise RecipeError(f"{where} takes integer ids, but field {key!r} "
                                      f"holds {f.dtype}")
            filled = {f.field for f in self.feeds if f.role == role}
            for spec in self.recipe_inputs(role):
                if spec.field not in filled:
                    offer = (f"it fills {', '.join(sorted(filled))}" if filled
                             else "it fills no input of this network")
                    raise RecipeError(
                        f"network {self.names[role]!r}, input {spec.name!r} is to be filled "
                        f"by the recipe as {spec.field!r}, but recipe {self.name!r} does not "
                        f"provide that; {offer}")
        for feed in self.feeds:
            if feed.required and feed.role in self.compiled and not any(
                    s.field == feed.field for s in self.recipe_inputs(feed.role)):
                raise RecipeError(
                    f"recipe {self.name!r} fills {feed.field!r} of network "
                    f"{self.names[feed.role]!r} ({feed.help or feed.role}): add an Input with "
                    f"source 'recipe' and field {feed.field!r}")

    def inputs(self, role: str, batch: dict[str, Tensor],
               replace: dict[str, Tensor] | None = None) -> list[Tensor]:
        """The role network's arguments: data fields by InputSpec.field, noise drawn fresh,
        and any input whose *field* appears in ``replace`` taken from there instead (which
        is where the recipe passes what it fills)."""
        source = {**batch, **replace} if replace else batch
        args = []
        for spec in self.compiled[role].inputs:
            if spec.block == "Noise" and spec.name not in source:
                n = next(iter(source.values())).shape[0]
                args.append(noise_like(spec, n, self.device, self.generator))
            elif spec.block == "Noise":
                args.append(source[spec.name])
            elif spec.field in source:
                args.append(source[spec.field])
            else:
                raise RecipeError(f"network {self.names[role]!r}, input {spec.name!r}: the "
                                  f"recipe was given no {spec.field!r} for it")
        return args

    def forward(self, role: str, batch: dict[str, Tensor], train: bool = True,
                replace: dict[str, Tensor] | None = None) -> Tensor | tuple[Tensor, ...]:
        """Run the role's network on the batch (its training wrapper when ``train``)."""
        module = self.calls[role] if train else self.nets[role]
        return module(*self.inputs(role, batch, replace))

    def output(self, role: str, result: Tensor | tuple, name: str | None = None) -> Tensor:
        """One output of a network's result: the named one, or the first."""
        if isinstance(result, Tensor):
            return result
        outputs = self.compiled[role].outputs
        if name is None:
            return result[0]
        if name not in outputs:
            raise RecipeError(f"network {self.names[role]!r} has no output {name!r}; it has "
                              f"{', '.join(outputs)}")
        return result[outputs.index(name)]

    # --- what subclasses define ----------------------------------------------------------

    def check(self, batch: dict[str, Tensor]) -> None:
        """A dry run on a tiny batch before training (eval mode, no grad): raise RecipeError
        when the networks' outputs do not fit the recipe or the data."""
        for role in self.compiled:
            self.forward(role, batch, train=False)

    def step(self, ctx: StepContext, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """One training step; returns 0-d metric tensors (losses named ``loss…``)."""
        raise NotImplementedError

    def eval_batch(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Additive validation quantities of one batch (sums, never means)."""
        raise NotImplementedError

    def eval_summary(self, totals: dict[str, Tensor],
                     count: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """(metrics, extras such as a confusion matrix) from the summed totals."""
        raise NotImplementedError

    def samples(self, data, step: int, epoch: int) -> list:
        """Pictures of what the model does now (``events.Samples``); none by default."""
        return []

    def optimizer_config(self, role: str) -> OptimizerConfig | None:
        """The optimizer that role ``role``'s module learns with, or None (the default) for
        the project's settings of the network it serves (a recipe whose helper copies each
        race their own optimizer answers for them)."""
        return None

    def stages(self) -> Sequence[Stage]:
        """The run's stages, in order; none (the default): the whole run is one stage."""
        return ()

    # --- state and sampling --------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """What the recipe keeps across steps besides the networks (EMA weights, an image
        pool, a running schedule): tensors, numbers, strings, lists and dicts of them,
        saved in every checkpoint and restored exactly by ``load_state_dict`` on resume."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state:
            raise RecipeError(f"recipe {self.name!r} keeps no state, but the checkpoint holds "
                              f"{', '.join(sorted(state))}")

    def sample(self, n: int, generator: torch.Generator, prompt: str | None = None,
               temperature: float = 1.0):
        """``n`` samples from the trained networks as one ``events.Samples`` (kind images,
        text or points), for ``layerloom sample``; ``prompt`` conditions a conditional
        model.  Raise RecipeError with a one-line reason when this recipe cannot sample or
        the prompt does not apply."""
        raise RecipeError(f"recipe {self.name!r} does not generate samples")

    def translation_source(self) -> str:
        """The data field whose pictures ``translate`` takes (the primary stream's ``x`` by
        default): ``layerloom sample --input`` checks an image against its shape and
        standardises it as training standardised that field."""
        return "x"

    def translate(self, x: Tensor) -> Tensor:
        """Image-to-image translation (Pix2Pix, CycleGAN) for ``layerloom sample --input``:
        ``x`` a batch [N, C, H, W] of the source field in the networks' units (standardised
        as the data pipeline does it); returns the translated images [N, C', H', W'] in the
        data's own units (pixels in [0, 1]), without gradients, the networks in eval mode.
        Raise RecipeError with a one-line reason when the recipe cannot translate."""
        raise RecipeError(f"recipe {self.name!r} does not translate images")


def node_module(module: nn.Module, node: str, where: str) -> nn.Module | None:
    """The module of canvas node ``node`` (dotted inside groups; the user's ids, which the
    attribute names differ from where a name is reserved); None for a node that has no module
    (an inline operation, an Input): it has no weights to freeze."""
    try:
        found = module.get_submodule(attr_path(module, node))
        if isinstance(found, nn.Module):
            return found
    except AttributeError:
        pass
    graph = module.graph.nodes if isinstance(module, fx.GraphModule) else ()
    if any(n.meta.get("layerloom_node") == node for n in graph):
        return None
    raise RecipeError(f"{where} names node {node!r}, which the network does not have")
