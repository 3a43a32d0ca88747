"""Random graphs either compile and run with exactly the propagated shapes, or fail with a
problem attached to a node — never an unhandled exception."""

import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch import fx

from builder.compiler import compile_network
from builder.document import Edge, Network
from builder.ports import node_ports
from builder.propagate import check

BLOCKS = {
    "Linear": lambda d: {"units": d(st.sampled_from([1, 3, 4, 8]))},
    "ReLU": lambda d: {},
    "Tanh": lambda d: {},
    "Dropout": lambda d: {"p": 0.5},
    "Add": lambda d: {},
    "Multiply": lambda d: {},
    "Concat": lambda d: {"axis": d(st.sampled_from([0, -1]))},
    "Flatten": lambda d: {},
    "Reshape": lambda d: {"shape": d(st.sampled_from([[2, -1], [4, 2], [-1]]))},
    "Conv2d": lambda d: {"filters": 2, "kernel": d(st.sampled_from([1, 3, 5])),
                         "padding": d(st.sampled_from([0, 1, "same"]))},
    "MaxPool2d": lambda d: {"kernel": 2},
    "BatchNorm": lambda d: {},
    "Split": lambda d: {"parts": 2},
    "GlobalAvgPool": lambda d: {},
}


@st.composite
def networks(draw):
    net = Network("rand")
    shape = draw(st.sampled_from([[8], [2, 4], [2, 8, 8], [3, 6, 6]]))
    net.add("Input", id="x", shape=shape)
    ids = ["x"]
    for i in range(draw(st.integers(1, 8))):
        block = draw(st.sampled_from(sorted(BLOCKS)))
        node_id = net.add(block, id=f"n{i}", **BLOCKS[block](draw))
        outs_of = {n: node_ports(net.nodes[n])[1] for n in ids}
        for port in node_ports(net.nodes[node_id])[0]:
            if draw(st.integers(0, 9)) == 0:
                continue  # sometimes leave an input unconnected
            src = draw(st.sampled_from(ids))
            if outs_of[src]:
                sp = draw(st.sampled_from(outs_of[src])).name
                net.connect(src, node_id, sp, port.name)
        ids.append(node_id)
    net.add("Output", id="y")
    last_ports = [p.name for p in node_ports(net.nodes[ids[-1]])[1]]
    net.connect(ids[-1], "y", draw(st.sampled_from(last_ports)), "x")
    if draw(st.booleans()) and len(ids) > 2:  # sometimes a back edge: a cycle
        net.edges.append(Edge(ids[-1], last_ports[0], ids[1], "x"))
    return net


class Recorder(fx.Interpreter):
    def __init__(self, gm):
        super().__init__(gm)
        self.shapes = {}

    def run_node(self, n):
        out = super().run_node(n)
        node = n.meta.get("layerloom_node")
        if n.op == "call_module" and isinstance(out, torch.Tensor):
            self.shapes[node] = tuple(out.shape[1:])
        return out


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(net=networks())
def test_random_graph_runs_or_reports(net):
    report = check(net)
    event("valid" if report.ok else "refused")
    if not report.ok:
        for p in report.problems:
            assert p.message and (p.node in net.nodes or p.node is None)
        return
    compiled = compile_network(net)
    x = torch.randn(3, *net.nodes["x"].params["shape"])
    recorder = Recorder(compiled.module.train())
    out = recorder.run(x)
    assert tuple(out.shape[1:]) == report.shapes.inputs["y"]["x"]
    for node_id, shape in recorder.shapes.items():
        ports = report.shapes.outputs[node_id]
        if len(ports) == 1:
            assert shape == next(iter(ports.values())), node_id
