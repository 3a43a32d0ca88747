"""Figures of sample quality shared by the generative recipes (GAN family, autoencoders).

A loss curve does not say whether a generator is any good; these figures do, on the data the
user trains on:
- the **Fréchet distance** between generated and real validation samples, in the features of
  a small classifier trained on the same data (``runtime.judge``; raw values for vectors of
  at most ``RAW_FEATURES`` numbers, where a distance in the data's own space is exact);
- the **diversity** of the samples: their mean pairwise distance over the real data's
  (about 1: healthy; towards 0: every sample alike, a collapse);
- the **generated classes**: the share of samples the judge puts in each class.
``Quality`` turns them into ``Samples`` events and warns when a collapse begins.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from runtime.data.core import TensorData
from runtime.events import Samples, Warning
from runtime.judge import Judge, judge_for

__all__ = ["Quality", "frechet_distance", "diversity", "GAN_ADVICE"]

RAW_FEATURES = 64
MIN_SAMPLES = 20  # fewer, on either side, and a Fréchet distance is noise
SUBSET = 200  # samples whose pairwise distances measure diversity: 19,900 pairs
WARMUP = 3  # sample events after step 0 before a collapse is called one
COLLAPSED_DIVERSITY = 0.25
COVERED = 0.25  # a class is covered when it gets this share of a fair 1/classes
TRUSTED_JUDGE = 0.8  # below this accuracy the judge's class counts prove nothing
GAN_ADVICE = ("lower the discriminator's learning rate, add label smoothing (0.1), or try "
              "the wgan_gp loss")


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2(ΣaΣb)^½) between the Gaussians fitted to feature sets
    ``a`` [N, F] and ``b`` [M, F]; symmetric, 0 for identical sets.

    Rounding can leave (ΣaΣb)^½ slightly complex (its imaginary part is dropped) and the
    result a hair below 0 (clamped).  When sqrtm fails on near-singular covariances, the
    trace comes from the eigenvalues of √Σa Σb √Σa, which are the same numbers.  NaN when
    the features are not finite.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"need two sets [N, F] of at least 2 samples with the same F; "
                         f"received {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan")
    from scipy import linalg  # ~0.5 s: at the first measurement, not before the first step

    mu = a.mean(0) - b.mean(0)
    sa = np.atleast_2d(np.cov(a, rowvar=False))
    sb = np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():  # singular covariances are common and handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(sa @ sb)
    if np.isfinite(root).all():
        cross = float(np.trace(root).real)
    else:
        w, v = np.linalg.eigh(sa)
        half = (v * np.sqrt(w.clip(0))) @ v.T
        cross = float(np.sqrt(np.linalg.eigvalsh(half @ sb @ half).clip(0)).sum())
    value = float(mu @ mu + np.trace(sa) + np.trace(sb) - 2 * cross)
    return max(value, 0.0) if math.isfinite(value) else float("nan")


def _spread(x: Tensor) -> float:
    """Mean L2 distance between the pairs of the first ``SUBSET`` samples."""
    x = x[:SUBSET].flatten(1).float()
    n = len(x)
    if n < 2:
        return float("nan")
    return float(torch.cdist(x, x).sum()) / (n * (n - 1))


def diversity(x: Tensor, real: Tensor | None = None) -> float:
    """Mean pairwise L2 distance between samples of ``x`` (its first ``SUBSET``), or, with
    ``real``, its ratio to the same on the real data: ≈1 healthy, → 0 mode collapse."""
    spread = _spread(x)
    if real is None:
        return spread
    ref = _spread(real)
    return spread / ref if ref > 0 else float("nan")


def _curve(step: int, epoch: int, name: str, history: list, y_label: str) -> Samples:
    """The whole history: the dock draws the latest event of a name."""
    return Samples(step, epoch, name, "curve", np.asarray(history, np.float64).reshape(-1, 2),
                   None, {"x_label": "step", "y_label": y_label})


def _record(history: list, step: int, value: float) -> None:
    """Append (step, value); a repeated step (a resumed run) replaces its point."""
    if not math.isfinite(value):
        return
    if history and history[-1][0] == step:
        history.pop()
    history.append([step, value])


class Quality:
    """The quality figures of one generative recipe, with their history.

    ``field``: the data field generated; ``label``: its class labels (None: figures that
    need no judge only); ``count``: real validation samples compared (the first ones), and
    at most this many fakes.  ``advice``: what usually helps against a mode collapse, said
    in its warning; ``window``: how many calls of ``discriminator_warning`` in a row with a
    discriminator winning completely make a collapse; ``root``: the data folder that keeps
    the judges (default: ``data_root()``).

    ``last`` holds the latest figures, None where not measured: ``fid``, ``diversity`` (the
    ratio to the real data's), ``classes_covered`` (how many classes get at least a quarter
    of a fair share of the samples) and ``judge_accuracy`` (on the validation split).
    """

    def __init__(self, field: str = "x", label: str | None = "y", count: int = 500,
                 advice: str = GAN_ADVICE, window: int = 20, root: str | Path | None = None):
        self.field, self.label, self.count = field, label, count
        self.advice, self.window, self.root = advice, window, root
        self.last: dict[str, Any] = dict.fromkeys(
            ("fid", "diversity", "classes_covered", "judge_accuracy"))
        self.judge: Judge | None = None
        self._fid: list[list[float]] = []
        self._diversity: list[list[float]] = []
        self._seen = 0  # sample events after step 0
        self._collapsed = False
        self._d_streak = 0
        self._data: tuple | None = None  # (train, val) the judge and real figures are of
        self._real: dict[str, Any] = {}

    # --- the figures -----------------------------------------------------------------------

    def _prepare(self, data, real: Tensor) -> None:
        """The judge and the real side's figures, once per dataset."""
        if self._data is not None and self._data[0] is data.train and self._data[1] is data.val:
            return
        self._data = (data.train, data.val)
        self.judge = None
        if self.label is not None:
            try:
                self.judge = judge_for(data, self.field, self.label, self.root)
            except (RuntimeError, ValueError):  # out of memory, odd labels: fewer figures
                self.judge = None
        vector = real.dim() == 2 and real.shape[1] <= RAW_FEATURES
        feats, what = None, ""
        if vector:
            feats, what = real.flatten(1).double().cpu().numpy(), "raw values"
        elif self.judge is not None:
            feats, what = self.judge.features(real).double().cpu().numpy(), "judge features"
        names = list(data.info.class_names)
        self._real = {"features": feats, "what": what, "vector": vector, "names": names}

    def events(self, fake: Tensor, data, step: int, epoch: int) -> list:
        """The figures for ``fake`` [N, ...] (as the networks see them, like
        ``data.val[field]``) as events: the Fréchet-distance and diversity curves so far,
        the generated classes, and a ``mode_collapse`` warning when one newly begins."""
        val = getattr(data, "val", None)
        if not isinstance(val, TensorData) or self.field not in val or len(val) < 2:
            return []
        real = val[self.field][:self.count].float()
        fake = fake.detach()[:self.count].to(real.device, torch.float32)
        if fake.shape[1:] != real.shape[1:] or real.dim() < 2:
            return []
        fake = fake[torch.isfinite(fake.flatten(1)).all(1)]  # the trainer reports NaN itself
        if len(fake) < 2:
            return []
        self._prepare(data, real)
        events: list = []
        fid = self._frechet(fake)
        if fid is not None:
            self.last["fid"] = fid
            _record(self._fid, step, fid)
            events.append(_curve(step, epoch, "Fréchet distance", self._fid,
                                 f"Fréchet distance ({self._real['what']})"))
        ratio = diversity(fake, real)
        self.last["diversity"] = ratio
        _record(self._diversity, step, ratio)
        if self._diversity:
            events.append(_curve(step, epoch, "sample diversity", self._diversity,
                                 "diversity (generated / real; 1: as varied)"))
        covered = self._classes(fake, step, epoch, events)
        events += self._collapse(step, ratio, covered)
        return events

    def _frechet(self, fake: Tensor) -> float | None:
        real = self._real["features"]
        if real is None or len(real) < MIN_SAMPLES or len(fake) < MIN_SAMPLES:
            return None
        if self._real["vector"]:
            feats = fake.flatten(1).double().cpu().numpy()
        else:
            feats = self.judge.features(fake).double().cpu().numpy()
        return frechet_distance(real, feats)

    def _classes(self, fake: Tensor, step: int, epoch: int, events: list) -> int | None:
        """Adds the generated-classes bars; returns how many classes are covered."""
        judge = self.judge
        if judge is None:
            return None
        self.last["judge_accuracy"] = judge.accuracy
        share = torch.bincount(judge.predict(fake), minlength=judge.classes).double()
        share = (share / share.sum()).cpu().numpy()
        names = self._real["names"]
        if len(names) != judge.classes:
            names = [str(i) for i in range(judge.classes)]
        events.append(Samples(step, epoch, "generated classes", "bars", share, names,
                              {"reference": 1 / judge.classes}))
        covered = int((share >= COVERED / judge.classes).sum())
        self.last["classes_covered"] = covered
        return covered

    def _collapse(self, step: int, ratio: float, covered: int | None) -> list:
        """A warning when a collapse newly shows (once the generator has had a few sample
        events to get going), not again until the samples have recovered."""
        if step <= 0:
            return []
        self._seen += 1
        if self._seen < WARMUP:
            return []
        judge = self.judge
        few = (covered is not None and judge is not None and judge.accuracy >= TRUSTED_JUDGE
               and covered < judge.classes / 2)
        alike = ratio < COLLAPSED_DIVERSITY  # false for nan
        was, self._collapsed = self._collapsed, few or alike
        if not self._collapsed or was:
            return []
        why = []
        if alike:
            why.append(f"the samples are {ratio:.2f}× as varied as the real data")
        if few:
            why.append(f"they show only {covered} of {judge.classes} classes (as a classifier "
                       f"with {judge.accuracy:.0%} validation accuracy reads them)")
        return [Warning(step, "mode_collapse",
                        f"the generated samples are collapsing onto a few modes: "
                        f"{' and '.join(why)}; {self.advice}")]

    def discriminator_warning(self, d_real: float, d_fake: float, step: int
                              ) -> Warning | None:
        """A ``discriminator_collapse`` warning when D has won completely (d_real > 0.99 and
        d_fake < 0.01, its mean beliefs "this is real") for ``window`` calls in a row: G then
        gets almost no gradient and stops learning.  Once per such stretch."""
        won = d_real > 0.99 and d_fake < 0.01  # false for nan
        self._d_streak = self._d_streak + 1 if won else 0
        if self._d_streak != self.window:
            return None
        return Warning(step, "discriminator_collapse",
                       f"the discriminator tells every fake from real (D(real) = {d_real:.3f},"
                       f" D(fake) = {d_fake:.3f} for {self.window} reports in a row), so the "
                       "generator gets almost no gradient: lower the discriminator's learning "
                       "rate or make it smaller, add label smoothing (0.1), or try the wgan_gp "
                       "loss")

    # --- state -----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The curves' history and the warnings' memory, so a resumed run keeps them."""
        return {"fid": [list(p) for p in self._fid],
                "diversity": [list(p) for p in self._diversity],
                "seen": self._seen, "collapsed": self._collapsed, "d_streak": self._d_streak}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._fid = [[int(s), float(v)] for s, v in state.get("fid", ())]
        self._diversity = [[int(s), float(v)] for s, v in state.get("diversity", ())]
        self._seen = int(state.get("seen", 0))
        self._collapsed = bool(state.get("collapsed", False))
        self._d_streak = int(state.get("d_streak", 0))
        if self._fid:
            self.last["fid"] = self._fid[-1][1]
        if self._diversity:
            self.last["diversity"] = self._diversity[-1][1]
