"""The reference is generated from the specs and never stale (issue 10): ``layerloom blocks``,
``datasets`` and ``recipes`` describe what exists, ``docs/reference.md`` and
``docs/loom.schema.json`` are what ``layerloom reference`` and ``layerloom schema`` print."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from builder.blocks import REGISTRY
from builder.document import Project
from builder.gallery import templates
from builder.schema import check_schema
from builder.serialize import LoomError, to_dict
from runtime import reference as ref
from runtime.cli import main
from runtime.data.registry import DATASETS
from runtime.recipes import RECIPES
from runtime.refdoc import reference_markdown
from runtime.schema import published_schema, schema_text
from tests.conftest import mlp_network

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def markdown() -> str:
    return reference_markdown()


@pytest.fixture(scope="module")
def schema() -> dict:
    return published_schema()


# --- the checked-in files are current ---------------------------------------------------------


def test_docs_reference_md_is_current(markdown):
    on_disk = (DOCS / "reference.md").read_text(encoding="utf-8")
    assert on_disk == markdown, ("docs/reference.md is stale; regenerate it with "
                                 "`.venv/bin/layerloom reference > docs/reference.md`")


def test_docs_loom_schema_json_is_current():
    on_disk = (DOCS / "loom.schema.json").read_text(encoding="utf-8")
    assert on_disk == schema_text(), ("docs/loom.schema.json is stale; regenerate it with "
                                      "`.venv/bin/layerloom schema > docs/loom.schema.json`")


def test_the_reference_covers_everything_and_says_what_normalisation_does(markdown):
    for name in [*REGISTRY, *DATASETS, *RECIPES]:
        assert f"### {name}" in markdown or f"#### {name}" in markdown, name
    assert "## Normalisation" in markdown and "training split" in markdown
    assert "take the raw data" in markdown and "metadata" in markdown
    assert "`grad`" in markdown and "stats_every" in markdown


# --- the published schema -------------------------------------------------------------------------


def _doc() -> dict:
    return to_dict(Project(networks={"main": mlp_network()}))


def test_the_published_schema_accepts_every_template(schema):
    Draft202012Validator.check_schema(schema)
    for t in templates():
        check_schema(json.loads(t.path.read_text(encoding="utf-8")), schema)


@pytest.mark.parametrize("part, value, message", [
    ("dataset", {"name": "monns"}, "dataset.name: 'monns' is not one of"),
    ("dataset", {"name": "moons", "params": {"noise": -1}},
     "dataset.params.noise: noise must be at least 0"),
    ("dataset", {"params": {"n_sample": 5}}, "dataset.params: unknown key 'n_sample'; did you "
                                             "mean 'n_samples'?"),
    ("recipe", {"name": "gan", "roles": {"generator": "main"}, "params": {"d_steps": 0}},
     "recipe.params.d_steps: d_steps must be at least 1"),
    ("streams", {"target": {"name": "moons", "params": {"bogus": 1}}},
     "streams.target.params: unknown key 'bogus'"),
])
def test_the_published_schema_knows_datasets_and_recipes(schema, part, value, message):
    doc = _doc()
    doc[part] = value
    with pytest.raises(LoomError, match=message.replace("(", r"\(").replace("?", r"\?")):
        check_schema(doc, schema)


# --- the commands -----------------------------------------------------------------------------


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_blocks_lists_every_block_by_category(capsys):
    code, out, _ = _run(capsys, "blocks")
    assert code == 0 and "Convolution\n" in out and "  Conv2d " in out
    code, out, _ = _run(capsys, "blocks", "--json")
    listing = json.loads(out)
    assert sum(len(c["blocks"]) for c in listing) == len(REGISTRY)


def test_one_block_has_ports_params_and_shapes(capsys):
    code, out, _ = _run(capsys, "blocks", "Add", "--json")
    info = json.loads(out)
    assert code == 0 and [p["name"] for p in info["inputs"]] == ["x1", "x2"]
    assert info["ports_vary"] and info["params"][0]["name"] == "inputs"
    code, out, _ = _run(capsys, "blocks", "Conv2d")
    assert "padding (pair, default 0)" in out and "or 'same'" in out
    assert "example with the default params: [3, 16, 16] → [16, 14, 14]" in out


@pytest.mark.parametrize("argv, message", [
    (("blocks", "BatchNorm2d"), "unknown block 'BatchNorm2d'; did you mean BatchNorm"),
    (("datasets", "mnsit"), "unknown dataset 'mnsit'; did you mean mnist"),
    (("recipes", "GAN"), "unknown recipe 'GAN'; did you mean gan?"),
    (("recipes", "zzz"), "unknown recipe 'zzz'; `layerloom recipes` lists them all"),
])
def test_an_unknown_name_exits_2_with_the_nearest(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "" and err.startswith(f"layerloom: {message}")
    assert err.count("\n") == 1


def test_datasets_show_kind_task_params_and_fields(capsys):
    code, out, _ = _run(capsys, "datasets")
    assert code == 0 and "moons" in out and "download" in out
    code, out, _ = _run(capsys, "datasets", "moons", "--json")
    info = json.loads(out)
    assert info["task"] == "classification" and "n_samples" in [p["name"] for p in info["params"]]
    assert info["fields"] == {"x": {"kind": "vector", "shape": [2], "dtype": "float32",
                                    "standardised": False},
                              "y": {"kind": "label", "shape": [], "dtype": "int64",
                                    "standardised": False}}
    assert ref.dataset_info("mnist")["fields"] is None  # never downloads to describe


def test_recipes_show_roles_feeds_streams_tasks_params_monitor(capsys):
    code, out, _ = _run(capsys, "recipes", "dann", "--json")
    info = json.loads(out)
    assert [r["name"] for r in info["roles"]] == ["features", "label_head", "domain_head"]
    assert [s["name"] for s in info["streams"]] == ["source", "target"]
    assert info["feeds"][0]["field"] == "features" and info["tasks"] == ["classification"]
    assert info["monitor"] == {"metric": "accuracy", "mode": "max"}
    code, out, _ = _run(capsys, "recipes", "gan")
    assert code == 0 and "roles\n  generator" in out and "nothing (no metric" in out


def test_schema_command_prints_the_published_schema(capsys):
    code, out, _ = _run(capsys, "schema")
    assert code == 0 and json.loads(out)["$schema"].endswith("2020-12/schema")
