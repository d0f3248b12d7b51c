"""Suite-wide settings: offline, a private weights cache, deterministic threads."""

from __future__ import annotations

import os

import pytest

# Nothing in the suite may reach the network or a real user cache.
os.environ["GAN_ADAPT_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TORCH_HOME", "/nonexistent-torch-home")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GAN_ADAPT_HOME", str(tmp_path_factory.mktemp("gan-adapt-home")))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield


@pytest.fixture(autouse=True)
def _fresh_cli_plugin_cache():
    """The CLI caches loaded plugins per process; each test starts without that cache."""
    from gan_adapt.cli import commands as cli

    cli._plugin_cache.clear()
    cli.cli._plugins_added = False
    yield
    cli._plugin_cache.clear()
