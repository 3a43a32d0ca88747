"""Gallery templates of transfer learning: domain adaptation (DANN) on the offline two-domain
sets, glyph digits plain → inverted and shapes day → night.

Three networks each, bound to the ``dann`` recipe's roles: ``features`` (a small CNN, with
batch norm for the digits: the recipe passes both domains' samples in one batch, so its
statistics are the mixture's, which steadies the adversarial game, as does the cosine
learning rate),
``labels`` and ``domains`` (whose Inputs the recipe fills with the features; the domain head
starts with a Gradient reversal block).  The recipe's ``method`` switches to the baselines,
so one template trained once per method compares them in the Runs panel.
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

FEATURES = 128  # the feature vector both heads read

COMPARE = ("Train it once as it is (method dann), then once more with the recipe's method set "
           "to source_only (per_domain_bn and reweight are the other baselines), and overlay "
           "the runs in the Runs panel: target_accuracy is the number adaptation is for. "
           "Watch the feature pictures too: before, the two domains lie apart; DANN pushes them "
           "together, class by class. domain_accuracy far from 0.5, on either side, means the "
           "domain head still tells them apart (near 0 the features fool it the wrong way "
           "round).")


def _features(channels: int, side: int, norm: bool = False) -> Network:
    def bn(i: int) -> list[tuple]:
        return [("BatchNorm", f"bn{i}", {})] if norm else []

    net = Network("features")
    _seq(net, ("Input", "x", {"shape": [channels, side, side], "kind": "image"}),
         ("Conv2d", "conv1", {"filters": 32, "kernel": 5, "padding": 2}), *bn(1),
         ("ReLU", "relu1", {}), ("MaxPool2d", "pool1", {"kernel": 2}),
         ("Conv2d", "conv2", {"filters": 48, "kernel": 5, "padding": 2}), *bn(2),
         ("ReLU", "relu2", {}), ("MaxPool2d", "pool2", {"kernel": 2}),
         ("Flatten", "flatten", {}), ("Linear", "fc", {"units": FEATURES}), *bn(3),
         ("ReLU", "relu3", {}), ("Output", "f", {}))
    return net


def _features_in() -> tuple:
    return ("Input", "f", {"shape": [FEATURES], "kind": "vector", "field": "features",
                           "source": "recipe"})


def _heads(classes: int) -> tuple[Network, Network]:
    labels, domains = Network("labels"), Network("domains")
    _seq(labels, _features_in(), ("Linear", "hidden", {"units": 100}), ("ReLU", "relu", {}),
         ("Linear", "logits", {"units": classes}), ("Output", "y", {}))
    _seq(domains, _features_in(), ("GradientReversal", "reverse", {}),
         ("Linear", "hidden", {"units": 100}), ("ReLU", "relu", {}),
         ("Linear", "logit", {"units": 1}), ("Output", "d", {}))
    return labels, domains


def _project(description: str, source: DatasetConfig, target: DatasetConfig, channels: int,
             side: int, classes: int, params: dict, epochs: int, lr: float,
             norm: bool = False, schedule: str = "constant") -> Project:
    nets = (_features(channels, side, norm), *_heads(classes))
    for net in nets:
        lay_out(net)
    return Project(
        networks={n.name: n for n in nets},
        dataset=source,
        recipe=RecipeConfig("dann", {"features": "features", "label_head": "labels",
                                     "domain_head": "domains"}, {"method": "dann", **params}),
        training=TrainingSettings(epochs=epochs, batch_size=64,
                                  optimizers={"*": OptimizerConfig("adam", lr)},
                                  schedule={"name": schedule}),
        streams={"target": target},
        description=description + " " + COMPARE,
    )


def dann_digits() -> Project:
    return _project(
        "Domain adaptation: white digits on black → black digits on white\n"
        "The labels come from white-on-black glyph digits only; the target domain is "
        "unlabelled inverted digits (their labels are only used to report target_accuracy). "
        "Trained on the source alone, the CNN reads about half of the inverted digits right; "
        "DANN's domain classifier behind a Gradient reversal block (λ ramping up to 1) pushes "
        "the features to look the same in both domains, and target_accuracy ends some 30 "
        "points higher. The learning rate follows a cosine down to 0, which settles the "
        "adversarial game at the end.",
        DatasetConfig("glyph_digits", {"n_samples": 8000}),
        DatasetConfig("glyph_digits", {"n_samples": 8000, "seed": 1, "domain": "inverted"}),
        1, 28, 10, {"lambda_max": 1.0}, epochs=4, lr=1e-3, norm=True, schedule="cosine")


def dann_shapes() -> Project:
    return _project(
        "Domain adaptation: shapes by day → shapes by night\n"
        "Classify the ten shape kinds with labels from daylight pictures only; the target "
        "domain is unlabelled night pictures (darker, bluer, noisier; their labels only "
        "report target_accuracy). DANN learns features that do not tell day from night.",
        DatasetConfig("shapes", {"n_samples": 8000}),
        DatasetConfig("shapes", {"n_samples": 8000, "seed": 1, "domain": "night"}),
        3, 32, 10, {"lambda_max": 0.1}, epochs=8, lr=1e-3)


BUILDERS = {f.__name__: f for f in (dann_digits, dann_shapes)}
