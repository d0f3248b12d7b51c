"""The engine's optimised step paths equal the straightforward ones (tiny smoke-recipe models):
batched encoder inputs, PatchNCE micro-batches; the constants of a step stay constants; bf16
mixed precision still trains."""

from __future__ import annotations

import copy
import random
import runpy
import sys

import pytest
import torch

from gan_adapt.engine import updates
from gan_adapt.engine.latents import make_adapt_step as _make_step
from gan_adapt.engine.loop import set_precision, setup_adaptation
from gan_adapt.engine.updates import adapt_step
from gan_adapt.engine.updates import request_embeddings as _request_embeddings
from gan_adapt.recipe.schedule import step_kind as _step_kind
from tests.performance.conftest import ROOT


def _terms(state, kind_name: str, names: set[str]):
    return [t for t in state.components.losses
            if t.spec.name in names and t.applies(kind_name, 1)]


def _losses_and_grads(state, g_params, terms, *, announce: bool, seed: int = 7):
    """Weighted loss of ``terms`` on a fresh random step (same seed: same latents, noise and
    boxes) and its gradient w.r.t. G_t's trainable parameters."""
    kind = _step_kind(state.validated.recipe.adapt.schedule, 1)
    torch.manual_seed(seed)
    random.seed(seed)  # style mixing draws from Python's RNG
    step = _make_step(state, kind, 1)
    if announce:
        _request_embeddings(step, terms)
    values = {t.label: t(step) for t in terms}
    total = sum(t.spec.weight * values[t.label] for t in terms)
    grads = torch.autograd.grad(total, g_params)
    return {k: v.detach() for k, v in values.items()}, grads


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 2e-5) -> bool:
    """Relative to the size of ``b``; L_con is ~0 while G_t still equals G_s."""
    return float((a - b).norm()) <= tol * float(b.norm()) + 1e-7


def test_step_inputs_embedded_together_equal_separate_forwards(smoke_state):
    state, (_, _, g_params, _) = smoke_state
    terms = _terms(state, "random", {"clip_consistency", "patch_nce"})
    encoder = state.components.encoders["clip"]
    forwards = []
    original = encoder.encode
    encoder.encode = lambda pixels: (forwards.append(pixels.shape[0]), original(pixels))[1]
    try:
        batched, batched_grads = _losses_and_grads(state, g_params, terms, announce=True)
        assert forwards == [2 + 2 * 8, 2 + 2 * 8]  # constants, then the rest: two forwards
        forwards.clear()
        separate, separate_grads = _losses_and_grads(state, g_params, terms, announce=False)
        assert forwards == [2, 2, 2 * 8, 2 * 8]  # each term its own two forwards
    finally:
        del encoder.encode
    for label in batched:
        assert _close(batched[label], separate[label]), label
    for a, b in zip(batched_grads, separate_grads):
        assert _close(a, b)


def test_patch_nce_micro_batches_give_the_same_loss_and_gradients(smoke_state):
    state, (_, _, g_params, _) = smoke_state
    (term,) = _terms(state, "random", {"patch_nce"})
    whole, whole_grads = _losses_and_grads(state, g_params, [term], announce=True)
    term.impl.params.micro_batch = 3  # 16 patches: chunks of 3, 3, 3, 3, 3 and 1
    try:
        chunked, chunked_grads = _losses_and_grads(state, g_params, [term], announce=True)
    finally:
        term.impl.params.micro_batch = None
    assert _close(chunked[term.label], whole[term.label])
    assert any(float(g.abs().sum()) > 0 for g in chunked_grads)
    for a, b in zip(chunked_grads, whole_grads):
        assert _close(a, b, tol=1e-4)


