"""The further data streams of a recipe that reads more than one dataset (source and target,
domain A and B): one ``DatasetForm`` per stream after the first, headed by the stream's name
and help.  The first stream is the project's own dataset, shown by the panel's main form.

Edits are ``builder.commands.SetFields``: a recipe change and the stream bindings it drops
undo together."""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.training.dataset_form import DatasetForm
from builder.document import DatasetConfig

__all__ = ["StreamForms", "stream_title"]


def stream_title(stream) -> str:
    """A stream's heading: its name in bold, then what it is for."""
    text = f"<b>{html.escape(stream.name)}</b>"
    return text + (f" — {html.escape(stream.help)}" if stream.help else "")


class StreamForms(QWidget):
    """A dataset form per further stream; hidden when the recipe reads one dataset."""

    changed = Signal(str, object)  # stream name, its new DatasetConfig

    def __init__(self, parent=None):
        super().__init__(parent)
        self.forms: dict[str, DatasetForm] = {}
        self.titles: dict[str, QLabel] = {}
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(0, 6, 0, 0)
        self._lay.setSpacing(4)
        self.hide()

    def show_streams(self, streams, bound: dict[str, DatasetConfig]) -> None:
        """Show ``streams[1:]`` (a recipe's declared streams) with their bound datasets."""
        further = tuple(streams[1:])
        if tuple(self.forms) != tuple(s.name for s in further):
            self._build(further)
        for name, form in self.forms.items():
            config = bound.get(name)
            form.show_config(config or DatasetConfig("", {}))
            if config is None:  # no header of the list pretends to be the choice
                form.combo.setCurrentIndex(-1)
                form.about.setText("No dataset yet: choose the one this stream reads.")
        self.setVisible(bool(further))

    def _build(self, further) -> None:
        while self._lay.count():
            widget = self._lay.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.forms.clear()
        self.titles.clear()
        for stream in further:
            title = QLabel(stream_title(stream))
            title.setWordWrap(True)
            title.setToolTip(f"The dataset the recipe reads as stream {stream.name!r}; its "
                             f"fields reach the recipe as {stream.name}.<field>")
            form = DatasetForm()
            form.combo.setPlaceholderText("Choose a dataset…")
            form.changed.connect(lambda cfg, n=stream.name: self.changed.emit(n, cfg))
            self._lay.addWidget(title)
            self._lay.addWidget(form)
            self.forms[stream.name], self.titles[stream.name] = form, title
