"""Messages that name a block link to it: the block ids a text mentions become links
(``node:<network>/<id>``) that the window follows to show the block."""

from __future__ import annotations

import html
import re

from builder.document import Project

__all__ = ["node_names", "linked", "link_target"]


def node_names(project: Project) -> dict[str, str]:
    """Block id → its network, for the ids long enough not to be ordinary words ("x")."""
    return {n: name for name, net in project.networks.items() for n in net.nodes if len(n) >= 3}


def linked(text: str, names: dict[str, str]) -> str:
    """``text`` as HTML with every block id it names a link to that block."""
    out = html.escape(text)
    if not names:
        return out
    pattern = re.compile(r"(?<![\w/.])(" + "|".join(
        re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")(?!\w)")
    return pattern.sub(lambda m: f"<a href='node:{names[m.group(1)]}/{m.group(1)}'>"
                                 f"{m.group(1)}</a>", out)


def link_target(link: str) -> tuple[str, str] | None:
    """(network, block id) of a ``node:`` link; None for any other link."""
    if not link.startswith("node:"):
        return None
    network, _, node = link[5:].rpartition("/")
    return network, node
