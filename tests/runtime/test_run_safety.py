"""No run loses its weights (issue 10, items 3 and 6): a failed resume or a failed forced
re-run leaves the previous run as it was, a run that fails at step 0 writes no weights,
``run.json`` says whether a run folder's weights are trained and export/sample warn when they
are not; nothing is overwritten without ``--force``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rt_helpers import mlp, project

from builder.compiler import compile_network
from builder.serialize import load, save
from resources import TEMPLATES
from runtime.checkpoint import save_weights
from runtime.cli import main
from runtime.recipes.supervised import SupervisedRecipe


def _train(file: Path, run: Path, *extra: str) -> int:
    return main(["train", str(file), "--out", str(run), "--device", "cpu", *extra])


def _snapshot(run: Path) -> dict[str, bytes]:
    """Every file of a run folder (checkpoint included), by relative path."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file()}


@pytest.fixture
def first_run(tmp_path) -> tuple[Path, Path]:
    """A moons MLP trained 5 steps: (project file, run folder)."""
    file = save(project(epochs=1), tmp_path / "a.loom")
    run = tmp_path / "run"
    assert _train(file, run, "--max-steps", "5") == 0
    return file, run


def _fail_at_the_first_step(monkeypatch) -> None:
    def boom(self, ctx, batch):
        raise RuntimeError("boom")
    monkeypatch.setattr(SupervisedRecipe, "step", boom)


# --- item 3: a failed resume, a run that fails at step 0, the run record ----------------------


def test_a_finished_run_records_that_its_weights_are_trained(first_run):
    _, run = first_run
    record = json.loads((run / "run.json").read_text())
    assert record["trained"] is True and record["steps"] == 5
    assert record["finished"] == "max_steps" and record["recipe"] == "classification"
    assert record["networks"] == ["main"]


def test_a_failed_resume_keeps_the_trained_weights_and_the_project(first_run, tmp_path,
                                                                    capsys):
    _, run = first_run
    before = _snapshot(run)
    # Another network (16 hidden units, not 32): the checkpoint does not fit it.
    other = save(project(mlp(hidden=16), epochs=1), tmp_path / "b.loom")
    assert _train(other, run, "--resume") == 1
    assert "cannot resume" in capsys.readouterr().err
    assert _snapshot(run) == before  # weights, project, record, checkpoint, metrics
    assert load(run / "project.loom").networks["main"].nodes["hidden1"].params["units"] == 32
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # nothing left behind


def test_a_resume_failing_at_its_first_step_keeps_the_trained_weights(first_run, tmp_path,
                                                                      monkeypatch):
    file, run = first_run
    before = _snapshot(run)
    _fail_at_the_first_step(monkeypatch)
    assert _train(file, run, "--resume", "--epochs", "2") == 1
    assert _snapshot(run) == before


def test_a_run_that_fails_at_step_0_writes_no_weights(tmp_path, monkeypatch, capsys):
    file = save(project(epochs=1), tmp_path / "p.loom")
    run = tmp_path / "run"
    _fail_at_the_first_step(monkeypatch)
    assert _train(file, run) == 1
    assert "boom" in capsys.readouterr().err
    assert not list(run.glob("*.safetensors"))
    record = json.loads((run / "run.json").read_text())
    assert record["trained"] is False and record["steps"] == 0
    assert record["finished"] == "failed"


def _untrained_folder(folder: Path, network, name: str, record: dict | None) -> Path:
    folder.mkdir()
    save_weights(compile_network(network).module, folder / f"{name}.safetensors")
    if record is not None:
        (folder / "run.json").write_text(json.dumps(record))
    return folder


