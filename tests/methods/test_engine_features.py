"""The generic engine features the peer methods use: generator features, G_t(w_ref) on the
step, anchor latents and per-step parameter selection."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from gan_adapt.engine.build import ActiveTerm
from gan_adapt.engine.latents import anchor_latents as _anchor_latents
from gan_adapt.engine.latents import anchor_ws as _anchor_ws
from gan_adapt.engine.updates import select_trainable as _select_trainable
from gan_adapt.errors import GanAdaptError
from gan_adapt.plugin_host.context import Step, TargetData
from gan_adapt.recipe.schema import StepKind, Term


def test_synthesis_returns_every_styled_conv_activation(tiny_generator):
    G = tiny_generator
    ws = G.mapping(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0)))
    captured = []
    hooks = [layer.register_forward_hook(lambda m, i, out: captured.append(out))
             for layer in G.synthesis.noise_layers()]
    try:
        image, features = G.synthesis(ws, noise_mode="const", return_features=True)
    finally:
        for hook in hooks:
            hook.remove()
    assert torch.equal(image, G.synthesis(ws, noise_mode="const"))
    assert len(features) == G.num_ws - 1 == len(captured)
    assert all(torch.equal(f, c) for f, c in zip(features, captured))
    resolutions = [layer.resolution for layer in G.synthesis.noise_layers()]
    assert [f.shape[-1] for f in features] == resolutions


class CountingGenerator:
    def __init__(self) -> None:
        self.calls = 0
        self.weight = torch.ones((), requires_grad=True)

    def synthesis(self, ws, noise_mode="const"):
        self.calls += 1
        return ws.sum() * self.weight * torch.ones(ws.shape[0], 3, 2, 2)


def _step(**kw):
    base = dict(phase="adapt", index=3, kind="random", ws=torch.zeros(2, 4, 1),
                target=TargetData(), generator=CountingGenerator(), source_generator=None)
    return Step(**{**base, **kw})


def test_fake_reference_is_rendered_once_per_step_and_needs_w_ref():
    step = _step(w_ref=torch.ones(1, 4, 1))
    first, second = step.fake_reference, step.fake_reference
    assert first is second and step.generator.calls == 1
    assert first.shape == (1, 3, 2, 2) and first.requires_grad
    assert not _step(w_ref=torch.ones(1, 4, 1), for_discriminator=True).fake_reference.requires_grad
    with pytest.raises(GanAdaptError, match="w_ref"):
        _step().fake_reference  # noqa: B018 - the property access itself must raise


class IdentityMapping:
    z_dim = 3

    def mapping(self, z, truncation_psi=1.0):
        return z.unsqueeze(1).repeat(1, 2, 1) * truncation_psi


def _state(seed, schedule):
    recipe = SimpleNamespace(seed=seed, adapt=SimpleNamespace(schedule=schedule))
    return SimpleNamespace(validated=SimpleNamespace(recipe=recipe), device=torch.device("cpu"),
                           components=SimpleNamespace(generator=IdentityMapping()))


def test_anchor_latents_are_seeded_and_independent_of_the_run_rng():
    kinds = [StepKind(name="a", every=4, latents="anchors", anchors=5),
             StepKind(name="b", latents="anchors", anchors=7)]
    torch.manual_seed(1)
    first = _anchor_latents(_state(0, kinds))
    torch.manual_seed(2)
    assert torch.equal(first, _anchor_latents(_state(0, kinds)))
    assert first.shape == (7, 3)  # the largest count; a kind uses the first `anchors` rows
    assert not torch.equal(first, _anchor_latents(_state(1, kinds)))
    assert _anchor_latents(_state(0, [StepKind(name="r")])) is None


def test_anchor_ws_stay_near_their_anchors():
    anchors = torch.tensor([[10.0, 0, 0], [0, 10.0, 0], [0, 0, 10.0]])
    exact = _anchor_ws(IdentityMapping(), anchors, batch=64, std=0.0, truncation=1.0)
    rows = {tuple(r.tolist()) for r in exact[:, 0]}
    assert rows == {tuple(a.tolist()) for a in anchors}  # every anchor drawn, nothing else
    near = _anchor_ws(IdentityMapping(), anchors, batch=64, std=0.1, truncation=1.0)[:, 0]
    distance = torch.cdist(near, anchors).min(dim=1).values
    assert 0 < distance.max() < 1.0


def test_anchor_step_kind_validates():
    assert StepKind(name="anchor", latents="anchors", anchors=3, anchor_std=0.05).anchors == 3
    with pytest.raises(ValueError):
        StepKind(name="anchor", latents="anchors", anchors=0)


def test_terms_narrow_the_trainable_parameters_per_step():
    params = [torch.nn.Parameter(torch.zeros(())) for _ in range(4)]
    p0, p1, p2, p3 = params

    def active(impl):
        return ActiveTerm("t", "adapt.losses[0]", Term(name="t"), impl)

    def term(chosen):
        return active(SimpleNamespace(select_parameters=lambda step: chosen))

    plain = active(object())
    _select_trainable(params, [term([p0, p1]), term([p1, p2]), term(None), plain], None)
    assert [p.requires_grad for p in params] == [False, True, False, False]
    _select_trainable(params, [plain], None)  # the next step starts from the full set again
    assert all(p.requires_grad for p in params)
    # Adam skips what got no gradient: only p1 moves
    opt = torch.optim.Adam(params, lr=0.1)
    _select_trainable(params, [term([p1])], None)
    sum(p * 1.0 for p in params if p.requires_grad).backward()
    opt.step()
    assert [float(p.detach()) for p in params] == [0.0, pytest.approx(-0.1), 0.0, 0.0]
