"""The inspector's "On an image" section: a kernel on one image of the data, equivariance
and pooling's invariance, in the real window."""

import numpy as np
from training_helpers import wait_for

from builder.gallery import template_path
from builder.serialize import load


def select(window, node_id):
    window.current_view().scene().select_nodes([node_id])
    assert window.inspector.node_id == node_id


def test_lenet_conv1_on_a_digit_with_a_preset_then_its_own_filter(window):
    window.model.replace(load(template_path("lenet")), None)
    select(window, "conv1")
    demo = window.inspector.conv_demo
    assert demo.isVisible() and window.inspector.conv_head.isVisible()
    wait_for(lambda: "sample" in demo.said.text(), 30_000)  # the data's image replaces
    demo.kernel.setCurrentText("edge: Sobel x")
    image, out = demo.shown
    assert image.shape == (28, 28) and out.shape == (30, 30)  # the layer's padding 2, k=3
    assert not demo.picture_in.pixmap().isNull() and not demo.picture_out.pixmap().isNull()
    # the layer's padding 2 with a 3×3 kernel grows the map (its own 5×5 keeps 28)
    assert "H, W: ⌊(28 + 2·2 − 1·(3−1) − 1)/1⌋ + 1 = 30" in demo.said.text()
    demo.shift.setChecked(True)
    assert demo.error is not None and demo.error < 1e-9 and "moved by 3×3" in demo.said.text()
    demo.kernel.setCurrentText("this layer's filter")
    assert demo.index.isVisible() and demo.index.maximum() == 5
    demo.index.setValue(2)
    assert "filter 2 of 6, fresh" in demo.said.text() and demo.error < 1e-9
    select(window, "pool1")  # AvgPool2d: invariance instead
    assert not demo.kernel.isVisible()
    assert "did not change" in demo.said.text() and 0 <= demo.error <= 1
    select(window, "tanh1")
    assert not demo.isVisible() and window.inspector.curve_plot.isVisible()


def test_a_network_without_images_shows_no_traceback(window):
    # The MLP example trains on 2-D points: the section, asked to show a pooling block
    # there, loads the data in earnest, finds no image and falls back to its synthetic one.
    select(window, "relu1")
    demo = window.inspector.conv_demo
    assert not demo.isVisible()
    demo.set_node(window.model.project, "main", "hidden1", "MaxPool2d", {"kernel": 2})
    wait_for(lambda: "synthetic image (the data has no images)" in demo.said.text(), 30_000)
    assert demo.shown[0].shape == (28, 28) and np.isfinite(demo.shown[1]).all()
    assert not window.errors
