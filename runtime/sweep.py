"""``layerloom sweep``: train one project several times, one setting changed per run, and
tabulate what each run reached (what MATLAB's Experiment Manager calls an experiment).

    layerloom sweep FILE --set KEY=V1,V2,… [--set …] [--random N] [--max-steps N] [--jobs J]
                    --out DIR
    layerloom sweep FILE --variants [--max-steps N] [--jobs J] --out DIR
    layerloom sweep FILE [--random N] [--max-steps N] [--jobs J] --out DIR

The last form runs the project's prepared sweep (its ``"sweep"``: the values of each KEY, and
optionally ``random`` and ``max_steps``, which --random and --max-steps override); an explicit
--set replaces the prepared sweep entirely.

KEY addresses a training setting (``training.lr``, ``training.batch_size``,
``training.optimizer``, ``training.momentum``…), a recipe or dataset param (``recipe.method``,
``dataset.n_samples``), the dataset's augmentation list (``dataset.augment``: [] for none),
a block param (``main/hidden1.units``) or a block's type
(``main/act1.block``: Sigmoid → ReLU, where the node keeps its ports) or its bypass switch
(``main/add1.bypass``: true passes the first input through) or init (``main/fc1.init``).
The runs are the grid of
all values (or ``--random N`` of its points, drawn with a fixed seed), trained in turn or in
``--jobs`` worker processes.  ``DIR/results.csv`` gets one row per run, rewritten as each run
ends so a sweep cut short keeps what it did: the values set, status, steps, seconds, every
final validation metric and the best value of the metric the recipe monitors; ``DIR/run-NNN``
holds each run's metrics and project.  Exit 0 when every run finished, 1 when one failed, 2
for bad input (nothing is trained).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from builder.document import OptimizerConfig, Project, TrainingSettings, resolve_network

__all__ = ["parse_set", "apply_setting", "grid", "run_sweep", "add_parser", "cmd_sweep",
           "check_point", "setting_keys", "current_value", "prepared_sweep", "TRAINING_KEYS"]

# Optimizer settings a key may name: the name itself, its rate, and the params it takes.
OPTIMIZER_KEYS = ("optimizer", "lr", "momentum", "weight_decay", "alpha", "eps", "beta1",
                  "beta2")
SETTINGS = tuple(f for f in TrainingSettings.__dataclass_fields__
                 if f not in ("optimizers", "schedule", "init"))


def _value(text: str) -> Any:
    """A value as typed: JSON where it parses (1, 0.1, true, "x", [1, 2]), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()


def parse_set(text: str) -> tuple[str, list[Any]]:
    """``KEY=V1,V2,…`` → (KEY, values); ValueError naming what is wrong."""
    key, eq, values = text.partition("=")
    key = key.strip()
    if not eq or not key or not values.strip():
        raise ValueError(f"--set expects KEY=V1,V2,…; received {text!r}")
    parsed = [_value(v) for v in values.split(",") if v.strip()]
    if len(parsed) != len(set(map(json.dumps, parsed))):
        raise ValueError(f"--set {key}: a value is given twice")
    return key, parsed


def apply_setting(project: Project, key: str, value: Any) -> None:
    """Set ``key`` to ``value`` in ``project`` (in place); ValueError naming an unknown key."""
    section, dot, rest = key.partition(".")
    if "/" in section:  # network/node.param (or network/group/node.param)
        path, _, param = key.rpartition(".")
        net_path, _, node_id = path.rpartition("/")
        try:
            net = resolve_network(project, net_path)
        except (KeyError, ValueError):
            raise ValueError(f"{key}: the project has no network {net_path!r}") from None
        if node_id not in net.nodes or not param:
            raise ValueError(f"{key}: network {net_path!r} has no node {node_id!r}")
        if param == "block":
            _swap_block(net, node_id, value, key)
        elif param == "bypass":  # the node's switch, not a param: an ablation
            if not isinstance(value, bool):
                raise ValueError(f"{key}: expected true or false; received {value!r}")
            net.nodes[node_id].bypass = value
        elif param == "init":  # the node's weight initialisation, also not a param
            from builder.document import INITS

            if value not in INITS:
                raise ValueError(f"{key}: expected one of {', '.join(INITS)}; received "
                                 f"{value!r}")
            net.nodes[node_id].init = value
        else:
            net.nodes[node_id].params[param] = value
    elif section == "training" and rest in OPTIMIZER_KEYS:
        t = project.training
        if not t.optimizers:
            t.optimizers["*"] = OptimizerConfig()
        for opt in t.optimizers.values():
            if rest == "optimizer":
                opt.name = str(value)
            elif rest == "lr":
                opt.lr = value
            else:
                opt.params[rest] = value
    elif section == "training" and rest in SETTINGS:
        setattr(project.training, rest, value)
    elif section == "dataset" and rest == "augment" and (isinstance(value, list)
                                                         or value is False):
        # The ordered pipeline (DatasetConfig.augment), not a param; [] or false: none at all,
        # so the old augment switch goes too (its default is off).
        project.dataset.augment = list(value or [])  # the strict reader checks each op
        if not value:
            project.dataset.params.pop("augment", None)
    elif section in ("recipe", "dataset") and dot and rest:
        getattr(project, section).params[rest] = value
    else:
        raise ValueError(
            f"unknown setting {key!r}: use training.<{'|'.join(OPTIMIZER_KEYS + SETTINGS)}>, "
            "recipe.<param>, dataset.<param> or <network>/<node>.<param>")


