"""Terms share what a step has computed (issue 27): two token terms on one encoder read G_s(w)'s
and G_t(w)'s token maps from one forward per image (Step.feature_maps), and their values and
gradients are those of each term computing its own maps."""

from __future__ import annotations

import pytest
import torch
from gan_adapt_tokens.attentive_style import AttentiveStyle
from gan_adapt_tokens.self_similarity import SelfSimilarity

from gan_adapt.plugin_host.context import Step
from gan_adapt.testing import make_context, make_step, tiny_encoder


@pytest.fixture(scope="module")
def ctx():
    return make_context(encoders={"clip": tiny_encoder()})


def _terms(ctx):
    """The benchmark's best mix: attentive style on layer 0, structure on layers 0 and 2."""
    return [AttentiveStyle(AttentiveStyle.Params(encoder="clip", layers=[0]), ctx),
            SelfSimilarity(SelfSimilarity.Params(encoder="clip", layers=[0, 2]), ctx)]


def _count_forwards(encoder, monkeypatch) -> list[int]:
    """Count the token forwards (each preprocesses its images once), by batch size."""
    calls: list[int] = []
    original = encoder.preprocess

    def preprocess(images):
        calls.append(images.shape[0])
        return original(images)
    monkeypatch.setattr(encoder, "preprocess", preprocess)
    return calls


def _evaluate(ctx, terms, *, announce=True):
    """One adapt step (the same one on every call: noise seeded, G_t moved off G_s the same
    way, so that G_t(w) and G_s(w) differ), every term evaluated."""
    torch.manual_seed(0)
    step = make_step(ctx, batch=2, seed=3)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in step.generator.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    if announce:
        for term in terms:
            term.request_embeddings(step)
    values = [term(step) for term in terms]
    return step, values


def test_one_token_forward_per_image_for_two_terms(ctx, monkeypatch):
    terms = _terms(ctx)
    _evaluate(ctx, terms)  # the first step also reads G_s(w_ref) once, for the whole run
    calls = _count_forwards(ctx.encoder("clip"), monkeypatch)
    _evaluate(ctx, terms)
    assert calls == [2, 2]  # G_s(w) and G_t(w), once each, for both terms and all layers
    calls.clear()
    monkeypatch.setattr(Step, "share_feature_maps", False)  # every term on its own
    _evaluate(ctx, terms)
    assert calls == [2, 2, 2, 2]


def test_difa_style_and_token_structure_share_g_t_s_tokens(ctx, monkeypatch):
    from gan_adapt_tokens.difa_style import DifaAttentiveStyle
    from gan_adapt_tokens.self_similarity import TokenSelfSimilarity

    terms = [DifaAttentiveStyle(DifaAttentiveStyle.Params(encoder="clip", layers=[2]), ctx),
             TokenSelfSimilarity(TokenSelfSimilarity.Params(encoder="clip", layers=[0, 2]),
                                 ctx)]
    calls = _count_forwards(ctx.encoder("clip"), monkeypatch)
    _evaluate(ctx, terms)
    assert sorted(calls) == [2, 2]  # G_t(w) once for both, G_s(w) once for the structure term


def test_a_layer_asked_for_later_costs_one_forward_for_the_missing_layers_only(ctx,
                                                                               monkeypatch):
    terms = _terms(ctx)
    _evaluate(ctx, terms)
    calls = _count_forwards(ctx.encoder("clip"), monkeypatch)
    step, _ = _evaluate(ctx, terms, announce=False)  # attentive (layer 0) runs first
    assert calls == [2, 2, 2, 2]  # layer 0 of source and fake, then layer 2 of each
    assert sorted(step.__dict__["_feature_maps"][(id(ctx.encoder("clip")), "fake",
                                                 "gan_adapt_tokens:unit_tokens")][2]) == [0, 2]


def test_shared_maps_give_the_same_losses_and_gradients(ctx, monkeypatch):
    def losses_and_grads(share: bool):
        monkeypatch.setattr(Step, "share_feature_maps", share)
        terms = _terms(ctx)
        step, values = _evaluate(ctx, terms)
        total = values[0] * 3.0 + values[1] * 20.0
        grads = torch.autograd.grad(total, step.trainable, allow_unused=True)
        return [v.detach() for v in values], grads

    shared, shared_grads = losses_and_grads(True)
    alone, alone_grads = losses_and_grads(False)
    assert all(torch.equal(a, b) for a, b in zip(shared, alone)), (shared, alone)
    assert all(v.item() > 0 for v in shared)
    for a, b in zip(shared_grads, alone_grads):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)
    assert any(g is not None and g.abs().sum() > 0 for g in shared_grads)


def test_the_search_phase_shares_too(ctx, monkeypatch):
    term = SelfSimilarity(SelfSimilarity.Params(encoder="clip", layers=[0, 2]), ctx)
    calls = _count_forwards(ctx.encoder("clip"), monkeypatch)
    step = make_step(ctx, phase="search")
    term.request_embeddings(step)
    value = term(step)
    value.backward()
    assert calls == [1] and step.ws.grad.abs().sum() > 0


def test_the_step_time_benchmark_compares_shared_and_unshared_maps_on_best(capsys,
                                                                          monkeypatch):
    import runpy
    import sys

    from tests.core.helpers import ROOT

    script = ROOT / "benchmarks" / "step_time.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--recipe", "best", "--steps", "random",
                                      "--compare", "unshared_maps", "fp32", "--repeats", "1",
                                      "--warmup", "0", "--no-flops", "--no-profile"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(script), run_name="__main__")
    assert exit_info.value.code == 0
    assert Step.share_feature_maps is True  # the baseline's switch was put back
    out = capsys.readouterr().out
    rows = {line.split(" | ")[1] for line in out.splitlines() if line.startswith("| random")}
    assert rows == {"unshared_maps", "fp32"}
    assert "random        fp32" in out and "the speed" in out
