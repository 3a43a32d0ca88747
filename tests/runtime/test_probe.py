"""Run to here: a block's output for one sample, fresh or with a run's weights."""

import numpy as np
import pytest
import torch

from builder.compiler import compile_network
from builder.gallery import template_path
from builder.serialize import load
from runtime.assemble import load_data
from runtime.checkpoint import save_weights
from runtime.probe import ProbeError, probe


def small(name: str):
    project = load(template_path(name))
    project.dataset.params["n_samples"] = 40
    return project, load_data(project)


@pytest.fixture(scope="module")
def lenet():
    return small("lenet")


def test_a_convolution_shows_its_feature_maps_for_one_sample(lenet, tmp_path):
    project, data = lenet
    fresh = probe(project, "main", "conv1", data=data)
    assert fresh.values.shape == (6, 28, 28) and fresh.part == "validation"
    assert fresh.weights.startswith("fresh") and fresh.zeros == ()
    torch.manual_seed(3)
    module = compile_network(project.networks["main"]).module.eval()
    run = tmp_path / "lenet-run-7"
    run.mkdir()
    save_weights(module, run / "main.safetensors")
    trained = probe(project, "main", "conv1", weights=run, data=data)
    x = next(data.batches("val", 1, shuffle=False, device="cpu", augment=False))["x"]
    with torch.no_grad():  # the same as running the block by hand on that sample
        np.testing.assert_allclose(trained.values, module.conv1(x)[0].numpy(), atol=1e-5)
    assert "lenet-run-7" in trained.weights
    stats = trained.stats
    assert stats["min"] <= stats["mean"] <= stats["max"] and 0 <= stats["zero share"] <= 1


def test_an_inline_block_an_output_and_a_name_that_is_not_there(lenet):
    project, data = lenet
    tanh = probe(project, "main", "tanh1", data=data).values
    assert tanh.shape == (6, 28, 28) and np.abs(tanh).max() <= 1
    assert probe(project, "main", "y", data=data).values.shape == (10,)  # what reaches it
    with pytest.raises(ProbeError, match="no block 'nope'"):
        probe(project, "main", "nope", data=data)


def test_a_decoder_runs_on_zeros_where_the_recipe_fills_its_input():
    project, data = small("vae")
    decoder = next(n for n, net in project.networks.items()
                   if any(node.params.get("source") == "recipe" for node in net.nodes.values()))
    out = next(i for i, node in project.networks[decoder].nodes.items()
               if node.block == "Output")
    p = probe(project, decoder, out, data=data)
    assert p.zeros == ("code",) and p.values.size == 28 * 28
