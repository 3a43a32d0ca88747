"""The preprocessing training applied to the inputs, recorded so that exports take raw data.

Loading a dataset with ``normalize`` standardises every float input field (vector, image,
sequence) with per-channel / per-feature statistics of the training split
(``runtime.data.prepare.normalise``).  The network learns on standardised values, so a model
exported without that step answers wrongly on the data the user has.  ``Preprocess`` holds the
step as plain data — field name (``x``; ``target.x`` for another data stream) → kind, mean,
std — and is written into the run folder as ``preprocess.json``; ``WithPreprocess`` puts it in
front of a compiled network (as buffers, so ONNX carries the statistics as constants), and
``for_inputs`` gives it per network input for the generated code and the ONNX metadata.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from builder.compiler import InputSpec
from runtime.data.core import DataInfo
from runtime.data.splits import Splits

__all__ = ["FILE", "METADATA_KEY", "PreprocessError", "Standardise", "Preprocess",
           "save_preprocess", "load_preprocess", "find_preprocess", "WithPreprocess",
           "describe"]

FILE = "preprocess.json"
METADATA_KEY = "layerloom.preprocess"  # the ONNX metadata_props entry
_OP = "standardise"


class PreprocessError(ValueError):
    """A ``preprocess.json`` that cannot be read or holds a step this version does not know."""


@dataclass(frozen=True)
class Standardise:
    """``(x − mean) / std`` per channel (images: axis 1) or per feature (vectors, sequences:
    the last axis), with statistics of the training split."""

    kind: str
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def axis(self) -> int:
        """The axis the statistics run along, in a batch (1 for images, else -1)."""
        return 1 if self.kind == "image" else -1

    def view(self, rank: int) -> list[int]:
        """The broadcast shape of the statistics for a batch of ``rank`` dimensions."""
        shape = [1] * rank
        shape[self.axis()] = -1
        return shape

    def to_json(self) -> dict:
        return {"op": _OP, "kind": self.kind, "mean": list(self.mean), "std": list(self.std)}


@dataclass(frozen=True)
class Preprocess:
    """What training did to each data field before the networks saw it (fields left as they
    were are absent)."""

    fields: dict[str, Standardise] = field(default_factory=dict)

    @classmethod
    def from_info(cls, info: DataInfo, others: dict[str, DataInfo] | None = None
                  ) -> Preprocess:
        """From a loaded dataset's description (and its other streams', as ``stream.field``)."""
        out: dict[str, Standardise] = {}
        for prefix, i in [("", info), *((f"{k}.", v) for k, v in (others or {}).items())]:
            stats = dict(i.stats)
            if "x" not in stats and i.mean is not None and i.std is not None \
                    and "x" in i.fields:  # a file-backed set records x's statistics only there
                stats["x"] = (i.mean, i.std)
            for name, (mean, std) in stats.items():
                kind = i.fields[name].kind if name in i.fields else "vector"
                out[prefix + name] = Standardise(kind, tuple(map(float, mean)),
                                                 tuple(map(float, std)))
        return cls(out)

    @classmethod
    def from_splits(cls, splits: Splits) -> Preprocess:
        return cls.from_info(splits.info, {k: s.info for k, s in splits.others.items()})

    def to_json(self) -> dict:
        return {"format": "layerloom.preprocess", "version": 1,
                "fields": {k: s.to_json() for k, s in self.fields.items()}}

    @classmethod
    def from_json(cls, data: dict) -> Preprocess:
        out = {}
        try:
            for name, s in data["fields"].items():
                if s.get("op", _OP) != _OP:
                    raise PreprocessError(f"field {name!r}: unknown preprocessing step "
                                          f"{s.get('op')!r} (this version knows {_OP!r})")
                mean, std = tuple(map(float, s["mean"])), tuple(map(float, s["std"]))
                if len(mean) != len(std) or not all(v > 0 for v in std):
                    raise PreprocessError(f"field {name!r}: mean and std must have one value "
                                          "per channel, std above 0")
                out[name] = Standardise(str(s["kind"]), mean, std)
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            if isinstance(e, PreprocessError):
                raise
            raise PreprocessError(f"malformed preprocessing record ({type(e).__name__}: "
                                  f"{e})") from None
        return cls(out)

    def for_inputs(self, inputs: Sequence[InputSpec]) -> dict[str, Standardise]:
        """Input name → its step, for the inputs of one network read from the data (inputs
        the recipe fills, noise and integer ids are never standardised)."""
        return {s.name: self.fields[s.field] for s in inputs
                if not s.from_recipe and s.kind != "index" and s.field in self.fields}


def save_preprocess(folder: str | os.PathLike, preprocess: Preprocess) -> Path:
    """Write ``folder/preprocess.json`` atomically."""
    path = Path(folder) / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{FILE}.tmp")
    tmp.write_text(json.dumps(preprocess.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_preprocess(folder: str | os.PathLike) -> Preprocess | None:
    """The run folder's record, or None where there is none (a run from before it existed)."""
    path = Path(folder) / FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PreprocessError(f"{path} is unreadable ({e})") from None
    if not isinstance(data, dict):
        raise PreprocessError(f"{path} holds no preprocessing record")
    try:
        return Preprocess.from_json(data)
    except PreprocessError as e:
        raise PreprocessError(f"{path}: {e}") from None


