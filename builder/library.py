"""The user's block library: groups saved as small one-network ``.loom`` files in a folder,
so a block made in one project can be reused in any other (no Qt here).

The folder is ``$LAYERLOOM_LIBRARY`` or ``~/.local/share/layerloom/library``; an entry's name
is its file name without ``.loom``.  Nothing is ever replaced or lost by accident:

- Saving never replaces an existing entry unless asked to: the caller offers a free name.
- Renaming refuses a name another entry has (ignoring case, so the library means the same on
  every file system).  It first rewrites the network name stored inside the file (an atomic
  ``serialize.save``), then renames the file in one atomic step.
- Deleting moves the file to the trash, ``<library>/.trash/<when>-<unique>/<name>.loom``: one
  folder per deletion, so deleting a later entry of the same name never collides.
  ``trashed()`` lists it (newest first) and ``restore_entry`` puts it back, under its old name
  or, if that has been taken since, under a free one.  The trash is never emptied by Layerloom;
  the user may empty that folder by hand.

Every refusal is a ``LibraryError`` whose message names the entry and says why.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from builder import serialize
from builder.commands import RenameNetwork
from builder.document import Network, Node, Project, RecipeConfig, unique_name, valid_name
from builder.ports import GROUP

__all__ = ["LibraryError", "Trashed", "library_dir", "trash_dir", "entries", "entry_path",
           "taken", "free_name", "name_problem", "rename_problem", "entry_problem", "save_entry",
           "load_entry", "group_node", "rename_entry", "delete_entry", "trashed",
           "restore_entry"]

SUFFIX = ".loom"
TRASH = ".trash"


class LibraryError(ValueError):
    """A library change was refused or failed; the message names the entry and says why."""


@dataclass(frozen=True)
class Trashed:
    """A deleted entry waiting in the trash."""

    name: str  # the name it had
    path: Path
    deleted: float  # when, seconds since the epoch


def library_dir() -> Path:
    env = os.environ.get("LAYERLOOM_LIBRARY")
    return Path(env) if env else Path.home() / ".local" / "share" / "layerloom" / "library"


def trash_dir() -> Path:
    return library_dir() / TRASH


def entries() -> dict[str, Path]:
    """Entry name → file, sorted by name; a missing folder is an empty library."""
    folder = library_dir()
    if not folder.is_dir():
        return {}
    found = (p for p in folder.glob(f"*{SUFFIX}") if not p.name.startswith("."))
    return {p.stem: p for p in sorted(found, key=lambda p: p.stem.lower())}


def entry_path(name: str) -> Path:
    return library_dir() / f"{name}{SUFFIX}"


def taken(name: str, but: str | None = None) -> str | None:
    """The entry that already has ``name`` (ignoring case, so the library means the same on
    every file system), other than ``but``."""
    for other in entries():
        if other != but and other.lower() == name.lower():
            return other
    return None


def free_name(name: str) -> str:
    """``name`` if no entry has it yet (ignoring case), else ``name1``, ``name2``…"""
    if taken(name) is None:
        return name
    sep = "_" if name[-1:].isdigit() else ""
    i = 1
    while taken(f"{name}{sep}{i}") is not None:
        i += 1
    return f"{name}{sep}{i}"


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an entry (it becomes a Python name in generated code)."""
    if not name:
        return "a name cannot be empty"
    if len(name) > 64:
        return f"a name has at most 64 characters, this one has {len(name)}"
    if not re.fullmatch(r"[A-Za-z_]\w*", name, re.ASCII):
        return "a name uses only letters, digits and _, and does not start with a digit"
    if not valid_name(name):
        return f"“{name}” is reserved in Python code"
    return None


def rename_problem(old: str, new: str) -> str | None:
    """Why ``old`` cannot be renamed ``new``, in a sentence naming both; None when it can."""
    if old not in entries():
        return f"Cannot rename “{old}”: your library has no block of that name any more."
    problem = name_problem(new)
    if problem:
        return f"Cannot rename “{old}” to “{new}”: {problem}."
    other = taken(new, but=old)
    if other is not None:
        return f"Cannot rename “{old}” to “{new}”: your library already has “{other}”."
    return None


