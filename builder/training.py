"""The training settings declared once: names, ranges and help of every setting, optimizer
hyperparameter and schedule parameter.

The editor generates its form from these, the file reader refuses a project whose settings
are out of range (``check_training``), and the runtime builds optimizers and schedules under
the same names and bounds, so a value is accepted or refused the same way everywhere.
"""

from __future__ import annotations

from typing import Any

from builder.blocks.spec import Param, ParamError
from builder.document import OptimizerConfig, TrainingSettings
from builder.jsontext import nearest, show

__all__ = ["TRAINING_PARAMS", "BATCH_MODES", "OPTIMIZERS", "OPTIMIZER_LABELS", "ACCEPTED",
           "OPTIMIZER_FIELDS", "HYPER", "SCHEDULES", "SCHEDULE_LABELS", "SCHEDULE_PARAMS",
           "SCHEDULE_FIELDS", "DEVICES", "canonical_optimizer", "canonical_schedule",
           "optimizer_values", "with_values", "batch_mode", "check_training", "check_optimizer",
           "check_schedule"]

TRAINING_PARAMS = {
    "epochs": Param("epochs", "int", 10, min=1, max=1_000_000,
                    help="How many times the training data is gone through."),
    "batch_size": Param("batch_size", "int", 64, min=0, max=10_000_000,
                        help="Samples per optimisation step (mini-batch); 0: the whole "
                             "training set (full batch)."),
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
    "samples_every": Param("samples_every", "int", 1, min=1, max=1_000_000,
                           help="How often the recipe draws its pictures (samples, "
                                "reconstructions, boundaries), in the unit below. Raise it "
                                "when sampling is slow (diffusion, decoding)."),
    "samples_unit": Param("samples_unit", "choice", "epochs", choices=("epochs", "steps", "end"),
                          help="epochs or steps: every N of them; end: once, when the run "
                               "ends."),
    "stats_every": Param("stats_every", "int", 0, min=0, max=1_000_000,
                         help="Measure per-layer gradient and activation statistics every this "
                              "many steps, each measurement one snapshot in the plots and in "
                              "metrics.csv. 0: automatically (at most every 10 steps and "
                              "twice a second, sparser when measuring is costly)."),
    "amp": Param("amp", "bool", False,
                 help="Mixed precision: float16 maths with loss scaling (CUDA only; faster on "
                      "recent GPUs)."),
}

DEVICES = ("auto", "cpu", "cuda", "mps")

BATCH_MODES = (("batch", "Full batch (all samples per step)"),
               ("mini-batch", "Mini-batch"),
               ("stochastic", "Stochastic (one sample per step)"))

OPTIMIZER_LABELS = {"sgd": "SGD", "momentum": "SGD + momentum", "nesterov": "Nesterov momentum",
                    "rmsprop": "RMSProp", "adagrad": "Adagrad", "adam": "Adam", "adamw": "AdamW"}
OPTIMIZERS = tuple(OPTIMIZER_LABELS)
# Spellings people (and older files) use for the same optimizers.
_ALIASES = {"sgd_momentum": "momentum", "sgd_nesterov": "nesterov", "rms_prop": "rmsprop",
            "adam_w": "adamw"}

# Every hyperparameter each optimizer accepts in OptimizerConfig.params (the form shows
# OPTIMIZER_FIELDS; a file may set the rest by hand).
ACCEPTED = {
    "sgd": {"momentum", "nesterov", "weight_decay", "dampening"},
    "momentum": {"momentum", "weight_decay", "dampening"},
    "nesterov": {"momentum", "weight_decay"},
    "rmsprop": {"alpha", "eps", "momentum", "weight_decay", "centered"},
    "adagrad": {"eps", "weight_decay", "lr_decay", "initial_accumulator_value"},
    "adam": {"betas", "eps", "weight_decay", "amsgrad"},
    "adamw": {"betas", "eps", "weight_decay", "amsgrad"},
}

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
    "dampening": Param("dampening", "float", 0.0, min=0.0, max=1.0,
                       help="Share of the new gradient left out of the momentum."),
    "lr_decay": Param("lr_decay", "float", 0.0, min=0.0, max=1.0,
                      help="Adagrad's learning-rate decay per step."),
    "initial_accumulator_value": Param("initial_accumulator_value", "float", 0.0, min=0.0,
                                       max=1e9, help="Adagrad's starting sum of squares."),
    "nesterov": Param("nesterov", "bool", False, help="Look ahead along the momentum."),
    "centered": Param("centered", "bool", False, help="Normalise by the gradient's variance."),
    "amsgrad": Param("amsgrad", "bool", False, help="Keep the largest second moment seen."),
}

