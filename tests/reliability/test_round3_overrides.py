"""Sweep grids, the API's mapping overrides and ``--set`` take exactly the same values.

A grid value becomes a ``--set`` text through one function (gan_adapt.recipe.schema.override_text),
which checks that ``--set``'s own parser reads it back as the same value; whatever it cannot
write (a TOML date, None, an object) is refused with the key named, before any run starts.
"""

from __future__ import annotations

import datetime
import json
import random
from pathlib import Path

import pytest

import gan_adapt
from gan_adapt.errors import RecipeError
from gan_adapt.recipe.key_paths import split_path
from gan_adapt.recipe.schema import override_text, parse_override
from gan_adapt.sweep.spec import expand, read_sweep

from .conftest import FAULT_PLUGINS, FIXTURES, TOY_RECIPE, assert_refused, derived_recipe

ROOT = Path(__file__).resolve().parents[2]


def _random_value(rng: random.Random, depth: int = 0):
    """A value of any kind TOML has (but dates), with awkward strings and keys."""
    alphabet = ['a', 'Z', '0', ' ', '"', "'", '\\', '\n', '\t', '\x01', '\x7f', 'é', '中', '😀',
                '=', '.', '[', ']', '{', '}', '#', ',']
    kind = rng.choice(["str", "int", "float", "bool", "list", "table"] if depth < 3
                      else ["str", "int", "float", "bool"])
    if kind == "str":
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
    if kind == "int":
        return rng.choice([0, -1, 7, 2 ** 63 - 1, -(2 ** 63), rng.randint(-10 ** 9, 10 ** 9)])
    if kind == "float":
        return rng.choice([0.0, -0.5, 1e-300, 1.7976931348623157e308, 0.1, rng.random() * 1e6])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5))) if rng.random() < .5
            else f"k{i}" for i in range(rng.randint(0, 3))]
    return {key: _random_value(rng, depth + 1) for key in keys}


def test_every_toml_value_round_trips_through_set():
    rng = random.Random(26)
    for _ in range(2000):
        value = _random_value(rng)
        text = override_text("adapt.losses[0].params.x", value)
        assert parse_override(text) == (split_path("adapt.losses[0].params.x"), value), text


@pytest.mark.parametrize("value, words", [
    (datetime.date(1979, 5, 27), "date/time"),
    (datetime.datetime(1979, 5, 27, 7, 32), "date/time"),
    (datetime.time(7, 32), "date/time"),
    ([1, datetime.date(2020, 1, 1)], "date/time"),
    ({"when": datetime.date(2020, 1, 1)}, "date/time"),
    (None, "has no TOML form"),
    (object(), "has no TOML form"),
    ({1: "x"}, "keys must be strings"),
    (float("nan"), "not a finite number"),
])
def test_values_without_a_set_form_are_refused_with_a_reason(value, words):
    with pytest.raises(ValueError, match=words):
        override_text("seed", value)


# ---------------------------------------------------------------------------------------------
# Sweep files

SWEEP = """
name = "grid-types"
base = "{base}"
set = {set}
threads_per_run = 1
[eval]
enabled = false
[grid]
{grid}
"""


def _sweep(tmp_path: Path, grid: str, set_: str = "[]", base: Path = TOY_RECIPE) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP.format(base=base, grid=grid, set=set_))
    return path


@pytest.mark.parametrize("grid, key", [
    ('seed = [1979-05-27]', "grid.seed[0]"),
    ('seed = [1, 1979-05-27T07:32:00Z]', "grid.seed[1]"),
    ('"adapt.steps" = [07:32:00]', "grid.adapt.steps[0]"),
    ('"adapt.losses[0].params" = [{ when = 2020-01-01 }]', "grid.adapt.losses[0].params[0]"),
    ('"adapt..steps" = [1]', "grid.adapt..steps[0]"),
    ('"adapt.losses[x].weight" = [1]', "grid.adapt.losses[x].weight[0]"),
])
def test_a_grid_value_set_cannot_take_is_refused_naming_the_key(grid, key, tmp_path, cli):
    path = _sweep(tmp_path, grid)
    with pytest.raises(RecipeError) as caught:
        read_sweep(path)
    assert key in str(caught.value)
    result = cli("sweep", path, "--out", tmp_path / "out")
    assert_refused(result, key)
    assert not (tmp_path / "out").exists()


