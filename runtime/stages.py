"""The trainer's side of ``Recipe.stages``: how long each stage is, which recipe does its
step, and which parameters train in it.

Nothing here knows what a stage is *for*: a layer-wise pre-training recipe and a transfer
learning recipe differ only in the ``Stage`` list they declare.  A recipe without stages
runs as one unannounced stage over the whole run, which is exactly the loop without stages.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from builder.names import user_names
from runtime import recipes
from runtime.data.core import DataInfo
from runtime.recipes.base import Recipe, RecipeError, Stage, node_module

__all__ = ["declared", "stage_epochs", "step_recipe", "shared_roles", "Freezer"]


def declared(recipe: Recipe) -> tuple[list[Stage], bool]:
    """(the recipe's stages, whether it declared any); none: one stage named ``train``."""
    stages = list(recipe.stages())
    if not all(isinstance(s, Stage) for s in stages):
        raise RecipeError(f"recipe {recipe.name!r}: stages() must return Stage objects")
    return (stages, True) if stages else ([Stage("train")], False)


def stage_epochs(stages: Sequence[Stage], epochs: int) -> list[int]:
    """Epochs of each stage: counts as given, shares of ``epochs``, and what is left of
    ``epochs`` split evenly among the stages that set neither."""
    counts = [s.epochs if s.epochs is not None
              else max(1, round(s.share * epochs)) if s.share is not None else None
              for s in stages]
    taken = sum(c for c in counts if c is not None)
    open_ = [i for i, c in enumerate(counts) if c is None]
    rest = max(0, epochs - taken)
    for k, i in enumerate(open_):
        counts[i] = rest // len(open_) + (1 if k < rest % len(open_) else 0)
        if counts[i] == 0 and epochs > 0:
            raise RecipeError(f"stage {stages[i].name!r} gets no epochs: the other stages "
                              f"take {taken} of the run's {epochs}; train for more epochs")
    return counts


def step_recipe(stage: Stage, main: Recipe, info: DataInfo) -> Recipe:
    """The recipe that does the step in ``stage``: ``main`` itself, or a sub-recipe over
    ``main``'s networks (the same modules, so what it trains stays trained).  A sub-recipe
    may add modules of its own to ``nets``, ``calls`` and ``names`` (a decoder for
    layer-wise pre-training): they are trained and checkpointed during its stage, never
    saved as results."""
    if stage.recipe is None and not stage.params:
        return main
    cls = recipes.get(stage.recipe) if stage.recipe else type(main)
    mapping = {}
    for role in cls.roles:
        target = stage.roles.get(role.name, role.name)
        if target not in main.compiled and len(cls.roles) == 1 and len(main.compiled) == 1:
            target = next(iter(main.compiled))
        if target not in main.compiled:
            raise RecipeError(f"stage {stage.name!r}: recipe {cls.name!r} needs role "
                              f"{role.name!r}, which recipe {main.name!r} does not have; map "
                              "it with Stage(roles=...)")
        mapping[role.name] = target
    return cls({r: main.compiled[t] for r, t in mapping.items()}, info, stage.params,
               {r: main.names[t] for r, t in mapping.items()}, others=main.others)


def shared_roles(active: Recipe, main: Recipe) -> dict[str, str]:
    """``active``'s role → ``main``'s role, for the networks they share (not a sub-recipe's
    own modules)."""
    return {r: m for r, net in active.nets.items()
            for m in main.compiled if net is main.nets[m]}


class Freezer:
    """Sets ``requires_grad`` for a stage on the declaring recipe's networks.  What the
    canvas froze (the node's trainable switch) is remembered first and always wins."""

    def __init__(self, recipe: Recipe):
        self.recipe = recipe
        self.base = [(p, p.requires_grad) for m in recipe.nets.values() for p in m.parameters()]

    def _params(self, stage: Stage, role: str, nodes) -> list[nn.Parameter]:
        if role not in self.recipe.nets:
            raise RecipeError(f"stage {stage.name!r} names role {role!r}; recipe "
                              f"{self.recipe.name!r} has {', '.join(self.recipe.nets)}")
        module = self.recipe.nets[role]
        where = f"stage {stage.name!r}, network {self.recipe.names[role]!r}"
        found = (node_module(module, n, where) for n in sorted(nodes))
        return [p for m in found if m is not None for p in m.parameters()]

    def check(self, stage: Stage) -> None:
        """Raise RecipeError for a role or node id the networks do not have."""
        for role, nodes in {**stage.freeze, **(stage.train or {})}.items():
            self._params(stage, role, nodes)

    def apply(self, stage: Stage) -> dict[str, list[str]]:
        """Apply ``stage``'s trainable set; returns network name → the top-level node ids
        that train in it."""
        for p, flag in self.base:
            p.requires_grad_(flag)
        # Switch off only, never on: a parameter shared by two roles stays frozen if either
        # role's set freezes it, and the canvas's frozen nodes stay frozen.
        for role, nodes in (stage.train or {}).items():
            keep = {id(p) for p in self._params(stage, role, nodes)}
            for p in self.recipe.nets[role].parameters():
                if id(p) not in keep:
                    p.requires_grad_(False)
        for role, nodes in stage.freeze.items():
            for p in self._params(stage, role, nodes):
                p.requires_grad_(False)
        return {self.recipe.names[r]: _training(self.recipe.nets[r]) for r in self.recipe.compiled}


def _training(module: nn.Module) -> list[str]:
    """The canvas node ids of ``module``'s top-level layers that have a trainable weight."""
    ids = user_names(module)
    return [ids.get(n, n) for n, m in module.named_children()
            if any(p.requires_grad for p in m.parameters())]