def _swap_block(net, node_id: str, block: Any, key: str) -> None:
    """Change a node's block type (Sigmoid → ReLU), keeping the params the new block has too;
    refused where an edge would lose its port."""
    from builder import blocks
    from builder.ports import node_ports

    if not isinstance(block, str) or block not in blocks.REGISTRY:
        raise ValueError(f"{key}: unknown block type {block!r}")
    old = net.nodes[node_id]
    names = {p.name for p in blocks.get(block).params}
    new = old.copy()
    new.block, new.params = block, {k: v for k, v in old.params.items() if k in names}
    ins, outs = (set(p.name for p in ports) for ports in node_ports(new))
    for e in net.edges:
        if (e.dst == node_id and e.dst_port not in ins) or (e.src == node_id
                                                            and e.src_port not in outs):
            raise ValueError(f"{key}: a {block} has no port for the edge {e}")
    net.nodes[node_id] = new


TRAINING_KEYS = ("training.lr", "training.batch_size", "training.optimizer",
                 "training.momentum", "training.weight_decay", "training.epochs",
                 "training.seed")


def setting_keys(project) -> list[str]:
    """What a sweep may vary in ``project``: training settings, the recipe's params and every
    param of every block of the top-level networks."""
    from builder import blocks
    from runtime import recipes

    keys = list(TRAINING_KEYS)
    try:
        keys += [f"recipe.{p.name}" for p in recipes.get(project.recipe.name).params]
    except recipes.RecipeError:
        pass
    for net_name, net in project.networks.items():
        for node_id, node in net.nodes.items():
            try:
                keys += [f"{net_name}/{node_id}.{p.name}" for p in blocks.get(node.block).params]
            except KeyError:  # a group or an unknown block: nothing to offer
                pass
    return keys


def current_value(project, key: str):
    """The value ``key`` has now (shown as a hint), or None where it cannot be told."""
    from builder import blocks
    from runtime import recipes

    section, _, rest = key.partition(".")
    if "/" in section:
        path, _, param = key.rpartition(".")
        net_name, _, node_id = path.rpartition("/")
        node = project.networks[net_name].nodes.get(node_id) \
            if net_name in project.networks else None
        if node is None:
            return None
        try:
            defaults = {p.name: p.default for p in blocks.get(node.block).params}
        except KeyError:
            defaults = {}
        return node.params.get(param, defaults.get(param))
    if section == "training" and rest in OPTIMIZER_KEYS:
        opt = project.training.optimizer_for(next(iter(project.networks), ""))
        return {"optimizer": opt.name, "lr": opt.lr}.get(rest, opt.params.get(rest))
    if section == "training":
        return getattr(project.training, rest, None) if rest in SETTINGS else None
    if section == "recipe":
        try:
            defaults = {p.name: p.default for p in recipes.get(project.recipe.name).params}
        except recipes.RecipeError:
            defaults = {}
        return project.recipe.params.get(rest, defaults.get(rest))
    return project.dataset.params.get(rest) if section == "dataset" else None


def grid(axes: list[tuple[str, list[Any]]], sample: int | None = None,
         seed: int = 0) -> list[dict[str, Any]]:
    """Every combination of the axes' values (key order kept), or ``sample`` of them drawn
    without replacement with ``seed``."""
    keys = [k for k, _ in axes]
    points = [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in axes))]
    if sample is not None and sample < len(points):
        points = random.Random(seed).sample(points, sample)
    return points


