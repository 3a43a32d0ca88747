"""The verdict: each rule on synthetic metric series (fires on its pattern, silent on a
healthy run), the fixes as undoable commands, and real short runs through the trainer and
``layerloom train``."""

from __future__ import annotations

import numpy as np
import pytest

from builder.commands import Document
from builder.document import Edge, Node
from builder.gallery import template_path
from builder.serialize import dumps, load, save
from runtime.cli import main
from runtime.trainer import Trainer
from runtime.verdict import Recorder, RunFacts, diagnose, fix_command, project_facts, verdict_lines
from runtime.verdict_rules import (
    dead_relus,
    exploding_gradients,
    gan_stalled_discriminator,
    lr_too_high,
    lr_too_low,
    overfitting,
    saturated_sigmoids,
    underfitting,
    vanishing_gradients,
)

RNG = np.random.default_rng(0)


def curve(y) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, float)
    return np.arange(1, len(y) + 1, dtype=float), y


def healthy_loss(n: int = 300) -> np.ndarray:
    """Falls fast, then levels off, with minibatch noise."""
    t = np.arange(n)
    return (1.1 * np.exp(-t / 40) + 0.05) * (1 + 0.1 * RNG.standard_normal(n))


def mlp_facts(**kw) -> RunFacts:
    """Facts of the mlp template's project with a healthy run, ``kw`` replacing parts."""
    facts = project_facts(load(template_path("mlp")))
    facts.steps = {"loss": curve(healthy_loss())}
    t = healthy_loss(10)
    facts.epochs = {("train", "loss"): curve(t), ("val", "loss"): curve(t * 1.1),
                    ("train", "accuracy"): curve(np.linspace(0.6, 0.97, 10)),
                    ("val", "accuracy"): curve(np.linspace(0.6, 0.95, 10))}
    facts.grad = {"main": {"hidden1": np.full(20, 0.2), "hidden2": np.full(20, 0.3),
                           "logits": np.full(20, 0.15)}}
    facts.dead = {"main": {"relu1": np.full(20, 0.05), "relu2": np.full(20, 0.2)}}
    for key, value in kw.items():
        setattr(facts, key, value)
    return facts


def deep_sigmoid(depth: int = 8):
    """The mlp template with a chain of ``depth`` Linear+Sigmoid layers."""
    p = load(template_path("mlp"))
    net = p.networks["main"]
    keep = {"x": net.nodes["x"], "y": net.nodes["y"]}
    net.nodes.clear()
    net.nodes.update(keep)
    net.edges.clear()
    prev = "x"
    for i in range(depth):
        net.nodes[f"fc{i}"] = Node(f"fc{i}", "Linear", {"units": 32}, (0.0, 80.0 * i))
        net.nodes[f"act{i}"] = Node(f"act{i}", "Sigmoid", {}, (160.0, 80.0 * i))
        net.edges += [Edge(prev, "y", f"fc{i}", "x"), Edge(f"fc{i}", "y", f"act{i}", "x")]
        prev = f"act{i}"
    net.nodes["logits"] = Node("logits", "Linear", {"units": 3}, (0.0, 80.0 * depth))
    net.nodes["y"].pos = (160.0, 80.0 * depth)
    net.edges += [Edge(prev, "y", "logits", "x"), Edge("logits", "y", "y", "x")]
    p.training.stats_every = 5
    return p


# --- each rule on synthetic series ------------------------------------------------------------

def test_a_healthy_run_has_no_findings():
    assert diagnose(mlp_facts()) == []
    assert verdict_lines(mlp_facts()) == ["no problem found in the loss, gradients or "
                                          "activations"]


def test_too_few_steps_give_no_verdict_and_say_so():
    facts = mlp_facts(steps={"loss": curve([1.0, float("nan")] * 5)})
    assert diagnose(facts) == []
    assert "not enough steps" in verdict_lines(facts)[0] and "10 of 20" in verdict_lines(facts)[0]


@pytest.mark.parametrize("loss, words", [
    (np.r_[healthy_loss(50), [np.nan] * 5], "NaN"),
    (np.r_[1.1, 500.0, healthy_loss(60) + 1], "jumped to 500"),
    (np.linspace(1.0, 2.0, 100), "rose from"),
    (1.0 + 0.8 * np.tile([1.0, -1.0], 60), "jumps by"),
])
def test_lr_too_high_on_divergence_spikes_rising_and_oscillation(loss, words):
    found = lr_too_high(mlp_facts(steps={"loss": curve(loss)}))
    assert found is not None and words in found.evidence
    assert found.fix == {"kind": "lr", "networks": ["main"], "factor": 0.3,
                         "label": "Lower the learning rate to 0.003"}
    assert lr_too_high(mlp_facts()) is None


