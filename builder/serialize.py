"""The ``.loom`` file: JSON with a version, strict reading, migrations, atomic saving.

Reading never trusts the file: every field is type-checked and every error names where it is
(``networks[0].nodes[3].params``).  Saving writes a temp file, fsyncs, keeps the previous file
as ``NAME.loom.bak`` and renames into place, so a crash mid-save loses nothing.  No pickle.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import tempfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from builder import blocks
from builder.document import (
    INITS,
    DatasetConfig,
    Edge,
    Network,
    Node,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
    valid_name,
)
from builder.ports import GROUP, node_ports
from builder.training import check_training

__all__ = [
    "FORMAT",
    "VERSION",
    "LoomError",
    "to_dict",
    "from_dict",
    "dumps",
    "loads",
    "load",
    "save",
    "fsync_dir",
    "MIGRATIONS",
]

FORMAT = "layerloom"
VERSION = 2
MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 16  # groups inside groups


class LoomError(ValueError):
    """A project file could not be read.  The message says what is wrong and where."""


# --- writing ------------------------------------------------------------------------------


def _net_to_dict(net: Network) -> dict:
    nodes = []
    for n in net.nodes.values():
        d: dict[str, Any] = {"id": n.id, "block": n.block}
        if n.params:
            d["params"] = {k: list(v) if isinstance(v, tuple) else v for k, v in n.params.items()}
        d["pos"] = [round(n.pos[0], 2), round(n.pos[1], 2)]
        if not n.trainable:
            d["trainable"] = False
        if n.init != "default":
            d["init"] = n.init
        if n.subnet is not None:
            d["subnet"] = _net_to_dict(n.subnet)
        nodes.append(d)
    edges = [{"from": f"{e.src}.{e.src_port}", "to": f"{e.dst}.{e.dst_port}"} for e in net.edges]
    return {"name": net.name, "nodes": nodes, "edges": edges}


def to_dict(project: Project) -> dict:
    training = asdict(project.training)
    return {
        "format": FORMAT,
        "version": VERSION,
        "description": project.description,
        "networks": [_net_to_dict(n) for n in project.networks.values()],
        "dataset": asdict(project.dataset),
        "recipe": asdict(project.recipe),
        "training": training,
        "streams": {name: asdict(cfg) for name, cfg in project.streams.items()},
    }


def dumps(project: Project) -> str:
    return json.dumps(to_dict(project), indent=2, ensure_ascii=False) + "\n"


def save(project: Project, path: str | os.PathLike) -> Path:
    """Atomically write ``path``; an existing file is kept as ``path + '.bak'``."""
    path = Path(path)
    text = dumps(project).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            backup = path.with_name(path.name + ".bak")
            os.replace(path, backup)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def fsync_dir(folder: Path) -> None:
    """Make a rename or new file in ``folder`` durable (a no-op where the OS cannot)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not possible on every platform (Windows); the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- reading ------------------------------------------------------------------------------


def _migrate_0_to_1(doc: dict) -> dict:
    """Version 0 (early drafts) stored edges as [src, src_port, dst, dst_port] lists."""
    for net in doc.get("networks", []):
        if isinstance(net, dict) and isinstance(net.get("edges"), list):
            net["edges"] = [
                {"from": f"{e[0]}.{e[1]}", "to": f"{e[2]}.{e[3]}"}
                if isinstance(e, list) and len(e) == 4 else e
                for e in net["edges"]
            ]
    doc["version"] = 1
    return doc


def _migrate_1_to_2(doc: dict) -> dict:
    """Version 2 added data streams, start-from weights and the sampling cadence; every one
    defaults to what version 1 did (one dataset, fresh weights, samples every epoch)."""
    doc["version"] = 2
    return doc


# version → function turning a document of that version into the next version's
MIGRATIONS = {0: _migrate_0_to_1, 1: _migrate_1_to_2}


