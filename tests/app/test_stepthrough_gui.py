"""Step-through in the real main window: the MLP example's sample goes forward block by
block, the gradient comes back layer by layer, one update; the canvas shows each step."""

from training_helpers import train, wait_for

from builder.commands import SetParams


def press(panel, button):
    assert button.isEnabled(), button.text()
    button.click()
    wait_for(lambda: not panel.busy, 60_000)


def overlays(window):
    return {k: item.overlay_text for k, item in window.views["main"].scene().nodes.items()
            if item.overlay is not None}


def test_step_forward_backward_and_update_on_the_canvas(window, qtbot):
    window.go_to("main", "hidden1")
    panel = window.inspector.step_through
    panel.sample.setValue(3)
    press(panel, panel.forward_button)
    assert panel.session is not None, panel.error
    steps = panel.session.forward_steps()
    assert [s.node for s in steps][:2] == ["x", "hidden1"]
    assert overlays(window) == {"x": overlays(window)["x"]} and "±" in overlays(window)["x"]
    assert not panel.backward_button.isEnabled()  # the loss comes first
    for _ in steps[1:]:
        press(panel, panel.forward_button)
    assert not panel.forward_button.isEnabled()
    assert "Loss: loss" in panel.said.text() and "output" in panel.numbers.text()
    assert set(overlays(window)) == {s.node for s in steps}
    legend = window.views["main"].heat_legend
    assert legend.isVisible() and "forward" in legend.title
    press(panel, panel.backward_button)  # next to the loss: the last Linear
    assert "logits" in panel.said.text() and "∂L/∂w" in panel.numbers.text()
    assert overlays(window)["logits"].startswith("‖∂L/∂out‖")
    assert "±" in overlays(window)["x"]  # not reached backward yet
    while panel.backward_button.isEnabled():
        press(panel, panel.backward_button)
    assert all(t.startswith("‖∂L/∂out‖") for t in overlays(window).values())
    press(panel, panel.update_button)
    assert "adam step" in panel.said.text() and "‖Δw‖" in panel.numbers.text()
    assert overlays(window)["hidden1"].startswith("Δw")
    assert not panel.update_button.isEnabled()
    press(panel, panel.reset_button)
    assert overlays(window) == {} and not legend.isVisible() and panel.session is None
    # An edit makes a step stale: it starts over (and the canvas is handed back).
    press(panel, panel.forward_button)
    assert overlays(window)
    window.model.do(SetParams("main", "hidden2", {"units": 16}))
    assert panel.session is None and overlays(window) == {}


def test_a_run_takes_the_canvas_back_and_errors_are_words(window, qtbot):
    window.go_to("main", "hidden1")
    panel = window.inspector.step_through
    press(panel, panel.forward_button)
    assert overlays(window)
    train(qtbot, window, steps=5, wait=False)
    assert panel.session is None and not panel.forward_button.isEnabled()
    wait_for(lambda: not window.training.bridge.active, 60_000)
    wait_for(lambda: panel.forward_button.isEnabled(), 10_000)
    # The gradient heat of that run is on the canvas, with its own texts.
    assert all(t.startswith("‖∇‖") for t in overlays(window).values())
    panel.sample.setValue(99_999)
    press(panel, panel.forward_button)
    assert panel.session is None and "not among" in panel.error
    assert "Traceback" not in panel.said.text() and panel.said.text() == panel.error
