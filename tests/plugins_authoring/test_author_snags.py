"""The snags of the plugin author's trial (issue 27): a misspelt lazy target leaves
`components` working and is named, `plugins --check` imports every target, plugin params are
strict, `validate` prints one problem count, and a deliberate setting is a note, not a warning."""

from __future__ import annotations

import re

import pytest

from tests.core.helpers import run_cli

from .conftest import toy_recipe, write_plugin

MISSPELT_PLUGIN = '''
from gan_adapt import hookimpl
from gan_adapt.plugin_host.registry import lazy


class Fine:
    """A loss that imports."""

    def __init__(self, params, ctx):
        pass

    def __call__(self, step):
        return step.fake.mean()


@hookimpl
def register_losses(register):
    register("fine_loss", Fine)
    register("typo_module", lazy("no_such_modul:Thing"))
    register("typo_attribute", lazy("os.path:jion"))
'''


def test_components_lists_the_rest_and_names_a_misspelt_lazy_target(tmp_path):
    folder = write_plugin(tmp_path / "p", "misspelt_plugin", MISSPELT_PLUGIN).parent
    result = run_cli("components", "loss", "--plugins-dir", str(folder),
                     env={"COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "fine_loss" in result.stdout and "mse" in result.stdout  # the rest is listed
    assert "typo_module" not in result.stdout
    assert ("warning: plugin 'misspelt_plugin': loss 'typo_module' is "
            "lazy('no_such_modul:Thing'), which cannot be imported: ModuleNotFoundError: "
            "No module named 'no_such_modul'") in result.stderr
    assert ("loss 'typo_attribute' is lazy('os.path:jion'), which cannot be imported: "
            "AttributeError:") in result.stderr


def test_plugins_check_imports_every_lazy_target_and_fails_on_any(tmp_path):
    folder = write_plugin(tmp_path / "p", "misspelt_plugin", MISSPELT_PLUGIN).parent
    result = run_cli("plugins", "--check", "--plugins-dir", str(folder))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    broken = [line for line in result.stderr.splitlines() if line.startswith("broken: ")]
    assert len(broken) == 2, result.stderr
    assert "typo_module" in broken[0] + broken[1] and "typo_attribute" in broken[0] + broken[1]
    assert "Error: 2 component(s) cannot be imported (see above)" in result.stderr
    clean = run_cli("plugins", "--check")  # gan-adapt's own components all import
    assert clean.returncode == 0, clean.stderr
    assert "components import." in clean.stdout and "broken" not in clean.stderr


STRICT_PLUGIN = '''
from pydantic import BaseModel, ConfigDict

from gan_adapt import hookimpl


class SideParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_side: int = 16
    scale: float = 1.0
    flip: bool = False
    label: str = "x"
    span: tuple[float, float] = (0.0, 1.0)


class Side:
    """A loss with typed params."""

    Params = SideParams

    def __init__(self, params, ctx):
        self.params = params

    def __call__(self, step):
        return step.fake.mean()


@hookimpl
def register_losses(register):
    register("side", Side)
'''


@pytest.fixture
def strict_plugins(tmp_path):
    from gan_adapt.plugin_host.loading import load_plugins
    from tests.core.helpers import FIXTURES

    write_plugin(tmp_path / "p", "strict_plugin", STRICT_PLUGIN)
    return load_plugins([FIXTURES, tmp_path / "p"], entry_points=False)


@pytest.mark.parametrize("params, problem", [
    ({"max_side": "8"}, "params.max_side: Input should be a valid integer (got '8')"),
    ({"max_side": 8.0}, "params.max_side: Input should be a valid integer (got 8.0)"),
    ({"flip": 1}, "params.flip: Input should be a valid boolean (got 1)"),
    ({"label": 8}, "params.label: Input should be a valid string (got 8)"),
])
def test_plugin_params_are_strict(strict_plugins, tmp_path, params, problem):
    from gan_adapt.errors import RecipeError
    from gan_adapt.recipe.schema import read_and_validate as load

    recipe = toy_recipe(tmp_path, losses=[{"name": "side", "params": params}])
    with pytest.raises(RecipeError) as caught:
        load(recipe, strict_plugins)
    assert any(p.endswith(problem) for p in caught.value.problems), caught.value.problems


def test_strict_params_still_take_an_integer_for_a_float_and_an_array_for_a_tuple(
        strict_plugins, tmp_path):
    from gan_adapt.recipe.schema import read_and_validate as load

    recipe = toy_recipe(tmp_path, losses=[{"name": "side", "params": {
        "max_side": 8, "scale": 2, "flip": True, "label": "y", "span": [0, 0.5]}}])
    validated = load(recipe, strict_plugins)
    params = next(p for p in validated.params.values() if type(p).__name__ == "SideParams")
    assert (params.max_side, params.scale, params.span) == (8, 2.0, (0.0, 0.5))
    assert isinstance(params.scale, float)


def test_validate_prints_one_problem_count(tmp_path):
    from tests.core.helpers import FIXTURES

    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[adapt]\nsteps = "a"\n')
    good = toy_recipe(tmp_path)
    result = run_cli("validate", str(bad), str(good), "--plugins-dir", str(FIXTURES))
    assert result.returncode == 2, result.stderr
    assert len(re.findall(r"\d+ problem", result.stdout + result.stderr)) == 1, result.stderr
    count = int(re.search(r"Error: (\d+) problem\(s\):\n", result.stderr).group(1))
    listed = [line for line in result.stderr.splitlines() if line.startswith(f"  - {bad}: ")]
    assert count == len(listed) >= 4 and f"  - {bad}: target: required key is missing" in listed
    assert f"{good}: OK" in result.stdout
    alone = run_cli("validate", str(bad))
    assert f"Error: {count} problem(s) in {bad}:\n  - " in alone.stderr
    assert len(re.findall(r"\d+ problem", alone.stderr)) == 1
