"""Gallery templates of the sequence and structure family (see build_templates.py)."""

from __future__ import annotations

__all__ = ["BUILDERS"]

BUILDERS: dict = {}
