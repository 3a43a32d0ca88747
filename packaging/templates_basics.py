"""Gallery templates of the foundations (see build_templates.py): the perceptron and deep MLPs
on 2-D toys (their decision boundary is the picture), dead ReLUs, one overfitting network and
its regularised twins, the convolution variants, and small modern CNNs.

Every network is small enough to train on a laptop CPU in seconds to a few minutes.  The
overfit_* family shares its data, seed, network width and epochs, so the train/validation gaps
of its members compare; the cnn_* family shares its data and the layers around the one
convolution that differs, so their parameter counts and FLOPs in the summary compare.
"""

from __future__ import annotations

from template_parts import _project, _seq

from builder.document import DatasetConfig, Network, Project

__all__ = ["BUILDERS"]


def _mlp(width: int, depth: int, classes: int, act: tuple = ("ReLU", {}),
         dense: str = "Linear", extra: dict | None = None, dropout: float = 0.0) -> Network:
    """Input[2] → depth × (dense → act [→ Dropout]) → Linear(classes) → Output."""
    net = Network("main")
    steps: list[tuple] = [("Input", "x", {"shape": [2], "kind": "vector"})]
    for i in range(1, depth + 1):
        steps += [(dense, f"hidden{i}", {"units": width, **(extra or {})}),
                  (act[0], f"{act[0].lower()}{i}", act[1])]
        if dropout:
            steps.append(("Dropout", f"drop{i}", {"p": dropout}))
    _seq(net, *steps, ("Linear", "logits", {"units": classes}), ("Output", "y", {}))
    return net


# --- the perceptron and a deep MLP -------------------------------------------------------

def _perceptron(description: str, data: DatasetConfig) -> Project:
    net = Network("main")
    _seq(net, ("Input", "x", {"shape": [2], "kind": "vector"}),
         ("Linear", "logits", {"units": 2}), ("Output", "y", {}))
    return _project(description, net, data, epochs=30, batch=32, lr=0.05)


def perceptron() -> Project:
    return _perceptron(
        "Perceptron on two blobs\n"
        "One Linear layer and nothing else: its decision boundary is a straight line, which "
        "is all two separate clouds of points need. Watch the line settle between them in the "
        "decision boundary picture; then open perceptron_xor, the same network on data no line "
        "can split.", DatasetConfig("blobs", {"centers": 2, "noise": 0.25, "n_samples": 600}))


def perceptron_xor() -> Project:
    return _perceptron(
        "Perceptron on XOR: where one layer fails\n"
        "The perceptron of the perceptron template on the XOR pattern: opposite quadrants share "
        "a class, and no straight line separates them. The boundary stays a line and accuracy "
        "stalls near chance, whatever the epochs. Add a hidden layer with a nonlinearity "
        "(Linear → ReLU before the output) and the boundary bends to fit.",
        DatasetConfig("xor", {"n_samples": 600}))


def deep_mlp() -> Project:
    return _project(
        "Deep MLP on spirals\n"
        "Six hidden layers of 32 ReLU units separate three spirals that wind one and a half "
        "turns. Each layer folds the plane once more, so the decision boundary picture shows "
        "curved, nested regions no shallow net draws as easily; the Layers view shows the "
        "gradient reaching every one of the six.",
        _mlp(32, 6, 3), DatasetConfig("spirals", {"arms": 3, "turns": 1.5, "n_samples": 1500}),
        epochs=60, batch=64, lr=0.003)


# --- activations: dead ReLUs -------------------------------------------------------------

def _too_fast(description: str, act: tuple) -> Project:
    # Plain SGD with a step far too large: one bad update pushes many ReLU units' biases so
    # negative that no input reaches them again, and a dead unit gets no gradient to recover.
    return _project(description, _mlp(64, 4, 2, act),
                    DatasetConfig("moons", {"noise": 0.15, "n_samples": 1000}),
                    epochs=20, batch=32, lr=1.0, optimizer="sgd")


