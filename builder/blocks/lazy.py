"""A module imported on first use: the block catalogue loads without torch.

Listing, validating or documenting blocks needs only their specs; torch (~1.5 s to import) is
needed once a block is built.  So a spec file names torch and its own module classes through
stand-ins, ``nn = lazy("torch.nn")``, whose first attribute read (``nn.Conv2d``, inside a
build function) imports the real module and returns the real attribute.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["lazy"]


class _Lazy:
    __slots__ = ("_name",)

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):  # copy, pickle and inspect probe dunders: never import
            raise AttributeError(attr)
        return getattr(importlib.import_module(self._name), attr)  # sys.modules after once

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy(name: str) -> Any:
    """A stand-in for module ``name`` that imports it at the first attribute read."""
    return _Lazy(name)
