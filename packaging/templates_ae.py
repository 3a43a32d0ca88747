"""The autoencoder family's gallery templates (written by packaging/build_templates.py).

Two networks each, ``encoder`` and ``decoder`` (whose Input ``code`` the recipe fills), on
offline digits.  The decoders output logits and the recipe's loss is BCE, so the images
stay in [0, 1] (normalize off): the classic choice for digits, and sharp reconstructions.
"""

from __future__ import annotations

from template_parts import IMAGE, _seq, glyphs, image_in, lay_out

from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)

__all__ = ["BUILDERS"]

def _code_in(size: int | list[int]) -> tuple:
    shape = [size] if isinstance(size, int) else size
    return ("Input", "code", {"shape": shape, "kind": "vector", "field": "code",
                              "source": "recipe"})


def _project(description: str, encoder: Network, decoder: Network, params: dict, *,
             dataset: DatasetConfig | None = None, epochs: int, batch: int = 128,
             lr: float = 2e-3, every: int = 1, unit: str = "epochs") -> Project:
    for net in (encoder, decoder):
        lay_out(net)
    return Project(
        networks={"encoder": encoder, "decoder": decoder},
        dataset=dataset or glyphs(),
        recipe=RecipeConfig("autoencoder", {"encoder": "encoder", "decoder": "decoder"},
                            {"loss": "bce", **params}),
        training=TrainingSettings(epochs=epochs, batch_size=batch,
                                  optimizers={"*": OptimizerConfig("adam", lr)},
                                  samples_every=every, samples_unit=unit),
        description=description,
    )


def _dense_pair(code: int = 32, last: tuple = ()) -> tuple[Network, Network]:
    """The course's 784 → 128 → 64 → code → 64 → 128 → 784, ReLU between."""
    enc, dec = Network("encoder"), Network("decoder")
    _seq(enc, image_in("x"), ("Flatten", "flatten", {}),
         ("Linear", "fc1", {"units": 128}), ("ReLU", "relu1", {}),
         ("Linear", "fc2", {"units": 64}), ("ReLU", "relu2", {}),
         ("Linear", "fc3", {"units": code}), *last, ("Output", "code", {}))
    _seq(dec, _code_in(code),
         ("Linear", "fc1", {"units": 64}), ("ReLU", "relu1", {}),
         ("Linear", "fc2", {"units": 128}), ("ReLU", "relu2", {}),
         ("Linear", "fc3", {"units": 784}), ("Reshape", "image", {"shape": IMAGE}),
         ("Output", "logits", {}))
    return enc, dec


def _conv_pair(code: int = 32) -> tuple[Network, Network]:
    """Two stride-2 convolutions down to 7×7, a dense code, two transposed ones back up."""
    enc, dec = Network("encoder"), Network("decoder")
    _seq(enc, image_in("x"),
         ("Conv2d", "conv1", {"filters": 32, "kernel": 3, "stride": 2, "padding": 1}),
         ("ReLU", "relu1", {}),
         ("Conv2d", "conv2", {"filters": 64, "kernel": 3, "stride": 2, "padding": 1}),
         ("ReLU", "relu2", {}),
         ("Flatten", "flatten", {}), ("Linear", "fc", {"units": code}), ("Output", "code", {}))
    _seq(dec, _code_in(code),
         ("Linear", "fc", {"units": 64 * 7 * 7}), ("ReLU", "relu0", {}),
         ("Reshape", "grid", {"shape": [64, 7, 7]}),
         ("ConvTranspose2d", "up1", {"filters": 32, "kernel": 4, "stride": 2, "padding": 1}),
         ("ReLU", "relu1", {}),
         ("ConvTranspose2d", "up2", {"filters": 1, "kernel": 4, "stride": 2, "padding": 1}),
         ("Output", "logits", {}))
    return enc, dec


def _vae_pair(latent: int, beta: float, hidden: tuple[int, int] = (512, 256)
              ) -> tuple[Network, Network]:
    """x → dense layers → μ and log σ² heads → Reparameterize → z; z → dense → logits."""
    enc, dec = Network("encoder"), Network("decoder")
    trunk = _seq(enc, image_in("x"), ("Flatten", "flatten", {}),
                 ("Linear", "fc1", {"units": hidden[0]}), ("ReLU", "relu1", {}),
                 ("Linear", "fc2", {"units": hidden[1]}), ("ReLU", "relu2", {}))
    _seq(enc, ("Linear", "mu", {"units": latent}), after=trunk)
    _seq(enc, ("Linear", "logvar", {"units": latent}), after=trunk)
    enc.add("Reparameterize", id="sample", beta=beta)
    enc.connect("mu", "sample", dst_port="mu")
    enc.connect("logvar", "sample", dst_port="logvar")
    _seq(enc, ("Output", "z", {}), after="sample")
    _seq(dec, _code_in(latent),
         ("Linear", "fc1", {"units": hidden[1]}), ("ReLU", "relu1", {}),
         ("Linear", "fc2", {"units": hidden[0]}), ("ReLU", "relu2", {}),
         ("Linear", "fc3", {"units": 784}), ("Reshape", "image", {"shape": IMAGE}),
         ("Output", "logits", {}))
    return enc, dec


