"""``export --script`` for the user's own files: ``data.py`` reads the CSV or NPZ file from
its path with Layerloom's reader (nothing of the data is copied into the folder), splits and
standardises it as the app does, so the script's metrics equal the app's after the same
steps; ``train.py --data PATH`` reads a moved copy, and a missing file is one sentence.

The script runs in the same isolated subprocess as tests/runtime/test_scriptgen.py (its
import system refuses Layerloom's packages).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from builder.serialize import load, save
from tests.runtime.test_scriptgen import _RUNNER, TEMPLATES, _app, _export, _validation


def _script(folder, tmp_path, *args: str) -> subprocess.CompletedProcess:
    """``python train.py ARGS`` with Layerloom's packages unimportable."""
    return subprocess.run([sys.executable, "-c", _RUNNER, str(folder), "--device", "cpu",
                           "--out", str(tmp_path / "ckpt"), *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


def _run(folder, steps: int, tmp_path, *args: str) -> str:
    done = _script(folder, tmp_path, "--steps", str(steps), *args)
    assert done.returncode == 0, done.stderr
    assert "layerloom modules: []" in done.stdout
    return done.stdout


def _csv(path) -> None:
    """A small 3-class table: numbers (one with a gap), a text column, a text target."""
    rng = np.random.default_rng(3)
    lines = ["width;height;colour;species"]
    for i in range(150):
        k = i % 3
        w, h = rng.normal(k, 0.6), rng.normal(2 - k, 0.6)
        lines.append(f"{'' if i == 7 else f'{w:.3f}'};{h:.3f};{('red', 'green')[i % 2]};"
                     f"{('setosa', 'versicolor', 'virginica')[k]}")
    path.write_text("\n".join(lines) + "\n")


def _npz(path) -> None:
    """A small regression: y a smooth function of three float64 inputs."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(160, 3)) * (1.0, 5.0, 0.2) + (0.0, 10.0, -1.0)
    y = np.sin(x[:, 0]) + 0.1 * x[:, 1] + rng.normal(0, 0.05, 160)
    np.savez(path, inputs=x, target=y)


def _project(tmp_path, kind: str):
    """The mlp template reading the file: (project path, data file)."""
    project = load(TEMPLATES / "mlp.loom")
    nodes = project.networks["main"].nodes.values()
    node_in = next(n for n in nodes if n.block == "Input")
    node_out = [n for n in nodes if n.block == "Linear"][-1]
    if kind == "csv":
        data = tmp_path / "flowers.csv"
        _csv(data)
        project.dataset.name = "csv"
        project.dataset.params = {"path": str(data), "target": "species", "normalize": True,
                                  "seed": 5}
        node_in.params["shape"] = [4]  # width, height, colour=green, colour=red
    else:
        data = tmp_path / "signal.npz"
        _npz(data)
        project.dataset.name = "npz"
        project.dataset.params = {"path": str(data), "x_key": "inputs", "y_key": "target",
                                  "normalize": True, "val_fraction": 0.25}
        project.recipe.name = "regression"
        project.recipe.params = {"loss": "mse"}
        node_in.params["shape"] = [3]
        node_out.params["units"] = 1
    project.training.batch_size = 32
    path = tmp_path / f"{kind}.loom"
    save(project, path)
    return path, data


@pytest.mark.parametrize("kind, steps, metrics", [
    ("csv", 12, ("loss", "accuracy")),
    ("npz", 12, ("loss", "mse", "mae", "r2")),
])
def test_the_script_reads_the_users_file_to_the_apps_numbers(kind, steps, metrics, tmp_path):
    project, data = _project(tmp_path, kind)
    code, folder = _export(tmp_path, kind, project=project)
    assert code == 0
    names = {p.name for p in folder.iterdir()}
    assert "data.npz" not in names and data.name not in names  # the file is read, not copied
    assert sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) < 40_000
    assert "reads your file" in (folder / "README.txt").read_text()
    assert repr(str(data.resolve())) in (folder / "data.py").read_text()
    mine, app = _validation(_run(folder, steps, tmp_path)), _app(project, steps)
    for key in metrics:  # printed with 5 significant digits
        assert mine[key] == pytest.approx(app[key], rel=1e-4, abs=1e-4), (key, mine, app)

    moved = tmp_path / "elsewhere" / data.name
    moved.parent.mkdir()
    shutil.move(data, moved)
    gone = _script(folder, tmp_path, "--steps", "1")
    assert gone.returncode == 1
    assert "Traceback" not in gone.stderr
    assert f"data file {data.resolve()} not found" in gone.stderr and "--data" in gone.stderr
    again = _run(folder, steps, tmp_path, "--data", str(moved))
    assert _validation(again) == mine


def test_a_file_that_encodes_differently_is_refused_in_a_sentence(tmp_path):
    project, data = _project(tmp_path, "csv")
    code, folder = _export(tmp_path, "csv", project=project)
    assert code == 0
    other = tmp_path / "other.csv"
    other.write_text(data.read_text().replace(";red;", ";blue;", 1))
    done = _script(folder, tmp_path, "--steps", "1", "--data", str(other))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "encode as 5 inputs" in done.stderr and "the model takes 4" in done.stderr


def _variants(tmp_path):
    """(dataset, params) for the layouts the reader resolves at export."""
    rng = np.random.default_rng(6)
    images = tmp_path / "images.npz"  # uint8, channels last, classes: scaled and transposed
    np.savez(images, x=rng.integers(0, 256, (40, 6, 6, 3), dtype=np.uint8),
             y=np.arange(40) % 4)
    seqs = tmp_path / "seqs.npz"  # float sequences [N, T] → [N, T, 1], targets [N, 2, 2]
    np.savez(seqs, a=rng.normal(size=(30, 5)), b=rng.normal(size=(30, 2, 2)))
    tokens = tmp_path / "tokens.npz"  # token ids, whole-number targets taken as values
    np.savez(tokens, x=rng.integers(0, 9, (30, 7)), y=np.arange(30) % 3)
    table = tmp_path / "table.tsv"  # no header, tab-separated, two numeric targets
    table.write_text("\n".join(f"{i}\t{'ab'[i % 2]}\t{i * 0.5}\t{i % 3}" for i in range(30)))
    return [
        ("npz", {"path": str(images), "normalize": True}),
        ("npz", {"path": str(seqs), "x_key": "a", "y_key": "b", "x_kind": "sequence",
                 "normalize": True}),
        ("npz", {"path": str(images), "y_key": "", "x_kind": "vector", "normalize": True}),
        ("npz", {"path": str(tokens), "x_kind": "tokens", "task": "regression"}),
        ("npz", {"path": str(seqs), "x_key": "a", "y_key": "", "normalize": False}),
        ("csv", {"path": str(table), "header": False, "delimiter": "tab",
                 "target": "2, 3", "normalize": False}),
    ]


def test_every_layout_of_a_file_is_read_by_data_py_exactly(tmp_path):
    from runtime.data.registry import DATASETS, load
    from runtime.scriptgen.data import data_code

    for name, params in _variants(tmp_path):
        splits = load(name, params)
        made = data_code(name, DATASETS[name].coerce(params), splits)
        # data_code checks load_data against the app's parts array for array; the file
        # route is kept only when they are equal.
        assert made.arrays is None and "reads your file" in made.how, (name, params)
        assert ("def standardise" in made.source) == bool(params.get("normalize"))
