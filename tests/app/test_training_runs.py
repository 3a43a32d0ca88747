"""Run history (overlay, what changed, CSV and plot export, runs beside the saved project) and
the training settings panel (every change one undoable command)."""

import csv

from training_helpers import choose, curve_points, train, type_into, wait_for

from app.training.canvas_heat import ADDED, CHANGED
from app.training.runs import RunStore
from builder.commands import SetParams
from builder.serialize import to_dict


def test_two_runs_overlay_and_say_what_changed(window, qtbot, tmp_path):
    t = window.training
    choose(t.settings.optimizers["main"].combo, "sgd")
    train(qtbot, window, steps=60)
    choose(t.settings.optimizers["main"].combo, "adam")
    window.model.do(SetParams("main", "hidden1", {"units": 16}))
    train(qtbot, window, steps=60)

    runs = t.runs
    assert [r.optimizer for r in runs.records] == ["sgd lr 0.01", "adam lr 0.01"]
    header = runs.tree.headerItem()
    names = [header.text(i) for i in range(header.columnCount())]
    assert names[3:5] == ["Val loss", "Val accuracy"]
    assert all(runs.tree.topLevelItem(i).text(4) for i in range(2))  # filled for both
    runs.set_checked([r.name for r in runs.records])
    t.dock.tabs.setCurrentWidget(runs)
    choose(runs.metric, "step:loss")
    assert len(runs._curves) == 2
    assert all(curve_points(c) > 10 for c in runs._curves.values())
    a, b = (runs.series_of(r) for r in runs.records)
    assert a.steps["loss"].y[-1] != b.steps["loss"].y[-1]  # SGD and Adam differ

    diff = runs.compare()
    assert diff.networks["main"].changed == {"hidden1": ["units 32 → 16"]}
    assert any("training.optimizers.main.name: sgd → adam" in s for s in diff.settings)
    assert "hidden1" in runs.diff_text.toPlainText()
    scene = window.current_view().scene()
    assert scene.nodes["hidden1"].overlay == CHANGED
    assert scene.nodes["hidden2"].overlay is None
    runs.marks_cleared.emit()
    assert scene.nodes["hidden1"].overlay != CHANGED

    out = runs.export_csv(tmp_path / "runs.csv")
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert {r["label"] for r in rows} == {r.label for r in runs.records}
    assert {"loss", "accuracy"} <= {r["name"] for r in rows}
    for suffix in (".png", ".svg"):
        path = runs.save_plot(tmp_path / f"compare{suffix}")
        assert path.stat().st_size > 1000
    written = t.dock.save_plots(tmp_path / "plots")  # the Runs tab: its comparison plot
    assert written and all(p.stat().st_size > 500 for p in written)
    # Saved plot pictures carry the project that made them (dropped on the window, it opens).
    from builder import pngtext
    from builder.serialize import loads

    for png in [tmp_path / "compare.png", *(p for p in written if p.suffix == ".png")]:
        assert to_dict(loads(pngtext.read(png))) == to_dict(window.model.project)


def test_added_nodes_are_marked_and_runs_follow_the_saved_project(window, qtbot, tmp_path):
    t = window.training
    train(qtbot, window, steps=20)
    view = window.current_view()
    view.scene().select_nodes(["relu2"])
    view.append_block("Dropout")
    added = [n for n in window.model.project.networks["main"].nodes
             if n.startswith("dropout")]
    train(qtbot, window, steps=20)
    t.runs.set_checked([r.name for r in t.runs.records])
    diff = t.runs.compare()
    assert diff.networks["main"].added == added
    assert view.scene().nodes[added[0]].overlay == ADDED

    assert t.store.temporary
    window.files.save_as(tmp_path / "spiral.loom")
    assert t.store.root == tmp_path / "runs"
    assert [r.name.split("-")[0] for r in t.runs.records] == ["spiral", "spiral"]
    assert all((r.folder / "project.loom").is_file() for r in t.runs.records)
    train(qtbot, window, steps=10)
    assert len(RunStore(tmp_path / "spiral.loom").records()) == 3
    assert "runs" in t.runs.folder_label.text()


