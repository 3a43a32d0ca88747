"""What both importers build: a Network grown node by node, with the weights each node's
module will hold, and the errors that stop an import.

Weights are keyed by node id (``conv1.weight``) because the compiler names each block's
module after its node: a state dict keyed so loads straight into the compiled network.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from builder.document import Network, Project, unique_name, valid_name
from builder.layout import layered_positions
from builder.names import attr_names

__all__ = ["Unmapped", "Unreadable", "GraphBuilder", "attr_state", "write_project"]


class Unmapped(ValueError):
    """Operators or modules with no Layerloom block; ``names`` lists every one."""

    def __init__(self, source: str, names: list[str]):
        self.names = names
        listed = "\n".join(f"  - {n}" for n in names)
        super().__init__(f"{source}: {len(names)} operator(s)/module(s) cannot be mapped to "
                         f"Layerloom blocks:\n{listed}")


class Unreadable(ValueError):
    """The model file (or class, or weights) cannot be read at all."""


def _tensor(value) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().clone().contiguous()
    return torch.from_numpy(np.array(value, order="C"))  # a copy: ONNX arrays are read-only


class GraphBuilder:
    """Adds nodes and edges to one network and collects their weights."""

    def __init__(self, name: str = "main"):
        self.net = Network(name)
        self.weights: dict[str, torch.Tensor] = {}
        self.unmapped: list[str] = []

    def node_id(self, hint: str) -> str:
        """``hint`` made a valid, unused node id: kept as is where it can be, so imported
        nodes carry the source model's own names (``layer1_conv``)."""
        base = re.sub(r"\W+", "_", hint).strip("_")
        if valid_name(base) and base not in self.net.nodes:
            return base
        return unique_name(base or "node", self.net.nodes)

    def add(self, hint: str, block: str, sources=(), weights=None, **params) -> str:
        """A new ``block`` node fed by ``sources`` (``(node, port)`` pairs, in port order)."""
        from builder.ports import node_ports  # local: ports needs the block registry

        node_id = self.node_id(hint)
        self.net.add(block, id=node_id, **params)
        in_ports = [p.name for p in node_ports(self.net.nodes[node_id])[0]]
        for (src, port), dst_port in zip(sources, in_ports):
            self.net.connect(src, node_id, port, dst_port)
        for key, value in (weights or {}).items():
            self.weights[f"{node_id}.{key}"] = _tensor(value)
        return node_id

    def miss(self, what: str) -> None:
        if what not in self.unmapped:
            self.unmapped.append(what)


def attr_state(builder: GraphBuilder) -> dict[str, torch.Tensor]:
    """The weights keyed as the compiled module names them: a node id that clashes with a
    torch name (``forward``) has a mangled attribute name."""
    attrs = attr_names(builder.net.nodes)
    state = {}
    for key, value in builder.weights.items():
        node_id, _, rest = key.partition(".")
        state[f"{attrs[node_id]}.{rest}"] = value
    return state


def write_project(builder: GraphBuilder, out: Path, description: str) -> Path:
    """Lay the network out, write ``OUT.loom`` and ``OUT.safetensors`` beside it, the latter
    set as the network's start-from weights.  Returns the weights file."""
    from builder.serialize import save

    net = builder.net
    for node_id, pos in layered_positions(net).items():
        net.nodes[node_id].pos = pos
    state = attr_state(builder)
    project = Project(networks={net.name: net}, description=description)
    weights = out.with_suffix(".safetensors")
    project.training.init = {net.name: weights.name}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(weights))
    save(project, out)
    return weights
