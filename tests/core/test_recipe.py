"""Recipe parsing, overrides and error collection."""

from __future__ import annotations

import tomllib

import pytest

from gan_adapt.errors import RecipeError
from gan_adapt.recipe.key_paths import format_path, split_path
from gan_adapt.recipe.schema import (
    apply_overrides,
    parse_override,
    read_and_validate,
    read_toml,
    validate,
)

from .helpers import TOY_RECIPE, assert_clean_error, run_cli, toy_plugin_set


@pytest.fixture(scope="module")
def plugin_set():
    return toy_plugin_set()


def toy_data() -> dict:
    return read_toml(TOY_RECIPE)


def problems_of(data, plugin_set, overrides=()) -> list[str]:
    with pytest.raises(RecipeError) as info:
        validate(data, plugin_set, base_dir=TOY_RECIPE.parent, overrides=list(overrides))
    return info.value.problems


def test_toy_recipe_is_valid(plugin_set):
    validated = read_and_validate(TOY_RECIPE, plugin_set)
    assert validated.recipe.name == "toy"
    assert validated.recipe.adapt.losses[1].params == {"r1_every": 4}
    assert validated.params["adapt.losses[1]"].r1_every == 4
    assert validated.params["adapt.losses[1]"].r1_gamma == 10.0  # component default filled in


def test_paths_split_and_format():
    assert split_path("adapt.losses[2].params.n_crops") == ["adapt", "losses", 2, "params",
                                                            "n_crops"]
    assert format_path(("adapt", "losses", 2, "weight")) == "adapt.losses[2].weight"
    with pytest.raises(ValueError):
        split_path("adapt..steps")


def test_override_values_are_toml_literals():
    assert parse_override("adapt.steps=12") == (["adapt", "steps"], 12)
    assert parse_override("x=[1, 2]") == (["x"], [1, 2])
    assert parse_override("target.text=a pencil sketch") == (["target", "text"], "a pencil sketch")
    assert parse_override('name="q"') == (["name"], "q")


def test_overrides_apply_to_nested_and_indexed_keys():
    data, problems = apply_overrides(toy_data(), ["adapt.steps=3", "adapt.losses[0].weight=0.5",
                                                  "adapt.losses[9].weight=1"])
    assert data["adapt"]["steps"] == 3
    assert data["adapt"]["losses"][0]["weight"] == 0.5
    assert problems == ["--set adapt.losses[9].weight=1: adapt.losses[9] does not exist"]


def test_all_errors_reported_at_once_with_paths_and_suggestions(plugin_set):
    data = toy_data()
    data["adapt"]["stpes"] = 10  # misspelt key
    data["search"]["steps"] = "many"  # wrong type
    data["adapt"]["losses"][2]["name"] = "mean_color"  # unknown component, close to a real one
    data["adapt"]["losses"][1]["params"] = {"r1_evrey": 3}  # misspelt component param
    data["requires"] = ["gan-adapt-missing"]
    problems = problems_of(data, plugin_set)
    text = "\n".join(problems)
    assert "adapt.stpes: unknown key (did you mean 'steps'?)" in text
    assert "search.steps: Input should be a valid integer" in text
    # structure errors stop before component checks; fix them and the component errors show
    data["adapt"].pop("stpes")
    data["search"]["steps"] = 5
    problems = problems_of(data, plugin_set)
    text = "\n".join(problems)
    assert len(problems) == 3, problems
    assert "requires: plugin 'gan-adapt-missing' is not installed; install it" in text
    assert "adapt.losses[2].name: unknown loss 'mean_color' (did you mean 'mean_colour'?)" in text
    assert "adapt.losses[1].params.r1_evrey: unknown key (did you mean 'r1_every'?)" in text


def test_bad_values_and_cross_section_checks(plugin_set):
    data = toy_data()
    data["adapt"]["steps"] = 0
    data["adapt"]["losses"][0]["weight"] = -1
    problems = problems_of(data, plugin_set)
    assert any(p.startswith("adapt.steps: Input should be greater than or equal to 1")
               for p in problems)
    assert any(p.startswith("adapt.losses[0].weight: Input should be greater than 0")
               for p in problems)
    data = toy_data()
    data["adapt"]["losses"][0]["on"] = ["refrence"]
    del data["discriminator"]
    problems = problems_of(data, plugin_set)
    assert any("adapt.losses[0].on: unknown step kind 'refrence' (did you mean 'reference'?)"
               in p for p in problems)
    assert any("adapt.losses[1]: this term needs a discriminator" in p for p in problems)


def test_missing_target_file_is_reported(plugin_set):
    data = toy_data()
    data["target"]["image"] = "nope.png"
    assert any("target.image: nope.png does not exist" in p for p in problems_of(data, plugin_set))


def test_invalid_toml_is_a_recipe_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\n[adapt\nsteps = 3\n")
    with pytest.raises(RecipeError) as info:
        read_toml(bad)
    assert "invalid TOML" in str(info.value)
    with pytest.raises(tomllib.TOMLDecodeError):
        tomllib.loads(bad.read_text())


def test_cli_validate_reports_everything_with_exit_code_2(tmp_path):
    data = TOY_RECIPE.read_text().replace('name = "mean_colour"\non = ["random"]',
                                          'name = "mean_colr"\non = ["random"]')
    bad = tmp_path / "toy.toml"
    bad.write_text(data)
    (tmp_path / "orange.png").write_bytes((TOY_RECIPE.parent / "orange.png").read_bytes())
    result = run_cli("validate", str(bad), "--plugins-dir", str(TOY_RECIPE.parents[1]),
                     "--set", "adapt.stpes=4")
    assert_clean_error(result, code=2)
    assert "adapt.stpes: unknown key (did you mean 'steps'?)" in result.stderr
    ok = run_cli("validate", str(TOY_RECIPE), "--plugins-dir", str(TOY_RECIPE.parents[1]))
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
