"""From a project to the parts of a run: the dataset, the compiled role networks, the recipe.

Each failure is a ``SetupError`` whose ``kind`` says whose fault it is (``dataset``,
``setup`` for the networks, ``recipe`` for the binding of the two), with a message a student
can act on; the trainer turns it into a ``Failure`` event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from builder.compiler import Compiled, CompileError, compile_network
from builder.document import DatasetConfig, Project, TrainingSettings
from runtime import distributed, recipes
from runtime.data import DATASETS, DatasetSpec, Splits, load
from runtime.evaluate import eval_mode
from runtime.optim import OptimError, lr_scales, make_optimizer, make_schedule
from runtime.recipes.base import Recipe, RecipeError

__all__ = ["SetupError", "recipe_class", "stream_configs", "dataset_params", "dataset_failure",
           "load_stream", "load_data", "bound_network", "compile_roles", "make_recipe",
           "dry_run", "make_optimizers", "training_calls"]


class SetupError(RuntimeError):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def recipe_class(project: Project) -> type[Recipe]:
    try:
        return recipes.get(project.recipe.name)
    except RecipeError as e:
        raise SetupError("recipe", str(e)) from e


def stream_configs(project: Project) -> dict[str, DatasetConfig]:
    """The dataset of each data stream the project's recipe reads, primary first."""
    declared = [s.name for s in recipe_class(project).streams]
    out = {declared[0] if declared else "data": project.dataset}
    for name in declared[1:]:
        if name not in project.streams:
            raise SetupError("dataset", f"recipe {project.recipe.name!r} reads a second "
                                        f"dataset as stream {name!r}; choose one for it")
        out[name] = project.streams[name]
    unknown = sorted(set(project.streams) - set(declared[1:]))
    if unknown:
        raise SetupError("dataset", f"the project binds stream(s) {', '.join(unknown)}, which "
                                    f"recipe {project.recipe.name!r} does not read"
                                    + (f"; it reads {', '.join(declared[1:])}"
                                       if declared[1:] else ""))
    return out


def dataset_params(cfg: DatasetConfig, project: Project, stream: str
                   ) -> tuple[DatasetSpec, dict[str, Any]]:
    """The spec of a stream's dataset and the params ``load`` gets (the training settings'
    validation share unless the params set their own ``val_fraction``)."""
    spec = DATASETS.get(cfg.name)
    if spec is None:
        raise SetupError("dataset", f"{_where(project, stream)}unknown dataset {cfg.name!r}; "
                                    f"known: {', '.join(sorted(DATASETS))}")
    params = dict(cfg.params)
    if "val_fraction" not in params and any(p.name == "val_fraction" for p in spec.params):
        params["val_fraction"] = project.training.validation_split
    return spec, params


def dataset_failure(cfg: DatasetConfig, project: Project, stream: str,
                    error: Exception) -> SetupError:
    """What a stream's dataset failing to load (or its params failing their check) says."""
    return SetupError("dataset", f"{_where(project, stream)}dataset {cfg.name!r} could not be "
                                 f"loaded: {error}")


def _where(project: Project, stream: str) -> str:
    return f"stream {stream!r}: " if project.streams else ""


def load_stream(cfg: DatasetConfig, project: Project, stream: str,
                progress: Callable[[int, int | None], None] | None = None,
                params: dict[str, Any] | None = None, root: str | None = None) -> Splits:
    """One stream's dataset; ``params`` replaces the project's (a smaller instance),
    ``root`` the data folder (one whose caches are not the user's)."""
    _, given = dataset_params(cfg, project, stream)
    try:
        return load(cfg.name, given if params is None else params, root=root,
                    progress=progress, augment=cfg.augment)
    except Exception as e:  # a dataset's own error already says what is wrong
        raise dataset_failure(cfg, project, stream, e) from e


def load_data(project: Project, progress: Callable[[int, int | None], None] | None = None
              ) -> Splits:
    """The project's dataset, with the recipe's other streams in ``others``.  The training
    settings' validation share applies unless a dataset's params set their own
    ``val_fraction``; each stream is normalised with its own statistics."""
    configs = stream_configs(project)
    (primary, cfg), *rest = configs.items()
    splits = load_stream(cfg, project, primary, progress)
    if rest:
        splits.others = {name: load_stream(c, project, name, progress) for name, c in rest}
    return splits


