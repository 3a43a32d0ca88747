"""The recipe-independent text of ``train.py``: imports, settings, optimizers, the schedule,
batches and the loop, in the order Layerloom's trainer does things, so that the same seed
gives the same numbers (the global seed, the data, the networks built in role order, the
noise generator ``seed + 1``, the batch-order generator ``seed``, one permutation per
epoch, the schedules stepped after every step, validation at each epoch's end and when
``--steps`` is reached)."""

from __future__ import annotations

import re
import textwrap

import torch

from builder.document import TrainingSettings
from builder.training import canonical_schedule
from runtime.optim import _num, make_optimizer

__all__ = ["optimizer_call", "schedule_code", "render", "SKELETON"]

# Constructor arguments the script never needs to spell out: speed switches.
_QUIET = {"foreach", "fused", "capturable", "differentiable", "maximize"}


def optimizer_call(config, params: str) -> str:
    """``torch.optim.X(params, lr=…, <non-default settings>)`` exactly as Layerloom makes it:
    the app's own ``make_optimizer`` builds one and its defaults are read back."""
    probe = make_optimizer(config, [torch.nn.Parameter(torch.zeros(1))], torch.device("cpu"))
    cls = type(probe)
    stock = cls([torch.nn.Parameter(torch.zeros(1))], lr=1.0).defaults
    args = [params, f"lr={float(config.lr)!r}"]
    for key, value in probe.defaults.items():
        if key in _QUIET or key == "lr" or stock.get(key) == value:
            continue
        args.append(f"{key}={tuple(value) if isinstance(value, list) else value!r}")
    # The multi-tensor update Layerloom uses (``fast``: fused Adam on CUDA), so the rounding
    # matches too.
    fast = "**fast" if cls in (torch.optim.Adam, torch.optim.AdamW) else "foreach=True"
    return f"torch.optim.{cls.__name__}({', '.join(args)}, {fast})"


def schedule_code(schedule: dict) -> str | None:
    """``lr_factor(step, steps_per_epoch, total_steps)`` for the project's schedule (the
    app's ``runtime.optim.schedule_factor`` with its numbers filled in); None: constant."""
    name = canonical_schedule(schedule.get("name", "constant"))
    if name == "constant" and not schedule.get("warmup_epochs"):
        return None
    warm = _num(schedule, "warmup_epochs", 1.0 if name == "warmup" else None)
    if name in ("constant", "warmup"):
        main = "return 1.0"
    elif name == "step":
        main = (f"size = max(1, int({_num(schedule, 'step_size')!r} * steps_per_epoch))\n"
                f"return {_num(schedule, 'gamma')!r} ** (step // size)")
    elif name == "cosine":
        floor = _num(schedule, "min_factor")
        main = ("t = min(1.0, max(0, step - warm) / max(1, total_steps - warm))\n"
                f"return {floor!r} + (1 - {floor!r}) * 0.5 * (1 + math.cos(math.pi * t))")
    else:  # one_cycle: up, then down well below the start; no separate warm-up
        start = 1 / _num(schedule, "div_factor")
        end = start / _num(schedule, "final_div_factor")
        warm = 0.0
        main = (f"peak = max(1, int({_num(schedule, 'pct_start')!r} * total_steps))\n"
                "if step < peak:\n"
                f"    return {start!r} + (1 - {start!r}) * 0.5 * "
                "(1 - math.cos(math.pi * step / peak))\n"
                "t = min(1.0, (step - peak) / max(1, total_steps - peak))\n"
                f"return {end!r} + (1 - {end!r}) * 0.5 * (1 + math.cos(math.pi * t))")
    return (f'def lr_factor(step: int, steps_per_epoch: int, total_steps: int) -> float:\n'
            f'    """Multiplier of the base learning rate: the {name} schedule."""\n'
            f"    steps_per_epoch, total_steps = max(1, steps_per_epoch), max(1, total_steps)\n"
            f"    warm = int({warm!r} * steps_per_epoch)\n"
            f"    if step < warm:  # linear warm-up\n"
            f"        return (step + 1) / (warm + 1)\n"
            + textwrap.indent(main, "    ") + "\n")


def render(template: str, **values: str) -> str:
    """``@NAME@`` placeholders filled in (code is full of braces, so no str.format)."""
    for key, value in values.items():
        template = template.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", template)
    if left:
        raise ValueError(f"placeholder {left[0]} was left unfilled")
    return template


def settings_block(settings: TrainingSettings) -> str:
    lines = [f"SEED = {settings.seed!r}", f"EPOCHS = {settings.epochs!r}",
             f"BATCH_SIZE = {settings.batch_size!r}"]
    if settings.l1:
        lines.append(f"L1 = {settings.l1!r}  # penalty on weights (not biases)")
    if settings.l2:
        lines.append(f"L2 = {settings.l2!r}  # penalty on weights (not biases)")
    if settings.grad_clip:
        lines.append(f"GRAD_CLIP = {settings.grad_clip!r}  # max gradient norm")
    return "\n".join(lines)


