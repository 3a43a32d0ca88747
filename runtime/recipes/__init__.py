"""The recipe catalogue: one file per recipe, found and registered by name.

Adding a recipe is one file here plus its gallery templates: every module of this package is
imported once, and each ``Recipe`` subclass it defines with a ``name`` is registered.  No other
file is edited and the trainer never changes.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from runtime.recipes.base import (
    Feed,
    Recipe,
    RecipeError,
    Role,
    Stage,
    StepContext,
    Stream,
    noise_like,
)

__all__ = ["RECIPES", "register", "get", "discover", "Recipe", "RecipeError", "Role", "Feed",
           "Stream", "Stage", "StepContext", "noise_like"]

RECIPES: dict[str, type[Recipe]] = {}


def register(cls: type[Recipe]) -> type[Recipe]:
    if not cls.name or RECIPES.get(cls.name, cls) is not cls:
        raise ValueError(f"recipe name {cls.name!r} is empty or taken")
    RECIPES[cls.name] = cls
    return cls


def get(name: str) -> type[Recipe]:
    try:
        return RECIPES[name]
    except KeyError:
        raise RecipeError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}") \
            from None


def discover() -> None:
    """Import every module of this package and register the recipes it defines (a class
    counts where it is defined, so one imported elsewhere is not registered twice)."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Recipe) and cls.__module__ == module.__name__ and \
                    "name" in vars(cls) and cls.name:
                register(cls)


discover()
