"""A run folder on disk: its metrics, its record, and the previous run kept until a new run
in the same folder has trained.

``metrics.csv`` (step, epoch, split, name, value) is for spreadsheets and plots,
``metrics.jsonl`` holds every event for anything else.  ``run.json`` (``write_record``) says
at the end of a run whether the folder's weights are trained, so that exports and samples can
warn about untrained ones (``weights_warning``); the editor keeps its own record of a run in
the same file (``app/training/runs.py``), whose keys are kept.  ``PreviousRun`` keeps what a
run folder held before a resume or a forced re-run until the new run has trained a step, and
puts it back otherwise: a run that fails before training never costs the weights before it.

CSV splits: ``train`` (each step's metrics, and the learning rate as ``lr/<network>``),
``train_epoch`` (epoch means of the step metrics), ``val`` (validation at epoch end),
``grad`` (per-layer gradient norms named ``<network>/<node id>``, one row per layer and
snapshot; how often: the ``stats_every`` training setting) and ``sparsity`` (the share of
near-zero weights, ``runtime.sparsity``: per layer as ``<network>/<node id>`` and over the
whole network as ``<network>``, at the same snapshots).
Steps count from 1 (optimisation steps done), epochs from 0, as in the events.  Sample
payloads are not copied into the JSONL (only their name, kind and shape).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from runtime.events import (
    EpochSummary,
    Finished,
    GradientStats,
    LearningRate,
    Samples,
    StepMetrics,
    WeightStats,
    to_json,
)

__all__ = ["MetricsWriter", "CSV_COLUMNS", "RECORD", "REPLACED", "write_record", "read_record",
           "weights_warning", "PreviousRun"]

CSV_COLUMNS = ("step", "epoch", "split", "name", "value")
RECORD = "run.json"
REPLACED = ".previous-run"  # a run being replaced (--force), until the new one has trained
_BACKUP = ".resume-backup"  # copies of a run's files while a resume of it starts
_APPENDED = ("metrics.csv", "metrics.jsonl")


class MetricsWriter:
    """An event callback that appends to ``run_dir/metrics.csv`` and ``metrics.jsonl``."""

    def __init__(self, run_dir: str | Path, append: bool = False):
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        mode = "a" if append else "w"
        csv_path = run_dir / "metrics.csv"
        fresh = not (append and csv_path.exists())
        self._csv_file = open(csv_path, mode, newline="", encoding="utf-8")
        self._csv = csv.writer(self._csv_file)
        if fresh:
            self._csv.writerow(CSV_COLUMNS)
        self._jsonl = open(run_dir / "metrics.jsonl", mode, encoding="utf-8")
        self._epoch = 0

    def __call__(self, event) -> None:
        if self._csv_file.closed:
            return
        if isinstance(event, StepMetrics):
            self._epoch = event.epoch
            for name, value in event.values.items():
                self._csv.writerow((event.step, event.epoch, "train", name, _num(value)))
        elif isinstance(event, EpochSummary):
            for split, values in (("train_epoch", event.train), ("val", event.val)):
                for name, value in values.items():
                    self._csv.writerow((event.step, event.epoch, split, name, _num(value)))
        elif isinstance(event, LearningRate):
            for net, lr in event.rates.items():
                self._csv.writerow((event.step, self._epoch, "train", f"lr/{net}", _num(lr)))
        elif isinstance(event, GradientStats):
            for layer, norm in event.norms.items():
                self._csv.writerow((event.step, self._epoch, "grad", f"{event.network}/{layer}",
                                    _num(norm)))
        elif isinstance(event, WeightStats):
            for layer, share in event.sparsity.items():
                self._csv.writerow((event.step, self._epoch, "sparsity",
                                    f"{event.network}/{layer}", _num(share)))
            self._csv.writerow((event.step, self._epoch, "sparsity", event.network,
                                _num(event.overall)))
        if isinstance(event, Samples):
            shape = list(np.shape(event.data)) if not isinstance(event.data, list) \
                else [len(event.data)]
            record = {"event": "samples", "step": event.step, "epoch": event.epoch,
                      "name": event.name, "kind": event.kind, "shape": shape}
        else:
            record = to_json(event)
        self._jsonl.write(json.dumps(record, allow_nan=False) + "\n")
        if isinstance(event, (EpochSummary, Finished)):
            self.flush()
        if isinstance(event, Finished):
            self.close()

    def flush(self) -> None:
        self._csv_file.flush()
        self._jsonl.flush()

    def close(self) -> None:
        if not self._csv_file.closed:
            self._csv_file.close()
            self._jsonl.close()


def _num(value: float) -> str:
    return repr(float(value))


# --- the run record -----------------------------------------------------------------------


def write_record(run_dir: str | Path, **record: Any) -> Path:
    """Write ``run_dir/run.json`` atomically: trained, steps, finished, recipe, networks…
    (added to what the file holds already, such as the editor's keys)."""
    path = Path(run_dir) / RECORD
    tmp = path.with_name(f".{RECORD}.tmp")
    record = {**(read_record(run_dir) or {}), **record}
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_record(run_dir: str | Path) -> dict[str, Any] | None:
    """The folder's run record; None when it has none (or an unreadable one)."""
    try:
        record = json.loads((Path(run_dir) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _from_checkpoint(folder: Path) -> dict[str, Any] | None:
    """What a checkpoint says of a folder from before run records (or of a checkpoint)."""
    from runtime.checkpoint import CheckpointError, read_meta

    for candidate in (folder / "checkpoint", folder):
        try:
            meta = read_meta(candidate)
        except CheckpointError:
            continue
        step = meta.get("step")
        return {"trained": isinstance(step, int) and step > 0, "steps": step,
                "finished": meta.get("reason", "?")}
    return None


def weights_warning(weights: str | Path) -> str | None:
    """One line for weights that are untrained (a record or a checkpoint says so) or whose
    folder records nothing; None for trained ones.  ``weights``: a run folder or a file."""
    weights = Path(weights)
    folder = weights if weights.is_dir() else weights.parent
    record = read_record(folder)
    steps = record.get("steps") if record else None
    if record and "trained" not in record:  # the editor's record: its steps say it
        record = {**record, "trained": steps > 0, "finished": record.get("status", "?")} \
            if type(steps) is int else None
    record = record or _from_checkpoint(folder)
    if record is None:
        return (f"note: {folder} has no run record ({RECORD}), so whether these weights are "
                "trained is unknown")
    steps = record.get("steps")
    if record.get("trained") is not True or not steps:
        return (f"warning: the weights in {folder} are untrained: their run ended "
                f"({record.get('finished', '?')}) after {steps or 0} steps")
    return None


# --- the run before ---------------------------------------------------------------------------


class PreviousRun:
    """What ``run_dir`` held before a run in it, kept until that run has trained.

    ``keep(run_dir, resume)``: on a resume, the folder's files are copied aside (the run
    continues their checkpoint; of the metrics, appended to, only the length is noted);
    otherwise what the folder holds is moved into ``.previous-run``.  ``settle(trained)``
    after the run drops the kept files when it trained and puts them back when not; a run
    with nothing before it keeps no untrained weights.  A run killed meanwhile leaves a
    replaced run in ``RUNDIR/.previous-run``.
    """

    def __init__(self, run_dir: Path, mode: str, kept: Path | None):
        self.run_dir, self.mode, self.kept = run_dir, mode, kept
        self.lengths: dict[str, int] = {}  # appended files: their length before

    @classmethod
    def keep(cls, run_dir: str | Path, resume: bool) -> PreviousRun:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        kept = run_dir / (_BACKUP if resume else REPLACED)
        shutil.rmtree(kept, ignore_errors=True)  # one left by a killed run
        entries = [p for p in run_dir.iterdir() if p.name not in (REPLACED, _BACKUP)]
        if not entries:
            return cls(run_dir, "fresh", None)
        kept.mkdir()
        out = cls(run_dir, "resume" if resume else "replace", kept)
        for p in entries:
            if not resume:
                os.replace(p, kept / p.name)
            elif p.name in _APPENDED and p.is_file():
                out.lengths[p.name] = p.stat().st_size
            elif p.is_file():
                _link_or_copy(p, kept / p.name)
        return out

    def settle(self, trained: bool) -> None:
        if trained:
            if self.kept is not None:
                shutil.rmtree(self.kept, ignore_errors=True)
            return
        if self.kept is None:  # nothing before: no untrained weights left behind
            for p in self.run_dir.glob("*.safetensors"):
                p.unlink(missing_ok=True)
            return
        names = {p.name for p in self.kept.iterdir()} | set(self.lengths)
        for name, length in self.lengths.items():
            os.truncate(self.run_dir / name, length)
        for p in list(self.run_dir.iterdir()):
            if p.name in (REPLACED, _BACKUP) or p.name in names:
                continue
            if self.mode == "replace" and p.is_dir():
                shutil.rmtree(p)
            elif p.is_file():  # on a resume, its folders (the checkpoint) stay
                p.unlink()
        for p in list(self.kept.iterdir()):
            if self.mode == "replace" and (self.run_dir / p.name).is_dir():
                shutil.rmtree(self.run_dir / p.name)
            os.replace(p, self.run_dir / p.name)
        shutil.rmtree(self.kept, ignore_errors=True)


def _link_or_copy(src: Path, dst: Path) -> None:
    """Weights are replaced by rename, never written in place: a hard link keeps the old
    ones at no cost.  Anything else is copied."""
    if src.suffix == ".safetensors":
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)
