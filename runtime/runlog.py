"""A run's metrics on disk: ``metrics.csv`` (step, epoch, split, name, value) for
spreadsheets and plots, and ``metrics.jsonl`` with every event for anything else.

CSV splits: ``train`` (each step's metrics, and the learning rate as ``lr/<network>``),
``train_epoch`` (epoch means of the step metrics) and ``val`` (validation at epoch end).
Steps count from 1 (optimisation steps done), epochs from 0, as in the events.  Sample
payloads are not copied into the JSONL (only their name, kind and shape).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from runtime.events import (
    EpochSummary,
    Finished,
    LearningRate,
    Samples,
    StepMetrics,
    to_json,
)

__all__ = ["MetricsWriter", "CSV_COLUMNS"]

CSV_COLUMNS = ("step", "epoch", "split", "name", "value")


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
