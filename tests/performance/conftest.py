"""A built smoke-recipe run state (tiny StyleGAN2, tiny CLIP, random LPIPS) for the performance
tests: the engine's own components and step functions, without a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def build_state(overrides: list[str] = (), recipe: str = "smoke") -> tuple[Any, tuple]:
    """(state, (g_opt, d_opt, g_params, d_params)) of ``recipes/<recipe>.toml`` (the smoke
    recipe by default), adaptation set up and w_ref the generator's average latent."""
    from gan_adapt.engine.build import build_components
    from gan_adapt.engine.loop import setup_adaptation
    from gan_adapt.engine.run_state import RunState as Run
    from gan_adapt.plugin_host.loading import load_plugins
    from gan_adapt.recipe.schema import read_toml, validate

    plugin_set = load_plugins()
    data = read_toml(ROOT / "recipes" / f"{recipe}.toml")
    validated = validate(data, plugin_set, base_dir=ROOT / "recipes", source=recipe,
                         overrides=list(overrides))
    components = build_components(validated, plugin_set, torch.device("cpu"))
    state = Run(validated, None, components, plugin_set, torch.device("cpu"))
    G_s = components.generator
    state.w_ref = G_s.w_avg.detach().view(1, 1, -1).expand(1, G_s.num_ws, -1).contiguous()
    return state, setup_adaptation(state)


@pytest.fixture(scope="module")
def smoke_state() -> tuple[Any, tuple]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see _one_thread
    try:
        return build_state()
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one thread is faster, and immune to the stalls several threads suffer on a
    machine that other processes load."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
