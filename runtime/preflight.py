"""What ``train`` checks at setup, without training and without downloading anything: the
recipe and its params, each dataset stream and its params, the role bindings, the networks
compiled, every input against the data's fields, the stages, the start-from weights and two
samples through every network.  ``layerloom inspect`` reports these problems beside the
networks' own and ``layerloom train`` refuses to start on any of them, so the two agree.

Generated and bundled datasets are made at a tiny size (``TINY`` samples) to learn their
fields.  Datasets that are downloaded on first use or read from the user's files are not
loaded: their params are checked (and that the files they name exist), and a note says that
their fields were not compared with the inputs.

``inspect_file`` is the whole of ``inspect``: a file the reader refuses only for an unknown
block or port is a readable file with problems (exit 1), reported as such.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from builder import blocks
from builder.blocks.spec import ParamError
from builder.document import DatasetConfig, Node, Project
from builder.jsontext import nearest, show
from builder.ports import GROUP, node_ports
from builder.problems import Code, Problem
from builder.reader import parse
from builder.serialize import FORMAT, MIGRATIONS, VERSION, LoomError, load
from runtime import assemble
from runtime.assemble import SetupError
from runtime.data import Splits, data_root
from runtime.init_weights import InitError, load_init
from runtime.plan import PlanError, make_plan
from runtime.recipes.base import Recipe, RecipeError
from runtime.stages import Freezer, declared, step_recipe

__all__ = ["TINY", "ERROR", "NOTE", "Check", "preflight", "file_problems", "inspect_file"]

TINY = 64  # samples of a generated dataset made to learn its fields
ERROR, NOTE = "error", "note"
_LOADED_LATER = {"download": "downloaded on first use", "file": "read from your files"}


@dataclass(frozen=True)
class Check:
    """One finding.  ``code``: whose it is, as ``SetupError.kind`` (``dataset``, ``recipe``,
    ``setup``)."""

    code: str
    message: str
    severity: str = ERROR

    def to_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "network": None, "node": None,
                "port": None, "message": self.message}


def preflight(project: Project, *, compile: bool = True, init: bool = True,
              base: Path | None = None) -> list[Check]:
    """Every problem ``train`` would meet at setup, and notes on what was not checked.
    ``compile``: False when the networks are already known not to compile (their own
    problems say why).  ``init``: check the start-from weights (not on a resume).  ``base``:
    the folder relative ``training.init`` paths start from."""
    out: list[Check] = []
    try:
        _check(project, out, compile, init, base)
    except Exception as e:  # a bug here must not hide the project: say it, never crash
        out.append(Check("setup", f"{type(e).__name__}: {e}"))
    return out


def _check(project: Project, out: list[Check], compile: bool, init: bool,
           base: Path | None) -> None:
    try:
        cls = assemble.recipe_class(project)
    except SetupError as e:
        out.append(Check(e.kind, str(e)))
        cls = None
    data = _datasets(project, cls, out)
    if cls is None:
        return
    try:
        cls.coerce(project.recipe.params)
    except RecipeError as e:
        out.append(Check("recipe", str(e)))
    roles = [r.name for r in cls.roles]
    for role in roles:
        try:
            assemble.bound_network(project, role, roles)
        except SetupError as e:
            out.append(Check(e.kind, str(e)))
    if not compile or any(c.severity == ERROR for c in out):
        return
    try:
        if data is None:  # the fields are not known here: the networks compile, at least
            assemble.compile_roles(project, roles)
            return
        recipe = assemble.make_recipe(project, data)
        stages, _ = declared(recipe)
        freezer = Freezer(recipe)
        for stage in stages:
            freezer.check(stage)
        recipes: list[Recipe] = [recipe]
        for stage in stages:
            r = step_recipe(stage, recipe, data.info)
            recipes += [r] if all(r is not o for o in recipes) else []
        make_plan(len(data.train), project.training, stages, None, None)
        if init:
            _start_from(recipe, project.training.init, base, out)
        for r in recipes:
            assemble.dry_run(r, data, torch.device("cpu"))
    except SetupError as e:
        out.append(Check(e.kind, str(e)))
    except (RecipeError, PlanError) as e:
        out.append(Check("recipe", str(e)))


def _datasets(project: Project, cls, out: list[Check]) -> Splits | None:
    """Every stream's dataset checked; the splits (others included) when all could be made
    here, else None."""
    configs = None
    if cls is not None:
        try:
            configs = assemble.stream_configs(project)
        except SetupError as e:
            out.append(Check(e.kind, str(e)))
    made = {name: _dataset(project, name, cfg, out)
            for name, cfg in (configs or {"data": project.dataset, **project.streams}).items()}
    if configs is None or any(s is None for s in made.values()):
        return None
    (_, splits), *rest = made.items()
    if rest:
        splits.others = dict(rest)
    return splits


def _dataset(project: Project, stream: str, cfg: DatasetConfig,
             out: list[Check]) -> Splits | None:
    try:
        spec, params = assemble.dataset_params(cfg, project, stream)
        try:
            checked = spec.coerce(params)
        except ParamError as e:
            raise assemble.dataset_failure(cfg, project, stream, e) from e
        if spec.kind in _LOADED_LATER:
            _paths(spec, checked, cfg, project, stream)
            where = f"stream {stream!r}: " if project.streams else ""
            out.append(Check("dataset", f"{where}dataset {cfg.name!r} is loaded only when "
                                        f"training starts ({_LOADED_LATER[spec.kind]}), so its "
                                        "fields were not compared with the networks' inputs "
                                        "here", NOTE))
            return None
        # A data folder of its own, so a small set never mixes with the user's cached ones;
        # kept, so it is made once (the glyph digits' fonts take a second to render) rather
        # than at every inspect and train.  A folder that cannot be written only costs that.
        root = str(data_root() / "preflight")
        if checked.get("n_samples", 0) > TINY:
            small = {**params, "n_samples": TINY}
            with contextlib.suppress(SetupError):  # too small for these settings?
                return assemble.load_stream(cfg, project, stream, params=small, root=root)
        return assemble.load_stream(cfg, project, stream, root=root)
    except SetupError as e:
        out.append(Check(e.kind, str(e)))
        return None


def _paths(spec, params: dict[str, Any], cfg: DatasetConfig, project: Project,
           stream: str) -> None:
    """The files and folders a ``file`` dataset names exist."""
    for name, what in spec.paths if spec.kind == "file" else ():
        path = Path(str(params.get(name) or "")).expanduser()
        if not params.get(name):
            thing = "a folder" if what == "folder" else f"a file ({what})"
            error: Exception = ValueError(f"choose {thing} first (param {name!r} is empty)")
        elif not path.exists():
            error = FileNotFoundError(f"{path} does not exist")
        else:
            continue
        raise assemble.dataset_failure(cfg, project, stream, error)


def _start_from(recipe: Recipe, init: dict[str, str], base: Path | None,
                out: list[Check]) -> None:
    """What setup says of ``training.init`` (``runtime.setup``): a network the recipe trains,
    and a weights file that fits it."""
    modules = recipe.by_name()
    for network, path in init.items():
        if network not in modules:
            out.append(Check("setup", f"init names network {network!r}, which recipe "
                                      f"{recipe.name!r} does not train here; it trains "
                                      f"{', '.join(modules)}"))
            continue
        where = Path(path).expanduser()
        if base is not None and not where.is_absolute():
            where = base / where
        try:
            load_init(modules[network], where, network)
        except InitError as e:
            out.append(Check("setup", f"cannot start network {network!r} from {path}: {e}"))


# --- inspect ------------------------------------------------------------------------------


def file_problems(path: str | Path, error: LoomError | None = None) -> list[Problem]:
    """The unknown blocks, ports and nodes of a project file, found without the reader (which
    stops at the first): a file refused for these is readable, with problems.  Empty when the
    file is not a readable Layerloom document of a version this program knows, or when
    ``error`` (the reader's) is about something else."""
    try:
        doc = parse(Path(path).read_bytes().decode("utf-8-sig"))
        if not isinstance(doc, dict) or doc.get("format", FORMAT) != FORMAT:
            return []
        version = doc.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version > VERSION:
            return []
        while version < VERSION:
            doc = MIGRATIONS[version](doc)
            version = doc["version"]
        found: list[Problem] = []
        for net in doc.get("networks") if isinstance(doc.get("networks"), list) else ():
            if isinstance(net, dict) and isinstance(net.get("name"), str):
                _scan(net, net["name"], found)
    except Exception:  # anything odd: not for this scan to judge
        return []
    return found if error is None or any(p.message in str(error) for p in found) else []


def _scan(net: dict, where: str, out: list[Problem]) -> None:
    nodes = {n["id"]: n for n in net.get("nodes", ()) if isinstance(n, dict)
             and isinstance(n.get("id"), str) and isinstance(n.get("block"), str)}
    for node_id, nd in nodes.items():
        block = nd["block"]
        if block == GROUP and isinstance(nd.get("subnet"), dict):
            _scan(nd["subnet"], f"{where}/{node_id}", out)
        elif block != GROUP and block not in blocks.REGISTRY:
            close = nearest(block, blocks.REGISTRY)
            hint = f" (did you mean {close!r}?)" if close else ""
            out.append(Problem(Code.UNKNOWN_BLOCK, f"unknown block type {show(block)}{hint}",
                               where, node_id))
    for ed in net.get("edges", ()) if isinstance(net.get("edges"), list) else ():
        for key in ("from", "to") if isinstance(ed, dict) else ():
            ref = ed.get(key)
            node_id, dot, port = ref.rpartition(".") if isinstance(ref, str) else ("", "", "")
            if not dot or not node_id or not port:
                continue
            if node_id not in nodes:
                out.append(Problem(Code.UNKNOWN_PORT, f"refers to a node {show(node_id)} that "
                                                      "does not exist", where, None, port))
                continue
            ports = _ports(nodes[node_id], key == "from")
            if ports and port not in ports:
                out.append(Problem(Code.UNKNOWN_PORT, f"{show(node_id)} has no "
                                   f"{'output' if key == 'from' else 'input'} port {show(port)} "
                                   f"(it has: {', '.join(ports)})", where, node_id, port))


def _ports(nd: dict, outputs: bool) -> list[str]:
    """A node's port names as the reader knows them (none when it cannot say)."""
    if nd["block"] == GROUP:
        sub = nd.get("subnet") if isinstance(nd.get("subnet"), dict) else {}
        kind = "Output" if outputs else "Input"
        return [n.get("id") for n in sub.get("nodes", ()) if isinstance(n, dict)
                and n.get("block") == kind and isinstance(n.get("id"), str)]
    if nd["block"] not in blocks.REGISTRY:
        return []
    params = nd.get("params") if isinstance(nd.get("params"), dict) else {}
    try:
        ports = node_ports(Node(nd["id"], nd["block"], dict(params), (0.0, 0.0)))
    except Exception:
        return []
    return [p.name for p in ports[1 if outputs else 0]]


def inspect_file(path: str | Path, inspect: Callable[[Project], dict[str, Any]]
                 ) -> dict[str, Any]:
    """``inspect``'s report of the project at ``path`` with what ``train`` would refuse at
    setup added: ``project_problems`` (also in ``problems``) and ``notes``.  Raises
    LoomError when the file cannot be read."""
    try:
        project = load(path)
    except LoomError as e:
        found = [p.to_dict() for p in file_problems(path, e)]
        if not found:  # refused for something else: not readable
            raise
        return {"networks": [], "problems": found, "project_problems": found, "notes": [],
                "valid": False}
    info = inspect(project)
    checks = preflight(project, compile=info["valid"], base=Path(path).resolve().parent)
    found = [c.to_dict() for c in checks if c.severity == ERROR]
    info["project_problems"] = found
    info["problems"] = info["problems"] + found
    info["notes"] = [c.message for c in checks if c.severity == NOTE]
    info["valid"] = info["valid"] and not found
    return info
