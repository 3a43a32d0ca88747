"""The autoencoder family's gallery templates (written by packaging/build_templates.py)."""

from __future__ import annotations

BUILDERS: dict = {}  # template name → function returning a Project
