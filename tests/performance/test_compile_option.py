"""The recipe option ``compile``: compiled steps equal eager ones, R1 falls back to eager, and
checkpoints do not change.

Inductor's C++ code generation takes minutes per graph on this project's 2-core CPU, so these
tests compile with the ``aot_eager`` backend: the same graph capture (TorchDynamo) and autograd
tracing (AOTAutograd, whose once-differentiable graphs are why R1 must stay eager) as inductor,
without code generation. ``benchmarks/compile_speed.py`` compares inductor with eager at real
sizes. The networks are 8-px StyleGAN2s: tracing time grows with the number of layers.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from gan_adapt import hookimpl
from gan_adapt.engine.loop import setup_adaptation
from gan_adapt.engine.run_state import RunState as Run
from gan_adapt.engine.updates import adapt_step, search_step
from gan_adapt.generators import compiling
from gan_adapt.generators.compiling import compile_networks, eager, uncompile_networks
from gan_adapt.recipe.schedule import step_kind as _step_kind
from tests.performance.conftest import ROOT

RECIPE = """
name = "compile-test"
description = "8-px StyleGAN2, random latents, a global and a patch D (R1 every 4)."
seed = 0
device = "cpu"
generator = {{ name = "stylegan2", params = {{ checkpoint = "{checkpoint}", which = "g_ema" }} }}
discriminator = {{ name = "stylegan2", params = {{ checkpoint = "{checkpoint}" }} }}
target = {{ image = "{target}" }}

[search]
steps = 2
objective = [{{ name = "mse", weight = 1.0 }}, {{ name = "latent_l2", weight = 0.01 }}]

[adapt]
steps = 6
compile = true
schedule = [{{ name = "random", batch = 2, mixing = 0.9 }}]
losses = [
  {{ name = "adversarial", params = {{ r1_every = 4 }} }},
  {{ name = "patch_adversarial", params = {{ feature = "b8.conv1", r1_every = 4 }} }},
  {{ name = "mse" }},
]

