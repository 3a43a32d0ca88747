"""Grouping a selection, ungrouping it and opening a composite block keep the computation."""

import copy

import pytest
import torch

from builder.commands import CommandError, Document
from builder.compiler import compile_network
from builder.document import Network, Project
from builder.grouping import group_nodes, open_composite, ungroup
from builder.propagate import check
from tests.conftest import mlp_network


def _branchy() -> Network:
    net = Network("main")
    net.add("Input", id="x", shape=[8])
    net.add("Linear", id="a", units=8)
    net.add("ReLU", id="r")
    net.add("Linear", id="b", units=8)
    net.add("Add", id="skip")
    net.add("Linear", id="head", units=2)
    net.add("Output", id="y")
    net.add("Output", id="features")
    net.chain("x", "a", "r", "b")
    net.connect("b", "skip")
    net.connect("x", "skip")
    net.chain("skip", "head", "y")
    net.connect("r", "features")
    return net


def test_group_keeps_numbers_and_ungroup_restores():
    net = _branchy()
    original = copy.deepcopy(net)
    doc = Document(Project(networks={"main": net}))
    doc.do(group_nodes(doc.project.networks["main"], ["a", "r", "b", "skip"], "block"))
    grouped = doc.project.networks["main"]
    assert set(grouped.nodes) == {"x", "block", "head", "y", "features"}
    report = check(grouped)
    assert report.ok, [str(p) for p in report.problems]
    assert report.shapes.outputs["block"] == {"skip_out": (8,), "r_out": (8,)}
    x = torch.randn(4, 8)
    c_orig = compile_network(original)
    c_grp = compile_network(grouped)
    state = {k.replace("block.", ""): v for k, v in c_grp.module.state_dict().items()}
    c_orig.module.load_state_dict(state)
    got = dict(zip(c_grp.outputs, c_grp.module(x)))
    want = dict(zip(c_orig.outputs, c_orig.module(x)))
    assert got.keys() == want.keys() == {"y", "features"}
    assert all(torch.equal(got[k], want[k]) for k in want)

    doc.do(ungroup(doc.project.networks["main"], "block"))
    back = doc.project.networks["main"]
    assert set(back.nodes) == set(original.nodes)
    assert sorted(map(str, back.edges)) == sorted(map(str, original.edges))
    doc.undo()
    doc.undo()
    assert doc.project.networks["main"] == original


def test_group_refuses_inputs_and_empty_selection():
    net = mlp_network()
    with pytest.raises(CommandError, match="a group's inputs and outputs"):
        group_nodes(net, ["x", "hidden"])
    with pytest.raises(CommandError, match="select the blocks"):
        group_nodes(net, [])


def test_open_composite_is_an_editable_group_with_the_same_numbers():
    net = Network("main")
    net.add("Input", id="img", shape=[8, 8, 8])
    net.add("ResidualBlock", id="res", filters=16, stride=2)
    net.add("Output", id="y")
    net.chain("img", "res", "y")
    command = open_composite(net, "res")
    opened = command.new
    assert opened.nodes["res"].block == "Group" and opened.nodes["res"].subnet.nodes
    a, b = compile_network(net).module.eval(), compile_network(opened).module.eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 8, 8, 8)
    assert torch.equal(a(x), b(x))
    assert check(opened).shapes.outputs["res"] == {"y": (16, 4, 4)}


def test_commands_edit_inside_a_group_by_path():
    from builder.commands import SetParams

    net = _branchy()
    doc = Document(Project(networks={"main": net}))
    doc.do(group_nodes(doc.project.networks["main"], ["a", "r", "b", "skip"], "block"))
    doc.do(SetParams("main/block", "b", {"units": 3}))
    inner = doc.project.networks["main"].nodes["block"].subnet
    assert inner.nodes["b"].params["units"] == 3
    problems = check(doc.project.networks["main"]).problems
    assert any(p.node == "block" and "inside block" in p.message for p in problems)
    doc.do(group_nodes(inner, ["a", "r"], "pair", path="main/block"))
    assert "pair" in doc.project.networks["main"].nodes["block"].subnet.nodes
    doc.undo()
    doc.undo()
    assert doc.project.networks["main"].nodes["block"].subnet.nodes["b"].params == {"units": 8}


