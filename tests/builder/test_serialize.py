"""The .loom format: round trip, strict reading of bad files, atomic save, migrations."""

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.document import Network, Node, Project, TrainingSettings, valid_name
from builder.serialize import LoomError, dumps, load, loads, save, to_dict
from tests.conftest import grouped, mlp_network


def test_round_trip_equals(mlp_project):
    mlp_project.networks["main"].nodes["hidden"].trainable = False
    mlp_project.networks["main"].nodes["logits"].init = "xavier"
    mlp_project.training = TrainingSettings(epochs=3, l2=1e-4, seed=7)
    assert loads(dumps(mlp_project)) == mlp_project


def test_group_round_trip():
    project = Project(networks={"main": grouped(mlp_network("inner"))})
    assert loads(dumps(project)) == project


names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(valid_name)


@settings(max_examples=50, deadline=None)
@given(ids=st.lists(names, min_size=1, max_size=12, unique=True),
       units=st.lists(st.integers(1, 10_000), min_size=12, max_size=12),
       pos=st.tuples(st.floats(-1e5, 1e5), st.floats(-1e5, 1e5)))
def test_round_trip_property(ids, units, pos):
    net = Network("main")
    for i, node_id in enumerate(ids):
        net.nodes[node_id] = Node(node_id, "Linear", {"units": units[i]},
                                  (round(pos[0], 2), round(pos[1], 2)))
    for a, b in zip(ids, ids[1:]):
        net.connect(a, b)
    project = Project(networks={"main": net})
    assert loads(dumps(project)) == project


def _doc(**changes):
    net = mlp_network()
    doc = to_dict(Project(networks={"main": net}))
    for path, value in changes.items():
        target = doc
        *parents, last = path.split("/")
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        if value is KeyError:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return json.dumps(doc)


@pytest.mark.parametrize("text, message", [
    ("", "not valid JSON at line 1"),
    ('{"format": "layerloom", "version": 1, "networks": [', "not valid JSON"),
    ("[1, 2]", "expected a Layerloom project object"),
    (_doc(version=99), "newer than this Layerloom"),
    (_doc(version="1"), "version: expected a whole number, found the text '1'"),
    (_doc(**{"networks/0/nodes/1/block": "Conv9d"}), "nodes[1] (hidden): unknown block type"),
    (_doc(**{"networks/0/nodes/1/id": "x"}), "duplicate node id 'x'"),
    (_doc(**{"networks/0/nodes/1/id": "9lives"}), "node id '9lives' must be letters"),
    (_doc(**{"networks/0/nodes/1/params": [1, 2]}), "params: expected an object, found a list"),
    (_doc(**{"networks/0/nodes/1/pos": [1]}), "pos must be two finite numbers"),
    (_doc(**{"networks/0/edges/0/to": "ghost.x"}), "edges[0].to: refers to a node 'ghost'"),
    (_doc(**{"networks/0/edges/0/to": "hidden.nope"}), "'hidden' has no input port 'nope'"),
    (_doc(**{"networks/0/edges/0/from": "x"}), "must look like 'node.port'"),
    (_doc(**{"networks/0/nodes/1/init": "magic"}), "init must be one of"),
    (_doc(**{"training/epochs": "ten"}), "training.epochs: expected a whole number"),
    (_doc(**{"training/bogus": 1}), "training: unknown key 'bogus' (known: epochs, "),
    (_doc(**{"training/epochs": -5}),
     "training.epochs: epochs must be between 1 and 1,000,000; received -5"),
    (_doc(**{"training/l2": -0.1}), "training.l2: l2 must be between 0 and 10"),
    (_doc(**{"training/device": "tpu"}), "training.device: device must be one of auto, cpu"),
    (_doc(**{"training/optimizers": {"main": {"name": "adam", "lr": 0}}}),
     "training.optimizers.main.lr: lr must be between"),
    (_doc(**{"training/optimizers": {"main": {"name": "lion", "lr": 0.1}}}),
     "training.optimizers.main.name: unknown optimizer 'lion'"),
    (_doc(**{"training/optimizers": {"main": {"name": "sgd", "lr": 0.1,
                                              "params": {"momentum": 2}}}}),
     "training.optimizers.main.params.momentum: momentum must be between 0 and 0.9999"),
    (_doc(**{"training/schedule": {"name": "step", "gamma": 3}}),
     "training.schedule.gamma: gamma must be between 0 and 1"),
    (_doc(**{"training/schedule": {"name": "cosine", "gamma": 0.5}}),
     "training.schedule: schedule 'cosine' has no setting 'gamma'"),
    (_doc(**{"recipe/roles": {"model": "ghost"}}), "bound to 'ghost'"),
    (_doc(**{"networks/0/name": "my net"}), "network name 'my net'"),
    ('{"format": "layerloom", "version": 1, "networks": [], "description": NaN}',
     "NaN is not allowed"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_bad_files_give_clear_messages(text, message):
    with pytest.raises(LoomError) as info:
        loads(text)
    assert message in str(info.value)


def test_huge_numbers_load_and_are_reported_not_crashing():
    from builder.propagate import check

    text = _doc(**{"networks/0/nodes/1/params": {"units": 10**400}})
    project = loads(text)
    problems = check(project.networks["main"]).problems
    assert any(p.node == "hidden" and "units must be" in p.message for p in problems)


def test_deeply_nested_groups_refused():
    net = {"name": "g0", "nodes": [], "edges": []}
    current = net
    for i in range(20):
        child = {"name": f"g{i + 1}", "nodes": [], "edges": []}
        current["nodes"].append({"id": "inner", "block": "Group", "subnet": child})
        current = child
    doc = {"format": "layerloom", "version": 1, "networks": [net]}
    with pytest.raises(LoomError, match="nested more than 16 levels"):
        loads(json.dumps(doc))


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(LoomError, match="no such file"):
        load(tmp_path / "missing.loom")
    bad = tmp_path / "bad.loom"
    bad.write_bytes(b"\xff\xfe garbage")
    with pytest.raises(LoomError, match="bad.loom: not a text file"):
        load(bad)
    with pytest.raises(LoomError, match="is a folder"):
        load(tmp_path)


def test_atomic_save_keeps_backup_and_never_half_writes(tmp_path, mlp_project, monkeypatch):
    path = tmp_path / "p.loom"
    save(mlp_project, path)
    first = path.read_text()
    mlp_project.description = "second version"
    save(mlp_project, path)
    assert (tmp_path / "p.loom.bak").read_text() == first
    assert load(path).description == "second version"

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    mlp_project.description = "third version"
    with pytest.raises(OSError, match="disk full"):
        save(mlp_project, path)
    assert load(path).description == "second version"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.loom", "p.loom.bak"]  # no temp


def test_migration_from_version_0():
    doc = to_dict(Project(networks={"main": mlp_network()}))
    doc["version"] = 0
    doc["networks"][0]["edges"] = [[*e["from"].split("."), *e["to"].split(".")]
                                   for e in doc["networks"][0]["edges"]]
    project = loads(json.dumps(doc))
    assert project.networks["main"].edges == mlp_network().edges


def test_format_doc_example_loads():
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "format.md").read_text()
    example = re.search(r"```json\n(.*?)```", text, re.S).group(1)
    project = loads(example)
    from builder.propagate import check

    for net in project.networks.values():
        assert check(net).ok, [str(p) for p in check(net).problems]
