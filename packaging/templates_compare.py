"""Gallery templates of comparisons: one network with named variants (``Project.variants``)
that Training ▸ Run all variants (or ``layerloom sweep FILE --variants``) trains in turn and
overlays: curves, results table and per-layer gradient bars."""

from __future__ import annotations

from template_parts import _project, _seq

from builder.document import DatasetConfig, Network, Project

__all__ = ["BUILDERS"]

DEPTH = 10  # Linear layers, input and output layers included
SPIRALS = DatasetConfig("spirals", {"arms": 3, "n_samples": 1500})


def vanishing_gradients() -> Project:
    """A 10-layer MLP whose activation is a block swap, with switchable slots for batch
    normalisation (Identity ↔ BatchNorm) and skip connections (Add nodes bypassed or not)."""
    net = Network("main")
    prev = _seq(net, ("Input", "x", {"shape": [2], "kind": "vector"}))
    acts, norms, adds = [], [], []
    for k in range(1, DEPTH):
        block_in = prev
        prev = _seq(net, ("Linear", f"fc{k}", {"units": 32}), ("Identity", f"norm{k}", {}),
                    ("Sigmoid", f"act{k}", {}), after=prev)
        acts.append(f"act{k}")
        norms.append(f"norm{k}")
        if k > 1:  # x + F(x) around every hidden layer but the first (it changes the width)
            add = net.add("Add", f"skip{k}")
            net.connect(prev, add, dst_port="x1")  # bypassed: x1 = F(x) alone, a plain MLP
            net.connect(block_in, add, dst_port="x2")
            net.nodes[add].bypass = True
            adds.append(add)
            prev = add
    _seq(net, ("Linear", "logits", {"units": 3}), ("Output", "y", {}), after=prev)
    project = _project(
        "Vanishing gradients: sigmoid, tanh, ReLU, batch norm and skips in a 10-layer MLP\n"
        "The same ten Linear layers on spirals, six ways: Training ▸ Run all variants trains "
        "each in turn. With sigmoids the gradient shrinks layer by layer on its way back (the "
        "bars by the input are orders of magnitude shorter) and the network learns nothing; "
        "tanh passes more of it back; ReLU fails too with PyTorch's default init but trains "
        "with He init; batch norm (the Identity slots) and skip connections (the Add nodes, "
        "switched off on the canvas) keep the gradient alive through all ten layers.",
        net, SPIRALS, epochs=40, batch=64, lr=0.05, optimizer="sgd")
    project.training.optimizers["main"].params["momentum"] = 0.9

    def swap(block: str) -> dict:
        return {f"main/{a}.block": block for a in acts}

    relu = swap("ReLU")
    fcs = [n for n, node in net.nodes.items() if node.block == "Linear"]
    project.variants = {
        "sigmoid": {},  # the base, as the canvas shows it
        "tanh": swap("Tanh"),
        "relu": relu,  # with PyTorch's default init, whose scale shrinks layer by layer
        "relu_he": {**relu, **{f"main/{f}.init": "he" for f in fcs}},
        "relu_batchnorm": {**relu, **{f"main/{n}.block": "BatchNorm" for n in norms}},
        "relu_skip": {**relu, **{f"main/{a}.bypass": False for a in adds}},
    }
    return project


def learning_rates() -> Project:
    net = Network("main")
    _seq(net, ("Input", "x", {"shape": [2], "kind": "vector"}),
         ("Linear", "hidden1", {"units": 32}), ("ReLU", "relu1", {}),
         ("Linear", "hidden2", {"units": 32}), ("ReLU", "relu2", {}),
         ("Linear", "logits", {"units": 3}), ("Output", "y", {}))
    project = _project(
        "Learning rate and batch size: five runs of one MLP\n"
        "Plain SGD on spirals with a learning rate too small (barely moves), about right, and "
        "too large (the ReLUs die and it stops learning); lr_right_batch32 is also the "
        "mini-batch run (32 samples a step), beside the whole training set per step "
        "(full_batch: 30 smooth steps in 30 epochs) and one sample per step (stochastic: "
        "thousands of noisy steps). Training ▸ Run all variants overlays them.",
        net, SPIRALS, epochs=30, batch=32, lr=0.1, optimizer="sgd")
    project.variants = {
        "lr_too_small": {"training.lr": 0.001},
        "lr_right_batch32": {},  # the base
        "lr_too_large": {"training.lr": 5.0},
        "full_batch": {"training.batch_size": 1200},  # the training split of 1500 samples
        "stochastic": {"training.batch_size": 1, "training.lr": 0.01, "training.epochs": 5},
    }
    return project


BUILDERS = {f.__name__: f for f in (vanishing_gradients, learning_rates)}
