"""The dataset's augmentation list in the .loom: round trip, only-when-set, strict errors,
the schema, and old files with the augment params still loading unchanged."""

import json

import pytest

from builder import serialize
from builder.augment_spec import OPS, check_ops, describe_op, effective_ops, full_ops
from builder.blocks.spec import ParamError
from builder.document import DatasetConfig
from builder.gallery import template_path as template
from builder.reader import LoomError
from builder.schema import check_schema, loom_schema

PIPELINE = [{"op": "flip", "p": 0.5}, {"op": "rotate", "degrees": 15},
            {"op": "crop", "padding": 4}, {"op": "jitter", "brightness": 0.2},
            {"op": "blur", "sigma_min": 0.1, "sigma_max": 1.0},
            {"op": "erase", "p": 0.5, "area_min": 0.02, "area_max": 0.2},
            {"op": "noise", "std": 0.05}]


def _project():
    return serialize.load(template("alexnet"))


def test_list_round_trips_and_is_saved_only_when_set():
    p = _project()
    p.dataset = DatasetConfig(p.dataset.name, dict(p.dataset.params), list(PIPELINE))
    text = serialize.dumps(p)
    assert json.loads(text)["dataset"]["augment"] == PIPELINE
    assert serialize.loads(text) == p
    p.dataset.augment = []
    assert "augment" not in json.loads(serialize.dumps(p))["dataset"]


def _doc_with(augment):
    doc = serialize.to_dict(_project())
    doc["dataset"]["augment"] = augment
    return doc


@pytest.mark.parametrize("augment, message", [
    ([{"op": "spin"}], r"dataset\.augment\[0\]: unknown transform 'spin'"),
    ([{"op": "flip"}, {"op": "blurr"}], r"augment\[1\]: .*did you mean 'blur'"),
    ([{"op": "noise", "sdt": 0.1}], r"augment\[0\]\.sdt: .*did you mean 'std'"),
    ([{"op": "rotate", "degrees": 400}], r"augment\[0\]\.degrees: .*between 0 and 180"),
    ([{"op": "erase", "area_min": 0.5, "area_max": 0.1}], r"area_min 0\.5 is above area_max"),
    ([{"p": 0.5}], r"augment\[0\]: unknown transform None"),
    (["flip"], r"augment\[0\]: a transform must be an object"),
    ({"op": "flip"}, r"dataset\.augment: expected a list"),
])
def test_reader_refuses_bad_lists_naming_the_place(augment, message):
    with pytest.raises(LoomError, match=message):
        serialize.from_dict(_doc_with(augment))


def test_streams_lists_are_checked_too():
    doc = _doc_with([])
    doc["streams"] = {"target": {"name": "glyph_digits", "augment": [{"op": "nope"}]}}
    with pytest.raises(LoomError, match=r"streams\.target\.augment\[0\]"):
        serialize.from_dict(doc)


def test_schema_describes_every_op():
    schema = loom_schema()
    items = schema["$defs"]["dataset"]["properties"]["augment"]["items"]["oneOf"]
    assert [i["properties"]["op"]["const"] for i in items] == list(OPS)
    check_schema(_doc_with(PIPELINE))
    with pytest.raises(LoomError):
        check_schema(_doc_with([{"op": "flip", "p": 2.0}]))


def test_old_params_still_mean_what_they_meant():
    old = serialize.load(template("alexnet"))
    assert old.dataset.augment == []
    legacy = effective_ops([], {"augment": True, "crop_padding": 4, "flip": True, "jitter": 0})
    assert legacy == [{"op": "crop", "padding": 4}, {"op": "flip", "p": 0.5}]
    assert effective_ops([{"op": "noise"}], {"augment": True}) == [{"op": "noise"}]


def test_full_ops_fills_defaults_and_check_ops_names_the_place():
    assert full_ops([{"op": "noise"}]) == [{"op": "noise", "std": 0.05}]
    with pytest.raises(ParamError, match=r"augment\[0\]\.p"):
        check_ops([{"op": "flip", "p": -1}])
    assert describe_op({"op": "rotate", "degrees": 10.0}) == "Rotate ±10°, p 1"
    assert describe_op({"op": "erase"}) == "Erase 2%–20% of area, p 0.5"
