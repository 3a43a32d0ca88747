"""The dataset catalogue: one declarative spec per dataset, and ``load`` that reads any of them.

Like the block catalogue, a spec carries typed params (``builder.blocks.spec.Param``) from which
the GUI builds its form and against which ``load`` checks what it is given.  A spec's ``build``
returns either finished ``Splits`` or one pool ``(TensorData, DataInfo)`` that ``load`` splits
(seeded, stratified for classification), normalises and equips with augmentation, so these
steps are written once rather than per dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.augment_spec import effective_ops
from builder.blocks.spec import Param, ParamError, coerce_params
from runtime.data.augment import Augment
from runtime.data.core import DataInfo, TensorData
from runtime.data.prepare import normalise, normalised_fields, split
from runtime.data.remote import Progress, data_root
from runtime.data.splits import Splits

__all__ = [
    "DatasetSpec",
    "Context",
    "DATASETS",
    "SOURCE_KINDS",
    "register",
    "load",
    "SEED",
    "VAL_FRACTION",
    "NORMALIZE",
    "AUGMENT_PARAMS",
    "n_samples",
    "noise",
    "require_path",
]

SOURCE_KINDS = ("generated", "bundled", "file", "download")

SEED = Param("seed", "int", 0, min=0, max=2**31 - 1,
             help="Random seed: the same seed always gives the same data and split.")
VAL_FRACTION = Param("val_fraction", "float", 0.2, min=0.0, max=0.9,
                     help="Share of the samples held out for validation.")
NORMALIZE = Param("normalize", "bool", True,
                  help="Standardise inputs with the mean and std of the training split.")
AUGMENT_PARAMS = (
    Param("augment", "bool", False, help="Randomly alter training images (never validation)."),
    Param("crop_padding", "int", 4, min=0, max=64,
          help="Random crop: pad each side by this many pixels, then crop back."),
    Param("flip", "bool", True, help="Mirror training images left-right at random."),
    Param("jitter", "float", 0.0, min=0.0, max=0.9,
          help="Colour jitter: brightness, contrast and saturation vary by up to this share."),
)


def n_samples(default: int, maximum: int = 1_000_000) -> Param:
    return Param("n_samples", "int", default, min=2, max=maximum,
                 help="How many samples to generate (training and validation together).")


def noise(default: float, maximum: float = 5.0) -> Param:
    return Param("noise", "float", default, min=0.0, max=maximum,
                 help="Standard deviation of the Gaussian noise added to each sample.")


def require_path(p: dict[str, Any], what: str, name: str = "path", folder: bool = False) -> Path:
    """The existing file (or folder) named by param ``name``; a clear error otherwise."""
    if not p.get(name):
        raise ValueError(f"choose {what} first (param {name!r} is empty)")
    path = Path(p[name]).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if folder != path.is_dir():
        raise ValueError(f"{path} is {'not ' if folder else ''}a folder; expected {what}")
    return path


@dataclass(frozen=True)
class Context:
    """What a builder may use besides its params: the data folder and a progress callback."""

    root: Path
    progress: Progress | None = None


Built = Splits | tuple[TensorData, DataInfo]


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset.

    kind: ``generated`` (made from a seed, offline), ``bundled`` (shipped with Layerloom),
    ``file`` (read from the user's files) or ``download`` (official files fetched into the
    data folder on first use).
    task: what the data is for; ``auto`` when it depends on the files (CSV, NPZ).
    paths: ``(param name, what to browse for)``: a glob like ``*.csv`` or ``folder``.
    """

    name: str
    title: str
    description: str
    kind: str
    category: str
    task: str
    params: tuple[Param, ...]
    build: Callable[[dict[str, Any], Context], Built]
    paths: tuple[tuple[str, str], ...] = ()

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def coerce(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """Defaults filled in and every value checked; one ParamError lists all problems."""
        out, problems = coerce_params(self.params, params, self.name)
        if problems:
            raise ParamError("; ".join(message for _, message in problems))
        return out

DATASETS: dict[str, DatasetSpec] = {}


def register(*specs: DatasetSpec) -> None:
    for spec in specs:
        if spec.name in DATASETS:
            raise ValueError(f"dataset {spec.name!r} registered twice")
        if spec.kind not in SOURCE_KINDS:
            raise ValueError(f"dataset {spec.name!r}: kind must be one of {SOURCE_KINDS}")
        names = [p.name for p in spec.params]
        if len(names) != len(set(names)):
            raise ValueError(f"dataset {spec.name!r} declares a param twice")
        DATASETS[spec.name] = spec


def load(
    name: str,
    params: dict[str, Any] | None = None,
    root: str | Path | None = None,
    progress: Progress | None = None,
    augment: list[dict[str, Any]] | None = None,
) -> Splits:
    """Load dataset ``name`` with ``params`` (missing ones take their defaults).

    ``augment`` is the dataset's ordered augmentation pipeline (``DatasetConfig.augment``);
    when empty, the old ``augment``/``crop_padding``/``flip``/``jitter`` params apply.
    ``root`` is the data folder for downloads and bundled caches (default: ``data_root()``);
    ``progress(done, total)`` reports download bytes (``total`` is None when unknown).
    """
    try:
        spec = DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}") from None
    p = spec.coerce(params)
    built = spec.build(p, Context(data_root(root), progress))
    if isinstance(built, Splits):
        splits = built
    else:
        data, info = built
        stratify = "y" if info.task == "classification" else None
        train, val = split(data, p.get("val_fraction", 0.2), p.get("seed", 0), stratify)
        splits = Splits(train, val, info)
    x_kind = splits.info.fields["x"].kind if "x" in splits.info.fields else None
    if p.get("normalize") and isinstance(splits.train, TensorData) \
            and normalised_fields(splits.info):
        train, val, info = normalise(splits.train, splits.val, splits.info)
        splits = splits.with_parts(train, val, info)
    ops = effective_ops(augment, p)
    if ops and x_kind == "image":
        splits.augment = Augment.from_ops(ops, splits.info.mean, splits.info.std)
    _check(splits)
    return splits


def _check(splits: Splits) -> None:
    """Every in-memory field must match what ``info`` says of it: catches a builder's slip."""
    for part in (splits.train, splits.val):
        if not isinstance(part, TensorData):
            continue
        if set(part.keys()) != set(splits.info.fields):
            raise RuntimeError(f"fields {sorted(part.keys())} differ from info "
                               f"{sorted(splits.info.fields)}")
        for key, t in part.items():
            f = splits.info.fields[key]
            if tuple(t.shape[1:]) != tuple(f.shape) or str(t.dtype) != f"torch.{f.dtype}":
                raise RuntimeError(f"field {key!r} is {list(t.shape[1:])} {t.dtype}; info says "
                                   f"{list(f.shape)} {f.dtype}")
