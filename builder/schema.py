"""The JSON Schema (draft 2020-12) of a ``.loom`` file, generated from the specs.

One generator, two schemas:

- ``loom_schema()`` is what the reader itself enforces: ``builder/serialize.py`` checks every
  document against it (``check_schema``) after its hand-written reading, whose messages are
  better where both apply.  It knows the structure, every block type and every training
  setting with its range, but leaves the params of blocks, datasets and recipes open: a
  block's unknown or out-of-range param loads and is reported as a problem on its node, and
  the dataset and recipe catalogues live in ``runtime``, which ``builder`` never imports.
- ``loom_schema(datasets, recipes, strict=True)`` is the published schema for editors
  (``docs/loom.schema.json``, ``layerloom schema``; ``runtime/schema.py`` supplies the
  catalogues): every block's, dataset's and recipe's params with type, range and choices.

Training settings, optimizers and schedules come from ``builder/training.py``, so the schema,
the reader and the editor's form accept the same values.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from builder import blocks
from builder.augment_spec import MAX_OPS, OPS
from builder.blocks.spec import Param
from builder.document import INITS, DatasetConfig, RecipeConfig, TrainingSettings
from builder.reader import LoomError
from builder.schema_errors import EDGE_END, NAME, NAME_OR_ALL, NOT_BLANK, SYMBOL, error_text
from builder.training import (
    _ALIASES,
    _SCHEDULE_ACCEPTED,
    ACCEPTED,
    HYPER,
    SCHEDULE_PARAMS,
    SCHEDULES,
    TRAINING_PARAMS,
)

__all__ = ["DRAFT", "NAME", "Entry", "param_schema", "params_schema", "loom_schema",
           "check_schema", "validator"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
MAX_INT = 2**31 - 1  # a Param's upper bound for whole numbers that declare none
GROUP = "Group"


@dataclass(frozen=True)
class Entry:
    """A dataset or a recipe as the schema describes it (``runtime`` fills these in)."""

    description: str
    params: tuple[Param, ...]
    roles: tuple[tuple[str, str], ...] = ()  # a recipe's (role, help)


# --- params ---------------------------------------------------------------------------------


def _whole(p: Param) -> dict:
    bounds = {"minimum": p.min, "maximum": MAX_INT if p.max is None else p.max}
    return {"type": "integer", **{k: int(v) if float(v).is_integer() else v
                                  for k, v in bounds.items() if v is not None}}


def _kind(p: Param) -> dict:
    if p.kind == "int":
        return _whole(p)
    if p.kind == "float":
        bounds = (("minimum", p.min), ("maximum", p.max))
        return {"type": "number", **{k: v for k, v in bounds if v is not None}}
    if p.kind == "bool":
        return {"type": "boolean"}
    if p.kind == "choice":
        return {"enum": list(p.choices)}
    if p.kind == "str":
        return {"type": "string", "maxLength": 200}
    if p.kind == "pair":
        return {"anyOf": [_whole(p), {"type": "array", "items": _whole(p), "minItems": 2,
                                      "maxItems": 2}]}
    item = _whole(p) if p.kind == "ints" else {
        "anyOf": [_whole(p), {"type": "string", "pattern": SYMBOL}]}
    return {"type": "array", "items": item, "minItems": p.length[0], "maxItems": p.length[1]}


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, (list, tuple)) else value


def param_schema(p: Param) -> dict:
    """One param: its JSON type, range or choices, default and help."""
    body = _kind(p)
    if p.special:  # words accepted besides numbers ("same" padding)
        body = {"anyOf": [body, {"enum": list(p.special)}]}
    out: dict[str, Any] = {"description": p.help} if p.help else {}
    return {**out, **body, "default": _jsonable(p.default)}


def params_schema(params: Sequence[Param]) -> dict:
    """An object of exactly these params, none required (missing ones take their default)."""
    return {"type": "object", "additionalProperties": False,
            "properties": {p.name: param_schema(p) for p in params}}


# --- names that are spelt loosely -------------------------------------------------------------


def _loose(word: str, separators: str) -> str:
    """A regex matching ``word`` in any case, with ``_`` spelt as any of ``separators``."""
    return "".join(f"[{separators}]" if c == "_" else f"[{c.lower()}{c.upper()}]"
                   if c.isalpha() else c for c in word)


def _optimizer_pattern(names: Sequence[str]) -> str:
    """As ``canonical_optimizer`` reads a name: case, spaces around, ``- + space`` for ``_``."""
    return "^\\s*(" + "|".join(_loose(n, "-_+ ") for n in names) + ")\\s*$"


def _schedule_pattern(names: Sequence[str]) -> str:
    """As ``canonical_schedule`` reads a name: any case, ``-`` for ``_``."""
    return "^(" + "|".join(_loose(n, "-_") for n in names) + ")$"


# --- the parts of a project -------------------------------------------------------------------


def _when(key: str, value: str, pattern: str | None, default: str, then: dict) -> dict:
    """``then`` applies where ``key`` is ``value`` (or absent, when ``value`` is the default)."""
    test = {"pattern": pattern} if pattern else {"const": value}
    cond: dict[str, Any] = {"properties": {key: test}}
    if value != default:
        cond["required"] = [key]
    return {"if": cond, "then": then}


def _optimizer() -> dict:
    names = {name: [name] + [a for a, c in _ALIASES.items() if c == name] for name in ACCEPTED}
    rules = []
    for name, spellings in names.items():
        values: dict[str, Any] = {}
        for key in sorted(ACCEPTED[name]):
            if key == "betas":
                values[key] = {"description": "[β₁, β₂] of Adam's moment estimates.",
                               "type": "array", "minItems": 2, "maxItems": 2,
                               "prefixItems": [param_schema(HYPER["beta1"]),
                                               param_schema(HYPER["beta2"])]}
            else:
                values[key] = param_schema(HYPER[key])
        then = {"properties": {"params": {"type": "object", "additionalProperties": False,
                                          "properties": values}}}
        rules.append(_when("name", name, _optimizer_pattern(spellings), "adam", then))
    return {"type": "object", "additionalProperties": False,
            "properties": {
                "name": {"description": "The optimizer (any case; sgd_momentum = momentum).",
                         "type": "string", "pattern": _optimizer_pattern(
                             [*ACCEPTED, *_ALIASES]), "default": "adam",
                         "examples": list(ACCEPTED)},
                "lr": param_schema(HYPER["lr"]),
                "params": {"type": "object", "description": "The optimizer's own settings."}},
            "allOf": rules}


def _schedule() -> dict:
    rules = [_when("name", name, _schedule_pattern([name]), "constant",
                   {"properties": {k: param_schema(SCHEDULE_PARAMS[k])
                                   for k in sorted(_SCHEDULE_ACCEPTED[name])},
                    "propertyNames": {"enum": ["name", *sorted(_SCHEDULE_ACCEPTED[name])]}})
             for name in SCHEDULES]
    return {"type": "object", "description": "The learning-rate schedule and its settings.",
            "properties": {"name": {"type": "string", "pattern": _schedule_pattern(SCHEDULES),
                                    "default": "constant", "examples": list(SCHEDULES)}},
            "allOf": rules}


def _training() -> dict:
    special = {
        "device": {"description": "Where to train: auto, cpu, cuda, cuda:N or mps.",
                   "type": "string", "default": "auto",
                   "pattern": "^(" + "|".join(_loose(d, "_") for d in ("auto", "cpu", "cuda",
                                                                      "mps"))
                              + "|[cC][uU][dD][aA]:[0-9]+)$"},
        "optimizers": {"description": "Per network name, or \"*\" for every network.",
                       "type": "object", "propertyNames": {"pattern": NAME_OR_ALL},
                       "additionalProperties": {"$ref": "#/$defs/optimizer"}},
        "schedule": {"$ref": "#/$defs/schedule"},
        "init": {"description": "Per network name, the weights it starts from (a run folder, a "
                                ".safetensors or .pt file, relative to the project file).",
                 "type": "object", "propertyNames": {"pattern": NAME},
                 "additionalProperties": {"type": "string", "pattern": NOT_BLANK}},
    }
    props = {}
    for f in fields(TrainingSettings):
        props[f.name] = param_schema(TRAINING_PARAMS[f.name]) if f.name in TRAINING_PARAMS \
            else special[f.name]  # a new setting without either is a KeyError here
    return {"type": "object", "additionalProperties": False, "properties": props}


def _network(types: list[str], strict: bool) -> dict:
    """A network; its nodes and edges inline (a ``$ref`` each costs the reader 20%)."""
    edge = {"type": "object", "additionalProperties": False, "required": ["from", "to"],
            "properties": {k: {"description": "node.port", "type": "string",
                               "pattern": EDGE_END} for k in ("from", "to")}}
    return {"type": "object", "additionalProperties": False, "required": ["name", "nodes"],
            "properties": {
                "name": {"description": "Letters, digits and _: a Python class name.",
                         "type": "string", "pattern": NAME},
                "nodes": {"type": "array", "items": _node(types, strict)},
                "edges": {"type": "array", "items": edge}}}


def _node(types: list[str], strict: bool) -> dict:
    coordinate = {"type": "number", "exclusiveMinimum": -1e9, "exclusiveMaximum": 1e9}
    group = {"if": {"properties": {"block": {"const": GROUP}}, "required": ["block"]},
             "then": {"required": ["subnet"]}, "else": {"not": {"required": ["subnet"]}}}
    rules = [group]
    if strict:
        rules += [{"if": {"properties": {"block": {"const": t}}, "required": ["block"]},
                   "then": {"properties": {"params": {"$ref": f"#/$defs/{t}.params"}}}}
                  for t in types]
    return {"type": "object", "additionalProperties": False, "required": ["id", "block"],
            "properties": {
                "id": {"description": "Unique in its network.", "type": "string",
                       "pattern": NAME},
                "block": {"description": "A block type, or Group.", "enum": [*types, GROUP]},
                "params": {"description": "The block's params; missing ones take defaults.",
                           "type": "object"},
                "pos": {"type": "array", "items": coordinate, "minItems": 2, "maxItems": 2,
                        "default": [0, 0]},
                "trainable": {"type": "boolean", "default": True},
                "bypass": {"description": "Pass the first input through unchanged (the "
                                          "block is skipped); needs equal shapes in and out.",
                           "type": "boolean", "default": False},
                "init": {"enum": list(INITS), "default": "default"},
                "lr_scale": {"description": "Multiplies the network's learning rate for this "
                                            "block's weights (discriminative fine-tuning).",
                             "type": "number", "exclusiveMinimum": 0, "maximum": 1000,
                             "default": 1},
                "subnet": {"$ref": "#/$defs/network"}},
            "allOf": rules}


def _augment() -> dict:
    """The ordered augmentation list: one object per transform, its params per ``op``."""
    ops = []
    for spec in OPS.values():
        body = params_schema(spec.params)
        body["properties"] = {"op": {"const": spec.name}, **body["properties"]}
        ops.append({"description": spec.help, **body, "required": ["op"]})
    return {"description": "Training-time augmentation, applied in order to training images "
                           "only (empty: the augment params apply).",
            "type": "array", "maxItems": MAX_OPS, "items": {"oneOf": ops}}


def _config(default: str, entries: Mapping[str, Entry] | None, roles: bool) -> dict:
    props: dict[str, Any] = {"name": {"type": "string", "default": default},
                             "params": {"type": "object"}}
    if not roles:  # a dataset
        props["augment"] = _augment()
    if roles:
        props["roles"] = {"description": "Each role bound to a network of the project.",
                          "type": "object", "propertyNames": {"pattern": NAME},
                          "additionalProperties": {"type": "string", "pattern": NAME}}
    out = {"type": "object", "additionalProperties": False, "properties": props}
    if entries:
        props["name"]["enum"] = list(entries)
        rules = []
        for name, e in entries.items():
            then: dict[str, Any] = {"description": e.description,
                                    "properties": {"params": params_schema(e.params)}}
            if e.roles:
                then["properties"]["roles"] = {"properties": {
                    r: {"description": h} if h else {} for r, h in e.roles}}
            rules.append(_when("name", name, None, default, then))
        out["allOf"] = rules
    return out


def loom_schema(datasets: Mapping[str, Entry] | None = None,
                recipes: Mapping[str, Entry] | None = None, strict: bool = False) -> dict:
    """The schema of a ``.loom`` file (see the module's docstring for the two variants)."""
    from builder.serialize import FORMAT, VERSION  # serialize imports this module

    types = list(blocks.REGISTRY)
    defs: dict[str, Any] = {
        "network": _network(types, strict),
        "dataset": _config(DatasetConfig().name, datasets, roles=False),
        "recipe": _config(RecipeConfig().name, recipes, roles=True),
        "training": _training(), "optimizer": _optimizer(), "schedule": _schedule()}
    if strict:
        defs.update({f"{t}.params": params_schema(s.params)
                     for t, s in blocks.REGISTRY.items()})
    return {
        "$schema": DRAFT,
        "title": "Layerloom project (.loom)",
        "description": f"A Layerloom project, format version {VERSION}. Older versions are "
                       "migrated when the app opens them.",
        "type": "object", "additionalProperties": False, "required": ["version", "networks"],
        "properties": {
            "format": {"const": FORMAT},
            "version": {"type": "integer", "minimum": 0, "maximum": VERSION},
            "description": {"description": "First line: the title; second: a summary.",
                            "type": "string"},
            "networks": {"type": "array", "items": {"$ref": "#/$defs/network"}},
            "dataset": {"$ref": "#/$defs/dataset"},
            "streams": {"description": "The dataset of each further stream of the recipe.",
                        "type": "object", "additionalProperties": {"$ref": "#/$defs/dataset"}},
            "recipe": {"$ref": "#/$defs/recipe"},
            "training": {"$ref": "#/$defs/training"},
            "variants": {"description": "Named variants of the project to compare, each "
                                        "{KEY: value} with KEY as `layerloom sweep --set` takes "
                                        "it (training.lr, main/act1.block…).",
                         "type": "object",
                         "additionalProperties": {"type": "object"}},
            "sweep": {"description": "The prepared sweep `layerloom sweep FILE` runs without "
                                     "--set: the values of each KEY, and optionally a random "
                                     "sample of the grid and a step limit per run.",
                      "type": "object", "additionalProperties": False,
                      "properties": {
                          "set": {"type": "object", "minProperties": 1,
                                  "additionalProperties": {"type": "array", "minItems": 1}},
                          "random": {"type": "integer", "minimum": 1},
                          "max_steps": {"type": "integer", "minimum": 1}}}},
        "$defs": defs}


@functools.lru_cache(maxsize=4)
def _reader_validator(types: tuple[str, ...]) -> Draft202012Validator:
    return Draft202012Validator(loom_schema())


def validator(schema: dict | None = None) -> Draft202012Validator:
    """A validator of ``schema`` (default: the reader's, rebuilt if a block is registered)."""
    if schema is None:
        return _reader_validator(tuple(blocks.REGISTRY))
    return Draft202012Validator(schema)


def check_schema(doc: Any, schema: dict | None = None) -> None:
    """Raise the reader's ``LoomError`` for the most relevant way ``doc`` breaks ``schema``
    (default: the reader's), naming where (``networks[0].nodes[2] (conv1).params.units``)."""
    error = best_match(validator(schema).iter_errors(doc))
    if error is not None:
        raise LoomError(error_text(error, doc))
