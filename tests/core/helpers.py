"""Shared helpers of the core tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
TOY_RECIPE = FIXTURES / "recipes" / "toy.toml"


def toy_plugin_set(plugins_dir: Path | None = None):
    """Default plugins + the toy fixture plugin, with entry points off."""
    from gan_adapt.plugin_host.loading import load_plugins

    sys.path.insert(0, str(FIXTURES))
    try:
        import toy_plugin
    finally:
        sys.path.remove(str(FIXTURES))
    return load_plugins(plugins_dir, entry_points=False, extra=[toy_plugin])


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``gan-adapt ARGS`` in a subprocess (entry-point plugins off unless env says)."""
    full_env = {**os.environ, "GAN_ADAPT_LOAD_PLUGINS": "", **(env or {})}
    return subprocess.run([sys.executable, "-m", "gan_adapt.cli", *args], capture_output=True,
                          text=True, env=full_env, cwd=cwd or ROOT, timeout=timeout)


def assert_clean_error(result: subprocess.CompletedProcess, code: int | None = None) -> None:
    """A user error: non-zero exit, a message, no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    if code is not None:
        assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "Error" in result.stderr or "problem" in result.stderr


requires_cli = pytest.mark.usefixtures()
