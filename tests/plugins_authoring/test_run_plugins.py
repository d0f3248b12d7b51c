"""Runs remember their plugins (content hashes, a trust record), and a run folder never makes
gan-adapt import code: copied folders only get the exact --plugins-dir to add."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.core.helpers import FIXTURES, ROOT, TOY_RECIPE, assert_clean_error, run_cli

from .conftest import write_plugin

MARKER_PLUGIN = '''
import os
from pathlib import Path
from gan_adapt import hookimpl

if os.environ.get("IMPORT_MARKER"):
    Path(os.environ["IMPORT_MARKER"]).write_text("imported")


class Brightness:
    """Mean brightness of G_t's images."""

    def __init__(self, params, ctx):
        pass

    def __call__(self, step):
        return step.fake.mean() ** 2


@hookimpl
def register_losses(register):
    register("brightness", Brightness)
'''


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One interrupted toy run made with two --plugins-dir folders (a private copy of the toy
    fixture plugin, and a loose plugin with a `brightness` loss), its own GAN_ADAPT_HOME."""
    base = tmp_path_factory.mktemp("made")
    toy, home = base / "toy", base / "home"
    toy.mkdir()
    shutil.copy(FIXTURES / "toy_plugin.py", toy / "toy_plugin.py")
    extra = write_plugin(base / "extra", "marker_plugin", MARKER_PLUGIN).parent
    text = TOY_RECIPE.read_text().replace('image = "orange.png"',
                                          f'image = "{FIXTURES / "recipes" / "orange.png"}"')
    recipe = base / "recipe.toml"
    recipe.write_text(text + '\n[[adapt.losses]]\nname = "brightness"\nweight = 0.1\n')
    out = base / "runs" / "first"
    env = {"GAN_ADAPT_HOME": str(home)}
    result = run_cli("run", str(recipe), "--out", str(out), "--plugins-dir", str(toy),
                     "--plugins-dir", str(extra), env={**env, "TOY_INTERRUPT_AT": "2"})
    assert result.returncode == 130, result.stderr
    return {"out": out, "stderr": result.stderr, "toy": toy.resolve(), "extra": extra.resolve(),
            "env": env}


def test_plugins_json_records_every_plugin_folder_and_file_with_a_hash(made, monkeypatch):
    from gan_adapt.plugin_host.provenance import content_hash, is_trusted

    out, toy, extra = made["out"], made["toy"], made["extra"]
    record = json.loads((out / "plugins.json").read_text())
    assert [d["path"] for d in record["plugins_dirs"]] == [str(toy), str(extra)]
    assert record["plugins_dirs"][1]["files"] == {
        "marker_plugin.py": content_hash(extra / "marker_plugin.py")}
    entry = record["plugins"]["marker_plugin"]
    assert entry["path"] == str(extra / "marker_plugin.py")
    assert entry["sha256"] == content_hash(extra / "marker_plugin.py")
    assert record["plugins"]["gan_adapt.losses.plugin"]["origin"] == "builtin"
    monkeypatch.setenv("GAN_ADAPT_HOME", made["env"]["GAN_ADAPT_HOME"])
    assert is_trusted(out)
    # the hint to continue names the plugin folders too
    assert (f"Continue with: gan-adapt run --resume {out} --plugins-dir {toy} "
            f"--plugins-dir {extra}") in made["stderr"]


def test_a_copied_run_folder_imports_nothing_and_names_the_plugins_dir(made, tmp_path,
                                                                       monkeypatch):
    from gan_adapt.plugin_host.provenance import trust_run

    copy = tmp_path / "downloaded" / "run"
    shutil.copytree(made["out"], copy)
    marker = tmp_path / "imported.txt"
    env = {**made["env"], "IMPORT_MARKER": str(marker)}
    result = run_cli("run", "--resume", str(copy), env=env)
    assert_clean_error(result)  # refused: its plugins are not loaded
    assert not marker.exists(), "a copied run folder made gan-adapt import its plugin code"
    assert (f"note: {copy} was not made by you on this machine (or its plugins.json changed), "
            f"so its plugin code is not loaded. If you trust it, add: --plugins-dir "
            f"{made['toy']} --plugins-dir {made['extra']}") in result.stderr
    # a plugins.json edited after the run was trusted is not trusted any more
    monkeypatch.setenv("GAN_ADAPT_HOME", made["env"]["GAN_ADAPT_HOME"])
    trust_run(copy)
    record = copy / "plugins.json"
    record.write_text(record.read_text().replace(str(made["extra"]), str(tmp_path / "evil")))
    edited = run_cli("run", "--resume", str(copy), env=env)
    assert_clean_error(edited)
    assert not marker.exists() and "was not made by you" in edited.stderr


def test_a_trusted_resume_reloads_its_plugins_and_refuses_changed_code(made):
    out = made["out"]
    plugin_file = made["extra"] / "marker_plugin.py"
    plugin_file.write_text(plugin_file.read_text().replace("** 2", "** 3"))
    refused = run_cli("run", "--resume", str(out), env=made["env"])  # no --plugins-dir
    assert_clean_error(refused, 1)
    assert f"plugin 'marker_plugin': the code in {plugin_file} changed" in refused.stderr
    assert "--allow-changed-plugins" in refused.stderr
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"

    allowed = run_cli("run", "--resume", str(out), "--allow-changed-plugins", env=made["env"])
    assert allowed.returncode == 0, allowed.stderr
    assert "warning: resuming with changed plugin code" in allowed.stderr
    assert json.loads((out / "run.json").read_text())["status"] == "done"


def test_eval_of_a_run_made_with_plugins_dir_needs_no_option(tmp_path):
    extra = write_plugin(tmp_path / "extra", "marker_plugin", MARKER_PLUGIN).parent
    recipe = tmp_path / "smoke-plus.toml"
    recipe.write_text(f'extends = "{ROOT / "recipes" / "smoke.toml"}"\nname = "smoke-plus"\n'
                      '[["adapt"."losses+"]]\nname = "brightness"\nweight = 0.1\n')
    out = tmp_path / "run"
    installed = {"GAN_ADAPT_LOAD_PLUGINS": "oneshotclip"}  # the smoke recipe's terms
    made = run_cli("run", str(recipe), "--out", str(out), "--plugins-dir", str(extra),
                   "--set", "adapt.steps=2", "--set", "search.steps=2",
                   "--set", "output.n_samples=2", env=installed)
    assert made.returncode == 0, made.stderr
    assert "brightness" in (out / "metrics.json").read_text()
    evaluated = run_cli("eval", str(out), "--n", "4", "--batch", "4", env=installed)
    assert evaluated.returncode == 0, evaluated.stderr
    assert (out / "eval.json").is_file()


FRAGILE_PLUGIN = '''
from gan_adapt import hookimpl


