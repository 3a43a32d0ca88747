"""The terminal view of a run: a redrawn bar on a tty, plain lines in logs."""

from __future__ import annotations

import io

from runtime.console import Console
from runtime.events import EpochSummary, Failure, Finished, Started, StepMetrics, Warning


def _feed(console: Console) -> None:
    console(Started("cpu", {"model": "main"}, 2, 5, 10, 32, 160, 40))
    for step in range(1, 11):
        console(StepMetrics(step, (step - 1) // 5, {"loss": 1 / step, "aux/x": 0.1}))
        console._last_draw = 0.0  # as if time had passed: draw every step
    console(EpochSummary(0, 5, {"loss": 0.5}, {"loss": 0.6, "accuracy": 0.8}, 1.25))
    console(Warning(6, "nonfinite", "careful"))
    console(Failure(7, "oom", "too big"))
    console(Finished(10, 2, "completed", 2.0, {"loss": 0.1}))


def test_tty_draws_a_bar_in_place_and_keeps_summary_lines():
    out = io.StringIO()
    _feed(Console(out, tty=True))
    text = out.getvalue()
    assert "\r\x1b[2K" in text and "[" in text and "steps/s" in text
    assert "10/10" in text and "aux/x" not in text
    lines = [line.split("\x1b[2K")[-1] for line in text.split("\n")]
    assert any(line.startswith("epoch 1/2  train loss 0.5  |  val loss 0.6 accuracy 0.8")
               for line in lines)
    assert "warning: careful" in text and "failed (oom): too big" in text
    assert text.endswith("finished (completed) after 10 steps in 2.0s: loss 0.1\n")


def test_plain_output_has_no_control_characters():
    out = io.StringIO()
    _feed(Console(out, tty=False))
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert text.splitlines()[0].startswith("training on cpu: 2 epochs × 5 steps")
    assert "step 10/10  loss 0.1" in text
