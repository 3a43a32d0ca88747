"""mini_alexnet's variants: each switches off one of AlexNet's tricks in the network that is
really compiled (or the data that is really loaded), and ``sweep --variants`` trains them
all, one results row each."""

from __future__ import annotations

import csv

import pytest
from torch import nn

from app import cli as app_cli
from builder.compiler import compile_network
from builder.serialize import load, loads, save
from resources import TEMPLATES
from runtime.data.registry import load as load_data
from runtime.sweep import apply_setting, check_point

TEMPLATE = TEMPLATES / "mini_alexnet.loom"


@pytest.fixture(scope="module")
def base():
    return load(TEMPLATE)


def _variant(base, name: str):
    return loads(check_point(base, base.variants[name]))


def _modules(project, kind) -> list[nn.Module]:
    module = compile_network(project.networks["main"]).module
    return [m for m in module.modules() if isinstance(m, kind)]


def test_the_variants_switch_off_one_trick_each(base):
    assert list(base.variants) == ["all_on", "tanh", "no_lrn", "no_overlap_pooling",
                                   "no_dropout", "no_augmentation"]
    on = _variant(base, "all_on")
    assert len(_modules(on, nn.ReLU)) == 7 and not _modules(on, nn.Tanh)
    assert len(_modules(on, nn.LocalResponseNorm)) == 2
    assert {(m.kernel_size, m.stride) for m in _modules(on, nn.MaxPool2d)} == {(3, 2)}
    assert [m.p for m in _modules(on, nn.Dropout)] == [0.5, 0.5]

    tanh = _variant(base, "tanh")
    assert len(_modules(tanh, nn.Tanh)) == 7 and not _modules(tanh, nn.ReLU)
    assert not _modules(_variant(base, "no_lrn"), nn.LocalResponseNorm)
    pools = _modules(_variant(base, "no_overlap_pooling"), nn.MaxPool2d)
    assert len(pools) == 3 and {(m.kernel_size, m.stride) for m in pools} == {(2, 2)}
    assert [m.p for m in _modules(_variant(base, "no_dropout"), nn.Dropout)] == [0.0, 0.0]


def test_no_augmentation_loads_training_data_that_is_not_augmented(base):
    small = {**base.dataset.params, "n_samples": 60}
    with_aug = load_data(base.dataset.name, small, augment=base.dataset.augment)
    assert with_aug.augment is not None  # crops and flips, as the canvas shows
    plain = _variant(base, "no_augmentation").dataset
    assert plain.augment == [] and not plain.params.get("augment")
    assert load_data(plain.name, small, augment=plain.augment).augment is None


def test_dataset_augment_takes_a_list_and_the_strict_reader_checks_its_ops(base):
    project = load(TEMPLATE)
    apply_setting(project, "dataset.augment", [{"op": "flip", "p": 1.0}])
    assert project.dataset.augment == [{"op": "flip", "p": 1.0}]
    apply_setting(project, "dataset.augment", False)  # the old switch's "off" means none too
    assert project.dataset.augment == []
    with pytest.raises(ValueError, match="augment"):
        check_point(base, {"dataset.augment": [{"op": "no_such_op"}]})


def test_sweep_variants_trains_every_variant_of_a_tiny_copy(base, tmp_path, capsys):
    tiny = load(TEMPLATE)
    tiny.dataset.params["n_samples"] = 40
    tiny.training.batch_size = 4
    for conv in ("conv1", "conv2", "conv3", "conv4", "conv5"):  # the same net, thinner: fast
        apply_setting(tiny, f"main/{conv}.filters", 4)
    file = save(tiny, tmp_path / "tiny_alexnet.loom")
    out = tmp_path / "cmp"
    code = app_cli.main(["sweep", str(file), "--variants", "--max-steps", "2",
                         "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["variant"] for r in rows] == list(base.variants)
    assert all(r["status"] == "max_steps" and r["steps"] == "2" for r in rows)
    assert all(r["final_accuracy"] for r in rows)
    run_tanh = load(out / "run-002" / "project.loom").networks["main"]
    assert run_tanh.nodes["relu1"].block == "Tanh"
