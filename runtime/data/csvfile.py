"""A table from a CSV file: one or more target columns, every other column an input feature.

Column types are inferred: a column is numeric when every non-empty cell reads as a number
(its empty cells are filled with the column mean); otherwise it is categorical and becomes
one 0/1 input per category.  With ``task = auto`` a single target is a classification target
when it is categorical — text, or whole numbers with at most ``MAX_CODED_CLASSES`` distinct
values (class codes like 0/1/2) — and a regression target otherwise.  Several target columns
that hold only 0 and 1 make a multilabel task, any other several a multi-output regression.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import torch

from builder.blocks.spec import Param
from runtime.data.core import DataInfo, FieldInfo, TensorData
from runtime.data.registry import (
    NORMALIZE,
    SEED,
    VAL_FRACTION,
    DatasetSpec,
    register,
    require_path,
)

__all__ = ["read_csv", "table_task", "MAX_CODED_CLASSES", "MAX_CATEGORIES"]

MAX_CODED_CLASSES = 20
MAX_CATEGORIES = 100
TASK_CHOICES = ("auto", "classification", "regression", "multilabel")
_DELIMITERS = {"auto": None, "comma": ",", "semicolon": ";", "tab": "\t", "space": " "}


def _number(cell: str) -> float | None:
    try:
        v = float(cell)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def read_csv(path: str | Path, header: bool = True, delimiter: str = "auto"):
    """(column names, rows as lists of stripped strings) with every row checked for width."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    sep = _DELIMITERS[delimiter]
    if sep is None:
        try:
            sep = csv.Sniffer().sniff(text[:8192], delimiters=",;\t").delimiter
        except csv.Error:
            sep = ","
    rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text), delimiter=sep)]
    numbered = [(i + 1, r) for i, r in enumerate(rows) if any(rows[i])]
    if not numbered:
        raise ValueError(f"{path.name} holds no rows")
    names = numbered.pop(0)[1] if header else [f"column {i}" for i in range(len(numbered[0][1]))]
    for line, r in numbered:
        if len(r) != len(names):
            raise ValueError(f"{path.name}, line {line}: {len(r)} cells where the header has "
                             f"{len(names)}")
    if not numbered:
        raise ValueError(f"{path.name} has a header but no data rows")
    return names, [r for _, r in numbered]


def _resolve(names: list[str], target: str) -> list[int]:
    if not target.strip():
        return [len(names) - 1]
    out = []
    for t in (s.strip() for s in target.split(",")):
        if t in names:
            out.append(names.index(t))
        elif t.isdigit() and int(t) < len(names):
            out.append(int(t))
        else:
            raise ValueError(f"no column {t!r}; the columns are: {', '.join(names)}")
    if len(out) == len(names):
        raise ValueError("every column is a target: at least one must be left as input")
    return out


def _features(names, columns):
    """Numeric columns as-is (gaps filled with the mean), text columns one-hot."""
    parts, labels = [], []
    for name, cells in zip(names, columns, strict=True):
        nums = [_number(c) if c else None for c in cells]
        if all(v is not None or not c for v, c in zip(nums, cells, strict=True)):
            known = [v for v in nums if v is not None]
            if not known:
                raise ValueError(f"column {name!r} is empty")
            fill = sum(known) / len(known)
            parts.append(np.array([fill if v is None else v for v in nums])[:, None])
            labels.append(name)
            continue
        cats = sorted(set(cells))
        if len(cats) > MAX_CATEGORIES:
            raise ValueError(f"column {name!r} has {len(cats)} different text values; at most "
                             f"{MAX_CATEGORIES} can be one-hot encoded")
        index = {c: i for i, c in enumerate(cats)}
        parts.append(np.eye(len(cats))[[index[c] for c in cells]])
        labels += [f"{name}={c}" for c in cats]
    return np.concatenate(parts, 1).astype(np.float32), labels


def table_task(values: list[list[str]], task: str) -> str:
    """The task that target columns ``values`` (one list of cells per column) call for."""
    if task != "auto":
        return task
    numeric = [[_number(c) for c in col] for col in values]
    if len(values) > 1:
        flat = [v for col in numeric for v in col]
        return "multilabel" if all(v in (0.0, 1.0) for v in flat) else "regression"
    col = numeric[0]
    if any(v is None for v in col):
        return "classification"
    coded = all(v.is_integer() for v in col) and len(set(col)) <= MAX_CODED_CLASSES
    return "classification" if coded else "regression"


def _targets(names: list[str], values: list[list[str]], task: str):
    for name, col in zip(names, values, strict=True):
        if any(not c for c in col):
            raise ValueError(f"target column {name!r} has empty cells (row "
                             f"{[not c for c in col].index(True) + 1})")
    if task == "classification":
        if len(values) != 1:
            raise ValueError("classification takes exactly one target column")
        col = values[0]
        nums = [_number(c) for c in col]
        if all(v is not None for v in nums):  # numeric class codes: order them as numbers
            classes = [c for _, c in sorted({(v, c) for v, c in zip(nums, col, strict=True)})]
        else:
            classes = sorted(set(col))
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[c] for c in col], np.int64)
        return y, FieldInfo((), "label", "int64"), tuple(classes)
    nums = np.array([[_number(c) for c in col] for col in values], dtype=object).T
    if (nums == None).any():  # noqa: E711 - elementwise test on an object array
        raise ValueError(f"{task} targets must be numbers; column(s) {', '.join(names)} hold "
                         "text")
    y = nums.astype(np.float32)
    if task == "multilabel" and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("multilabel targets must be 0 or 1")
    return y, FieldInfo((y.shape[1],), "target", "float32"), ()


def _build(p, ctx):
    names, rows = read_csv(require_path(p, "a CSV file"), p["header"], p["delimiter"])
    targets = _resolve(names, p["target"])
    columns = list(zip(*rows, strict=True))
    inputs = [i for i in range(len(names)) if i not in targets]
    x, feature_names = _features([names[i] for i in inputs], [columns[i] for i in inputs])
    t_names = [names[i] for i in targets]
    t_values = [list(columns[i]) for i in targets]
    task = table_task(t_values, p["task"])
    y, fy, classes = _targets(t_names, t_values, task)
    info = DataInfo(
        Path(p["path"]).stem, task,
        {"x": FieldInfo((x.shape[1],), "vector", "float32"), "y": fy},
        num_classes=len(classes) or None, class_names=classes, source=str(p["path"]),
        extra={"feature_names": tuple(feature_names), "target_names": tuple(t_names)},
    )
    return TensorData({"x": torch.from_numpy(x), "y": torch.from_numpy(y)}), info


register(
    DatasetSpec(
        "csv", "CSV table", "Rows of a CSV file: pick the column to predict, the rest are inputs.",
        "file", "Your files", "auto",
        (Param("path", "str", "", help="The CSV file."),
         Param("target", "str", "", help="Column(s) to predict, by name or number, separated "
               "by commas (empty: the last column)."),
         Param("task", "choice", "auto", choices=TASK_CHOICES,
               help="auto: text or few whole-number values mean classes, else regression."),
         Param("header", "bool", True, help="The first row holds column names."),
         Param("delimiter", "choice", "auto", choices=tuple(_DELIMITERS)),
         NORMALIZE, SEED, VAL_FRACTION),
        _build,
        paths=(("path", "*.csv *.tsv *.txt"),),
    ),
)