def entry_problem(path: str | os.PathLike) -> str | None:
    """Why the entry file at ``path`` cannot be used (unreadable, corrupt…); None when fine.
    Remembered per file version, so the palette's every refresh reads only what changed."""
    try:
        st = os.stat(path)
    except OSError as e:
        return e.strerror or str(e)
    return _problem_of(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=1024)
def _problem_of(path: str, _mtime_ns: int, _size: int) -> str | None:
    try:
        load_entry(path)
    except serialize.LoomError as e:
        return str(e).removeprefix(f"{path}: ")  # the palette already says which entry
    except OSError as e:
        return e.strerror or str(e)
    return None


def save_entry(net: Network, name: str, overwrite: bool = False) -> Path:
    """Write ``net`` as the library entry ``name``; FileExistsError rather than replace one
    (with ``overwrite``, the one replaced goes to the trash)."""
    if not valid_name(name):
        raise ValueError(f"{name!r} is not a valid name (letters, digits and _)")
    other = taken(name)
    if other is not None and not overwrite:
        raise FileExistsError(f"the library already has a block named {other!r}")
    if other is not None:
        delete_entry(other)  # replaced, yet still restorable from the trash
    path = entry_path(name)
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


def _move(src: Path, name: str) -> Path:
    """Move the entry file ``src`` to the entry ``name`` (checked free by the caller)."""
    try:
        project = serialize.load(src)
    except serialize.LoomError:
        project = None  # a broken entry keeps its bytes: only its file name changes
    if project is not None and project.networks:
        stored = next(iter(project.networks))
        # RenameNetwork only takes valid names; a hand-named file ("my block") keeps its own
        if stored != name and valid_name(name) and name not in project.networks:
            RenameNetwork(stored, name).apply(project)  # also rebinds the recipe's role
            serialize.save(project, src)
            src.with_name(src.name + ".bak").unlink(missing_ok=True)
    dst = entry_path(name)
    os.replace(src, dst)  # one atomic step; also a case-only rename on case-blind disks
    serialize.fsync_dir(dst.parent)
    return dst


def rename_entry(old: str, new: str) -> Path:
    """Rename the entry ``old`` to ``new`` and return its new file; LibraryError if refused."""
    problem = rename_problem(old, new)
    if problem:
        raise LibraryError(problem)
    src = entries()[old]
    if new == old:
        return src
    try:
        return _move(src, new)
    except OSError as e:
        raise LibraryError(f"Cannot rename “{old}” to “{new}”: {e.strerror or e}.") from e


def delete_entry(name: str) -> Trashed:
    """Move the entry ``name`` to the trash (see ``restore_entry``)."""
    src = entries().get(name)
    if src is None:
        raise LibraryError(f"Cannot delete “{name}”: your library has no block of that name.")
    try:
        trash_dir().mkdir(parents=True, exist_ok=True)
        # a fresh folder per deletion: same-named entries never meet in the trash
        folder = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=trash_dir()))
        dst = folder / src.name
        try:
            os.replace(src, dst)
        except OSError:
            folder.rmdir()
            raise
    except OSError as e:
        raise LibraryError(f"Cannot delete “{name}”: {e.strerror or e}.") from e
    serialize.fsync_dir(src.parent)
    return Trashed(name, dst, folder.stat().st_mtime)


def trashed() -> list[Trashed]:
    """The deleted entries that can be restored, newest first."""
    folder = trash_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(f"*/*{SUFFIX}"):
        try:
            found.append(Trashed(path.stem, path, path.parent.stat().st_mtime))
        except OSError:
            continue  # removed meanwhile
    return sorted(found, key=lambda t: (t.deleted, t.path.parent.name), reverse=True)


def restore_entry(item: Trashed | str | os.PathLike) -> str:
    """Put a deleted entry back and return its name: the old one, or a free one if taken."""
    path = Path(item.path if isinstance(item, Trashed) else item)
    if path.parent.parent.resolve() != trash_dir().resolve():
        raise LibraryError(f"Cannot restore “{path.stem}”: {path} is not in the library's trash.")
    if not path.exists():
        raise LibraryError(f"Cannot restore “{path.stem}”: it is no longer in the trash.")
    name = free_name(path.stem)
    try:
        _move(path, name)
    except OSError as e:
        raise LibraryError(f"Cannot restore “{path.stem}”: {e.strerror or e}.") from e
    with contextlib.suppress(OSError):
        path.parent.rmdir()  # its deletion's folder, now empty
    return name
