"""The ``.loom`` file: JSON with a version, strict reading, migrations, atomic saving.

Reading never trusts the file (``builder/reader.py``): every field is type-checked, unknown and
duplicate keys are refused, and every error names where it is (``networks[0].nodes[3]
(conv1).params``); then the document is checked against the JSON Schema generated from the
specs (``builder/schema.py``), the one editors validate ``.loom`` files with.  Saving writes a
temp file, fsyncs, keeps the previous file as ``NAME.loom.bak`` and renames into place, so a
crash mid-save loses nothing.  No pickle.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from builder import blocks
from builder.augment_spec import op_problems
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
from builder.jsontext import describe, nearest, show
from builder.ports import GROUP, node_ports
from builder.reader import LoomError, Reader, check_json_value, label, parse
from builder.schema import check_schema
from builder.sweep_plan import check_setting_key, read_sweep
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
        if n.bypass:
            d["bypass"] = True
        if n.lr_scale != 1.0:
            d["lr_scale"] = n.lr_scale
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
        "dataset": _dataset_dict(project.dataset),
        "recipe": asdict(project.recipe),
        "training": training,
        "streams": {name: _dataset_dict(cfg) for name, cfg in project.streams.items()},
        # Only when there are some: a project without variants reads as it always did.
        **({"variants": project.variants} if project.variants else {}),
        **({"sweep": project.sweep} if project.sweep else {}),  # the prepared sweep, likewise
    }


def _dataset_dict(cfg: DatasetConfig) -> dict:
    """A dataset config; its augmentation list only when it has one (older readers)."""
    d = asdict(cfg)
    if not d["augment"]:
        del d["augment"]
    return d


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
        if path.exists():  # a copy, so that ``path`` itself exists at every moment
            _backup(path)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def _backup(path: Path) -> None:
    backup = path.with_name(path.name + ".bak")
    fd, tmp = tempfile.mkstemp(prefix=f".{backup.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        shutil.copyfile(path, tmp)
        os.replace(tmp, backup)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    for net in doc.get("networks") if isinstance(doc.get("networks"), list) else []:
        if isinstance(net, dict) and isinstance(net.get("edges"), list):
            net["edges"] = [
                {"from": f"{e[0]}.{e[1]}", "to": f"{e[2]}.{e[3]}"}
                if isinstance(e, list) and len(e) == 4 and all(isinstance(x, str) for x in e)
                else e
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


_TOP_KEYS = ("format", "version", "description", "networks", "dataset", "recipe", "training",
             "streams", "variants", "sweep")
_NETWORK_KEYS = ("name", "nodes", "edges")
_NODE_KEYS = ("id", "block", "params", "pos", "trainable", "init", "subnet", "bypass",
              "lr_scale")
_EDGE_KEYS = ("from", "to")


def _read_network(d: Any, r: Reader, depth: int = 0) -> Network:
    if not isinstance(d, dict):
        raise r.fail(f"expected a network object, found {describe(d)}")
    if depth > MAX_DEPTH:
        raise r.fail(f"groups are nested more than {MAX_DEPTH} levels deep")
    r.keys(d, _NETWORK_KEYS)
    name = r.get(d, "name", str)
    if not valid_name(name):
        raise r.fail(f"network name {show(name)} must be letters, digits and _ (not starting "
                     "with a digit)", "name")
    net = Network(name)
    for i, nd in enumerate(r.get(d, "nodes", list)):
        node = _read_node(nd, r, i, net, depth)
        net.nodes[node.id] = node
    for i, ed in enumerate(r.get(d, "edges", list, [])):
        er = r.at(f"edges[{i}]")
        if not isinstance(ed, dict):
            raise er.fail(f"expected an edge object {{\"from\": ..., \"to\": ...}}, found "
                          f"{describe(ed)}")
        er.keys(ed, _EDGE_KEYS)
        ends = []
        for key in ("from", "to"):
            ref = er.get(ed, key, str)
            node_id, dot, port = ref.rpartition(".")
            if not dot or not node_id or not port:
                raise er.fail(f"must look like 'node.port'; found {show(ref)}", key)
            if node_id not in net.nodes:
                raise er.fail(f"refers to a node {show(node_id)} that does not exist", key)
            ports = node_ports(net.nodes[node_id])[1 if key == "from" else 0]
            if ports and port not in {p.name for p in ports}:
                names = ", ".join(p.name for p in ports)
                raise er.fail(f"{show(node_id)} has no {'output' if key == 'from' else 'input'} "
                              f"port {show(port)} (it has: {names})", key)
            ends += [node_id, port]
        edge = Edge(*ends)
        if edge in net.edges:
            raise er.fail(f"duplicate edge {edge}")
        net.edges.append(edge)
    return net


def _read_node(nd: Any, r: Reader, i: int, net: Network, depth: int) -> Node:
    nr = r.at(f"nodes[{i}]")
    if not isinstance(nd, dict):
        raise nr.fail(f"expected a node object, found {describe(nd)}")
    if isinstance(nd.get("id"), str):  # the id names the node in every message about it
        nr = r.at(f"nodes[{i}] ({label(nd['id'])})")
    nr.keys(nd, _NODE_KEYS)
    node_id = nr.get(nd, "id", str)
    if not valid_name(node_id):
        raise nr.fail(f"node id {show(node_id)} must be letters, digits and _ (not starting "
                      "with a digit)")
    if node_id in net.nodes:
        raise nr.fail(f"duplicate node id {show(node_id)}")
    block = nr.get(nd, "block", str)
    if block != GROUP and block not in blocks.REGISTRY:
        close = nearest(block, blocks.REGISTRY)
        hint = f" (did you mean {close!r}?)" if close else ""
        raise nr.fail(f"unknown block type {show(block)}{hint}")
    params = check_json_value(nr.get(nd, "params", dict, {}), nr.at("params"))
    pos = nr.get(nd, "pos", list, [0, 0])
    if len(pos) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                and math.isfinite(v) and abs(v) < 1e9 for v in pos):
        raise nr.fail("pos must be two finite numbers [x, y]", "pos")
    init = nr.get(nd, "init", str, "default")
    if init not in INITS:
        raise nr.fail(f"init must be one of {', '.join(INITS)}; found {show(init)}", "init")
    lr_scale = nr.get(nd, "lr_scale", float, 1.0)
    if not (math.isfinite(lr_scale) and 0 < lr_scale <= 1000):
        raise nr.fail(f"lr_scale must be a number above 0 and at most 1000; found "
                      f"{show(lr_scale)}", "lr_scale")
    subnet = None
    if "subnet" in nd or block == GROUP:
        if block != GROUP:
            raise nr.fail("only a Group node may hold a subnet")
        subnet = _read_network(nr.get(nd, "subnet", dict), nr.at("subnet"), depth + 1)
    return Node(node_id, block, params, (float(pos[0]), float(pos[1])),
                nr.get(nd, "trainable", bool, True), init, subnet,
                nr.get(nd, "bypass", bool, False), lr_scale)


_FIELD_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "dict[str, Any]": dict,
                "dict[str, str]": dict}


def _read_config(cls, d: Any, r: Reader):
    if not isinstance(d, dict):
        raise r.fail(f"expected an object, found {describe(d)}")
    known = {f.name: f for f in fields(cls)}
    r.keys(d, known)
    out = {}
    for name in d:
        kind = _FIELD_TYPES.get(str(known[name].type), object)
        out[name] = check_json_value(r.get(d, name, kind), r.at(name))
    return cls(**out)


def _read_dataset(d: Any, r: Reader) -> DatasetConfig:
    cfg = _read_config(DatasetConfig, d, r)
    problems = op_problems(cfg.augment)
    if problems:  # the first is enough to act on; the dataset form shows every param's range
        where, message = problems[0]
        raise r.fail(message, "augment" + where)
    return cfg


def from_dict(doc: Any) -> Project:
    r = Reader()
    if not isinstance(doc, dict):
        raise r.fail(f"expected a Layerloom project object, found {describe(doc)}")
    if doc.get("format", FORMAT) != FORMAT:
        raise r.fail(f"this is not a Layerloom project (format {show(doc.get('format'))})")
    version = r.get(doc, "version", int)
    if version > VERSION:
        raise r.fail(f"the file is version {show(version)}, newer than this Layerloom "
                     f"understands ({VERSION}); update Layerloom to open it")
    while version < VERSION:  # before the keys are checked: a migration may rename some
        if version not in MIGRATIONS:
            raise r.fail(f"no migration from version {show(version)}")
        doc = MIGRATIONS[version](doc)
        version = doc["version"]
    r.keys(doc, _TOP_KEYS)
    project = Project(description=r.get(doc, "description", str, ""))
    for i, nd in enumerate(r.get(doc, "networks", list)):
        net = _read_network(nd, r.at(f"networks[{i}]"))
        if net.name in project.networks:
            raise r.fail(f"duplicate network name {show(net.name)}", f"networks[{i}]")
        project.networks[net.name] = net
    project.dataset = _read_dataset(doc.get("dataset", {}), r.at("dataset"))
    recipe = _read_config(RecipeConfig, doc.get("recipe", {}), r.at("recipe"))
    for role, target in recipe.roles.items():
        if not isinstance(target, str) or target not in project.networks:
            raise r.fail(f"role {show(role)} is bound to {show(target)}, which is not a network "
                         "of this project", "recipe.roles")
    project.recipe = recipe
    for name, sd in r.get(doc, "streams", dict, {}).items():
        if not isinstance(name, str) or not name.isidentifier():
            raise r.fail(f"a stream name must be a plain word; received {show(name)}", "streams")
        project.streams[name] = _read_dataset(sd, r.at(f"streams.{label(name)}"))
    project.training = _read_training(doc.get("training", {}), r.at("training"), project)
    project.variants = _read_variants(r.get(doc, "variants", dict, {}), r.at("variants"),
                                      project)
    project.sweep = read_sweep(r.get(doc, "sweep", dict, {}), r.at("sweep"), project)
    check_schema(doc)  # the JSON Schema (builder/schema.py), after the messages above
    return project


def _read_training(d: Any, tr: Reader, project: Project) -> TrainingSettings:
    if not isinstance(d, dict):
        raise tr.fail(f"expected an object, found {describe(d)}")
    tr.keys(d, [f.name for f in fields(TrainingSettings)])
    training = dict(d)
    optimizers = {name: _read_config(OptimizerConfig, od, tr.at(f"optimizers.{label(name)}"))
                  for name, od in tr.get(training, "optimizers", dict, {}).items()}
    training.pop("optimizers", None)
    settings = _read_config(TrainingSettings, training, tr)
    settings.optimizers = optimizers
    for network in settings.init:
        if network not in project.networks:
            raise tr.fail(f"init names network {show(network)}, which this project does not "
                          "have", "init")
    problems = check_training(settings)
    if problems:  # the first is enough to act on; the editor's form shows every range
        where, message = problems[0]
        raise tr.fail(message, where)
    return settings


def _read_variants(d: dict, r: Reader, project: Project) -> dict[str, dict[str, Any]]:
    """Variant name → {KEY: value}, KEY as ``layerloom sweep --set`` takes it.  Here: the
    keys' form and the networks, nodes and block types they name; the values are checked
    against the project by ``runtime.variants`` (as a sweep checks its points)."""
    variants = {}
    for name, changes in d.items():
        vr = r.at(label(name))
        if not name.strip() or len(name) > 64 or not name.isprintable():
            raise r.fail(f"a variant name must be 1 to 64 printable characters; found "
                         f"{show(name)}")
        if not isinstance(changes, dict):  # {} is the base itself, run beside the others
            raise vr.fail(f"expected an object of settings {{\"training.lr\": 0.1}}, found "
                          f"{describe(changes)}")
        for key, value in changes.items():
            check_setting_key(key, value, vr, project)
            check_json_value(value, vr.at(label(key)))
        variants[name] = dict(changes)
    return variants


def loads(text: str) -> Project:
    return from_dict(parse(text))


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
