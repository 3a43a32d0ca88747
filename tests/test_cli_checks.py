"""One check serves ``inspect`` and ``train`` (issue 10, item 5): whatever ``train`` refuses at
setup, ``inspect`` reports, exit 1 and in its JSON, without downloading anything; and the
messages and exit codes of item 7 (a readable file with problems is 1, not 2; a failed
download says what is left and where to put the files by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.document import DatasetConfig, Project, RecipeConfig
from builder.serialize import save, to_dict
from runtime.cli import main
from runtime.data import DownloadError
from runtime.data import remote as remote_mod
from tests.runtime.rt_helpers import mlp, project


def _recipe_filled_input() -> Project:
    p = project(epochs=1)
    net = p.networks["main"]
    net.nodes["x"].params.update(source="recipe", field="noisy")
    return p


def _broken(case: str) -> Project:
    p = project(epochs=1)
    if case == "unknown dataset":
        p.dataset = DatasetConfig("moonz", {})
    elif case == "dataset params":
        p.dataset = DatasetConfig("moons", {"n_samples": 1})
    elif case == "unknown recipe":
        p.recipe = RecipeConfig("classifcation", {"model": "main"})
    elif case == "recipe params":
        p.recipe.params = {"label_smoothing": 5.0}
    elif case == "unbound role":
        p.recipe = RecipeConfig("gan", {})
        p.networks["other"] = mlp("other")
    elif case == "missing stream":
        p.recipe = RecipeConfig("dann", {})  # no stream 'target' bound
    elif case == "input shape":
        p = project(mlp(features=3), epochs=1)
    elif case == "recipe-filled input":
        p = _recipe_filled_input()
    return p


CASES = {
    "unknown dataset": "unknown dataset 'moonz'",
    "dataset params": "n_samples",
    "unknown recipe": "unknown recipe 'classifcation'",
    "recipe params": "label_smoothing",
    "unbound role": "needs a network for role",
    "missing stream": "reads a second dataset as stream 'target'",
    "input shape": "expects samples of shape [3]",
    "recipe-filled input": "to be filled by the recipe as 'noisy'",
}


@pytest.mark.parametrize("case", list(CASES))
def test_inspect_reports_what_train_refuses(case, tmp_path, capsys):
    file = save(_broken(case), tmp_path / "p.loom")
    said = CASES[case]
    assert main(["inspect", str(file)]) == 1
    out = capsys.readouterr().out
    assert said in out and "valid" not in out.splitlines()[-1]
    assert main(["inspect", str(file), "--json"]) == 1
    info = json.loads(capsys.readouterr().out)
    assert not info["valid"]
    assert any(said in p["message"] and p["severity"] == "error" for p in info["problems"])
    run = tmp_path / "run"
    assert main(["train", str(file), "--out", str(run), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert not run.exists()  # refused before anything was written


def test_inspect_reports_every_problem_at_once(tmp_path, capsys):
    p = project(mlp(features=3), epochs=1)
    p.dataset = DatasetConfig("moons", {"n_samples": 1})
    p.recipe.params = {"label_smoothing": 5.0}
    file = save(p, tmp_path / "p.loom")
    assert main(["inspect", str(file), "--json"]) == 1
    messages = " | ".join(p["message"] for p in json.loads(capsys.readouterr().out)["problems"])
    assert "n_samples" in messages and "label_smoothing" in messages


def test_a_sound_project_stays_valid(tmp_path, capsys):
    file = save(project(epochs=1), tmp_path / "p.loom")
    assert main(["inspect", str(file)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "valid"


def test_a_dataset_that_needs_a_download_is_not_downloaded(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LAYERLOOM_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(remote_mod, "download", lambda *a, **k: pytest.fail("downloaded"))
    p = project(mlp(features=784), epochs=1)
    p.dataset = DatasetConfig("mnist", {})
    file = save(p, tmp_path / "p.loom")
    assert main(["inspect", str(file)]) == 0
    out = capsys.readouterr().out
    assert "note:" in out and "mnist" in out and out.splitlines()[-1] == "valid"
    p.dataset = DatasetConfig("mnist", {"train_limit": -1})
    save(p, file)
    assert main(["inspect", str(file), "--json"]) == 1
    info = json.loads(capsys.readouterr().out)
    assert any("train_limit" in p["message"] for p in info["problems"])
    assert not (tmp_path / "data").exists()


def test_a_file_dataset_whose_file_is_missing_is_reported(tmp_path, capsys):
    p = project(epochs=1)
    p.dataset = DatasetConfig("csv", {"path": str(tmp_path / "nope.csv")})
    file = save(p, tmp_path / "p.loom")
    assert main(["inspect", str(file)]) == 1
    assert "nope.csv does not exist" in capsys.readouterr().out


# --- item 7 -------------------------------------------------------------------------------


def _with_unknown_block_and_port(tmp_path: Path) -> Path:
    doc = to_dict(project(epochs=1))
    nodes = doc["networks"][0]["nodes"]
    nodes[1]["block"] = "Lineer"
    doc["networks"][0]["edges"][-1]["to"] = "y.nope"
    path = tmp_path / "p.loom"
    path.write_text(json.dumps(doc))
    return path


def test_unknown_blocks_and_ports_are_problems_not_unreadable_files(tmp_path, capsys):
    path = _with_unknown_block_and_port(tmp_path)
    before = path.read_bytes()
    assert main(["inspect", str(path)]) == 1
    out = capsys.readouterr().out
    assert "unknown block type 'Lineer'" in out and "'Linear'" in out
    assert "no input port 'nope'" in out
    assert main(["inspect", str(path), "--json"]) == 1
    info = json.loads(capsys.readouterr().out)
    assert not info["valid"] and {p["code"] for p in info["problems"]} >= {
        "unknown-block", "unknown-port"}
    assert path.read_bytes() == before
    # Every command that reads the project says the same: problems, exit 1.
    assert main(["codegen", str(path), "-o", str(tmp_path / "m.py")]) == 1
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 1
    assert "unknown block type 'Lineer'" in capsys.readouterr().err
    assert not (tmp_path / "m.py").exists() and not (tmp_path / "run").exists()
    path.write_text('{"format": "layerloom", "version": 2, "networks": [{"name": 3}]}')
    assert main(["inspect", str(path)]) == 2  # malformed: still unreadable
    assert main(["codegen", str(path), "-o", str(tmp_path / "m.py")]) == 2


def test_a_failed_download_says_what_is_kept_and_where_files_go(tmp_path):
    folder = tmp_path / "data" / "mnist"
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    with pytest.raises(DownloadError) as e:
        remote_mod.fetch("mnist", folder, names, mirror="http://127.0.0.1:9", retries=0,
                         backoff=0)
    message = str(e.value)
    assert "partial" not in message and "kept" not in message  # nothing was kept
    assert str(folder) in message and all(n in message for n in names)
