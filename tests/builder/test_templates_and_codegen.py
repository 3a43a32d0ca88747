"""Examples are tests: every gallery template loads, validates, compiles, and its generated
standalone code imports, is ruff-clean and matches the compiled module numerically."""

import importlib.util
import shutil
import subprocess
import sys

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from builder.codegen import class_name, generate
from builder.compiler import compile_network
from builder.gallery import DEFAULT, copy_template, templates
from builder.propagate import check

TEMPLATES = templates()
SMALL = [t for t in TEMPLATES if t.name != "alexnet"]  # alexnet: 62M params, checked on meta


def test_gallery_has_the_promised_templates():
    names = {t.name for t in TEMPLATES}
    assert {"mlp", "lenet", "alexnet", "resnet_small", "densenet_small",
            "mobilenet_small"} <= names and DEFAULT in names
    assert all(t.title and t.summary for t in TEMPLATES)


def _load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _random_inputs(compiled, batch=2):
    args = []
    for spec in compiled.inputs:
        shape = (batch, *(d if isinstance(d, int) else 7 for d in spec.shape))
        if spec.kind == "index":
            args.append(torch.randint(0, 5, shape))
        else:
            args.append(torch.randn(shape))
    return args


@pytest.mark.parametrize("template", SMALL, ids=lambda t: t.name)
def test_template_codegen_matches_compiled(template, tmp_path):
    from builder.serialize import load

    project = load(template.path)
    for net in project.networks.values():
        assert not check(net).problems, [str(p) for p in check(net).problems]  # no warning
    source = generate(project)
    path = tmp_path / f"{template.name}_gen.py"
    path.write_text(source)
    if shutil.which("ruff") or importlib.util.find_spec("ruff"):
        result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(path)],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout
    generated = _load_module(path, f"{template.name}_gen")
    for name, net in project.networks.items():
        compiled = compile_network(net)
        model = getattr(generated, class_name(name))()
        weights = tmp_path / f"{name}.safetensors"
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in compiled.module.state_dict().items()}, weights)
        generated.load_weights(model, str(weights))
        compiled.module.eval()
        model.eval()
        args = _random_inputs(compiled)
        with torch.no_grad():
            expected, actual = compiled.module(*args), model(*args)
        expected = expected if isinstance(expected, tuple) else (expected,)
        actual = actual if isinstance(actual, tuple) else (actual,)
        for e, a in zip(expected, actual):
            assert torch.equal(e, a)


def test_alexnet_figures_match_torch():
    from builder.analysis import analyze
    from builder.serialize import load

    net = load([t for t in TEMPLATES if t.name == "alexnet"][0].path).networks["main"]
    stats = analyze(net)
    assert stats.report.shapes.outputs["conv1"]["y"] == (96, 55, 55)
    with torch.device("meta"):
        module = compile_network(net).module
    # 62,378,344 with ImageNet's 1000-way fc8; the template's head has the 10 shape classes.
    assert stats.params == sum(p.numel() for p in module.parameters()) \
        == 62_378_344 - 4096 * (1000 - 10) - (1000 - 10) == 58_322_314
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(torch.zeros(1, 3, 227, 227, device="meta"))
    assert stats.flops == counter.get_total_flops()


def test_copy_template_never_overwrites(tmp_path):
    dest = copy_template("mlp", tmp_path / "mine.loom")
    assert dest.read_text().startswith("{")
    with pytest.raises(FileExistsError):
        copy_template("mlp", dest)
