"""Per-layer gradient and activation statistics, gathered on the device.

Nothing here synchronises with the host during a step: each measurement adds into a small
tensor that lives on the training device, and ``report`` copies the sums to the host once per
reporting interval.  Layers are the network's top-level modules, reported by their canvas
node ids (not the attribute names, which differ where an id is reserved: ``code`` → ``code_``),
so the GUI can put a number on every block.

Measuring every step would cost a few kernel launches per layer, so the trainer measures one
step in ``stride`` (the sampled steps are an unbiased picture of the interval) and attaches the
activation hooks only for those steps.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from builder.names import user_names

__all__ = ["LayerStats", "RELU_LIKE", "layer_modules"]

# Layers whose "dead" fraction means something: units that output exactly 0 for a whole batch.
RELU_LIKE = (nn.ReLU, nn.ReLU6)


def layer_modules(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """(canvas node id, module) of every top-level layer."""
    ids = user_names(module)
    return [(ids.get(name, name), m) for name, m in module.named_children()
            if not isinstance(m, nn.Identity)]


class LayerStats:
    """Gradient norms and activation mean/std/dead fraction of one network's layers."""

    def __init__(self, network: str, module: nn.Module, device: torch.device,
                 gradients: bool = True, activations: bool = True):
        self.network = network
        self.module = module
        layers = layer_modules(module)
        # Gradients: every trainable parameter belongs to the top-level layer that holds it.
        self.grad_layers: list[str] = []
        self.params: list[nn.Parameter] = []
        owner: list[int] = []
        if gradients:
            for name, m in layers:
                ps = [p for p in m.parameters() if p.requires_grad]
                if ps:
                    owner += [len(self.grad_layers)] * len(ps)
                    self.params += ps
                    self.grad_layers.append(name)
        self._owner = torch.tensor(owner, dtype=torch.long, device=device)
        self._grad = torch.zeros(len(self.grad_layers) + 1, device=device)  # last: count
        # Activations: one row of (mean, std, dead, count) per layer, filled by forward hooks.
        self.act_layers = [name for name, _ in layers] if activations else []
        self._act_modules = [m for _, m in layers] if activations else []
        self._relu = [isinstance(m, RELU_LIKE) for m in self._act_modules]
        self._act = torch.zeros(len(self.act_layers), 4, device=device)
        self._handles: list = []

    # --- gradients -----------------------------------------------------------------------

    def measure_gradients(self) -> None:
        """Add this step's per-layer gradient norms (call after backward, before the step)."""
        if not self.params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros((), device=self._grad.device)
                 for p in self.params]
        norms = torch.stack(torch._foreach_norm(grads)).float()
        sq = torch.zeros(len(self.grad_layers), device=norms.device)
        sq.index_add_(0, self._owner, norms * norms)
        self._grad[:-1] += sq.sqrt()
        self._grad[-1] += 1

    # --- activations ---------------------------------------------------------------------

    @contextlib.contextmanager
    def watching_activations(self):
        """Forward hooks on every layer while the block runs (the sampled steps only)."""
        if not self.act_layers:
            yield
            return
        for i, m in enumerate(self._act_modules):
            self._handles.append(m.register_forward_hook(self._hook(i)))
        try:
            yield
        finally:
            for h in self._handles:
                h.remove()
            self._handles.clear()

    def _hook(self, i: int):
        relu = self._relu[i]
        acc = self._act

        def hook(module, inputs, output):
            if isinstance(output, (tuple, list)):
                output = output[0] if output else None
            if not isinstance(output, torch.Tensor) or not output.is_floating_point() \
                    or output.numel() == 0:
                return
            with torch.no_grad():
                x = output.detach()
                flat = x.reshape(-1)
                # sum and norm are single fast reductions; torch.std_mean is ~20x slower on
                # CPU, and a monitor does not need Welford's extra precision.
                mean = flat.sum(dtype=torch.float32) / flat.numel()
                ms = torch.linalg.vector_norm(flat, dtype=torch.float32).square() / flat.numel()
                std = (ms - mean * mean).clamp_min(0).sqrt()
                if relu and x.dim() > 1:
                    # a unit is dead for this batch when its largest output is still 0
                    dead = (x.reshape(x.shape[0], -1).amax(0) <= 0).float().mean()
                else:
                    dead = torch.zeros((), device=x.device)
                one = torch.ones((), device=x.device)
                acc[i] += torch.stack((mean, std, dead, one)).to(acc.device)

        return hook

    # --- reporting -----------------------------------------------------------------------

    def report(self) -> tuple[dict[str, float], dict[str, dict[str, float]]] | None:
        """(gradient norms, {"mean": …, "std": …, "dead": …}) averaged since the last report,
        or None when nothing was measured.  This is the one host synchronisation."""
        grad = self._grad.tolist()
        act = self._act.tolist()
        self._grad.zero_()
        self._act.zero_()
        norms: dict[str, float] = {}
        if grad[-1] > 0:
            norms = {n: v / grad[-1] for n, v in zip(self.grad_layers, grad)}
        acts: dict[str, dict[str, float]] = {"mean": {}, "std": {}, "dead": {}}
        for name, relu, (m, s, d, c) in zip(self.act_layers, self._relu, act):
            if c > 0:
                acts["mean"][name] = m / c
                acts["std"][name] = s / c
                if relu:
                    acts["dead"][name] = d / c
        if not norms and not acts["mean"]:
            return None
        return norms, acts
