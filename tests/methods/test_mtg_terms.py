"""Mind the Gap's terms against hand-computed values."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from gan_adapt_mtg.pnorm import PCAStats, PNormL2
from gan_adapt_mtg.reference import ReferenceClip, ReferenceL2, ReferenceLPIPS
from gan_adapt_mtg.within import ClipWithinDomain

from gan_adapt.errors import GanAdaptError
from gan_adapt.plugin_host.context import TargetData
from tests.methods.fakes import ColourEncoder, Ensemble, colour_images, cos3, engine_step


def test_pca_whitening_by_hand():
    codes = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    stats = PCAStats.fit(codes)
    # mean 0; covariance diag(2/3, 8/3) (n - 1 = 3): whitened (1, 2) -> (1/sqrt(2/3), 2/sqrt(8/3))
    assert stats.mean.tolist() == pytest.approx([0.0, 0.0])
    assert sorted(stats.std.tolist()) == pytest.approx([math.sqrt(2 / 3), math.sqrt(8 / 3)])
    squares = stats.whiten(torch.tensor([[1.0, 2.0]])).pow(2).flatten().tolist()
    assert sorted(squares) == pytest.approx([1.5, 1.5])


class IdentityMapping:
    """w = z on every layer, so P-space codes are leaky_relu_5(z)."""

    z_dim, c_dim = 2, 0
    w_avg = torch.zeros(2)

    def mapping(self, z):
        return z.unsqueeze(1).repeat(1, 3, 1)


def test_pnorm_of_the_fitted_samples_is_one_minus_one_over_n():
    n = 500
    term = PNormL2(PNormL2.Params(n_samples=n, seed=3),
                   SimpleNamespace(generator=IdentityMapping(), device=torch.device("cpu")))
    z = torch.randn(n, 2, generator=torch.Generator().manual_seed(3))
    # whitened coordinates of the fit's own samples have sample variance 1 (over n - 1), so
    # their mean square is (n - 1) / n, on every layer
    value = term(SimpleNamespace(ws=z.unsqueeze(1).repeat(1, 3, 1)))
    assert value.item() == pytest.approx((n - 1) / n, rel=1e-4)
    w = torch.zeros(1, 3, 2, requires_grad=True)
    term(SimpleNamespace(ws=w)).backward()
    assert w.grad.abs().sum() > 0


def _ctx(encoder=None, image=None):
    return SimpleNamespace(encoder=lambda name: encoder, target=TargetData(image=image),
                           device=torch.device("cpu"))


class ReferenceGenerator:
    """Renders w_ref in green."""

    def synthesis(self, ws, noise_mode="const"):
        return colour_images(*([[0, 1, 0]] * ws.shape[0]))


def test_within_domain_by_hand_and_per_member():
    target = colour_images([0, 0, 1])  # I_ref: blue
    step = engine_step(source=colour_images([1, 0, 0], [1, 1, 0]),
                       fake=colour_images([1, 0, 1], [0, 1, 1]), w_ref=torch.zeros(1, 3, 2),
                       source_generator=ReferenceGenerator())
    enc = ColourEncoder()
    term = ClipWithinDomain(ClipWithinDomain.Params(), _ctx(enc, target))
    r2 = 1 / math.sqrt(2)
    g, b = [0, 1, 0], [0, 0, 1]
    pairs = [([r2, 0, r2], [1, 0, 0]), ([0, r2, r2], [r2, r2, 0])]  # (E(G_t(w)), E(G_s(w)))
    expected = sum(1 - cos3([f - r for f, r in zip(ft, b)], [s - q for s, q in zip(fs, g)])
                   for ft, fs in pairs) / 2
    assert term(step).item() == pytest.approx(expected, abs=1e-6)
    ensemble = Ensemble([ColourEncoder(), ColourEncoder()], (0.5, 0.5))
    mixed = ClipWithinDomain(ClipWithinDomain.Params(), _ctx(ensemble, target))
    assert mixed(step).item() == pytest.approx(expected, abs=1e-6)
    with pytest.raises(GanAdaptError, match="w_ref"):
        term(engine_step(source=step.source, fake=step.fake, w_ref=None))


def test_reference_clip_and_l2_by_hand():
    target = colour_images([0, 0, 1])
    step = engine_step(fake_reference=colour_images([0, 1, 1]))
    clip = ReferenceClip(ReferenceClip.Params(), _ctx(ColourEncoder(), target))
    assert clip(step).item() == pytest.approx(1 - 1 / math.sqrt(2), abs=1e-6)
    # squared error: channel 1 differs by 1 -> mean over 3 channels = 1/3 (constant images keep
    # their value when resized)
    for size in (None, 8):
        l2 = ReferenceL2(ReferenceL2.Params(resize_to=size), _ctx(image=target))
        assert l2(step).item() == pytest.approx(1 / 3, abs=1e-5)
    with pytest.raises(GanAdaptError, match="target image"):
        ReferenceL2(ReferenceL2.Params(), _ctx())


def test_reference_lpips_zero_on_the_target_and_declares_its_weights():
    target = torch.rand(1, 3, 32, 32) * 2 - 1
    term = ReferenceLPIPS(ReferenceLPIPS.Params(net="alex", pretrained=False, resize_to=32),
                          _ctx(image=target))
    assert term(SimpleNamespace(fake_reference=target)).item() == pytest.approx(0.0, abs=1e-6)
    assert term(SimpleNamespace(fake_reference=-target)).item() > 0
    needed = ReferenceLPIPS.required_weights(ReferenceLPIPS.Params(), None)
    assert [w.filename for w in needed] == ["vgg16-397923af.pth"]
    assert ReferenceLPIPS.required_weights(ReferenceLPIPS.Params(pretrained=False), None) == []
