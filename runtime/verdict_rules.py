"""The verdict's rules: one small pure function per diagnosis, over a run's numbers.

Each rule takes a ``RunFacts`` (what the run measured, plus the few facts of the project a
rule needs: block types, learning rates) and returns a ``Finding`` or None.  A finding says
what it saw with the numbers (``evidence``), what to try (``suggestion``) and, where one edit
would do it, a declarative ``fix`` that ``runtime.verdict.fix_command`` turns into one undoable
command.  Thresholds are named constants with the reason for their value; docs/verdict.md
lists them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["RunFacts", "Finding", "RULES", "diagnose", "MIN_STEPS", "ACTIVATIONS"]

# Fewer loss values than this say nothing about a trend: minibatch noise dominates.
MIN_STEPS = 20
# Divergence: the training loss at the end (median of the last tenth) this many times its
# start.  Healthy runs fall; even noisy ones do not end 30 % above where they began.
DIVERGE_FACTOR = 1.3
# A spike: the loss at some step this many times its very first value (before any update
# mattered).  Healthy runs never go far above their initial loss; one step of too large a
# rate throws it up by orders of magnitude (and often kills the ReLUs behind it).
SPIKE_FACTOR = 10.0
# Oscillation: the median step-to-step change of the loss, over the second half, as a share of
# its median level.  Minibatch noise of a healthy run stays well below 0.3 (measured on the
# gallery's mlp: 0.05-0.15); a learning rate ten times too high jumps by the loss itself.
OSCILLATION = 0.5
# ...and the loss must not be falling clearly (a run that still halves its loss is learning).
STILL_FALLING = 0.5
# Too low a learning rate: the loss fell by less than this share over the run...
SLOW_DROP = 0.25
# ...along a straight line (R² of a linear fit of ten chunk means above this): a healthy
# run's loss bends, falling fast first and then levelling off.
LINEAR_FIT = 0.8
# Overfitting: the validation loss gave back this share of what it had gained (first epoch to
# its best) while the training loss fell further.  Relative to its best instead, the noise of a
# tiny validation loss (0.02 → 0.04 at 99 % accuracy) would read as over-fitting.
OVERFIT_RISE = 0.1
# ...on average over the last epochs, all of them after the best one.
OVERFIT_EPOCHS = 3
# ...or training accuracy this much above validation accuracy.
OVERFIT_ACC_GAP = 0.1
# Underfitting: the loss has levelled off (last third changed by less than this share)...
PLATEAU = 0.03
# ...at a poor level: training accuracy under this (when measured) or, without accuracy, a
# loss still above this share of where it began.
UNDERFIT_ACCURACY = 0.8
UNDERFIT_LOSS_SHARE = 0.7
# Dead ReLUs: a share of units that output 0 for a whole batch.  He-initialised layers start
# near 0; above 40 % the layer has lost much of its capacity.
DEAD_SHARE = 0.4
# Vanishing / exploding: first-layer over last-layer gradient norm.  Healthy nets stay within
# a factor ~10 either way (norms also grow with a layer's size); 100× is a deep-chain effect.
VANISHING_RATIO = 1e-2
EXPLODING_RATIO = 1e2
# Exploding over time: a layer's gradient norm grew this many times from the first reports.
EXPLODING_GROWTH = 1e3
# Saturation of a sigmoid: var / (mean (1 - mean)), 1 when every output is 0 or 1 (the
# Bernoulli bound), ~0.33 for outputs spread evenly; a tanh: E[x²], 1 when all are ±1.
SATURATED = 0.75
# GAN: D wins completely above/below these beliefs (the same as runtime.quality's warning).
D_WINS_REAL, D_WINS_FAKE = 0.99, 0.01
# GAN: D never separates real from fake: mean beliefs closer than this over the whole run...
D_STALLED_GAP = 0.05
# ...after at least this many steps (the first few dozen often sit at 0.5).
MIN_GAN_STEPS = 200

ACTIVATIONS = ("Sigmoid", "Tanh")  # the saturating activations the rules know
RELUS = ("ReLU", "ReLU6")


@dataclass
class Finding:
    rule: str
    title: str
    evidence: str  # what was seen, with the numbers
    suggestion: str
    fix: dict | None = None  # declarative; runtime.verdict.fix_command makes it a command

    def line(self) -> str:
        return f"{self.title} — {self.evidence}. Try: {self.suggestion}"


@dataclass
class RunFacts:
    """A run's numbers.  ``steps``: metric → (step, value) arrays; ``epochs``: (split,
    metric) → (step, value) arrays, one point per epoch; ``grad``/``dead``: network → layer →
    values per report, layers in the network's order; ``act``: network → layer → (mean, std)
    of the last report.  ``blocks``: network → node → block type; ``heads``: nodes whose
    output is a network's output; ``roles``: recipe role → network; ``lr``: network → rate."""

    steps: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    epochs: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    grad: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    dead: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    act: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    blocks: dict[str, dict[str, str]] = field(default_factory=dict)
    heads: dict[str, set[str]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    lr: dict[str, float] = field(default_factory=dict)
    grad_clip: float = 0.0
    nonfinite: bool = False  # the run met a NaN/inf loss (a warning or a failure said so)

    def values(self, name: str) -> np.ndarray:
        return self.steps[name][1] if name in self.steps else np.empty(0)

    @property
    def loss_steps(self) -> int:
        return max((len(v[1]) for k, v in self.steps.items() if k.startswith("loss")),
                   default=0)

    @property
    def enough(self) -> bool:
        return self.loss_steps >= MIN_STEPS

    def hidden(self, network: str, kinds: tuple[str, ...]) -> list[str]:
        """Nodes of ``network`` of one of ``kinds`` whose output is not the network's."""
        heads = self.heads.get(network, set())
        return [n for n, b in self.blocks.get(network, {}).items() if b in kinds
                and n not in heads]


# --- helpers ---------------------------------------------------------------------------------

def _ends(y: np.ndarray) -> tuple[float, float]:
    """Medians of the first and last tenth (at least 3 values) of the finite values."""
    y = y[np.isfinite(y)]
    k = max(3, len(y) // 10)
    return float(np.median(y[:k])), float(np.median(y[-k:]))


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _lr_fix(facts: RunFacts, factor: float, networks: list[str] | None = None) -> dict | None:
    nets = [n for n in (networks or list(facts.lr)) if n in facts.lr]
    if not nets:
        return None
    rates = ", ".join(_fmt(facts.lr[n] * factor) for n in nets)
    verb = "Lower" if factor < 1 else "Raise"
    return {"kind": "lr", "networks": nets, "factor": factor,
            "label": f"{verb} the learning rate to {rates}"}


def _main_loss(facts: RunFacts) -> tuple[np.ndarray, np.ndarray] | None:
    """The objective's loss (GANs' adversarial losses are not expected to fall)."""
    if "loss" not in facts.steps or len(facts.steps["loss"][1]) < MIN_STEPS:
        return None
    return facts.steps["loss"]


# --- the rules -------------------------------------------------------------------------------

def lr_too_high(facts: RunFacts) -> Finding | None:
    curve = _main_loss(facts)
    if curve is None:
        return None
    x, y = curve
    bad = ~np.isfinite(y)
    fix = _lr_fix(facts, 0.3)
    suggestion = "lower the learning rate about three times"
    if facts.nonfinite or bad.any():
        at = f" at step {int(x[bad][0])}" if bad.any() else ""
        return Finding("lr_too_high", "Learning rate too high: the loss diverged",
                       f"the loss became NaN or infinite{at}", suggestion, fix)
    start, end = _ends(y)
    top = int(np.argmax(y))
    if y[0] > 0 and y[top] > SPIKE_FACTOR * y[0]:
        return Finding("lr_too_high", "Learning rate too high: the loss jumped",
                       f"the loss jumped to {_fmt(y[top])} at step {int(x[top])} from "
                       f"{_fmt(y[0])} at the start, and ended at {_fmt(end)}", suggestion, fix)
    if end > start * DIVERGE_FACTOR:
        return Finding("lr_too_high", "Learning rate too high: the loss is rising",
                       f"the training loss rose from {_fmt(start)} to {_fmt(end)}",
                       suggestion, fix)
    half = y[len(y) // 2:]
    level = float(np.median(np.abs(half)))
    rough = float(np.median(np.abs(np.diff(half)))) / level if level > 0 else 0.0
    if rough > OSCILLATION and end > start * STILL_FALLING:
        return Finding("lr_too_high", "Learning rate too high: the loss oscillates",
                       f"the loss jumps by {rough:.0%} of its level from one step to the "
                       f"next (median over the second half) and ended at {_fmt(end)} from "
                       f"{_fmt(start)}", suggestion, fix)
    return None


def lr_too_low(facts: RunFacts) -> Finding | None:
    curve = _main_loss(facts)
    if curve is None:
        return None
    x, y = curve
    if not np.isfinite(y).all():
        return None
    start, end = _ends(y)
    drop = (start - end) / abs(start) if start else 0.0
    if not 0.0 < drop < SLOW_DROP:
        return None
    # the trend of ten chunk means: minibatch noise would hide it in the raw values
    cx = np.array([c.mean() for c in np.array_split(x, 10)])
    cy = np.array([c.mean() for c in np.array_split(y, 10)])
    slope, icpt = np.polyfit(cx, cy, 1)
    resid = cy - (slope * cx + icpt)
    total = float(np.sum((cy - cy.mean()) ** 2))
    r2 = 1 - float(np.sum(resid ** 2)) / total if total > 0 else 0.0
    if slope >= 0 or r2 < LINEAR_FIT:
        return None
    return Finding("lr_too_low", "Learning rate too low: the loss falls slowly and steadily",
                   f"the loss fell only {drop:.0%} ({_fmt(start)} → {_fmt(end)}) along a "
                   f"straight line (R² {r2:.2f}), with no sign of levelling off",
                   "raise the learning rate about three times", _lr_fix(facts, 3.0))


def overfitting(facts: RunFacts) -> Finding | None:
    tr, va = facts.epochs.get(("train", "loss")), facts.epochs.get(("val", "loss"))
    if tr is None or va is None or len(va[1]) < 3 or len(tr[1]) != len(va[1]):
        return None
    t, v = tr[1], va[1]
    if not (np.isfinite(t).all() and np.isfinite(v).all()):
        return None
    best = int(np.argmin(v))
    # sustained: the last OVERFIT_EPOCHS epochs all came after the best, and on average
    # above it (one noisy validation epoch is not a trend)
    after = v[best + 1:][-OVERFIT_EPOCHS:]
    gained = v[0] - v[best]  # measured against what validation gained: its noise is small
    rise = (float(np.mean(after)) - v[best]) / gained \
        if len(after) >= OVERFIT_EPOCHS and gained > 0 else 0.0
    acc_t, acc_v = facts.epochs.get(("train", "accuracy")), facts.epochs.get(("val", "accuracy"))
    acc_gap = (acc_t[1][-1] - acc_v[1][-1]) if acc_t is not None and acc_v is not None \
        and len(acc_v[1]) else 0.0
    if not ((rise > OVERFIT_RISE and t[-1] < t[best]) or acc_gap > OVERFIT_ACC_GAP):
        return None
    evidence = (f"validation loss was best at epoch {best + 1} ({_fmt(v[best])}) and ended at "
                f"{_fmt(v[-1])} while the training loss fell to {_fmt(t[-1])}")
    if acc_gap > 0:
        evidence += f"; accuracy {acc_t[1][-1]:.0%} on training vs {acc_v[1][-1]:.0%} held out"
    return Finding("overfitting", f"Over-fitting since epoch {best + 1}", evidence,
                   "regularise: weight decay (L2) and early stopping keep the best epoch",
                   {"kind": "training", "set": {"l2": 1e-4, "early_stopping": 5},
                    "label": "Set L2 = 0.0001 and early stopping = 5 epochs"})


def underfitting(facts: RunFacts) -> Finding | None:
    curve = _main_loss(facts)
    if curve is None or not np.isfinite(curve[1]).all():
        return None
    y = curve[1]
    third = y[-max(MIN_STEPS // 2, len(y) // 3):]
    a, b = _ends(third)
    if abs(a - b) > PLATEAU * max(abs(a), 1e-12):
        return None  # still moving: too early to call it a plateau
    start, end = _ends(y)
    acc = facts.epochs.get(("train", "accuracy")) or facts.steps.get("accuracy")
    if acc is not None and len(acc[1]):
        level = float(np.mean(acc[1][-max(1, len(acc[1]) // 10):]))
        if level >= UNDERFIT_ACCURACY:
            return None
        seen = f"training accuracy levelled off at {level:.0%}"
    elif start > 0 and end > UNDERFIT_LOSS_SHARE * start:
        seen = f"the loss levelled off at {_fmt(end)}, {end / start:.0%} of where it began"
    else:
        return None
    widen = [(net, n) for net, blocks in facts.blocks.items() for n, b in blocks.items()
             if b == "Linear" and n not in facts.heads.get(net, set())]
    fix = None
    if widen:
        fix = {"kind": "scale", "nodes": widen, "param": "units", "factor": 2,
               "label": "Double the width of the hidden Linear layers"}
    return Finding("underfitting", "Under-fitting: the model cannot fit the training data",
                   seen, "give the model more capacity (wider or more layers) or better "
                   "features", fix)


def dead_relus(facts: RunFacts) -> Finding | None:
    dead = [(net, layer, float(np.mean(v[-3:]))) for net, layers in facts.dead.items()
            for layer, v in layers.items() if len(v)]
    bad = [(net, layer, d) for net, layer, d in dead if d > DEAD_SHARE]
    if not bad:
        return None
    shown = ", ".join(f"{layer} {d:.0%}" for _, layer, d in bad)
    nodes = [(net, layer) for net, layer, _ in bad
             if facts.blocks.get(net, {}).get(layer) in RELUS]
    fix = {"kind": "replace", "nodes": nodes, "block": "LeakyReLU",
           "label": "Replace them with LeakyReLU"} if nodes else None
    return Finding("dead_relus", "Dead ReLUs", f"share of units that output 0 for a whole "
                   f"batch: {shown}", "use LeakyReLU (or a lower learning rate)", fix)


def _first_last(facts: RunFacts):
    """(network, first layer, last layer, ratio of their norms) per network, over the last
    half of the reports."""
    out = []
    for net, layers in facts.grad.items():
        named = [(n, v) for n, v in layers.items() if len(v)]
        if len(named) < 3:
            continue
        (first, f), (last, g) = named[0], named[-1]
        f, g = float(np.median(f[len(f) // 2:])), float(np.median(g[len(g) // 2:]))
        if g > 0 and math.isfinite(f) and math.isfinite(g):
            out.append((net, first, last, f / g))
    return out


def _saturating_fix(facts: RunFacts) -> dict | None:
    nodes = [(net, n) for net in facts.blocks for n in facts.hidden(net, ACTIVATIONS)]
    return {"kind": "replace", "nodes": nodes, "block": "ReLU",
            "label": "Replace the hidden Sigmoid/Tanh layers with ReLU"} if nodes else None


def vanishing_gradients(facts: RunFacts) -> Finding | None:
    for net, first, last, ratio in _first_last(facts):
        if ratio < VANISHING_RATIO:
            fix = _saturating_fix(facts)
            return Finding("vanishing_gradients", "Vanishing gradients",
                           f"in {net}, the first layer ({first}) gets a gradient {ratio:.1e} "
                           f"times the last layer's ({last})",
                           "use ReLU-family activations, BatchNorm, or skip connections"
                           if fix else "add BatchNorm or skip connections", fix)
    return None


def exploding_gradients(facts: RunFacts) -> Finding | None:
    seen = []
    for net, first, last, ratio in _first_last(facts):
        if ratio > EXPLODING_RATIO:
            seen.append(f"in {net}, the first layer ({first}) gets a gradient {ratio:.3g} "
                        f"times the last layer's ({last})")
    for layers in facts.grad.values():
        for layer, v in layers.items():
            k = max(1, len(v) // 5)
            if len(v) >= 5 and np.all(np.isfinite(v)) and np.median(v[:k]) > 0 \
                    and np.median(v[-k:]) > EXPLODING_GROWTH * np.median(v[:k]):
                seen.append(f"{layer}'s gradient norm grew from {_fmt(np.median(v[:k]))} to "
                            f"{_fmt(np.median(v[-k:]))}")
                break
    if not seen:
        return None
    if facts.grad_clip <= 0 or facts.grad_clip > 1:
        fix = {"kind": "training", "set": {"grad_clip": 1.0},
               "label": "Clip the gradient norm at 1"}
    else:
        fix = _lr_fix(facts, 0.3)
    return Finding("exploding_gradients", "Exploding gradients", "; ".join(seen[:2]),
                   "clip the gradient norm, lower the learning rate, or add normalisation", fix)


def saturated_sigmoids(facts: RunFacts) -> Finding | None:
    bad = []
    for net, layers in facts.act.items():
        hidden = set(facts.hidden(net, ACTIVATIONS))
        for layer, (m, s) in layers.items():
            kind = facts.blocks.get(net, {}).get(layer)
            if layer not in hidden:
                continue
            if kind == "Sigmoid":
                score = s * s / (m * (1 - m)) if 0 < m < 1 else 1.0
            else:  # Tanh
                score = s * s + m * m
            if score > SATURATED:
                bad.append(f"{layer} {score:.2f}")
    if not bad:
        return None
    return Finding("saturated_sigmoids", "Saturated sigmoid/tanh units",
                   f"outputs pinned near their limits (1 = all saturated): {', '.join(bad)}",
                   "use ReLU, or put BatchNorm before the activation", _saturating_fix(facts))


def gan_stalled_discriminator(facts: RunFacts) -> Finding | None:
    if "wasserstein" in facts.steps:  # a critic's scores are not probabilities
        return None
    r, f = facts.values("d_real"), facts.values("d_fake")
    if len(r) < MIN_STEPS or len(r) != len(f):
        return None
    tail = slice(-max(MIN_STEPS // 2, len(r) // 4), None)
    rt, ft = float(np.mean(r[tail])), float(np.mean(f[tail]))
    d_net = [facts.roles["discriminator"]] if "discriminator" in facts.roles else None
    if rt > D_WINS_REAL and ft < D_WINS_FAKE:
        return Finding("gan_stalled_discriminator", "The discriminator wins completely",
                       f"D(real) = {rt:.3f} and D(fake) = {ft:.3f} over the last quarter: the "
                       "generator gets almost no gradient",
                       "lower the discriminator's learning rate, add label smoothing (0.1)",
                       _lr_fix(facts, 0.3, d_net))
    gap = np.abs(r - f)
    if len(r) >= MIN_GAN_STEPS and float(np.max(gap[len(gap) // 10:])) < D_STALLED_GAP:
        return Finding("gan_stalled_discriminator", "The discriminator learns nothing",
                       f"D(real) = {rt:.3f} and D(fake) = {ft:.3f}: it never told real from "
                       f"fake by more than {D_STALLED_GAP} in {len(r)} steps",
                       "raise the discriminator's learning rate or give it more capacity",
                       _lr_fix(facts, 3.0, d_net))
    return None


# Ordered by importance: a diverging run makes every other reading moot.
RULES = (lr_too_high, exploding_gradients, vanishing_gradients, dead_relus, saturated_sigmoids,
         gan_stalled_discriminator, overfitting, underfitting, lr_too_low)


OPTIMISATION = {"lr_too_high", "lr_too_low", "exploding_gradients", "vanishing_gradients",
                "dead_relus", "saturated_sigmoids"}


def diagnose(facts: RunFacts) -> list[Finding]:
    """The findings of every rule, most important first; none before ``MIN_STEPS`` losses."""
    if not facts.enough:
        return []
    found = [f for rule in RULES if (f := rule(facts)) is not None]
    rules = {f.rule for f in found}
    if "lr_too_high" in rules:  # its consequences: one cause, one fix
        found = [f for f in found if f.rule not in ("lr_too_low", "vanishing_gradients")]
    if "dead_relus" in rules:  # dead units pass no gradient: that is the vanishing
        found = [f for f in found if f.rule != "vanishing_gradients"]
    if rules & OPTIMISATION:  # under-fitting is then their consequence, not lack of capacity
        found = [f for f in found if f.rule != "underfitting"]
    return found
