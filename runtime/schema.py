"""The published JSON Schema of ``.loom`` files (``docs/loom.schema.json``, ``layerloom
schema``): the reader's schema (``builder/schema.py``) completed with what only the runtime
knows — the dataset and recipe catalogues — and with every block's params.

It is stricter than the app in two places, on purpose, so that an editor flags them while the
file is typed: a block's unknown or out-of-range param (the app opens the file and shows the
problem on the node) and an unknown dataset or recipe, or one of their params (the app opens
the file; ``inspect`` reports it and ``train`` refuses it).
"""

from __future__ import annotations

import json

from builder.schema import Entry, loom_schema

__all__ = ["published_schema", "schema_text"]


def published_schema() -> dict:
    from runtime.data.registry import DATASETS
    from runtime.recipes import RECIPES

    datasets = {name: Entry(s.description, s.params) for name, s in DATASETS.items()}
    recipes = {name: Entry(r.description, r.params, tuple((role.name, role.help)
                                                          for role in r.roles))
               for name, r in RECIPES.items()}
    return loom_schema(datasets, recipes, strict=True)


def schema_text() -> str:
    """The schema as ``docs/loom.schema.json`` holds it."""
    return json.dumps(published_schema(), indent=2, ensure_ascii=False) + "\n"
