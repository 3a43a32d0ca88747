"""The plane draws a heatmap's ``extra["paths"]`` as lines over it: the optimizer race's
trajectories on 2-D loss surfaces, one coloured line per optimizer with a legend."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication
from training_helpers import open_dock

from builder.document import OptimizerConfig
from runtime.recipes.optimizer_race import RATES
from runtime.recipes.surfaces import surface_samples


@pytest.fixture
def dock(qtbot):
    return open_dock(qtbot, 1200, 420)


def test_each_surface_is_a_view_with_one_line_per_optimizer(dock):
    configs = {n: OptimizerConfig(n, lr) for n, lr in RATES.items()}
    pictures = surface_samples(configs, step=10, epoch=1, steps=40)
    dock.tabs.setCurrentIndex(0)
    for e in pictures:
        dock.series.add(e)
    dock.refresh(force=True)
    QApplication.processEvents()
    panel = dock.picture
    assert panel.picker.keys() == [p.name for p in pictures]
    page = panel.page("plane")
    for picture in pictures:
        index = panel.picker.findData(picture.name)
        panel.picker.setCurrentIndex(index)
        panel.picker.activated.emit(index)  # the user's choice
        QApplication.processEvents()
        assert page.image.image.shape[:2] == picture.data.shape
        for name, path in picture.extra["paths"].items():
            x, y = page.lines[name].getData()
            assert np.allclose(x, path[:, 0]) and np.allclose(y, path[:, 1])
        assert page.legend.names == list(RATES)
    # A plain heatmap afterwards shows no stale lines.
    dock.series.add(type(pictures[0])(11, 1, "paths: Rosenbrock", "heatmap",
                                      pictures[0].data, extra={"extent": [-2, 2, -1, 3]}))
    panel.picker.setCurrentIndex(0)
    panel.picker.activated.emit(0)
    dock.refresh(force=True)
    QApplication.processEvents()
    for item in page.lines.values():
        x, _ = item.getData()
        assert x is None or len(x) == 0
