"""Persistent user settings (theme, snapping, recent files) in one ini file.

``LAYERLOOM_CONFIG_DIR`` overrides the folder, so tests and portable installs never touch the
user's real settings.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

__all__ = ["config_dir", "store", "recent_files", "add_recent", "remove_recent", "MAX_RECENT"]

MAX_RECENT = 10


def config_dir() -> Path:
    override = os.environ.get("LAYERLOOM_CONFIG_DIR")
    if override:
        folder = Path(override)
    else:
        base = QStandardPaths.writableLocation(QStandardPaths.GenericConfigLocation)
        folder = Path(base or Path.home() / ".config") / "layerloom"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store() -> QSettings:
    return QSettings(str(config_dir() / "settings.ini"), QSettings.IniFormat)


def recent_files() -> list[str]:
    value = store().value("recent", [])
    if isinstance(value, str):  # QSettings returns a lone string for one-element lists
        value = [value]
    return [str(v) for v in value or [] if v]


def add_recent(path: str | Path) -> list[str]:
    path = str(Path(path).resolve())
    files = [path] + [f for f in recent_files() if f != path]
    store().setValue("recent", files[:MAX_RECENT])
    return files[:MAX_RECENT]


def remove_recent(path: str | Path) -> None:
    path = str(path)
    store().setValue("recent", [f for f in recent_files() if f != path])