def bound_network(project: Project, role: str, roles: list[str]) -> str:
    """The name of the network bound to ``role`` (one of the recipe's ``roles``)."""
    name = project.recipe.roles.get(role)
    if name is None and len(roles) == 1 and len(project.networks) == 1:
        name = next(iter(project.networks))  # one network, one role: nothing to choose
    if name is None:
        raise SetupError("recipe", f"recipe {project.recipe.name!r} needs a network for "
                                   f"role {role!r}; bind one in the recipe settings")
    if name not in project.networks:
        raise SetupError("recipe", f"role {role!r} is bound to network {name!r}, which "
                                   "this project does not have")
    return name


def compile_roles(project: Project, roles: list[str]) -> dict[str, Compiled]:
    """Compile the network bound to each role (a network bound twice is compiled once)."""
    out: dict[str, Compiled] = {}
    done: dict[str, Compiled] = {}
    for role in roles:
        name = bound_network(project, role, roles)
        if name not in done:
            try:
                done[name] = compile_network(project.networks[name])
            except CompileError as e:
                raise SetupError("setup", str(e)) from e
        out[role] = done[name]
    return out


def make_recipe(project: Project, splits: Splits) -> Recipe:
    """The project's recipe over its compiled networks and the loaded data's description."""
    cls = recipe_class(project)
    networks = compile_roles(project, [r.name for r in cls.roles])
    try:
        return cls(networks, splits.info, project.recipe.params,
                   others={name: s.info for name, s in splits.others.items()})
    except RecipeError as e:
        raise SetupError("recipe", str(e)) from e


def dry_run(recipe: Recipe, data: Splits, device: torch.device) -> None:
    """Two samples through every network before training, so a misfit (wrong class count,
    wrong field) is a sentence at once rather than an error deep inside the first step."""
    try:
        batch = next(data.batches("train", 2, shuffle=False, device=device, augment=False))
    except Exception as e:
        raise SetupError("dataset", f"reading the first training samples failed: "
                                    f"{type(e).__name__}: {e}") from e
    try:
        with eval_mode(recipe.nets.values()), torch.no_grad():
            recipe.check(batch)
    except RecipeError as e:
        raise SetupError("recipe", str(e)) from e
    except Exception as e:
        raise SetupError("setup", f"the networks fail on a first batch: {e}") from e


def make_optimizers(recipe: Recipe, settings: TrainingSettings, device: torch.device,
                    steps_per_epoch: int, total_steps: int) -> tuple[dict, dict]:
    """One optimizer per role network (None for a fully frozen one) and, unless the
    schedule is constant, one LR schedule each."""
    optimizers, schedules = {}, {}
    schedule = settings.schedule
    constant = str(schedule.get("name", "constant")) == "constant" \
        and not schedule.get("warmup_epochs")
    for role, module in recipe.nets.items():
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            optimizers[role] = None
            continue
        name = recipe.names[role]
        # A recipe's helper module (a decoder, a from-scratch twin) learns with the settings
        # of the network it serves, unless the recipe chooses (an optimizer race's copies).
        serves = name if role in recipe.compiled else recipe.names[next(iter(recipe.compiled))]
        try:
            config = recipe.optimizer_config(role) or settings.optimizer_for(serves)
            optimizers[role] = make_optimizer(config, params, device, lr_scales(module))
            if not constant:
                schedules[role] = make_schedule(optimizers[role], schedule, steps_per_epoch,
                                                total_steps)
        except OptimError as e:
            raise SetupError("setup", f"network {name!r}: {e}") from e
    return optimizers, schedules


def training_calls(recipe: Recipe, device: torch.device, ddp: bool, compile: bool) -> None:
    """What the step calls: each role network, wrapped in DDP and/or torch.compile."""
    for role, module in recipe.nets.items():
        call = module
        if ddp:  # a recipe's own helper module (no compiled network) has one output
            outputs = len(recipe.compiled[role].outputs) if role in recipe.compiled else 1
            call = distributed.wrap(module, device, outputs)
        if compile:
            call = torch.compile(call)
        recipe.calls[role] = call
