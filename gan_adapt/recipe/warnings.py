"""Recipe settings that are valid but can never take effect, found by replaying the schedule.

A recipe can be correct and still contain a number that does nothing: an R1 interval whose steps
all belong to a step kind the term does not run on (OneShotCLIP's patch head: ``r1_every = 16``,
yet every 16th step is a reference step, in the official code too), a term on a step kind the
schedule never produces, a sample or checkpoint interval longer than the run. ``gan-adapt
validate`` prints each as a warning naming the setting and why; the recipe still runs.

An idle R1 interval is a *note* instead (:func:`idle_setting_notes`), printed once however many
recipes share it: papers' recipes keep it deliberately, to match the official code, and it costs
nothing (R1 simply never runs).

The replay uses the engine's own schedule functions (:mod:`gan_adapt.recipe.schedule`), so a warning
means exactly "the run would never do this".
"""

from __future__ import annotations

from typing import Any

from gan_adapt.recipe.schedule import kinds_by_step, term_applies
from gan_adapt.recipe.schema import Recipe, ValidatedRecipe

#: Schedules repeat with the period of their ``every`` values; replaying this many steps is
#: enough to see every pattern of any realistic recipe while keeping ``validate`` instant.
_MAX_REPLAY = 200_000


def ineffective_settings(validated: ValidatedRecipe) -> list[str]:
    """One line per setting of ``validated`` that can never take effect (empty: none)."""
    recipe = validated.recipe
    steps = list(kinds_by_step(recipe.adapt.schedule, min(recipe.adapt.steps, _MAX_REPLAY)))
    produced = {kind for _, kind in steps}
    return (_unused_step_kinds(recipe, produced) + _idle_terms(recipe, steps, produced)
            + _intervals_longer_than_run(recipe))


def idle_setting_notes(validated: ValidatedRecipe) -> list[str]:
    """One line per setting that never takes effect but is harmless and often deliberate: an
    R1 interval that meets none of its term's steps."""
    recipe = validated.recipe
    steps = list(kinds_by_step(recipe.adapt.schedule, min(recipe.adapt.steps, _MAX_REPLAY)))
    return _idle_r1(recipe, validated.params, steps)


def _unused_step_kinds(recipe: Recipe, produced: set[str]) -> list[str]:
    return [f"adapt.schedule[{i}] ({kind.name!r}): the schedule never produces this step kind "
            f"in {recipe.adapt.steps} steps (earlier kinds claim all its steps)"
            for i, kind in enumerate(recipe.adapt.schedule) if kind.name not in produced]


def _idle_terms(recipe: Recipe, steps: list[tuple[int, str]], produced: set[str]) -> list[str]:
    lines = []
    for i, term in enumerate(recipe.adapt.losses):
        never = [k for k in term.on or [] if k not in produced]
        if never:
            lines.append(f"adapt.losses[{i}] ({term.name!r}).on: step kind(s) {never} never "
                         f"occur in this run's {recipe.adapt.steps} steps")
        if not any(term_applies(term, kind, index) for index, kind in steps):
            lines.append(f"adapt.losses[{i}] ({term.name!r}) never applies: no step of the run "
                         f"is of kinds {term.on or 'any'} with start = {term.start}, "
                         f"every = {term.every}")
    return lines


def _idle_r1(recipe: Recipe, params: dict[str, Any], steps: list[tuple[int, str]]) -> list[str]:
    """Terms with ``r1_every``: R1 runs where the term applies AND the step index is a multiple."""
    lines = []
    for i, term in enumerate(recipe.adapt.losses):
        p = params.get(f"adapt.losses[{i}]")
        every, gamma = getattr(p, "r1_every", None), getattr(p, "r1_gamma", None)
        if not isinstance(every, int) or not gamma:
            continue
        active = [(index, kind) for index, kind in steps if term_applies(term, kind, index)]
        if not active or any(index % every == 0 for index, _ in active):
            continue
        claimed = sorted({kind for index, kind in steps if index % every == 0})
        lines.append(
            f"adapt.losses[{i}].params.r1_every = {every} ({term.name!r}): R1 never runs. It "
            f"applies on steps that are multiples of {every}, and those are all {claimed} "
            f"steps, while this term runs on {term.on or 'all kinds'} only (r1_gamma has no "
            "effect). Pick an interval that meets the term's steps, or set r1_gamma = 0 to say "
            "so.")
    return lines


def _intervals_longer_than_run(recipe: Recipe) -> list[str]:
    """Intervals the recipe sets (defaults are not the user's settings) beyond the run's end."""
    output, adapt, search = recipe.output, recipe.adapt, recipe.search
    checks = [(output, "output", "sample_every", adapt.steps, "only the final grid is written"),
              (output, "output", "checkpoint_every", adapt.steps,
               "only the final checkpoint is written"),
              (output, "output", "log_every", adapt.steps, "only the first step is logged")]
    if search is not None:
        checks.append((search, "search", "log_every", search.steps,
                       "only the first search step is logged"))
    return [f"{section}.{key} = {getattr(model, key)} is longer than the run ({total} steps): "
            f"{consequence}"
            for model, section, key, total, consequence in checks
            if key in model.model_fields_set and getattr(model, key) > total]
