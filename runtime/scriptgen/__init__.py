"""A training script a PyTorch user can keep: ``layerloom export FILE --script DIR``.

``write_script`` writes a self-contained folder: ``model.py`` (the networks, by
``builder.codegen``), ``data.py`` (the dataset's own generator code, the reader of the
user's CSV or NPZ file at its path, or else the exact arrays in ``data.npz``), ``train.py``
(seed, optimizers, schedule, the recipe's step and validation, the loop, checkpoints) and
``README.txt``.  It needs only torch and numpy, and follows the
trainer's order of random draws, so the same seed and steps give the app's numbers.

One template module per recipe (classification, regression, gan); any other recipe, and any
feature a template does not express, is refused with a ``ScriptError`` naming it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from builder.codegen import generate
from builder.document import Project
from runtime.assemble import dataset_params, load_data, make_recipe
from runtime.checkpoint import load_weights
from runtime.devices import seed_everything
from runtime.optim import lr_scales
from runtime.scriptgen import classification, gan, regression
from runtime.scriptgen.data import data_code, in_memory
from runtime.scriptgen.loop import (
    SKELETON,
    optimize_code,
    optimizer_call,
    render,
    schedule_code,
    settings_block,
)
from runtime.scriptgen.parts import Facts, ScriptError

__all__ = ["write_script", "ScriptError", "SUPPORTED"]

TEMPLATES = {"classification": classification, "regression": regression, "gan": gan}
SUPPORTED = tuple(TEMPLATES)


def _refuse_recipe(project: Project) -> None:
    name = project.recipe.name
    if name not in TEMPLATES:
        raise ScriptError(f"the training script cannot express recipe {name!r} yet (it can: "
                          f"{', '.join(SUPPORTED)})")


def _classes(source: str) -> dict[str, str]:
    """Network name → its class in the generated model.py."""
    found = re.findall(r'^class (\w+)\(nn\.Module\):\n    """Network \'([^\']+)\'', source,
                       re.MULTILINE)
    return {network: cls for cls, network in found}


def _check(project: Project, recipe, splits) -> None:
    if splits.others:
        raise ScriptError("the training script cannot express several data streams yet")
    if not in_memory(splits):
        raise ScriptError(f"dataset {project.dataset.name!r} is read from files batch by batch, "
                          "which the training script cannot do yet")
    if recipe.stages():
        raise ScriptError(f"the training script cannot express the stages of recipe "
                          f"{recipe.name!r} yet")
    if project.training.init:
        raise ScriptError("the project starts networks from saved weights (init); export "
                          "with --weights instead, or clear init")
    for role, net in recipe.nets.items():
        if not any(p.requires_grad for p in net.parameters()):
            raise ScriptError(f"network {recipe.names[role]!r} has nothing to train (every "
                              "block is frozen), which the training script cannot express yet")
        aux = [n for n, m in net.named_modules()
               if isinstance(getattr(m, "aux_loss", None), torch.Tensor)]
        if aux:
            raise ScriptError(f"network {recipe.names[role]!r}: block {aux[0]!r} adds an "
                              "auxiliary loss, which the training script cannot express yet")


def _optimizers(project: Project, recipe) -> str:
    """``make_optimizers(nets)``: one optimizer per network, as the trainer makes them."""
    lines, scaled = [], {}
    for role, net in recipe.nets.items():
        name = recipe.names[role]
        config = project.training.optimizer_for(name)
        scales = lr_scales(net)
        if scales:
            scaled[name] = {k: scales[id(p)] for k, p in net.named_parameters()
                            if id(p) in scales}
            params = f"param_groups(nets[{name!r}], {float(config.lr)!r}, LR_SCALES[{name!r}])"
        else:
            params = f"trainable(nets[{name!r}])"
        made = optimizer_call(config, params)
        if len(made) + len(name) > 88:  # its arguments on a line of their own
            head, _, rest = made.partition("(")
            args, _, flags = rest.rpartition(", lr=")
            made = f"{head}(\n            {args},\n            lr={flags}"
        lines.append(f"        {name!r}: {made},")
    text = ""
    if scaled:
        text = ("# Per-block learning-rate factors.\n"
                f"LR_SCALES = {scaled!r}\n\n\n"
                "def param_groups(net: nn.Module, lr: float, scales: dict[str, float]) -> list:\n"
                '    """One group per learning-rate factor, factor 1 first."""\n'
                "    by_scale: dict[float, list] = {}\n"
                "    for key, p in net.named_parameters():\n"
                "        if p.requires_grad:\n"
                "            by_scale.setdefault(scales.get(key, 1.0), []).append(p)\n"
                "    order = sorted(by_scale, key=lambda s: (s != 1.0, s))\n"
                '    return [{"params": by_scale[s], "lr": lr * s} for s in order]\n\n\n')
    fast = ""
    if any("**fast" in line for line in lines):
        fast = ("    # Multi-tensor updates as Layerloom makes them, so the rounding matches too.\n"
                '    fast = {"fused": True} if device.type == "cuda" else {"foreach": True}\n')
    return (text + "def make_optimizers(nets: dict[str, nn.Module], device: torch.device"
            ") -> dict:\n" + fast + "    return {\n" + "\n".join(lines) + "\n    }\n")


