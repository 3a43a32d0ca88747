"""The optimizer race's gallery template (written by packaging/build_templates.py).

One small MLP on three spirals, trained seven times at once from the same weights, once per
optimizer (the ``optimizer_race`` recipe), so their loss and accuracy curves race in one plot.
"""

from __future__ import annotations

from template_parts import _seq, lay_out

from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)

__all__ = ["BUILDERS"]


def optimizer_race() -> Project:
    net = Network("main")
    _seq(net,
         ("Input", "x", {"shape": [2], "kind": "vector"}),
         ("Linear", "hidden1", {"units": 32}),
         ("Tanh", "tanh1", {}),
         ("Linear", "hidden2", {"units": 32}),
         ("Tanh", "tanh2", {}),
         ("Linear", "logits", {"units": 3}),
         ("Output", "y", {}))
    lay_out(net)
    return Project(
        networks={"main": net},
        dataset=DatasetConfig("spirals", {"arms": 3, "n_samples": 1500}),
        recipe=RecipeConfig("optimizer_race", {"model": "main"}),
        training=TrainingSettings(epochs=30, batch_size=64,
                                  optimizers={"main": OptimizerConfig("sgd", 0.1)}),
        description=(
            "Optimizer race on spirals\n"
            "SGD, momentum, Nesterov, RMSProp, Adagrad, Adam and AdamW each train their own "
            "copy of one MLP from the same initial weights on the same batches: compare "
            "loss_<optimizer> and accuracy_<optimizer> in one plot, then open the pictures "
            "'paths: Rosenbrock', 'paths: saddle' and 'paths: narrow valley' to see how "
            "each one moves on a 2-D loss surface. Change a rate in the recipe's 'rates' "
            "(e.g. sgd=0.5) and watch both the curve and the path."),
    )


BUILDERS = {f.__name__: f for f in (optimizer_race,)}
