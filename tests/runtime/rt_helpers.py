"""Small projects and in-memory datasets for the runtime tests (fast on two CPU cores)."""

from __future__ import annotations

import math

import torch

from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from runtime.data import DataInfo, FieldInfo, Splits, TensorData


def mlp(name: str = "main", features: int = 2, classes: int = 2, hidden: int = 32,
        field: str = "x", extra: tuple[str, ...] = ()) -> Network:
    """Input → (Linear hidden → ReLU) ×2 → [extra blocks] → Linear classes → Output."""
    net = Network(name)
    chain = [net.add("Input", id="x", shape=[features], kind="vector", field=field)]
    for i in (1, 2):
        chain.append(net.add("Linear", id=f"hidden{i}", units=hidden))
        chain.append(net.add("ReLU", id=f"relu{i}"))
    chain += [net.add(block) for block in extra]
    chain.append(net.add("Linear", id="logits", units=classes))
    chain.append(net.add("Output", id="y"))
    net.chain(*chain)
    return net


def project(net: Network | None = None, dataset: str = "moons", recipe: str = "classification",
            epochs: int = 3, batch_size: int = 64, lr: float = 0.01, optimizer: str = "adam",
            **training) -> Project:
    net = net or mlp()
    return Project(
        {net.name: net},
        DatasetConfig(dataset, {"n_samples": 1000, "noise": 0.1} if dataset == "moons" else {}),
        RecipeConfig(recipe, {"model": net.name}),
        TrainingSettings(epochs=epochs, batch_size=batch_size,
                         optimizers={"*": OptimizerConfig(optimizer, lr)}, **training),
    )


def splits(fields: dict[str, torch.Tensor], infos: dict[str, FieldInfo], task: str,
           val: int = 100, **info) -> Splits:
    n = next(iter(fields.values())).shape[0]
    train = TensorData({k: v[: n - val] for k, v in fields.items()})
    valid = TensorData({k: v[n - val:] for k, v in fields.items()})
    return Splits(train, valid, DataInfo("test", task, infos, **info))


def regression_data(n: int = 600, seed: int = 0) -> Splits:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=g) * 6 - 3
    y = torch.sin(x) + 0.05 * torch.randn(n, 1, generator=g)
    return splits({"x": x, "y": y}, {"x": FieldInfo((1,), "vector", "float32"),
                                     "y": FieldInfo((1,), "target", "float32")}, "regression")


def multilabel_data(n: int = 600, labels: int = 4, seed: int = 0) -> Splits:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    w = torch.randn(8, labels, generator=g)
    y = (x @ w > 0).float()
    return splits({"x": x, "y": y}, {"x": FieldInfo((8,), "vector", "float32"),
                                     "y": FieldInfo((labels,), "target", "float32")},
                  "multilabel")


def spiral_data(n: int = 1500, arms: int = 3, seed: int = 0) -> Splits:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % arms
    t = torch.rand(n, generator=g) * 0.95 + 0.05
    angle = 2 * math.pi * (t + y / arms)
    x = 1.5 * t[:, None] * torch.stack([angle.cos(), angle.sin()], 1)
    x = x + 0.03 * torch.randn(n, 2, generator=g)
    perm = torch.randperm(n, generator=g)
    return splits({"x": x[perm], "y": y[perm]},
                  {"x": FieldInfo((2,), "vector", "float32"), "y": FieldInfo((), "label", "int64")},
                  "classification", val=300, num_classes=arms)


class Recorder(list):
    """An event callback that keeps every event; ``of(Type)`` filters them."""

    def __call__(self, event) -> None:
        self.append(event)

    def of(self, cls) -> list:
        return [e for e in self if isinstance(e, cls)]


def assert_noised_on_a_shifted_chain(plain: torch.Tensor, shifted: torch.Tensor,
                                     x0: torch.Tensor, bar: torch.Tensor, shift: float) -> None:
    """``plain`` and ``shifted``: x_t made from the same x_0 and ε at the same steps, on a
    chain whose ᾱ at those steps is ``bar`` [N] and on that chain shifted by ``shift``.  The
    shifted ones must be √ᾱ' x_0 + √(1 − ᾱ') ε with ᾱ' = s²ᾱ / (1 + (s² − 1) ᾱ), by hand,
    with ε recovered from the plain ones."""
    a = bar.view(-1, *(1,) * (x0.dim() - 1))
    eps = (plain - a.sqrt() * x0) / (1 - a).sqrt()
    s2 = shift**2
    moved = s2 * a / (1 + (s2 - 1) * a)
    torch.testing.assert_close(shifted, moved.sqrt() * x0 + (1 - moved).sqrt() * eps,
                               rtol=1e-4, atol=1e-4)


def recorded(obj, name: str) -> list[tuple]:
    """The positional arguments of every later call of ``obj``'s method ``name`` (which
    still runs), in the list returned."""
    calls, method = [], getattr(obj, name)

    def kept(*args, **kwargs):
        calls.append(args)
        return method(*args, **kwargs)
    setattr(obj, name, kept)
    return calls
