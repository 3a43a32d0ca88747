"""The gallery: template projects shipped in ``resources/templates`` (one ``.loom`` each)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from builder.reader import LoomError
from resources import TEMPLATES

__all__ = ["Template", "templates", "summaries", "template_path", "copy_template", "DEFAULT"]

DEFAULT = "mlp"


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    summary: str
    path: Path
    recipe: str = ""
    dataset: str = ""
    # A sketch of the first network for a thumbnail: (x, y, block category) per node and
    # the wires as pairs of indices into it.
    nodes: tuple[tuple[float, float, str], ...] = ()
    wires: tuple[tuple[int, int], ...] = ()


def _sketch(project) -> tuple[tuple, tuple]:
    net = next(iter(project.networks.values()), None)
    if net is None:
        return (), ()
    ids = list(net.nodes)
    index = {n: i for i, n in enumerate(ids)}
    from builder.blocks import REGISTRY

    cats = {t: s.category for t, s in REGISTRY.items()}
    nodes = tuple((*net.nodes[n].pos, cats.get(net.nodes[n].block, "")) for n in ids)
    wires = tuple((index[e.src], index[e.dst]) for e in net.edges
                  if e.src in index and e.dst in index)
    return nodes, wires


def templates() -> list[Template]:
    """Every template, in the order of its file name; the title and one-line summary come from
    the first two lines of the project's description."""
    from builder.serialize import load  # the block catalogue, and so torch

    out = []
    for path in sorted(TEMPLATES.glob("*.loom")):
        project = load(path)
        title, summary = _title(project.description, path)
        nodes, wires = _sketch(project)
        out.append(Template(path.stem, title, summary, path,
                            project.recipe.name, project.dataset.name, nodes, wires))
    return out


def summaries() -> list[Template]:
    """Name, title and summary of every template, read from the JSON alone: what
    ``layerloom gallery list`` prints, without the block catalogue (and torch) that a full
    ``templates()`` needs to check each project."""
    out = []
    for path in sorted(TEMPLATES.glob("*.loom")):
        try:
            description = json.loads(path.read_text(encoding="utf-8")).get("description")
        except (ValueError, AttributeError) as e:
            raise LoomError(f"{path}: not a .loom project ({e})") from None
        out.append(Template(path.stem, *_title(description, path), path))
    return out


def _title(description, path: Path) -> tuple[str, str]:
    lines = (description if isinstance(description, str) and description
             else path.stem).splitlines() + ["", ""]
    return lines[0].strip(), lines[1].strip()


def template_path(name: str) -> Path:
    path = TEMPLATES / f"{name}.loom"
    if not path.is_file():
        known = ", ".join(t.stem for t in sorted(TEMPLATES.glob("*.loom")))
        raise LoomError(f"no template named {name!r}; available: {known}")
    return path


def copy_template(name: str, dest: str | Path, overwrite: bool = False) -> Path:
    """Copy a template to ``dest``; never overwrites an existing file unless asked."""
    src = template_path(name)
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / src.name
    if dest.exists() and not overwrite:
        raise FileExistsError(f"{dest} already exists; choose another name")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return dest
