"""The recipe catalogue: one file per recipe, registered by name.

Adding a recipe is one file here plus its gallery templates; the trainer never changes.
"""

from __future__ import annotations

from runtime.recipes.base import Recipe, RecipeError, Role, Stage, StepContext, noise_like
from runtime.recipes.classification import Classification
from runtime.recipes.gan import GAN
from runtime.recipes.multilabel import MultiLabel
from runtime.recipes.regression import Regression

__all__ = ["RECIPES", "register", "get", "Recipe", "RecipeError", "Role", "Stage", "StepContext",
           "noise_like"]

RECIPES: dict[str, type[Recipe]] = {}


def register(cls: type[Recipe]) -> type[Recipe]:
    if not cls.name or cls.name in RECIPES:
        raise ValueError(f"recipe name {cls.name!r} is empty or taken")
    RECIPES[cls.name] = cls
    return cls


def get(name: str) -> type[Recipe]:
    try:
        return RECIPES[name]
    except KeyError:
        raise RecipeError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}") \
            from None


for _cls in (Classification, Regression, MultiLabel, GAN):
    register(_cls)
