"""The reader is strict at every level in the same way, and its messages are honest (issue 10,
items 5 and 7): unknown keys name the key, where, and the nearest valid key; duplicate keys
and non-finite numbers are refused with where they are; values print the JSON way and short."""

import json
import re

import pytest

from builder.blocks.spec import Param, ParamError, coerce_params
from builder.document import OptimizerConfig, Project, TrainingSettings
from builder.jsontext import describe, nearest, show
from builder.serialize import LoomError, loads, to_dict
from builder.training import check_training
from tests.conftest import grouped, mlp_network


def _base(net=None) -> dict:
    return to_dict(Project(networks={"main": net or mlp_network()}))


def _refused(doc) -> str:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    with pytest.raises(LoomError) as info:
        loads(text)
    return str(info.value)


# --- 1. unknown keys at every level ---------------------------------------------------------

NODE_KEYS = "(known: id, block, params, pos, trainable, init, subnet, bypass, lr_scale)"


def test_node_typo_param_is_refused_not_dropped():
    doc = _base()
    node = doc["networks"][0]["nodes"][1]
    node["param"] = node.pop("params")
    assert _refused(doc) == ("networks[0].nodes[1] (hidden): unknown key 'param'; did you mean "
                             f"'params'? {NODE_KEYS}")


def _set(path: str, value):
    def change(doc):
        target = doc
        *parents, last = path.split("/")
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        target[last] = value
    return change


@pytest.mark.parametrize("change, where, key, meant", [
    (_set("descripton", "x"), "the file", "descripton", "description"),
    (_set("Networks", []), "the file", "Networks", "networks"),
    (_set("networks/0/edge", []), "networks[0]", "edge", "edges"),
    (_set("networks/0/nodes/1/trainabel", False), "networks[0].nodes[1] (hidden)", "trainabel",
     "trainable"),
    (_set("networks/0/edges/0/too", "x.y"), "networks[0].edges[0]", "too", "to"),
    (_set("dataset/parms", {}), "dataset", "parms", "params"),
    (_set("recipe/role", {}), "recipe", "role", "roles"),
    (_set("streams", {"target": {"name": "moons", "param": {}}}), "streams.target", "param",
     "params"),
    (_set("training/epoch", 3), "training", "epoch", "epochs"),
    (_set("training/optimizers", {"main": {"name": "adam", "Lr": 0.1}}),
     "training.optimizers.main", "Lr", "lr"),
])
def test_unknown_keys_read_the_same_at_every_level(change, where, key, meant):
    doc = _base()
    change(doc)
    message = _refused(doc)
    assert message.startswith(f"{where}: unknown key '{key}'; did you mean '{meant}'? (known: ")
    assert re.fullmatch(r"[^:]+: unknown key '\w+'; did you mean '\w+'\? \(known: [\w, ]+\)",
                        message), message


def test_unknown_key_inside_a_group_names_the_path():
    doc = _base(grouped(mlp_network("inner")))
    doc["networks"][0]["nodes"][1]["subnet"]["nodes"][0]["blok"] = "Input"
    assert _refused(doc).startswith("networks[0].nodes[1] (block).subnet.nodes[0] (x): unknown "
                                    "key 'blok'; did you mean 'block'?")


def test_unknown_key_without_a_near_one_lists_the_known_and_every_unknown():
    doc = _base()
    doc["zzz"] = 1
    doc["qqq"] = 2
    message = _refused(doc)
    assert message == ("the file: unknown key 'zzz'; also unknown: 'qqq' (known: format, "
                       "version, description, networks, dataset, recipe, training, streams, "
                       "variants, sweep)")


def test_a_typo_in_a_required_key_is_named_as_the_typo():
    doc = _base()
    node = doc["networks"][0]["nodes"][1]
    node["ID"] = node.pop("id")
    assert _refused(doc).startswith("networks[0].nodes[1]: unknown key 'ID'; did you mean 'id'?")


# --- 2. duplicate keys --------------------------------------------------------------------------


def test_duplicate_top_level_key_is_refused():
    text = json.dumps(_base())
    text = text.replace('"description": ""', '"description": "a", "description": "b"')
    assert _refused(text).startswith("the file: duplicate key 'description'")


def test_duplicate_key_deep_inside_names_where():
    text = json.dumps(_base()).replace('"units": 16', '"units": 16, "units": 32')
    message = _refused(text)
    assert message.startswith("networks[0].nodes[1] (hidden).params: duplicate key 'units'"), \
        message


# --- 3. numbers and JSON spelling in messages -------------------------------------------------


def _no_long_number(message: str) -> None:
    assert not re.search(r"\d{30}", message), message
    assert len(message) < 300, message


def test_huge_whole_numbers_are_shortened_in_messages():
    doc = _base()
    doc["training"]["epochs"] = 10**400
    message = _refused(doc)
    _no_long_number(message)
    assert "received 1000000000…(401 digits)" in message
    doc = _base()
    doc["version"] = 10**400
    _no_long_number(_refused(doc))
    with pytest.raises(ParamError) as info:
        Param("units", "int", 1, min=1).coerce(-(10**400))
    _no_long_number(str(info.value))
    assert "received -1000000000…(401 digits)" in str(info.value)


def test_whole_number_beyond_pythons_limit_names_where():
    text = json.dumps(_base()).replace('"units": 16', '"units": ' + "7" * 5000)
    message = _refused(text)
    assert message.startswith("networks[0].nodes[1] (hidden).params.units: "), message
    assert "5,000 digits" in message and "sys.set_int_max_str_digits" not in message
    _no_long_number(message)


