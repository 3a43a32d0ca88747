"""The autoencoder recipe's parts: data units, corruption, penalties, the code distribution
of a plain autoencoder and the pictures.  No recipe here; ``autoencoder.py`` assembles them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, fx, nn

from builder.blocks.modules.dense import Reshape
from runtime.data.core import TensorData
from runtime.events import Samples

__all__ = ["CORRUPTIONS", "corrupt", "sparsity_kl",
           "linear_before_sigmoid", "contractive_closed", "contractive_autograd",
           "Gaussian", "plane", "traversal", "anomaly_metrics", "pictures", "EXACT_JACOBIAN"]

CORRUPTIONS = ("none", "gaussian", "masking", "salt_pepper")
EXACT_JACOBIAN = 64  # code sizes up to this get the exact Jacobian norm, larger an estimate
EPS = 1e-6


# --- corruption (denoising) ---------------------------------------------------------------


def corrupt(x: Tensor, kind: str, level: float, generator: torch.Generator | None) -> Tensor:
    """A corrupted copy of ``x`` in the data's own units (pixels in [0, 1]): ``gaussian``
    adds N(0, level²) noise; ``masking`` sets a share ``level`` of the values to 0;
    ``salt_pepper`` sets a share ``level`` to 0 or 1, half each."""
    if kind == "none" or level == 0:
        return x
    if kind == "gaussian":
        return x + level * torch.randn(x.shape, device=x.device, generator=generator,
                                       dtype=x.dtype)
    u = torch.rand(x.shape, device=x.device, generator=generator)
    if kind == "masking":
        return x.masked_fill(u < level, 0.0)
    if kind == "salt_pepper":
        return x.masked_fill(u < level / 2, 0.0).masked_fill((u >= level / 2) & (u < level), 1.0)
    raise ValueError(f"unknown corruption {kind!r}; choose one of {', '.join(CORRUPTIONS)}")


# --- penalties ----------------------------------------------------------------------------


def sparsity_kl(code: Tensor, rho: float) -> Tensor:
    """Σⱼ KL(ρ ‖ ρ̂ⱼ), ρ̂ⱼ = unit j's mean activation over the batch (a sigmoid code, clamped
    away from 0 and 1 so the logarithms stay finite)."""
    rho_hat = code.float().flatten(1).mean(0).clamp(EPS, 1 - EPS)
    return (rho * torch.log(rho / rho_hat)
            + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def linear_before_sigmoid(module: fx.GraphModule, input_node: str) -> nn.Linear | None:
    """The Linear of an encoder that is ``input → [Flatten/Reshape] → Linear → Sigmoid →
    code`` (Rifai et al.'s one-layer contractive encoder), whose Jacobian has a closed
    form; None for any other encoder (the penalty then goes through autograd).
    ``input_node``: the canvas id of the Input the Jacobian is taken against."""
    out = next(n for n in module.graph.nodes if n.op == "output").args[0]
    if isinstance(out, (tuple, list)):
        out = out[0]

    def module_of(node) -> nn.Module | None:
        return module.get_submodule(node.target) if getattr(node, "op", "") == "call_module" \
            else None

    if not isinstance(module_of(out), nn.Sigmoid):
        return None
    linear = out.args[0]
    if not isinstance(module_of(linear), nn.Linear):
        return None
    node = linear.args[0]
    while isinstance(module_of(node), (nn.Flatten, Reshape, nn.Identity)):
        node = node.args[0]  # reshaping keeps the Jacobian's Frobenius norm
    if getattr(node, "op", "") == "placeholder" and node.meta.get("layerloom_node") == input_node:
        return module_of(linear)
    return None


def contractive_closed(code: Tensor, weight: Tensor) -> Tensor:
    """‖∂h/∂x‖²_F per sample for h = sigmoid(W x + b): Σⱼ (hⱼ(1 − hⱼ))² Σᵢ Wⱼᵢ²."""
    h = code.float().flatten(1)
    # Element-wise, not a matmul: autocast would take a matmul to float16.
    return ((h * (1 - h)).square() * weight.float().square().sum(1)).sum(1)


def contractive_autograd(gradients: Callable, code: Tensor, x: Tensor,
                         generator: torch.Generator | None) -> Tensor:
    """‖∂h/∂x‖²_F per sample through ``gradients`` (the step context's, differentiable):
    exact, one backward pass per code unit, up to EXACT_JACOBIAN units; above that the
    unbiased one-projection estimate E‖vᵀJ‖² = ‖J‖²_F, v ~ N(0, I).  Samples of a batch are
    independent, so a gradient of the batch's sum holds every sample's row."""
    h = code.flatten(1)
    if h.shape[1] > EXACT_JACOBIAN:
        v = torch.randn(h.shape, device=h.device, generator=generator, dtype=h.dtype)
        (g,) = gradients(h * v, x)
        return g.float().flatten(1).square().sum(1)
    total = torch.zeros(h.shape[0], device=h.device)
    for j in range(h.shape[1]):
        (g,) = gradients(h[:, j], x)
        total = total + g.float().flatten(1).square().sum(1)
    return total


# --- a plain autoencoder's code distribution -----------------------------------------------


class Gaussian:
    """A Gaussian fitted to codes from additive sums (validation adds them up batch by
    batch): full covariance up to EXACT_JACOBIAN units, per-unit spread above."""

    def __init__(self, mean: Tensor, scale: Tensor):
        self.mean, self.scale = mean, scale  # scale: a Cholesky factor [K, K] or stds [K]

    @staticmethod
    def sums(codes: Tensor, weight: Tensor) -> dict[str, Tensor]:
        """Σ w·c, Σ w·c·cᵀ (or Σ w·c² per unit) and Σ w over a batch of codes."""
        flat = codes.float().flatten(1)
        c = flat * weight[:, None]
        with torch.autocast(codes.device.type, enabled=False):  # float16 sums overflow
            second = c.T @ flat if c.shape[1] <= EXACT_JACOBIAN else (c * flat).sum(0)
        return {"code_sum": c.sum(0), "code_second": second, "code_n": weight.sum()}

    @classmethod
    def fit(cls, totals: dict[str, Tensor]) -> Gaussian | None:
        n = float(totals["code_n"])
        if n < 2:
            return None
        mean = totals["code_sum"] / n
        second = totals["code_second"] / n
        if second.dim() == 1:
            return cls(mean, (second - mean.square()).clamp_min(1e-12).sqrt())
        cov = second - mean[:, None] * mean[None, :]
        cov = cov + (1e-5 * cov.diagonal().mean().clamp_min(1e-6)) * torch.eye(
            len(mean), device=cov.device)
        factor, info = torch.linalg.cholesky_ex(cov)
        if int(info) != 0:  # not positive definite even with jitter: keep the spreads
            return cls(mean, cov.diagonal().clamp_min(1e-12).sqrt())
        return cls(mean, factor)

    @property
    def std(self) -> Tensor:
        return self.scale.norm(dim=1) if self.scale.dim() == 2 else self.scale

    def draw(self, eps: Tensor) -> Tensor:
        """Codes from standard-normal ``eps`` [N, K]."""
        eps = eps.to(self.mean)
        return self.mean + (eps @ self.scale.T if self.scale.dim() == 2 else eps * self.scale)

    def state(self) -> dict[str, Tensor]:
        return {"mean": self.mean.detach().cpu().clone(),
                "scale": self.scale.detach().cpu().clone()}


# --- pictures -----------------------------------------------------------------------------


def plane(codes: Tensor) -> np.ndarray:
    """Codes as 2-D points: as they are when the code has two units, else its two principal
    components (a fixed random_state, so the axes do not flip from one picture to the
    next without reason)."""
    flat = codes.float().flatten(1).cpu().numpy()
    if flat.shape[1] == 2:
        return flat
    if flat.shape[1] == 1:
        return np.concatenate([flat, np.zeros_like(flat)], 1)
    from sklearn.decomposition import PCA  # imported here: scikit-learn loads slowly

    return PCA(2, random_state=0).fit_transform(flat).astype(np.float32)


def traversal(centre: Tensor, mean: Tensor, std: Tensor, dims: int = 8,
              steps: int = 8) -> tuple[Tensor, list[str], list[str]]:
    """Codes that walk each of the first ``dims`` units from mean − 3σ to mean + 3σ while
    the others keep ``centre``'s values: [dims·steps, K], row and column captions."""
    k = centre.numel()
    dims = min(dims, k)
    t = torch.linspace(-3, 3, steps, device=centre.device)
    codes = centre.flatten().repeat(dims * steps, 1)
    for d in range(dims):
        codes[d * steps:(d + 1) * steps, d] = mean.flatten()[d] + t * std.flatten()[d]
    return codes, [f"z{d}" for d in range(dims)], [f"{v:+.1f}σ" for v in t.tolist()]


def anomaly_metrics(class_error: Tensor, class_n: Tensor, held: int, scores: Tensor,
                    labels: Tensor) -> dict[str, float]:
    """Mean reconstruction error of the held-out class and of the others, their gap, and
    the ROC AUC of the error as a detector of the held-out class (needs both present)."""
    n_held, n_others = float(class_n[held]), float(class_n.sum() - class_n[held])
    if n_held == 0 or n_others == 0:
        return {}
    out = {"error_heldout": float(class_error[held]) / n_held,
           "error_others": float(class_error.sum() - class_error[held]) / n_others}
    out["anomaly_gap"] = out["error_heldout"] - out["error_others"]
    from sklearn.metrics import roc_auc_score  # imported here: scikit-learn loads slowly

    out["anomaly_auc"] = float(roc_auc_score((labels == held).cpu().numpy(),
                                             scores.float().cpu().numpy()))
    return out


# --- pictures -----------------------------------------------------------------------------

POINTS = 1000  # validation samples in the latent map, the unit bars and the error histogram
ROWS = 16  # reconstruction triplets
IMAGES = 64  # samples from the prior, from the same noise every time


def pictures(ae, data, step: int, epoch: int) -> list[Samples]:
    """The autoencoder recipe ``ae``'s views of the validation part: reconstructions,
    samples from the prior, latent traversal (images only), latent space, unit activations
    (sparse) and reconstruction error by class (a held-out class)."""
    val = data.val
    if not isinstance(val, TensorData) or len(val) == 0:
        return []  # file-backed parts have no cheap random access to show
    batch = {k: v[:POINTS] for k, v in val.items()}
    x = batch[ae.field]
    code = ae.encode(batch, x, False)
    labels = batch[ae.label] if ae.label is not None else None
    events = _image_views(ae, batch, code, step, epoch) if x.dim() == 4 else []
    events.append(Samples(step, epoch, "latent space", "points", plane(code),
                          None if labels is None else labels.cpu().numpy(),
                          {} if labels is None else {"names": ae.class_names()}))
    if ae.options["sparsity_weight"] > 0:
        means = code.float().flatten(1).mean(0).cpu().numpy()
        events.append(Samples(step, epoch, "unit activation vs ρ", "bars", means,
                              [f"h{j}" for j in range(len(means))],
                              {"reference": ae.options["sparsity_target"]}))
    if ae.holdout >= 0:
        errors = ae.reconstruction(ae.decode(batch, code, False), x)
        groups = [errors[labels == c].cpu().numpy() for c in range(ae.classes)]
        events.append(Samples(step, epoch, "reconstruction error by class", "histogram",
                              groups, ae.class_names(), {"highlight": ae.holdout}))
    return events


def _image_views(ae, batch, code: Tensor, step: int, epoch: int) -> list[Samples]:
    few = {k: v[:ROWS] for k, v in batch.items()}
    x = few[ae.field]
    noisy = ae.options["corruption"] != "none" and ae.options["noise"] > 0
    shown = ae.corrupted(x, torch.Generator(x.device).manual_seed(99)) if noisy else x
    rebuilt = ae.decode(few, ae.encode(few, shown, False), False)
    triplets = torch.stack([ae.raw(shown), ae.pixels(rebuilt), ae.raw(x)], 1).flatten(0, 1)
    events = [_images(step, epoch, "reconstructions", triplets, 3,
                      columns=["noisy input" if noisy else "input", "reconstruction",
                               "target"])]
    eps = torch.randn(IMAGES, ae.code_size(), generator=torch.Generator().manual_seed(1234))
    z = ae.prior_codes(eps)
    if z is not None:
        events.append(_images(step, epoch, "samples from the prior",
                              ae.pixels(ae.decode({}, z, False)), 8))
    if code.dim() == 2 and z is not None:  # a vector code with a known spread
        mean, std = (torch.zeros_like(code[0]), torch.ones_like(code[0])) if ae.reparams \
            else (ae.prior.mean, ae.prior.std)
        codes, rows, columns = traversal(code[0].float(), mean, std)
        walk = ae.pixels(ae.decode({}, codes.to(code.dtype), False))
        events.append(_images(step, epoch, "latent traversal", walk, len(columns), rows,
                              columns))
    return events


def _images(step: int, epoch: int, name: str, shown: Tensor, cols: int,
            rows: Sequence[str] | None = None, columns: Sequence[str] | None = None
            ) -> Samples:
    extra = {"cols": cols}
    if rows is not None:
        extra["rows"] = list(rows)
    if columns is not None:
        extra["columns"] = list(columns)
    return Samples(step, epoch, name, "images", shown.float().clamp(0, 1).cpu().numpy(),
                   None, extra)
