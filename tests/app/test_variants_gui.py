"""Training ▸ Run all variants on the real main window: disabled without variants; with two,
it trains both in a child process and shows two overlaid curves named by the variants and the
grouped per-layer gradient bars, one bar group per layer and one colour per variant."""

import copy

from app.training.variant_view import VariantsDialog


def _action(window):
    return next(a for a in window.training.menu.actions() if a.text() == "Run all &variants")


def test_run_all_variants_overlays_curves_and_bars(window, qtbot, tmp_path):
    action = _action(window)
    assert not action.isEnabled()  # the example has no variants
    project = copy.deepcopy(window.model.project)
    project.dataset.params["n_samples"] = 300
    project.training.stats_every = 1
    project.variants = {"sigmoid": {"main/relu1.block": "Sigmoid",
                                    "main/relu2.block": "Sigmoid"},
                        "relu": {"training.lr": 0.01}}
    window.model.replace(project)
    assert action.isEnabled()
    window.training.store.root = tmp_path  # the runs go beside the test, not the user's
    dialog = getattr(window, "_variants_dialog", None) or VariantsDialog(window)
    window._variants_dialog = dialog
    dialog.max_steps.setValue(4)
    action.trigger()
    assert dialog.isVisible() and dialog.running, dialog.status.text()
    qtbot.waitUntil(lambda: not dialog.running, timeout=60_000)
    assert dialog.status.text().startswith("Finished"), dialog.status.text()
    assert dialog.results.table.rowCount() == 2
    items = dialog.results.plot.getPlotItem().listDataItems()
    assert {i.name().removesuffix(" ★") for i in items} == {"sigmoid", "relu"}
    assert set(dialog.bars.norms) == {"sigmoid", "relu"}
    assert len(dialog.bars.bars) == 2
    assert all(len(b.opts["x"]) == 3 for b in dialog.bars.bars)  # hidden1, hidden2, logits
    dialog.grab().save(str(tmp_path / "variants.png"))
