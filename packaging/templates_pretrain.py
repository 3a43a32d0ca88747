"""Gallery templates of greedy layer-wise pre-training: a deep sigmoid network on glyph
digits, each hidden layer pre-trained alone (stacked autoencoders, or RBMs by contrastive
divergence: a deep belief network), then fine-tuned with labels beside the same network
trained from its random initial weights.

Deep sigmoid networks trained by plain SGD from a random start are where pre-training made
its name: the gradient fades through every sigmoid layer on its way down, so the bottom
layers barely learn.  Few labelled digits and plain SGD keep that classic setting visible.
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

HIDDEN = (256, 256, 256, 256)
SAMPLES = 3000  # labelled digits (an 85/15 split: about 2,570 to train on)
EPOCHS = 40  # half of them pre-training: 5 epochs per hidden layer
LR = 0.1


def _net(block: str) -> Network:
    net = Network("main")
    steps = [image_in(), ("Flatten", "flatten", {})]
    for i, units in enumerate(HIDDEN, 1):
        if block == "RBM":
            steps.append(("RBM", f"rbm{i}", {"units": units}))
        else:
            steps += [("Linear", f"hidden{i}", {"units": units}), ("Sigmoid", f"sigmoid{i}", {})]
    steps += [("Linear", "logits", {"units": 10}), ("Output", "y", {})]
    _seq(net, *steps)
    return lay_out(net)


def _pretrain(description: str, block: str, params: dict) -> Project:
    net = _net(block)
    return Project(
        networks={net.name: net},
        # Pixels in [0, 1]: what an RBM's bernoulli visible units and a decoder's
        # cross-entropy compare with.
        dataset=DatasetConfig("glyph_digits", {"n_samples": SAMPLES, "normalize": False,
                                               "val_fraction": 0.15}),
        recipe=RecipeConfig("layerwise", {"model": net.name},
                            {"pretrain_share": 0.5, **params}),
        # "*": the same plain SGD for the network, the decoders and the from-scratch twin.
        training=TrainingSettings(epochs=EPOCHS, batch_size=32,
                                  optimizers={"*": OptimizerConfig("sgd", LR)}),
        description=description)


def pretrain_stacked_ae() -> Project:
    return _pretrain(
        "Stacked autoencoders: greedy layer-wise pre-training of a deep sigmoid network\n"
        "Four sigmoid layers of 256 units learn one at a time, bottom up: each is the "
        "encoder of an autoencoder (tied weights) that reconstructs what the frozen layers "
        "below make of a digit, without labels. Then the whole network is fine-tuned on "
        "3,000 labelled digits beside the same network trained from its random initial "
        "weights: accuracy (pre-trained) and scratch_accuracy share the metrics plot. Each "
        "pre-training stage shows its reconstruction error, reconstructions taken back down "
        "to pixels and the first layer's filters.", "Linear",
        {"method": "autoencoder", "tied": True})


def pretrain_rbm() -> Project:
    return _pretrain(
        "Deep belief network: stacked RBMs trained by contrastive divergence\n"
        "Four RBM blocks of 256 units are trained one at a time by CD-1, each on the hidden "
        "probabilities of the frozen RBMs below, without labels. As layers of the network "
        "they are sigmoid layers, so the stack then becomes a deep sigmoid classifier, "
        "fine-tuned on 3,000 labelled digits beside the same network trained from its "
        "random initial weights (accuracy vs scratch_accuracy). Each stage shows its "
        "reconstruction error and free-energy gap, reconstructions of validation digits "
        "and the first RBM's filters.", "RBM", {"method": "rbm", "cd_k": 1})


BUILDERS = {f.__name__: f for f in (pretrain_stacked_ae, pretrain_rbm)}
