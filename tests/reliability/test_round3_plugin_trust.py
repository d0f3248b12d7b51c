"""Issue 26, critical: trust pins content, not folders.

A trusted run (made by this user here) gets its ``--plugins-dir`` folders back on ``--resume``,
``eval``, ``compare`` and ``translate``. Every file of such a folder is checked against the
run's record *before* any of it is imported, and each module is compiled from the bytes that
were checked, so:

* a changed file is refused before its code runs (its import would write a marker);
* an added file is refused by name, and never imported;
* a removed file is refused by name;
* a planted ``__pycache__/*.pyc`` (which the standard import system would run in place of the
  ``.py``: checked first, so the fixture proves something) never runs;
* ``--allow-changed-plugins`` is the explicit way past, with a warning naming each change.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sys
from importlib._bootstrap_external import _code_to_timestamp_pyc
from pathlib import Path

import pytest

from gan_adapt.errors import PluginError
from tests.core.helpers import FIXTURES, TOY_RECIPE, assert_clean_error, run_cli

PLUGIN = '''
from gan_adapt import hookimpl


class Brightness:
    def __init__(self, params, ctx):
        pass

    def __call__(self, step):
        return step.fake.mean() ** 2


@hookimpl
def register_losses(register):
    register("brightness", Brightness)
'''


def _writes(marker: Path, source: str = PLUGIN) -> str:
    """``source`` that, when imported, first writes ``marker``."""
    return f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n" + source


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def trusted(tmp_path, monkeypatch):
    """A trusted run folder (its own GAN_ADAPT_HOME) whose plugins.json records one plugin
    folder with `bright.py`; returns (run folder, plugin folder)."""
    from gan_adapt.plugin_host.provenance import is_trusted, trust_run

    monkeypatch.setenv("GAN_ADAPT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GAN_ADAPT_LOAD_PLUGINS", "")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "bright.py").write_text(PLUGIN)
    run = tmp_path / "run"
    run.mkdir()
    record = {"plugins": {}, "failures": {},
              "plugins_dirs": [{"path": str(plugins.resolve()),
                                "files": {"bright.py": _sha(plugins / "bright.py")}}]}
    (run / "plugins.json").write_text(json.dumps(record))
    trust_run(run)
    assert is_trusted(run)
    yield run, plugins
    for name in [m for m in sys.modules if m.startswith("gan_adapt_local_plugins.")]:
        sys.modules.pop(name)


def _load(run: Path, **kwargs):
    from gan_adapt.cli.commands import _plugin_cache, get_run_plugins

    _plugin_cache.clear()  # each case reads the folder afresh
    return get_run_plugins(str(run), **kwargs)


def test_the_unchanged_folder_loads(trusted):
    run, _ = trusted
    assert _load(run).registry.get("loss", "brightness") is not None


def test_changed_code_is_refused_before_it_runs(trusted, tmp_path):
    run, plugins = trusted
    marker = tmp_path / "changed-code-ran"
    (plugins / "bright.py").write_text(_writes(marker))
    with pytest.raises(PluginError) as caught:
        _load(run)
    assert not marker.exists(), "the changed plugin ran before the refusal"
    message = str(caught.value)
    assert f"plugin 'bright': the code in {plugins / 'bright.py'} changed" in message
    assert "None of its code was imported" in message and "--allow-changed-plugins" in message


def test_an_added_file_is_refused_by_name_and_never_imported(trusted, tmp_path):
    run, plugins = trusted
    marker = tmp_path / "added-file-ran"
    (plugins / "zz_added.py").write_text(_writes(marker, ""))
    (plugins / "aa_added.py").write_text(_writes(marker, ""))
    with pytest.raises(PluginError) as caught:
        _load(run)
    assert not marker.exists()
    assert f"{plugins / 'aa_added.py'} was added" in str(caught.value)
    assert f"{plugins / 'zz_added.py'} was added" in str(caught.value)


def test_a_removed_file_is_refused_by_name(trusted):
    run, plugins = trusted
    (plugins / "bright.py").unlink()
    (plugins / "other.py").write_text(PLUGIN.replace("brightness", "other"))
    with pytest.raises(PluginError, match=r"bright\.py was removed"):
        _load(run)


def test_a_planted_pyc_never_stands_in_for_the_checked_source(trusted, tmp_path):
    run, plugins = trusted
    source = plugins / "bright.py"
    marker = tmp_path / "pyc-ran"
    evil = compile(_writes(marker), str(source), "exec")
    info = source.stat()
    cache = Path(importlib.util.cache_from_source(str(source)))
    cache.parent.mkdir()
    cache.write_bytes(_code_to_timestamp_pyc(evil, int(info.st_mtime), info.st_size))
    # Control: the standard import system runs the planted bytecode, not the .py.
    spec = importlib.util.spec_from_file_location("control_bright", source)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert marker.exists(), "the fixture's .pyc is not what a plain import would run"
    marker.unlink()

    plugin_set = _load(run)
    assert not marker.exists(), "a planted __pycache__ file ran instead of the checked source"
    assert plugin_set.registry.get("loss", "brightness") is not None


def test_allow_changed_plugins_is_the_explicit_way_past(trusted, tmp_path, capsys):
    run, plugins = trusted
    marker = tmp_path / "allowed-code-ran"
    (plugins / "bright.py").write_text(_writes(marker))
    (plugins / "extra.py").write_text(PLUGIN.replace("brightness", "extra_term"))
    plugin_set = _load(run, resume=True, allow_changed=True)
    err = capsys.readouterr().err
    assert "warning: loading changed plugin code: plugin 'bright': the code in" in err
    assert f"warning: loading changed plugin code: {plugins / 'extra.py'} was added" in err
    assert marker.exists() and plugin_set.registry.get("loss", "extra_term") is not None


def test_folders_given_again_on_resume_are_pinned_too(trusted, tmp_path):
    run, plugins = trusted
    marker = tmp_path / "given-folder-ran"
    (plugins / "bright.py").write_text(_writes(marker))
    with pytest.raises(PluginError, match="changed"):
        _load(run, plugins_dir=(str(plugins),), resume=True)
    assert not marker.exists()


def test_an_untrusted_folder_pins_and_loads_nothing(trusted, tmp_path, capsys):
    run, plugins = trusted
    copy = tmp_path / "downloaded"
    shutil.copytree(run, copy)
    marker = tmp_path / "untrusted-ran"
    (plugins / "bright.py").write_text(_writes(marker))
    plugin_set = _load(copy)
    assert not marker.exists() and plugin_set.registry.get("loss", "brightness") is None
    assert "was not made by you" in capsys.readouterr().err


def test_resume_refuses_changed_code_before_it_runs_end_to_end(tmp_path):
    """The CLI: a trusted, interrupted run whose plugin file now writes a marker on import."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(FIXTURES / "toy_plugin.py", plugins / "toy_plugin.py")
    (plugins / "bright.py").write_text(PLUGIN)
    text = TOY_RECIPE.read_text().replace('image = "orange.png"',
                                          f'image = "{FIXTURES / "recipes" / "orange.png"}"')
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(text + '\n[[adapt.losses]]\nname = "brightness"\nweight = 0.1\n')
    out, env = tmp_path / "run", {"GAN_ADAPT_HOME": str(tmp_path / "home")}
    made = run_cli("run", str(recipe), "--out", str(out), "--plugins-dir", str(plugins),
                   env={**env, "TOY_INTERRUPT_AT": "2"})
    assert made.returncode == 130, made.stderr

    marker = tmp_path / "resume-ran-changed-code"
    (plugins / "bright.py").write_text(_writes(marker))
    (plugins / "later.py").write_text(_writes(marker, ""))
    refused = run_cli("run", "--resume", str(out), env=env)
    assert_clean_error(refused, 1)
    assert not marker.exists(), "changed plugin code ran before --resume refused"
    assert "bright.py changed" in refused.stderr and "later.py was added" in refused.stderr
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
