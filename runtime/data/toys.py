"""Small generated datasets you can see: 2-D classification toys, 1-D regression curves and
a ring of Gaussians for GANs.

All are drawn from ``numpy.random.default_rng(seed)`` (PCG64, the same numbers on every
platform), so a seed names one dataset exactly.  Points are left in their natural coordinates
(about -1.5..1.5) and not standardised, so decision-boundary plots show the familiar shapes.
"""

from __future__ import annotations

import numpy as np
import torch

from builder.blocks.spec import Param
from runtime.data.core import DataInfo, FieldInfo, TensorData
from runtime.data.registry import SEED, VAL_FRACTION, DatasetSpec, n_samples, noise, register

__all__ = ["moons", "circles", "spirals", "xor", "blobs", "ring", "curve", "CURVES"]


def _shuffle(rng: np.random.Generator, x: np.ndarray, y: np.ndarray | None):
    order = rng.permutation(len(x))
    return x[order], (None if y is None else y[order])


def _jitter(rng, x: np.ndarray, std: float) -> np.ndarray:
    return x + rng.normal(0.0, std, x.shape) if std > 0 else x


def moons(n: int, noise: float, seed: int):
    """Two interleaved half circles, labels 0 and 1."""
    rng = np.random.default_rng(seed)
    n0 = n // 2
    t = rng.uniform(0.0, np.pi, n)
    upper = np.stack([np.cos(t[:n0]), np.sin(t[:n0])], 1)
    lower = np.stack([1.0 - np.cos(t[n0:]), 0.5 - np.sin(t[n0:])], 1)
    x = np.concatenate([upper, lower]) - (0.5, 0.25)
    y = np.repeat([0, 1], [n0, n - n0])
    return _shuffle(rng, _jitter(rng, x, noise), y)


def circles(n: int, noise: float, seed: int, factor: float = 0.5):
    """A disc (label 1) inside a ring (label 0); ``factor`` is the inner radius."""
    rng = np.random.default_rng(seed)
    n0 = n // 2
    t = rng.uniform(0.0, 2 * np.pi, n)
    r = np.where(np.arange(n) < n0, 1.0, factor)
    x = np.stack([r * np.cos(t), r * np.sin(t)], 1)
    y = (np.arange(n) >= n0).astype(np.int64)
    return _shuffle(rng, _jitter(rng, x, noise), y)


def spirals(n: int, noise: float, seed: int, arms: int = 2, turns: float = 1.0):
    """``arms`` interleaved spirals, one class per arm."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % arms
    t = rng.uniform(0.05, 1.0, n)
    angle = 2 * np.pi * (turns * t + y / arms)
    x = 1.5 * t[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    return _shuffle(rng, _jitter(rng, x, noise), y)


def xor(n: int, noise: float, seed: int):
    """Points in the square; label 1 where x and y have opposite signs."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (n, 2))
    x += np.sign(x) * 0.05  # a thin gap along the axes, as in TensorFlow Playground
    y = (x[:, 0] * x[:, 1] < 0).astype(np.int64)
    return _jitter(rng, x, noise), y


def blobs(n: int, noise: float, seed: int, centers: int = 3):
    """Gaussian clusters around random centres, one class per cluster."""
    rng = np.random.default_rng(seed)
    middle = rng.uniform(-1.0, 1.0, (centers, 2))
    y = np.arange(n) % centers
    return _shuffle(rng, middle[y] + rng.normal(0.0, noise, (n, 2)), y)


def ring(n: int, noise: float, seed: int, modes: int = 8, radius: float = 1.0):
    """A mixture of ``modes`` Gaussians evenly spaced on a circle: a GAN that mode-collapses
    covers only some of them, which one look at the samples shows."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, modes, n)
    angle = 2 * np.pi * k / modes
    centre = radius * np.stack([np.cos(angle), np.sin(angle)], 1)
    return centre + rng.normal(0.0, noise, (n, 2)), None


CURVES = {
    "sine": np.sin,
    "polynomial": lambda x: 0.25 * x**3 - x,
    "step": lambda x: np.where(x > 0, 1.0, -1.0),
    "abs": np.abs,
    "sinc": lambda x: np.sinc(x),
    "sawtooth": lambda x: (x % 2.0) - 1.0,
}


def curve(n: int, noise: float, seed: int, function: str = "sine", x_range: float = 3.0):
    """x uniform in [-x_range, x_range], y = f(x) + Gaussian noise; both of shape [n, 1]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-x_range, x_range, (n, 1))
    y = CURVES[function](x)
    return x, _jitter(rng, y, noise)


