"""What the recipe templates share: the facts of the project they fill in, and the calls
of the generated networks (which inputs come from the batch, which from the noise)."""

from __future__ import annotations

from dataclasses import dataclass

from builder.compiler import Compiled
from runtime.recipes.base import Recipe

__all__ = ["ScriptError", "Facts", "call", "pick", "check_inputs"]


class ScriptError(ValueError):
    """The training script cannot express this project; the message names what."""


@dataclass
class Facts:
    """The project as the templates need it."""

    recipe: Recipe  # built over the project's compiled networks and data
    classes: dict[str, str]  # role → the class in model.py
    options: dict  # the recipe's coerced params

    @property
    def names(self) -> dict[str, str]:
        return self.recipe.names  # role → network name

    def compiled(self, role: str) -> Compiled:
        return self.recipe.compiled[role]


def _noise(spec, n: str, device: str) -> str:
    shape = ", ".join(str(d) for d in spec.shape)
    if spec.params.get("distribution", "normal") == "uniform":
        return f"torch.rand(({n}, {shape}), device={device}, generator=noise) * 2 - 1"
    return f"torch.randn(({n}, {shape}), device={device}, generator=noise)"


def call(facts: Facts, role: str, given: dict[str, str], n: str, device: str) -> str:
    """``nets[NAME](…)``: each input from ``given`` (field → expression), else the batch's
    field; a Noise input drawn from ``noise`` (the generator's name in the template)."""
    args = []
    for spec in facts.compiled(role).inputs:
        if spec.block == "Noise":
            args.append(_noise(spec, n, device))
        elif spec.field in given:
            args.append(given[spec.field])
        else:
            args.append(f"batch[{spec.field!r}]")
    net = f"nets[{facts.names[role]!r}]"
    if len(net) + sum(len(a) + 2 for a in args) > 80:  # one argument per line
        return f"{net}(\n        " + ",\n        ".join(args) + ",\n    )"
    return f"{net}({', '.join(args)})"


def pick(facts: Facts, role: str, output: str | None) -> str:
    """The index suffix that picks one output of a network with several ("" for one)."""
    outputs = facts.compiled(role).outputs
    if len(outputs) == 1:
        return ""
    return f"[{outputs.index(output) if output in outputs else 0}]"


def check_inputs(facts: Facts, role: str, allowed: tuple[str, ...]) -> None:
    """Refuse inputs the script does not fill: recipe-fed Inputs, labels it does not feed."""
    for spec in facts.compiled(role).inputs:
        if spec.block not in allowed:
            raise ScriptError(f"network {facts.names[role]!r} has a {spec.block} input "
                              f"({spec.name!r}), which the training script cannot feed yet")
        if spec.block == "Input" and spec.params.get("source", "data") == "recipe":
            raise ScriptError(f"network {facts.names[role]!r}: input {spec.name!r} is filled "
                              "by the recipe, which the training script cannot do yet")
