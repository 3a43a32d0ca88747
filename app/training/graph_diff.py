"""What changed between the projects of two runs (no Qt): nodes added, removed or changed
in each network, and the settings that differ (optimizer, learning rate, dataset…)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from builder.document import Network, Project

__all__ = ["NetworkDiff", "ProjectDiff", "diff_projects", "diff_networks"]


@dataclass
class NetworkDiff:
    name: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)  # node → what changed
    rewired: list[str] = field(default_factory=list)  # nodes whose inputs changed

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.rewired)


@dataclass
class ProjectDiff:
    networks: dict[str, NetworkDiff] = field(default_factory=dict)
    networks_added: list[str] = field(default_factory=list)
    networks_removed: list[str] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)  # "optimizer: adam → sgd"

    @property
    def empty(self) -> bool:
        return not (self.settings or self.networks_added or self.networks_removed
                    or any(not d.empty for d in self.networks.values()))

    def text(self, a: str = "A", b: str = "B") -> str:
        """A readable summary, one line per difference."""
        if self.empty:
            return f"{a} and {b} trained the same graph with the same settings."
        lines = []
        for name in self.networks_added:
            lines.append(f"network {name}: only in {b}")
        for name in self.networks_removed:
            lines.append(f"network {name}: only in {a}")
        for name, d in self.networks.items():
            if d.empty:
                continue
            lines.append(f"network {name}:")
            lines += [f"  + {n} (added)" for n in d.added]
            lines += [f"  − {n} (removed)" for n in d.removed]
            lines += [f"  ~ {n}: {', '.join(what)}" for n, what in d.changed.items()]
            lines += [f"  ~ {n}: wired differently" for n in d.rewired if n not in d.changed]
        if self.settings:
            lines.append("settings:")
            lines += [f"  {s}" for s in self.settings]
        return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def diff_networks(a: Network, b: Network) -> NetworkDiff:
    d = NetworkDiff(b.name)
    d.added = [n for n in b.nodes if n not in a.nodes]
    d.removed = [n for n in a.nodes if n not in b.nodes]
    for node_id, nb in b.nodes.items():
        na = a.nodes.get(node_id)
        if na is None:
            continue
        what = []
        if na.block != nb.block:
            what.append(f"block {na.block} → {nb.block}")
        for key in sorted(set(na.params) | set(nb.params)):
            if na.params.get(key) != nb.params.get(key):
                what.append(f"{key} {_fmt(na.params.get(key, 'default'))} → "
                            f"{_fmt(nb.params.get(key, 'default'))}")
        if na.trainable != nb.trainable:
            what.append("frozen" if not nb.trainable else "unfrozen")
        if na.init != nb.init:
            what.append(f"init {na.init} → {nb.init}")
        if na.bypass != nb.bypass:
            what.append("bypassed" if nb.bypass else "bypass off")
        if na.lr_scale != nb.lr_scale:
            what.append(f"learning rate ×{na.lr_scale:g} → ×{nb.lr_scale:g}")
        if (na.subnet is None) != (nb.subnet is None) or (
                na.subnet is not None and not diff_networks(na.subnet, nb.subnet).empty):
            what.append("inner network")
        if what:
            d.changed[node_id] = what
    inputs_a = {(e.dst, e.dst_port): (e.src, e.src_port) for e in a.edges}
    inputs_b = {(e.dst, e.dst_port): (e.src, e.src_port) for e in b.edges}
    rewired = {dst for (dst, port) in set(inputs_a) | set(inputs_b)
               if inputs_a.get((dst, port)) != inputs_b.get((dst, port))}
    d.rewired = sorted(n for n in rewired if n in b.nodes and n not in d.added)
    return d


def _flat(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def diff_projects(a: Project, b: Project) -> ProjectDiff:
    d = ProjectDiff()
    d.networks_added = [n for n in b.networks if n not in a.networks]
    d.networks_removed = [n for n in a.networks if n not in b.networks]
    for name, net in b.networks.items():
        if name in a.networks:
            d.networks[name] = diff_networks(a.networks[name], net)
    fa, fb = {}, {}
    for part in ("dataset", "recipe", "training"):
        _flat(part, asdict(getattr(a, part)), fa)
        _flat(part, asdict(getattr(b, part)), fb)
    for key in sorted(set(fa) | set(fb)):
        if fa.get(key) != fb.get(key):
            d.settings.append(f"{key}: {_fmt(fa.get(key, '—'))} → {_fmt(fb.get(key, '—'))}")
    return d