def test_export_warns_about_untrained_weights_and_a_folder_without_record(tmp_path, capsys,
                                                                          first_run):
    file, run = first_run
    net = load(file).networks["main"]
    untrained = _untrained_folder(tmp_path / "untrained", net, "main",
                                  {"trained": False, "steps": 0, "finished": "failed"})
    capsys.readouterr()
    assert main(["export", str(file), "--weights", str(untrained), "--onnx",
                 str(tmp_path / "u.onnx")]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "untrained" in err and str(untrained) in err
    bare = _untrained_folder(tmp_path / "bare", net, "main", None)
    assert main(["export", str(file), "--weights", str(bare), "--onnx",
                 str(tmp_path / "b.onnx")]) == 0
    err = capsys.readouterr().err
    assert err.count("no run record") == 1 and str(bare) in err
    # A run folder from before run.json: its checkpoint says how far it got.
    legacy = _untrained_folder(tmp_path / "legacy", net, "main", None)
    (legacy / "checkpoint").mkdir()
    (legacy / "checkpoint" / "meta.json").write_text(json.dumps({"step": 0, "epoch": 0}))
    assert main(["export", str(file), "--weights", str(legacy), "--onnx",
                 str(tmp_path / "l.onnx")]) == 0
    assert "untrained" in capsys.readouterr().err
    # Trained: not a word.
    assert main(["export", str(file), "--weights", str(run), "--onnx",
                 str(tmp_path / "t.onnx")]) == 0
    assert capsys.readouterr().err == ""
    assert main(["export", str(file), "--weights", str(run / "main.safetensors"), "--onnx",
                 str(tmp_path / "t2.onnx")]) == 0
    assert capsys.readouterr().err == ""


def test_the_editors_run_record_is_read_and_kept(tmp_path):
    from runtime.runlog import read_record, weights_warning, write_record

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"label": "#1 adam", "status": "failed",
                                              "steps": 0}))
    assert "untrained" in weights_warning(run)
    (run / "run.json").write_text(json.dumps({"label": "#1 adam", "status": "completed",
                                              "steps": 30}))
    assert weights_warning(run) is None
    write_record(run, trained=True, steps=30, finished="completed")
    assert read_record(run)["label"] == "#1 adam" and read_record(run)["trained"] is True


def test_sample_warns_about_untrained_weights(tmp_path, capsys):
    p = load(TEMPLATES / "gan_2d.loom")
    file = save(p, tmp_path / "gan.loom")
    folder = _untrained_folder(tmp_path / "untrained", p.networks["generator"], "generator",
                               {"trained": False, "steps": 0, "finished": "stopped"})
    assert main(["sample", str(file), "--weights", str(folder), "--network", "generator",
                 "-n", "4", "-o", str(tmp_path / "p.csv")]) == 0
    err = capsys.readouterr().err
    assert "untrained" in err and str(folder) in err


# --- item 6: nothing overwritten without --force ----------------------------------------------


def test_train_refuses_an_existing_run_folder_without_force(first_run, tmp_path, capsys):
    file, run = first_run
    before = _snapshot(run)
    capsys.readouterr()
    assert _train(file, run) == 2
    err = capsys.readouterr().err
    assert err == f"layerloom: {run} already exists; pass --force to replace it\n"
    assert _snapshot(run) == before
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _train(file, empty, "--max-steps", "2") == 0  # an empty folder is fine


def test_force_replaces_a_run_only_once_the_new_run_has_trained(first_run, tmp_path,
                                                                 monkeypatch):
    _, run = first_run
    before = _snapshot(run)
    other = save(project(mlp(hidden=16), epochs=1), tmp_path / "b.loom")
    with monkeypatch.context() as m:
        _fail_at_the_first_step(m)
        assert _train(other, run, "--force") == 1
    assert _snapshot(run) == before  # the old run, exactly
    assert _train(other, run, "--force", "--max-steps", "3") == 0
    assert load(run / "project.loom").networks["main"].nodes["hidden1"].params["units"] == 16
    assert json.loads((run / "run.json").read_text())["steps"] == 3
    assert json.loads((run / "checkpoint" / "meta.json").read_text())["step"] == 3
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


def test_export_refuses_to_overwrite_without_force(first_run, tmp_path, capsys):
    file, run = first_run
    onnx_path, code = tmp_path / "m.onnx", tmp_path / "out" / "m.py"
    onnx_path.write_text("mine")
    args = ["export", str(file), "--weights", str(run), "--onnx", str(onnx_path)]
    capsys.readouterr()
    assert main(args) == 2
    assert capsys.readouterr().err == \
        f"layerloom: {onnx_path} already exists; pass --force to replace it\n"
    assert onnx_path.read_text() == "mine"
    assert main(args + ["--force"]) == 0 and onnx_path.read_bytes() != b"mine"
    # The code and the weights written beside it are guarded alike.
    code.parent.mkdir()
    (code.parent / "main.safetensors").write_text("mine")
    fresh = tmp_path / "fresh.onnx"
    assert main(["export", str(file), "--weights", str(run), "--onnx", str(fresh), "--code",
                 str(code)]) == 2
    assert f"{code.parent / 'main.safetensors'} already exists" in capsys.readouterr().err
    assert not fresh.exists() and not code.exists()
    assert (code.parent / "main.safetensors").read_text() == "mine"
    assert main(["export", str(file), "--weights", str(run), "--onnx", str(fresh), "--code",
                 str(code), "--force"]) == 0
    assert code.is_file()
