"""Copy and paste of nodes through the system clipboard, as a small ``.loom`` project.

Using the project format means a paste is read as strictly as a file: whatever is on the
clipboard can never put an invalid node into the document.  It also pastes between networks,
windows and Layerloom instances.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QGuiApplication

from builder.document import Network, Project
from builder.serialize import LoomError, dumps, loads

__all__ = ["MIME_NODES", "put_fragment", "get_fragment", "fragment_text", "parse_fragment"]

MIME_NODES = "application/x-layerloom-nodes"


def fragment_text(fragment: Network) -> str:
    fragment.name = "main"
    return dumps(Project(networks={"main": fragment}))


def parse_fragment(text: str) -> Network | None:
    try:
        project = loads(text)
    except LoomError:
        return None
    return next(iter(project.networks.values()), None)


def put_fragment(fragment: Network) -> None:
    text = fragment_text(fragment)
    mime = QMimeData()
    mime.setData(MIME_NODES, text.encode("utf-8"))
    mime.setText(text)
    QGuiApplication.clipboard().setMimeData(mime)


def get_fragment() -> Network | None:
    mime = QGuiApplication.clipboard().mimeData()
    if mime is None:
        return None
    if mime.hasFormat(MIME_NODES):
        return parse_fragment(bytes(mime.data(MIME_NODES)).decode("utf-8"))
    if mime.hasText() and mime.text().lstrip().startswith("{"):
        return parse_fragment(mime.text())
    return None
