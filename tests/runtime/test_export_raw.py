"""Exported models take the raw data the user has (issue 10, item 1).

Training standardises float inputs with training-split statistics; the run folder records
them (``preprocess.json``), ONNX and the generated code apply them, and on the raw validation
data both answer exactly as the app's validation did.  A bare export writes them into the
ONNX metadata instead, and says so."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from builder.codegen import generate
from builder.compiler import compile_network
from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from runtime.data.registry import load as load_dataset
from runtime.export import export_project
from runtime.preprocess import (
    FILE,
    Preprocess,
    Standardise,
    WithPreprocess,
    load_preprocess,
    save_preprocess,
)
from runtime.trainer import Trainer

# Raw scale far from standard, differently per channel: a network fed these values unscaled
# sees inputs some 15 standard deviations off and answers one class for everything.
OFFSET, SCALE = (50.0, -20.0, 5.0), (3.0, 0.5, 10.0)


def _npz(path, n: int = 400, seed: int = 0):
    """Four classes of RGB 8×8 images: a bright quadrant, on a raw scale."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    base = rng.normal(0, 0.3, (n, 3, 8, 8))
    for i, k in enumerate(y):
        r, c = divmod(int(k), 2)
        base[i, :, r * 4:(r + 1) * 4, c * 4:(c + 1) * 4] += 1
    x = np.stack([OFFSET[c] + SCALE[c] * base[:, c] for c in range(3)], 1)
    np.savez(path, x=x.astype(np.float32), y=y.astype(np.int64))
    return path


def _project(npz) -> Project:
    net = Network("main")
    net.add("Input", id="image", shape=[3, 8, 8], kind="image", field="x")
    net.add("Conv2d", id="conv1", filters=4, kernel=3, padding=1)
    net.add("ReLU", id="relu1")
    net.add("Flatten", id="flat")
    net.add("Linear", id="logits", units=4)
    net.add("Output", id="y")
    net.chain("image", "conv1", "relu1", "flat", "logits", "y")
    return Project({"main": net},
                   DatasetConfig("npz", {"path": str(npz), "x_kind": "image",
                                         "val_fraction": 0.25, "seed": 3}),
                   RecipeConfig("classification", {"model": "main"}),
                   TrainingSettings(epochs=4, batch_size=32,
                                    optimizers={"*": OptimizerConfig("adam", 0.01)}))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One trained run: (project, run folder, the app's validation accuracy, raw val data)."""
    root = tmp_path_factory.mktemp("raw")
    npz = _npz(root / "quadrants.npz")
    p = _project(npz)
    trainer = Trainer(p, device="cpu", run_dir=root / "run", on_nonfinite="stop")
    finished = trainer.fit()
    assert finished.reason != "failed", trainer.failure
    app_accuracy = trainer.history[-1].val["accuracy"]
    raw = load_dataset("npz", {**p.dataset.params, "normalize": False})
    assert not raw.info.stats  # the raw data the user has
    return p, root / "run", app_accuracy, raw.val["x"], raw.val["y"]


def _accuracy(logits, y) -> float:
    return float((torch.as_tensor(logits).argmax(1) == y).float().mean())


def _onnx_logits(path, x: torch.Tensor, name: str = "image") -> np.ndarray:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {name: x.numpy()})[0]


def _within_one_sample(a: float, b: float, n: int) -> bool:
    return abs(a - b) * n <= 1.0 + 1e-9


def test_the_run_folder_records_the_training_statistics(run):
    p, folder, *_ = run
    assert (folder / FILE).is_file()
    pre = load_preprocess(folder)
    (field,) = pre.fields
    s = pre.fields["x"]
    assert field == "x" and s.kind == "image" and len(s.mean) == 3 == len(s.std)
    assert abs(s.mean[0] - OFFSET[0]) < 1.0 and abs(s.mean[1] - OFFSET[1]) < 0.5
    assert 0.5 < s.std[0] < 3.0 and 0.05 < s.std[1] < 0.5 and s.std[2] > 2.0


def test_onnx_on_raw_data_answers_like_the_app(run, tmp_path):
    p, folder, app_accuracy, x, y = run
    assert app_accuracy > 0.9  # the network learned the task
    (r,) = export_project(p, tmp_path / "m.onnx", weights=folder)
    assert r.ok, r.max_abs_diff
    assert "standardises image" in r.preprocess and "in the graph" in r.preprocess
    got = _accuracy(_onnx_logits(r.path, x), y)
    assert _within_one_sample(got, app_accuracy, len(y)), (got, app_accuracy)
    meta = {m.key: m.value for m in onnx.load(str(r.path)).metadata_props}
    recorded = json.loads(meta["layerloom.preprocess"])
    assert recorded["in_graph"] is True and recorded["inputs"]["image"]["field"] == "x"


