"""Run history on disk (no Qt): every run is a folder with the exact project it trained
(``project.loom``: graph and settings), its metrics (``metrics.csv``/``metrics.jsonl``), its
checkpoint and final weights, and ``run.json`` (label, status, steps, final metrics).

Runs of a saved project live beside it in ``runs/<stem>-NNN-<date>-<time>`` (the CLI's
``runs/<stem>-<date>-<time>`` folders, made in the same place, are listed too).  Runs of an
untitled project go to a temporary folder and move beside the file when it is first saved.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from builder.document import Project
from builder.serialize import LoomError, load, save

__all__ = ["RunRecord", "RunStore", "optimizer_summary"]

UNTITLED = "untitled"


def optimizer_summary(project: Project) -> str:
    """"adam lr 0.01" for one network, "generator adam 0.001 · discriminator sgd 0.1" else."""
    s = project.training
    parts = []
    for name in project.networks:
        opt = s.optimizer_for(name)
        extra = ""
        if "momentum" in opt.params and opt.name not in ("adam", "adamw"):
            extra = f" m {opt.params['momentum']:g}"
        text = f"{opt.name} lr {opt.lr:g}{extra}"
        parts.append(text if len(project.networks) == 1 else f"{name} {text}")
    return " · ".join(parts)


@dataclass
class RunRecord:
    folder: Path
    number: int
    label: str
    created: float
    status: str = "running"  # running, or a Finished reason (completed, stopped, failed…)
    steps: int = 0
    epochs: int = 0
    seconds: float = 0.0
    final: dict[str, float] = field(default_factory=dict)
    message: str = ""  # the failure's message, if it failed
    dataset: str = ""
    recipe: str = ""
    optimizer: str = ""

    @property
    def name(self) -> str:
        return self.folder.name

    def project(self) -> Project | None:
        try:
            return load(self.folder / "project.loom")
        except (LoomError, OSError):
            return None

    def save(self) -> None:
        data = asdict(self)
        data["folder"] = self.folder.name
        (self.folder / "run.json").write_text(json.dumps(data, indent=2), encoding="utf-8")

    @classmethod
    def read(cls, folder: Path, number: int) -> RunRecord | None:
        info = folder / "run.json"
        if info.is_file():
            try:
                data = json.loads(info.read_text(encoding="utf-8"))
                data["folder"] = folder
                known = {f for f in cls.__dataclass_fields__}
                return cls(**{k: v for k, v in data.items() if k in known})
            except (ValueError, TypeError):
                pass
        if not (folder / "project.loom").is_file():
            return None
        # A run of the command line: no run.json, but the project and metrics are there.
        record = cls(folder, number, f"#{number} {folder.name}", folder.stat().st_mtime,
                     status="finished")
        project = record.project()
        if project is not None:
            record.optimizer = optimizer_summary(project)
            record.dataset, record.recipe = project.dataset.name, project.recipe.name
            record.label = f"#{number} {record.optimizer}"
        return record


class RunStore:
    """The runs of one project (``path``: its .loom file, or None while untitled)."""

    def __init__(self, path: str | Path | None = None):
        self._temp: Path | None = None
        self.pinned = False  # True: stays where it is when the project is saved elsewhere
        self.root, self.stem = self._where(path)

    def _where(self, path) -> tuple[Path, str]:
        if path is None:
            if self._temp is None:
                self._temp = Path(tempfile.mkdtemp(prefix="layerloom-runs-"))
            return self._temp, UNTITLED
        path = Path(path)
        return path.parent / "runs", path.stem

    def follows(self, path: str | Path) -> bool:
        """True when this store already keeps the runs of the project at ``path``."""
        p = Path(path)
        return self.pinned or (self.root == p.parent / "runs" and self.stem == p.stem)

    @property
    def temporary(self) -> bool:
        return self._temp is not None and self.root == self._temp

    def _pattern(self) -> re.Pattern:
        return re.compile(re.escape(self.stem) + r"-(\d{3,})-")

    def records(self) -> list[RunRecord]:
        if not self.root.is_dir():
            return []
        found = []
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or not folder.name.startswith(self.stem + "-"):
                continue
            m = self._pattern().match(folder.name)
            number = int(m.group(1)) if m else 0
            record = RunRecord.read(folder, number)
            if record is not None:
                found.append(record)
        found.sort(key=lambda r: (r.created, r.number))
        return found

    def create(self, project: Project) -> RunRecord:
        """A new run folder holding the project as it will be trained."""
        self.root.mkdir(parents=True, exist_ok=True)
        numbers = [r.number for r in self.records()]
        number = max(numbers, default=0) + 1
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = self.root / f"{self.stem}-{number:03d}-{stamp}"
        while folder.exists():
            number += 1
            folder = self.root / f"{self.stem}-{number:03d}-{stamp}"
        folder.mkdir(parents=True)
        save(project, folder / "project.loom")
        optimizer = optimizer_summary(project)
        record = RunRecord(folder, number, f"#{number} {optimizer}", time.time(),
                           dataset=project.dataset.name, recipe=project.recipe.name,
                           optimizer=optimizer)
        record.save()
        return record

    def move_to(self, path: str | Path) -> list[RunRecord]:
        """The project was saved as ``path``: follow it, bringing untitled runs along."""
        old_root, old_stem, was_temp = self.root, self.stem, self.temporary
        self.root, self.stem = self._where(path)
        if not was_temp or old_root == self.root:
            return self.records()
        self.root.mkdir(parents=True, exist_ok=True)
        for folder in sorted(old_root.iterdir()) if old_root.is_dir() else []:
            if folder.is_dir() and folder.name.startswith(old_stem + "-"):
                target = self.root / (self.stem + folder.name[len(old_stem):])
                if not target.exists():
                    shutil.move(str(folder), target)
                    info = target / "run.json"
                    if info.is_file():
                        record = RunRecord.read(target, 0)
                        if record is not None:
                            record.save()
        return self.records()

    def delete(self, record: RunRecord) -> None:
        shutil.rmtree(record.folder, ignore_errors=True)
