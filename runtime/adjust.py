"""Settings that may change while a run trains: the learning rates, gradient clipping, the
L1/L2 penalties, and the params a recipe declares live (its class attribute ``live``, e.g. a
language model's sampling temperature).

These are the knobs a student turns after a NaN ("lower the learning rate, clip the gradient,
resume"), so they apply to the running (or paused) run at once.  Everything else (the
network, data, optimizer kind, batch size) shapes the run from its start and waits for the
next one.  Values are checked against the same ranges as the file reader's
(``builder.training``).

A change is a dict: ``{"lr": {network or "*": rate}, "grad_clip": x, "l1": x, "l2": x,
"recipe": {param: value}}``; a recipe param is checked against the range of its ``Param``
and applied to the recipe's options between steps.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from builder.blocks.spec import ParamError
from builder.document import Project, TrainingSettings
from builder.training import HYPER, TRAINING_PARAMS
from runtime.optim import group_rate

__all__ = ["LIVE", "live_values", "live_controls", "changes_between", "check_changes",
           "base_rate", "set_rate", "apply_changes"]

LIVE = ("lr", "grad_clip", "l1", "l2", "recipe")
_PENALTIES = {"grad_clip": "gradient clipping", "l1": "L1 penalty", "l2": "L2 penalty"}


def live_values(project: Project) -> dict[str, Any]:
    """The live settings of ``project`` as a change dict (every network's rate, the live
    params of its recipe)."""
    from runtime.recipes import RECIPES  # here: a recipe module imports this one

    s = project.training
    cls = RECIPES.get(project.recipe.name)
    params = {p.name: p for p in cls.params} if cls is not None else {}
    return {"lr": {name: s.optimizer_for(name).lr for name in project.networks},
            **{key: getattr(s, key) for key in _PENALTIES},
            "recipe": {name: project.recipe.params.get(name, params[name].default)
                       for name in (cls.live if cls is not None else ()) if name in params}}


def live_controls(recipe) -> dict[str, dict[str, Any]]:
    """The recipe's live params as a view draws their controls: value, kind, range, help."""
    params = {p.name: p for p in recipe.params}
    return {name: {"value": recipe.options[name], "kind": params[name].kind,
                   "min": params[name].min, "max": params[name].max, "help": params[name].help}
            for name in recipe.live if name in params}


def changes_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What differs from ``before`` to ``after`` (both ``live_values``), as a change dict."""
    changes: dict[str, Any] = {}
    rates = {n: r for n, r in after["lr"].items() if before["lr"].get(n) != r}
    if rates:
        changes["lr"] = rates
    changes.update({k: after[k] for k in _PENALTIES if before[k] != after[k]})
    recipe = {n: v for n, v in after.get("recipe", {}).items()
              if before.get("recipe", {}).get(n) != v}
    if recipe:
        changes["recipe"] = recipe
    return changes


def check_changes(changes: dict[str, Any], recipe=None) -> list[str]:
    """What is wrong with ``changes`` for a run of ``recipe``, in words (empty: all fine)."""
    problems = [f"{key!r} cannot change while a run trains; it applies to the next run"
                for key in changes if key not in LIVE]
    for name, value in dict(changes.get("recipe", {})).items():
        problems += _recipe_problems(recipe, name, value)
    for network, rate in dict(changes.get("lr", {})).items():
        try:
            HYPER["lr"].coerce(rate)
        except ParamError as e:
            problems.append(f"{network}: {e}")
    for key in _PENALTIES:
        if key in changes:
            try:
                TRAINING_PARAMS[key].coerce(changes[key])
            except ParamError as e:
                problems.append(str(e))
    return problems


def _recipe_problems(recipe, name: str, value: Any) -> list[str]:
    if recipe is None:
        return [f"recipe setting {name!r}: no recipe is running"]
    if name not in recipe.live:
        live = ", ".join(recipe.live) or "none"
        return [f"recipe {recipe.name!r}: {name!r} cannot change while a run trains (live "
                f"settings: {live}); it applies to the next run"]
    param = next(p for p in recipe.params if p.name == name)
    try:
        param.coerce(value)
    except ParamError as e:
        return [f"recipe {recipe.name!r}: {e}"]
    return []


def base_rate(opt: torch.optim.Optimizer, sched: Any | None) -> float:
    """The learning rate the user set (a schedule multiplies it step by step)."""
    group = opt.param_groups[0]
    return float(sched.base_lrs[0]) / float(group.get("lr_scale", 1.0)) if sched is not None \
        else group_rate(group)


def set_rate(opt: torch.optim.Optimizer, sched: Any | None, rate: float) -> None:
    """Make ``rate`` the base learning rate, keeping the schedule's current factor."""
    scales = [float(g.get("lr_scale", 1.0)) for g in opt.param_groups]  # per-block factors
    if sched is None:
        for group, scale in zip(opt.param_groups, scales):
            group["lr"] = rate * scale
        return
    sched.base_lrs = [rate * s for s in scales]
    for group, factor, scale in zip(opt.param_groups, sched.lr_lambdas, scales):
        group["initial_lr"] = rate * scale
        group["lr"] = rate * scale * factor(sched.last_epoch)
    sched._last_lr = [g["lr"] for g in opt.param_groups]


def apply_changes(changes: dict[str, Any], settings: TrainingSettings,
                  optimizers: dict[str, torch.optim.Optimizer | None], schedules: dict,
                  names: dict[str, str], ctx, recipe=None) -> list[str]:
    """Apply checked ``changes`` to the live optimizers, the step context (``ctx``, the
    trainer's ``Optimization``) and the options of ``recipe`` (the one stepping now), and
    record the training settings in ``settings``, so the next stage keeps them; returns
    what changed, in words ("learning rate of main 0.01 → 0.001", "temperature 0.8 → 0.3")."""
    said = []
    for name, value in dict(changes.get("recipe", {})).items():
        param = next(p for p in recipe.params if p.name == name)
        old, new = recipe.options[name], param.coerce(value)
        if old != new:
            recipe.options[name] = new
            said.append(f"{name.replace('_', ' ')} {_value(old)} → {_value(new)}")
    for network, rate in dict(changes.get("lr", {})).items():
        rate = float(rate)
        for role, opt in optimizers.items():
            if opt is None or network not in ("*", names[role]):
                continue
            old = base_rate(opt, schedules.get(role))
            if old != rate:
                set_rate(opt, schedules.get(role), rate)
                said.append(f"learning rate of {names[role]} {old:g} → {rate:g}")
            config = settings.optimizer_for(names[role])
            settings.optimizers[names[role]] = dataclasses.replace(config, lr=rate)
    for key, label in _PENALTIES.items():
        if key in changes:
            old, new = getattr(settings, key), float(changes[key])
            if old != new:
                setattr(settings, key, new)
                setattr(ctx, "clip" if key == "grad_clip" else key, new)
                said.append(f"{label} {_off(old)} → {_off(new)}")
    return said


def _value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return repr(value)
    return f"{value:g}"


def _off(value: float) -> str:
    return "off" if value == 0 else f"{value:g}"
