"""``layerloom predict`` and ``runtime.predict.Predictor`` on real trained weights: gallery
templates trained a few steps into a run folder, then asked about PNG files, .npy arrays,
CSV rows and text, through the command line exactly as ``layerloom`` runs it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from app import cli as app_cli
from builder.serialize import load, save
from runtime.predict import InputError, Predictor
from runtime.trainer import Trainer

TEMPLATES = "resources/templates"


def _trained(root, name: str, steps: int, **data):
    """(the project file, the run folder, a Predictor on them)."""
    project = load(f"{TEMPLATES}/{name}.loom")
    project.dataset.params.update(data)  # a small instance: every command reloads it
    finished = Trainer(project, device="cpu", run_dir=root / name).fit(max_steps=steps)
    assert finished.reason != "failed"
    save(project, root / f"{name}.loom")
    return str(root / f"{name}.loom"), root / name, Predictor(project, root / name)


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    return _trained(tmp_path_factory.mktemp("predict"), "lenet", 8, n_samples=1200)


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    return _trained(tmp_path_factory.mktemp("predict"), "mlp", 20)


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):  # a sequence of symbols → the most frequent one
    return _trained(tmp_path_factory.mktemp("predict"), "rnn_many_to_one", 3, n_samples=600)


def _cli(capsys, *argv):
    code = app_cli.main(["predict", *argv])  # what `layerloom` runs
    out, err = capsys.readouterr()
    return code, out, err


def _png(image: np.ndarray, path) -> str:
    Image.fromarray((np.clip(image[0], 0, 1) * 255 + 0.5).astype(np.uint8)).save(path)
    return str(path)


def test_images_and_arrays_answer_as_the_recipe_does(lenet, tmp_path, capsys):
    file, run, p = lenet
    val = p.validation(range(3))
    shown = [p.shown(s) for s in val]  # de-standardised to [0, 1] for display
    assert all(s.shape == (1, 28, 28) and 0 <= s.min() and s.max() <= 1 for s in shown)
    files = [_png(shown[0], tmp_path / "a.png"), _png(shown[1], tmp_path / "b.png")]
    np.save(tmp_path / "c.npy", shown[2])
    files.append(str(tmp_path / "c.npy"))
    code, out, err = _cli(capsys, file, "--weights", str(run), *files, "--top", "3",
                          "--json")
    assert code == 0, err
    answers = json.loads(out)
    assert [a["input"] for a in answers] == files
    for a, sample, path in zip(answers, val, files):
        probs = [q["probability"] for q in a["predictions"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
        assert set(a["predictions"][0]) == {"class", "probability"}
        # The file read back is the validation sample to 8-bit rounding, standardised again.
        again = p.read_input(path)[0]
        step = 1 / 255 / p.data.info.std[0]
        assert torch.allclose(again.tensor, sample.tensor, atol=step)
        with torch.no_grad():
            own = p.recipe.prediction({p.spec.field: again.tensor[None]}, train=False)
        names = p.data.info.class_names
        assert a["predictions"][0]["class"] == names[int(own.argmax(-1))]


def test_human_output_is_one_line_per_input(lenet, tmp_path, capsys):
    file, run, p = lenet
    path = _png(p.shown(p.validation([0])[0]), tmp_path / "one.png")
    code, out, _ = _cli(capsys, file, "--weights", str(run), path)
    assert code == 0
    line, = out.strip().splitlines()
    assert line.startswith(f"{path} → ") and line.count(",") == 4  # top 5 by default


def test_csv_rows_and_inline_rows(mlp, tmp_path, capsys):
    file, run, p = mlp
    rows = tmp_path / "rows.csv"
    rows.write_text("x0,x1\n0.5,-0.2\n1,1\n", encoding="utf-8")
    code, out, err = _cli(capsys, file, "--weights", str(run),
                          str(rows), "0.1,0.3", "--json", "--top", "10")
    assert code == 0, err
    answers = json.loads(out)
    assert [a["input"] for a in answers] == [f"{rows}:1", f"{rows}:2", "0.1,0.3"]
    for a in answers:  # three spiral arms: every class, probabilities summing to one
        assert len(a["predictions"]) == 3
        assert abs(sum(q["probability"] for q in a["predictions"]) - 1) < 1e-5
    sample = p.read_input("0.1,0.3")[0]
    with torch.no_grad():
        own = p.recipe.prediction({"x": sample.tensor[None]}, train=False).softmax(-1)[0]
    assert answers[2]["predictions"][0]["probability"] == pytest.approx(float(own.max()),
                                                                       abs=1e-6)


def test_wrong_shapes_and_types_exit_2_naming_the_input(mlp, lenet, tmp_path, capsys):
    file, run, _ = mlp
    code, out, err = _cli(capsys, file, "--weights", str(run), "1,2,3", "0.5,oops")
    assert code == 2 and not out
    assert "'1,2,3': input 'x' expects [2] per sample; the row has [3]" in err
    assert "'oops' is not a number" in err and "Traceback" not in err
    np.save(tmp_path / "big.npy", np.zeros((2, 28, 28), np.float32))
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    code, _, err = _cli(capsys, lenet[0], "--weights", str(lenet[1]),
                        str(tmp_path / "big.npy"), str(tmp_path / "notes.txt"), "0.5,1",
                        str(tmp_path / "missing.png"))
    assert code == 2
    assert "big.npy: input 'image' expects [1, 28, 28] per sample; the array is [2, 28, 28]" \
        in err
    assert "notes.txt: a .txt file; input 'image'" in err
    assert "'0.5,1': input 'image' takes images [1, 28, 28]" in err
    assert "missing.png: no such file" in err


def test_missing_weights_and_unknown_files_exit_2(mlp, tmp_path, capsys):
    code, _, err = _cli(capsys, mlp[0], "--weights", str(tmp_path / "nowhere"), "1,2")
    assert code == 2 and "no weights at" in err
    code, _, err = _cli(capsys, str(tmp_path / "none.loom"), "--weights", str(mlp[1]), "1,2")
    assert code == 2 and "none.loom" in err
    code, _, err = _cli(capsys, f"{TEMPLATES}/gan_2d.loom", "--weights", str(mlp[1]), "1,2")
    assert code == 2 and "does not map an input to an answer" in err


def test_text_is_encoded_with_the_vocabulary(tokens, capsys):
    file, run, p = tokens
    code, out, err = _cli(capsys, file, "--weights", str(run), "abbacd", "--json", "--top", "2")
    assert code == 0, err
    answer, = json.loads(out)
    assert answer["input"] == "abbacd"
    probs = [q["probability"] for q in answer["predictions"]]
    assert len(probs) == 2 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
    sample = p.read_input("abbacd")[0]
    assert p.shown(sample) == "abbacd"  # as the model sees it: the ids, decoded
    with torch.no_grad():
        own = p.recipe.prediction({"x": sample.tensor[None]}, train=False)[0]
    assert answer["predictions"][0]["class"] == p.data.info.vocab[int(own.argmax())] or \
        answer["predictions"][0]["class"] == p.data.info.class_names[int(own.argmax())]
    with pytest.raises(InputError, match=r"'X', 'é' not in the vocabulary, which knows 'abcd'"):
        p.read_input("aXé")
    code, _, err = _cli(capsys, file, "--weights", str(run), "abz")
    assert code == 2 and "'z' not in the vocabulary" in err
