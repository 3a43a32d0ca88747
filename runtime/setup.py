"""Everything a run needs before its first step, made once: the device, the data, the recipe
and the recipes its stages step with, the plan, mixed precision — and, per stage, the
trainable set, optimizers, schedules, step context and early stopping.

``prepare`` and ``begin_stage`` are the trainer's setup, kept apart from its loop; each
failure is a ``SetupError`` whose message the user can act on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from builder.document import Project, TrainingSettings
from runtime import distributed
from runtime.assemble import (
    SetupError,
    dry_run,
    load_data,
    make_optimizers,
    make_recipe,
    training_calls,
)
from runtime.data import Splits
from runtime.devices import (
    DeviceError,
    amp_supported,
    make_scaler,
    seed_everything,
    select_device,
    use_fast_layout,
)
from runtime.evaluate import EarlyStopping
from runtime.events import StageStarted, Warning
from runtime.init_weights import InitError, load_init
from runtime.optimize import Optimization
from runtime.plan import Plan, PlanError, make_plan
from runtime.recipes.base import Recipe, RecipeError, Stage
from runtime.report import Watch
from runtime.stages import Freezer, declared, shared_roles, step_recipe
from runtime.stats import LayerStats

__all__ = ["Run", "Current", "prepare", "begin_stage"]


@dataclass
class Run:
    device: torch.device
    data: Splits
    recipe: Recipe  # the project's recipe, which declares the stages
    stages: list[Stage]
    announce: bool  # the recipe declared its stages: tell the user about each
    freezer: Freezer
    step_recipes: list[Recipe]  # the recipe doing the step, per stage
    plan: Plan
    amp: bool
    scaler: torch.amp.GradScaler | None

    def recipes(self) -> list[Recipe]:
        """The project's recipe and every other recipe a stage steps with."""
        out = [self.recipe]
        for r in self.step_recipes:
            if all(r is not o for o in out):
                out.append(r)
        return out

    @property
    def networks(self) -> dict[str, torch.nn.Module]:
        """Network name → module: the project's networks; a recipe's own helper modules
        (a from-scratch twin) are checkpointed with the stage but are not results."""
        return self.recipe.by_name()


@dataclass
class Current:
    """The stage being trained."""

    active: Recipe
    optimizers: dict[str, torch.optim.Optimizer | None]
    schedules: dict[str, Any]
    ctx: Optimization
    early: EarlyStopping


def prepare(project: Project, settings: TrainingSettings, *, data: Splits | None,
            device: str, dist: distributed.Dist | None, epochs: int | None,
            max_steps: int | None, fresh: bool, emit: Callable,
            progress: Callable[[int, int | None], None]) -> Run:
    """Set the run up; ``fresh``: not resuming, so networks start from ``settings.init``."""
    try:
        where = select_device(device, dist.local_rank if dist else None)
    except DeviceError as e:
        raise SetupError("setup", str(e)) from None
    if dist:
        distributed.init(dist, where)
    seed_everything(settings.seed)
    data = data if data is not None else load_data(project, progress)
    if dist:
        data = distributed.shard(data, dist)
    data = data.to(where)
    recipe = make_recipe(project, data)
    try:
        stages, announce = declared(recipe)
        freezer = Freezer(recipe)  # before anything changes requires_grad
        for stage in stages:
            freezer.check(stage)
        step_recipes = [step_recipe(stage, recipe, data.info) for stage in stages]
        plan = make_plan(len(data.train), settings, stages, epochs, max_steps)
    except (RecipeError, PlanError) as e:
        raise SetupError("dataset" if not len(data.train) else "recipe", str(e)) from e
    amp = bool(settings.amp) and amp_supported(where)
    run = Run(where, data, recipe, stages, announce, freezer, step_recipes, plan, amp,
              make_scaler(where, amp))
    noise = torch.Generator(where).manual_seed(settings.seed + 1 + (dist.rank if dist else 0))
    for r in run.recipes():  # one noise stream for the run, whichever recipe steps
        for module in r.nets.values():
            module.to(where).train()
            use_fast_layout(module, where)
        r.device, r.generator = where, noise
    if fresh:
        _start_from_weights(run, settings.init, emit)
    for r in run.recipes():
        dry_run(r, data, where)
    if settings.amp and not amp:
        emit(Warning(0, "amp_unavailable", f"mixed precision is used on CUDA only; training "
                                           f"in float32 on {where}"))
    return run


def _start_from_weights(run: Run, init: dict[str, str], emit: Callable) -> None:
    """Networks named in ``init`` start from saved weights, each with a report."""
    modules = run.networks
    for network, path in init.items():
        if network not in modules:
            raise SetupError("setup", f"init names network {network!r}, which recipe "
                                      f"{run.recipe.name!r} does not train here; it trains "
                                      f"{', '.join(modules)}")
        try:
            emit(load_init(modules[network], path, network))
        except InitError as e:
            raise SetupError("setup", f"cannot start network {network!r} from {path}: "
                                      f"{e}") from e


def begin_stage(run: Run, index: int, step: int, epoch: int, settings: TrainingSettings,
                watch: Watch, stats: dict[str, LayerStats], *, ddp: bool, compile: bool
                ) -> tuple[Current, StageStarted]:
    """Stage ``index`` (begun at ``epoch``/``step``) made current: its trainable set, its
    recipe wrapped for training, fresh optimizers and LR schedules over what trains (a frozen
    parameter must not be decayed or carry stale momentum) and its own early stopping (each
    stage's recipe monitors its own metric).  ``stats`` is refilled in place: the reporter
    shares it."""
    stage, plan = run.stages[index], run.plan
    active = run.step_recipes[index]
    trainable = run.freezer.apply(stage)
    # Gradient statistics follow the trainable parameters, so they are rebuilt too.
    stats.clear()
    if watch.stride > 0 and (watch.gradients or watch.activations):
        acts = watch.activations and not compile  # hooks would force recompiles
        for role, run_role in shared_roles(active, run.recipe).items():
            stats[role] = LayerStats(run.recipe.names[run_role], active.nets[role],
                                     run.device, watch.gradients, acts)
    # DDP registers only the parameters that require grad when it wraps: wrap afresh.
    training_calls(active, run.device, ddp, compile)
    optimizers, schedules = make_optimizers(active, settings, run.device,
                                            plan.batching[index].steps,
                                            plan.stage_steps(index, step))
    ctx = Optimization(active.nets, active.names, optimizers, run.device, l1=settings.l1,
                       l2=settings.l2, grad_clip=settings.grad_clip, scaler=run.scaler,
                       stats=stats, total_steps=plan.total_steps, distributed=ddp)
    current = Current(active, optimizers, schedules, ctx,
                      EarlyStopping(active.monitor, settings.early_stopping))
    return current, StageStarted(step, epoch, index, stage.name, trainable,
                                 plan.stage_epochs[index], len(run.stages), active.name,
                                 plan.batching[index].size if stage.batch_size else 0)
