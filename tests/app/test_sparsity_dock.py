"""The dock draws the weights' sparsity of a live run (Layers tab) and the run history reads
it back; mini_alexnet's first-layer filters appear after an epoch, as for any network that
starts with a convolution."""

from __future__ import annotations

from training_helpers import curve_points, train, type_into, wait_for

from app.training.series import RunSeries
from runtime.sparsity import SPARSE_BELOW


def test_the_layers_tab_draws_the_share_of_near_zero_weights(window, qtbot):
    t = window.training
    type_into(t.settings.fields["l1"], "0.5")
    assert window.model.project.training.l1 == 0.5
    train(qtbot, window, steps=60)
    t.dock.tabs.setCurrentIndex(1)  # Layers
    panel = t.dock.sparsity
    wait_for(lambda: ("main", "") in panel._curves, 5_000)
    assert set(panel._curves) == {("main", "hidden1"), ("main", "hidden2"),
                                  ("main", "logits"), ("main", "")}
    assert all(curve_points(c) for c in panel._curves.values())
    series = t.dock.series
    assert panel.shares["all"] == series.sparse_all["main"].last
    assert 0.0 <= panel.shares["all"] <= 1.0 and not panel.hint.isVisible()
    assert f"|w| < {SPARSE_BELOW:g}" in panel.plot.getPlotItem().titleLabel.text
    # The run's metrics.csv holds the same curves: the run history draws them too.
    again = RunSeries.from_csv(t.record.folder / "metrics.csv")
    assert again.sparse_all["main"].last == series.sparse_all["main"].last
    assert set(again.sparse["main"]) == {"hidden1", "hidden2", "logits"}


def test_mini_alexnet_shows_its_first_layer_filters(window, qtbot):
    window.files.new_from_template("mini_alexnet", confirm=False)
    dock = window.training.dock
    assert not dock.filters.isHidden()
    window.model.project.dataset.params["n_samples"] = 40  # one short epoch a step
    train(qtbot, window, steps=2)
    dock.tabs.setCurrentIndex(2)  # Samples
    wait_for(lambda: dock.filters.layer == "conv1", 10_000)
    assert dock.filters.shape == (32, 3, 5, 5)
