"""Comparisons: ``Project.variants`` in the .loom file (round trip, strict reading naming the
place), a block-type swap, and ``layerloom sweep --variants`` training each variant for real
into a results.csv with a ``variant`` column and per-layer gradient norms per run."""

from __future__ import annotations

import csv
import json

import pytest

from app import cli as app_cli
from builder.serialize import LoomError, dumps, load, loads, save, to_dict
from resources import TEMPLATES
from runtime.sweep import apply_setting, check_point
from runtime.variants import gradient_ratio, layer_gradients, variant_points

VARIANTS = {"sigmoid": {"main/relu1.block": "Sigmoid", "main/relu2.block": "Sigmoid"},
            "relu_fast": {"training.lr": 0.05}}


@pytest.fixture
def tiny(tmp_path):
    project = load(TEMPLATES / "mlp.loom")
    project.dataset.params["n_samples"] = 300
    project.training.stats_every = 1  # layer statistics on every step: few steps here
    project.variants = json.loads(json.dumps(VARIANTS))
    return save(project, tmp_path / "tiny.loom")


def test_variants_round_trip_and_are_left_out_when_empty(tiny):
    project = load(tiny)
    assert project.variants == VARIANTS
    assert loads(dumps(project)).variants == VARIANTS
    assert variant_points(project) == list(VARIANTS.values())
    project.variants = {}
    assert "variants" not in to_dict(project)  # older readers see an ordinary project


@pytest.mark.parametrize("variants, where", [
    ({"a": {"main/nope.units": 3}}, "variants.a.main/nope.units"),
    ({"a": {"other/relu1.block": "ReLU"}}, "variants.a.other/relu1.block"),
    ({"a": {"main/relu1.block": "Sigmoidd"}}, "did you mean 'Sigmoid'"),
    ({"a": {"learning_rate": 0.1}}, "variants.a: unknown setting 'learning_rate'"),
    ({"a": [1]}, "variants.a: expected an object"),
    ({"a": {"main/relu1.bypass": 1}}, "variants.a.main/relu1.bypass: expected true/false"),
    ({"a": {"main/hidden1.init": "kaiming"}}, "init must be one of"),
])
def test_a_bad_variant_is_refused_naming_the_place(tiny, variants, where):
    doc = json.loads(tiny.read_text())
    doc["variants"] = variants
    with pytest.raises(LoomError, match=where.replace(".", r"\.").replace("(", r"\(")):
        loads(json.dumps(doc))


def test_a_block_swap_keeps_the_ports_and_drops_foreign_params(tiny):
    project = load(tiny)
    apply_setting(project, "main/relu1.block", "LeakyReLU")
    apply_setting(project, "main/relu1.alpha", 0.2)
    node = project.networks["main"].nodes["relu1"]
    assert (node.block, node.params) == ("LeakyReLU", {"alpha": 0.2})
    apply_setting(project, "main/relu1.block", "ReLU")
    assert project.networks["main"].nodes["relu1"].params == {}
    with pytest.raises(ValueError, match="no port"):
        apply_setting(project, "main/relu1.block", "Add")  # its inputs are x1 and x2, not x
    text = check_point(load(tiny), VARIANTS["sigmoid"])
    assert loads(text).networks["main"].nodes["relu2"].block == "Sigmoid"
    assert loads(text).variants == {}  # a run is one plain project


def test_bypass_and_init_are_node_switches(tiny):
    project = load(tiny)
    apply_setting(project, "main/relu1.bypass", True)
    apply_setting(project, "main/hidden1.init", "he")
    nodes = project.networks["main"].nodes
    assert nodes["relu1"].bypass and nodes["hidden1"].init == "he"
    assert "bypass" not in nodes["relu1"].params and "init" not in nodes["hidden1"].params
    with pytest.raises(ValueError, match="expected true or false"):
        apply_setting(project, "main/relu1.bypass", "yes")


COMPARISONS = {"vanishing_gradients": 6, "learning_rates": 5, "mini_alexnet": 6}


def test_the_comparisons_are_the_templates_with_variants():
    held = {p.stem: len(load(p).variants) for p in sorted(TEMPLATES.glob("*.loom"))}
    assert {name: n for name, n in held.items() if n} == COMPARISONS


@pytest.mark.parametrize("name", sorted(COMPARISONS))
def test_the_comparison_templates_hold_valid_variants(name):
    from runtime.variants import check_variants

    check_variants(load(TEMPLATES / f"{name}.loom"))  # every variant builds a valid project


def test_sweep_variants_trains_each_variant(tiny, tmp_path, capsys):
    out = tmp_path / "cmp"
    code = app_cli.main(["sweep", str(tiny), "--variants", "--max-steps", "4",
                         "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["run"], r["variant"]) for r in rows] == [("run-001", "sigmoid"),
                                                       ("run-002", "relu_fast")]
    assert rows[0]["main/relu1.block"] == "Sigmoid" and rows[1]["main/relu1.block"] == ""
    assert rows[1]["training.lr"] == "0.05" and all(r["status"] == "max_steps" for r in rows)
    assert load(out / "run-001" / "project.loom").networks["main"].nodes["relu1"].block \
        == "Sigmoid"
    norms = layer_gradients(out / "run-001")
    assert list(norms) == ["main/hidden1", "main/hidden2", "main/logits"]
    assert gradient_ratio(norms) > 0


def test_sweep_variants_without_variants_is_refused(tmp_path, capsys):
    plain = save(load(TEMPLATES / "mlp.loom"), tmp_path / "plain.loom")
    assert app_cli.main(["sweep", str(plain), "--variants", "--out", str(tmp_path / "o")]) == 2
    assert "no variants" in capsys.readouterr().err
    assert app_cli.main(["sweep", str(plain), "--out", str(tmp_path / "o")]) == 2
    assert "--set" in capsys.readouterr().err
