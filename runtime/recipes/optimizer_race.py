"""Optimizers raced: one network, several copies, each learning with its own optimizer.

The network (``model``) learns with the first optimizer of ``optimizers``; every other one
trains a copy of it.  All copies start from the network's weights at the first step (after
any start-from weights were loaded) and see the very same batches, so the only difference
between the curves ``loss_<optimizer>`` (training and validation) and ``accuracy_<optimizer>``
is the optimizer.  The copies are helpers: checkpointed with their optimizers' state so a run
resumes, never saved as results.

Learning rates come from ``RATES``, sensible values for a small network, and ``rates``
overrides them ("sgd=0.2,adam=0.01").  The race ignores the project's optimizer setting for
the network (the race decides it); the schedule, L2 and clipping apply to every copy alike.
Beside the decision boundary, its pictures draw each optimizer's path on three 2-D loss
surfaces (``runtime.recipes.surfaces``) with the same rates, scaled for each surface.
"""

from __future__ import annotations

import copy
import dataclasses

import torch
import torch.nn.functional as F

from builder.blocks.spec import Param
from builder.document import OptimizerConfig
from builder.training import OPTIMIZERS, canonical_optimizer
from runtime.recipes.base import RecipeError
from runtime.recipes.classification import Classification
from runtime.recipes.surfaces import surface_samples

__all__ = ["OptimizerRace", "RATES"]

# Per optimizer: a learning rate that trains a small MLP or CNN well in a few epochs.  The
# momentum family's effective step is lr / (1 − 0.9), ten times sgd's at the same lr.
RATES = {"sgd": 0.2, "momentum": 0.05, "nesterov": 0.05, "rmsprop": 0.003,
         "adagrad": 0.05, "adam": 0.01, "adamw": 0.01}
DEFAULT = ",".join(RATES)


class OptimizerRace(Classification):
    name = "optimizer_race"
    title = "Optimizer race"
    description = ("Classification trained by several optimizers at once, each on its own "
                   "copy of the network from the same initial weights and on the same "
                   "batches: loss_<optimizer> and accuracy_<optimizer> race in one plot, and "
                   "their paths on 2-D loss surfaces show why.")
    tasks = ("classification",)
    params = Classification.params + (
        Param("optimizers", "str", DEFAULT,
              help="The optimizers to race, comma-separated (the first trains the network "
                   f"itself, the others copies): any of {', '.join(RATES)}."),
        Param("rates", "str", "",
              help="Learning rates that replace the defaults, e.g. 'sgd=0.2,adam=0.01' "
                   f"(defaults: {', '.join(f'{k} {v:g}' for k, v in RATES.items())})."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.configs = self._configs()
        first, *rest = self.configs
        self.role_of = {first: "model"}  # optimizer → the role it trains
        self.monitor = (f"accuracy_{first}", "max")  # "best" follows the network itself
        model = self.nets["model"]
        for opt in rest:
            role = f"{self.names['model']}_{opt}"
            self.nets[role] = self.calls[role] = copy.deepcopy(model)
            self.names[role] = role
            self.role_of[opt] = role
        self.synced = False  # copies get the network's weights at the first step
        self._paths = None  # the surfaces' pictures, computed once per set of rates

    def _configs(self) -> dict[str, OptimizerConfig]:
        where = f"recipe {self.name!r}"
        given = [n.strip() for n in self.options["optimizers"].split(",") if n.strip()]
        names = [canonical_optimizer(n) or n for n in given]
        unknown = [n for n in names if n not in RATES or n not in OPTIMIZERS]
        if unknown or not names:
            raise RecipeError(f"{where}, optimizers: {', '.join(unknown) or 'none given'}; "
                              f"choose from {', '.join(RATES)}")
        if len(set(names)) != len(names):
            raise RecipeError(f"{where}, optimizers: each may race once, got {names}")
        rates = dict(RATES)
        for item in filter(None, (s.strip() for s in self.options["rates"].split(","))):
            key, _, value = item.partition("=")
            key = canonical_optimizer(key.strip()) or key.strip()
            try:
                rate = float(value)
            except ValueError:
                rate = -1.0
            if key not in RATES or not rate > 0:
                raise RecipeError(f"{where}, rates: {item!r} is not optimizer=rate with a "
                                  f"rate above 0 (optimizers: {', '.join(RATES)})")
            rates[key] = rate
        return {n: OptimizerConfig(n, rates[n]) for n in names}

    def optimizer_config(self, role):
        return next((self.configs[o] for o, r in self.role_of.items() if r == role), None)

    def _predict(self, opt: str, batch, train: bool = True):
        role = self.role_of[opt]
        module = self.calls[role] if train else self.nets[role]
        return self.output("model", module(*self.inputs("model", batch)),
                           self.options.get("output") or None)

    def step(self, ctx, batch):
        if not self.synced:
            state = self.nets["model"].state_dict()
            with torch.no_grad():
                for role in self.role_of.values():
                    if role != "model":
                        self.nets[role].load_state_dict(state)
            self.synced = True
        y = batch[self.target]
        out, total = {}, 0
        for opt in self.configs:
            loss, metrics = self.loss(self._predict(opt, batch), y)
            total = total + loss
            out[f"loss_{opt}"], out[f"accuracy_{opt}"] = loss, metrics["accuracy"]
        ctx.optimize(total, *self.role_of.values())  # disjoint weights: one descent each
        return out

    def eval_batch(self, batch):
        out = super().eval_batch(batch)
        y = batch[self.target]
        for opt in list(self.configs)[1:]:
            logits = self._predict(opt, batch, train=False).float()
            out[f"race_loss_{opt}"] = F.cross_entropy(logits, y, reduction="sum")
            out[f"race_correct_{opt}"] = (logits.argmax(1) == y).sum()
        return out

    def eval_summary(self, totals, count):
        metrics, extras = super().eval_summary(totals, count)
        n = max(1.0, float(totals["n"]))
        first = next(iter(self.configs))
        # The network itself is the first optimizer's runner: named by it, not twice.
        metrics[f"loss_{first}"] = metrics.pop("loss")
        metrics[f"accuracy_{first}"] = metrics.pop("accuracy")
        for opt in list(self.configs)[1:]:
            metrics[f"loss_{opt}"] = float(totals[f"race_loss_{opt}"]) / n
            metrics[f"accuracy_{opt}"] = float(totals[f"race_correct_{opt}"]) / n
        return metrics, extras

    def samples(self, data, step, epoch):
        key = tuple((o, c.lr) for o, c in self.configs.items())
        if self._paths is None or self._paths[0] != key:
            self._paths = (key, surface_samples(self.configs, step, epoch))
        # The same pictures each time (the rates are fixed), stamped with the current step.
        paths = [dataclasses.replace(s, step=step, epoch=epoch) for s in self._paths[1]]
        return super().samples(data, step, epoch) + paths

    def state_dict(self):
        return {"synced": self.synced}

    def load_state_dict(self, state):
        self.synced = bool(state.get("synced", False))