class Fragile:
    """Fails at adapt step 2 (the bug its author then fixes)."""

    def __init__(self, params, ctx):
        pass

    def __call__(self, step):
        if step.phase == "adapt" and step.index >= 2:
            raise ZeroDivisionError("the bug")
        return step.fake.mean() ** 2


@hookimpl
def register_losses(register):
    register("fragile", Fragile)
'''


def test_after_a_plugin_failure_the_note_names_the_option_its_fixed_resume_needs(tmp_path):
    toy, home = tmp_path / "toy", tmp_path / "home"
    toy.mkdir()
    shutil.copy(FIXTURES / "toy_plugin.py", toy / "toy_plugin.py")
    plugin = write_plugin(tmp_path / "extra", "fragile_plugin", FRAGILE_PLUGIN)
    text = TOY_RECIPE.read_text().replace('image = "orange.png"',
                                          f'image = "{FIXTURES / "recipes" / "orange.png"}"')
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(text + '\n[[adapt.losses]]\nname = "fragile"\nweight = 0.1\n')
    out, env = tmp_path / "run", {"GAN_ADAPT_HOME": str(home)}
    failed = run_cli("run", str(recipe), "--out", str(out), "--plugins-dir", str(toy),
                     "--plugins-dir", str(plugin.parent), "--set", "adapt.steps=3", env=env)
    assert_clean_error(failed, 1)
    assert "ZeroDivisionError: the bug" in failed.stderr
    assert (f"Once the plugin is fixed, continue with: gan-adapt run --resume {out} "
            "--allow-changed-plugins") in failed.stderr
    # the author fixes the plugin: a plain resume is refused, the named option goes on
    plugin.write_text(plugin.read_text().replace('raise ZeroDivisionError("the bug")', "pass"))
    refused = run_cli("run", "--resume", str(out), env=env)
    assert_clean_error(refused, 1)
    # refused before any of the folder's code is imported, naming the changed file and the option
    assert "is not as the run recorded" in refused.stderr
    assert plugin.name in refused.stderr and "--allow-changed-plugins" in refused.stderr
    resumed = run_cli("run", "--resume", str(out), "--allow-changed-plugins", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "run.json").read_text())["status"] == "done"