def _one_layer(code: int) -> tuple[Network, Network]:
    """x → Linear → Sigmoid → code → Linear → x: the sparse and contractive classics."""
    enc, dec = Network("encoder"), Network("decoder")
    _seq(enc, image_in("x"), ("Flatten", "flatten", {}),
         ("Linear", "fc", {"units": code}), ("Sigmoid", "sigmoid", {}), ("Output", "code", {}))
    _seq(dec, _code_in(code), ("Linear", "fc", {"units": 784}),
         ("Reshape", "image", {"shape": IMAGE}), ("Output", "logits", {}))
    return enc, dec


# --- the templates -------------------------------------------------------------------------


def ae_dense() -> Project:
    return _project(
        "Dense autoencoder on glyph digits\n"
        "784 → 128 → 64 → 32 → 64 → 128 → 784: the encoder squeezes each digit into 32 "
        "numbers and the decoder rebuilds it. Watch the reconstructions sharpen, and the "
        "latent space (the code's two main axes) gather each digit in its own region.",
        *_dense_pair(), {}, epochs=20)


def ae_conv() -> Project:
    return _project(
        "Convolutional autoencoder on glyph digits\n"
        "Two stride-2 convolutions down to a 32-number code, two transposed convolutions back "
        "up: fewer weights than the dense one and sharper strokes. Watch the reconstructions "
        "and the samples drawn from a Gaussian fitted to the codes.",
        *_conv_pair(), {}, epochs=10)


def ae_denoising() -> Project:
    return _project(
        "Denoising autoencoder on glyph digits\n"
        "The encoder sees each digit with strong Gaussian noise, the loss compares with the "
        "clean one, so the network learns what digits look like rather than copying pixels. "
        "Watch the reconstructions: noisy input | reconstruction | clean target.",
        *_conv_pair(), {"corruption": "gaussian", "noise": 0.5}, epochs=10)


def ae_sparse() -> Project:
    return _project(
        "Sparse autoencoder on glyph digits\n"
        "One layer of 100 sigmoid units whose mean activation is pulled towards ρ = 0.05 by a "
        "KL penalty: each digit is told by a few active units. Watch 'unit activation vs ρ' "
        "settle near the reference line while the reconstructions stay good.",
        *_one_layer(100), {"sparsity_weight": 10.0, "sparsity_target": 0.05}, epochs=30,
        lr=5e-3)


def ae_contractive() -> Project:
    return _project(
        "Contractive autoencoder on glyph digits\n"
        "A sigmoid code penalised by the squared Frobenius norm of its Jacobian ∂code/∂x "
        "(closed form for this one-layer encoder): the code ignores directions the digits do "
        "not vary in. Watch the 'contractive' term fall while the reconstructions stay sharp.",
        *_one_layer(64), {"contractive_weight": 2.0}, epochs=30, lr=5e-3)


def vae() -> Project:
    return _project(
        "Variational autoencoder with a 2-D latent space\n"
        "The encoder outputs a Gaussian per digit, the KL term pulls them towards N(0, 1), so "
        "any point of the plane decodes to a digit. Watch the latent space fill a disc, class "
        "by class, the samples from the prior, and the ELBO's parts recon and kl. Two numbers "
        "keep only a digit's rough shape, so reconstructions stay soft (beta_vae has 8).",
        *_vae_pair(2, 1.0), {"kl_warmup": 0.1}, epochs=20)


def beta_vae() -> Project:
    return _project(
        "β-VAE (β = 4) with 8 latent dimensions\n"
        "A heavier KL weight trades sharpness for a tidier code: each latent dimension tends "
        "to take one factor (slant, width, thickness). Watch the latent traversal: each row "
        "moves one dimension from −3σ to +3σ; the KL weight warms up over the first fifth.",
        *_vae_pair(8, 4.0), {"kl_warmup": 0.2}, epochs=30)


def ae_anomaly() -> Project:
    return _project(
        "Anomaly detection with an autoencoder\n"
        "Trained on every digit but one (the 4s never train), the autoencoder rebuilds the "
        "unseen class worse. Watch 'reconstruction error by class': the held-out class stands "
        "apart; anomaly_auc says how well the error alone finds it.",
        *_dense_pair(), {"holdout_class": 4}, epochs=20)


BUILDERS = {f.__name__: f for f in (ae_dense, ae_conv, ae_denoising, ae_sparse,
                                      ae_contractive, vae, beta_vae, ae_anomaly)}
