"""What exists, as plain data: every block, dataset, recipe and training setting.

Read from the same specs the editor, the reader and the trainer use, so that what the
``blocks``/``datasets``/``recipes`` commands print, ``docs/reference.md`` and the published
JSON Schema (``runtime/schema.py``) can never drift from the code.  Every function returns
plain dicts, lists, text and numbers (``json.dumps`` takes them as they are).
"""

from __future__ import annotations

import difflib
import re
import tempfile
from typing import Any

from builder import blocks
from builder.blocks.spec import BlockSpec, Param, Port
from builder.document import INITS, Node
from builder.shapes import ShapeError
from builder.training import (
    _ALIASES,
    _SCHEDULE_ACCEPTED,
    ACCEPTED,
    DEVICES,
    HYPER,
    OPTIMIZER_LABELS,
    SCHEDULE_LABELS,
    SCHEDULE_PARAMS,
    TRAINING_PARAMS,
)

__all__ = ["UnknownName", "param_info", "block_list", "block_info", "dataset_list",
           "dataset_info", "recipe_list", "recipe_info", "training_info", "lookup"]

SAMPLE_LIMIT = 64  # samples generated to show a dataset's fields


class UnknownName(LookupError):
    """No such block, dataset or recipe; the message suggests the nearest names."""

    def __str__(self) -> str:
        return str(self.args[0])


def lookup(what: str, name: str, names: list[str]) -> str:
    """``name`` if it is one of ``names``; else UnknownName naming the closest ones."""
    if name in names:
        return name
    by_case = {n.lower(): n for n in names}
    close = [by_case[name.lower()]] if name.lower() in by_case else \
        difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else \
        f"; `layerloom {what}s` lists them all"
    raise UnknownName(f"unknown {what} {name!r}{hint}")


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, (list, tuple)) else value


def param_info(p: Param) -> dict:
    """A param: name, type, default, range, choices and help; ``accepts`` says it in words."""
    out: dict[str, Any] = {"name": p.name, "type": p.kind, "default": _jsonable(p.default),
                           "min": p.min, "max": p.max}
    if p.choices:
        out["choices"] = list(p.choices)
    if p.special:
        out["also"] = list(p.special)
    if p.kind in ("ints", "dims"):
        out["length"] = list(p.length)
    out["accepts"] = p.describe()
    out["help"] = p.help
    return out


def _port(port: Port) -> dict:
    return {"name": port.name, "kind": port.kind, "optional": port.optional, "help": port.help}


# --- blocks -----------------------------------------------------------------------------------


def _summary(text: str) -> str:
    """The first sentence of a concept or description."""
    match = re.search(r"\.\s+(?=[A-Z])", text)  # not after "e.g." and the like
    return text[:match.start() + 1] if match else text


def block_list() -> list[dict]:
    """Per palette category, its blocks: type, title and the first sentence of the concept."""
    return [{"category": category,
             "blocks": [{"type": s.type, "title": s.label, "summary": _summary(s.concept)}
                        for s in specs]}
            for category, specs in blocks.by_category().items()]


def _example(spec: BlockSpec, params: dict) -> dict | None:
    """The block's output shapes for its declared example inputs, with default params."""
    from builder.propagate import _block_outputs  # networkx (~0.3 s): not for the lists

    ins = list(spec.example_inputs)
    try:
        outs = _block_outputs(Node("example", spec.type, params), params, ins)
    except (ShapeError, ValueError, RuntimeError, TypeError):
        return None
    return {"inputs": [_jsonable(s) if s is not None else None for s in ins],
            "outputs": [_jsonable(s) for s in outs]}


def block_info(name: str) -> dict:
    """One block: concept, ports (with default params), params, an example of its shapes."""
    spec = blocks.REGISTRY[lookup("block", name, list(blocks.REGISTRY))]
    params = spec.defaults()
    return {
        "type": spec.type, "title": spec.label, "category": spec.category,
        "concept": spec.concept,
        "inputs": [_port(p) for p in spec.input_ports(params)],
        "outputs": [_port(p) for p in spec.output_ports(params)],
        "ports_vary": callable(spec.inputs) or callable(spec.outputs),
        "params": [param_info(p) for p in spec.params],
        "composite": spec.expand is not None,
        "has_weights": spec.has_weights,
        "example": _example(spec, params) if spec.example_inputs or not spec.inputs else None,
    }