def test_generated_code_on_raw_data_answers_like_the_app(run, tmp_path):
    p, folder, app_accuracy, x, y = run
    export_project(p, tmp_path / "m.onnx", weights=folder, code=tmp_path / "model.py")
    spec = importlib.util.spec_from_file_location("raw_model", tmp_path / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.load_weights(module.Main(), str(tmp_path / "main.safetensors")).eval()
    with torch.no_grad():
        got = _accuracy(model(x), y)
    assert _within_one_sample(got, app_accuracy, len(y)), (got, app_accuracy)
    bare = module.load_weights(module.MainBare(), str(tmp_path / "main.safetensors")).eval()
    s = load_preprocess(folder).fields["x"]
    standardised = (x - torch.tensor(s.mean).view(1, -1, 1, 1)) / torch.tensor(s.std).view(
        1, -1, 1, 1)
    with torch.no_grad():  # the bare network is there too, for standardised inputs
        assert torch.equal(bare(standardised), model(x))


def test_a_bare_export_carries_the_statistics_in_its_metadata(run, tmp_path):
    p, folder, app_accuracy, x, y = run
    (r,) = export_project(p, tmp_path / "bare.onnx", weights=folder, bare=True)
    assert r.ok and "bare network" in r.preprocess and "metadata" in r.preprocess
    meta = {m.key: m.value for m in onnx.load(str(r.path)).metadata_props}
    recorded = json.loads(meta["layerloom.preprocess"])
    assert recorded["in_graph"] is False
    stats = recorded["inputs"]["image"]
    pre = load_preprocess(folder).fields["x"]
    assert stats["mean"] == list(pre.mean) and stats["std"] == list(pre.std)
    assert stats["kind"] == "image" and stats["axis"] == 1
    mean = np.array(stats["mean"], np.float32).reshape(1, -1, 1, 1)
    std = np.array(stats["std"], np.float32).reshape(1, -1, 1, 1)
    # Standardised as the metadata says, the bare network answers like the app too.
    got = _accuracy(_onnx_logits(r.path, torch.from_numpy((x.numpy() - mean) / std)), y)
    assert _within_one_sample(got, app_accuracy, len(y))


def test_a_run_without_recorded_preprocessing_still_exports_and_says_so(run, tmp_path):
    p, folder, *_ = run
    old = tmp_path / "old_run"
    old.mkdir()
    (old / "main.safetensors").write_bytes((folder / "main.safetensors").read_bytes())
    (r,) = export_project(p, tmp_path / "old.onnx", weights=old, code=tmp_path / "old.py")
    assert r.ok and "no preprocessing recorded" in r.preprocess
    assert "standardised" in r.preprocess  # what the model takes then
    assert "No preprocessing was recorded" in (tmp_path / "old.py").read_text()


def test_a_checkpoint_folder_finds_its_runs_statistics(run, tmp_path):
    p, folder, *_ = run
    (r,) = export_project(p, tmp_path / "c.onnx", weights=folder / "checkpoint")
    assert "in the graph" in r.preprocess


def test_the_wrapper_standardises_vectors_and_sequences_along_the_last_axis():
    net = Network("main")
    net.add("Input", id="x", shape=[3], kind="vector")
    net.add("Linear", id="fc", units=2)
    net.add("Output", id="out")
    net.chain("x", "fc", "out")
    compiled = compile_network(net)
    pre = Preprocess({"x": Standardise("vector", (1.0, 2.0, 3.0), (2.0, 4.0, 0.5))})
    wrapped = WithPreprocess(compiled.module, compiled.inputs, pre).eval()
    x = torch.randn(5, 3)
    expect = compiled.module((x - torch.tensor([1.0, 2.0, 3.0])) / torch.tensor([2.0, 4.0, 0.5]))
    assert torch.equal(wrapped(x), expect)
    assert torch.allclose(wrapped.standardise(wrapped.raw([x]))[0], x, atol=1e-6)
    # The statistics are not weights: the state dict stays the network's.
    assert set(wrapped.state_dict()) == {f"net.{k}" for k in compiled.module.state_dict()}


def test_preprocess_round_trips_through_json(tmp_path):
    pre = Preprocess({"x": Standardise("image", (0.1, 0.2), (0.3, 0.4)),
                      "target.x": Standardise("vector", (1 / 3,), (2.0,))})
    save_preprocess(tmp_path, pre)
    assert load_preprocess(tmp_path) == pre
    assert load_preprocess(tmp_path / "nowhere") is None
    (tmp_path / FILE).write_text('{"fields": {"x": {"kind": "image", "op": "rotate"}}}')
    with pytest.raises(ValueError, match="rotate"):
        load_preprocess(tmp_path)


def test_generated_code_names_its_statistics_apart_from_the_nodes(tmp_path):
    """A node called like a statistic's buffer (``x_mean``) keeps its weights apart."""
    net = Network("main")
    net.add("Input", id="x", shape=[2], kind="vector")
    net.add("Linear", id="x_mean", units=3)
    net.add("Output", id="out")
    net.chain("x", "x_mean", "out")
    source = generate(Project({"main": net}),
                      preprocess={"main": {"x": ("vector", (1.0, -1.0), (2.0, 0.5))}})
    path = tmp_path / "gen.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("gen_stats", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model, bare = module.Main().eval(), module.MainBare().eval()
    bare.load_state_dict(model.state_dict())  # the same keys: saved weights load into both
    x = torch.randn(4, 2)
    with torch.no_grad():
        assert torch.equal(model(x), bare((x - torch.tensor([1.0, -1.0]))
                                          / torch.tensor([2.0, 0.5])))
