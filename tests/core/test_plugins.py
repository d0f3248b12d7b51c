"""Plugin discovery, registration, failures and the plugin/components commands."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from gan_adapt.errors import PluginError, RecipeError
from gan_adapt.plugin_host.loading import load_plugins
from gan_adapt.plugin_host.registry import Registry
from gan_adapt.recipe.schema import read_and_validate

from .helpers import FIXTURES, TOY_RECIPE, assert_clean_error, run_cli, toy_plugin_set

EXTRA_LOSS_PLUGIN = '''
"""A third-party loss delivered as a loose plugin file."""
from pydantic import BaseModel, ConfigDict, Field
from gan_adapt import hookimpl

__version__ = "1.2.3"


class Brightness:
    """Pulls the mean brightness of the generated images towards a value."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        level: float = Field(0.0, description="Target mean in [-1, 1].")

    def __init__(self, params, ctx):
        self.level = params.level

    def __call__(self, step):
        return (step.fake.mean() - self.level) ** 2


@hookimpl
def register_losses(register):
    register("brightness", Brightness)
'''


def write_plugin(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def recipe_using_brightness(tmp_path: Path) -> Path:
    text = TOY_RECIPE.read_text().replace(
        '[[adapt.losses]]\nname = "keep_content"',
        '[[adapt.losses]]\nname = "brightness"\nparams = { level = 0.5 }\n\n'
        '[[adapt.losses]]\nname = "keep_content"')
    assert "brightness" in text
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(text.replace('image = "orange.png"',
                                   f'image = "{TOY_RECIPE.parent / "orange.png"}"'))
    return recipe


def test_plugins_dir_adds_a_loss_that_a_recipe_uses(tmp_path):
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "brightness_plugin", EXTRA_LOSS_PLUGIN)
    recipe = recipe_using_brightness(tmp_path)

    with pytest.raises(RecipeError) as info:  # without the plugin: a clear validation error
        read_and_validate(recipe, toy_plugin_set())
    assert any("unknown loss 'brightness'" in p for p in info.value.problems)

    plugin_set = toy_plugin_set(plugins)
    validated = read_and_validate(recipe, plugin_set)
    assert validated.params["adapt.losses[3]"].level == 0.5
    info = plugin_set.plugins["brightness_plugin"]
    assert info.version == "1.2.3" and ("loss", "brightness") in info.components

    # and through the CLI: the run uses the plugin's loss and logs it
    out = tmp_path / "run"
    result = run_cli("run", str(recipe), "--plugins-dir", str(plugins), "--plugins-dir",
                     str(FIXTURES), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert '"brightness"' in (out / "log.jsonl").read_text()


def test_duplicate_component_names_name_both_sources():
    registry = Registry()
    registry.add("loss", "same", lambda p, c: None, source="plugin_a")
    with pytest.raises(PluginError) as info:
        registry.add("loss", "same", lambda p, c: None, source="plugin_b")
    assert "'plugin_a' and 'plugin_b'" in str(info.value)


def test_duplicates_across_plugins_are_a_conflict_naming_both(tmp_path):
    """(More in tests/plugins_authoring/test_registration.py.)"""
    from gan_adapt.plugin_host.loading import PluginConflict

    plugins = tmp_path / "plugins"
    write_plugin(plugins, "a_first", EXTRA_LOSS_PLUGIN)
    write_plugin(plugins, "b_second", EXTRA_LOSS_PLUGIN)
    plugin_set = load_plugins(plugins, entry_points=False)
    with pytest.raises(PluginConflict, match="'a_first' .* and 'b_second'"):
        plugin_set.registry  # noqa: B018 - building the registry is what raises
    assert plugin_set.collect().get("loss", "brightness").source == "a_first"


def test_broken_plugins_are_reported_and_the_rest_still_load(tmp_path):
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "good", EXTRA_LOSS_PLUGIN)
    write_plugin(plugins, "import_error", "import not_a_module_anywhere\n")
    write_plugin(plugins, "raises_in_register", '''
        from gan_adapt import hookimpl

        @hookimpl
        def register_losses(register):
            register("half", lambda p, c: None)
            raise RuntimeError("boom while registering")
    ''')
    write_plugin(plugins, "bad_name", '''
        from gan_adapt import hookimpl

        @hookimpl
        def register_losses(register):
            register("Bad Name!", lambda p, c: None)
    ''')
    plugin_set = load_plugins(plugins, entry_points=False)
    failures = {f.name: f.error for f in plugin_set.failures}
    registry = plugin_set.registry
    failures = {f.name: f.error for f in plugin_set.failures}
    assert "not_a_module_anywhere" in failures["import_error"]
    assert "boom while registering" in failures["raises_in_register"]
    assert registry.get("loss", "half") is None  # nothing half-registered
    assert "invalid name 'Bad Name!'" in failures["bad_name"]
    assert registry.get("loss", "brightness") is not None

    result = run_cli("plugins", "--plugins-dir", str(plugins))
    assert result.returncode == 0, result.stderr
    assert "good" in result.stdout and "loss:brightness" in result.stdout
    assert "import_error" in result.stderr and "not_a_module_anywhere" in result.stderr


def test_components_command_lists_params_defaults_and_docs():
    result = run_cli("components", "loss", "--plugins-dir", str(FIXTURES))
    assert result.returncode == 0, result.stderr
    assert "adversarial" in result.stdout
    assert "r1_gamma: float = 10.0" in result.stdout
    assert "keep_content" in result.stdout and "toy_plugin" in result.stdout
    bad = run_cli("components", "losss")
    assert_clean_error(bad)
    assert "did you mean 'loss'" in bad.stderr


def test_entry_point_plugins_are_restricted_by_env(monkeypatch):
    from importlib import metadata

    import gan_adapt.plugin_host.loading as plugins_module

    sys.path.insert(0, str(FIXTURES))
    try:
        ep = metadata.EntryPoint(name="toy", value="toy_plugin", group="gan_adapt")
        monkeypatch.setattr(plugins_module, "_entry_points", lambda: [ep])
        monkeypatch.delenv("GAN_ADAPT_LOAD_PLUGINS", raising=False)
        assert load_plugins().has_plugin("toy")
        monkeypatch.setenv("GAN_ADAPT_LOAD_PLUGINS", "")
        assert not load_plugins().has_plugin("toy")
        monkeypatch.setenv("GAN_ADAPT_LOAD_PLUGINS", "other,toy")
        assert load_plugins().has_plugin("toy")
        broken = metadata.EntryPoint(name="broken", value="no_such_module_x", group="gan_adapt")
        monkeypatch.setattr(plugins_module, "_entry_points", lambda: [broken, ep])
        monkeypatch.delenv("GAN_ADAPT_LOAD_PLUGINS")
        plugin_set = load_plugins()
        assert plugin_set.has_plugin("toy")
        assert "no_such_module_x" in {f.name: f.error for f in plugin_set.failures}["broken"]
    finally:
        sys.path.remove(str(FIXTURES))


def test_import_gan_adapt_loads_no_plugins_and_no_torch():
    import subprocess

    code = ("import sys, gan_adapt, gan_adapt.cli; "
            "print('torch' in sys.modules, any(m.startswith('gan_adapt.generators') "
            "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"], out.stderr
