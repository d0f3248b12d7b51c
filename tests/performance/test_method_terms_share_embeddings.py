"""The CLIP terms of the method recipes (StyleGAN-NADA's directional loss, Mind the Gap's
within-domain and reference losses, OneShotCLIP's text mode) embed a step's images in the step's
shared batches: the same losses and G_t gradients as each term embedding its images on its own,
in fewer encoder forwards (tiny smoke-recipe models)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

from gan_adapt.encoders.base import EncoderBase
from gan_adapt.engine.latents import make_adapt_step as _make_step
from gan_adapt.engine.updates import request_embeddings as _request_embeddings
from gan_adapt.recipe.schedule import step_kind as _step_kind
from tests.performance.conftest import build_state
from tests.performance.test_step_equivalence import _close

# recipe -> (step index, fix_reference, forwards in the shared batches, forwards of the terms
# each on its own step). The ensembles have two members, each its own forwards; a member embeds
# at best twice per step: its constants without autograd, the rest with it.
CASES = {
    # G_s(w), G_t(w) per member; one term: nothing to share
    "nada-smoke": (1, False, 4, 4),
    # directional + within-domain (G_s(w), G_t(w)) + reference_clip (G_t(w_ref)): 2 + 2 + 1 per
    # member; on the first step both directional terms also embed G_s(w_ref): 3 + 3 + 1
    "mtg-smoke": (1, False, 4, 10),
    "mtg-smoke/first step": (0, True, 4, 14),
    # one CLIP: directional (G_s(w), G_t(w)), L_con (the same two) and PatchNCE (patches)
    "oneshotclip-text-smoke": (1, False, 2, 6),
}


@pytest.fixture(scope="module")
def states() -> dict:
    built = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: see conftest._one_thread
    try:
        for name in ("nada-smoke", "mtg-smoke", "oneshotclip-text-smoke"):
            # the P-norm prior of mtg-smoke's search is not used here: fit it on few samples
            extra = ["search.objective[2].params.n_samples=100"] if name == "mtg-smoke" else []
            state, (_, _, g_params, _) = build_state(extra, recipe=name)
            torch.manual_seed(3)
            with torch.no_grad():  # G_t != G_s, so that no term starts at its minimum
                for p in g_params:
                    p.add_(0.02 * p.detach().abs().mean() * torch.randn_like(p))
            built[name] = (state, g_params)
    finally:
        torch.set_num_threads(threads)
    return built


@contextmanager
def _counting(encoders) -> Iterator[list[tuple[int, int]]]:
    """Record every encoder forward as (member index, images)."""
    members = [m for e in encoders for m in e.modules() if isinstance(m, EncoderBase)]
    calls: list[tuple[int, int]] = []
    for i, member in enumerate(members):
        member.encode = (lambda pixels, i=i, original=member.encode:
                         (calls.append((i, pixels.shape[0])), original(pixels))[1])
    try:
        yield calls
    finally:
        for member in members:
            del member.encode


def _forget_reference(terms) -> None:
    """Back to the first step: the reference direction and E(G_s(w_ref)) are not fixed yet."""
    for term in terms:
        if term.spec.name == "clip_directional" and term.impl.params.direction == "reference":
            term.impl.directions = None
        if term.spec.name == "clip_within_domain":
            term.impl.source_reference = None


def _fresh_step(state, index: int):
    torch.manual_seed(11)
    random.seed(11)  # style mixing draws from Python's RNG
    return _make_step(state, _step_kind(state.validated.recipe.adapt.schedule, index), index)


def _gradients(total: torch.Tensor, params) -> list[torch.Tensor]:
    grads = torch.autograd.grad(total, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_method_terms_share_encoder_forwards_with_the_same_result(case, states):
    index, first_step, shared_forwards, alone_forwards = CASES[case]
    state, g_params = states[case.split("/")[0]]
    kind = _step_kind(state.validated.recipe.adapt.schedule, index).name
    terms = [t for t in state.components.losses
             if t.applies(kind, index) and t.spec.name not in
             ("reference_l2", "reference_lpips")]  # no encoder: nothing to compare
    encoders = state.components.encoders.values()
    if not first_step:  # fix the reference direction and E(G_s(w_ref)), outside the counts
        for term in terms:
            term(_fresh_step(state, index))

    with _counting(encoders) as forwards:
        if first_step:
            _forget_reference(terms)
        step = _fresh_step(state, index)
        _request_embeddings(step, terms)
        shared = {t.label: t(step) for t in terms}
        shared_grads = _gradients(sum(t.spec.weight * shared[t.label] for t in terms), g_params)
        assert len(forwards) == shared_forwards, forwards
        forwards.clear()
        alone, alone_grads = {}, [torch.zeros_like(p) for p in g_params]
        for term in terms:  # each term on its own step: nothing shared between terms
            if first_step:
                _forget_reference(terms)
            value = term(_fresh_step(state, index))
            alone[term.label] = value.detach()
            for total, g in zip(alone_grads, _gradients(term.spec.weight * value, g_params)):
                total += g
        assert len(forwards) == alone_forwards, forwards

    for label, value in shared.items():
        assert _close(value.detach(), alone[label]), label
    assert any(float(g.abs().sum()) > 0 for g in shared_grads)
    for a, b in zip(shared_grads, alone_grads):
        assert _close(a, b)
    ensemble = state.components.encoders["clip"]
    if hasattr(ensemble, "members"):  # a step embeds an ensemble member by member, then joins
        with torch.no_grad():
            direct = ensemble.embed_images(step.source)
        assert _close(step.embedding(ensemble, "image:source"), direct)
