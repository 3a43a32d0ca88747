"""A plain-language verdict on a run: what the numbers say went wrong, and one edit to try.

``Recorder`` is an event callback that keeps what the rules read (the CLI feeds it every
event); the GUI builds the same ``RunFacts`` from its ``RunSeries``.  ``diagnose`` (in
``runtime.verdict_rules``, one small function per rule) returns the findings, and
``fix_command`` turns a finding's declarative fix into one undoable command on the project.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from builder import blocks
from builder.commands import Change, Command, CommandError, Macro, SetParams, SetProjectField
from builder.document import Node, Project
from runtime.events import ActivationStats, EpochSummary, Failure, GradientStats, StepMetrics
from runtime.events import Warning as RunWarning
from runtime.verdict_rules import MIN_STEPS, Finding, RunFacts, diagnose

__all__ = ["Recorder", "project_facts", "verdict_lines", "fix_command", "ReplaceBlock",
           "Finding", "RunFacts", "diagnose"]


def project_facts(project: Project, facts: RunFacts | None = None) -> RunFacts:
    """``facts`` (or new ones) with the project's block types, output layers, roles and
    learning rates filled in."""
    facts = facts or RunFacts()
    for name, net in project.networks.items():
        facts.blocks[name] = {i: n.block for i, n in net.nodes.items()}
        outputs = {i for i, n in net.nodes.items() if n.block == "Output"}
        facts.heads[name] = {e.src for e in net.edges if e.dst in outputs}
    facts.roles = dict(project.recipe.roles)
    trained = set(facts.roles.values()) or set(project.networks)
    facts.lr = {n: project.training.optimizer_for(n).lr for n in project.networks
                if n in trained}
    facts.grad_clip = project.training.grad_clip
    return facts


class Recorder:
    """Keeps a run's numbers from its events; ``facts(project)`` hands them to the rules."""

    def __init__(self) -> None:
        self._steps: dict[str, tuple[list, list]] = {}
        self._epochs: dict[tuple[str, str], tuple[list, list]] = {}
        self._grad: dict[str, dict[str, list]] = {}
        self._dead: dict[str, dict[str, list]] = {}
        self._act: dict[str, dict[str, tuple[float, float]]] = {}
        self.nonfinite = False

    def __call__(self, event) -> None:
        if isinstance(event, StepMetrics):
            for k, v in event.values.items():
                xs, ys = self._steps.setdefault(k, ([], []))
                xs.append(event.step)
                ys.append(v)
        elif isinstance(event, EpochSummary):
            for split, values in (("train", event.train), ("val", event.val)):
                for k, v in values.items():
                    xs, ys = self._epochs.setdefault((split, k), ([], []))
                    xs.append(event.step)
                    ys.append(v)
        elif isinstance(event, GradientStats):
            layers = self._grad.setdefault(event.network, {})
            for k, v in event.norms.items():
                layers.setdefault(k, []).append(v)
        elif isinstance(event, ActivationStats):
            layers = self._dead.setdefault(event.network, {})
            for k, v in event.dead.items():
                layers.setdefault(k, []).append(v)
            self._act[event.network] = {k: (m, event.std.get(k, math.nan))
                                        for k, m in event.mean.items()}
        elif isinstance(event, (RunWarning, Failure)) and \
                (getattr(event, "code", None) or getattr(event, "kind", None)) == "nonfinite":
            self.nonfinite = True

    def facts(self, project: Project | None = None) -> RunFacts:
        arr = np.asarray
        facts = RunFacts(
            steps={k: (arr(x, float), arr(y, float)) for k, (x, y) in self._steps.items()},
            epochs={k: (arr(x, float), arr(y, float)) for k, (x, y) in self._epochs.items()},
            grad={n: {k: arr(v, float) for k, v in ls.items()} for n, ls in self._grad.items()},
            dead={n: {k: arr(v, float) for k, v in ls.items()} for n, ls in self._dead.items()},
            act={n: dict(ls) for n, ls in self._act.items()}, nonfinite=self.nonfinite)
        return project_facts(project, facts) if project is not None else facts


def verdict_lines(facts: RunFacts) -> list[str]:
    """The verdict as lines of text: one per finding, or why there is none."""
    if not facts.enough:
        return [f"not enough steps for a verdict yet ({facts.loss_steps} of {MIN_STEPS})"]
    found = diagnose(facts)
    if not found:
        return ["no problem found in the loss, gradients or activations"]
    return [f.line() for f in found]


# --- fixes -------------------------------------------------------------------------------------

@dataclass
class ReplaceBlock(Command):
    """Swap the block type of some nodes (ReLU → LeakyReLU), keeping their ids, positions and
    wires; the new block's params are its defaults.  For blocks with the same ports."""

    network: str
    node_ids: tuple[str, ...]
    block: str
    _old: dict[str, Node] = field(default_factory=dict, repr=False)

    @property
    def text(self) -> str:
        return f"Replace {', '.join(self.node_ids)} with {self.block}"

    def apply(self, project):
        net = project.networks.get(self.network)
        if net is None:
            raise CommandError(f"the project has no network {self.network!r}")
        missing = [i for i in self.node_ids if i not in net.nodes]
        if missing:
            raise CommandError(f"network {self.network!r} has no node {missing[0]!r}")
        spec = blocks.get(self.block)
        self._old = {i: net.nodes[i] for i in self.node_ids}
        for i, old in self._old.items():
            node = old.copy()
            node.block, node.params = self.block, spec.defaults()
            net.nodes[i] = node
        return Change(self.network, frozenset(self.node_ids), structure=True)

    def revert(self, project):
        net = project.networks[self.network]
        for i, old in self._old.items():
            net.nodes[i] = old
        return Change(self.network, frozenset(self.node_ids), structure=True)


def _by_network(nodes) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for net, node in nodes:
        out.setdefault(net, []).append(node)
    return out


def fix_command(project: Project, fix: dict) -> Command | None:
    """The one undoable command that performs a finding's ``fix`` on ``project`` (None when
    the project no longer has what the fix names).  Forms: ``lr`` (networks, factor),
    ``training`` (set: {setting: value}), ``scale`` (nodes, param, factor), ``replace``
    (nodes, block)."""
    kind, label = fix.get("kind"), fix.get("label", "Apply the verdict's fix")
    if kind == "lr":
        nets = [n for n in fix.get("networks", []) if n in project.networks]
        if not nets:
            return None
        training = copy.deepcopy(project.training)
        for net in nets:
            opt = copy.deepcopy(training.optimizer_for(net))
            opt.lr = float(f"{opt.lr * fix['factor']:.3g}")
            training.optimizers[net] = opt
        return SetProjectField("training", training)
    if kind == "training":
        training = copy.deepcopy(project.training)
        for key, value in fix["set"].items():
            if not hasattr(training, key):
                return None
            setattr(training, key, value)
        return SetProjectField("training", training)
    commands: list[Command] = []
    for net, nodes in _by_network(fix.get("nodes", [])).items():
        network = project.networks.get(net)
        if network is None or any(n not in network.nodes for n in nodes):
            return None
        if kind == "scale":
            param, factor = fix["param"], fix["factor"]
            for n in nodes:
                value = network.nodes[n].params.get(param)
                if isinstance(value, (int, float)):
                    commands.append(SetParams(net, n, {param: type(value)(value * factor)}))
        elif kind == "replace":
            commands.append(ReplaceBlock(net, tuple(nodes), fix["block"]))
    return Macro(label, commands) if commands else None
