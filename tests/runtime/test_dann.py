"""Domain adaptation (DANN) through the real trainer: two data streams, recipe-filled inputs
and a schedule that follows the run's progress."""

from __future__ import annotations

from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from runtime.events import EpochSummary, Failure, Samples, StepMetrics
from runtime.trainer import Trainer, Watch


def dann_project(n: int = 600, epochs: int = 2) -> Project:
    feats = Network("features")
    feats.chain(feats.add("Input", id="x", shape=[1, 28, 28], kind="image"),
                feats.add("Conv2d", id="conv1", filters=8, kernel=5),
                feats.add("ReLU", id="relu1"),
                feats.add("MaxPool2d", id="pool1", kernel=2),
                feats.add("Flatten", id="flat"),
                feats.add("Linear", id="fc", units=32),
                feats.add("ReLU", id="relu2"),
                feats.add("Output", id="f"))
    labels = Network("labels")
    labels.chain(labels.add("Input", id="f", shape=[32], field="features", source="recipe"),
                 labels.add("Linear", id="logits", units=10),
                 labels.add("Output", id="y"))
    domains = Network("domains")
    domains.chain(domains.add("Input", id="f", shape=[32], field="features", source="recipe"),
                  domains.add("GradientReversal", id="reverse"),
                  domains.add("Linear", id="hidden", units=32),
                  domains.add("ReLU", id="relu"),
                  domains.add("Linear", id="logit", units=1),
                  domains.add("Output", id="d"))
    return Project(
        {n.name: n for n in (feats, labels, domains)},
        DatasetConfig("glyph_digits", {"n_samples": n}),
        RecipeConfig("dann", {"features": "features", "label_head": "labels",
                              "domain_head": "domains"}),
        TrainingSettings(epochs=epochs, batch_size=64,
                         optimizers={"*": OptimizerConfig("adam", 2e-3)}),
        streams={"target": DatasetConfig("glyph_digits", {"n_samples": n // 2, "seed": 1,
                                                          "domain": "inverted"})},
    )


def test_dann_trains_on_two_streams_with_a_scheduled_reversal(events):
    finished = Trainer(dann_project(), callback=events,
                       watch=Watch(every_steps=1)).fit()
    assert finished.reason == "completed", events.of(Failure)
    lam = [e.values["lambda"] for e in events.of(StepMetrics) if "lambda" in e.values]
    assert lam[0] < 0.1 and lam[-1] > 0.9 and lam == sorted(lam)  # ramps up with progress
    val = events.of(EpochSummary)[-1].val
    assert {"accuracy", "target_accuracy", "domain_accuracy"} <= set(val)
    assert val["accuracy"] > 0.3  # learning the source labels after two short epochs
    (picture,) = [e for e in events.of(Samples) if e.kind == "points"][-1:]
    assert picture.data.shape[1] == 2 and set(picture.labels.tolist()) == {0, 1}


def test_dann_without_a_reversal_says_where_to_put_it(events):
    p = dann_project(n=200)
    net = p.networks["domains"]
    del net.nodes["reverse"]
    net.edges = [e for e in net.edges if "reverse" not in (e.src, e.dst)]
    net.connect("f", "hidden")
    Trainer(p, callback=events).fit()
    (failure,) = events.of(Failure)
    assert "Gradient reversal" in failure.message and "'domains'" in failure.message
