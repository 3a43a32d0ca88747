"""The export dialog (ONNX checked against onnxruntime, weights, PyTorch code), the pictures of
other recipes (CNN filters and image grids, GAN points), and the screenshot command after
real training steps."""

import numpy as np
import onnxruntime as ort
from PySide6.QtGui import QImage
from training_helpers import choose, image_npz, small_cnn, train, wait_for

import app.screenshot as screenshot_module
from builder.commands import SetProjectField
from builder.document import RecipeConfig
from builder.gallery import template_path


def test_export_dialog_writes_onnx_that_onnxruntime_runs(window, qtbot, tmp_path):
    train(qtbot, window, steps=10)
    first = window.training.record.folder
    train(qtbot, window, steps=30)
    dialog = window.training.show_export()
    # Before: the oldest run was chosen.
    assert dialog.source.currentData() == str(window.training.record.folder) != str(first)
    dialog.path.setText(str(tmp_path / "out" / "spirals.onnx"))
    assert dialog.start()
    wait_for(lambda: dialog.result is not None, 60_000)
    assert dialog.result["error"] == ""
    (result,) = dialog.result["results"]
    assert result.ok and result.max_abs_diff < 1e-4
    report = dialog.report.toPlainText()
    assert "onnxruntime parity" in report and "matches" in report
    assert "preprocessing: takes raw data" in report  # spirals are not standardised
    session = ort.InferenceSession(str(tmp_path / "out" / "spirals.onnx"),
                                   providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"x": np.zeros((4, 2), np.float32)})
    assert logits.shape == (4, 3)
    assert "import torch" in (tmp_path / "out" / "spirals.py").read_text()
    # Every file written is listed, and no other: one copy of the weights, named as the
    # code and the CLI name them (before: a main.safetensors nobody listed beside spirals.*).
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert written == {"spirals.onnx", "spirals.py", "main.safetensors"}
    assert {p.name for p in dialog.result["files"]} == written
    for name in written:
        assert name in report
    # Exporting again over them asks first; "no" writes nothing.
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    asked = []
    dialog.confirm_replace = lambda taken: asked.append(taken) or False
    assert not dialog.start()
    assert len(asked[0]) == 3 and "Nothing was written" in dialog.report.toPlainText()
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()} == before
    dialog.close()


def test_export_errors_are_explained(window, qtbot, tmp_path):
    dialog = window.training.show_export()
    choose(dialog.source, None)  # fresh weights of the current graph
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    dialog.path.setText(str(blocked / "model.onnx"))
    dialog.start()
    wait_for(lambda: dialog.result is not None, 60_000)
    assert "Choose another folder" in dialog.result["error"]
    assert "Export failed" in dialog.report.toPlainText()
    dialog.close()


def test_cnn_runs_show_first_layer_filters_and_image_predictions(window, qtbot, tmp_path):
    small_cnn(window, image_npz(tmp_path / "squares.npz"))
    t = window.training
    train(qtbot, window, steps=12)
    assert t.bridge.last_failure is None, t.dock.message_text
    assert t.dock.filters.layer == "conv1" and t.dock.filters.shape == (4, 1, 3, 3)
    assert t.dock.picture.shown == "images"  # predictions grid, wrong ones framed red
    assert "wrong" in t.dock.picture.plot.getPlotItem().titleLabel.text
    assert set(t.dock.bars.norms) == {"conv1", "logits"}


def test_exports_of_a_standardised_run_take_raw_data_or_say_they_do_not(window, qtbot,
                                                                        tmp_path):
    import json

    import onnx

    small_cnn(window, image_npz(tmp_path / "squares.npz"))
    train(qtbot, window, steps=6)
    assert window.training.bridge.last_failure is None, window.training.dock.message_text
    dialog = window.training.show_export()
    for bare, said in ((False, "standardises image per channel with the training "
                               "statistics, in the graph"),
                       (True, "bare network: standardise image per channel yourself")):
        dialog.bare.setChecked(bare)
        dialog.path.setText(str(tmp_path / f"bare{bare}" / "cnn.onnx"))
        assert dialog.start()
        wait_for(lambda: dialog.result is not None, 60_000)
        assert dialog.result["error"] == ""
        assert said in dialog.report.toPlainText()
        model = onnx.load(str(tmp_path / f"bare{bare}" / "cnn.onnx"))
        meta = json.loads({m.key: m.value for m in model.metadata_props}[
            "layerloom.preprocess"])
        assert meta["in_graph"] is not bare and meta["inputs"]["image"]["field"] == "x"
    dialog.close()


