"""The project document: networks of nodes and edges, plus dataset, recipe and training settings.

Plain dataclasses, the single source of truth.  Mutate through ``builder.commands`` so that
every edit is undoable and observers (the GUI's scene, the shape cache) hear about it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Node",
    "Edge",
    "Network",
    "DatasetConfig",
    "RecipeConfig",
    "OptimizerConfig",
    "TrainingSettings",
    "Project",
    "INITS",
    "valid_name",
    "unique_name",
    "resolve_network",
]

INITS = ("default", "xavier", "he", "orthogonal")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def valid_name(name: str) -> bool:
    """Whether ``name`` can name a node or a network: ASCII letters, digits and ``_``, not
    starting with a digit, at most 64 characters.  Every such name works, Python keywords
    (``class``) and names torch uses (``forward``, ``code``) included: the compiler and the
    code generator mangle what would clash (``builder.names``), and the user's name stays
    everywhere the user looks."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def unique_name(base: str, taken) -> str:
    """``linear1``, ``linear2``, … (``conv2d_1`` where the base already ends in a digit)."""
    base = re.sub(r"\W", "_", base).strip("_").lower() or "node"
    if base[0].isdigit() or not valid_name(base + "1"):
        base = "n_" + base
    sep = "_" if base[-1].isdigit() else ""
    i = 1
    while f"{base}{sep}{i}" in taken:
        i += 1
    return f"{base}{sep}{i}"


@dataclass(frozen=True)
class Edge:
    src: str
    src_port: str
    dst: str
    dst_port: str

    def __str__(self) -> str:
        return f"{self.src}.{self.src_port} → {self.dst}.{self.dst_port}"


@dataclass
class Node:
    id: str
    block: str
    params: dict[str, Any] = field(default_factory=dict)
    pos: tuple[float, float] = (0.0, 0.0)
    trainable: bool = True
    init: str = "default"
    subnet: Network | None = None  # set for a Group: the sub-network it holds
    bypass: bool = False  # passes its first input through unchanged (a quick ablation)
    # Multiplies the network's learning rate for this block's weights (discriminative
    # fine-tuning: pre-trained layers learn slowly, the new head fast).
    lr_scale: float = 1.0

    def copy(self) -> Node:
        return Node(self.id, self.block, dict(self.params), self.pos, self.trainable, self.init,
                    self.subnet.copy() if self.subnet is not None else None, self.bypass,
                    self.lr_scale)


@dataclass
class Network:
    name: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def copy(self) -> Network:
        return Network(self.name, {k: n.copy() for k, n in self.nodes.items()}, list(self.edges))

    def inputs_of(self, node_id: str) -> dict[str, Edge]:
        return {e.dst_port: e for e in self.edges if e.dst == node_id}

    def add(self, block: str, id: str | None = None, pos=(0.0, 0.0), **params) -> str:
        """Convenience for scripts and tests building a network in code (not undoable)."""
        node_id = id or unique_name(block, self.nodes)
        self.nodes[node_id] = Node(node_id, block, params, tuple(pos))
        return node_id

    def connect(self, src: str, dst: str, src_port: str | None = None,
                dst_port: str | None = None) -> Edge:
        """Connect ``src`` to ``dst``; ports default to the first output / first free input."""
        from builder.ports import default_ports  # local: ports needs the block registry

        sp, dp = default_ports(self, src, dst, src_port, dst_port)
        edge = Edge(src, sp, dst, dp)
        self.edges.append(edge)
        return edge

    def chain(self, *node_ids: str) -> None:
        for a, b in zip(node_ids, node_ids[1:]):
            self.connect(a, b)


@dataclass
class DatasetConfig:
    name: str = "moons"
    params: dict[str, Any] = field(default_factory=dict)
    # The ordered training-time augmentation, [{"op": "flip", "p": 0.5}, …] (see
    # builder/augment_spec.py); empty: the old augment/crop_padding/flip/jitter params apply.
    augment: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RecipeConfig:
    name: str = "classification"
    roles: dict[str, str] = field(default_factory=lambda: {"model": "main"})
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimizerConfig:
    name: str = "adam"
    lr: float = 1e-3
    params: dict[str, Any] = field(default_factory=dict)  # momentum, betas, eps, weight_decay…


@dataclass
class TrainingSettings:
    epochs: int = 10
    batch_size: int = 64
    optimizers: dict[str, OptimizerConfig] = field(default_factory=dict)  # per network
    schedule: dict[str, Any] = field(default_factory=lambda: {"name": "constant"})
    l1: float = 0.0
    l2: float = 0.0
    grad_clip: float = 0.0
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    validation_split: float = 0.2
    early_stopping: int = 0  # epochs without improvement; 0 = off
    samples_every: int = 1  # how often the recipe draws its pictures, in samples_unit
    samples_unit: str = "epochs"  # epochs, steps, or end (once, when the run ends)
    stats_every: int = 0  # steps between layer statistics; 0: automatic (cost-bounded)
    init: dict[str, str] = field(default_factory=dict)  # network → weights to start from

    def optimizer_for(self, network: str) -> OptimizerConfig:
        return self.optimizers.get(network) or self.optimizers.get("*") or OptimizerConfig()


@dataclass
class Project:
    networks: dict[str, Network] = field(default_factory=dict)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    recipe: RecipeConfig = field(default_factory=RecipeConfig)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    description: str = ""
    # Datasets bound to a recipe's further data streams (target, domain B…), by stream name;
    # ``dataset`` feeds the recipe's primary stream.
    streams: dict[str, DatasetConfig] = field(default_factory=dict)
    # Named comparisons: variant → {sweep KEY: value} (``training.lr``, ``main/act1.block``…);
    # the networks above are the base every variant changes (``runtime.variants``).
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The prepared sweep ``layerloom sweep FILE`` runs without --set (``builder.sweep_plan``):
    # {"set": {KEY: [values…]}, "random": N, "max_steps": N}; {} for none.
    sweep: dict[str, Any] = field(default_factory=dict)


def resolve_network(project: Project, path: str) -> Network:
    """A network by name, or a group's sub-network by path: ``"main/block1"`` is the network
    inside Group node ``block1`` of ``main`` (so every command can edit inside groups)."""
    first, *rest = path.split("/")
    net = project.networks[first]
    for node_id in rest:
        node = net.nodes[node_id]
        if node.subnet is None:
            raise KeyError(f"{node_id!r} in {net.name!r} is not a group")
        net = node.subnet
    return net
