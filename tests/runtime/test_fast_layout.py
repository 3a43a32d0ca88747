"""Convolutions train channels-last on the CPU: only the layout in memory changes, never a
value or a saved weight."""

from __future__ import annotations

import torch
from rt_helpers import project
from safetensors.torch import load_file

import runtime.devices as devices
from builder.document import DatasetConfig, Network
from runtime.trainer import Trainer


def conv_net() -> Network:
    net = Network("main")
    net.add("Input", id="x", shape=[1, 28, 28], kind="image")
    net.add("Conv2d", id="conv1", filters=8, kernel=3, padding=1)
    net.add("ReLU", id="relu1")
    net.add("MaxPool2d", id="pool1", kernel=2)
    net.add("BatchNorm", id="bn1")
    net.add("ConvTranspose2d", id="up", filters=4, kernel=2, stride=2)
    net.add("Flatten", id="flat")
    net.add("Linear", id="logits", units=10)
    net.add("Output", id="y")
    net.chain("x", "conv1", "relu1", "pool1", "bn1", "up", "flat", "logits", "y")
    return net


def _trained(tmp_path, channels_last: bool, monkeypatch) -> Trainer:
    monkeypatch.setattr(devices, "CHANNELS_LAST_ON_CPU", channels_last)
    p = project(conv_net(), epochs=1, batch_size=32, optimizer="sgd", lr=0.05)
    p.dataset = DatasetConfig("glyph_digits", {"n_samples": 160})
    trainer = Trainer(p, device="cpu", run_dir=tmp_path / str(channels_last))
    assert trainer.fit(max_steps=4).reason == "max_steps"
    return trainer


def test_conv_weights_train_channels_last_on_the_cpu_with_the_same_values(tmp_path,
                                                                          monkeypatch):
    fast = _trained(tmp_path, True, monkeypatch)
    plain = _trained(tmp_path, False, monkeypatch)
    weight = fast.recipe.nets["model"].get_submodule("up").weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert not weight.is_contiguous()
    assert plain.recipe.nets["model"].get_submodule("up").weight.is_contiguous()
    # Four SGD steps from the same seed (Adam would blow float noise in a vanishing
    # gradient up to a full step): the same weights up to float rounding.
    a, b = (t.recipe.nets["model"].state_dict() for t in (fast, plain))
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k
    # The saved file holds plain tensors that load back into either layout.
    saved = load_file(tmp_path / "True" / "main.safetensors")
    assert all(torch.equal(saved[k], a[k].cpu()) for k in a)