def test_constants_of_a_step_get_no_graph_and_no_gradient(smoke_state):
    state, (g_opt, d_opt, g_params, d_params) = smoke_state
    schedule = state.validated.recipe.adapt.schedule
    reference, random_kind = _step_kind(schedule, 4), _step_kind(schedule, 1)
    step = _make_step(state, random_kind, 1)
    assert step.source.grad_fn is None and not step.source.requires_grad  # G_s under no_grad
    assert not _make_step(state, reference, 4, for_discriminator=True).fake.requires_grad
    for index in (4, 1):  # a reference step (w_ref) and a random step (CLIP, PatchNCE)
        adapt_step(state, _step_kind(schedule, index), index, g_opt, d_opt, g_params, d_params)
    assert not state.w_ref.requires_grad and state.w_ref.grad is None  # w_ref: a constant
    frozen = [state.components.generator, *state.components.encoders.values(),
              *(t.impl for t in state.components.losses if t.spec.name == "lpips")]
    for module in frozen:
        assert all(not p.requires_grad and p.grad is None for p in module.parameters())
    assert all(not p.requires_grad for p in d_params)  # D trains only in its own update


def test_precision_is_a_validated_recipe_option():
    from gan_adapt.errors import RecipeError
    from tests.performance.conftest import build_state

    with pytest.raises(RecipeError, match="precision"):
        build_state(["adapt.precision=fp16"])


def _mse_to_target(state) -> float:
    with torch.no_grad():
        image = state.G_t.synthesis(state.w_ref, noise_mode="const")
    return float((image - state.components.ctx.target.image).square().mean())


def test_bf16_mixed_precision_still_trains_like_fp32(smoke_state):
    """Ten steps (eight reference steps, R1 on the first, and two random steps: every term and
    both discriminators) with a higher learning rate, from the same start in fp32 and bf16."""
    state = copy.copy(smoke_state[0])
    c = state.components
    modules = [c.discriminator, *[t.impl for t in c.losses if isinstance(t.impl, torch.nn.Module)]]
    saved = [copy.deepcopy(m.state_dict()) for m in modules]
    schedule = state.validated.recipe.adapt.schedule
    reference, random_kind = _step_kind(schedule, 0), _step_kind(schedule, 1)
    result = {}
    try:
        for precision in ("fp32", "bf16"):
            for module, weights in zip(modules, saved):
                module.load_state_dict(weights)
            torch.manual_seed(0)
            random.seed(0)
            g_opt, d_opt, g_params, d_params = setup_adaptation(state)
            for group in g_opt.param_groups:
                group["lr"] = 0.01
            set_precision(state, "adapt", precision)
            before = _mse_to_target(state)
            for index in range(10):
                kind = random_kind if index in (3, 7) else reference
                values = adapt_step(state, kind, index, g_opt, d_opt, g_params, d_params)
                assert all(torch.isfinite(v) for v in values.values())
            result[precision] = (before, _mse_to_target(state))
    finally:
        set_precision(state, "adapt", "fp32")
        for module, weights in zip(modules, saved):
            module.load_state_dict(weights)
    (start, fp32), (_, bf16) = result["fp32"], result["bf16"]
    assert fp32 < 0.2 * start and bf16 < 0.2 * start  # both pull G_t(w_ref) to the target
    assert 0.5 * fp32 < bf16 < 2 * fp32


def test_step_time_benchmark_runs_on_the_tiny_models(capsys, monkeypatch):
    script = ROOT / "benchmarks" / "step_time.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--tiny", "--steps", "random",
                                      "--compare", "naive", "bf16,micro_batch=4,clip_size=16",
                                      "--repeats", "2", "--tensor-memory",
                                      "--warmup", "0", "--no-profile"])
    original_request = updates.request_embeddings
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(script), run_name="__main__")
    assert exit_info.value.code == 0
    assert updates.request_embeddings is original_request  # the waste patches were undone
    out = capsys.readouterr().out
    # fp32 (naive) and bf16 + 16 px CLIP steps alternate: neither leaves the other's state behind
    rows = {line.split(" | ")[1]: line for line in out.splitlines() if line.startswith("| random")}
    assert set(rows) == {"naive", "bf16,micro_batch=4,clip_size=16"}
    assert "live tensors at peak GiB" in out
    for row in rows.values():  # the live-tensor column holds a figure
        assert float(row.split(" | ")[4]) > 0
    assert "random        bf16,micro_batch=4,clip_size=16" in out and "the speed" in out
