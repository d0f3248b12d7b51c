"""Checks that need the built networks, run before the run folder exists.

:func:`gan_adapt.recipe.schema.validate` checks a recipe without building anything, so some of its
checks are bounds (see :mod:`gan_adapt.recipe.limits`). Once the components are built, the same
checks run exactly: the freeze patterns against the generator's own parameter groups, and the
batch sizes against its resolution and the device's memory.
"""

from __future__ import annotations

from typing import Any

from gan_adapt.errors import RecipeError
from gan_adapt.recipe.limits import memory_problems
from gan_adapt.recipe.parameter_groups import freeze_problems
from gan_adapt.recipe.schema import ValidatedRecipe


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
    problems += minibatch_stddev_problems(recipe, components)
    if problems:
        raise RecipeError(problems, validated.source)


def minibatch_stddev_problems(recipe: Any, components: Any) -> list[str]:
    """Batches that the discriminator's minibatch-stddev layer cannot split into its groups.

    The layer groups ``min(group, batch)`` samples, so a batch larger than the group must be a
    multiple of it; only the built D knows its group size (a pickle may carry any). Checked for
    the terms that declare ``reaches_minibatch_stddev`` (the global adversarial term; a patch
    discriminator stops before that layer), on every step kind the term may apply on.
    """
    heads = [m for m in _modules(components.discriminator)
             if getattr(m, "mbstd_num_channels", 0) and hasattr(m, "mbstd_group_size")]
    if not heads:
        return []
    group = heads[0].mbstd_group_size
    problems = []
    for i, term in enumerate(components.losses):
        if not getattr(term.impl, "reaches_minibatch_stddev", False):
            continue
        for kind in recipe.adapt.schedule:
            if term.spec.on is not None and kind.name not in term.spec.on:
                continue
            size = min(group, kind.batch) if group else kind.batch
            if kind.batch % size:
                problems.append(
                    f"adapt.losses[{i}] ({term.spec.name!r}): the discriminator's minibatch-"
                    f"stddev layer groups {group} samples, so a batch of {kind.batch} "
                    f"({kind.name!r} steps) cannot be split into its groups; use a batch of at "
                    f"most {group} or a multiple of {group}")
    return problems


def _modules(network: Any) -> list[Any]:
    modules = getattr(network, "modules", None)
    return list(modules()) if callable(modules) else []