# Which hyperparameters the form shows for each optimizer.
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
SCHEDULES = tuple(SCHEDULE_LABELS)
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
    "div_factor": Param("div_factor", "float", 25.0, min=1.0, max=1e6,
                        help="One-cycle starts at the peak learning rate divided by this."),
    "final_div_factor": Param("final_div_factor", "float", 1e4, min=1.0, max=1e9,
                              help="One-cycle ends at its start divided by this."),
}
# Which parameters the form shows for each schedule (a file may set the one-cycle factors).
SCHEDULE_FIELDS = {
    "constant": ("warmup_epochs",),
    "step": ("warmup_epochs", "step_size", "gamma"),
    "cosine": ("warmup_epochs", "min_factor"),
    "one_cycle": ("pct_start",),
    "warmup": ("warmup_epochs",),
}
_SCHEDULE_ACCEPTED = {**{k: set(v) for k, v in SCHEDULE_FIELDS.items()},
                      "one_cycle": {"pct_start", "div_factor", "final_div_factor"}}


def canonical_optimizer(name: str) -> str | None:
    """The optimizer's key in OPTIMIZERS ("SGD-momentum" → "momentum"), or None."""
    key = name.lower().strip().replace("-", "_").replace("+", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    return key if key in ACCEPTED else None


def canonical_schedule(name: Any) -> str:
    return str(name).lower().replace("-", "_")


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
    """Batch, mini-batch or stochastic gradient descent, as the batch size makes it."""
    if batch_size <= 0 or (samples is not None and batch_size >= samples):
        return "batch"
    return "stochastic" if batch_size == 1 else "mini-batch"


# --- checking ------------------------------------------------------------------------------

def check_training(s: TrainingSettings) -> list[tuple[str, str]]:
    """(where, message) for every setting that is unknown or out of its range; where is a
    dotted path under ``training`` ("epochs", "optimizers.main.lr", "schedule.gamma")."""
    problems = [(name, e) for name, e in _params(TRAINING_PARAMS,
                                                 {k: getattr(s, k) for k in TRAINING_PARAMS})]
    device = str(s.device).lower()
    if device not in DEVICES and not (device.startswith("cuda:") and device[5:].isdigit()):
        problems.append(("device", f"device must be one of {', '.join(DEVICES)}; received "
                                   f"{show(s.device)}"))
    for network, path in s.init.items():
        if not isinstance(path, str) or not path.strip():
            problems.append((f"init.{network}", "init must name a run folder or a weights "
                                                f"file; received {show(path)}"))
    for network, config in s.optimizers.items():
        problems += [(f"optimizers.{network}.{where}", e)
                     for where, e in check_optimizer(config)]
    problems += [(f"schedule.{where}" if where else "schedule", e)
                 for where, e in check_schedule(s.schedule)]
    return problems


def check_optimizer(config: OptimizerConfig) -> list[tuple[str, str]]:
    name = canonical_optimizer(config.name)
    if name is None:
        return [("name", f"unknown optimizer {show(config.name)}; choose one of "
                         f"{', '.join(OPTIMIZERS)}")]
    values = dict(config.params)
    unknown = sorted(set(values) - ACCEPTED[name])
    if unknown:
        return [("params", f"{name} has no setting {_unknown(unknown, ACCEPTED[name])}; it "
                           f"accepts {', '.join(sorted(ACCEPTED[name]))}")]
    if "betas" in values:
        betas = values.pop("betas")
        if not isinstance(betas, (list, tuple)) or len(betas) != 2:
            return [("params.betas", f"betas must be two numbers [β₁, β₂]; received "
                                     f"{show(betas)}")]
        values["beta1"], values["beta2"] = betas
    problems = [("lr", e) for _, e in _params(HYPER, {"lr": config.lr})]
    return problems + [(f"params.{k}", e) for k, e in _params(HYPER, values)]


def check_schedule(schedule: dict[str, Any]) -> list[tuple[str, str]]:
    name = canonical_schedule(schedule.get("name", "constant"))
    if name not in SCHEDULES:
        return [("name", f"unknown schedule {show(schedule.get('name'))}; choose one of "
                         f"{', '.join(SCHEDULES)}")]
    values = {k: v for k, v in schedule.items() if k != "name"}
    unknown = sorted(set(values) - _SCHEDULE_ACCEPTED[name])
    if unknown:
        return [("", f"schedule {name!r} has no setting "
                     f"{_unknown(unknown, _SCHEDULE_ACCEPTED[name])}; it "
                     f"accepts {', '.join(sorted(_SCHEDULE_ACCEPTED[name])) or 'none'}")]
    return _params(SCHEDULE_PARAMS, values)


def _unknown(unknown: list[str], accepted) -> str:
    """``'betas1' (did you mean 'betas'?)``: the unknown names, the first with its nearest."""
    close = nearest(unknown[0], accepted)
    return ", ".join(map(show, unknown)) + (f" (did you mean {close!r}?)" if close else "")


def _params(declared: dict[str, Param], values: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    for key, value in values.items():
        try:
            declared[key].coerce(value)
        except ParamError as e:
            problems.append((key, str(e)))
    return problems
