"""Helpers for tests of the plugin-author experience: throw-away loose plugins and recipes."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from tests.core.helpers import FIXTURES, TOY_RECIPE


def write_plugin(folder: Path, name: str, source: str) -> Path:
    """A loose plugin file ``folder/name.py`` (dedented)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def toy_recipe(tmp_path: Path, *, losses: list[dict[str, Any]] | None = None,
               objective: list[dict[str, Any]] | None = None,
               encoders: dict[str, Any] | None = None, steps: int = 2) -> Path:
    """The toy fixture recipe, shortened, with extra losses / objective / encoders."""
    data = tomllib.loads(TOY_RECIPE.read_text())
    data["target"]["image"] = str(FIXTURES / "recipes" / "orange.png")
    data["search"]["steps"] = steps
    data["adapt"]["steps"] = steps
    if losses is not None:
        data["adapt"]["losses"] = data["adapt"]["losses"] + losses
    if objective is not None:
        data["search"]["objective"] = objective
    if encoders is not None:
        data["encoders"] = encoders
    path = tmp_path / "recipe.toml"
    path.write_text(tomli_w.dumps(data))
    return path


@pytest.fixture
def run_in_process(tmp_path):
    """``run(recipe, plugins_dir, check=False)``: the engine in this process, toy plugin loaded."""
    from gan_adapt.engine.launch import start
    from gan_adapt.plugin_host.contracts import checking
    from tests.core.helpers import toy_plugin_set

    runs = iter(range(1000))

    def run(recipe: Path, plugins_dir: Path | None = None, check: bool = False):
        with checking(check):
            return start(recipe, toy_plugin_set(plugins_dir),
                         out=tmp_path / f"run-{next(runs)}", progress_live=False)
    return run
