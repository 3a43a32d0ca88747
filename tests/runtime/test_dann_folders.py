"""Domain adaptation over two folders of the user's own images: the source an image folder
with one sub-folder per class, the target another, labelled (target_accuracy reported) or a
flat folder of unlabelled images; real training steps through the trainer."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from runtime.data.registry import load
from runtime.events import EpochSummary, Failure, Samples
from runtime.trainer import Trainer

SIDE = 16


def picture(kind: str, night: bool, rng: np.random.Generator) -> Image.Image:
    """A square or a circle, bright by day, dark and noisy by night."""
    yy, xx = np.mgrid[:24, :24]
    cx, cy, r = rng.integers(9, 15, 2).tolist() + [int(rng.integers(5, 8))]
    inside = (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= r) if kind == "square" \
        else (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    colour = rng.uniform(0.5, 1.0, 3)
    img = np.where(inside[..., None], colour, rng.uniform(0.6, 0.9))
    if night:
        img = img * [0.3, 0.35, 0.5] + rng.normal(0, 0.08, img.shape)
    return Image.fromarray((img.clip(0, 1) * 255).astype(np.uint8))


def folder(root, night: bool, classes: bool, per_class: int = 12):
    rng = np.random.default_rng(int(night))
    for kind in ("circle", "square"):
        where = root / kind if classes else root
        where.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            picture(kind, night, rng).save(where / f"{kind}{i}.png")
    return str(root)


def project(source: str, target: str) -> Project:
    def image_folder(path):
        return DatasetConfig("image_folder", {"path": path, "image_size": SIDE, "workers": 0,
                                              "val_fraction": 0.25})

    feats = Network("features")
    feats.chain(feats.add("Input", id="x", shape=[3, SIDE, SIDE], kind="image"),
                feats.add("Conv2d", id="conv", filters=8, kernel=3, padding=1),
                feats.add("ReLU", id="relu1"), feats.add("MaxPool2d", id="pool", kernel=2),
                feats.add("Flatten", id="flat"), feats.add("Linear", id="fc", units=16),
                feats.add("ReLU", id="relu2"), feats.add("Output", id="f"))
    heads = []
    for name, units in (("labels", 2), ("domains", 1)):
        net = Network(name)
        chain = [net.add("Input", id="f", shape=[16], field="features", source="recipe")]
        if name == "domains":
            chain.append(net.add("GradientReversal", id="reverse"))
        net.chain(*chain, net.add("Linear", id="out", units=units), net.add("Output", id="y"))
        heads.append(net)
    return Project(
        {n.name: n for n in (feats, *heads)}, image_folder(source),
        RecipeConfig("dann", {"features": "features", "label_head": "labels",
                              "domain_head": "domains"}),
        TrainingSettings(epochs=2, batch_size=8, optimizers={"*": OptimizerConfig("adam", 1e-3)}),
        streams={"target": image_folder(target)},
    )


def test_a_flat_folder_loads_unlabelled(tmp_path):
    s = load("image_folder", {"path": folder(tmp_path / "night", True, classes=False),
                              "image_size": SIDE, "workers": 0, "val_fraction": 0.25})
    assert set(s.info.fields) == {"x"} and s.info.num_classes is None
    assert s.sizes() == (18, 6) and set(s.train[0]) == {"x"}
    folder(tmp_path / "split" / "train", True, classes=False, per_class=3)
    folder(tmp_path / "split" / "val", True, classes=False, per_class=1)
    s = load("image_folder", {"path": str(tmp_path / "split"), "image_size": SIDE,
                              "workers": 0})
    assert s.sizes() == (6, 2) and s.info.task == "generative"


@pytest.mark.parametrize("labelled", [True, False])
def test_dann_trains_from_two_folders(tmp_path, events, labelled):
    source = folder(tmp_path / "day", False, classes=True)
    target = folder(tmp_path / "night", True, classes=labelled)
    finished = Trainer(project(source, target), callback=events).fit()
    assert finished.reason == "completed", events.of(Failure)
    val = events.of(EpochSummary)[-1].val
    assert "accuracy" in val and "domain_accuracy" in val
    assert ("target_accuracy" in val) == labelled
    if labelled:
        assert 0.0 <= val["target_accuracy"] <= 1.0
    now = [e for e in events.of(Samples) if e.name.startswith("features now")][-1]
    classes = now.extra["classes"]
    assert now.data.shape[1] == 2 and len(classes) == len(now.labels)
    assert (classes[now.labels == 1] >= 0).all() == labelled  # -1: the target's unknown class
