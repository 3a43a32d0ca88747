"""A generated 1,000-node network with skip connections, for the scale test and benchmark."""

from builder.document import Network, Project
from builder.layout import layered_positions


def big_project(n_nodes: int = 1000, width: int = 64) -> Project:
    """Input → repeated residual units (Linear, ReLU, Linear, Add with the unit's input) →
    Output; laid out in layers like the auto-layout does."""
    net = Network("main")
    prev = net.add("Input", "x", shape=[width], kind="vector")
    i = 0
    while len(net.nodes) + 5 <= n_nodes:
        a = net.add("Linear", f"fc{i}a", units=width)
        r = net.add("ReLU", f"relu{i}")
        b = net.add("Linear", f"fc{i}b", units=width)
        s = net.add("Add", f"add{i}")
        net.chain(prev, a, r, b)
        net.connect(b, s, dst_port="x1")
        net.connect(prev, s, dst_port="x2")
        prev, i = s, i + 1
    while len(net.nodes) < n_nodes - 1:
        nxt = net.add("Tanh", f"tanh{len(net.nodes)}")
        net.connect(prev, nxt)
        prev = nxt
    out = net.add("Output", "y")
    net.connect(prev, out)
    for node_id, pos in layered_positions(net).items():
        net.nodes[node_id].pos = pos
    return Project(networks={"main": net})
