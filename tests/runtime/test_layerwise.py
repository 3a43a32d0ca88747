"""Greedy layer-wise pre-training: one stage per hidden layer (stacked autoencoders, or RBMs
by CD-k), each training its layer alone on what the frozen layers below give it, then
fine-tuning beside the from-scratch twin; pictures of every stage."""

from __future__ import annotations

import pytest
import torch
from rt_helpers import Recorder, splits

from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from runtime import recipes
from runtime.data import FieldInfo
from runtime.events import EpochSummary, Failure, Samples, StageStarted, StepMetrics
from runtime.recipes.layer_parts import input_net
from runtime.trainer import Trainer

LAYERS = ("h1", "h2", "h3")


def _bars(n: int = 360, side: int = 6, seed: int = 0):
    """Images of one bar, horizontal (class 0) or vertical (class 1), pixels in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    pos = torch.randint(0, side, (n,), generator=g)
    x = torch.zeros(n, 1, side, side)
    for i in range(n):
        if y[i]:
            x[i, 0, :, pos[i]] = 1
        else:
            x[i, 0, pos[i], :] = 1
    x = (x + 0.1 * torch.rand(x.shape, generator=g)).clamp(0, 1)
    return splits({"x": x, "y": y}, {"x": FieldInfo((1, side, side), "image", "float32"),
                                     "y": FieldInfo((), "label", "int64")},
                  "classification", val=60, num_classes=2)


def _project(method: str, epochs: int = 8, **params) -> Project:
    net = Network("main")
    block = "RBM" if method == "rbm" else "Linear"
    chain = [net.add("Input", id="image", shape=[1, 6, 6], kind="image"),
             net.add("Flatten", id="flatten")]
    for node in LAYERS:
        chain.append(net.add(block, id=node, units=12))
        if block == "Linear":
            chain.append(net.add("Sigmoid", id=f"{node}_act"))
    chain += [net.add("Linear", id="logits", units=2), net.add("Output", id="y")]
    net.chain(*chain)
    return Project({"main": net}, DatasetConfig("test"),
                   RecipeConfig("layerwise", {"model": "main"},
                                {"method": method, "pretrain_share": 0.75, **params}),
                   TrainingSettings(epochs=epochs, batch_size=30,
                                    optimizers={"*": OptimizerConfig("sgd", 0.2)}))


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.recipe.nets["model"].state_dict().items()}


@pytest.mark.parametrize("method, params", [("rbm", {"cd_k": 2}),
                                            ("autoencoder", {"tied": True}),
                                            ("autoencoder", {"tied": False, "noise": 0.2})])
def test_each_stage_trains_its_layer_alone_then_fine_tunes_beside_its_twin(method, params,
                                                                          tmp_path):
    seen: dict[int, dict] = {}
    events = Recorder()

    def callback(event):
        events(event)
        if isinstance(event, StageStarted):
            seen[event.index] = _weights(trainer)

    trainer = Trainer(_project(method, **params), data=_bars(), callback=callback,
                      device="cpu", run_dir=tmp_path)
    finished = trainer.fit()
    assert finished.reason == "completed", trainer.failure
    stages = events.of(StageStarted)
    sub = "layer_rbm" if method == "rbm" else "layer_autoencoder"
    assert [(s.name, s.recipe) for s in stages] == \
        [(f"pre-train {n}", sub) for n in LAYERS] + [("fine-tune", "fine_tune")]
    assert [s.trainable for s in stages[:3]] == [{"main": [n]} for n in LAYERS]

    # Stage i changed layer i and nothing else, bit for bit: the layers below were frozen.
    snapshots = [seen[i] for i in range(4)]
    for i, node in enumerate(LAYERS):
        before, after = snapshots[i], snapshots[i + 1]
        changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
        assert changed == {node}, (i, changed)
    end = _weights(trainer)
    assert all(not torch.equal(snapshots[3][k], end[k]) for k in end if k.endswith("weight"))

    # Each pre-training stage lowers its reconstruction error; fine-tuning reports both.
    epochs = events.of(EpochSummary)
    first = [e.values["loss"] for e in events.of(StepMetrics) if e.step <= 12]
    assert sum(first[-3:]) < sum(first[:3])
    assert "accuracy" not in epochs[0].val
    assert {"accuracy", "scratch_accuracy", "loss_scratch"} <= set(finished.final)
    if method == "rbm":
        assert "loss_free_energy_gap" in epochs[0].val

    # Pictures: reconstructions of every layer down to pixels, and the first-layer filters.
    pictures = {s.name: s for s in events.of(Samples)}
    for node in LAYERS:
        shown = pictures[f"reconstructions · {node}"]
        assert shown.data.shape == (20, 1, 6, 6) and shown.extra["cols"] == 10
        assert torch.equal(torch.from_numpy(shown.data[:10]), _bars().val["x"][:10])
        assert 0 <= shown.data.min() and shown.data.max() <= 1
    assert pictures["first-layer filters · h1"].data.shape == (12, 1, 6, 6)
    # The helpers (decoders, the twin) are not results.
    assert sorted(p.name for p in tmp_path.glob("*.safetensors")) == ["main.safetensors"]


def test_a_layer_is_fed_through_the_real_network_below_it():
    from builder.compiler import compile_network

    gm = compile_network(_project("autoencoder").networks["main"]).module
    x = torch.rand(4, 1, 6, 6)
    got = {}
    gm.get_submodule("h3").register_forward_hook(lambda m, args, out: got.update(x=args[0]))
    gm(x)
    assert torch.equal(input_net(gm, "h3", "test")(x), got["x"])


@pytest.mark.parametrize("method, params, data, message", [
    ("rbm", {}, "linear", "h1 (Linear), h2 (Linear), h3 (Linear); use RBM blocks"),
    ("autoencoder", {"layers": "h1,logits"}, "ok", "layer 'logits' is not a layer with "
                                                   "weights below the head"),
    ("rbm", {}, "signed", "turn the dataset's normalize off"),
])
def test_misfits_fail_at_setup_with_a_sentence(method, params, data, message):
    p = _project(method, **params)
    if data == "linear":  # an MLP of Linear layers under the rbm method
        p.networks = _project("autoencoder").networks
    bars = _bars()
    if data == "signed":
        bars.train["x"].sub_(0.5)
    events = Recorder()
    assert Trainer(p, data=bars, callback=events, device="cpu").fit().reason == "failed"
    assert message in events.of(Failure)[0].message


def test_the_sub_recipes_are_listed_with_honest_titles():
    for name in ("layerwise", "layer_autoencoder", "layer_rbm"):
        cls = recipes.get(name)
        assert cls.title and len(cls.description) > 60


def test_chosen_layers_get_stages_and_pictures_go_down_only_a_full_stack():
    from runtime.assemble import make_recipe

    recipe = make_recipe(_project("rbm", layers="h1,h3"), _bars())
    stages = recipe.stages()
    assert [s.name for s in stages] == ["pre-train h1", "pre-train h3", "fine-tune"]
    assert [s.params["below"] for s in stages[:2]] == ["", ""]  # h2 is not pre-trained
    assert [s.share for s in stages[:2]] == [0.375, 0.375] and stages[2].share is None
    stages = make_recipe(_project("rbm"), _bars()).stages()
    assert [s.params["below"] for s in stages[:3]] == ["", "h1", "h1,h2"]


@pytest.mark.parametrize("method", ["autoencoder", "rbm"])
def test_a_run_stopped_in_pre_training_resumes_exactly(method, tmp_path):
    whole = Trainer(_project(method), data=_bars(), device="cpu")
    whole.fit()
    first = Trainer(_project(method), data=_bars(), device="cpu", run_dir=tmp_path)
    assert first.fit(max_steps=25).reason == "max_steps"  # 10 steps an epoch: in stage 2
    second = Trainer(_project(method), data=_bars(), device="cpu", run_dir=tmp_path,
                     resume=tmp_path / "checkpoint")
    assert second.fit().reason == "completed"
    a, b = _weights(whole), _weights(second)
    assert all(torch.equal(a[k], b[k]) for k in a)
