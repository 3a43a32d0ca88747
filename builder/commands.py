"""Every edit of a project is a reversible command; the command stack is undo/redo.

``Document`` wraps a ``Project`` with the stack and plain-Python change notifications that a
GUI (or the shape cache) subscribes to.  Commands mutate the project in ``apply`` and restore
it exactly in ``revert``; each reports what it touched as a ``Change``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from builder.document import Edge, Network, Node, Project, resolve_network, valid_name

__all__ = [
    "PROJECT_FIELDS",
    "SetFields",
    "Change",
    "Command",
    "AddNode",
    "RemoveNodes",
    "MoveNodes",
    "SetParams",
    "SetNodeOptions",
    "RenameNode",
    "Connect",
    "Disconnect",
    "AddNetwork",
    "RemoveNetwork",
    "RenameNetwork",
    "SetProjectField",
    "Macro",
    "Document",
    "CommandError",
]


class CommandError(ValueError):
    """An edit that cannot be applied (unknown node, duplicate name…); nothing was changed."""


@dataclass(frozen=True)
class Change:
    """What an edit touched.  ``structure`` is True when nodes or edges came or went."""

    network: str | None
    nodes: frozenset[str] = frozenset()
    structure: bool = False
    project: bool = False  # networks added/removed/renamed, dataset/recipe/training changed


class Command:
    text = "edit"

    def apply(self, project: Project) -> Change:  # pragma: no cover - interface
        raise NotImplementedError

    def revert(self, project: Project) -> Change:  # pragma: no cover - interface
        raise NotImplementedError


def _net(project: Project, name: str) -> Network:
    try:
        return resolve_network(project, name)
    except KeyError:
        raise CommandError(f"there is no network {name!r}") from None


def _node(net: Network, node_id: str) -> Node:
    try:
        return net.nodes[node_id]
    except KeyError:
        raise CommandError(f"network {net.name!r} has no node {node_id!r}") from None


@dataclass
class AddNode(Command):
    network: str
    node: Node

    @property
    def text(self) -> str:
        return f"Add {self.node.block}"

    def apply(self, project):
        net = _net(project, self.network)
        if self.node.id in net.nodes:
            raise CommandError(f"a node named {self.node.id!r} already exists")
        if not valid_name(self.node.id):
            raise CommandError(f"{self.node.id!r} is not a valid node name")
        net.nodes[self.node.id] = self.node.copy()
        return Change(self.network, frozenset({self.node.id}), structure=True)

    def revert(self, project):
        net = _net(project, self.network)
        del net.nodes[self.node.id]
        return Change(self.network, frozenset({self.node.id}), structure=True)


@dataclass
class RemoveNodes(Command):
    """Remove nodes with every edge touching them; revert restores order and edges exactly."""

    network: str
    node_ids: tuple[str, ...]
    _saved: list[tuple[int, Node]] = field(default_factory=list, repr=False)
    _edges: list[tuple[int, Edge]] = field(default_factory=list, repr=False)
    text = "Delete"

    def apply(self, project):
        net = _net(project, self.network)
        ids = set(self.node_ids)
        for i in ids:
            _node(net, i)
        order = list(net.nodes)
        self._saved = [(order.index(i), net.nodes[i]) for i in order if i in ids]
        self._edges = [(k, e) for k, e in enumerate(net.edges) if e.src in ids or e.dst in ids]
        net.edges[:] = [e for e in net.edges if e.src not in ids and e.dst not in ids]
        for i in ids:
            del net.nodes[i]
        return Change(self.network, frozenset(ids), structure=True)

    def revert(self, project):
        net = _net(project, self.network)
        items = list(net.nodes.items())
        for index, node in self._saved:
            items.insert(index, (node.id, node))
        net.nodes.clear()
        net.nodes.update(items)
        for k, e in self._edges:
            net.edges.insert(k, e)
        return Change(self.network, frozenset(self.node_ids), structure=True)


@dataclass
class MoveNodes(Command):
    network: str
    positions: dict[str, tuple[float, float]]
    _old: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)
    text = "Move"

    def apply(self, project):
        net = _net(project, self.network)
        self._old = {i: _node(net, i).pos for i in self.positions}
        for i, pos in self.positions.items():
            net.nodes[i].pos = (float(pos[0]), float(pos[1]))
        return Change(self.network, frozenset(self.positions))

    def revert(self, project):
        net = _net(project, self.network)
        for i, pos in self._old.items():
            net.nodes[i].pos = pos
        return Change(self.network, frozenset(self._old))


@dataclass
class SetParams(Command):
    """Set some params of one node (values as the user typed them; validation reports them)."""

    network: str
    node_id: str
    values: dict[str, Any]
    _old: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def text(self) -> str:
        return f"Set {', '.join(self.values)} of {self.node_id}"

    def apply(self, project):
        node = _node(_net(project, self.network), self.node_id)
        self._old = {k: node.params.get(k, _MISSING) for k in self.values}
        node.params = {**node.params, **self.values}
        return Change(self.network, frozenset({self.node_id}))

    def revert(self, project):
        node = _node(_net(project, self.network), self.node_id)
        params = dict(node.params)
        for k, v in self._old.items():
            if v is _MISSING:
                params.pop(k, None)
            else:
                params[k] = v
        node.params = params
        return Change(self.network, frozenset({self.node_id}))


_MISSING = object()


@dataclass
class SetNodeOptions(Command):
    """Trainable switch, initialiser, bypass and learning-rate factor of one or more nodes."""

    network: str
    node_ids: tuple[str, ...]
    trainable: bool | None = None
    init: str | None = None
    bypass: bool | None = None
    lr_scale: float | None = None
    _old: dict[str, tuple] = field(default_factory=dict, repr=False)
    text = "Change node options"

    _FIELDS = ("trainable", "init", "bypass", "lr_scale")

    def apply(self, project):
        net = _net(project, self.network)
        self._old = {i: tuple(getattr(_node(net, i), f) for f in self._FIELDS)
                     for i in self.node_ids}
        for i in self.node_ids:
            for f in self._FIELDS:
                if getattr(self, f) is not None:
                    setattr(net.nodes[i], f, getattr(self, f))
        return Change(self.network, frozenset(self.node_ids))

    def revert(self, project):
        net = _net(project, self.network)
        for i, old in self._old.items():
            for f, value in zip(self._FIELDS, old):
                setattr(net.nodes[i], f, value)
        return Change(self.network, frozenset(self.node_ids))


@dataclass
class RenameNode(Command):
    network: str
    old: str
    new: str
    text = "Rename"

    def apply(self, project):
        return self._rename(project, self.old, self.new)

    def revert(self, project):
        return self._rename(project, self.new, self.old)

    def _rename(self, project, a, b):
        net = _net(project, self.network)
        node = _node(net, a)
        if b in net.nodes:
            raise CommandError(f"a node named {b!r} already exists")
        if not valid_name(b):
            raise CommandError(f"{b!r} is not a valid name: use letters, digits and _")
        net.nodes = {(b if k == a else k): v for k, v in net.nodes.items()}
        node.id = b
        net.edges[:] = [replace(e, src=b if e.src == a else e.src,
                                dst=b if e.dst == a else e.dst) for e in net.edges]
        return Change(self.network, frozenset({a, b}), structure=True)


@dataclass
class Connect(Command):
    """Add an edge.  An existing edge into the same input port is replaced (one undo step)."""

    network: str
    edge: Edge
    _replaced: tuple[int, Edge] | None = field(default=None, repr=False)
    text = "Connect"

    def apply(self, project):
        net = _net(project, self.network)
        _node(net, self.edge.src), _node(net, self.edge.dst)
        if self.edge in net.edges:
            raise CommandError(f"{self.edge} already exists")
        self._replaced = None
        for k, e in enumerate(net.edges):
            if e.dst == self.edge.dst and e.dst_port == self.edge.dst_port:
                self._replaced = (k, e)
                del net.edges[k]
                break
        net.edges.append(self.edge)
        return Change(self.network, frozenset({self.edge.src, self.edge.dst}), structure=True)

    def revert(self, project):
        net = _net(project, self.network)
        net.edges.remove(self.edge)
        if self._replaced is not None:
            net.edges.insert(*self._replaced)
        return Change(self.network, frozenset({self.edge.src, self.edge.dst}), structure=True)


@dataclass
class Disconnect(Command):
    network: str
    edge: Edge
    _index: int = field(default=-1, repr=False)
    text = "Disconnect"

    def apply(self, project):
        net = _net(project, self.network)
        try:
            self._index = net.edges.index(self.edge)
        except ValueError:
            raise CommandError(f"there is no edge {self.edge}") from None
        del net.edges[self._index]
        return Change(self.network, frozenset({self.edge.src, self.edge.dst}), structure=True)

    def revert(self, project):
        _net(project, self.network).edges.insert(self._index, self.edge)
        return Change(self.network, frozenset({self.edge.src, self.edge.dst}), structure=True)


@dataclass
class AddNetwork(Command):
    network: Network
    text = "Add network"

    def apply(self, project):
        if self.network.name in project.networks:
            raise CommandError(f"a network named {self.network.name!r} already exists")
        if not valid_name(self.network.name):
            raise CommandError(f"{self.network.name!r} is not a valid network name")
        project.networks[self.network.name] = self.network.copy()
        return Change(self.network.name, structure=True, project=True)

    def revert(self, project):
        del project.networks[self.network.name]
        return Change(self.network.name, structure=True, project=True)


@dataclass
class RemoveNetwork(Command):
    name: str
    _saved: tuple[int, Network] | None = field(default=None, repr=False)
    text = "Remove network"

    def apply(self, project):
        net = _net(project, self.name)
        self._saved = (list(project.networks).index(self.name), net)
        del project.networks[self.name]
        return Change(self.name, structure=True, project=True)

    def revert(self, project):
        items = list(project.networks.items())
        index, net = self._saved
        items.insert(index, (net.name, net))
        project.networks = dict(items)
        return Change(self.name, structure=True, project=True)


@dataclass
class RenameNetwork(Command):
    old: str
    new: str
    text = "Rename network"

    def apply(self, project):
        return self._rename(project, self.old, self.new)

    def revert(self, project):
        return self._rename(project, self.new, self.old)

    @staticmethod
    def _rename(project, a, b):
        net = _net(project, a)
        if b in project.networks or not valid_name(b):
            raise CommandError(f"cannot rename network {a!r} to {b!r}")
        net.name = b
        project.networks = {(b if k == a else k): v for k, v in project.networks.items()}
        roles = project.recipe.roles
        for role, target in roles.items():
            if target == a:
                roles[role] = b
        for per_network in (project.training.optimizers, project.training.init):
            if a in per_network:
                per_network[b] = per_network.pop(a)
        return Change(b, structure=True, project=True)


PROJECT_FIELDS = frozenset({"dataset", "streams", "recipe", "training", "description", "sweep"})


@dataclass
class SetProjectField(Command):
    """Replace the dataset, recipe, training settings or description as one value."""

    name: str  # one of PROJECT_FIELDS
    value: Any
    _old: Any = field(default=None, repr=False)

    @property
    def text(self) -> str:
        return f"Change {self.name}"

    def apply(self, project):
        if self.name not in PROJECT_FIELDS:
            raise CommandError(f"the project has no field {self.name!r}")
        self._old = getattr(project, self.name)
        setattr(project, self.name, self.value)
        return Change(None, project=True)

    def revert(self, project):
        setattr(project, self.name, self._old)
        return Change(None, project=True)


@dataclass
class SetFields(SetProjectField):
    """Replace several project fields (``streams`` too) as one undo step.  A settings edit
    like ``SetProjectField``, so it is allowed while a run trains."""

    name: str = ""  # unused: the keys of ``value`` name the fields
    value: dict = field(default_factory=dict)  # field → its new value

    @property
    def text(self) -> str:
        return f"Change {' and '.join(self.value)}"

    def apply(self, project):
        unknown = sorted(set(self.value) - PROJECT_FIELDS)
        if unknown:
            raise CommandError(f"the project has no field(s) {', '.join(unknown)}")
        self._old = {key: getattr(project, key) for key in self.value}
        for key, value in self.value.items():
            setattr(project, key, value)
        return Change(None, project=True)

    def revert(self, project):
        for key, value in self._old.items():
            setattr(project, key, value)
        return Change(None, project=True)


@dataclass
class Macro(Command):
    """Several commands as one undo step (paste, delete-with-rewire, apply a quick fix)."""

    text: str = "Edit"
    commands: list[Command] = field(default_factory=list)

    def apply(self, project):
        done: list[Command] = []
        try:
            changes = []
            for c in self.commands:
                changes.append(c.apply(project))
                done.append(c)
        except CommandError:
            for c in reversed(done):
                c.revert(project)
            raise
        return _merge(changes)

    def revert(self, project):
        return _merge([c.revert(project) for c in reversed(self.commands)])


def _merge(changes: list[Change]) -> Change:
    nets = {c.network for c in changes}
    return Change(
        nets.pop() if len(nets) == 1 else None,
        frozenset().union(*(c.nodes for c in changes)) if changes else frozenset(),
        structure=any(c.structure for c in changes),
        project=any(c.project for c in changes) or len(nets) > 0,
    )


Listener = Callable[[Change], None]


class Document:
    """A project with an undo stack and change notifications.  No Qt: the GUI adapts it."""

    def __init__(self, project: Project | None = None, path=None):
        self.project = project or Project()
        self.path = path
        self._undo: list[Command] = []
        self._redo: list[Command] = []
        self._clean_index: int | None = 0
        self._listeners: list[Listener] = []

    # observation
    def subscribe(self, fn: Listener) -> Callable[[], None]:
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn)

    def _emit(self, change: Change) -> None:
        for fn in list(self._listeners):
            fn(change)

    # editing
    def do(self, command: Command) -> Change:
        change = command.apply(self.project)  # raises CommandError before touching the stack
        self._undo.append(command)
        if self._clean_index is not None and self._clean_index > len(self._undo) - 1:
            self._clean_index = None  # the saved state was on the redo branch we just dropped
        self._redo.clear()
        self._emit(change)
        return change

    def undo(self) -> Change | None:
        if not self._undo:
            return None
        command = self._undo.pop()
        change = command.revert(self.project)
        self._redo.append(command)
        self._emit(change)
        return change

    def redo(self) -> Change | None:
        if not self._redo:
            return None
        command = self._redo.pop()
        change = command.apply(self.project)
        self._undo.append(command)
        self._emit(change)
        return change

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_text(self) -> str:
        return self._undo[-1].text if self._undo else ""

    @property
    def redo_text(self) -> str:
        return self._redo[-1].text if self._redo else ""

    @property
    def dirty(self) -> bool:
        return self._clean_index != len(self._undo)

    def mark_clean(self) -> None:
        self._clean_index = len(self._undo)

    def replace_project(self, project: Project, path=None) -> None:
        """Open another project: the history starts afresh."""
        self.project, self.path = project, path
        self._undo.clear()
        self._redo.clear()
        self._clean_index = 0
        self._emit(Change(None, structure=True, project=True))
