"""`gan-adapt new-plugin`: the package it writes installs with `pip install -e`, its own tests
(which use the installed test kit gan_adapt.testing) pass, and its recipe runs.

The install goes into a throw-away virtual environment in tmp_path, never into the one running
the suite: it is created without pip, sees this environment's packages through a .pth file, and
gets the package with this environment's pip (`--python`, `--no-deps --no-build-isolation`, so no
network). gan_adapt itself comes from this checkout through PYTHONPATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from gan_adapt.cli.scaffold import MAX_NAME_LENGTH, create, names
from gan_adapt.errors import InputError
from tests.core.helpers import ROOT, run_cli


def test_names_follow_the_conventions_and_bad_names_are_refused(tmp_path):
    assert names("sketch-tone") == {
        "name": "sketch-tone", "snake": "sketch_tone", "dist": "gan-adapt-sketch-tone",
        "package": "gan_adapt_sketch_tone", "loss": "sketch_tone_embedding",
        "objective": "sketch_tone_pixels", "encoder": "sketch_tone_pool"}
    for bad in ["Sketch", "1up", "a b", "../evil", "x-"]:
        with pytest.raises(InputError, match="a plugin name is lower-case"):
            names(bad)
    (tmp_path / "gan-adapt-taken").mkdir()
    result = run_cli("new-plugin", "taken", "--out", str(tmp_path))
    assert result.returncode == 1 and "already exists" in result.stderr
    assert list((tmp_path / "gan-adapt-taken").iterdir()) == []


def _throwaway_venv(folder):
    venv.EnvBuilder(with_pip=False).create(folder)
    purelib = subprocess.run([str(folder / "bin" / "python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    with open(os.path.join(purelib, "outer-environment.pth"), "w") as handle:
        handle.write(ours + "\n")
    return folder / "bin" / "python"


def test_the_scaffold_installs_and_its_tests_pass_and_its_recipe_runs(tmp_path):
    root = create("sketch-tone", tmp_path)
    python = _throwaway_venv(tmp_path / "venv")
    checkout = [str(ROOT)] + [str(p) for p in sorted((ROOT / "plugins").iterdir()) if p.is_dir()]
    env = {k: v for k, v in os.environ.items() if k != "GAN_ADAPT_LOAD_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join(checkout)
    env["COLUMNS"] = "200"  # the plugins table is not cut
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                              "-q", "--no-deps", "--no-build-isolation", "--no-index", "-e",
                              str(root)], capture_output=True, text=True, env=env, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    # the entry point is what the installed package declares
    listed = subprocess.run([str(python), "-m", "gan_adapt", "plugins"], capture_output=True,
                            text=True, env=env, timeout=300)
    assert listed.returncode == 0, listed.stderr
    assert "sketch_tone" in listed.stdout and "gan-adapt-sketch-tone" in listed.stdout
    tests = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(root / "tests")], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=600)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "5 passed" in tests.stdout, tests.stdout


# ---------------------------------------------------------------------------------------------
# The author's loop without installing (issue 27): --plugins-dir reads a package folder's entry
# points, the scaffold's tests run the recipe in-process, and its code passes ruff.


def _checkout_env():
    """This checkout on PYTHONPATH; no entry-point plugin of the environment is loaded."""
    checkout = [str(ROOT)] + [str(p) for p in sorted((ROOT / "plugins").iterdir()) if p.is_dir()]
    env = {k: v for k, v in os.environ.items() if k != "GAN_ADAPT_PLUGINS_DIR"}
    env["PYTHONPATH"] = os.pathsep.join(checkout)
    env["GAN_ADAPT_LOAD_PLUGINS"] = ""
    return env


def test_the_scaffolds_own_tests_pass_without_installing_it(tmp_path):
    root = create("tone-loss", tmp_path)
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(root / "tests")], capture_output=True, text=True,
                           env=_checkout_env(), cwd=tmp_path, timeout=600)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "5 passed" in tests.stdout, tests.stdout
    # nothing was installed: the environment does not know the package
    probe = subprocess.run([sys.executable, "-c", "import gan_adapt_tone_loss"],
                           capture_output=True, text=True, env=_checkout_env(), cwd=tmp_path)
    assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr


def test_plugins_dir_loads_a_package_folder_from_its_pyproject_entry_points(tmp_path):
    root = create("tone-loss", tmp_path)
    listed = run_cli("plugins", "--plugins-dir", str(root), env={"COLUMNS": "250"})
    assert listed.returncode == 0, listed.stderr
    assert "tone_loss" in listed.stdout and "loss:tone_loss_embedding" in listed.stdout
    assert f"package {root.resolve()}" in listed.stdout.replace("\n", "")
    # the recipe's requires = ["tone_loss"] is met by the folder, uninstalled
    recipe = root / "recipes" / "tone-loss-smoke.toml"
    assert 'requires = ["tone_loss"]' in recipe.read_text()
    checked = run_cli("validate", str(recipe), "--plugins-dir", str(root))
    assert checked.returncode == 0, checked.stderr
    missing = run_cli("validate", str(recipe))
    assert missing.returncode == 2 and "requires: plugin 'tone_loss'" in missing.stderr
    imports = run_cli("plugins", "--check", "--plugins-dir", str(root))
    assert imports.returncode == 0 and "components import." in imports.stdout, imports.stderr


def test_a_package_folder_without_gan_adapt_entry_points_is_a_named_failure(tmp_path):
    from gan_adapt.plugin_host.loading import load_plugins

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    plugin_set = load_plugins(tmp_path, entry_points=False)
    assert [f.name for f in plugin_set.failures] == [tmp_path.name]
    assert "declares no entry point in the 'gan_adapt' group" in plugin_set.failures[0].error


def test_load_plugins_without_entry_points_ignores_the_plugins_dir_variable(tmp_path,
                                                                              monkeypatch):
    from gan_adapt.plugin_host.loading import load_plugins

    (tmp_path / "stray.py").write_text("raise RuntimeError('must not be imported')\n")
    monkeypatch.setenv("GAN_ADAPT_PLUGINS_DIR", str(tmp_path))
    assert load_plugins(entry_points=False).failures == []
    monkeypatch.setenv("GAN_ADAPT_LOAD_PLUGINS", "")
    loaded = load_plugins()  # with entry points on, the variable still counts
    assert [f.name for f in loaded.failures] == ["stray"]
    # ... and names a plugin package folder as --plugins-dir does
    package = create("env-loss", tmp_path / "pkg")
    monkeypatch.setenv("GAN_ADAPT_PLUGINS_DIR", str(package))
    try:
        assert load_plugins().has_plugin("env_loss")
    finally:
        for name in [m for m in sys.modules if m.startswith("gan_adapt_env_loss")]:
            del sys.modules[name]
        sys.path.remove(str(package.resolve()))


def test_scaffolded_code_passes_ruff(tmp_path):
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    longest = "a" * MAX_NAME_LENGTH
    for name in ["tone-loss", "x", longest]:
        root = create(name, tmp_path)
        result = subprocess.run([ruff, "check", "--no-cache", "."], capture_output=True,
                                text=True, cwd=root, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        # the package's own settings are gan-adapt's (E, F, W, I, B, UP; 100 columns)
        assert 'select = ["E", "F", "W", "I", "B", "UP"]' in (root / "pyproject.toml").read_text()
    with pytest.raises(InputError, match="at most 24 characters"):
        names(longest + "a")


def test_a_package_folder_shadowed_by_a_copy_imported_first_is_a_named_failure(tmp_path):
    from gan_adapt.plugin_host.loading import load_plugins

    first = create("tone-loss", tmp_path / "installed")
    second = create("tone-loss", tmp_path / "working")
    try:
        load_plugins(first, entry_points=False)  # imports gan_adapt_tone_loss from `first`
        plugin_set = load_plugins(second, entry_points=False)
    finally:
        for name in [m for m in sys.modules if m.startswith("gan_adapt_tone_loss")]:
            del sys.modules[name]
        for folder in (first, second):
            if str(folder.resolve()) in sys.path:
                sys.path.remove(str(folder.resolve()))
    (failure,) = plugin_set.failures
    assert failure.name == "tone_loss" and "tone_loss" not in plugin_set.plugins
    assert f"was already imported from {first.resolve()}" in failure.error
    assert "uninstall that copy" in failure.error