def find_preprocess(weights: str | os.PathLike) -> Path | None:
    """The run folder holding the record for ``weights``: a run folder, its ``checkpoint``
    folder, or one weights file inside either."""
    weights = Path(weights)
    folder = weights if weights.is_dir() else weights.parent
    for place in (folder, folder.parent) if folder.name == "checkpoint" else (folder,):
        if (place / FILE).is_file():
            return place
    return None


class WithPreprocess(nn.Module):
    """``module`` behind the preprocessing: takes raw data, standardises the inputs that
    training standardised, then runs the network.  The statistics are (non-persistent)
    buffers: they follow ``.to(device)`` and become constants in an ONNX graph, while the
    state dict stays the network's."""

    def __init__(self, module: nn.Module, inputs: Sequence[InputSpec], preprocess: Preprocess):
        super().__init__()
        self.net = module
        steps = preprocess.for_inputs(inputs)
        self.steps: list[int] = []  # positions of the standardised inputs
        for i, spec in enumerate(inputs):
            if spec.name in steps:
                s, view = steps[spec.name], steps[spec.name].view(len(spec.shape) + 1)
                self.register_buffer(f"mean{i}", torch.tensor(s.mean).view(view), False)
                self.register_buffer(f"std{i}", torch.tensor(s.std).view(view), False)
                self.steps.append(i)

    def standardise(self, args: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        out = list(args)
        for i in self.steps:  # as runtime.data.prepare.normalise: subtract, then divide
            out[i] = (out[i] - getattr(self, f"mean{i}")) / getattr(self, f"std{i}")
        return out

    def raw(self, args: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Standardised values back on the raw scale (example inputs for a parity check)."""
        out = list(args)
        for i in self.steps:
            out[i] = out[i] * getattr(self, f"std{i}") + getattr(self, f"mean{i}")
        return out

    def forward(self, *args: torch.Tensor):
        return self.net(*self.standardise(args))


def describe(steps: dict[str, Standardise] | None, *, bare: bool = False,
             where: str = "") -> str:
    """The export report's line on preprocessing.  ``steps``: per input (``for_inputs``);
    None when nothing was recorded (``where``: the weights it was looked for beside)."""
    if steps is None:
        return (f"no preprocessing recorded{f' in {where}' if where else ''} (a run made "
                "before Layerloom recorded it): the model takes its inputs as training saw "
                "them, standardised where the dataset's normalize was on, not raw data")
    if not steps:
        return "takes raw data: training standardised none of its inputs"
    per = ", ".join(f"{n} per {'channel' if s.kind == 'image' else 'feature'}"
                    for n, s in steps.items())
    if bare:
        return (f"bare network: standardise {per} yourself, (x - mean) / std; the training "
                f"statistics are in the metadata ({METADATA_KEY})")
    return f"takes raw data: standardises {per} with the training statistics, in the graph"
