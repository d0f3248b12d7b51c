"""`validate` accepts only schedules that run, and a term that is non-finite the first time it
applies is blamed on the term, not on the learning rate.

The schedule cases are generated: random step kinds (``every``/``offset``) and random loss terms
(``on``/``every``/``start``) on the toy recipe. Every schedule `validate` accepts must run to its
end; every one it refuses names the step that has no term.
"""

from __future__ import annotations

import random

import pytest

from gan_adapt.errors import RecipeError
from gan_adapt.recipe.schedule import first_step_without_terms, kinds_by_step, term_applies

from .conftest import EVERY_STEP, FIXTURES, TOY_RECIPE, assert_refused, derived_recipe, toy_run_args


def _random_schedule(rng: random.Random, steps: int) -> tuple[list[dict], list[dict]]:
    """(schedule, losses): 1-3 step kinds and 1-3 terms with random timing."""
    names = ["a", "b", "c"][:rng.randint(1, 3)]
    schedule = []
    for i, name in enumerate(names):
        kind = {"name": name, "latents": rng.choice(["random", "anchors"]), "batch": 1,
                "anchors": 2}
        if i < len(names) - 1:
            kind["every"] = rng.randint(1, 4)
            kind["offset"] = rng.randint(0, 3)
        schedule.append(kind)
    losses = []
    for _ in range(rng.randint(1, 3)):
        term = {"name": rng.choice(["mse", "mean_colour", "keep_content", "adversarial"])}
        if rng.random() < 0.7:
            term["on"] = rng.sample(names, rng.randint(1, len(names)))
        if rng.random() < 0.4:
            term["every"] = rng.randint(1, 3)
        if rng.random() < 0.3:
            term["start"] = rng.randint(0, steps)
        losses.append(term)
    return schedule, losses


def _brute_force_gap(schedule, losses, steps) -> int | None:
    """The first step no term applies at, replayed step by step (the reference)."""
    from gan_adapt.recipe.schema import StepKind, Term

    kinds = [StepKind(**k) for k in schedule]
    terms = [Term(**t) for t in losses]
    for index, kind in kinds_by_step(kinds, steps):
        if not any(term_applies(t, kind, index) for t in terms):
            return index
    return None


def test_the_gap_finder_agrees_with_a_step_by_step_replay():
    from gan_adapt.recipe.schema import StepKind, Term

    rng = random.Random(0)
    found = 0
    for _ in range(400):
        steps = rng.randint(1, 40)
        schedule, losses = _random_schedule(rng, steps)
        expected = _brute_force_gap(schedule, losses, steps)
        gap = first_step_without_terms([Term(**t) for t in losses],
                                       [StepKind(**k) for k in schedule], steps)
        assert (gap[0] if gap else None) == expected, (schedule, losses, steps)
        found += expected is not None
    assert 50 < found < 350  # both kinds of schedule were generated


def test_a_gap_after_a_long_start_is_found_without_replaying_every_step():
    from gan_adapt.recipe.schema import StepKind, Term

    kinds = [StepKind(name="r", every=7, offset=3), StepKind(name="x")]
    terms = [Term(name="t", on=["x"]), Term(name="u", on=["r"], start=10 ** 15)]
    assert first_step_without_terms(terms, kinds, 10 ** 16) == (3, "r")
    terms = [Term(name="t", on=["x"]), Term(name="u", on=["r"])]
    assert first_step_without_terms(terms, kinds, 10 ** 16) is None
    big = [Term(name="t", every=2 ** 62), Term(name="u", start=1)]  # a huge period
    assert first_step_without_terms(big, [StepKind(name="x")], 2 ** 63 - 1) is None


@pytest.mark.parametrize("losses, step, kind", [
    ([{"name": "mse", "on": ["reference"]}], 1, "random"),            # one kind only
    ([{"name": "mse", "on": ["random"]}], 0, "reference"),
    ([{"name": "mse", "every": 2}], 1, "random"),                     # every skips steps
    ([{"name": "mse", "start": 3}], 0, "reference"),                  # nothing before start
    ([{"name": "mse", "on": ["random"], "every": 3},
      {"name": "mean_colour", "on": ["reference"]}], 1, "random"),
])
def test_validate_refuses_a_schedule_with_a_step_without_terms(losses, step, kind, cli,
                                                               tmp_path):
    recipe = derived_recipe(tmp_path)
    import tomli_w

    from gan_adapt.recipe.schema import read_toml

    data = read_toml(recipe)
    data["adapt"]["losses"] = losses
    recipe.write_text(tomli_w.dumps(data))
    needle = f"no loss term applies at adapt step {step} (a {kind!r} step)"
    assert_refused(cli("validate", recipe, "--plugins-dir", FIXTURES), needle)
    out = tmp_path / "run"
    assert_refused(cli(*toy_run_args(out, recipe)), needle)
    assert not out.exists()