[output]
sample_every = 3
checkpoint_every = 3
n_samples = 2
"""


@pytest.fixture(scope="module")
def recipe_path(tmp_path_factory) -> Path:
    from gan_adapt.generators import write_tiny_checkpoint

    folder = tmp_path_factory.mktemp("compile")
    checkpoint = write_tiny_checkpoint(folder / "tiny-8.pt", resolution=8, channels=8, w_dim=16)
    path = folder / "recipe.toml"
    path.write_text(RECIPE.format(checkpoint=checkpoint.as_posix(),
                                  target=(ROOT / "recipes/targets/sketch.png").as_posix()))
    return path


@pytest.fixture(scope="module")
def compiled_state(recipe_path):
    """A built run state (adaptation set up with ``adapt.compile = true``) and its optimisers."""
    from gan_adapt.engine.build import build_components
    from gan_adapt.plugin_host.loading import load_plugins
    from gan_adapt.recipe.schema import read_toml, validate

    plugin_set = load_plugins()
    validated = validate(read_toml(recipe_path), plugin_set, base_dir=recipe_path.parent,
                         source="compile-test")
    components = build_components(validated, plugin_set, torch.device("cpu"))
    state = Run(validated, None, components, plugin_set, torch.device("cpu"))
    G_s = components.generator
    state.w_ref = G_s.w_avg.detach().view(1, 1, -1).expand(1, G_s.num_ws, -1).contiguous()
    backend = compiling.BACKEND
    compiling.BACKEND = "aot_eager"
    try:
        return state, setup_adaptation(state)
    finally:
        compiling.BACKEND = backend


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> bool:
    return float((a - b).norm()) <= tol * float(b.norm()) + 1e-7


def _recorded_step(state, optimisers, index: int) -> tuple[dict, list[torch.Tensor]]:
    """The values and the gradients of one adapt step; the optimisers' steps only record the
    gradients, so the weights stay put and every call starts from the same state."""
    g_opt, d_opt, g_params, d_params = optimisers
    grads: list[torch.Tensor] = []

    def recorder(params):
        return lambda: grads.extend(p.grad.clone() if p.grad is not None
                                    else torch.zeros_like(p) for p in params)

    g_opt.step, d_opt.step = recorder(g_params), recorder(d_params)
    try:
        torch.manual_seed(index)
        random.seed(index)
        kind = _step_kind(state.validated.recipe.adapt.schedule, index)
        values = adapt_step(state, kind, index, g_opt, d_opt, g_params, d_params)
    finally:
        del g_opt.step, d_opt.step
    return values, grads


def _assert_same(compiled: tuple[dict, list], reference: tuple[dict, list]) -> None:
    (values, grads), (ref_values, ref_grads) = compiled, reference
    assert values.keys() == ref_values.keys()
    for key in values:
        assert _close(values[key], ref_values[key]), key
    assert len(grads) == len(ref_grads)
    assert any(float(g.abs().sum()) > 0 for g in ref_grads)
    for a, b in zip(grads, ref_grads):
        assert _close(a, b, tol=1e-4)


def test_compiled_adapt_steps_equal_eager_and_r1_steps_run_eagerly(compiled_state):
    state, optimisers = compiled_state
    assert state.G_t.synthesis._compiled_call_impl is not None  # the recipe option applied
    # Step 1: the global D (D.forward) and the patch D (D.features) without R1.
    with eager():
        reference = _recorded_step(state, optimisers, 1)
    _assert_same(_recorded_step(state, optimisers, 1), reference)
    # Step 4: the same with both R1 penalties, which would fail in a compiled D ("does not
    # support double backward") without the eager fallback. (One step kind, one batch size:
    # each new shape or autograd mode compiles every graph again, seconds each.)
    with eager():
        reference = _recorded_step(state, optimisers, 4)
    compiled = _recorded_step(state, optimisers, 4)
    assert {"D/adversarial", "D/patch_adversarial"} <= compiled[0].keys()
    _assert_same(compiled, reference)


def test_compiled_search_step_equals_eager(compiled_state):
    state, _ = compiled_state
    G_s = state.components.generator
    assert G_s.synthesis._compiled_call_impl is not None  # as search.compile would leave it

    def step() -> tuple[dict, torch.Tensor]:
        w = G_s.w_avg.detach().clone().unsqueeze(0).requires_grad_(True)
        values = search_step(state, w, torch.optim.Adam([w], lr=0.01), 0)
        return values, w.grad

    with eager():
        ref_values, ref_grad = step()
    values, grad = step()
    assert values.keys() == ref_values.keys()
    for key in values:
        assert _close(values[key], ref_values[key]), key
    assert float(ref_grad.abs().sum()) > 0
    assert _close(grad, ref_grad)


def test_compiled_networks_keep_their_state_dict_keys_and_uncompile():
    from gan_adapt.generators import tiny

    G, D = tiny(8, channels=8, w_dim=16)
    keys = {"G": list(G.state_dict()), "D": list(D.state_dict())}
    compile_networks([G.synthesis, D], backend="aot_eager")
    assert list(G.state_dict()) == keys["G"] and list(D.state_dict()) == keys["D"]
    assert not any("_orig_mod" in k for k in keys["G"] + keys["D"])
    G.load_state_dict(G.state_dict())
    assert "features" in D.__dict__  # the patch discriminator's pass is compiled too
    uncompile_networks([G.synthesis, D])
    assert G.synthesis._compiled_call_impl is None and "features" not in D.__dict__
    assert D.features.__func__ is type(D).features


class _StopAfter:
    """Observer plugin: interrupts the run (as Ctrl-C does) after adapt step ``index``."""

    def __init__(self, index: int) -> None:
        self.index = index

    @hookimpl
    def on_step_end(self, run, phase, step, values) -> None:
        if phase == "adapt" and step == self.index:
            run.interrupted = True


def test_compiled_run_checkpoints_resumes_and_saves_plain_weights(recipe_path, tmp_path,
                                                                  monkeypatch):
    """An end-to-end run with ``search.compile`` and ``adapt.compile``, interrupted after its
    first R1-free steps and resumed: the same result as an eager run, and files without
    compiled-module keys."""
    from gan_adapt.engine.launch import start
    from gan_adapt.generators import load
    from gan_adapt.plugin_host.loading import load_plugins

    monkeypatch.setattr(compiling, "BACKEND", "aot_eager")
    eager_run = start(recipe_path, load_plugins(), out=tmp_path / "eager",
                      overrides=["adapt.compile=false"])
    interrupted = start(recipe_path, load_plugins(extra=[_StopAfter(2)]),
                        out=tmp_path / "compiled", overrides=["search.compile=true"])
    assert interrupted.status == "interrupted"
    resumed = start(None, load_plugins(), resume=interrupted.folder)
    assert resumed.status == "done"
    checkpoint = torch.load(sorted((resumed.folder / "checkpoints").glob("*.pt"))[-1],
                            weights_only=True)
    assert not any("_orig_mod" in k for k in [*checkpoint["G_t"], *checkpoint["D"]])
    G_compiled = load(resumed.folder / "generator" / "native")
    G_eager = load(eager_run.folder / "generator" / "native")
    for (name, a), b in zip(G_compiled.state_dict().items(), G_eager.state_dict().values()):
        assert _close(a, b, tol=1e-4), name
