"""The block catalogue: every block module in this package registers its specs on import."""

from __future__ import annotations

import importlib
import pkgutil

from builder.blocks.spec import REGISTRY, BlockSpec

__all__ = ["CATEGORIES", "get", "catalogue", "by_category"]

# Palette order.  A block names its category; a category not listed here goes last.
CATEGORIES = (
    "Data",
    "Dense & shape",
    "Activations",
    "Convolution",
    "Pooling",
    "Normalization",
    "Regularization",
    "Recurrent",
    "Sequence",
    "Attention",
    "Generative & special",
    "Composite",
)

_SKIP = {"spec", "lazy", "modules"}  # not block files
for _info in pkgutil.iter_modules(__path__):
    if _info.name not in _SKIP:
        importlib.import_module(f"{__name__}.{_info.name}")


def get(block_type: str) -> BlockSpec:
    """The spec for ``block_type``; KeyError with the known names' count if there is none."""
    try:
        return REGISTRY[block_type]
    except KeyError:
        raise KeyError(f"unknown block type {block_type!r}") from None


def catalogue() -> dict[str, BlockSpec]:
    return dict(REGISTRY)


def by_category() -> dict[str, list[BlockSpec]]:
    order = {c: i for i, c in enumerate(CATEGORIES)}
    out: dict[str, list[BlockSpec]] = {}
    # Stable sort: within a category, blocks keep the order their file declares them in.
    for spec in sorted(REGISTRY.values(), key=lambda s: order.get(s.category, 99)):
        out.setdefault(spec.category, []).append(spec)
    return out
