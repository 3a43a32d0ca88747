"""Helpers for the standalone previews at the bottom of panel modules:
``python -m app.inspector.panel`` shows the inspector on the MLP example, and so on."""

from __future__ import annotations

import sys

from app.application import make_app
from app.document_model import DocumentModel
from app.file_ops import fallback_mlp
from builder.commands import Document
from builder.gallery import DEFAULT, template_path
from builder.serialize import LoomError, load

__all__ = ["preview_model", "run_preview"]


def preview_model() -> DocumentModel:
    make_app()
    try:
        project = load(template_path(DEFAULT))
    except LoomError:
        project = fallback_mlp()
    return DocumentModel(Document(project))


def run_preview(make_widget, size=(360, 640)) -> int:
    """Show what ``make_widget()`` returns (called once the QApplication exists)."""
    app = make_app()
    widget = make_widget()
    widget.resize(*size)
    widget.show()
    return app.exec() if "--no-exec" not in sys.argv else 0
