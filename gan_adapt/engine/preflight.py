"""Checks that need the built networks, run before the run folder exists.

:func:`gan_adapt.recipe.schema.validate` checks a recipe without building anything, so some of its
checks are bounds (see :mod:`gan_adapt.recipe.limits`). Once the components are built, the same
checks run exactly: the freeze patterns against the generator's own parameter groups, and the
batch sizes against its resolution and the device's memory.
"""

from __future__ import annotations

from typing import Any

from gan_adapt.errors import RecipeError
from gan_adapt.recipe.parameter_groups import freeze_problems
from gan_adapt.recipe.schema import ValidatedRecipe
from gan_adapt.recipe.limits import memory_problems


def check_built(validated: ValidatedRecipe, components: Any, device: Any) -> None:
    """Raise a RecipeError listing what the built run would fail on."""
    recipe = validated.recipe
    generator = components.generator
    problems = []
    if recipe.adapt.freeze:
        groups = list(generator.parameter_groups())
        problems += freeze_problems(recipe.adapt.freeze, groups)
    resolution = int(getattr(generator, "img_resolution", 8))
    problems += memory_problems(recipe, resolution=resolution, device=device)
    if problems:
        raise RecipeError(problems, validated.source)
