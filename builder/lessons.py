"""Lessons: a short text beside each gallery template, in ``resources/lessons/<template>.md``.

A lesson has four parts, each under a ``## `` heading, in this order: what to look at, what to
change, what should happen, and the formula with the template's own numbers. A line
``Parameters: 1,251`` (or ``Parameters (generator): 5,378`` for one network of several) states
a parameter count; the tests hold every such line equal to ``builder.analysis``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from resources import ROOT

__all__ = ["LESSONS", "PARTS", "Lesson", "LessonError", "lesson", "lesson_names", "parse",
           "template_of"]

LESSONS = ROOT / "lessons"
PARTS = ("Look at", "Change", "What should happen", "The formula")
_HEADING = re.compile(r"^## +(.+?)\s*$", re.MULTILINE)
_PARAMS = re.compile(r"^Parameters(?: \((?P<net>[\w-]+)\))?: (?P<n>\d{1,3}(?:,\d{3})*)\s*$",
                     re.MULTILINE)


class LessonError(ValueError):
    pass


@dataclass(frozen=True)
class Lesson:
    name: str  # the template's name
    parts: tuple[tuple[str, str], ...]  # (heading, markdown body) in PARTS order
    # Stated parameter counts: (network or None for the first one, count).
    params: tuple[tuple[str | None, int], ...] = ()

    def part(self, heading: str) -> str:
        return dict(self.parts)[heading]

    def markdown(self) -> str:
        """For display: each stated count a paragraph of its own, the number in bold."""
        def count(m: re.Match) -> str:
            return "\n" + m.group(0).replace(m.group("n"), f"**{m.group('n')}**").rstrip() + "\n"
        return "\n\n".join(f"### {head}\n\n{_PARAMS.sub(count, body)}"
                             for head, body in self.parts)

    def text(self) -> str:
        """Everything it says, for a search."""
        return "\n".join(body for _, body in self.parts)


def parse(name: str, text: str) -> Lesson:
    """The four parts of a lesson's markdown; a missing, extra or misplaced part is an error
    that names the file and the part."""
    heads = list(_HEADING.finditer(text))
    found = tuple(m.group(1) for m in heads)
    if found != PARTS:
        raise LessonError(f"lesson {name!r}: expected the parts {', '.join(PARTS)} in this "
                          f"order under '## ' headings; found {', '.join(found) or 'none'}")
    parts = []
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        body = text[m.end():end].strip()
        if not body:
            raise LessonError(f"lesson {name!r}: the part {m.group(1)!r} is empty")
        parts.append((m.group(1), body))
    claims = tuple((m.group("net"), int(m.group("n").replace(",", "")))
                   for m in _PARAMS.finditer(text))
    return Lesson(name, tuple(parts), claims)


def lesson_names() -> list[str]:
    return sorted(p.stem for p in LESSONS.glob("*.md"))


@cache
def _read(path: Path, mtime: float) -> Lesson:
    return parse(path.stem, path.read_text(encoding="utf-8"))


def lesson(name: str) -> Lesson | None:
    """The lesson of the template ``name``, or None where it has none."""
    path = LESSONS / f"{name}.md"
    if not path.is_file():
        return None
    return _read(path, path.stat().st_mtime)


@cache
def _titles() -> dict[str, str]:
    from builder.gallery import summaries  # the JSON only: no torch

    return {t.title: t.name for t in summaries()}


def template_of(description: str | None) -> str | None:
    """The template a project was made from, known by the title (the description's first
    line) that a copy keeps; None for a project of the user's own."""
    title = (description or "").strip().splitlines()[0:1]
    return _titles().get(title[0].strip()) if title else None