def test_lr_too_low_on_a_slow_straight_fall():
    slow = np.linspace(1.10, 1.05, 200) + 0.002 * RNG.standard_normal(200)
    found = lr_too_low(mlp_facts(steps={"loss": curve(slow)}))
    assert found is not None and "fell only 4%" in found.evidence
    assert found.fix["factor"] == 3.0 and found.fix["label"] == "Raise the learning rate to 0.03"
    assert lr_too_low(mlp_facts()) is None


def test_overfitting_names_the_epoch_the_gap_opened():
    train = np.linspace(0.8, 0.05, 10)
    val = np.r_[np.linspace(0.8, 0.4, 4), np.linspace(0.45, 0.7, 6)]
    found = overfitting(mlp_facts(epochs={("train", "loss"): curve(train),
                                          ("val", "loss"): curve(val)}))
    assert found is not None and found.title == "Over-fitting since epoch 4"
    assert "0.4" in found.evidence and "0.7" in found.evidence
    assert found.fix["set"] == {"l2": 1e-4, "early_stopping": 5}
    blip = np.r_[np.linspace(0.8, 0.4, 9), 0.6]  # one noisy last epoch is no trend
    assert overfitting(mlp_facts(epochs={("train", "loss"): curve(train),
                                         ("val", "loss"): curve(blip)})) is None
    assert overfitting(mlp_facts()) is None


def test_underfitting_on_a_plateau_at_poor_accuracy():
    flat = np.r_[np.linspace(1.1, 0.9, 50), np.full(100, 0.9)] + 0.001 * RNG.standard_normal(150)
    facts = mlp_facts(steps={"loss": curve(flat)},
                      epochs={("train", "accuracy"): curve(np.full(5, 0.55))})
    found = underfitting(facts)
    assert found is not None and "55%" in found.evidence
    assert found.fix["nodes"] == [("main", "hidden1"), ("main", "hidden2")]  # not the head
    facts.epochs = {("train", "accuracy"): curve(np.full(5, 0.95))}
    assert underfitting(facts) is None


def test_dead_relus_with_a_leaky_relu_fix():
    dead = {"main": {"relu1": np.full(5, 0.1), "relu2": np.full(5, 0.7)}}
    found = dead_relus(mlp_facts(dead=dead))
    assert found is not None and "relu2 70%" in found.evidence and "relu1" not in found.evidence
    assert found.fix["kind"] == "replace" and found.fix["nodes"] == [("main", "relu2")]
    assert found.fix["block"] == "LeakyReLU"
    assert dead_relus(mlp_facts()) is None


def test_vanishing_and_exploding_gradients_from_the_first_last_ratio():
    small = {"main": {"hidden1": np.full(9, 1e-5), "hidden2": np.full(9, 1e-3),
                      "logits": np.full(9, 0.1)}}
    found = vanishing_gradients(mlp_facts(grad=small))
    assert found is not None and "1.0e-04" in found.evidence and "hidden1" in found.evidence
    assert exploding_gradients(mlp_facts(grad=small)) is None
    big = {"main": {"hidden1": np.full(9, 50.0), "hidden2": np.full(9, 1.0),
                    "logits": np.full(9, 0.1)}}
    found = exploding_gradients(mlp_facts(grad=big))
    assert found is not None and "500" in found.evidence
    assert found.fix == {"kind": "training", "set": {"grad_clip": 1.0},
                         "label": "Clip the gradient norm at 1"}
    growing = {"main": {"hidden1": np.geomspace(0.1, 1e4, 20), "hidden2": np.full(20, 1.0),
                        "logits": np.geomspace(0.1, 1e4, 20)}}
    assert "grew from" in exploding_gradients(mlp_facts(grad=growing)).evidence
    assert vanishing_gradients(mlp_facts()) is None and exploding_gradients(mlp_facts()) is None


def test_saturated_sigmoids_from_mean_and_std():
    facts = project_facts(deep_sigmoid(3))
    facts.act = {"main": {"act0": (0.5, 0.48), "act1": (0.5, 0.15), "act2": (0.3, 0.45)}}
    found = saturated_sigmoids(facts)
    assert found is not None and "act0 0.92" in found.evidence and "act1" not in found.evidence
    assert "act2 0.96" in found.evidence
    assert found.fix["block"] == "ReLU" and ("main", "act1") in found.fix["nodes"]
    facts.act = {"main": {"act0": (0.5, 0.2)}}
    assert saturated_sigmoids(facts) is None
    p = deep_sigmoid(1)  # a sigmoid that is the network's output is meant to saturate
    p.networks["main"].edges[-2:] = [Edge("act0", "y", "y", "x")]
    del p.networks["main"].nodes["logits"]
    facts = project_facts(p)
    facts.act = {"main": {"act0": (0.5, 0.49)}}
    assert saturated_sigmoids(facts) is None


