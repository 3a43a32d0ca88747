"""Data shipped with Layerloom: gallery templates, icons, theme.  No code beyond paths."""

from pathlib import Path

__all__ = ["ROOT", "TEMPLATES"]

ROOT = Path(__file__).resolve().parent
TEMPLATES = ROOT / "templates"
