"""Gallery templates of transfer learning: a network pre-trained on one task and fine-tuned on
another with few labels, beside the same network trained from scratch on those few labels.

Source: glyph digits drawn white on black, 12,000 labelled.  Target: the same digits drawn
black on white, 12 labelled per class.  Both have ten classes, so one head serves: the
``transfer`` recipe gives it back its initial weights when fine-tuning starts (a new head).
"""

from __future__ import annotations

from template_parts import _seq, image_in, lay_out

from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)

__all__ = ["BUILDERS"]


def _cnn() -> Network:
    net = Network("main")
    _seq(net, image_in(),
         ("Conv2d", "conv1", {"filters": 16, "kernel": 5, "padding": 2}),
         ("ReLU", "relu1", {}), ("MaxPool2d", "pool1", {"kernel": 2}),
         ("Conv2d", "conv2", {"filters": 32, "kernel": 5, "padding": 2}),
         ("ReLU", "relu2", {}), ("MaxPool2d", "pool2", {"kernel": 2}),
         ("Flatten", "flatten", {}), ("Linear", "fc", {"units": 128}),
         ("ReLU", "relu3", {}), ("Linear", "logits", {"units": 10}), ("Output", "y", {}))
    return lay_out(net)


def _transfer(description: str, fine_tune: str) -> Project:
    net = _cnn()
    return Project(
        networks={net.name: net},
        dataset=DatasetConfig("glyph_digits", {"n_samples": 1200, "domain": "inverted",
                                               "val_fraction": 0.9}),
        streams={"source": DatasetConfig("glyph_digits", {"n_samples": 15000, "seed": 1})},
        recipe=RecipeConfig("transfer", {"model": net.name},
                            {"new_head": "logits", "fine_tune": fine_tune, "top_k": 10,
                             "pretrain_share": 0.75}),
        training=TrainingSettings(epochs=165, batch_size=30,
                                  optimizers={net.name: OptimizerConfig("adam", 1e-3)}),
        description=description)


def transfer_digits() -> Project:
    return _transfer(
        "Transfer learning: 120 labels of a new kind of digit\n"
        "A CNN first learns to read white-on-black digits from 12,000 examples; then its "
        "output layer starts afresh and the whole network is fine-tuned on only 12 examples "
        "of each digit drawn black on white. Beside it the same network, from the same "
        "initial weights, learns from those 120 examples alone: accuracy (pre-trained) and "
        "scratch_accuracy share the metrics plot, and the gap is what pre-training brought.",
        "all")


def transfer_features() -> Project:
    return _transfer(
        "Feature extraction vs fine-tuning: when frozen features are not enough\n"
        "The same two tasks as transfer_digits, but after pre-training only the new output "
        "layer learns; the convolutions and the hidden layer stay frozen (the stage mark on "
        "the plots names what trains). Features learned on white-on-black digits respond "
        "differently to black-on-white ones, so here the frozen network does worse than "
        "one trained from scratch: fine-tune (transfer_digits) when the new data looks "
        "different, freeze when it looks like the old.", "head")


BUILDERS = {f.__name__: f for f in (transfer_digits, transfer_features)}
