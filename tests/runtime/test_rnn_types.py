"""The shapes of recurrent networks as gallery templates (one-to-many, many-to-one, tagging,
bidirectional, stacked, the RNN/LSTM/GRU comparison, forecasting), trained for real on tiny
data; the forecast picture (past, true and predicted future) from the regression recipe to
the dock's curve view with its legend."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rt_helpers import Recorder

from builder.compiler import compile_network
from builder.document import Network
from builder.serialize import load
from resources import TEMPLATES
from runtime.data import load as load_data
from runtime.events import EpochSummary, Samples, StepMetrics
from runtime.recipes import get
from runtime.recipes.regression import WINDOWS
from runtime.trainer import Trainer

TRAINED = ["rnn_one_to_many", "rnn_many_to_one", "rnn_tagging", "rnn_bidirectional",
           "rnn_deep", "forecast_one_step", "forecast_multi_step"]
LONG = ["rnn_long_rnn", "rnn_long_lstm", "rnn_long_gru"]


@pytest.fixture
def one_thread():
    """Tiny recurrent nets gain nothing from threads; on a busy machine they only spin."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _small(name: str, n: int, epochs: int):
    project = load(TEMPLATES / f"{name}.loom")
    project.dataset.params["n_samples"] = n
    project.training.epochs = epochs
    project.training.samples_unit = "end"
    return project


@pytest.mark.parametrize("name", TRAINED)
def test_each_template_learns_in_a_few_steps(name, one_thread):
    events = Recorder()
    finished = Trainer(_small(name, 800, 6), callback=events, device="cpu").fit(max_steps=60)
    assert finished.reason in ("completed", "max_steps")
    losses = [e.values["loss"] for e in events.of(StepMetrics)]
    assert len(losses) >= 50 and np.mean(losses[-8:]) < 0.85 * np.mean(losses[:8]), losses
    assert events.of(Samples), "no pictures"


def test_the_three_long_memory_templates_differ_only_in_the_cell():
    projects = {name: load(TEMPLATES / f"{name}.loom") for name in LONG}
    shapes = []
    for name, project in projects.items():
        net = project.networks["main"]
        cell = next(n for n in net.nodes.values() if n.block in ("RNN", "LSTM", "GRU"))
        assert name.endswith(cell.block.lower()) and cell.params["output"] == "last"
        shapes.append(([(n.id, n.block) for n in net.nodes.values() if n is not cell],
                       project.dataset, project.training.epochs))
        assert "Runs panel" in project.description
    assert shapes[0] == shapes[1] == shapes[2]


def test_the_long_lstm_starts_with_its_forget_gates_open():
    project = load(TEMPLATES / "rnn_long_lstm.loom")
    lstm = compile_network(project.networks["main"]).module.get_submodule("lstm")
    h = lstm.hidden_size
    for name in ("bias_ih_l0", "bias_hh_l0"):
        b = getattr(lstm, name).detach()
        forget = b[h:2 * h]
        assert torch.all(forget == (3.0 if "ih" in name else 0.0))
        assert b[:h].abs().max() < 1  # the other gates keep torch's small random start


def test_bidirectional_tags_what_a_one_way_layer_cannot_see(one_thread):
    """'larger than the next digit': one way tops out near 75%, both ways near 100%."""
    accuracy = {}
    for both in (False, True):
        project = _small("rnn_bidirectional", 1500, 3)
        gru = project.networks["main"].nodes["gru"]
        gru.params["bidirectional"] = both
        events = Recorder()
        Trainer(project, callback=events, device="cpu").fit()
        accuracy[both] = events.of(EpochSummary)[-1].val["accuracy"]
    assert accuracy[False] < 0.8 and accuracy[True] > accuracy[False] + 0.1, accuracy


def test_a_sequence_classifier_shows_its_inputs_with_the_class_names(one_thread):
    events = Recorder()
    Trainer(_small("rnn_many_to_one", 300, 1), callback=events, device="cpu").fit(max_steps=3)
    text = [e for e in events.of(Samples) if e.kind == "text"][-1]
    first = text.data[0]
    source, _, rest = first[2:].partition(" → ")
    assert set(source) <= set("abcd") and len(source) >= 8  # the padding is not shown
    assert rest[0] in "abcd" and rest[1:3] == " (" and rest[-1] == ")"
    assert text.extra["correct"].dtype == np.bool_


# --- the forecast picture --------------------------------------------------------------------


def _forecaster(window: int, horizon: int) -> Network:
    net = Network("forecaster")
    net.chain(net.add("Input", id="x", shape=[window, 1], kind="sequence"),
              net.add("GRU", id="gru", hidden=8, output="last"),
              net.add("Linear", id="head", units=horizon),
              net.add("Output", id="y"))
    return net


