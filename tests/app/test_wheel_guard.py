"""Scrolling the training setup never changes a setting: the wheel over a combo box or a
spin box that does not have focus scrolls the panel instead (it used to switch the recipe
from Classification to GAN on the way down)."""

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox

from builder.serialize import dumps


def _wheel(widget, notches: int = -3) -> None:
    """A real wheel event over the middle of ``widget`` (negative: scrolling down)."""
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(),
                        QPoint(0, 120 * notches), Qt.NoButton, Qt.NoModifier,
                        Qt.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_over_an_unfocused_recipe_combo_leaves_the_recipe(window, qtbot):
    settings = window.training.settings
    combo = settings.recipe
    before, recipe = combo.currentIndex(), window.model.project.recipe.name
    assert combo.count() > 2 and not combo.hasFocus()
    _wheel(combo, -3)
    _wheel(combo, 3)
    _wheel(combo, -1)
    assert combo.currentIndex() == before
    assert window.model.project.recipe.name == recipe


def test_no_unfocused_combo_or_spin_box_of_the_setup_turns_with_the_wheel(window, qtbot):
    panel = window.training.settings
    boxes = panel.findChildren(QComboBox) + panel.findChildren(QAbstractSpinBox)
    assert boxes
    before = dumps(window.model.project)
    values = [b.currentIndex() if isinstance(b, QComboBox) else b.text() for b in boxes]
    for box in boxes:
        if box.isEnabled() and not box.hasFocus():
            _wheel(box, -2)
    after = [b.currentIndex() if isinstance(b, QComboBox) else b.text() for b in boxes]
    assert after == values
    assert dumps(window.model.project) == before
