"""CSV, NPZ and image-folder datasets on files generated in tmp_path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from runtime.data import load, preview
from runtime.data.imagefolder import ImageFolderData


def _csv(tmp_path, text: str, name: str = "t.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_csv_text_target_is_classification(tmp_path):
    rows = ["size,colour,weight,kind"]
    rows += [f"{i % 7},{'red' if i % 2 else 'blue'},{'' if i == 3 else i * 0.5},"
             f"{['cat', 'dog', 'owl'][i % 3]}" for i in range(30)]
    s = load("csv", {"path": _csv(tmp_path, "\n".join(rows)), "val_fraction": 0.2})
    assert s.info.task == "classification"
    assert s.info.class_names == ("cat", "dog", "owl")
    assert s.info.extra["feature_names"] == ("size", "colour=blue", "colour=red", "weight")
    assert s.info.fields["x"].shape == (4,)
    assert np.bincount(s.val["y"].numpy()).tolist() == [2, 2, 2]
    assert abs(float(s.train["x"].mean())) < 1e-5  # standardised on training data
    assert s.info.mean is not None and len(s.info.mean) == 4


def test_csv_numeric_target_is_regression_and_codes_are_classes(tmp_path):
    rows = "a;b;price\n" + "\n".join(f"{i};{i * 2};{i * 1.37 + 0.01}" for i in range(40))
    s = load("csv", {"path": _csv(tmp_path, rows), "target": "price", "normalize": False})
    assert s.info.task == "regression" and s.info.fields["y"].shape == (1,)
    assert s.info.fields["x"].shape == (2,)
    coded = "f,label\n" + "\n".join(f"{i},{[10, 2, 33][i % 3]}" for i in range(30))
    c = load("csv", {"path": _csv(tmp_path, coded, "c.csv")})
    assert c.info.task == "classification"
    assert c.info.class_names == ("2", "10", "33")  # numeric order, not text order


def test_csv_several_binary_targets_are_multilabel(tmp_path):
    rows = "x1,x2,t1,t2\n" + "\n".join(f"{i},{-i},{i % 2},{(i // 2) % 2}" for i in range(20))
    s = load("csv", {"path": _csv(tmp_path, rows), "target": "t1, t2"})
    assert s.info.task == "multilabel"
    assert s.info.fields["y"] == s.info.fields["y"].__class__((2,), "target", "float32")


def test_csv_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="line 3: 2 cells where the header has 3"):
        load("csv", {"path": _csv(tmp_path, "a,b,c\n1,2,3\n1,2\n")})
    with pytest.raises(ValueError, match="no column 'z'; the columns are: a, b"):
        load("csv", {"path": _csv(tmp_path, "a,b\n1,2\n3,4\n"), "target": "z"})
    with pytest.raises(ValueError, match="choose a CSV file"):
        load("csv")
    with pytest.raises(ValueError, match="must be numbers"):
        load("csv", {"path": _csv(tmp_path, "a,b\n1,x\n2,y\n"), "task": "regression"})


def test_npz_vectors_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", feats=rng.normal(size=(50, 4)), cls=np.arange(50) % 5)
    s = load("npz", {"path": str(tmp_path / "d.npz"), "x_key": "feats", "y_key": "cls"})
    assert s.info.task == "classification" and s.info.num_classes == 5
    assert s.info.fields["x"].shape == (4,) and s.sizes() == (40, 10)


def test_npz_images_channels_last_and_generative(tmp_path):
    imgs = np.random.default_rng(1).integers(0, 256, (20, 8, 6, 3), dtype=np.uint8)
    np.savez(tmp_path / "i.npz", x=imgs)
    s = load("npz", {"path": str(tmp_path / "i.npz"), "y_key": "", "normalize": False})
    assert s.info.task == "generative"
    assert s.info.fields["x"].shape == (3, 8, 6) and s.info.fields["x"].kind == "image"
    assert float(s.train["x"].max()) <= 1.0
    p = preview(s, 4)
    assert p.kind == "image" and p.data.shape == (4, 8, 6, 3) and p.data.dtype == np.uint8


def test_npz_refuses_pickles_and_reports_missing_keys(tmp_path):
    np.savez(tmp_path / "o.npz", x=np.array([{"a": 1}, None], dtype=object), y=np.zeros(2))
    with pytest.raises(ValueError, match="pickle"):
        load("npz", {"path": str(tmp_path / "o.npz")})
    np.savez(tmp_path / "k.npz", inputs=np.zeros((4, 2)))
    with pytest.raises(KeyError, match="no array 'x'; it holds: inputs"):
        load("npz", {"path": str(tmp_path / "k.npz")})
    np.savez(tmp_path / "m.npz", x=np.zeros((4, 2)), y=np.array([[0, 1], [1, 1], [0, 0], [1, 0]]))
    assert load("npz", {"path": str(tmp_path / "m.npz")}).info.task == "multilabel"


def _image_folder(root, classes=("ant", "bee", "cat"), per_class=8, size=(12, 10)):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / c / f"{i}.png")
    return root


def test_image_folder_loads_through_a_loader(tmp_path):
    root = _image_folder(tmp_path / "pics")
    s = load("image_folder", {"path": str(root), "image_size": 8, "val_fraction": 0.25,
                              "workers": 0, "augment": True, "jitter": 0.2})
    assert isinstance(s.train, ImageFolderData)
    assert s.sizes() == (18, 6) and s.info.class_names == ("ant", "bee", "cat")
    assert s.info.fields["x"].shape == (3, 8, 8) and len(s.info.mean) == 3
    seen = []
    gen = torch.Generator().manual_seed(0)
    for batch in s.batches("train", 4, generator=gen, device="cpu"):
        assert batch["x"].shape[1:] == (3, 8, 8) and batch["x"].dtype == torch.float32
        seen.append(len(batch["y"]))
    assert sum(seen) == 18
    val = list(s.batches("val", 5))
    assert [len(b["y"]) for b in val] == [5, 1]
    p = preview(s, 3)
    assert p.kind == "image" and p.data.shape == (3, 8, 8, 3)


def test_image_folder_with_train_and_val_folders(tmp_path):
    _image_folder(tmp_path / "set" / "train", per_class=3)
    _image_folder(tmp_path / "set" / "val", per_class=1)
    s = load("image_folder", {"path": str(tmp_path / "set"), "image_size": 8,
                              "grayscale": True, "fit": "stretch", "workers": 0})
    assert s.sizes() == (9, 3)
    assert s.train[0]["x"].shape == (1, 8, 8)


def test_image_folder_reports_bad_images_and_layouts(tmp_path):
    root = _image_folder(tmp_path / "p", classes=("a", "b"), per_class=2)
    (root / "a" / "broken.png").write_bytes(b"not a png")
    s = load("image_folder", {"path": str(root), "normalize": False, "workers": 0,
                              "val_fraction": 0.0})
    with pytest.raises(ValueError, match="cannot read image .*broken.png"):
        [s.train[i] for i in range(len(s.train))]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no class sub-folders"):
        load("image_folder", {"path": str(tmp_path / "empty")})
    with pytest.raises(ValueError, match="not a folder"):
        load("image_folder", {"path": str(root / "a" / "0.png")})


def test_image_folder_with_worker_processes(tmp_path):
    root = _image_folder(tmp_path / "w", classes=("a", "b"), per_class=5)
    s = load("image_folder", {"path": str(root), "image_size": 8, "workers": 1})
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):  # the second epoch reuses the persistent worker
        assert sum(len(b["y"]) for b in s.batches("train", 3, generator=gen)) == 8
