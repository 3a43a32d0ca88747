"""Comparisons: the variants a project holds (``Project.variants``, each the same network with
a few settings changed) trained in turn and read back side by side.

Running all variants is a sweep (``runtime.sweep``) whose points are the variants, labelled
with their names: ``layerloom sweep FILE --variants --out DIR`` writes ``DIR/results.csv``
with a ``variant`` column and ``DIR/run-NNN/metrics.csv`` per variant, in the project's order.
Each metrics.csv holds the per-layer gradient norms (split ``grad``), from which
``layer_gradients`` reads the last norm of every layer — the vanishing-gradient picture of
each variant."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from builder.document import Project

__all__ = ["variant_points", "check_variants", "run_variants", "layer_gradients",
           "gradient_ratio"]


def variant_points(project: Project) -> list[dict[str, Any]]:
    """One sweep point per variant, in the project's order: {KEY: value}."""
    return [dict(changes) for changes in project.variants.values()]


def check_variants(project: Project) -> None:
    """Check every variant as a sweep checks its points (types, shapes, ports); ValueError
    naming the variant and what is wrong."""
    from runtime.sweep import check_point

    for name, point in project.variants.items():
        try:
            check_point(project, point)
        except ValueError as e:
            raise ValueError(f"variant {name!r}: {e}") from None


def run_variants(file: str, out: str, *, max_steps: int | None = None, jobs: int = 1,
                 force: bool = False, say=print) -> int:
    """Train every variant of the project in ``file`` into ``out``; the sweep's exit code,
    or 2 (ValueError) when the project has no variants."""
    from builder.serialize import load
    from runtime.sweep import run_sweep

    project = load(file)
    if not project.variants:
        raise ValueError(f"{Path(file).name} has no variants to compare: add some under "
                         "\"variants\" (see docs/sweep.md)")
    check_variants(project)
    return run_sweep(file, [], out, max_steps=max_steps, jobs=jobs, force=force, say=say,
                     points=variant_points(project), labels=list(project.variants))


def layer_gradients(run_dir: str | Path) -> dict[str, float]:
    """The last gradient norm of each layer of one run (``network/node`` → norm), in the
    order the layers were first reported; {} where the run logged none."""
    last: dict[str, float] = {}
    try:
        with open(Path(run_dir) / "metrics.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row.get("split") == "grad":
                    last[row["name"]] = float(row["value"])
    except (OSError, KeyError, ValueError):
        pass
    return last


def gradient_ratio(norms: dict[str, float]) -> float | None:
    """First layer's gradient norm over the last layer's: far below 1 means the gradient
    vanishes on its way back to the input."""
    values = list(norms.values())
    if len(values) < 2 or not values[-1]:
        return None
    return values[0] / values[-1]