def test_gan_discriminator_winning_or_learning_nothing():
    p = load(template_path("gan_2d"))
    facts = project_facts(p)
    d_net = p.recipe.roles["discriminator"]
    facts.steps = {"loss_d": curve(np.full(300, 0.01)), "d_real": curve(np.full(300, 0.995)),
                   "d_fake": curve(np.full(300, 0.004))}
    found = gan_stalled_discriminator(facts)
    assert found is not None and found.title == "The discriminator wins completely"
    assert found.fix["networks"] == [d_net] and found.fix["factor"] == 0.3
    facts.steps |= {"d_real": curve(0.5 + 0.004 * RNG.standard_normal(300)),
                    "d_fake": curve(np.full(300, 0.5))}
    found = gan_stalled_discriminator(facts)
    assert found is not None and found.title == "The discriminator learns nothing"
    assert found.fix["factor"] == 3.0
    facts.steps |= {"d_real": curve(np.full(300, 0.7)), "d_fake": curve(np.full(300, 0.35))}
    assert gan_stalled_discriminator(facts) is None
    facts.steps |= {"d_real": curve(np.full(300, 9.0)), "d_fake": curve(np.full(300, -9.0)),
                    "wasserstein": curve(np.full(300, 18.0))}
    assert gan_stalled_discriminator(facts) is None  # a critic's scores are not beliefs


# --- fixes as commands ------------------------------------------------------------------------

@pytest.mark.parametrize("fix, changed", [
    ({"kind": "lr", "networks": ["main"], "factor": 0.3, "label": "x"},
     lambda p: p.training.optimizers["main"].lr == 0.003),
    ({"kind": "training", "set": {"grad_clip": 1.0}, "label": "x"},
     lambda p: p.training.grad_clip == 1.0),
    ({"kind": "replace", "nodes": [("main", "relu1"), ("main", "relu2")], "block": "LeakyReLU",
      "label": "x"},
     lambda p: [n.block for n in p.networks["main"].nodes.values()].count("LeakyReLU") == 2),
    ({"kind": "scale", "nodes": [("main", "hidden1")], "param": "units", "factor": 2,
      "label": "x"},
     lambda p: p.networks["main"].nodes["hidden1"].params["units"] == 64),
])
def test_fix_command_changes_exactly_what_it_says_and_undoes(fix, changed):
    doc = Document(load(template_path("mlp")))
    before = dumps(doc.project)
    doc.do(fix_command(doc.project, fix))
    assert changed(doc.project)
    after = load(template_path("mlp"))
    assert not changed(after)
    assert dumps(doc.project) != before
    edges = list(doc.project.networks["main"].edges)
    assert edges == after.networks["main"].edges  # wires stay
    doc.undo()
    assert dumps(doc.project) == before
    doc.redo()
    assert changed(doc.project)


def test_fix_command_refuses_what_the_project_no_longer_has():
    p = load(template_path("mlp"))
    assert fix_command(p, {"kind": "replace", "nodes": [("main", "gone")], "block": "ReLU"}) \
        is None
    assert fix_command(p, {"kind": "lr", "networks": ["nope"], "factor": 0.3}) is None


# --- real runs --------------------------------------------------------------------------------

def test_a_learning_rate_of_ten_is_too_high_and_the_fix_lowers_it():
    p = load(template_path("mlp"))
    p.training.optimizers["main"].lr = 10.0
    rec = Recorder()
    Trainer(p, callback=rec, device="cpu").fit(max_steps=60)
    found = diagnose(rec.facts(p))
    assert found[0].rule == "lr_too_high", [f.line() for f in found]
    doc = Document(p)
    doc.do(fix_command(doc.project, found[0].fix))
    assert doc.project.training.optimizers["main"].lr == 3.0


def test_a_deep_sigmoid_network_has_vanishing_gradients():
    p = deep_sigmoid()
    rec = Recorder()
    Trainer(p, callback=rec, device="cpu").fit(max_steps=100)
    found = {f.rule: f for f in diagnose(rec.facts(p))}
    assert "vanishing_gradients" in found, list(found)
    fix = found["vanishing_gradients"].fix
    assert fix["block"] == "ReLU" and len(fix["nodes"]) == 8
    doc = Document(p)
    doc.do(fix_command(doc.project, fix))
    assert not any(n.block == "Sigmoid" for n in doc.project.networks["main"].nodes.values())


def test_layerloom_train_prints_the_verdict(tmp_path, capsys):
    p = load(template_path("mlp"))
    p.training.optimizers["main"].lr = 10.0
    file = save(p, tmp_path / "hot.loom")
    main(["train", str(file), "--out", str(tmp_path / "run"), "--device", "cpu",
          "--max-steps", "40"])
    out = capsys.readouterr().out
    tail = out[out.index("verdict:"):]
    assert "  - Learning rate too high" in tail and "Try: lower the learning rate" in tail

