"""The training dock's Predict tab under the real main window: a run trained from the toolbar,
then validation samples picked, files dropped with real drop events, rows typed."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from training_helpers import image_npz, small_cnn, train, wait_for


def _open_tab(window):
    dock = window.training.dock
    dock.tabs.setCurrentWidget(dock.predict)
    panel = dock.predict
    wait_for(lambda: panel.predictor is not None, 20_000)
    return panel


def _drop(widget, mime: QMimeData) -> None:
    """Real drag-enter, drag-move and drop events, as the window system delivers them."""
    at = widget.rect().center()
    for cls in (QDragEnterEvent, QDragMoveEvent):
        event = cls(at, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
        QApplication.sendEvent(widget, event)
        assert event.isAccepted()
    drop = QDropEvent(QPointF(at), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, drop)
    assert drop.isAccepted()


def test_pick_a_validation_image_then_drop_files(window, qtbot, tmp_path):
    small_cnn(window, image_npz(tmp_path / "squares.npz"))
    train(qtbot, window, steps=12)
    assert window.training.bridge.last_failure is None
    panel = _open_tab(window)
    assert panel.run_combo.count() == 1 and not panel.error_text()
    assert panel.samples.count() > 5

    panel.samples.setCurrentRow(1)
    sample = panel.samples.item(1).data(Qt.UserRole)
    expected = panel.predictor.predict([sample], 5)[0]
    rows = panel.rows()
    assert [r[0] for r in rows] == [c for c, _ in expected.classes]  # both classes, best first
    assert rows[0][1] == f"{expected.classes[0][1]:.3f}"
    assert "true:" in panel.answer.text()
    assert not panel.view.pixmap().isNull()  # the 8×8 input, de-standardised, enlarged

    # A PNG of that sample, dropped on the panel: the same answer, to 8-bit rounding.
    image = panel.predictor.shown(sample)
    path = tmp_path / "mine.png"
    Image.fromarray((image[0] * 255 + 0.5).astype(np.uint8)).save(path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    _drop(panel, mime)
    assert "mine.png" in panel.view_title.text() and not panel.error_text()
    assert panel.rows()[0][0] == expected.classes[0][0]

    # Something the network cannot take: a message in the panel, never a traceback.
    text = QMimeData()
    text.setText("1,2")
    _drop(panel, text)
    assert "takes images [1, 8, 8]" in panel.error_text()
    assert "Traceback" not in panel.error_text()
    panel.pick_random()  # still answers afterwards
    assert not panel.error_text() and panel.rows()


def test_a_typed_row_answers_and_top_k_follows(window, qtbot):
    train(qtbot, window, steps=20)  # the MLP example: points of a spiral, three arms
    panel = _open_tab(window)
    panel.line.setText("0.3,-0.4")
    qtbot.keyClick(panel.line, Qt.Key_Return)
    assert not panel.error_text()
    assert len(panel.rows()) == 3
    probs = [float(v) for _, v in panel.rows()]
    assert probs == sorted(probs, reverse=True) and abs(sum(probs) - 1) < 0.01
    panel.top.setValue(1)
    assert len(panel.rows()) == 1
    panel.line.setText("1,2,3")
    qtbot.keyClick(panel.line, Qt.Key_Return)
    assert "expects [2] per sample" in panel.error_text()