def test_validate_refuses_a_search_step_without_terms(cli, tmp_path):
    recipe = derived_recipe(tmp_path)
    result = cli("validate", recipe, "--plugins-dir", FIXTURES, "--set",
                 'search.objective=[{name="mse", on=["reference"]}]')
    assert_refused(result, "search.objective: no term applies at search step 0")
    result = cli("validate", recipe, "--plugins-dir", FIXTURES, "--set",
                 'search.objective=[{name="mse", every=2}]')
    assert_refused(result, "search.objective: no term applies at search step 1")


def test_every_generated_schedule_validate_accepts_runs(fault_plugin_set, tmp_path):
    """Property: for random schedules, validate's verdict is the run's (accepted ones finish)."""
    from gan_adapt.engine.launch import start
    from gan_adapt.recipe.schema import read_and_validate as load

    rng = random.Random(26)
    accepted = refused = 0
    for case in range(40):
        steps = rng.randint(2, 5)
        schedule, losses = _random_schedule(rng, steps)
        folder = tmp_path / f"case{case}"
        recipe = derived_recipe(folder, adapt={"steps": steps}, search={"steps": 2},
                                output={"sample_every": 100, "checkpoint_every": 100})
        import tomli_w

        from gan_adapt.recipe.schema import read_toml

        data = read_toml(recipe)
        data["adapt"]["schedule"], data["adapt"]["losses"] = schedule, losses
        recipe.write_text(tomli_w.dumps(data))
        try:
            load(recipe, fault_plugin_set)
        except RecipeError as exc:
            refused += 1
            assert _brute_force_gap(schedule, losses, steps) is not None, str(exc)
            continue
        accepted += 1
        if accepted <= 8:  # each run takes about a second: run a sample of them
            result = start(recipe, fault_plugin_set, out=folder / "run", progress_live=False)
            assert result.status == "done", (schedule, losses)
    assert accepted >= 8 and refused >= 5, (accepted, refused)


# ---------------------------------------------------------------------------------------------
# A non-finite loss at a term's first application is the term's


def _fault(at: int, **timing) -> dict:
    return {"name": "fault", "params": {"mode": "nan", "at": at}, **timing}


def test_nan_at_a_terms_first_step_blames_the_term(cli, tmp_path):
    recipe = derived_recipe(tmp_path, extra_losses=[_fault(0)], **EVERY_STEP)
    result = cli(*toy_run_args(tmp_path / "run", recipe))
    assert_refused(result, "adapt step 0: the loss became non-finite (term(s): fault)",
                   "a bug in the term", "--check-plugins")
    assert "Lower the learning rate" not in result.err


def test_nan_at_a_late_start_is_still_the_first_application(cli, tmp_path):
    recipe = derived_recipe(tmp_path, extra_losses=[_fault(0, start=5)], **EVERY_STEP)
    result = cli(*toy_run_args(tmp_path / "run", recipe))
    assert_refused(result, "adapt step 5:", "a bug in the term", "--check-plugins")


def test_nan_after_the_term_already_ran_suggests_the_learning_rate(cli, tmp_path):
    recipe = derived_recipe(tmp_path, extra_losses=[_fault(3)], **EVERY_STEP)
    result = cli(*toy_run_args(tmp_path / "run", recipe))
    assert_refused(result, "adapt step 3:", "Lower the learning rate")
    assert "a bug in the term" not in result.err


def test_nan_at_the_first_search_step_blames_the_search_term(cli, tmp_path):
    fault = {"name": "fault", "params": {"mode": "nan", "at": 0, "phase": "search"}}
    recipe = derived_recipe(tmp_path, extra_search=[fault])
    result = cli(*toy_run_args(tmp_path / "run", recipe))
    assert_refused(result, "search step 0:", "a bug in the term", "--check-plugins")


# ---------------------------------------------------------------------------------------------
# Terms that compare samples with each other declare their least batch (params.min_batch())

