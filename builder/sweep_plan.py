"""A project's prepared sweep (``Project.sweep``) and the setting keys it shares with variants.

The file's ``"sweep"`` key holds what ``layerloom sweep FILE --out DIR`` varies when given no
``--set``: ``{"set": {KEY: [values…]}, "random": N, "max_steps": N}`` (``random`` and
``max_steps`` optional).  KEY is written as ``--set`` takes it (``training.lr``,
``main/hidden1.units``).  Here the keys' form, the networks and nodes they name and the values'
types are checked as the file is read; ``runtime.sweep`` checks each run's whole project (shapes,
ports) before any trains, as it does for ``--set``."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from builder import blocks
from builder.blocks.spec import ParamError
from builder.document import INITS, Project, TrainingSettings, resolve_network
from builder.jsontext import describe, nearest, show
from builder.reader import Reader, check_json_value, label
from builder.training import HYPER, TRAINING_PARAMS, canonical_optimizer

__all__ = ["SWEEP_FIELDS", "check_setting_key", "read_sweep", "plan_runs"]

SWEEP_FIELDS = ("set", "random", "max_steps")


def check_setting_key(key: str, value: Any, r: Reader, project: Project) -> None:
    """Refuse (``r.fail``) a sweep/variant KEY of the wrong form, naming a network or node the
    project lacks, or a block type, bypass or init value that cannot be."""
    path, dot, param = key.rpartition(".")
    if "/" in path and param:
        net_path, _, node_id = path.rpartition("/")
        try:
            net = resolve_network(project, net_path)
        except (KeyError, ValueError):
            raise r.fail(f"names network {show(net_path)}, which this project does not have",
                         label(key)) from None
        if node_id not in net.nodes:
            raise r.fail(f"network {show(net_path)} has no node {show(node_id)}", label(key))
        known = isinstance(value, str) and value in blocks.REGISTRY
        if param == "block" and not known:
            close = nearest(value, blocks.REGISTRY)
            hint = f" (did you mean {close!r}?)" if close else ""
            raise r.fail(f"unknown block type {show(value)}{hint}", label(key))
        if param == "bypass" and not isinstance(value, bool):
            raise r.fail(f"expected true/false, found {describe(value)}", label(key))
        if param == "init" and (not isinstance(value, str) or value not in INITS):
            raise r.fail(f"init must be one of {', '.join(INITS)}; found {show(value)}",
                         label(key))
    elif not (dot and path in ("training", "recipe", "dataset") and param.isidentifier()):
        raise r.fail(f"unknown setting {show(key)}: use training.<setting>, recipe.<param>, "
                     "dataset.<param> or <network>/<node>.<param> (or .block, .bypass, .init)")


def _check_value(key: str, value: Any, r: Reader, project: Project) -> None:
    """A training setting's or a block param's value of the wrong type or out of range."""
    path, _, param = key.rpartition(".")
    declared = None
    if path == "training":
        if param == "optimizer":
            if not isinstance(value, str) or canonical_optimizer(value) is None:
                raise r.fail(f"unknown optimizer {show(value)}", label(key))
            return
        known = [f.name for f in fields(TrainingSettings)
                 if f.name not in ("optimizers", "schedule", "init")] + list(HYPER)
        if param not in known:
            close = nearest(param, known)
            hint = f" (did you mean 'training.{close}'?)" if close else ""
            raise r.fail(f"unknown training setting {show(param)}{hint}", label(key))
        declared = TRAINING_PARAMS.get(param) or HYPER.get(param)
    elif "/" in path and param not in ("block", "bypass", "init"):
        net_path, _, node_id = path.rpartition("/")
        node = resolve_network(project, net_path).nodes[node_id]
        if node.block in blocks.REGISTRY:
            specs = {p.name: p for p in blocks.get(node.block).params}
            if param not in specs:
                close = nearest(param, specs)
                hint = f" (did you mean {close!r}?)" if close else ""
                raise r.fail(f"a {node.block} has no param {show(param)}{hint}", label(key))
            declared = specs[param]
    if declared is not None:
        try:
            declared.coerce(value)
        except ParamError as e:
            raise r.fail(str(e), label(key)) from None


def _count(d: dict, name: str, r: Reader) -> dict:
    if name not in d:
        return {}
    value = d[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise r.fail(f"expected a whole number ≥ 1, found {show(value)}", name)
    return {name: value}


def read_sweep(d: Any, r: Reader, project: Project) -> dict[str, Any]:
    """The prepared sweep of the file (``{}`` for none), checked; LoomError naming the key."""
    if not isinstance(d, dict):
        raise r.fail(f"expected an object {{\"set\": {{KEY: [values]}}}}, found {describe(d)}")
    if not d:
        return {}
    r.keys(d, SWEEP_FIELDS)
    settings = r.get(d, "set", dict)
    if not settings:
        raise r.fail("give at least one setting to vary: {\"training.lr\": [0.1, 0.01]}", "set")
    sr = r.at("set")
    for key, values in settings.items():
        if not isinstance(values, list) or not values:
            raise sr.fail(f"expected a list of one value or more, found {describe(values)}",
                          label(key))
        check_json_value(values, sr.at(label(key)))
        seen = set()
        for value in values:
            check_setting_key(key, value, sr, project)
            _check_value(key, value, sr, project)
            if json.dumps(value) in seen:  # as ``--set`` refuses it
                raise sr.fail(f"the value {show(value)} is given twice", label(key))
            seen.add(json.dumps(value))
    return {"set": {k: list(v) for k, v in settings.items()}, **_count(d, "random", r),
            **_count(d, "max_steps", r)}


def plan_runs(plan: dict[str, Any]) -> int:
    """How many runs the prepared sweep trains: the grid's size, or ``random`` if smaller."""
    size = 1
    for values in plan.get("set", {}).values():
        size *= len(values)
    return min(size, plan.get("random") or size)
