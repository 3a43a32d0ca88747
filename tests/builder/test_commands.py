"""Every edit is a command: apply then revert restores the project exactly."""

import copy

import pytest

from builder.commands import (
    AddNetwork,
    AddNode,
    CommandError,
    Connect,
    Disconnect,
    Document,
    Macro,
    MoveNodes,
    RemoveNodes,
    RenameNetwork,
    RenameNode,
    SetNodeOptions,
    SetParams,
)
from builder.document import Edge, Network, Node


def _edits():
    return [
        AddNode("main", Node("extra", "Dropout", {"p": 0.2}, (5, 5))),
        RemoveNodes("main", ("relu",)),
        MoveNodes("main", {"x": (10.0, 20.0), "y": (300.0, 0.0)}),
        SetParams("main", "hidden", {"units": 64}),
        SetNodeOptions("main", ("hidden", "logits"), trainable=False, init="he"),
        RenameNode("main", "hidden", "fc1"),
        Connect("main", Edge("x", "y", "logits", "x")),  # replaces relu → logits
        Disconnect("main", Edge("logits", "y", "y", "x")),
        AddNetwork(Network("critic")),
        RenameNetwork("main", "model"),
    ]


@pytest.mark.parametrize("command", _edits(), ids=lambda c: type(c).__name__)
def test_apply_then_undo_restores_exactly(mlp_project, command):
    before = copy.deepcopy(mlp_project)
    doc = Document(mlp_project)
    doc.do(command)
    assert doc.project != before
    doc.undo()
    assert doc.project == before
    doc.redo()
    assert doc.project != before


def test_many_edits_undo_all(mlp_project):
    before = copy.deepcopy(mlp_project)
    doc = Document(mlp_project)
    states = [copy.deepcopy(doc.project)]
    for c in _edits()[:8]:
        doc.do(c)
        states.append(copy.deepcopy(doc.project))
    for expected in reversed(states[:-1]):
        doc.undo()
        assert doc.project == expected
    assert doc.project == before and not doc.can_undo


def test_notifications_and_dirty_marker(mlp_project):
    doc = Document(mlp_project)
    seen = []
    unsubscribe = doc.subscribe(seen.append)
    assert not doc.dirty
    change = doc.do(SetParams("main", "hidden", {"units": 8}))
    assert seen == [change] and change.nodes == {"hidden"} and not change.structure
    assert doc.dirty
    doc.mark_clean()
    assert not doc.dirty
    doc.undo()
    assert doc.dirty and seen[-1].nodes == {"hidden"}
    doc.redo()
    assert not doc.dirty
    unsubscribe()
    doc.do(RemoveNodes("main", ("relu",)))
    assert len(seen) == 3


def test_new_edit_after_undo_past_save_point_stays_dirty(mlp_project):
    doc = Document(mlp_project)
    doc.do(SetParams("main", "hidden", {"units": 8}))
    doc.mark_clean()
    doc.undo()
    doc.do(SetParams("main", "hidden", {"units": 9}))
    assert doc.dirty


def test_failed_command_changes_nothing(mlp_project):
    before = copy.deepcopy(mlp_project)
    doc = Document(mlp_project)
    with pytest.raises(CommandError, match="already exists"):
        doc.do(AddNode("main", Node("hidden", "Linear")))
    with pytest.raises(CommandError, match="no node 'ghost'"):
        doc.do(SetParams("main", "ghost", {"units": 1}))
    with pytest.raises(CommandError):
        doc.do(Macro("two", [SetParams("main", "hidden", {"units": 3}),
                             RenameNode("main", "relu", "2nd")]))  # invalid name
    assert doc.project == before and not doc.can_undo


def test_rename_rewires_edges_and_roles(mlp_project):
    doc = Document(mlp_project)
    doc.do(RenameNode("main", "relu", "act"))
    net = doc.project.networks["main"]
    assert {e.src for e in net.edges} >= {"act"} and "relu" not in net.nodes
    doc.do(RenameNetwork("main", "classifier"))
    assert doc.project.recipe.roles == {"model": "classifier"}


def test_renaming_a_network_carries_its_starting_weights(mlp_project):
    mlp_project.training.init = {"main": "runs/first"}
    doc = Document(mlp_project)
    doc.do(RenameNetwork("main", "classifier"))
    assert doc.project.training.init == {"classifier": "runs/first"}
    doc.undo()
    assert doc.project.training.init == {"main": "runs/first"}


def test_set_fields_changes_recipe_and_streams_as_one_step(mlp_project):
    from builder.commands import SetFields
    from builder.document import DatasetConfig, RecipeConfig
    doc = Document(mlp_project)
    before = copy.deepcopy(doc.project)
    doc.do(SetFields(value={"recipe": RecipeConfig("dann"),
                            "streams": {"target": DatasetConfig("circles")}}))
    assert doc.project.streams == {"target": DatasetConfig("circles")}
    doc.undo()
    assert doc.project == before
    with pytest.raises(CommandError, match="no field"):
        doc.do(SetFields(value={"networks": {}}))
