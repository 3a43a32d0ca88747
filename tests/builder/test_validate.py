"""Validation rules and shape propagation: each problem is declared, attached and worded."""

import time

import pytest

from builder.document import Network
from builder.problems import Code
from builder.propagate import check
from builder.validate import Graph, cycles, has_inputs_and_outputs, ports_wired, reachability
from tests.conftest import mlp_network


def _codes(net):
    return {(p.code, p.node) for p in check(net).problems}


def test_valid_mlp_has_no_problems_and_shapes_everywhere():
    report = check(mlp_network())
    assert report.ok and report.problems == []
    assert report.shapes.outputs["hidden"] == {"y": (16,)}
    assert report.shapes.inputs["y"] == {"x": (3,)}


def test_cycle_names_its_nodes():
    net = mlp_network()
    net.connect("relu", "hidden", "y", "x")
    problems = list(cycles(Graph(net)))
    assert {p.node for p in problems} == {"hidden", "relu"}
    assert "hidden → relu → hidden" in problems[0].message or \
        "relu → hidden → relu" in problems[0].message


def test_missing_and_duplicate_inputs():
    net = mlp_network()
    net.edges = [e for e in net.edges if e.dst != "relu"]
    problems = list(ports_wired(Graph(net)))
    assert [(p.code, p.node, p.port) for p in problems] == [(Code.MISSING_INPUT, "relu", "x")]
    net.connect("x", "logits", "y", "x")
    problems = list(ports_wired(Graph(mlp_network())))
    assert problems == []
    dup = mlp_network()
    dup.connect("x", "logits", "y", "x")
    assert any(p.code == Code.DUPLICATE_INPUT and p.node == "logits"
               for p in ports_wired(Graph(dup)))


def test_no_input_no_output_unreachable_unused():
    net = Network("empty")
    net.add("Linear", id="lonely")
    codes = {p.code for p in has_inputs_and_outputs(Graph(net))}
    assert codes == {Code.NO_INPUT, Code.NO_OUTPUT}
    net = mlp_network()
    net.add("Linear", id="floating")
    net.add("Linear", id="dead_end")
    net.connect("relu", "dead_end")
    found = {(p.code, p.node) for p in reachability(Graph(net))}
    assert (Code.UNREACHABLE, "floating") in found and (Code.UNUSED, "dead_end") in found


def test_param_out_of_range_is_a_problem_not_a_crash():
    net = mlp_network()
    net.nodes["hidden"].params["units"] = 0
    net.nodes["relu"].params["bogus"] = 1
    problems = check(net).problems
    messages = {(p.node, p.port): p.message for p in problems if p.code == Code.PARAM}
    assert "units must be between 1 and" in messages[("hidden", "units")]
    assert "ReLU has no param 'bogus'" in messages[("relu", "bogus")]


def test_shape_error_sentence_and_downstream_quiet():
    net = Network("main")
    net.add("Input", id="x", shape=[4, 6])
    net.add("Reshape", id="r", shape=[5, 5])
    net.add("Linear", id="fc", units=3)
    net.add("Output", id="y")
    net.chain("x", "r", "fc", "y")
    problems = [p for p in check(net).problems if p.code == Code.SHAPE]
    assert [p.node for p in problems] == ["r"]
    assert "[4, 6] holds 24 values but [5, 5] holds 25" in problems[0].message


def test_port_kinds_tokens_into_linear_suggests_embedding():
    net = Network("main")
    net.add("Input", id="ids", shape=["T"], kind="tokens")
    net.add("Linear", id="fc", units=3)
    net.add("Output", id="y")
    net.chain("ids", "fc", "y")
    problems = [p for p in check(net).problems if p.code == Code.PORT_KIND]
    assert problems and problems[0].fix == {"insert": "Embedding", "before": "fc", "port": "x"}
    good = Network("main")
    good.add("Input", id="ids", shape=["T"], kind="tokens")
    good.add("Embedding", id="emb", vocab=50, dim=8)
    good.add("Linear", id="fc", units=3)
    good.add("Output", id="y")
    good.chain("ids", "emb", "fc", "y")
    report = check(good)
    assert report.ok and report.shapes.outputs["fc"]["y"] == ("T", 3)


def _long_chain(n: int) -> Network:
    net = Network("big")
    net.add("Input", id="x", shape=[32])
    prev = "x"
    for i in range(n):
        cur = net.add("Linear", id=f"n{i}", units=32) if i % 2 == 0 else \
            net.add("ReLU", id=f"n{i}")
        net.connect(prev, cur)
        prev = cur
    net.add("Output", id="y")
    net.connect(prev, "y")
    return net


def test_propagation_is_incremental():
    from builder import propagate

    propagate.clear_memo()  # other tests in this process may have met these shapes already
    net = _long_chain(400)
    check(net)
    before = len(propagate._MEMO)
    net.nodes["n200"].params["units"] = 48
    report = check(net)
    assert report.ok and report.shapes.outputs["n200"]["y"] == (48,)
    assert report.shapes.inputs["n202"]["x"] == (48,)
    assert report.shapes.outputs["n202"]["y"] == (32,)
    # only the edited node and the two whose input shape changed were computed again
    assert len(propagate._MEMO) - before == 3


@pytest.mark.parametrize("n", [1000])
def test_large_network_checks(n):
    t = time.perf_counter()
    report = check(_long_chain(n))
    assert report.ok and len(report.shapes.outputs) == n + 2
    assert time.perf_counter() - t < 60  # a sanity bound only; figures live in tests/bench


def test_fixes_for_obvious_repairs():
    from builder.commands import Document, SetParams

    net = Network("main")
    net.add("Input", id="img", shape=[3, 8, 8])
    net.add("Conv2d", id="a", filters=4, kernel=3, padding=1)
    net.add("Conv2d", id="b", filters=4, kernel=3)  # shrinks to 6×6
    net.add("Concat", id="cat")
    net.add("Linear", id="fc", units=2)
    net.add("Output", id="y")
    net.connect("img", "a")
    net.connect("img", "b")
    net.connect("a", "cat")
    net.connect("b", "cat")
    net.chain("cat", "fc", "y")
    problem = next(p for p in check(net).problems if p.node == "cat")
    assert problem.fix == {"set": {"padding": "same"}, "node": "b"}
    from builder.document import Project

    doc = Document(Project(networks={"main": net}))
    doc.do(SetParams("main", "b", problem.fix["set"]))
    report = check(doc.project.networks["main"])
    assert report.ok and report.shapes.outputs["cat"]["y"] == (8, 8, 8)
    lint = [p for p in report.problems if p.node == "fc"]
    assert lint and lint[0].severity == "warning" and lint[0].fix["insert"] == "Flatten"


def test_problems_name_the_network_by_the_path_they_are_checked_under():
    net = mlp_network("block1")
    net.edges = [e for e in net.edges if e.dst != "relu"]
    net.nodes["hidden"].params["units"] = 0  # a param problem too
    for path, want in ((None, "block1"), ("main/block1", "main/block1")):
        problems = check(net, path=path).problems
        assert {p.code for p in problems} >= {Code.MISSING_INPUT, Code.PARAM}
        assert {p.network for p in problems} == {want}