def _load_weights(recipe, weights: Path) -> None:
    """The run's weights into the networks (before anything is written: a misfit is refused
    with an empty folder)."""
    for role, net in recipe.nets.items():
        name = recipe.names[role]
        load_weights(net, weights / f"{name}.safetensors" if weights.is_dir() else weights)


def _save_weights(recipe, weights: Path | None, out: Path, fresh: bool) -> list[Path]:
    """Weights to start from in ``out/weights``: the run's (``weights``, loaded), or the app's
    own initial weights when a node's initialiser is one model.py does not apply
    (``fresh``)."""
    if weights is None and not fresh:
        return []
    written = []
    folder = out / "weights"
    folder.mkdir(parents=True, exist_ok=True)
    for role, net in recipe.nets.items():
        name = recipe.names[role]
        path = folder / f"{name}.pt"
        torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, path)
        written.append(path)
    return written


def write_script(project: Project, out_dir: str | Path, weights: str | Path | None = None,
                 title: str = "") -> list[Path]:
    """Write the training script folder for ``project`` into ``out_dir`` (created); the
    paths written.  ``title``: what the docstrings call the project.  ``weights``: a run
    folder (or one weights file) the script starts from.
    Raises ScriptError for what the script cannot express, SetupError for a project that
    does not train at all, CheckpointError for unreadable weights."""
    _refuse_recipe(project)
    settings = project.training
    seed_everything(settings.seed)  # as the trainer: the networks below get its weights
    splits = load_data(project)
    recipe = make_recipe(project, splits)
    _check(project, recipe, splits)
    roles = list(recipe.nets)
    networks = [recipe.names[r] for r in roles]
    title = title or ", ".join(networks)
    model = generate(project, networks=networks, title=f"The networks of {title}.")
    classes = _classes(model)
    if set(classes) != set(networks):
        raise ScriptError("model.py does not define one class per network")
    facts = Facts(recipe, {r: classes[recipe.names[r]] for r in roles}, recipe.options)
    recipe_text, warmup = TEMPLATES[recipe.name].code(facts)

    spec, params = dataset_params(project.dataset, project, "data")
    data = data_code(project.dataset.name, spec.coerce(params), splits)
    augmented = splits.augment is not None
    schedule = schedule_code(settings.schedule)
    train = render(
        SKELETON, TITLE=title, RECIPE=recipe.name,
        DATA_IMPORTS="augment, load_data" if augmented else "load_data",
        DATA_OPTION=data.option, DATA_ARG=data.argument,
        CLASSES=", ".join(sorted(set(classes.values()))),
        SETTINGS=settings_block(settings),
        OPTIMIZERS=_optimizers(project, recipe),
        SCHEDULE=("\n" + schedule) if schedule else "",
        OPTIMIZE=optimize_code(settings),
        AUGMENT_CALL="augment(batch, generator)" if augmented else "batch",
        RECIPE_CODE=recipe_text,
        NETS="{" + ", ".join(f"{n!r}: {classes[n]}()" for n in networks) + "}",
        WARMUP=warmup,
        SCHEDULES=("[torch.optim.lr_scheduler.LambdaLR(\n        opt, lambda s: lr_factor(s, "
                   "steps_per_epoch, total)) for opt in optimizers.values()]")
        if schedule else "[]",
    )
    if weights is not None:
        _load_weights(recipe, Path(weights))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    train = re.sub(r"\n{4,}", "\n\n\n", train)  # where optional parts were left out
    for name, text in (("model.py", model), ("data.py", data.source), ("train.py", train)):
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    if data.arrays is not None:  # compressed: image sets are mostly background
        np.savez_compressed(out / "data.npz", **data.arrays)
        written.append(out / "data.npz")
    custom_init = any(node.init != "default" for n in networks
                      for node in project.networks[n].nodes.values())
    written += _save_weights(recipe, Path(weights) if weights else None, out, custom_init)
    readme = _readme(recipe.name, data.how, weights is not None, custom_init, augmented)
    (out / "README.txt").write_text(readme, encoding="utf-8")
    written.append(out / "README.txt")
    return written


def _readme(recipe: str, how: str, weights: bool, custom_init: bool, augmented: bool) -> str:
    lines = [
        f"A training script written by `layerloom export --script` (recipe {recipe}).",
        "It needs only torch and numpy.",
        "",
        "  model.py   the networks (plain torch.nn modules)",
        f"  data.py    {how}" + ("; and the training-time augmentation" if augmented else ""),
        "  train.py   seed, optimizers, schedule, the training step, validation, checkpoints",
        "",
        "Run:  python train.py --steps 200        (or --epochs N, --device cuda, --out DIR)",
        "It prints the losses every --log-every steps and the validation metrics after each",
        "epoch, and saves each network's state dict as <network>.pt in --out.",
        "With the same seed, steps and device it reproduces Layerloom's numbers.",
    ]
    if weights:
        lines.append("weights/ holds the trained weights it starts from (torch state dicts).")
    elif custom_init:
        lines.append("weights/ holds Layerloom's initial weights (some blocks use an "
                     "initialiser model.py does not apply).")
    return "\n".join(lines) + "\n"

