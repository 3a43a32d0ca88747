"""ONNX export: checked, dynamic batch, named ports, parity with onnxruntime for every
template; standalone code loads the exported safetensors and computes the same thing."""

from __future__ import annotations

import importlib.util

import onnx
import pytest
import torch
from rt_helpers import project

from builder.compiler import compile_network
from builder.document import Network, Project
from builder.serialize import load
from resources import TEMPLATES
from runtime import export as export_mod
from runtime.checkpoint import CheckpointError, load_weights, save_weights
from runtime.export import TOLERANCE, example_inputs, export_project
from runtime.trainer import Trainer

TEMPLATE_NAMES = sorted(p.stem for p in TEMPLATES.glob("*.loom"))


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_template_exports_with_parity(name, tmp_path):
    p = load(TEMPLATES / f"{name}.loom")
    results = export_project(p, tmp_path / f"{name}.onnx")
    assert len(results) == len(p.networks)
    for r in results:
        assert r.ok and r.max_abs_diff <= TOLERANCE, (r.network, r.max_abs_diff)
        model = onnx.load(str(r.path))
        assert [i.name for i in model.graph.input] == r.inputs
        assert [o.name for o in model.graph.output] == r.outputs
        batch = model.graph.input[0].type.tensor_type.shape.dim[0]
        assert batch.dim_param == "batch"  # a dynamic batch axis


def test_trained_weights_export_and_codegen_round_trip(tmp_path):
    p = project(epochs=1)
    trainer = Trainer(p, device="cpu", run_dir=tmp_path / "run")
    trainer.fit()
    results = export_project(p, tmp_path / "out.onnx", weights=tmp_path / "run",
                             code=tmp_path / "model.py")
    assert results[0].ok
    spec = importlib.util.spec_from_file_location("exported_model", tmp_path / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.load_weights(module.Main(), str(tmp_path / "main.safetensors")).eval()
    trained = trainer.recipe.nets["model"].eval()
    x = torch.randn(7, 2)
    with torch.no_grad():
        assert torch.allclose(model(x), trained(x), atol=1e-6)


def test_a_multi_network_project_gets_one_file_per_network(tmp_path):
    p = load(TEMPLATES / "gan_2d.loom")
    results = export_project(p, tmp_path / "gan.onnx")
    assert sorted(r.path.name for r in results) == ["gan_discriminator.onnx",
                                                    "gan_generator.onnx"]
    assert results[0].inputs == ["z"]  # noise is an input of the exported generator


def test_weights_that_do_not_fit_are_refused(tmp_path):
    small = compile_network(project().networks["main"]).module
    save_weights(small, tmp_path / "w.safetensors")
    other = load(TEMPLATES / "gan_2d.loom")
    with pytest.raises(CheckpointError, match="does not fit"):
        load_weights(compile_network(other.networks["generator"]).module,
                     tmp_path / "w.safetensors")


def test_parity_failure_is_reported(monkeypatch, tmp_path):
    monkeypatch.setattr(export_mod, "parity", lambda compiled, path, **kw: 0.5)
    results = export_project(project(), tmp_path / "x.onnx")
    assert not results[0].ok and results[0].max_abs_diff == 0.5


def test_example_inputs_respect_index_inputs(tmp_path):
    net = Network("tokens")
    net.add("Input", id="ids", shape=[6], kind="tokens")
    net.add("Embedding", id="embed", vocab=11, dim=4)
    net.add("Output", id="vectors")
    net.chain("ids", "embed", "vectors")
    compiled = compile_network(net)
    (ids,) = example_inputs(compiled, 3)
    assert ids.dtype == torch.int64 and int(ids.max()) < 11 and ids.shape == (3, 6)
    results = export_project(Project({"tokens": net}), tmp_path / "t.onnx")
    assert results[0].ok