def check_point(base: Project, point: dict[str, Any]) -> str:
    """The project with ``point``'s settings, as .loom text, read back strictly and its
    networks checked: a value of the wrong type or a block param that does not fit is
    refused (ValueError naming the setting) before any run starts."""
    from builder.problems import ERROR
    from builder.propagate import check
    from builder.serialize import LoomError, dumps, loads

    project = loads(dumps(base))
    project.variants, project.sweep = {}, {}  # a run is the base with its settings, no more
    # A block swap first, so that a param of the same node applies to the new block.
    for key, value in sorted(point.items(), key=lambda kv: not kv[0].endswith(".block")):
        apply_setting(project, key, value)
    text = dumps(project)
    where = ", ".join(f"{k}={v}" for k, v in point.items())
    try:
        loads(text)
    except LoomError as e:
        raise ValueError(f"{where}: {e}") from None
    for net in project.networks.values():
        errors = [p for p in check(net).problems if p.severity == ERROR]
        if errors:
            raise ValueError(f"{where}: {errors[0]}")
    return text


def _train_one(text: str, run_dir: str, max_steps: int | None, threads: int) -> dict:
    """One run in this process (a worker's entry point): what the results row needs."""
    import torch

    from builder.serialize import loads, save
    from runtime.events import EpochSummary, Failure
    from runtime.runlog import MetricsWriter
    from runtime.trainer import Trainer

    if threads:
        torch.set_num_threads(threads)
    project, folder = loads(text), Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    save(project, folder / "project.loom")
    writer, epochs, failures = MetricsWriter(folder), [], []

    def on_event(event) -> None:
        writer(event)
        if isinstance(event, EpochSummary):
            epochs.append(event.val)
        elif isinstance(event, Failure):
            failures.append(event.message)

    t0 = time.perf_counter()
    trainer = Trainer(project, callback=on_event, device="cpu", run_dir=folder,
                      on_nonfinite="stop")
    finished = trainer.fit(max_steps=max_steps)
    monitor = trainer.run.recipe.monitor if trainer.run else None
    best = None
    if monitor and any(monitor[0] in v for v in epochs):
        seen = [v[monitor[0]] for v in epochs if monitor[0] in v]
        best = (monitor[0], max(seen) if monitor[1] == "max" else min(seen))
    return {"status": finished.reason, "steps": finished.step,
            "seconds": round(time.perf_counter() - t0, 2), "final": dict(finished.final),
            "best": best, "error": failures[0] if failures else ""}


def _write_results(path: Path, keys: list[str], rows: dict[int, dict],
                   points: list[dict], labels: list[str] | None = None) -> None:
    metrics = sorted({m for r in rows.values() for m in r["final"]})
    bests = sorted({r["best"][0] for r in rows.values() if r["best"]})
    tmp = path.with_suffix(".csv.part")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["run", *(["variant"] if labels else []), *keys, "status", "steps",
                      "seconds",
                      *(f"final_{m}" for m in metrics), *(f"best_{m}" for m in bests),
                      "error"])
        for i in sorted(rows):
            r = rows[i]
            best = dict([r["best"]]) if r["best"] else {}
            out.writerow([f"run-{i + 1:03d}", *([labels[i]] if labels else []),
                          *("" if k not in points[i] else json.dumps(points[i][k]) if not
                            isinstance(points[i][k], str) else points[i][k] for k in keys),
                          r["status"], r["steps"], r["seconds"],
                          *(r["final"].get(m, "") for m in metrics),
                          *(best.get(m, "") for m in bests), r["error"]])
    tmp.replace(path)  # a reader never sees half a table