def activations_dead_relu() -> Project:
    return _too_fast(
        "Dead ReLUs: a learning rate too large\n"
        "Four ReLU layers trained by SGD with a learning rate of 1.0. Large updates push units "
        "into the region where ReLU outputs 0 for every input; there its gradient is 0 too, so "
        "they never come back. Open the Layers view: the dead fraction of the deeper relu "
        "layers climbs to more than half their units, and the net classifies with what is "
        "left. Compare activations_leaky, the same net with LeakyReLU.", ("ReLU", {}))


def activations_leaky() -> Project:
    return _too_fast(
        "LeakyReLU: no unit dies\n"
        "The network and learning rate of activations_dead_relu, but with LeakyReLU: negative "
        "inputs keep a slope of 0.1, so a unit pushed below zero still gets a gradient and can "
        "recover. The Layers view has no dead fraction to show; compare the loss and the "
        "decision boundary with the ReLU version.", ("LeakyReLU", {"alpha": 0.1}))


# --- overfitting and regularisation ------------------------------------------------------

OVERFIT_DATA = {"noise": 0.35, "n_samples": 160, "val_fraction": 0.5, "seed": 3}
OVERFIT_GUIDE = ("Same data, seed and network as overfit, so compare the gap between the "
                 "training and validation loss (metrics) and the decision boundary with it.")


def _overfit(description: str, net: Network | None = None, **training) -> Project:
    project = _project(description, net or _mlp(256, 2, 2),
                       DatasetConfig("moons", dict(OVERFIT_DATA)), epochs=400, batch=80,
                       lr=0.003)
    for key, value in training.items():
        setattr(project.training, key, value)
    return project


def overfit() -> Project:
    return _overfit(
        "Overfitting: a wide MLP on 80 noisy points\n"
        "Two hidden layers of 256 units, 67,000 weights, learn 80 noisy moon points for 400 "
        "epochs. The training loss keeps falling while the validation loss turns and climbs: "
        "the net memorises the noise. The decision boundary shows it, with islands around "
        "single points. The overfit_* templates fight this, each with one regulariser.")


def overfit_l2() -> Project:
    return _overfit(
        "Overfitting tamed by L2 weight decay\n"
        "Adds λ·Σw² (λ = 0.001, Training settings → L2) to the loss, which pulls every weight "
        "towards 0 and so prefers smooth boundaries. " + OVERFIT_GUIDE, l2=0.001)


def overfit_l1() -> Project:
    return _overfit(
        "Overfitting tamed by L1 regularisation\n"
        "Adds λ·Σ|w| (λ = 0.0005, Training settings → L1) to the loss: it drives most weights "
        "to 0 (within a thousandth of it, as Adam leaves them jittering), a sparse network; "
        "the Layers tab's Weights near zero panel counts them. " + OVERFIT_GUIDE, l1=0.0005)


def overfit_dropout() -> Project:
    return _overfit(
        "Overfitting tamed by dropout\n"
        "A Dropout layer (p = 0.5) after each hidden layer zeroes half the units at random in "
        "every training step, so no unit can rely on another one memorising a point. "
        + OVERFIT_GUIDE, _mlp(256, 2, 2, dropout=0.5))


def overfit_dropconnect() -> Project:
    return _overfit(
        "Overfitting tamed by DropConnect\n"
        "The hidden layers are DropConnectLinear (p = 0.5): instead of whole units, each "
        "training step drops individual weights (connections) at random. " + OVERFIT_GUIDE,
        _mlp(256, 2, 2, dense="DropConnectLinear", extra={"p": 0.5}))


def overfit_early_stopping() -> Project:
    return _overfit(
        "Overfitting stopped early\n"
        "Training stops once the validation loss has not improved for 30 epochs and the best "
        "weights are restored (Training settings → early stopping): the run ends near where the "
        "validation curve of overfit turns upwards. " + OVERFIT_GUIDE, early_stopping=30)


BUILDERS = {f.__name__: f for f in (
    perceptron, perceptron_xor, deep_mlp, activations_dead_relu, activations_leaky, overfit,
    overfit_l2, overfit_l1, overfit_dropout, overfit_dropconnect, overfit_early_stopping)}

from templates_basics_cnn import BUILDERS as _CNN  # noqa: E402

BUILDERS.update(_CNN)
