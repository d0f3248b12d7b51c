"""Registration errors: duplicate names, misspelt or unmarked hooks, failed registration."""

from __future__ import annotations

import pytest

from gan_adapt.plugin_host.loading import PluginConflict, load_plugins
from tests.core.helpers import FIXTURES, assert_clean_error, run_cli

from .conftest import toy_recipe, write_plugin

BRIGHTNESS = '''
from gan_adapt import hookimpl

class Brightness:
    """Mean brightness of G_t's images."""
    def __init__(self, params, ctx):
        pass
    def __call__(self, step):
        return step.fake.mean()

@hookimpl
def register_losses(register):
    register("brightness", Brightness)
    register("{extra}", Brightness)
'''


def brightness(extra: str) -> str:
    return BRIGHTNESS.replace("{extra}", extra)


@pytest.fixture
def duplicates(tmp_path):
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "first_plugin", brightness("only_first"))
    write_plugin(plugins, "second_plugin", brightness("only_second"))
    return plugins


def test_duplicate_names_are_an_error_naming_both_plugins(duplicates):
    plugin_set = load_plugins(duplicates, entry_points=False)
    with pytest.raises(PluginConflict) as excinfo:
        plugin_set.registry  # noqa: B018 - building the registry is what raises
    message = str(excinfo.value)
    assert "two plugins claim the loss 'brightness': 'first_plugin' (" in message
    assert "and 'second_plugin' (" in message and "--prefer-plugin" in message
    assert excinfo.value.exit_code == 2


def test_a_preference_settles_a_duplicate_and_keeps_both_plugins(duplicates, monkeypatch):
    plugin_set = load_plugins(duplicates, entry_points=False, prefer=["second_plugin"])
    registry = plugin_set.registry
    assert registry.get("loss", "brightness").source == "second_plugin"
    assert registry.get("loss", "only_first").source == "first_plugin"  # the rest stays
    assert ("loss", "brightness") not in plugin_set.plugins["first_plugin"].components
    monkeypatch.setenv("GAN_ADAPT_PREFER_PLUGINS", "first_plugin")
    registry = load_plugins(duplicates, entry_points=False).registry
    assert registry.get("loss", "brightness").source == "first_plugin"


@pytest.mark.parametrize("command", ["validate", "run", "plugins"])
def test_duplicates_exit_2_from_validate_run_and_plugins(duplicates, tmp_path, command):
    recipe = toy_recipe(tmp_path)
    args = {"validate": ["validate", str(recipe)], "plugins": ["plugins"],
            "run": ["run", str(recipe), "--out", str(tmp_path / "out")]}[command]
    result = run_cli(*args, "--plugins-dir", str(FIXTURES), "--plugins-dir", str(duplicates))
    assert_clean_error(result, 2)
    assert "'first_plugin'" in result.stderr and "'second_plugin'" in result.stderr
    assert not (tmp_path / "out").exists()
    if command == "validate":
        again = run_cli(*args, "--plugins-dir", str(FIXTURES), "--plugins-dir", str(duplicates),
                        "--prefer-plugin", "first_plugin")
        assert again.returncode == 0, again.stderr


def test_an_installed_copy_does_not_silently_shadow_the_file_being_edited(tmp_path):
    """An entry-point plugin and a --plugins-dir file with the same plugin name."""
    import sys

    from gan_adapt.plugin_host.loading import PluginSet

    installed = tmp_path / "site"
    write_plugin(installed, "shadow", brightness("installed_only"))
    sys.path.insert(0, str(installed))
    try:
        import shadow
    finally:
        sys.path.remove(str(installed))
    edited = write_plugin(tmp_path / "edited", "shadow", brightness("edited_only"))

    def load(prefer=()):
        fresh = load_plugins(None, entry_points=False, prefer=prefer)
        fresh.add_module(shadow, "shadow", "1.0", "entry point gan-adapt-shadow")
        fresh.load_plugins_dir(edited.parent)
        return fresh

    assert isinstance(load(), PluginSet)  # loading itself never raises
    with pytest.raises(PluginConflict, match=r"plugin name 'shadow': 'shadow' \(entry point "
                                             r"gan-adapt-shadow\) and 'shadow' \(.*shadow.py\)"):
        load().registry  # noqa: B018 - building the registry is what raises
    registry = load(prefer=[str(edited)]).registry
    assert registry.get("loss", "edited_only") is not None
    assert registry.get("loss", "installed_only") is None
    registry = load(prefer=["gan-adapt-shadow"]).registry
    assert registry.get("loss", "installed_only") is not None
    assert registry.get("loss", "edited_only") is None


MISSPELT = '''
from gan_adapt import hookimpl

@hookimpl
def register_loss(register):
    register("never_seen", lambda params, ctx: None)
'''

UNMARKED = '''
def register_losses(register):
    register("never_seen", lambda params, ctx: None)
'''


@pytest.mark.parametrize("source, expected", [
    (MISSPELT, "its @hookimpl 'register_loss' is not a gan-adapt hook; did you mean "
               "'register_losses'?"),
    (UNMARKED, "'register_losses' is named like a hook but not marked @hookimpl"),
])
def test_misspelt_and_unmarked_hooks_are_reported(tmp_path, source, expected):
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "typo_plugin", source)
    plugin_set = load_plugins(plugins, entry_points=False)
    failure = plugin_set.failure_of("typo_plugin")
    assert failure is not None and expected in failure.error
    assert not plugin_set.has_plugin("typo_plugin")

    recipe = toy_recipe(tmp_path, losses=[{"name": "never_seen"}])
    result = run_cli("validate", str(recipe), "--plugins-dir", str(FIXTURES),
                     "--plugins-dir", str(plugins))
    assert_clean_error(result, 2)
    assert "warning: plugin 'typo_plugin' failed to register: " in result.stderr
    assert "unknown loss 'never_seen' (plugins that failed to load: 'typo_plugin': " \
        in result.stderr


def test_a_plugin_that_failed_to_register_is_not_called_not_installed(tmp_path):
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "half_done", '''
        from gan_adapt import hookimpl

        @hookimpl
        def register_losses(register):
            raise RuntimeError("the weights table is missing")
    ''')
    recipe = toy_recipe(tmp_path)
    text = recipe.read_text().replace('name = "toy"\n',
                                      'name = "toy"\nrequires = ["half_done"]\n', 1)
    recipe.write_text(text)
    result = run_cli("validate", str(recipe), "--plugins-dir", str(FIXTURES),
                     "--plugins-dir", str(plugins))
    assert_clean_error(result, 2)
    assert "requires: plugin 'half_done' is installed but did not load: failed while " \
           "registering: RuntimeError: the weights table is missing" in result.stderr
    assert "not installed" not in result.stderr
    listing = run_cli("plugins", "--plugins-dir", str(plugins))
    assert "failed to register" in listing.stdout and "weights table" in listing.stdout


def test_trace_plugins_logs_each_hook_call_with_plugin_and_time(tmp_path):
    recipe = toy_recipe(tmp_path)
    result = run_cli("validate", str(recipe), "--plugins-dir", str(FIXTURES),
                     env={"GAN_ADAPT_TRACE_PLUGINS": "1"})
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("[gan-adapt trace]")]
    assert any("register_losses" in line and "plugin 'toy_plugin'" in line
               and line.endswith(" ms") for line in lines), result.stderr
    assert any("plugin 'gan_adapt.losses.plugin'" in line for line in lines)
