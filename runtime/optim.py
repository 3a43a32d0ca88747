"""Optimizers as a deep-learning course teaches them, and learning-rate schedules.

Every schedule is one ``LambdaLR`` whose factor is a pure function of the step, so a
checkpoint only needs the step count to resume it exactly, and warm-up combines with any
schedule.  Schedules are stepped once per optimisation step (not per epoch) so that short
runs and one-cycle behave the same whatever the epoch length.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from builder.compiler import LR_SCALE
from builder.document import OptimizerConfig
from builder.training import (
    OPTIMIZERS,
    SCHEDULE_PARAMS,
    SCHEDULES,
    canonical_optimizer,
    canonical_schedule,
    check_optimizer,
)

__all__ = ["OPTIMIZERS", "SCHEDULES", "OptimError", "make_optimizer", "make_schedule",
           "schedule_factor", "lr_scales", "group_rate", "step_schedule"]


class OptimError(ValueError):
    """An optimizer or schedule setting was refused; the message names it."""


def lr_scales(module: nn.Module) -> dict[int, float]:
    """id(parameter) → the learning-rate factor of the innermost block that holds it (a
    node's ``lr_scale``, kept on its module by the compiler), for the factors other than 1."""
    out: dict[int, float] = {}
    for _, m in sorted(module.named_modules(), key=lambda nm: nm[0].count(".")):
        scale = getattr(m, LR_SCALE, None)
        if scale is not None:  # outer first, so an inner block's own factor wins
            out.update({id(p): float(scale) for p in m.parameters()})
    return {k: v for k, v in out.items() if v != 1.0}


def _groups(params: list[nn.Parameter], scales: dict[int, float], lr: float) -> list[dict]:
    """One param group per factor, the factor-1 group first (what a live change and the LR
    plot read), each knowing its ``lr_scale``."""
    by_scale: dict[float, list] = {}
    for p in params:
        by_scale.setdefault(scales.get(id(p), 1.0), []).append(p)
    order = sorted(by_scale, key=lambda s: (s != 1.0, s))
    return [{"params": by_scale[s], "lr": lr * s, "lr_scale": s} for s in order]


def group_rate(group: dict) -> float:
    """A param group's learning rate without its block factor: the network's rate."""
    return float(group["lr"]) / float(group.get("lr_scale", 1.0))


def make_optimizer(config: OptimizerConfig, params: Iterable[nn.Parameter],
                   device: torch.device | None = None,
                   scales: dict[int, float] | None = None) -> torch.optim.Optimizer:
    """The optimizer ``config`` names, over ``params`` (only those that require grad), with
    one param group per learning-rate factor in ``scales`` (id(parameter) → factor).
    Names and ranges are the builder's (``builder.training``), as the file reader checks."""
    problems = check_optimizer(config)
    if problems:
        raise OptimError(problems[0][1])
    name = canonical_optimizer(config.name)
    extra = dict(config.params)
    if "betas" in extra:
        extra["betas"] = tuple(extra["betas"])
    params = _groups([p for p in params if p.requires_grad], scales or {}, float(config.lr))
    # foreach kernels update all tensors of a group in a few launches; fused Adam does the
    # whole update in one pass over each tensor, on the CPU too (a sixth of the foreach
    # kernels' time for a 0.4M-parameter U-Net on two cores: 0.6 ms against 3.4 ms a step).
    fast: dict[str, Any] = {"foreach": True}
    where = {p.device.type for group in params for p in group["params"]}
    if name in ("adam", "adamw") and where <= {"cpu", "cuda"}:
        fast = {"fused": True}
    lr = float(config.lr)
    if name in ("sgd", "momentum", "nesterov"):
        if name != "sgd":
            extra.setdefault("momentum", 0.9)
        if name == "nesterov":
            extra["nesterov"] = True
        if extra.get("nesterov") and not extra.get("momentum"):
            raise OptimError("Nesterov momentum needs a momentum above 0")
        return torch.optim.SGD(params, lr=lr, **extra, **fast)
    cls = {"rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad,
           "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    try:
        return cls(params, lr=lr, **extra, **fast)
    except (TypeError, ValueError) as e:
        raise OptimError(f"{name}: {e}") from None


def _num(schedule: dict, key: str, default: float | None = None) -> float:
    param = SCHEDULE_PARAMS[key]
    try:
        return float(param.coerce(schedule.get(key, param.default if default is None
                                               else default)))
    except ValueError as e:
        raise OptimError(f"schedule {e}") from None


def schedule_factor(schedule: dict[str, Any], steps_per_epoch: int,
                    total_steps: int) -> Callable[[int], float]:
    """step → multiplier of the base learning rate.

    Keys: ``name``; ``warmup_epochs`` (linear warm-up from 0, any schedule); ``step``:
    ``step_size`` (epochs), ``gamma``; ``cosine``: ``min_factor``; ``one_cycle``:
    ``pct_start``, ``div_factor``, ``final_div_factor`` (the base LR is the peak).
    ``warmup`` alone means warm-up, then constant.
    """
    name = canonical_schedule(schedule.get("name", "constant"))
    if name not in SCHEDULES:
        raise OptimError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    spe = max(1, steps_per_epoch)
    total = max(1, total_steps)
    warm = int(_num(schedule, "warmup_epochs", 1.0 if name == "warmup" else None) * spe)
    if name in ("constant", "warmup"):
        def main(step: int) -> float:
            return 1.0
    elif name == "step":
        size = max(1, int(_num(schedule, "step_size") * spe))
        gamma = _num(schedule, "gamma")

        def main(step: int) -> float:
            return gamma ** (step // size)
    elif name == "cosine":
        floor = _num(schedule, "min_factor")

        def main(step: int) -> float:
            t = min(1.0, max(0, step - warm) / max(1, total - warm))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))
    else:  # one_cycle, as Smith's super-convergence: up, then down well below the start
        pct = _num(schedule, "pct_start")
        start = 1 / _num(schedule, "div_factor")
        end = start / _num(schedule, "final_div_factor")
        peak = max(1, int(pct * total))
        warm = 0

        def main(step: int) -> float:
            if step < peak:
                return start + (1 - start) * 0.5 * (1 - math.cos(math.pi * step / peak))
            t = min(1.0, (step - peak) / max(1, total - peak))
            return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * t))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        return main(step)

    return factor


def step_schedule(schedule: torch.optim.lr_scheduler.LRScheduler) -> None:
    """One step of ``schedule``.  A schedule here is a pure function of the run's step, so it
    is stepped every step, also for an optimizer the recipe has not stepped yet (a baseline's
    idle domain head, a GAN network waiting for its turn): torch's one-time warning about the
    call order, checked at the first step only, does not apply."""
    if schedule._step_count == 1 and not getattr(schedule.optimizer, "_opt_called", False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            schedule.step()
    else:
        schedule.step()


def make_schedule(optimizer: torch.optim.Optimizer, schedule: dict[str, Any],
                  steps_per_epoch: int, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, schedule_factor(schedule, steps_per_epoch, total_steps))