SMOKE = TOY_RECIPE.parents[3] / "recipes" / "smoke.toml"
CDC = TOY_RECIPE.parents[3] / "recipes" / "cdc-10shot-smoke.toml"


@pytest.mark.parametrize("recipe, plugins, overrides, needle", [
    (SMOKE, "oneshotclip", ["adapt.schedule[1].batch=1"],
     "adapt.losses[4] ('clip_consistency') needs a batch of at least 2, but it applies on "
     "'random' steps, whose batch is 1"),
    (SMOKE, "oneshotclip", ['adapt.losses[4].on=["reference", "random"]'],
     "needs a batch of at least 2, but it applies on 'reference' steps, whose batch is 1"),
])
def test_validate_refuses_a_batch_smaller_than_a_term_compares(recipe, plugins, overrides,
                                                               needle, cli):
    args = [item for o in overrides for item in ("--set", o)]
    assert_refused(cli("validate", recipe, *args, plugins=plugins), needle)


def test_a_term_that_never_meets_the_small_kind_is_accepted(cli):
    # clip_consistency every 4 steps from step 1: steps 1, 5, 9... are all 'random' (batch 2),
    # so the 'reference' kind's batch 1 never meets it
    result = cli("validate", SMOKE, "--set", 'adapt.losses[4].on=["reference", "random"]',
                 "--set", "adapt.losses[4].every=4", "--set", "adapt.losses[4].start=1",
                 plugins="oneshotclip")
    assert result.code == 0, result.err


def test_the_cdc_term_on_its_own_latents_needs_three(fault_plugin_set):
    from gan_adapt_cdc.params import CrossDomainConsistencyParams

    assert CrossDomainConsistencyParams(batch=4).min_batch() == 1
    assert CrossDomainConsistencyParams.model_construct(batch=None).min_batch() == 3


@pytest.mark.parametrize("batch", [6, 5])
def test_a_batch_the_minibatch_stddev_layer_cannot_group_is_refused_before_the_folder(
        batch, cli, tmp_path):
    """Only the built D knows its group size: the run refuses before its folder exists."""
    out = tmp_path / "run"
    result = cli("run", SMOKE, "--out", out, "--set", "search.steps=1", "--set",
                 "adapt.steps=2", "--set", f"adapt.schedule[0].batch={batch}",
                 plugins="oneshotclip")
    assert_refused(result, "adapt.losses[0] ('adversarial'): the discriminator's minibatch-"
                           f"stddev layer groups 4 samples, so a batch of {batch}")
    assert not out.exists()


def test_batches_the_minibatch_stddev_layer_groups_pass_the_check():
    from types import SimpleNamespace

    from gan_adapt.engine.preflight import minibatch_stddev_problems
    from gan_adapt.recipe.schema import StepKind, Term

    head = SimpleNamespace(mbstd_num_channels=1, mbstd_group_size=4)
    D = SimpleNamespace(modules=lambda: [head])
    term = SimpleNamespace(spec=Term(name="adversarial", on=["r"]),
                           impl=SimpleNamespace(reaches_minibatch_stddev=True))
    patch = SimpleNamespace(spec=Term(name="patch"), impl=SimpleNamespace())
    for batch, ok in [(1, True), (3, True), (4, True), (8, True), (12, True), (6, False),
                      (9, False)]:
        recipe = SimpleNamespace(adapt=SimpleNamespace(schedule=[
            StepKind(name="r", batch=batch, every=2), StepKind(name="x", batch=7)]))
        problems = minibatch_stddev_problems(recipe, SimpleNamespace(discriminator=D,
                                                                     losses=[term, patch]))
        assert (problems == []) == ok, (batch, problems)


def test_applied_before_agrees_with_a_replay():
    from gan_adapt.recipe.schedule import applied_before
    from gan_adapt.recipe.schema import StepKind, Term

    rng = random.Random(9)
    for _ in range(300):
        schedule, losses = _random_schedule(rng, 12)
        kinds = [StepKind(**k) for k in schedule]
        for term in (Term(**t) for t in losses):
            for index in range(12):
                expected = any(term_applies(term, kind, i)
                               for i, kind in kinds_by_step(kinds, index))
                assert applied_before(term, kinds, index) == expected
                assert applied_before(term, None, index) == any(
                    term_applies(term, "search", i) for i in range(index))
