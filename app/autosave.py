"""Autosave to a recovery file every minute; after a crash, the next start offers it.

Each running editor writes ``recovery/autosave-<pid>.loom`` (plus a small ``.json`` naming the
project it came from) only while there are unsaved changes, and removes both on a clean exit
or a save.  Files whose process is gone are what a crash left behind.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from app import settings
from app.document_model import DocumentModel
from builder.serialize import save

__all__ = ["Autosaver", "Recovery", "leftovers", "recovery_dir", "INTERVAL_MS"]

INTERVAL_MS = 60_000


def recovery_dir() -> Path:
    folder = settings.config_dir() / "recovery"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass(frozen=True)
class Recovery:
    file: Path  # the autosaved project
    original: str | None  # the project it is a copy of; None for an untitled one
    saved_at: float

    def discard(self) -> None:
        self.file.unlink(missing_ok=True)
        self.file.with_suffix(".json").unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # no cheap, safe probe there; a leftover is then offered once more
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leftovers(folder: Path | None = None) -> list[Recovery]:
    """Recovery files of editors that did not exit cleanly, newest first."""
    folder = folder or recovery_dir()
    found = []
    for f in folder.glob("autosave-*.loom"):
        try:
            pid = int(f.stem.split("-", 1)[1])
        except ValueError:
            continue
        if _alive(pid):
            continue
        try:
            meta = json.loads(f.with_suffix(".json").read_text("utf-8"))
        except (OSError, ValueError):
            meta = {}
        found.append(Recovery(f, meta.get("original"), float(meta.get("saved_at",
                                                                      f.stat().st_mtime))))
    return sorted(found, key=lambda r: -r.saved_at)


class Autosaver(QObject):
    def __init__(self, model: DocumentModel, parent=None, folder: Path | None = None,
                 interval_ms: int = INTERVAL_MS):
        super().__init__(parent)
        self.model = model
        self.file = (folder or recovery_dir()) / f"autosave-{os.getpid()}.loom"
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.save_now)
        self.timer.start()

    def save_now(self) -> bool:
        """Write the recovery file if there is anything unsaved; remove it otherwise."""
        if not self.model.dirty:
            self.discard()
            return False
        try:
            save(self.model.project, self.file)
            meta = {"original": str(self.model.path) if self.model.path else None,
                    "saved_at": time.time()}
            self.file.with_suffix(".json").write_text(json.dumps(meta), "utf-8")
        except OSError:
            return False  # a full disk must not interrupt editing; the next tick retries
        self.file.with_name(self.file.name + ".bak").unlink(missing_ok=True)
        return True

    def discard(self) -> None:
        Recovery(self.file, None, 0).discard()
        self.file.with_name(self.file.name + ".bak").unlink(missing_ok=True)
