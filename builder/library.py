"""The user's block library: groups saved as small one-network ``.loom`` files in a folder,
so a block made in one project can be reused in any other (no Qt here).

The folder is ``$LAYERLOOM_LIBRARY`` or ``~/.local/share/layerloom/library``.  Saving never
replaces an existing entry unless asked to: the caller offers a free name instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from builder import serialize
from builder.document import Network, Node, Project, RecipeConfig, unique_name, valid_name
from builder.ports import GROUP

__all__ = ["library_dir", "entries", "entry_path", "free_name", "save_entry", "load_entry",
           "group_node"]

SUFFIX = ".loom"


def library_dir() -> Path:
    env = os.environ.get("LAYERLOOM_LIBRARY")
    return Path(env) if env else Path.home() / ".local" / "share" / "layerloom" / "library"


def entries() -> dict[str, Path]:
    """Entry name → file, sorted by name; a missing folder is an empty library."""
    folder = library_dir()
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob(f"*{SUFFIX}"), key=lambda p: p.stem.lower())}


def entry_path(name: str) -> Path:
    return library_dir() / f"{name}{SUFFIX}"


def free_name(name: str) -> str:
    """``name`` if no entry has it yet, else ``name_2``, ``name_3``…"""
    return unique_name(name, set(entries())) if name in entries() else name


def save_entry(net: Network, name: str, overwrite: bool = False) -> Path:
    """Write ``net`` as the library entry ``name``; FileExistsError rather than replace one."""
    if not valid_name(name):
        raise ValueError(f"{name!r} is not a valid name (letters, digits and _)")
    path = entry_path(name)
    if path.exists() and not overwrite:
        raise FileExistsError(f"the library already has a block named {name!r}")
    copy = net.copy()
    copy.name = name
    # the recipe's model role names this network, so the file also opens as a project
    project = Project({name: copy}, recipe=RecipeConfig(roles={"model": name}))
    serialize.save(project, path)
    path.with_name(path.name + ".bak").unlink(missing_ok=True)  # an asked-for overwrite
    return path


def load_entry(path: str | os.PathLike) -> Network:
    """The sub-network an entry holds (its first network)."""
    project = serialize.load(path)
    if not project.networks:
        raise serialize.LoomError(f"{path}: the file holds no network")
    return next(iter(project.networks.values()))


def group_node(net: Network, path: str | os.PathLike, pos=(0.0, 0.0)) -> Node:
    """A new Group node for ``net`` holding a copy of the entry at ``path``."""
    sub = load_entry(path)
    node_id = unique_name(Path(path).stem, set(net.nodes))
    sub.name = node_id
    return Node(node_id, GROUP, {}, (float(pos[0]), float(pos[1])), subnet=sub)
