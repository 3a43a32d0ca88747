"""Per-layer charts name every bar (before: 6 bars, 2 names, in a dock-sized plot)."""

import pytest

from app.training.plots.layers import GradientBars, elide
from app.training.series import RunSeries
from runtime.events import GradientStats

LAYERS = ["stem_conv", "stem_bn", "block1_conv", "block2_conv", "head_linear", "logits"]


def names_under_bars(panel) -> list[str]:
    axis = panel.plot.getPlotItem().getAxis("bottom")
    return [text for _, text in axis._tickLevels[0]]


@pytest.mark.parametrize("width", [320, 700])
def test_every_bar_of_the_gradient_chart_is_named(qtbot, width):
    panel = GradientBars()
    qtbot.addWidget(panel)
    panel.resize(width, 240)
    panel.show()
    series = RunSeries()
    series.add(GradientStats(10, "main", {name: 0.1 * (i + 1) for i, name in enumerate(LAYERS)}))
    panel.refresh(series)
    names = names_under_bars(panel)
    assert len(names) == len(LAYERS)
    if width == 700:
        assert names == LAYERS  # room for whole names
    for name, shown in zip(LAYERS, names, strict=True):
        assert shown == name or (shown[0] == name[0] and shown[-1] == name[-1] and "…" in shown)
    assert all(len(s) * 6.5 + 6 <= (width - 60) / len(LAYERS) + 1 for s in names)


def test_elide_keeps_both_ends():
    assert elide("block3.conv_b", 8) == "block…_b"
    assert elide("encoder", 5) == "enc…r"
    assert elide("relu", 8) == "relu"
    assert len(elide("a_very_long_layer_name", 5)) == 5
