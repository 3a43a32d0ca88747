"""The training settings as typed params (so the generated ``ParamField`` edits them with the
same checking and messages as block params), the optimizers' hyperparameters, batch modes
and the devices this machine has."""

from __future__ import annotations

import os
from dataclasses import dataclass

from builder.blocks.spec import Param
from builder.document import OptimizerConfig

__all__ = ["TRAINING_PARAMS", "OPTIMIZER_LABELS", "OPTIMIZER_FIELDS", "HYPER", "SCHEDULE_LABELS",
           "SCHEDULE_FIELDS", "Device", "devices", "batch_mode", "optimizer_values",
           "with_values", "BATCH_MODES"]

TRAINING_PARAMS = {
    "epochs": Param("epochs", "int", 10, min=1, max=1_000_000,
                    help="How many times the training data is gone through."),
    "batch_size": Param("batch_size", "int", 64, min=1, max=10_000_000,
                        help="Samples per optimisation step (mini-batch)."),
    "validation_split": Param("validation_split", "float", 0.2, min=0.0, max=0.9,
                              help="Share of the samples held out to validate on."),
    "early_stopping": Param("early_stopping", "int", 0, min=0, max=10_000,
                            help="Stop when the validation metric has not improved for this "
                                 "many epochs, and keep the best weights (0: never stop)."),
    "l1": Param("l1", "float", 0.0, min=0.0, max=10.0,
                help="L1 penalty on the weights (drives weights to exactly zero)."),
    "l2": Param("l2", "float", 0.0, min=0.0, max=10.0,
                help="L2 penalty on the weights (weight decay as a loss term)."),
    "grad_clip": Param("grad_clip", "float", 0.0, min=0.0, max=1e9,
                       help="Rescale the gradient when its global norm exceeds this "
                            "(0: no clipping). Tames exploding gradients."),
    "seed": Param("seed", "int", 0, min=0, max=2**31 - 1,
                  help="The same seed gives the same initial weights and batch order."),
    "amp": Param("amp", "bool", False,
                 help="Mixed precision: float16 maths with loss scaling (CUDA only; faster on "
                      "recent GPUs)."),
}

BATCH_MODES = (("batch", "Full batch (all samples per step)"),
               ("mini-batch", "Mini-batch"),
               ("stochastic", "Stochastic (one sample per step)"))

OPTIMIZER_LABELS = {"sgd": "SGD", "momentum": "SGD + momentum", "nesterov": "Nesterov momentum",
                    "rmsprop": "RMSProp", "adagrad": "Adagrad", "adam": "Adam", "adamw": "AdamW"}

HYPER = {
    "lr": Param("lr", "float", 1e-3, min=1e-12, max=1e9, help="Learning rate: the step size."),
    "momentum": Param("momentum", "float", 0.9, min=0.0, max=0.9999,
                      help="Share of the previous update kept in the next one."),
    "alpha": Param("alpha", "float", 0.99, min=0.0, max=0.9999,
                   help="RMSProp's smoothing constant ρ of the squared-gradient average."),
    "beta1": Param("beta1", "float", 0.9, min=0.0, max=0.9999,
                   help="β₁: decay of Adam's first-moment (mean gradient) estimate."),
    "beta2": Param("beta2", "float", 0.999, min=0.0, max=0.999999,
                   help="β₂: decay of Adam's second-moment (squared gradient) estimate."),
    "eps": Param("eps", "float", 1e-8, min=1e-16, max=1.0,
                 help="ε: added to the denominator for numerical stability."),
    "weight_decay": Param("weight_decay", "float", 0.0, min=0.0, max=10.0,
                          help="Shrinks every weight a little at each step (decoupled in "
                               "AdamW)."),
}

# Which hyperparameters each optimizer shows (runtime.optim accepts these names).
OPTIMIZER_FIELDS = {
    "sgd": ("lr", "weight_decay"),
    "momentum": ("lr", "momentum", "weight_decay"),
    "nesterov": ("lr", "momentum", "weight_decay"),
    "rmsprop": ("lr", "alpha", "momentum", "eps", "weight_decay"),
    "adagrad": ("lr", "eps", "weight_decay"),
    "adam": ("lr", "beta1", "beta2", "eps", "weight_decay"),
    "adamw": ("lr", "beta1", "beta2", "eps", "weight_decay"),
}
_DEFAULTS = {"adamw": {"weight_decay": 0.01}, "rmsprop": {"momentum": 0.0},
             "adagrad": {"eps": 1e-10}}  # torch's own defaults where they differ