# --- datasets ---------------------------------------------------------------------------------


def dataset_list() -> list[dict]:
    from runtime.data.registry import DATASETS

    return [{"name": s.name, "title": s.title, "kind": s.kind, "task": s.task,
             "category": s.category, "summary": _summary(s.description)}
            for s in DATASETS.values()]


def _fields(name: str, spec) -> dict | None:
    """The fields of a small instance made with the default params (generated and bundled
    data only: nothing is downloaded, the data folder is a temporary one)."""
    from runtime.data.prepare import normalised_fields
    from runtime.data.registry import load

    if spec.kind not in ("generated", "bundled"):
        return None
    params = {}
    if any(p.name == "n_samples" for p in spec.params):
        p = spec.param("n_samples")
        params["n_samples"] = max(int(p.min or 2), min(p.default, SAMPLE_LIMIT))
    with tempfile.TemporaryDirectory(prefix="layerloom-reference-") as root:
        info = load(name, params, root=root).info
    standardised = set(normalised_fields(info)) if spec.defaults().get("normalize") else set()
    return {key: {"kind": f.kind, "shape": list(f.shape), "dtype": f.dtype,
                  "standardised": key in standardised}
            for key, f in info.fields.items()}


def dataset_info(name: str, fields: bool = True) -> dict:
    """One dataset: kind, task, params, files it reads; the fields of each sample where they
    are known without the user's files or a download."""
    from runtime.data.registry import DATASETS

    spec = DATASETS[lookup("dataset", name, list(DATASETS))]
    return {"name": spec.name, "title": spec.title, "description": spec.description,
            "kind": spec.kind, "task": spec.task, "category": spec.category,
            "params": [param_info(p) for p in spec.params],
            "files": [{"param": param, "pattern": pattern} for param, pattern in spec.paths],
            "fields": _fields(spec.name, spec) if fields else None}


# --- recipes ----------------------------------------------------------------------------------


def recipe_list() -> list[dict]:
    from runtime.recipes import RECIPES

    return [{"name": r.name, "title": r.title, "roles": [role.name for role in r.roles],
             "summary": _summary(r.description)} for r in RECIPES.values()]


def recipe_info(name: str) -> dict:
    """One recipe: roles, the inputs it fills itself, its data streams, the dataset tasks it
    takes, its params and the metric that decides "best"."""
    from runtime.recipes import RECIPES

    r = RECIPES[lookup("recipe", name, list(RECIPES))]
    return {
        "name": r.name, "title": r.title, "description": r.description,
        "roles": [{"name": role.name, "help": role.help} for role in r.roles],
        "feeds": [{"role": f.role, "field": f.field, "required": f.required, "help": f.help}
                  for f in r.feeds],
        "streams": [{"name": s.name, "help": s.help} for s in r.streams],
        "tasks": list(r.tasks),
        "params": [param_info(p) for p in r.params],
        "monitor": {"metric": r.monitor[0], "mode": r.monitor[1]} if r.monitor else None,
    }


# --- training ---------------------------------------------------------------------------------


def training_info() -> dict:
    """Every training setting, optimizer, hyperparameter and schedule with its range."""
    return {
        "settings": [param_info(p) for p in TRAINING_PARAMS.values()],
        "devices": [*DEVICES, "cuda:N"],
        "optimizers": [{"name": n, "label": label,
                        "also": sorted(a for a, c in _ALIASES.items() if c == n),
                        "params": sorted(ACCEPTED[n])}
                       for n, label in OPTIMIZER_LABELS.items()],
        "hyperparameters": [param_info(p) for p in HYPER.values()],
        "schedules": [{"name": n, "label": label, "params": sorted(_SCHEDULE_ACCEPTED[n])}
                      for n, label in SCHEDULE_LABELS.items()],
        "schedule_params": [param_info(p) for p in SCHEDULE_PARAMS.values()],
        "inits": list(INITS),
    }
