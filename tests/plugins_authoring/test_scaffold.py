"""`gan-adapt new-plugin`: the package it writes installs with `pip install -e`, its own tests
(which use the installed test kit gan_adapt.testing) pass, and its recipe runs.

The install goes into a throw-away virtual environment in tmp_path, never into the one running
the suite: it is created without pip, sees this environment's packages through a .pth file, and
gets the package with this environment's pip (`--python`, `--no-deps --no-build-isolation`, so no
network). gan_adapt itself comes from this checkout through PYTHONPATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv

import pytest

from gan_adapt.errors import InputError
from gan_adapt.cli.scaffold import create, names
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
