"""Optimizers' paths on 2-D loss surfaces: the textbook pictures of how each one moves.

Three surfaces, each a plain torch function of a point (x, y):
- ``Rosenbrock`` (1 − x)² + 100 (y − x²)²: a curved, flat-bottomed valley; the minimum (1, 1)
  is easy to see and slow to reach.
- ``saddle`` x² − y²: starting a hair off the ridge (y = 10⁻³) the gradient along y is tiny;
  plain gradient descent creeps, adaptive methods rescale it and escape.
- ``narrow valley`` 0.05 u² + 5 v² on axes turned by 30°: curvatures 100× apart, so plain
  SGD zig-zags across the valley while momentum and the adaptive methods run along it.

Each optimizer (``torch.optim``, built from the race's own table by ``runtime.optim``) takes
``STEPS`` steps from a fixed start.  Learning rates: the race's rate times a factor per
surface, one factor for the gradient-scaled family (sgd, momentum, nesterov: a step is
lr × gradient, so the factor follows the surface's curvature) and one for the adaptive family
(rmsprop, adagrad, adam, adamw: a step is about lr in the surface's units, so the factor
follows its size).  Changing a rate in the race changes its path here the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from builder.document import OptimizerConfig
from runtime.events import Samples
from runtime.optim import make_optimizer

__all__ = ["SURFACES", "Surface", "trajectory", "surface_samples", "ADAPTIVE", "STEPS"]

STEPS = 200
ADAPTIVE = ("rmsprop", "adagrad", "adam", "adamw")
GRID = 96


class Surface:
    def __init__(self, name: str, f: Callable, start: tuple[float, float],
                 extent: tuple[float, float, float, float], plain: float, adaptive: float):
        self.name, self.f, self.start, self.extent = name, f, start, extent
        self.factor = {"plain": plain, "adaptive": adaptive}  # lr factors, see the docstring

    def lr_factor(self, optimizer: str) -> float:
        return self.factor["adaptive" if optimizer in ADAPTIVE else "plain"]

    def grid(self) -> np.ndarray:
        """The surface on a GRID × GRID lattice (rows = y upwards), log-scaled:
        log10(1 + f − min) so a valley's floor and its walls both show."""
        x0, x1, y0, y1 = self.extent
        ys, xs = torch.meshgrid(torch.linspace(y0, y1, GRID, dtype=torch.float64),
                                torch.linspace(x0, x1, GRID, dtype=torch.float64),
                                indexing="ij")
        z = self.f(torch.stack([xs, ys]))
        return torch.log10(1 + z - z.min()).numpy().astype(np.float32)


def _rosenbrock(p):
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def _saddle(p):
    return p[0] ** 2 - p[1] ** 2


_C, _S = math.cos(math.pi / 6), math.sin(math.pi / 6)


def _valley(p):
    u, v = _C * p[0] + _S * p[1], -_S * p[0] + _C * p[1]
    return 0.05 * u ** 2 + 5 * v ** 2


SURFACES = (
    Surface("Rosenbrock", _rosenbrock, (-1.5, 2.0), (-2.0, 2.0, -1.0, 3.0), 0.005, 10.0),
    Surface("saddle", _saddle, (1.5, 1e-3), (-2.0, 2.0, -2.0, 2.0), 0.05, 1.5),
    Surface("narrow valley", _valley, (-3.5, 0.5), (-4.0, 4.0, -3.0, 3.0), 0.9, 12.0),
)


def trajectory(surface: Surface, optimizer: str, config: OptimizerConfig,
               steps: int = STEPS) -> np.ndarray:
    """[≤ steps + 1, 2] points the optimizer visits from the surface's start, with its
    learning rate scaled for the surface; it stops early once it leaves the picture twice
    over (the saddle falls away without end)."""
    scaled = OptimizerConfig(config.name, config.lr * surface.lr_factor(config.name),
                             dict(config.params))
    point = torch.nn.Parameter(torch.tensor(surface.start, dtype=torch.float64))
    opt = make_optimizer(scaled, [point])
    x0, x1, y0, y1 = surface.extent
    w, h = x1 - x0, y1 - y0
    path = [point.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        with torch.enable_grad():  # samples are drawn under no_grad
            surface.f(point).backward()
        opt.step()
        x, y = (float(v) for v in point.detach())
        if not (math.isfinite(x) and math.isfinite(y)):
            break
        path.append(point.detach().clone())
        if not (x0 - w < x < x1 + w and y0 - h < y < y1 + h):
            break
    return torch.stack(path).numpy().astype(np.float32)


def surface_samples(configs: dict[str, OptimizerConfig], step: int, epoch: int,
                    steps: int = STEPS) -> list[Samples]:
    """One ``heatmap`` per surface ("paths: Rosenbrock", …) with ``extra["paths"]``
    {optimizer: [M, 2]} drawn as lines over it, the start and minimum marked."""
    out = []
    for s in SURFACES:
        paths = {name: trajectory(s, name, cfg, steps) for name, cfg in configs.items()}
        out.append(Samples(step, epoch, f"paths: {s.name}", "heatmap", s.grid(),
                           extra={"extent": list(s.extent), "paths": paths,
                                  "start": list(s.start)}))
    return out
