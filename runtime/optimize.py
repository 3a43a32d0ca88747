"""The trainer's side of a recipe step: ``Optimization.optimize(loss, *roles)``.

A recipe computes its loss and calls ``ctx.optimize(loss, "model")``; this adds the
auxiliary losses that blocks left on the roles' modules (sparsity, KL of Reparameterize,
activity L1) and the L1/L2 weight penalties, back-propagates (scaled under mixed
precision), measures gradient statistics on sampled steps, clips, and steps the roles'
optimizers.  Each extra term is reported on its own (``aux/<node>``, ``l1``, ``l2``).

The context also tells the recipe where the run is (``epoch``, ``step``, ``total_steps``,
``progress``) and computes input gradients for penalties (``gradients``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from builder.names import user_path
from runtime.recipes.base import RecipeError
from runtime.stats import LayerStats

__all__ = ["Optimization"]


def _aux_modules(module: nn.Module) -> list[tuple[str, nn.Module]]:
    # Blocks with an auxiliary loss set ``aux_loss`` in __init__, so one scan finds them all
    # and the step does not walk the module tree.
    return [(user_path(module, name), m) for name, m in module.named_modules()
            if isinstance(getattr(m, "aux_loss", None), Tensor)]


class Optimization:
    """The ``StepContext`` a recipe's ``step`` receives."""

    def __init__(self, nets: dict[str, nn.Module], names: dict[str, str],
                 optimizers: dict[str, torch.optim.Optimizer | None], device: torch.device,
                 *, l1: float = 0.0, l2: float = 0.0, grad_clip: float = 0.0,
                 scaler: torch.amp.GradScaler | None = None,
                 stats: dict[str, LayerStats] | None = None, total_steps: int = 0,
                 distributed: bool = False):
        self.device = device
        self.step = 0
        self.epoch = 0
        self.total_steps = total_steps  # the run's planned length, for schedules
        self.distributed = distributed
        self.measuring = False  # set by the trainer on the steps that gather statistics
        self.extra: dict[str, Tensor] = {}  # aux losses and penalties of the current step
        self.optimizers = optimizers
        self.scaler = scaler
        self.stats = stats or {}
        self.l1, self.l2, self.clip = l1, l2, grad_clip
        many = len(nets) > 1
        self._aux = {r: [((f"aux/{names[r]}/{n}" if many else f"aux/{n}"), m)
                         for n, m in _aux_modules(net)] for r, net in nets.items()}
        self._trainable = {r: [p for p in net.parameters() if p.requires_grad]
                           for r, net in nets.items()}
        # Penalties act on weights (matrices, kernels), not on biases or norm scales.
        self._weights = {r: [p for p in ps if p.dim() >= 2] for r, ps in self._trainable.items()}
        self._tag = {r: (f"/{names[r]}" if many else "") for r in nets}

    @property
    def progress(self) -> float:
        """How far the run is, in [0, 1]."""
        return min(1.0, self.step / self.total_steps) if self.total_steps > 0 else 0.0

    def begin(self, step: int, measuring: bool, epoch: int = 0) -> None:
        self.step, self.measuring, self.epoch = step, measuring, epoch
        self.extra = {}

    def gradients(self, outputs: Tensor, inputs: Tensor | Sequence[Tensor]
                  ) -> tuple[Tensor, ...]:
        """d(outputs.sum())/d(inputs), differentiable (``create_graph``), for penalties such
        as WGAN-GP's ‖∇D(x̂)‖, R1 or a contractive autoencoder's ‖∂h/∂x‖.

        Under mixed precision the outputs are scaled before differentiating (so float16
        gradients do not underflow) and the gradients unscaled before use, as torch.amp
        prescribes.  Under DDP double backward is unsupported upstream, so this refuses
        rather than return a silently wrong gradient."""
        if self.distributed:
            raise RecipeError("gradient penalties need a second backward pass, which "
                              "DistributedDataParallel does not support; train this recipe "
                              "on one device")
        inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
        for i, x in enumerate(inputs):
            if not x.requires_grad:
                raise RecipeError(f"gradients: input {i} does not require grad; call "
                                  "requires_grad_() on it before the forward pass")
        total = outputs.float().sum()
        scale = self.scaler.get_scale() if self.scaler is not None \
            and self.scaler.is_enabled() else 1.0
        grads = torch.autograd.grad(total * scale if scale != 1.0 else total, inputs,
                                    create_graph=True)
        return tuple(g / scale for g in grads) if scale != 1.0 else grads

    def optimize(self, loss: Tensor, *roles: str) -> None:
        roles = roles or tuple(self.optimizers)
        total = loss
        for role in roles:
            for key, module in self._aux[role]:
                aux = module.aux_loss
                total = total + aux
                self.extra[key] = aux
            weights = self._weights[role]
            if self.l1 and weights:
                pen = self.l1 * torch.stack(torch._foreach_norm(weights, 1)).sum()
                total = total + pen
                self.extra["l1" + self._tag[role]] = pen
            if self.l2 and weights:
                pen = self.l2 * torch.stack(torch._foreach_norm(weights, 2)).square().sum()
                total = total + pen
                self.extra["l2" + self._tag[role]] = pen
        opts = [o for o in (self.optimizers[r] for r in roles) if o is not None]
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        if not total.requires_grad:
            return  # everything frozen: nothing to learn, nothing to fail
        if self.scaler is None:
            self._apply(total, opts, roles)
        else:  # the backward pass runs outside autocast, as torch.amp recommends
            with torch.autocast(self.device.type, enabled=False):
                self._apply(total, opts, roles)

    def _apply(self, total: Tensor, opts: list, roles: tuple[str, ...]) -> None:
        scaler = self.scaler
        (scaler.scale(total) if scaler else total).backward()
        if scaler:
            for opt in opts:
                scaler.unscale_(opt)
        if self.measuring:
            for role in roles:
                if role in self.stats:
                    self.stats[role].measure_gradients()
        if self.clip:
            params = [p for r in roles for p in self._trainable[r]]
            torch.nn.utils.clip_grad_norm_(params, self.clip, foreach=True)
        for opt in opts:
            if scaler:
                scaler.step(opt)
            else:
                opt.step()
        if scaler:
            scaler.update()
