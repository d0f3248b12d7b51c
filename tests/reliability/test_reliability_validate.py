"""`validate` rejects everything `run` would: each case is refused by `gan-adapt validate` with
its recipe path, and by `gan-adapt run` before the run folder exists (no traceback either way).

The cases are drawn from classes: every numeric field's domain (Adam betas, NaN/inf anywhere,
integers beyond 64 bits), freeze lists, names that cannot be folder names, nesting, and sizes
that cannot fit in memory.
"""

from __future__ import annotations

import pytest

from gan_adapt.recipe import limits as recipe_limits
from gan_adapt.recipe.limits import MAX_DEPTH, sample_bytes

from .conftest import FIXTURES, TOY_RECIPE, assert_refused, toy_run_args

#: The tests pretend the machine has this much memory, so that a size too large for it stays
#: small enough to be harmless if a check ever let it through.
MEMORY = 64 * 2 ** 20
#: More samples than MEMORY could hold even at 8x8 pixels.
TOO_MANY = MEMORY // sample_bytes(8) + 1


@pytest.fixture(autouse=True)
def small_machine(monkeypatch):
    monkeypatch.setattr(recipe_limits, "machine_memory", lambda device=None: MEMORY)

#: --set override -> words the message must contain (validate and run alike).
REFUSED = {
    "adapt.generator_optimizer.betas=[1.0, 0.99]": "betas[0] = 1.0 is outside [0, 1)",
    "adapt.discriminator_optimizer.betas=[0.0, 1.5]": "betas[1] = 1.5 is outside [0, 1)",
    "search.betas=[-0.1, 0.9]": "search.betas: Value error, betas[0] = -0.1",
    'adapt.freeze=["*"]': "nothing to train",
    'adapt.freeze=["mapping", "const", "b*"]': "nothing to train",
    "adapt.truncation=inf": "adapt.truncation: inf is not a finite number",
    "output.truncation=-inf": "output.truncation",
    "adapt.truncation=nan": "adapt.truncation",
    "search.lr=inf": "search.lr: inf is not a finite number",
    "adapt.losses[0].weight=inf": "adapt.losses[0].weight",
    "adapt.schedule[1].anchor_std=nan": "adapt.schedule[1].anchor_std",
    "adapt.losses[1].params.r1_gamma=inf": "adapt.losses[1].params.r1_gamma",  # a plugin's
    "seed=100000000000000000000000": "seed: 100000000000000000000000 does not fit in 64 bits",
    "adapt.schedule[0].every=-100000000000000000000000": "adapt.schedule[0].every",
    f"adapt.schedule[1].batch={TOO_MANY}": "adapt.schedule[1].batch",
    f"output.n_samples={TOO_MANY}": "output.n_samples",
    'name="run\\u0000name"': "control character",
    'name="tab\\tname"': "control character",
    'name="   "': "name: must not be empty",
    f'name="{"x" * 300}"': "bytes long",
    f'name="{"ж" * 120}"': "240 bytes long",  # 120 characters, but 240 bytes in UTF-8
    "x=" + "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2): "nested more than",
    "x=" + "[" * 5000 + "]" * 5000: "nested too deeply",
}


@pytest.mark.parametrize("override", list(REFUSED), ids=lambda s: s[:40])
def test_validate_refuses_what_run_would(override, cli, tmp_path):
    needle = REFUSED[override]
    result = cli("validate", TOY_RECIPE, "--set", override, "--plugins-dir", FIXTURES)
    assert_refused(result, needle, code=2)
    out = tmp_path / "run"
    assert_refused(cli(*toy_run_args(out), "--set", override), needle, code=2)
    assert not out.exists()


def test_deeply_nested_recipe_file_is_refused(cli, tmp_path):
    recipe = tmp_path / "deep.toml"
    recipe.write_text(TOY_RECIPE.read_text() + "\n[" + ".".join(["t"] * 3000) + "]\nx = 1\n")
    assert_refused(cli("validate", recipe, "--plugins-dir", FIXTURES), "nested more than", code=2)
    nested = tmp_path / "nested.toml"
    nested.write_text(TOY_RECIPE.read_text() + "\nx = " + "{a=" * 3000 + "1" + "}" * 3000 + "\n")
    assert_refused(cli("validate", nested, "--plugins-dir", FIXTURES), "nested too deeply",
                   code=2)


@pytest.mark.parametrize("override, needle", [
    ('adapt.freeze=["mapping", "b8.conv", "b16.*", "const"]', "nothing to train"),
    ('adapt.freeze=["mappin"]', "the pattern 'mappin' matches no parameter group"),
    # 16x16 pixels (the toy generator's) need more than 8x8: refused once the size is known
    (f"adapt.schedule[1].batch={MEMORY // sample_bytes(16) + 1}", "at 16x16 pixels"),
])
def test_run_checks_the_built_networks_before_the_run_folder(override, needle, cli, tmp_path):
    """The toy generator's groups and resolution are known once it is built: still no folder."""
    out = tmp_path / "run"
    assert_refused(cli(*toy_run_args(out), "--set", override), needle, code=2)
    assert not out.exists()


def test_stylegan2_freeze_typo_is_caught_by_validate(cli):
    from .conftest import SMOKE_RECIPE

    result = cli("validate", SMOKE_RECIPE, "--set", 'adapt.freeze=["maping"]',
                 plugins="oneshotclip")
    assert_refused(result, "'maping' matches no parameter group", code=2)


@pytest.mark.parametrize("override", [
    "adapt.generator_optimizer.betas=[0.0, 0.999]", 'adapt.freeze=["mapping", "b*"]',
    'name="домен-адаптация"', "seed=-5", "seed=9223372036854775807"])
def test_values_at_the_edge_of_their_domain_are_accepted(override, cli):
    result = cli("validate", TOY_RECIPE, "--set", override, "--plugins-dir", FIXTURES)
    assert result.code == 0, result.err
    assert "OK" in result.out


def test_the_estimate_uses_this_machines_memory(monkeypatch):
    """Without the test's small machine: a size no machine holds is refused, a usual one not."""
    monkeypatch.undo()
    from gan_adapt.plugin_host.loading import load_plugins
    from gan_adapt.recipe.schema import read_and_validate

    plugin_set = load_plugins(FIXTURES, entry_points=False)
    recipe = read_and_validate(TOY_RECIPE, plugin_set).recipe
    assert recipe_limits.memory_problems(recipe) == []
    huge = recipe.model_copy(update={"output": recipe.output.model_copy(
        update={"n_samples": 10 ** 12})})
    problems = recipe_limits.memory_problems(huge)
    assert len(problems) == 1 and "output.n_samples: 1000000000000 samples" in problems[0]
