"""The inspector's "Curve" section: an activation's f and f' with the block's own params."""

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from builder.gallery import template_path
from builder.serialize import load


def select(window, node_id):
    window.current_view().scene().select_nodes([node_id])
    assert window.inspector.node_id == node_id


def test_selecting_a_relu_shows_its_curve_and_derivative(window):
    select(window, "relu1")  # the MLP example
    panel = window.inspector
    plot = panel.curve_plot
    assert plot.isVisible() and panel.curve_head.isVisible()
    x, y = plot.f.getData()
    _, dy = plot.df.getData()
    assert len(plot.plot.getPlotItem().listDataItems()) == 2
    assert np.array_equal(y, np.maximum(x, 0)) and set(np.unique(dy)) == {0.0, 1.0}
    select(window, "hidden1")  # a Linear has no curve
    assert not plot.isVisible() and not panel.curve_head.isVisible()


def test_typing_a_new_leaky_slope_redraws_the_curve(window):
    project = load(template_path("mlp"))
    node = project.networks["main"].nodes["relu1"]
    node.block, node.params = "LeakyReLU", {"alpha": 0.1}
    window.model.replace(project, None)
    select(window, "relu1")
    plot = window.inspector.curve_plot
    assert np.allclose(plot.df.getData()[1][:10], 0.1)
    editor = window.inspector.fields["alpha"].editor
    editor.setFocus()
    editor.selectAll()
    QTest.keyClicks(editor, "0.3")
    QTest.keyClick(editor, Qt.Key_Return)
    assert window.model.project.networks["main"].nodes["relu1"].params["alpha"] == 0.3
    x, y = plot.f.getData()
    assert np.allclose(y[x < 0], 0.3 * x[x < 0]) and np.allclose(plot.df.getData()[1][:10], 0.3)