class _Reader:
    """Type-checked access to untrusted JSON with a breadcrumb for messages."""

    def __init__(self, where: str = ""):
        self.where = where

    def fail(self, what: str, at: str = "") -> LoomError:
        place = ".".join(p for p in (self.where, at) if p) or "the file"
        return LoomError(f"{place}: {what}")

    def get(self, d: dict, key: str, kind, default=...):
        if key not in d:
            if default is ...:
                raise self.fail(f"missing required field {key!r}")
            return default
        value = d[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(f"expected {_json_type(names)}, found {_describe(value)}", key)
        return value

    def at(self, part: str) -> _Reader:
        return _Reader(f"{self.where}.{part}" if self.where else part)


def _json_type(python_names: str) -> str:
    return (python_names.replace("dict", "an object").replace("list", "a list")
            .replace("str", "a text").replace("float", "a number").replace("int", "a whole number")
            .replace("bool", "true/false"))


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return "a list" if isinstance(value, list) else "an object"


def _check_json_value(value: Any, r: _Reader, depth: int = 0) -> Any:
    """Params are free-form JSON: refuse non-finite numbers and absurd nesting."""
    if depth > 8:
        raise r.fail("values are nested too deeply")
    if isinstance(value, float) and not math.isfinite(value):
        raise r.fail(f"{value} is not a finite number")
    if isinstance(value, list):
        if len(value) > 4096:
            raise r.fail("a list with more than 4096 entries")
        return [_check_json_value(v, r, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _check_json_value(v, r, depth + 1) for k, v in value.items()}
    return value


def _read_network(d: Any, r: _Reader, depth: int = 0) -> Network:
    if not isinstance(d, dict):
        raise r.fail(f"expected a network object, found {_describe(d)}")
    if depth > MAX_DEPTH:
        raise r.fail(f"groups are nested more than {MAX_DEPTH} levels deep")
    name = r.get(d, "name", str)
    if not valid_name(name):
        raise r.fail(f"network name {name!r} must be letters, digits and _ (not starting with a "
                     "digit)", "name")
    net = Network(name)
    for i, nd in enumerate(r.get(d, "nodes", list)):
        nr = r.at(f"nodes[{i}]")
        if not isinstance(nd, dict):
            raise nr.fail(f"expected a node object, found {_describe(nd)}")
        node_id = nr.get(nd, "id", str)
        nr = r.at(f"nodes[{i}] ({node_id})")
        if not valid_name(node_id):
            raise nr.fail(f"node id {node_id!r} must be letters, digits and _ (not starting with "
                          "a digit)")
        if node_id in net.nodes:
            raise nr.fail(f"duplicate node id {node_id!r}")
        block = nr.get(nd, "block", str)
        if block != GROUP and block not in blocks.REGISTRY:
            close = difflib.get_close_matches(block, list(blocks.REGISTRY), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise nr.fail(f"unknown block type {block!r}{hint}")
        params = _check_json_value(nr.get(nd, "params", dict, {}), nr.at("params"))
        pos = nr.get(nd, "pos", list, [0, 0])
        if len(pos) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                    and math.isfinite(v) and abs(v) < 1e9 for v in pos):
            raise nr.fail("pos must be two finite numbers [x, y]", "pos")
        init = nr.get(nd, "init", str, "default")
        if init not in INITS:
            raise nr.fail(f"init must be one of {', '.join(INITS)}; found {init!r}", "init")
        subnet = None
        if "subnet" in nd or block == GROUP:
            if block != GROUP:
                raise nr.fail("only a Group node may hold a subnet")
            subnet = _read_network(nr.get(nd, "subnet", dict), nr.at("subnet"), depth + 1)
        net.nodes[node_id] = Node(node_id, block, params, (float(pos[0]), float(pos[1])),
                                  nr.get(nd, "trainable", bool, True), init, subnet)
    for i, ed in enumerate(r.get(d, "edges", list, [])):
        er = r.at(f"edges[{i}]")
        if not isinstance(ed, dict):
            raise er.fail(f"expected an edge object {{\"from\": ..., \"to\": ...}}, found "
                          f"{_describe(ed)}")
        ends = []
        for key in ("from", "to"):
            ref = er.get(ed, key, str)
            node_id, dot, port = ref.rpartition(".")
            if not dot or not node_id or not port:
                raise er.fail(f"must look like 'node.port'; found {ref!r}", key)
            if node_id not in net.nodes:
                raise er.fail(f"refers to a node {node_id!r} that does not exist", key)
            ports = node_ports(net.nodes[node_id])[1 if key == "from" else 0]
            if ports and port not in {p.name for p in ports}:
                names = ", ".join(p.name for p in ports)
                raise er.fail(f"{node_id!r} has no {'output' if key == 'from' else 'input'} port "
                              f"{port!r} (it has: {names})", key)
            ends += [node_id, port]
        edge = Edge(*ends)
        if edge in net.edges:
            raise er.fail(f"duplicate edge {edge}")
        net.edges.append(edge)
    return net


_FIELD_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "dict[str, Any]": dict,
                "dict[str, str]": dict}


def _read_config(cls, d: Any, r: _Reader):
    if not isinstance(d, dict):
        raise r.fail(f"expected an object, found {_describe(d)}")
    known = {f.name: f for f in fields(cls)}
    unknown = set(d) - set(known)
    if unknown:
        raise r.fail(f"unknown field(s) {', '.join(sorted(unknown))}; known: "
                     f"{', '.join(known)}")
    out = {}
    for name in d:
        kind = _FIELD_TYPES.get(str(known[name].type), object)
        out[name] = _check_json_value(r.get(d, name, kind), r.at(name))
    return cls(**out)


def from_dict(doc: Any) -> Project:
    r = _Reader()
    if not isinstance(doc, dict):
        raise r.fail(f"expected a Layerloom project object, found {_describe(doc)}")
    if doc.get("format", FORMAT) != FORMAT:
        raise r.fail(f"this is not a Layerloom project (format {doc.get('format')!r})")
    version = r.get(doc, "version", int)
    if version > VERSION:
        raise r.fail(f"the file is version {version}, newer than this Layerloom understands "
                     f"({VERSION}); update Layerloom to open it")
    while version < VERSION:
        if version not in MIGRATIONS:
            raise r.fail(f"no migration from version {version}")
        doc = MIGRATIONS[version](doc)
        version = doc["version"]
    project = Project(description=r.get(doc, "description", str, ""))
    for i, nd in enumerate(r.get(doc, "networks", list)):
        net = _read_network(nd, r.at(f"networks[{i}]"))
        if net.name in project.networks:
            raise r.fail(f"duplicate network name {net.name!r}", f"networks[{i}]")
        project.networks[net.name] = net
    project.dataset = _read_config(DatasetConfig, doc.get("dataset", {}), r.at("dataset"))
    recipe = _read_config(RecipeConfig, doc.get("recipe", {}), r.at("recipe"))
    for role, target in recipe.roles.items():
        if not isinstance(target, str) or target not in project.networks:
            raise r.fail(f"role {role!r} is bound to {target!r}, which is not a network of "
                         "this project", "recipe.roles")
    project.recipe = recipe
    streams = r.get(doc, "streams", dict, {})
    for name, sd in streams.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise r.fail(f"a stream name must be a plain word; received {name!r}", "streams")
        project.streams[name] = _read_config(DatasetConfig, sd, r.at(f"streams.{name}"))
    training = dict(doc.get("training", {})) if isinstance(doc.get("training", {}), dict) else \
        doc.get("training")
    tr = r.at("training")
    optimizers = {}
    if isinstance(training, dict):
        for name, od in (training.pop("optimizers", None) or {}).items():
            optimizers[name] = _read_config(OptimizerConfig, od, tr.at(f"optimizers.{name}"))
    settings = _read_config(TrainingSettings, training, tr)
    settings.optimizers = optimizers
    for network in settings.init:
        if network not in project.networks:
            raise tr.fail(f"init names network {network!r}, which this project does not have",
                          "init")
    problems = check_training(settings)
    if problems:  # the first is enough to act on; the editor's form shows every range
        where, message = problems[0]
        raise tr.fail(message, where)
    project.training = settings
    return project


def loads(text: str) -> Project:
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise LoomError(f"not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise LoomError("the file is nested too deeply to be a Layerloom project") from None
    except ValueError as e:
        raise LoomError(str(e)) from None
    return from_dict(doc)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not allowed in a project file (numbers must be finite)")


def load(path: str | os.PathLike) -> Project:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise LoomError(f"{path}: {size:,} bytes is too large for a project file")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LoomError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise LoomError(f"{path}: is a folder, not a project file") from None
    except PermissionError:
        raise LoomError(f"{path}: permission denied") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LoomError(f"{path}: not a text file (invalid UTF-8 at byte {e.start})") from None
    try:
        return loads(text)
    except LoomError as e:
        raise LoomError(f"{path}: {e}") from None
