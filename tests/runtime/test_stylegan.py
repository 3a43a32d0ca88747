"""StyleGAN-lite: the stylegan recipe trains with style mixing, draws its mixing grid and noise
picture from the right codes, and its generator exports to ONNX with parity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from rt_helpers import Recorder

from builder.blocks.modules.style import NoiseInjection
from builder.serialize import load
from resources import TEMPLATES
from runtime.assemble import compile_roles, load_data
from runtime.events import Failure, Samples, StepMetrics
from runtime.export import TOLERANCE, export_project
from runtime.recipes.gan import _seeded
from runtime.recipes.stylegan import (
    COL_SEED,
    MIX_COLS,
    MIX_ROWS,
    NOISE_CODES,
    NOISE_DRAWS,
    ROW_SEED,
    StyleGAN,
)
from runtime.trainer import Trainer


def _project(**params):
    p = load(TEMPLATES / "stylegan_shapes.loom")
    p.dataset.params["n_samples"] = 96
    p.recipe.params |= {"quality": False, **params}
    p.training.batch_size, p.training.samples_unit = 8, "end"
    return p


@pytest.fixture(scope="module")
def recipe():
    p = _project()
    data = load_data(p)
    torch.manual_seed(0)
    r = StyleGAN(compile_roles(p, ["generator", "discriminator"]), data.info, p.recipe.params)
    r.generator = torch.Generator().manual_seed(0)
    return r


def test_trains_a_few_steps_with_style_mixing_and_separate_losses():
    events = Recorder()
    finished = Trainer(_project(style_mixing=0.9), callback=events,
                       device="cpu").fit(max_steps=3)
    assert finished.reason == "max_steps", events.of(Failure)
    steps = events.of(StepMetrics)
    assert len(steps) == 3
    for s in steps:  # the template's D pays R1 on the real pictures
        assert {"loss_d", "loss_g", "d_real", "d_fake", "r1"} <= set(s.values)
        assert all(math.isfinite(v) for v in s.values.values())
    names = {e.name for e in events.of(Samples)}
    assert any(n.startswith("style mixing") for n in names)
    assert "noise inputs: one code, other noise" in names


def test_style_mixing_hands_later_blocks_another_samples_style(recipe):
    blocks, heights = recipe.blocks()
    assert heights == [4, 8, 16, 32] and recipe.coarse_count() == 2
    seen: list[torch.Tensor] = []
    handles = [b.register_forward_hook(lambda m, args, out: seen.append(args[1].detach()))
               for b in blocks]  # after the recipe's pre-hooks: what each block really got
    recipe.options["style_mixing"] = 1.0
    try:
        batch = {"x": torch.zeros(8, 3, 32, 32)}
        recipe._generate(batch, None, train=True)
    finally:
        recipe.options["style_mixing"] = 0.0
        for h in handles:
            h.remove()
    first = seen[0]
    changed = [i for i, w in enumerate(seen) if not torch.equal(w, first)]
    assert changed and changed == list(range(changed[0], len(blocks)))  # from a crossover on
    later = seen[changed[0]]
    rows = [next(j for j in range(8) if torch.equal(later[i], first[j])) for i in range(8)]
    assert sorted(rows) == list(range(8))  # every style is another sample's of the batch


def test_mixing_grid_rows_and_columns_are_the_unmixed_samples(recipe):
    grid = recipe.mixing_grid(step=0, epoch=0)
    cols = MIX_COLS + 1
    assert grid.kind == "images" and grid.extra["cols"] == cols
    assert grid.data.shape == ((MIX_ROWS + 1) * cols, 3, 32, 32)
    cells = grid.data.reshape(MIX_ROWS + 1, cols, 3, 32, 32)
    rows = recipe._images(recipe._make(MIX_ROWS, _seeded(recipe.device, ROW_SEED)))
    columns = recipe._images(recipe._make(MIX_COLS, _seeded(recipe.device, COL_SEED)))
    np.testing.assert_allclose(cells[0, 1:], columns, atol=1e-6)
    np.testing.assert_allclose(cells[1:, 0], rows, atol=1e-6)
    for i in range(MIX_ROWS):  # a mix is neither of its sources
        for j in range(MIX_COLS):
            assert np.abs(cells[i + 1, j + 1] - rows[i]).max() > 1e-4
            assert np.abs(cells[i + 1, j + 1] - columns[j]).max() > 1e-4


def test_noise_picture_shows_what_the_noise_changes(recipe):
    noise = [m for m in recipe.nets["generator"].modules() if isinstance(m, NoiseInjection)]
    assert noise == recipe.noise_blocks and len(noise) == 4
    shape = (NOISE_CODES * (NOISE_DRAWS + 1), 3, 32, 32)
    quiet = recipe.noise_picture(0, 0)  # fresh strengths are 0: the noise changes nothing
    assert quiet.data.shape == shape and quiet.extra["max_std"] == 0.0
    with torch.no_grad():
        for m in noise:
            m.strength.fill_(0.3)
    try:
        loud = recipe.noise_picture(0, 0)
        again = recipe.noise_picture(0, 0)
    finally:
        with torch.no_grad():
            for m in noise:
                m.strength.zero_()
    assert all(m.generator is None for m in noise)  # handed back to const mode
    cells = loud.data.reshape(NOISE_CODES, NOISE_DRAWS + 1, *shape[1:])
    assert loud.extra["max_std"] > 0 and np.abs(cells[:, 0] - cells[:, 1]).max() > 1e-3
    assert np.allclose(cells[..., -1:, :, :, :].max(), 1.0)  # the std map, scaled to white
    np.testing.assert_array_equal(loud.data, again.data)  # its own seed: repeatable


def test_generator_exports_to_onnx_with_parity(tmp_path):
    results = export_project(_project(), tmp_path / "sg.onnx")
    assert {r.network for r in results} == {"generator", "discriminator"}
    for r in results:
        assert r.ok and r.max_abs_diff <= TOLERANCE, (r.network, r.max_abs_diff)


def test_a_generator_without_style_blocks_is_refused():
    p = _project()
    gen = p.networks["generator"]
    from runtime.recipes.base import RecipeError

    data = load_data(p)
    for node in list(gen.nodes.values()):
        if node.block == "ModulatedConv2d":
            node.block, node.params = "Conv2d", {"filters": node.params["filters"],
                                                 "padding": "same"}
    gen.edges = [e for e in gen.edges if not (e.dst.endswith("_conv") and e.dst_port == "w")]
    with pytest.raises(RecipeError, match="no style block"):
        StyleGAN(compile_roles(p, ["generator", "discriminator"]), data.info, p.recipe.params)