@pytest.mark.parametrize("change, expected", [
    (_set("training/init", {"main": False}), "training.init.main: init must name a run folder "
                                             "or a weights file; received false"),
    (_set("recipe/roles", {"model": None}), "role 'model' is bound to null,"),
    (_set("training/schedule", {"name": True}), "training.schedule.name: unknown schedule true;"),
    (_set("training/optimizers", {"main": {"name": "adam", "params": {"betas": [True, None]}}}),
     "received true"),
    (_set("training/optimizers", {"main": {"name": "adam", "params": {"betas": None}}}),
     "betas must be two numbers [β₁, β₂]; received null"),
    (_set("format", False), "this is not a Layerloom project (format false)"),
    (_set("networks/0/nodes/1/init", None), "init: expected a text, found null"),
])
def test_messages_print_values_the_json_way(change, expected):
    doc = _base()
    change(doc)
    message = _refused(doc)
    assert expected in message
    assert not re.search(r"\b(True|False|None)\b", message), message


def test_param_messages_print_values_the_json_way():
    for value, shown in [(True, "true"), (None, "null"), ([1, None], "[1, null]"),
                         ({"a": False}, '{"a": false}')]:
        with pytest.raises(ParamError) as info:
            Param("units", "int", 1).coerce(value)
        assert str(info.value).endswith(f"received {shown}")
    with pytest.raises(ParamError, match=r"received 'x{39}…'$"):
        Param("units", "int", 1).coerce("x" * 10_000)
    _, errors = coerce_params([Param("units", "int", 1)], {"unit": 3}, "Linear")
    assert errors == [("unit", "Linear has no param 'unit'; did you mean 'units'?")]


def test_training_messages_print_values_the_json_way():
    settings = TrainingSettings(device=None, init={"main": None},
                                optimizers={"main": OptimizerConfig("adam", 1e-3,
                                                                    {"betas": True})})
    messages = [m for _, m in check_training(settings)]
    assert any(m.endswith("received null") for m in messages), messages
    assert any(m.endswith("received true") for m in messages), messages
    assert not any(re.search(r"\b(True|False|None)\b", m) for m in messages), messages


def test_long_texts_are_cut():
    doc = _base()
    doc["networks"][0]["nodes"][1]["block"] = "Q" * 10_000
    message = _refused(doc)
    assert len(message) < 200 and "…" in message


def test_show_and_describe():
    assert show(True) == "true" and show(None) == "null" and show(1.5) == "1.5"
    assert show(10**25) == "1000000000…(26 digits)" and show(-5) == "-5"
    assert show([1, "a", {"b": None}]) == '[1, "a", {"b": null}]'
    assert show(float("inf")) == "Infinity" and show(float("nan")) == "NaN"
    assert len(show(list(range(10_000)))) < 100
    assert describe(False) == "false" and describe(3) == "the number 3"
    assert describe("x") == "the text 'x'" and describe([]) == "a list"
    assert nearest("Parm", ["params", "pos"]) == "params" and nearest("zz", ["params"]) is None


# --- 4. non-finite numbers anywhere -------------------------------------------------------------


@pytest.mark.parametrize("old, new, where, what", [
    ('"units": 16', '"units": NaN', "networks[0].nodes[1] (hidden).params.units", "NaN"),
    ('"description": ""', '"description": Infinity', "description", "Infinity"),
    ('"lr": 0.001', '"lr": -Infinity', "training.optimizers.main.lr", "-Infinity"),
    ('"l1": 0.0', '"l1": 1e400', "training.l1", "1e400"),
    ('"validation_split": 0.2', '"validation_split": -2.5e999', "training.validation_split",
     "-2.5e999"),
])
def test_non_finite_numbers_are_refused_naming_where(old, new, where, what):
    doc = _base()
    doc["training"]["optimizers"] = {"main": {"name": "adam", "lr": 0.001, "params": {}}}
    text = json.dumps(doc)
    assert old in text
    message = _refused(text.replace(old, new, 1))
    assert message.startswith(f"{where}: {what} ") and "finite" in message, message


# --- no traceback on malformed containers ------------------------------------------------------


@pytest.mark.parametrize("change, expected", [
    (_set("training/optimizers", [1]), "training.optimizers: expected an object, found a list"),
    (_set("training/optimizers", None), "training.optimizers: expected an object, found null"),
    (_set("version", 0), None),
])
def test_malformed_containers_give_messages(change, expected):
    doc = _base()
    change(doc)
    if expected is None:  # version 0 with networks that are not a list
        doc["networks"] = 5
        expected = "networks: expected a list, found the number 5"
    assert expected in _refused(doc)


# --- old files load unchanged ---------------------------------------------------------------


def test_version_1_file_loads_with_the_new_fields_defaulted():
    doc = _base()
    doc["version"] = 1
    del doc["streams"]
    for key in ("samples_every", "samples_unit", "init"):
        del doc["training"][key]
    project = loads(json.dumps(doc))
    assert project == Project(networks={"main": mlp_network()})


def test_version_0_file_with_list_edges_still_loads():
    doc = _base()
    doc["version"] = 0
    doc["networks"][0]["edges"] = [[*e["from"].split("."), *e["to"].split(".")]
                                   for e in doc["networks"][0]["edges"]]
    assert loads(json.dumps(doc)).networks["main"].edges == mlp_network().edges