def test_the_forecast_shows_past_true_and_predicted_future_of_validation_windows():
    data = load_data("timeseries", {"n_samples": 50, "window": 12, "horizon": 4})
    compiled = compile_network(_forecaster(12, 4))
    recipe = get("regression")({"model": compiled}, data.info)
    (sample,) = recipe.samples(data, step=7, epoch=0)
    assert sample.kind == "curve" and sample.name == "forecast" and sample.step == 7
    assert sample.extra["name"] == "past"
    assert list(sample.extra["series"]) == ["true future", "forecast"]
    x, y = data.val["x"][:WINDOWS, :, 0].numpy(), data.val["y"][:WINDOWS].numpy()
    with torch.no_grad():
        pred = compiled.module(data.val["x"][:WINDOWS]).numpy()
    past, true, guess = (sample.data, *sample.extra["series"].values())
    # windows side by side, a NaN row between two: split them back
    for part, length in ((past, 12), (true, 5), (guess, 5)):
        assert part.shape == (WINDOWS * length + WINDOWS - 1, 2)
        assert np.isnan(part[length::length + 1]).all()
    for i in range(WINDOWS):
        p = past[i * 13:(i + 1) * 13 - 1]
        t, g = true[i * 6:(i + 1) * 6 - 1], guess[i * 6:(i + 1) * 6 - 1]
        np.testing.assert_allclose(p[:, 1], x[i], rtol=1e-6)
        np.testing.assert_allclose(t[:, 1], np.r_[x[i, -1], y[i]], rtol=1e-6)
        np.testing.assert_allclose(g[:, 1], np.r_[x[i, -1], pred[i]], rtol=1e-5, atol=1e-6)
        assert t[0, 0] == p[-1, 0] and np.all(np.diff(t[:, 0]) == 1)  # the future joins on
        assert i == 0 or p[0, 0] > past[(i - 1) * 13 + 11, 0] + 1  # a gap between windows


def test_a_long_past_is_cut_to_what_keeps_the_future_in_sight():
    data = load_data("timeseries", {"n_samples": 30, "window": 40, "horizon": 3})
    recipe = get("regression")({"model": compile_network(_forecaster(40, 3))}, data.info)
    (sample,) = recipe.samples(data, 0, 0)
    np.testing.assert_allclose(sample.data[:16, 1], data.val["x"][0, -16:, 0].numpy())
    assert np.isnan(sample.data[16]).all()


def test_a_plain_regression_keeps_its_fit_curve():
    data = load_data("curve", {"n_samples": 50})  # one number in, one out: not a forecast
    net = Network("fit")
    net.chain(net.add("Input", id="x", shape=[1], kind="vector"),
              net.add("Linear", id="head", units=1), net.add("Output", id="y"))
    recipe = get("regression")({"model": compile_network(net)}, data.info)
    (sample,) = recipe.samples(data, 0, 0)
    assert sample.name == "fit" and "series" not in sample.extra


def test_the_curve_view_draws_every_series_with_a_legend(qtbot):
    from app.application import make_app
    from app.training.dock import TrainingDock
    from app.training.series import RunSeries

    make_app()
    dock = TrainingDock()
    qtbot.addWidget(dock)
    dock.resize(1200, 400)
    dock.show()
    dock.set_series(RunSeries())
    dock.tabs.setCurrentIndex(2)
    gap = np.full((1, 2), np.nan)
    past = np.concatenate([np.c_[np.arange(5.0), np.ones(5)], gap,
                           np.c_[np.arange(10.0, 15.0), np.zeros(5)]])
    series = {"true future": np.c_[np.arange(4.0, 7.0), np.ones(3)],
              "forecast": np.c_[np.arange(4.0, 7.0), np.full(3, 0.9)]}
    dock.series.add(Samples(5, 0, "forecast", "curve", past, None,
                            {"name": "past", "series": series, "x_label": "time step"}))
    dock.refresh(force=True)
    page = dock.samples.page("curve")
    assert page.legend.names == ["past", "true future", "forecast"]
    x, y = page.curve.getData()
    assert len(x) == 11 and np.isnan(y[5])  # the gap row is kept: it breaks the line
    drawn = [c.getData() for c in page.series]
    np.testing.assert_array_equal(drawn[1][1], [0.9, 0.9, 0.9])
    assert page.series[0].opts["pen"].color() != page.series[1].opts["pen"].color()
    # a curve without series goes back to one line and no legend
    dock.series.add(Samples(6, 0, "fit", "curve", np.c_[np.arange(3.0), np.arange(3.0)]))
    dock.refresh(force=True)
    picker = dock.samples.picker
    picker.setCurrentIndex(picker.findData("fit"))
    picker.activated.emit(picker.findData("fit"))
    assert dock.samples.current == "fit"
    assert page.legend.names == [] and all(len(c.getData()[0] or []) == 0
                                           for c in page.series)