def _points(name: str, x: np.ndarray, y: np.ndarray | None, classes: int) -> tuple:
    fields = {"x": torch.from_numpy(x.astype(np.float32))}
    info = {"x": FieldInfo((2,), "vector", "float32", "a point in the plane")}
    task = "generative" if y is None else "classification"
    if y is None:
        classes = None
    else:
        fields["y"] = torch.from_numpy(y.astype(np.int64))
        info["y"] = FieldInfo((), "label", "int64")
    names = tuple(f"class {i}" for i in range(classes)) if classes else ()
    return TensorData(fields), DataInfo(name, task, info, num_classes=classes, class_names=names,
                                        source="generated")


def _toy(name, title, description, make, extra=(), noise_default=0.1):
    def build(p, ctx):
        kw = {k: p[k] for k in (q.name for q in extra)}
        x, y = make(p["n_samples"], p["noise"], p["seed"], **kw)
        return _points(name, x, y, p.get("arms", p.get("centers", 2)))

    params = (n_samples(1000, 200_000), noise(noise_default), *extra, SEED, VAL_FRACTION)
    task = "generative" if make is ring else "classification"
    return DatasetSpec(name, title, description, "generated", "2-D toys", task, params, build)


def _curve_build(p, ctx):
    x, y = curve(p["n_samples"], p["noise"], p["seed"], p["function"], p["x_range"])
    data = TensorData({"x": torch.from_numpy(x.astype(np.float32)),
                       "y": torch.from_numpy(y.astype(np.float32))})
    info = DataInfo("curve", "regression",
                    {"x": FieldInfo((1,), "vector", "float32"),
                     "y": FieldInfo((1,), "target", "float32")},
                    source="generated", extra={"function": p["function"]})
    return data, info


register(
    _toy("moons", "Two moons", "Two interleaved half circles: not separable by a straight line.",
         moons),
    _toy("circles", "Circles", "A disc inside a ring: needs a curved boundary.", circles,
         (Param("factor", "float", 0.5, min=0.05, max=0.95, help="Inner radius / outer."),)),
    _toy("spirals", "Spirals", "Interleaved spiral arms, one class each: hard for shallow nets.",
         spirals,
         (Param("arms", "int", 2, min=2, max=8, help="Number of arms (classes)."),
          Param("turns", "float", 1.0, min=0.25, max=4.0, help="How far each arm winds.")),
         noise_default=0.05),
    _toy("xor", "XOR", "Four quadrants, opposite corners share a class: the classic "
         "problem a single neuron cannot solve.", xor, noise_default=0.05),
    _toy("blobs", "Gaussian blobs", "Round clusters of points, one class per cluster.", blobs,
         (Param("centers", "int", 3, min=2, max=10, help="Number of clusters (classes)."),),
         noise_default=0.25),
    _toy("ring", "Ring of Gaussians", "Unlabelled points from 8 Gaussians on a circle: shows "
         "whether a GAN covers every mode.", ring,
         (Param("modes", "int", 8, min=2, max=32, help="Number of Gaussians on the ring."),
          Param("radius", "float", 1.0, min=0.1, max=10.0, help="Radius of the ring.")),
         noise_default=0.05),
    DatasetSpec(
        "curve", "Regression curve", "Noisy samples of a 1-D function (sine, cubic, step...).",
        "generated", "Regression", "regression",
        (n_samples(500, 200_000), noise(0.1),
         Param("function", "choice", "sine", choices=tuple(CURVES),
               help="The function to learn."),
         Param("x_range", "float", 3.0, min=0.1, max=100.0, help="x is drawn from ±x_range."),
         SEED, VAL_FRACTION),
        _curve_build,
    ),
)
