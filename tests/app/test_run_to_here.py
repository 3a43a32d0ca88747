"""Run to here: the inspector runs one sample up to the selected block, fresh or with the
weights of the latest run of this very graph."""

from training_helpers import train, wait_for

from builder.commands import SetParams


def run_here(window, node: str):
    window.go_to("main", node)
    panel = window.inspector.run_here
    assert panel.button.isEnabled()
    panel.button.click()
    wait_for(lambda: panel.result is not None and not panel.busy, 60_000)
    return panel


def test_run_to_here_shows_a_blocks_output_fresh_then_with_the_latest_run(window, qtbot):
    panel = run_here(window, "relu1")  # the MLP on spirals: 32 ReLU units
    fresh = panel.result
    assert not isinstance(fresh, str), fresh
    assert fresh.values.shape == (32,) and fresh.weights.startswith("fresh")
    assert "Output [32]" in panel.said.text() and "zero share" in panel.said.text()
    assert not panel.histogram.pixmap().isNull()
    train(qtbot, window, steps=20)
    trained = run_here(window, "relu1").result
    assert "run" in trained.weights and (trained.values != fresh.values).any()
    # The graph changed since: that run's weights do not fit it, so fresh ones are used.
    window.model.do(SetParams("main", "hidden2", {"units": 16}))
    assert run_here(window, "relu1").result.weights.startswith("fresh")
    # Another block clears the answer; an Input runs too (it shows the sample itself).
    window.go_to("main", "x")
    assert panel.result is None and panel.said.text() == ""
    assert run_here(window, "x").result.values.shape == (2,)