def test_gan_runs_show_generated_points_over_the_discriminator(window, qtbot):
    window.files.new_from_template("gan_2d", confirm=False)
    t = window.training
    train(qtbot, window, steps=40)
    assert t.bridge.last_failure is None, t.dock.message_text
    assert t.dock.picture.shown == "plane"
    assert {"real", "generated points"} <= set(t.dock.picture.page("plane").scatters)
    assert t.dock.loss._names == ["loss_d", "loss_g"]
    assert any(label.startswith("g_") for label in t.dock.bars.norms)
    assert any(label.startswith("d_") for label in t.dock.bars.norms)


def test_screenshot_after_training_steps_shows_the_plots(qapp, tmp_path, monkeypatch):
    seen = {}
    real = screenshot_module._train

    def spy(window, steps, *args):
        failed = real(window, steps, *args)
        dock = window.training.dock
        seen.update(steps=window.training.series.step, shown=dock.picture.shown,
                    bars=dict(dock.bars.norms), tab=dock.tabs.currentIndex(),
                    loss=len(dock.loss._steps["loss"].raw.getData()[0]))
        return failed

    monkeypatch.setattr(screenshot_module, "_train", spy)
    out = tmp_path / "shot.png"
    rc = screenshot_module.screenshot(str(template_path("mlp")), str(out), (1200, 800),
                                      train_steps=60)
    assert rc == 0
    assert seen["steps"] == 60 and seen["loss"] > 10 and seen["bars"]
    assert seen["shown"] == "plane" and seen["tab"] == 0
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 800)
    assert not (template_path("mlp").parent / "runs").exists()  # runs went to a temp folder


def test_screenshot_can_show_another_tab_and_names_the_tabs_it_has(qapp, tmp_path, capsys,
                                                                   monkeypatch):
    out = tmp_path / "shot.png"
    rc = screenshot_module.screenshot(str(template_path("mlp")), str(out), (1000, 700),
                                      train_steps=2, tab="nope")
    assert rc == 2 and not out.exists()
    said = capsys.readouterr().err
    assert "--tab must name one of" in said and "Samples" in said and "'nope'" in said
    seen = {}
    real = screenshot_module._train

    def spy(window, steps, tab):
        failed = real(window, steps, tab)
        seen["tab"] = window.training.dock.tabs.tabText(window.training.dock.tabs.currentIndex())
        return failed

    monkeypatch.setattr(screenshot_module, "_train", spy)
    assert screenshot_module.screenshot(str(template_path("mlp")), str(out), (1000, 700),
                                        train_steps=2, tab="samples") == 0
    assert seen["tab"] == "Samples"


def test_recipe_and_roles_can_be_rebound(window):
    s = window.training.settings
    window.model.do(SetProjectField("recipe", RecipeConfig("classification", {}, {})))
    assert s.role_combos["model"].currentText() == "main"


def test_text_samples_and_the_light_theme(window):
    from app import theme
    from app.training.plots.pictures import PicturePanel
    from app.training.series import RunSeries
    from runtime.events import Samples

    series = RunSeries()
    series.add(Samples(10, 2, "continuations", "text", ["to be or not", "the quick fox"]))
    panel = PicturePanel("Samples", skip_plane=True)
    panel.refresh(series)
    assert panel.shown == "text"
    text = panel.page("text").widget.toPlainText()
    assert "the quick fox" in text and "epoch 3" in text

    window.set_theme("light")
    try:
        color = window.training.dock.loss.plot.backgroundBrush().color().name()
        assert color == theme.LIGHT.base
    finally:
        window.set_theme("dark")
    assert window.training.dock.loss.plot.backgroundBrush().color().name() == theme.DARK.base
