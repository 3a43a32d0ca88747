"""``layerloom sweep``: the grid of settings, each run trained for real, results.csv with one
row per run, and the exit codes of the contract (0 all finished, 1 a run failed, 2 bad
input with nothing trained)."""

from __future__ import annotations

import csv
import shutil

import pytest

from app import cli as app_cli
from builder.serialize import load
from resources import TEMPLATES
from runtime.sweep import apply_setting, grid, parse_set


def _run(argv: list[str]) -> int:
    return app_cli.main(argv)  # what `layerloom` runs


@pytest.fixture
def mlp(tmp_path):
    path = tmp_path / "mlp.loom"
    shutil.copy(TEMPLATES / "mlp.loom", path)
    return path


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_two_by_two_grid_writes_one_row_per_run(mlp, tmp_path, capsys):
    out = tmp_path / "sweep"
    code = _run(["sweep", str(mlp), "--set", "training.lr=0.01,0.0001",
                 "--set", "main/hidden1.units=8,32", "--max-steps", "12", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    rows = _rows(out / "results.csv")
    assert [(r["run"], r["training.lr"], r["main/hidden1.units"]) for r in rows] == [
        ("run-001", "0.01", "8"), ("run-002", "0.01", "32"),
        ("run-003", "0.0001", "8"), ("run-004", "0.0001", "32")]
    assert all(r["status"] == "max_steps" and r["steps"] == "12" for r in rows)
    assert all(float(r["seconds"]) > 0 for r in rows)
    assert all(0 <= float(r["final_accuracy"]) <= 1 for r in rows)
    # each run's folder holds the project it trained, with the values set
    run2 = load(out / "run-002" / "project.loom")
    assert run2.networks["main"].nodes["hidden1"].params["units"] == 32
    assert run2.training.optimizers and all(o.lr == 0.01 for o in
                                            run2.training.optimizers.values())
    assert (out / "run-004" / "metrics.csv").is_file()
    assert "run-004" in capsys.readouterr().out


def test_a_bad_key_or_value_is_refused_before_anything_trains(mlp, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert _run(["sweep", str(mlp), "--set", "training.lrr=0.1", "--out", str(out)]) == 2
    assert "training.lrr" in capsys.readouterr().err
    assert _run(["sweep", str(mlp), "--set", "main/hidden9.units=3", "--out", str(out)]) == 2
    assert "hidden9" in capsys.readouterr().err
    assert _run(["sweep", str(mlp), "--set", "training.batch_size=big", "--out",
                 str(out)]) == 2
    assert "batch_size" in capsys.readouterr().err
    assert _run(["sweep", str(mlp), "--set", "main/hidden1.units=0", "--out", str(out)]) == 2
    assert "hidden1" in capsys.readouterr().err
    assert not out.exists()


def test_a_non_empty_out_folder_is_kept_unless_forced(mlp, tmp_path, capsys):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert _run(["sweep", str(mlp), "--set", "training.seed=1", "--max-steps", "2",
                 "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and (out / "notes.txt").exists()


def test_a_failing_run_is_a_row_and_exit_1(mlp, tmp_path):
    out = tmp_path / "sweep"
    code = _run(["sweep", str(mlp), "--set", "training.optimizer=sgd",
                 "--set", "training.lr=0.01,1e8", "--max-steps", "30",
                 "--out", str(out)])
    rows = _rows(out / "results.csv")
    assert code == 1 and len(rows) == 2
    assert rows[0]["status"] == "max_steps" and rows[1]["status"] != "max_steps"
    assert rows[1]["error"]


def test_workers_train_the_same_runs(mlp, tmp_path):
    out = tmp_path / "sweep"
    assert _run(["sweep", str(mlp), "--set", "training.batch_size=32,64", "--max-steps", "5",
                 "--jobs", "2", "--out", str(out)]) == 0
    assert [r["training.batch_size"] for r in _rows(out / "results.csv")] == ["32", "64"]


def test_the_grid_and_its_random_points():
    axes = [parse_set("a=1,2,3"), parse_set("b=x,y")]
    points = grid(axes)
    assert len(points) == 6 and points[0] == {"a": 1, "b": "x"}
    picked = grid(axes, sample=3, seed=4)
    assert len(picked) == 3 and picked == grid(axes, sample=3, seed=4)
    assert all(p in points for p in picked) and len({str(p) for p in picked}) == 3
    with pytest.raises(ValueError, match="KEY=V1"):
        parse_set("training.lr")
    with pytest.raises(ValueError, match="twice"):
        parse_set("a=1,1")


def test_settings_reach_every_place_a_key_names():
    project = load(TEMPLATES / "dann_shapes.loom")
    apply_setting(project, "training.momentum", 0.8)
    apply_setting(project, "training.optimizer", "sgd")
    apply_setting(project, "recipe.method", "source_only")
    apply_setting(project, "dataset.n_samples", 500)
    apply_setting(project, "training.epochs", 2)
    assert all(o.name == "sgd" and o.params["momentum"] == 0.8
               for o in project.training.optimizers.values())
    assert project.recipe.params["method"] == "source_only"
    assert project.dataset.params["n_samples"] == 500 and project.training.epochs == 2