def _grouped() -> Document:
    doc = Document(Project(networks={"main": _branchy()}))
    doc.do(group_nodes(doc.project.networks["main"], ["a", "r", "b", "skip"], "block"))
    return doc


def test_a_problem_inside_a_group_names_the_inner_node_by_path():
    from builder.commands import Disconnect
    from builder.document import Edge
    from builder.problems import ERROR, Code

    doc = _grouped()
    doc.do(Disconnect("main/block", Edge("r", "y", "b", "x")))
    report = check(doc.project.networks["main"])
    inner = report.inner["block"]
    missing = next(p for p in inner.problems if p.code == Code.MISSING_INPUT)
    assert (missing.network, missing.node, missing.port) == ("main/block", "b", "x")
    assert missing in report.all_problems()
    assert not report.problems_of("b")  # the outer network has no node b
    # outside: one summary on the group node, an error, so the network does not compile
    summary = report.problems_of("block")
    assert [(p.code, p.network, p.severity) for p in summary] == [(Code.IN_GROUP, "main", ERROR)]
    # counted with the warning it causes; the first error is quoted with where it is
    assert summary[0].message == "2 problems inside block: b: Linear input 'x' is not connected"
    assert not report.ok and "block" not in report.shapes.outputs
    # the inside is still checked while the group's own input is unwired
    net = doc.project.networks["main"]
    doc.do(Disconnect("main", next(e for e in net.edges if e.dst == "block")))
    report = check(doc.project.networks["main"])
    assert {(p.code, p.node) for p in report.problems_of("block")} >= {
        (Code.MISSING_INPUT, "block"), (Code.IN_GROUP, "block")}
    assert any(p.network == "main/block" and p.node == "b" for p in report.all_problems())


def test_a_group_inside_a_group_names_the_innermost_node():
    from builder.commands import Disconnect
    from builder.document import Edge
    from builder.problems import Code

    doc = _grouped()
    inner = doc.project.networks["main"].nodes["block"].subnet
    doc.do(group_nodes(inner, ["a", "r"], "pair", path="main/block"))
    assert check(doc.project.networks["main"]).ok  # grouping twice keeps it valid
    doc.do(Disconnect("main/block/pair", Edge("a", "y", "r", "x")))
    report = check(doc.project.networks["main"])
    deep = [p for p in report.all_problems() if p.code == Code.MISSING_INPUT]
    assert [(p.network, p.node) for p in deep] == [("main/block/pair", "r")]
    outer = report.problems_of("block")[0]
    assert outer.code == Code.IN_GROUP and "inside block: pair ▸ r: ReLU input" in outer.message
    middle = report.inner["block"].problems_of("pair")[0]
    assert (middle.code, middle.network) == (Code.IN_GROUP, "main/block")
    assert "inside pair: r: ReLU input" in middle.message
    # only the leaves are counted, not the summaries on the way
    assert outer.message.split()[0] == middle.message.split()[0]


def test_a_fix_inside_a_group_repairs_the_inner_network_through_a_command():
    from builder.commands import SetParams
    from builder.problems import Code

    net = Network("main")
    net.add("Input", id="img", shape=[4, 8, 8], kind="image")
    net.add("Conv2d", id="conv", filters=4, kernel=3, padding=1)
    net.add("Add", id="add")
    net.add("Output", id="y")
    net.chain("img", "conv", "add", "y")
    net.connect("img", "add")
    doc = Document(Project(networks={"main": net}))
    doc.do(group_nodes(net, ["conv", "add"], "block"))
    doc.do(SetParams("main/block", "conv", {"padding": 0}))  # 8×8 → 6×6: the add breaks
    report = check(doc.project.networks["main"])
    problem = next(p for p in report.all_problems() if p.code == Code.SHAPE)
    assert (problem.network, problem.node) == ("main/block", "add")
    assert problem.fix == {"set": {"padding": "same"}, "node": "conv"}
    doc.do(SetParams(problem.network, problem.fix["node"], problem.fix["set"]))
    inside = doc.project.networks["main"].nodes["block"].subnet
    assert inside.nodes["conv"].params["padding"] == "same"
    report = check(doc.project.networks["main"])
    assert report.ok and report.all_problems() == []
    assert report.shapes.outputs["block"] == {"add_out": (4, 8, 8)}