def optimize_code(settings: TrainingSettings) -> str:
    """``optimize(loss, net, optimizer)``: penalties, backward, clipping, one step."""
    body = []
    if settings.l1 or settings.l2:
        body.append("weights = [p for p in trainable(net) if p.dim() >= 2]")
    if settings.l1:
        body.append("loss = loss + L1 * sum(p.abs().sum() for p in weights)")
    if settings.l2:
        body.append("loss = loss + L2 * sum(p.square().sum() for p in weights)")
    body += ["optimizer.zero_grad(set_to_none=True)", "loss.backward()"]
    if settings.grad_clip:
        body.append("torch.nn.utils.clip_grad_norm_(trainable(net), GRAD_CLIP, foreach=True)")
    body.append("optimizer.step()")
    return ("def optimize(loss: torch.Tensor, net: nn.Module, "
            "optimizer: torch.optim.Optimizer) -> None:\n"
            + "".join(f"    {line}\n" for line in body))


SKELETON = '''"""Train @TITLE@ as Layerloom does (recipe @RECIPE@).

Written by `layerloom export --script`; needs only torch and numpy.  With the same seed and
steps on the same device it reproduces the app's numbers.

    python train.py --steps 200            # train 200 steps, print losses and validation
    python train.py --epochs 5 --out runs  # five epochs, weights saved in runs/ each epoch
"""

from __future__ import annotations

import argparse
import math  # noqa: F401  (used by some schedules)
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: F401,N812
from torch import nn

# isort: split
from data import @DATA_IMPORTS@
from model import @CLASSES@

HERE = Path(__file__).resolve().parent
@SETTINGS@


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def trainable(net: nn.Module) -> list[nn.Parameter]:
    return [p for p in net.parameters() if p.requires_grad]


@OPTIMIZERS@
@SCHEDULE@

@OPTIMIZE@

def batches(data: dict[str, torch.Tensor], batch_size: int, generator: torch.Generator,
            drop_last: bool):
    """One epoch of shuffled mini-batches (one permutation drawn from ``generator``)."""
    n = len(next(iter(data.values())))
    device = next(iter(data.values())).device
    order = torch.randperm(n, generator=generator).to(device)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        batch = {k: v.index_select(0, idx) for k, v in data.items()}
        yield @AUGMENT_CALL@


def in_order(data: dict[str, torch.Tensor], batch_size: int):
    n = len(next(iter(data.values())))
    for start in range(0, n, batch_size):
        yield {k: v[start:start + batch_size] for k, v in data.items()}


@RECIPE_CODE@

def show(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.5g}" for k, v in metrics.items())


def save(nets: dict[str, nn.Module], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, net in nets.items():
        torch.save(net.state_dict(), out / f"{name}.pt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=0, help="stop after N steps (0: no cap)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--out", default=str(HERE / "runs"), help="where weights are saved")
    parser.add_argument("--log-every", type=int, default=10,
                        help="print every N steps")@DATA_OPTION@
    args = parser.parse_args()
    device = torch.device(args.device if args.device != "auto" else
                          "cuda" if torch.cuda.is_available() else "cpu")

    seed_everything(SEED)
    train, val = load_data(@DATA_ARG@)
    # Built in this order, as Layerloom does: the order sets the initial weights.
    nets = @NETS@
    for name, net in nets.items():
        start = HERE / "weights" / f"{name}.pt"
        if start.exists():  # the weights exported with this script
            net.load_state_dict(torch.load(start, map_location="cpu", weights_only=True))
        net.to(device).train()
        if device.type == "cpu":  # convolutions run faster channels-last there, as in Layerloom
            net.to(memory_format=torch.channels_last)
    train = {k: v.to(device) for k, v in train.items()}
    val = {k: v.to(device) for k, v in val.items()}
    noise = torch.Generator(device).manual_seed(SEED + 1)  # the recipe's random draws
@WARMUP@
    order = torch.Generator().manual_seed(SEED)  # the order of the training batches

    n = len(next(iter(train.values())))
    batch_size = BATCH_SIZE if 0 < BATCH_SIZE < n else n
    drop_last = n > batch_size and n % batch_size == 1  # a batch of one breaks BatchNorm
    steps_per_epoch = n // batch_size if drop_last else math.ceil(n / batch_size)
    total = args.epochs * steps_per_epoch
    total = min(total, args.steps) if args.steps else total
    optimizers = make_optimizers(nets, device)
    schedules = @SCHEDULES@

    step = 0
    for epoch in range(args.epochs):
        for batch in batches(train, batch_size, order, drop_last):
            metrics = train_step(nets, optimizers, batch, noise)
            step += 1
            for schedule in schedules:
                schedule.step()
            if step % args.log_every == 0 or step == args.steps:
                print(f"step {step}  {show({k: float(v) for k, v in metrics.items()})}",
                      flush=True)
            if args.steps and step >= args.steps:
                break
        for net in nets.values():
            net.eval()
        with torch.no_grad():
            metrics = evaluate(nets, val, max(batch_size, 512))
        for net in nets.values():
            net.train()
        print(f"epoch {epoch + 1}  step {step}  validation  {show(metrics)}", flush=True)
        save(nets, Path(args.out))
        if args.steps and step >= args.steps:
            break
    print(f"saved the weights in {args.out}")


if __name__ == "__main__":
    main()
'''
