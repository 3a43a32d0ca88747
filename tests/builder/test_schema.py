"""The JSON Schema of ``.loom`` files: generated from the specs, enforced by the reader itself
(after its hand-written checks), lax where the app is lax on purpose (a block's params), and
in step with the training settings' own checks (issue 10)."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from builder.analysis import analyze
from builder.blocks import REGISTRY
from builder.document import OptimizerConfig, Project, TrainingSettings
from builder.gallery import templates
from builder.schema import check_schema, loom_schema, validator
from builder.serialize import LoomError, loads, to_dict
from builder.training import TRAINING_PARAMS, check_optimizer, check_schedule
from tests.conftest import grouped, mlp_network


def _doc(net=None) -> dict:
    return to_dict(Project(networks={"main": net or mlp_network()}))


def _refused(doc: dict) -> str:
    with pytest.raises(LoomError) as info:
        loads(json.dumps(doc))
    return str(info.value)


def test_both_schemas_are_valid_draft_2020_12():
    for strict in (False, True):
        Draft202012Validator.check_schema(loom_schema(strict=strict))


def test_every_block_type_and_training_setting_is_in_the_schema():
    schema = loom_schema(strict=True)
    node = schema["$defs"]["network"]["properties"]["nodes"]["items"]["properties"]
    assert node["block"]["enum"] == [*REGISTRY, "Group"]
    assert {f"{t}.params" for t in REGISTRY} <= set(schema["$defs"])
    training = schema["$defs"]["training"]["properties"]
    assert list(training) == [f.name for f in fields(TrainingSettings)]
    for name, p in TRAINING_PARAMS.items():
        assert training[name]["default"] == p.default
        if p.min is not None:
            assert training[name]["minimum"] == p.min


# --- the reader enforces it ---------------------------------------------------------------------


def test_the_reader_refuses_what_only_the_schema_forbids():
    doc = _doc()
    doc["training"]["optimizers"] = {"main net": {"name": "adam", "lr": 0.01}}
    assert _refused(doc) == ("training.optimizers: 'main net' is not a network name (letters, "
                             "digits and _, not starting with a digit, at most 64 characters) "
                             "nor \"*\"")
    doc = _doc()
    doc["recipe"]["roles"] = {"the model": "main"}
    assert _refused(doc).startswith("recipe.roles: 'the model' is not a name")


def test_the_hand_written_message_comes_first_where_both_apply():
    doc = _doc()
    doc["training"]["epochs"] = 0
    assert _refused(doc) == "training.epochs: epochs must be between 1 and 1,000,000; received 0"


def test_out_of_range_block_params_still_load_and_are_problems_on_the_node():
    doc = _doc()
    doc["networks"][0]["nodes"][1]["params"] = {"units": 0, "unit": 3}
    project = loads(json.dumps(doc))
    messages = [p.message for p in analyze(project.networks["main"]).report.problems]
    assert any("units must be" in m for m in messages), messages


def test_old_versions_are_migrated_before_the_schema_check():
    doc = _doc()
    doc["version"] = 0
    del doc["streams"]
    for key in ("samples_every", "samples_unit", "init", "stats_every"):
        del doc["training"][key]
    doc["networks"][0]["edges"] = [[*e["from"].split("."), *e["to"].split(".")]
                                   for e in doc["networks"][0]["edges"]]
    assert loads(json.dumps(doc)).networks["main"].edges == mlp_network().edges


def test_every_template_and_a_group_pass_both_schemas():
    strict = validator(loom_schema(strict=True))
    docs = [json.loads(t.path.read_text(encoding="utf-8")) for t in templates()]
    docs.append(_doc(grouped(mlp_network("inner"))))
    for doc in docs:
        check_schema(doc)
        assert not list(strict.iter_errors(doc)), doc.get("description")


# --- its messages -----------------------------------------------------------------------------


@pytest.mark.parametrize("params, message", [
    ({"units": 0}, "params.units: units must be at least 1; received 0"),
    ({"units": 2.5}, "params.units: expected a whole number, found the number 2.5"),
    ({"unit": 3}, "params: unknown key 'unit'; did you mean 'units'? (known: units, bias)"),
    ({"bias": "yes"}, "params.bias: expected true/false, found the text 'yes'"),
])
def test_the_strict_schema_says_where_and_what_like_the_reader(params, message):
    doc = _doc()
    doc["networks"][0]["nodes"][1]["params"] = params
    with pytest.raises(LoomError) as info:
        check_schema(doc, loom_schema(strict=True))
    assert str(info.value) == f"networks[0].nodes[1] (hidden).{message}"


def test_an_unknown_block_suggests_the_nearest():
    doc = _doc()
    doc["networks"][0]["nodes"][1]["block"] = "Linaer"
    with pytest.raises(LoomError, match=r"nodes\[1\] \(hidden\)\.block: 'Linaer' is not one "
                                        r"of .*did you mean 'Linear'\?"):
        check_schema(doc)


# --- in step with the training checks ------------------------------------------------------------

_SPELLINGS = ["adam", "Adam", " AdamW ", "SGD-momentum", "sgd momentum", "sgd+nesterov",
              "rms_prop", "lion", "adam-w", "ADAGRAD", "sgd", ""]
_HYPER = st.dictionaries(
    st.sampled_from(["momentum", "betas", "eps", "weight_decay", "alpha", "nesterov", "lr_decay",
                     "centered", "amsgrad", "dampening", "bogus"]),
    st.one_of(st.floats(-1, 2, allow_nan=False), st.booleans(),
              st.lists(st.floats(0, 1.2, allow_nan=False), min_size=1, max_size=3)),
    max_size=3)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(_SPELLINGS), lr=st.floats(-1, 1, allow_nan=False), params=_HYPER)
def test_schema_and_check_optimizer_accept_the_same_optimizers(name, lr, params):
    config = OptimizerConfig(name, lr, params)
    schema = {"$ref": "#/$defs/optimizer", "$defs": loom_schema()["$defs"]}
    by_schema = Draft202012Validator(schema).is_valid(
        {"name": name, "lr": lr, "params": params})
    assert by_schema == (check_optimizer(config) == []), (config, check_optimizer(config))


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(["constant", "Cosine", "one-cycle", "ONE_CYCLE", "step", "warmup",
                             "linear", "cos ine"]),
       values=st.dictionaries(st.sampled_from(["warmup_epochs", "step_size", "gamma",
                                               "min_factor", "pct_start", "div_factor",
                                               "final_div_factor", "bogus"]),
                              st.floats(-1, 2e4, allow_nan=False), max_size=3))
def test_schema_and_check_schedule_accept_the_same_schedules(name, values):
    schedule = {"name": name, **values}
    schema = {"$ref": "#/$defs/schedule", "$defs": loom_schema()["$defs"]}
    assert Draft202012Validator(schema).is_valid(schedule) == (check_schedule(schedule) == [])