SCHEDULE_LABELS = {"constant": "Constant", "step": "Step decay", "cosine": "Cosine annealing",
                   "one_cycle": "One-cycle", "warmup": "Warm-up, then constant"}
SCHEDULE_PARAMS = {
    "warmup_epochs": Param("warmup_epochs", "float", 0.0, min=0.0, max=1000.0,
                           help="Ramp the learning rate up from 0 over this many epochs."),
    "step_size": Param("step_size", "float", 10.0, min=0.01, max=100_000.0,
                       help="Multiply the learning rate by γ every this many epochs."),
    "gamma": Param("gamma", "float", 0.1, min=0.0, max=1.0, help="γ: the decay factor."),
    "min_factor": Param("min_factor", "float", 0.0, min=0.0, max=1.0,
                        help="The learning rate ends at this share of its start."),
    "pct_start": Param("pct_start", "float", 0.3, min=0.0, max=1.0,
                       help="Share of the run spent rising to the peak learning rate."),
}
SCHEDULE_FIELDS = {
    "constant": ("warmup_epochs",),
    "step": ("warmup_epochs", "step_size", "gamma"),
    "cosine": ("warmup_epochs", "min_factor"),
    "one_cycle": ("pct_start",),
    "warmup": ("warmup_epochs",),
}


def optimizer_values(config: OptimizerConfig) -> dict[str, float]:
    """The shown hyperparameters of ``config`` (defaults where it sets none)."""
    name = config.name if config.name in OPTIMIZER_FIELDS else "adam"
    p = dict(config.params)
    betas = p.get("betas", (0.9, 0.999))
    values = {"lr": config.lr, "beta1": betas[0], "beta2": betas[1]}
    defaults = _DEFAULTS.get(name, {})
    for key in ("momentum", "alpha", "eps", "weight_decay"):
        values[key] = p.get(key, defaults.get(key, HYPER[key].default))
    return values


def with_values(name: str, values: dict[str, float]) -> OptimizerConfig:
    """An OptimizerConfig of optimizer ``name`` keeping only what it accepts; values equal to
    the default are left out, so the project file stays short."""
    params: dict = {}
    defaults = _DEFAULTS.get(name, {})
    for key in OPTIMIZER_FIELDS.get(name, ("lr",)):
        if key in ("lr", "beta1", "beta2"):
            continue
        value = values.get(key, HYPER[key].default)
        if value != defaults.get(key, HYPER[key].default):
            params[key] = value
    if "beta1" in OPTIMIZER_FIELDS.get(name, ()):
        b1, b2 = values.get("beta1", 0.9), values.get("beta2", 0.999)
        if (b1, b2) != (0.9, 0.999):
            params["betas"] = [b1, b2]
    return OptimizerConfig(name, float(values.get("lr", 1e-3)), params)


def batch_mode(batch_size: int, samples: int | None) -> str:
    """batch, mini-batch or stochastic, as runtime.trainer.gd_mode says it."""
    if batch_size <= 0 or (samples is not None and batch_size >= samples):
        return "batch"
    return "stochastic" if batch_size == 1 else "mini-batch"


@dataclass(frozen=True)
class Device:
    key: str  # auto, cpu, cuda, mps
    label: str
    available: bool


def devices() -> list[Device]:
    """The choices with what this machine has, e.g. "CUDA — NVIDIA H100 (80 GB)"."""
    import torch

    cuda = torch.cuda.is_available()
    cuda_name = ""
    if cuda:
        props = torch.cuda.get_device_properties(0)
        count = torch.cuda.device_count()
        cuda_name = f"{props.name} ({props.total_memory / 2**30:.0f} GB)" + (
            f" × {count}" if count > 1 else "")
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    best = "CUDA" if cuda else "Apple MPS" if mps else "CPU"
    return [
        Device("auto", f"Automatic — {best} on this machine", True),
        Device("cpu", f"CPU ({os.cpu_count() or 1} cores)", True),
        Device("cuda", f"CUDA — {cuda_name}" if cuda else "CUDA — not available here", cuda),
        Device("mps", "Apple MPS (Metal)" if mps else "Apple MPS — not available here", mps),
    ]
