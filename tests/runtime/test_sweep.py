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


# --- the project's prepared sweep (Project.sweep) -------------------------------------------

PREPARED = ["main/hidden1.units", "training.lr", "training.momentum", "training.batch_size",
            "training.epochs"]


def test_the_prepared_sweep_round_trips_and_a_project_without_one_writes_no_key():
    import json

    from builder.serialize import dumps, loads

    project = load(TEMPLATES / "hyperparameters.loom")
    assert list(project.sweep["set"]) == PREPARED and project.sweep["random"] >= 2
    assert loads(dumps(project)).sweep == project.sweep
    assert "sweep" not in json.loads(dumps(load(TEMPLATES / "mlp.loom")))


@pytest.mark.parametrize("sweep, message", [
    ({"set": {"training.lr": ["fast"]}}, "sweep.set.training.lr: lr must be a number"),
    ({"set": {"training.lr": 0.1}}, "sweep.set.training.lr: expected a list"),
    ({"set": {"training.lr": [0.1, 0.1]}}, "sweep.set.training.lr: the value 0.1 is given"),
    ({"set": {"training.momentun": [0.9]}}, "sweep.set.training.momentun: unknown training "
                                            "setting 'momentun' (did you mean "
                                            "'training.momentum'?)"),
    ({"set": {"main/hidden1.unit": [4]}}, "sweep.set.main/hidden1.unit: a Linear has no param"),
    ({"set": {"main/hidden9.units": [4]}}, "sweep.set.main/hidden9.units: network 'main' has "
                                               "no node 'hidden9'"),
    ({"set": {"main/hidden1.units": [4, 2.5]}}, "sweep.set.main/hidden1.units: units must be"),
    ({"set": {"trainin.lr": [0.1]}}, "sweep.set: unknown setting 'trainin.lr'"),
    ({"set": {"training.lr": [0.1]}, "random": 0}, "sweep.random: expected a whole number"),
    ({"set": {"training.lr": [0.1]}, "rand": 2}, "sweep: unknown key 'rand'; did you mean "
                                                 "'random'?"),
    ({"random": 2}, "sweep: missing required field 'set'"),
])
def test_a_bad_prepared_sweep_is_refused_on_load_naming_the_key(sweep, message):
    import json

    from builder.serialize import LoomError, loads

    doc = json.loads((TEMPLATES / "mlp.loom").read_text(encoding="utf-8"))
    doc["sweep"] = sweep
    with pytest.raises(LoomError) as e:
        loads(json.dumps(doc))
    assert str(e.value).startswith(message), str(e.value)


def test_sweep_without_set_runs_the_prepared_sweep(tmp_path, capsys):
    out = tmp_path / "hp"
    code = _run(["sweep", str(TEMPLATES / "hyperparameters.loom"), "--out", str(out),
                 "--random", "2", "--max-steps", "2"])  # the options override the file's
    assert code == 0, capsys.readouterr().err
    rows = _rows(out / "results.csv")
    assert len(rows) == 2 and all(r["status"] == "max_steps" and r["steps"] == "2" for r in rows)
    assert list(rows[0])[1:6] == PREPARED  # the prepared keys, in their order
    assert {r["main/hidden1.units"] for r in rows} <= {"4", "16", "64"}


def test_an_explicit_set_replaces_the_prepared_sweep(tmp_path, capsys):
    out = tmp_path / "hp"
    code = _run(["sweep", str(TEMPLATES / "hyperparameters.loom"), "--out", str(out),
                 "--set", "training.lr=0.2", "--max-steps", "1"])
    assert code == 0, capsys.readouterr().err
    rows = _rows(out / "results.csv")
    assert len(rows) == 1 and "training.momentum" not in rows[0] and rows[0]["training.lr"] == "0.2"


def test_no_prepared_sweep_and_no_set_says_what_to_pass(mlp, tmp_path, capsys):
    assert _run(["sweep", str(mlp), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "mlp.loom has no prepared sweep" in err and "--set KEY=V1,V2" in err, err
    assert not (tmp_path / "out").exists()