def test_settings_are_undoable_commands(window):
    s = window.training.settings
    model = window.model
    type_into(s.fields["epochs"], "7")
    assert model.project.training.epochs == 7
    model.undo()
    assert model.project.training.epochs == 60
    assert s.fields["epochs"].editor.text() == "60"

    choose(s.batch_mode, "batch")
    assert model.project.training.batch_size == 0
    assert "every training sample" in s.batch_text.text()
    choose(s.batch_mode, "stochastic")
    assert model.project.training.batch_size == 1
    choose(s.batch_mode, "mini-batch")
    assert 1 < model.project.training.batch_size
    assert "steps per epoch" in s.batch_text.text()

    editor = s.optimizers["main"]
    choose(editor.combo, "momentum")
    assert editor.fields["momentum"].isVisibleTo(s) and not editor.fields["beta1"].isVisibleTo(s)
    type_into(editor.fields["momentum"], "0.5")
    opt = model.project.training.optimizers["main"]
    assert (opt.name, opt.params) == ("momentum", {"momentum": 0.5})
    choose(editor.combo, "adam")
    type_into(editor.fields["beta2"], "0.99")
    assert model.project.training.optimizers["main"].params == {"betas": [0.9, 0.99]}
    type_into(editor.fields["lr"], "-1")
    assert editor.fields["lr"].error.isVisibleTo(s)  # refused, said why, nothing changed
    assert model.project.training.optimizers["main"].lr == 0.01

    choose(s.schedule, "step")
    assert s.schedule_fields["gamma"].isVisibleTo(s)
    type_into(s.schedule_fields["gamma"], "0.5")
    assert model.project.training.schedule == {"name": "step", "gamma": 0.5}
    for key, text in (("l2", "0.001"), ("grad_clip", "1"), ("seed", "3")):
        type_into(s.fields[key], text)
    t = model.project.training
    assert (t.l2, t.grad_clip, t.seed) == (0.001, 1.0, 3)
    s.fields["amp"].editor.setChecked(True)
    assert model.project.training.amp

    devices = {s.device.itemData(i): s.device.model().item(i).isEnabled()
               for i in range(s.device.count())}
    assert devices["auto"] and devices["cpu"]
    assert "this machine" in s.device.itemText(0)
    choose(s.device, "cpu")
    assert model.project.training.device == "cpu"

    choose(s.dataset.combo, "moons")
    assert model.project.dataset.name == "moons"
    type_into(s.dataset.fields["noise"], "0.3")
    assert model.project.dataset.params == {"noise": 0.3}
    assert "val_fraction" not in s.dataset.fields  # the validation split above applies
    choose(s.recipe, "regression")
    assert model.project.recipe.name == "regression"
    assert model.project.recipe.roles == {"model": "main"}
    model.undo()
    assert model.project.recipe.name == "classification"


def test_file_datasets_browse_and_downloads_show_progress(window, qtbot, monkeypatch, tmp_path):
    form = window.training.settings.dataset
    choose(form.combo, "npz")
    form.ask_path = lambda pattern: str(tmp_path / "data.npz")
    form.browse("path")
    assert window.model.project.dataset.params["path"] == str(tmp_path / "data.npz")

    choose(form.combo, "mnist")
    assert form.download_row.isVisibleTo(form)
    seen = []

    def fake_load(name, params, progress=None):
        for done in (0, 5_000_000, 10_000_000):
            progress(done, 10_000_000)
        seen.append(name)

    monkeypatch.setattr("runtime.data.load", fake_load)
    assert form.download()
    wait_for(lambda: not form.downloading, 10_000)
    assert seen == ["mnist"]
    assert form.download_status.text() == "The data is ready."

    def broken(name, params, progress=None):
        raise OSError("no network")

    monkeypatch.setattr("runtime.data.load", broken)
    form.download()
    wait_for(lambda: not form.downloading, 10_000)
    assert "no network" in form.download_status.text()


def test_the_runs_table_shows_each_recipes_own_metrics(tmp_path):
    # Before: fixed loss and accuracy columns, blank for a GAN's runs.
    from pathlib import Path

    from app.training.runs import RunRecord
    from app.training.runs_panel import metric_columns

    def run(n, final):
        return RunRecord(Path(tmp_path / f"r{n}"), n, f"run {n}", 0.0, "completed", 10,
                         final=final)

    gan = run(1, {"loss_d": 0.6, "loss_g": 0.9, "fid": 12.0})
    classifier = run(2, {"loss": 0.3, "accuracy": 0.9, "top5_accuracy": 1.0})
    assert metric_columns([gan, classifier])[0] == "loss"
    assert {"loss_d", "loss_g", "fid", "accuracy"} <= set(metric_columns([gan, classifier]))
    assert metric_columns([gan]) == ["fid", "loss_d", "loss_g"]
    many = run(3, {f"m{i}": float(i) for i in range(10)})
    assert len(metric_columns([many])) == 6