def test_a_set_entry_set_cannot_take_is_refused(tmp_path):
    with pytest.raises(RecipeError, match=r"set\[1\]: --set seed: 1979-05-27 is a TOML date"):
        read_sweep(_sweep(tmp_path, 'seed = [1]', '["adapt.steps=2", "seed=1979-05-27"]'))


def test_an_inline_table_in_a_grid_is_what_the_same_set_gives(tmp_path):
    path = _sweep(tmp_path, '"adapt.losses[1].params" = [{ r1_every = 2, r1_gamma = 0.5 }]\n'
                            '"adapt.freeze" = [["mapping", "b4.*"]]\n'
                            '"target.text" = ["a \\"quoted\\" sketch\\nwith a newline"]')
    run, = expand(read_sweep(path), path)
    by_key = {tuple(parse_override(text)[0]): parse_override(text)[1] for text in run.overrides}
    assert by_key[("adapt", "losses", 1, "params")] == \
        parse_override("adapt.losses[1].params={ r1_every = 2, r1_gamma = 0.5 }")[1]
    assert by_key[("adapt", "freeze")] == ["mapping", "b4.*"]
    assert by_key[("target", "text")] == 'a "quoted" sketch\nwith a newline'


def test_a_grid_of_inline_tables_runs(tmp_path):
    """The issue's case end to end: every run of such a grid used to fail."""
    from gan_adapt.sweep.runner import run_sweep

    recipe = derived_recipe(tmp_path / "base", adapt={"steps": 2}, search={"steps": 1},
                            output={"sample_every": 2, "checkpoint_every": 2})
    path = _sweep(tmp_path, '"adapt.losses[1].params" = [{ r1_every = 2, r1_gamma = 0.5 }]',
                  base=recipe)
    lines: list[str] = []
    folder = run_sweep(path, tmp_path / "out", echo=lines.append,
                       plugins_dirs=[str(FIXTURES), str(FAULT_PLUGINS)])
    assert any("(1 finished, 0 failed)" in line for line in lines), lines
    run_folder, = (folder / "runs").iterdir()
    assert "r1_gamma = 0.5" in (run_folder / "recipe.toml").read_text()


def test_existing_grid_values_keep_their_run_ids(tmp_path):
    path = _sweep(tmp_path, '"adapt.losses[0].weight" = [1.0, 10]\nname = ["a", "é"]\n'
                            'x = [[1, 2], true]')
    runs = expand(read_sweep(path), path)
    assert runs[0].overrides == ["adapt.losses[0].weight=1.0", 'name="a"', "x=[1, 2]"]
    assert runs[1].overrides[1:] == ['name="a"', "x=true"]
    assert runs[2].overrides[1] == 'name="\\u00e9"' == f"name={json.dumps('é')}"


# ---------------------------------------------------------------------------------------------
# --set and the API


def test_set_refuses_a_date_naming_the_key(cli):
    result = cli("validate", TOY_RECIPE, "--plugins-dir", FIXTURES, "--set", "seed=1979-05-27")
    assert_refused(result, "--set seed: 1979-05-27 is a TOML date/time")


@pytest.mark.parametrize("value", [datetime.date(2020, 1, 1), None, object(), {"a": None}])
def test_api_mapping_overrides_refuse_what_set_cannot_take(value):
    with pytest.raises(RecipeError, match=r"overrides\['seed'\]"):
        gan_adapt.load_recipe(ROOT / "recipes" / "smoke.toml", overrides={"seed": value})


def test_api_mapping_overrides_take_tables_and_tuples():
    recipe = gan_adapt.load_recipe(
        ROOT / "recipes" / "smoke.toml",
        overrides={"adapt.generator_optimizer": {"lr": 0.001, "betas": (0.0, 0.9)}})
    assert recipe.settings.adapt.generator_optimizer.betas == (0.0, 0.9)
    assert recipe.settings.adapt.generator_optimizer.lr == 0.001


def test_api_mapping_overrides_take_numpy_numbers():
    import numpy as np

    recipe = gan_adapt.load_recipe(ROOT / "recipes" / "smoke.toml",
                                   overrides={"adapt.steps": np.int64(7), "seed": np.uint32(5),
                                              "adapt.ema_decay": np.float32(0.5)})
    assert (recipe.settings.adapt.steps, recipe.settings.seed) == (7, 5)
    assert recipe.settings.adapt.ema_decay == 0.5
