"""From a project to the parts of a run: the dataset, the compiled role networks, the recipe.

Each failure is a ``SetupError`` whose ``kind`` says whose fault it is (``dataset``,
``setup`` for the networks, ``recipe`` for the binding of the two), with a message a student
can act on; the trainer turns it into a ``Failure`` event.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from builder.compiler import Compiled, CompileError, compile_network
from builder.document import Project, TrainingSettings
from runtime import distributed, recipes
from runtime.data import DATASETS, Splits, load
from runtime.evaluate import eval_mode
from runtime.optim import OptimError, make_optimizer, make_schedule
from runtime.recipes.base import Recipe, RecipeError

__all__ = ["SetupError", "load_data", "compile_roles", "make_recipe", "dry_run",
           "make_optimizers", "training_calls"]


class SetupError(RuntimeError):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def load_data(project: Project, progress: Callable[[int, int | None], None] | None = None
              ) -> Splits:
    """The project's dataset.  The training settings' validation share applies unless the
    dataset params set their own ``val_fraction``."""
    cfg = project.dataset
    spec = DATASETS.get(cfg.name)
    if spec is None:
        raise SetupError("dataset", f"unknown dataset {cfg.name!r}; known: "
                                    f"{', '.join(sorted(DATASETS))}")
    params = dict(cfg.params)
    if "val_fraction" not in params and any(p.name == "val_fraction" for p in spec.params):
        params["val_fraction"] = project.training.validation_split
    try:
        return load(cfg.name, params, progress=progress)
    except Exception as e:  # a dataset's own error already says what is wrong
        raise SetupError("dataset", f"dataset {cfg.name!r} could not be loaded: {e}") from e


def compile_roles(project: Project, roles: list[str]) -> dict[str, Compiled]:
    """Compile the network bound to each role (a network bound twice is compiled once)."""
    bound = project.recipe.roles
    out: dict[str, Compiled] = {}
    done: dict[str, Compiled] = {}
    for role in roles:
        name = bound.get(role)
        if name is None and len(roles) == 1 and len(project.networks) == 1:
            name = next(iter(project.networks))  # one network, one role: nothing to choose
        if name is None:
            raise SetupError("recipe", f"recipe {project.recipe.name!r} needs a network for "
                                       f"role {role!r}; bind one in the recipe settings")
        if name not in project.networks:
            raise SetupError("recipe", f"role {role!r} is bound to network {name!r}, which "
                                       "this project does not have")
        if name not in done:
            try:
                done[name] = compile_network(project.networks[name])
            except CompileError as e:
                raise SetupError("setup", str(e)) from e
        out[role] = done[name]
    return out


def make_recipe(project: Project, splits: Splits) -> Recipe:
    """The project's recipe over its compiled networks and the loaded data's description."""
    try:
        cls = recipes.get(project.recipe.name)
    except RecipeError as e:
        raise SetupError("recipe", str(e)) from e
    networks = compile_roles(project, [r.name for r in cls.roles])
    try:
        return cls(networks, splits.info, project.recipe.params)
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
        try:
            optimizers[role] = make_optimizer(settings.optimizer_for(name), params, device)
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
