"""Gallery template of a prepared sweep (``Project.sweep``): one small MLP whose layer size,
learning rate, momentum, batch size and epochs ``layerloom sweep FILE --out DIR`` (or Training ▸
Sweep…, which opens filled in) varies, a random sample of the grid, so the whole sweep takes
a minute or two on a laptop CPU."""

from __future__ import annotations

from template_parts import _project, _seq

from builder.document import DatasetConfig, Network, Project

__all__ = ["BUILDERS"]


def hyperparameters() -> Project:
    net = Network("main")
    _seq(net, ("Input", "x", {"shape": [2], "kind": "vector"}),
         ("Linear", "hidden1", {"units": 16}), ("ReLU", "relu1", {}),
         ("Linear", "logits", {"units": 2}), ("Output", "y", {}))
    project = _project(
        "Hyperparameters: a prepared sweep of one MLP\n"
        "One hidden layer on two spirals, and a sweep saved with it over layer size, learning "
        "rate, momentum, batch size and epochs: Training ▸ Sweep… opens with it filled in "
        "(or run layerloom sweep hyperparameters.loom --out DIR). Ten random points of the "
        "grid of 72 train in turn; the results table shows which settings matter most.",
        net, DatasetConfig("spirals", {"arms": 2, "n_samples": 800}),
        epochs=20, batch=32, lr=0.05, optimizer="sgd")
    project.training.optimizers["main"].params["momentum"] = 0.9
    project.sweep = {
        "set": {"main/hidden1.units": [4, 16, 64], "training.lr": [0.01, 0.1, 0.5],
                "training.momentum": [0.0, 0.9], "training.batch_size": [16, 64],
                "training.epochs": [10, 30]},
        "random": 10,  # of the 3 × 3 × 2 × 2 × 2 = 72 points of the grid
    }
    return project


BUILDERS = {f.__name__: f for f in (hyperparameters,)}