def run_sweep(file: str, axes: list[tuple[str, list[Any]]], out: str, *,
              sample: int | None = None, max_steps: int | None = None, jobs: int = 1,
              seed: int = 0, force: bool = False, say=print,
              points: list[dict[str, Any]] | None = None,
              labels: list[str] | None = None) -> int:
    """Train the grid of ``axes`` or, given, the explicit ``points`` (each run's settings;
    ``labels`` name the runs in a ``variant`` column — see ``runtime.variants``)."""
    from builder.serialize import load

    base = load(file)
    if points is None:
        points = grid(axes, sample, seed)
    else:
        axes = [(k, []) for k in dict.fromkeys(k for p in points for k in p)]
    texts = [check_point(base, point) for point in points]  # all checked before any trains
    folder = Path(out)
    if folder.exists() and any(folder.iterdir()) and not force:
        raise FileExistsError(f"{folder} is not empty; pass --force to replace its runs")
    folder.mkdir(parents=True, exist_ok=True)
    keys, rows = [k for k, _ in axes], {}
    results = folder / "results.csv"
    say(f"sweep: {len(points)} run(s) of {Path(file).name} over "
        f"{', '.join(labels or keys)}"
        + (f" in {jobs} processes" if jobs > 1 else ""))

    def done(i: int, row: dict) -> None:
        rows[i] = row
        _write_results(results, keys, rows, points, labels)
        shown = labels[i] if labels else ", ".join(f"{k}={v}" for k, v in points[i].items())
        figure = f"best {row['best'][0]} {row['best'][1]:.4g}" if row["best"] else ""
        say(f"run-{i + 1:03d} ({shown}): {row['status']} after {row['steps']} steps, "
            f"{row['seconds']} s {figure}" + (f" — {row['error']}" if row["error"] else ""))

    if jobs <= 1:
        for i, text in enumerate(texts):
            done(i, _train_one(text, str(folder / f"run-{i + 1:03d}"), max_steps, 0))
    else:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_train_one, text, str(folder / f"run-{i + 1:03d}"),
                                   max_steps, _threads(jobs)): i
                       for i, text in enumerate(texts)}
            for future in as_completed(futures):
                done(futures[future], future.result())
    say(f"results: {results}")
    ok = all(r["status"] in ("completed", "max_steps", "early_stopping") for r in rows.values())
    return 0 if ok else 1


def _threads(jobs: int) -> int:
    """Torch threads per worker: the cores shared out, so J workers do not fight."""
    import os

    return max(1, (os.cpu_count() or 1) // jobs)


# --- the command line ----------------------------------------------------------------------


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1; received {text!r}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="train the project once per combination of settings and "
                                     "tabulate the results")
    p.add_argument("file", help="a .loom project")
    p.add_argument("--set", action="append", default=[],
                   metavar="KEY=V1,V2,…", dest="sets",
                   help="values of one setting: training.lr, training.batch_size, "
                        "recipe.<param>, dataset.<param> or <network>/<node>.<param>; "
                        "repeat for a grid; without --set, the project's prepared "
                        "sweep runs")
    p.add_argument("--variants", action="store_true",
                   help="train the project's variants (its \"variants\"), one run each, "
                        "instead of a grid of --set values")
    p.add_argument("--random", type=_count, metavar="N",
                   help="train N random points of the grid instead of all of it")
    p.add_argument("--max-steps", type=_count, metavar="N", help="stop each run after N steps")
    p.add_argument("--jobs", type=_count, default=1, metavar="J",
                   help="train J runs at a time in worker processes (default 1)")
    p.add_argument("--seed", type=int, default=0, help="for --random (default 0)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="where results.csv and each run's folder go")
    p.add_argument("--force", action="store_true", help="replace the runs in a non-empty DIR")


def prepared_sweep(file: str) -> tuple[list[tuple[str, list[Any]]], dict[str, Any]]:
    """The axes of the project's prepared sweep (``Project.sweep``) and the sweep itself;
    ValueError saying what to pass when the project has none."""
    from builder.serialize import load

    prepared = load(file).sweep
    if not prepared:
        raise ValueError(f"{Path(file).name} has no prepared sweep: give the settings to vary "
                         "with --set KEY=V1,V2,… (or --variants), or save a sweep in the "
                         "project (\"sweep\" in the file, or Save as the project's sweep in "
                         "the Sweep dialog)")
    return list(prepared["set"].items()), prepared


def cmd_sweep(args) -> int:
    try:
        if getattr(args, "variants", False):
            from runtime.variants import run_variants

            if args.sets or args.random:
                raise ValueError("--variants trains the project's own variants: leave out "
                                 "--set and --random")
            return run_variants(args.file, args.out, max_steps=args.max_steps,
                                jobs=args.jobs, force=args.force)
        sample, max_steps = args.random, args.max_steps
        if args.sets:  # an explicit --set replaces the project's prepared sweep entirely
            axes = [parse_set(s) for s in args.sets]
            if len({k for k, _ in axes}) != len(axes):
                raise ValueError("a KEY is given in two --set options; list its values in one")
        else:
            axes, prepared = prepared_sweep(args.file)
            sample = sample or prepared.get("random")
            max_steps = max_steps or prepared.get("max_steps")
        return run_sweep(args.file, axes, args.out, sample=sample,
                         max_steps=max_steps, jobs=args.jobs, seed=args.seed,
                         force=args.force)
    except FileExistsError as e:
        print(f"layerloom: {e}", file=sys.stderr)
        return 2
