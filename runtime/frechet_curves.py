"""The Fréchet distance of several generated sets, each to its own real images, as one curve
with a line per set: the VAE-GAN's and the plain VAE's prior samples against the validation
images, Pix2Pix's translations against their targets, CycleGAN's A → B against real B and
B → A against real A.  Distances are taken in the features of the small classifier
``runtime.judge`` trains once per dataset (``runtime.quality`` has the figures of a single
generator: diversity, classes, collapse warnings).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from torch import Tensor

from builder.blocks.spec import Param
from runtime.data.core import TensorData
from runtime.events import Samples

__all__ = ["FrechetHistory", "Generated", "quality_params", "label_field"]


def quality_params(what: str) -> tuple[Param, Param]:
    """A recipe's ``quality`` switch and ``label`` setting; ``what``: what is measured."""
    return (Param("quality", "bool", True,
                  help=f"With every picture, the Fréchet distance of {what}, in the features "
                       "of a small classifier of the real images by the label field (trained "
                       "once per dataset and kept in the data folder)."),
            Param("label", "str", "y", help="The class field that classifier learns (none "
                                            "such: no figure)."))


def label_field(info, name: str) -> str | None:
    """``name`` when ``info`` (a DatasetInfo) has such a class field, else None."""
    field = info.fields.get(name)
    return name if field is not None and field.kind == "label" else None


class Generated(NamedTuple):
    """One line of the curve: ``fake`` images (in the networks' units) and the real ones
    they are measured against, ``field`` of the validation part of ``data`` (a ``Splits``)."""

    fake: Tensor
    data: object
    field: str


class FrechetHistory:
    """The history of each line's Fréchet distance; ``label``: the class field a judge is
    trained on (None: no figure); ``count``: real images compared, the first ones."""

    def __init__(self, label: str | None, count: int, name: str):
        self.label, self.count, self.name = label, count, name
        self.points: dict[str, list[list[float]]] = {}
        self.last: dict[str, float] = {}
        self._real: dict[tuple[int, str], tuple] = {}  # (id of val, field) → (val, judge, feats)

    def _reference(self, data, field: str) -> tuple | None:
        """(judge, real features) for ``field`` of ``data``'s validation part, once each."""
        from runtime.judge import judge_for  # here: it loads scipy, a slow import

        val = data.val
        key = (id(val), field)
        if key not in self._real or self._real[key][0] is not val:
            from runtime.quality import MIN_SAMPLES

            judge = None  # no judge is trained for too few images to measure
            if (self.label and isinstance(val, TensorData) and field in val
                    and len(val) >= MIN_SAMPLES):
                judge = judge_for(data, field, self.label)
            feats = None
            if judge is not None:
                feats = judge.features(val[field][:self.count].float()).double().cpu().numpy()
            self._real[key] = (val, judge, feats)
        _, judge, feats = self._real[key]
        return None if judge is None else (judge, feats)

    def events(self, lines: Mapping[str, Generated], step: int, epoch: int) -> list:
        """The curve with every line's distance at ``step`` added (none where a line has no
        judge or too few samples)."""
        from runtime.quality import MIN_SAMPLES, frechet_distance

        for title, (fake, data, field) in lines.items():
            ref = self._reference(data, field)
            if ref is None or len(fake) < MIN_SAMPLES:
                continue
            judge, real = ref
            fake = fake[:self.count].float().to(data.val[field].device)
            fid = frechet_distance(real, judge.features(fake).double().cpu().numpy())
            points = self.points.setdefault(title, [])
            if points and points[-1][0] == step:  # a resumed run redraws its last step
                points.pop()
            if np.isfinite(fid):
                points.append([step, fid])
                self.last[title] = fid
        curves = {k: np.asarray(v, np.float64).reshape(-1, 2) for k, v in self.points.items()
                  if v}
        if not curves:
            return []
        first = next((t for t in lines if t in curves), next(iter(curves)))
        return [Samples(step, epoch, self.name, "curve", curves.pop(first), None,
                        {"x_label": "step", "y_label": "Fréchet distance (judge features)",
                         "name": first, "series": curves})]

    def state_dict(self) -> dict[str, list[list[float]]]:
        return {k: [list(p) for p in v] for k, v in self.points.items()}

    def load_state_dict(self, state: Mapping[str, Sequence]) -> None:
        self.points = {k: [[int(s), float(v)] for s, v in points]
                       for k, points in dict(state).items()}
        self.last = {k: v[-1][1] for k, v in self.points.items() if v}
