"""One tiny finished smoke run shared by the evaluation tests (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "recipes" / "smoke.toml"


@pytest.fixture(scope="session")
def plugin_set():
    from gan_adapt.plugin_host.loading import load_plugins

    return load_plugins()


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, plugin_set) -> Path:
    """A finished smoke run with a few steps (the numbers mean nothing; the files are real)."""
    import os

    from gan_adapt.engine.launch import start

    home = tmp_path_factory.mktemp("eval-home")
    previous = os.environ.get("GAN_ADAPT_HOME")
    os.environ["GAN_ADAPT_HOME"] = str(home)
    try:
        out = tmp_path_factory.mktemp("eval-runs") / "smoke"
        start(SMOKE, plugin_set, out=out, progress_live=False,
              overrides=["adapt.steps=8", "search.steps=4", "output.sample_every=4",
                         "output.checkpoint_every=8", "output.n_samples=4"])
    finally:
        if previous is None:
            os.environ.pop("GAN_ADAPT_HOME", None)
        else:
            os.environ["GAN_ADAPT_HOME"] = previous
    return out
