"""Recipes: the TOML schema, files and ``extends``, overrides, validation, limits, warnings,
the ``show`` view, the reference doc, schedules and targets (a foundation: imports no layer above).
"""

from gan_adapt.recipe.key_paths import format_path
from gan_adapt.recipe.schema import (
                                     Recipe,
                                     ValidatedRecipe,
                                     apply_overrides,
                                     deep_merge,
                                     parse_override,
                                     read_and_validate,
                                     read_toml,
                                     validate,
)

__all__ = ["Recipe", "ValidatedRecipe", "read_and_validate", "validate", "read_toml",
           "apply_overrides", "deep_merge", "parse_override", "format_path"]
