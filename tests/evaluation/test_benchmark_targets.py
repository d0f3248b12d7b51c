"""The benchmark's targets: far in-range seeds by the protocol's rule, out-of-range renders."""

from __future__ import annotations

import pytest
import torch

from gan_adapt.errors import GanAdaptError
from gan_adapt.evaluation import benchmark_targets as bt


class Constant(torch.nn.Module):
    """A 'generator' whose image for seed s is the constant (s mod 7) / 7: its distance from the
    average face (z = 0, image 0) is known by hand."""

    z_dim, img_resolution = 1, 4

    def mapping(self, z, truncation_psi=1.0):
        return z

    def synthesis(self, w, noise_mode="const"):
        return w.reshape(-1, 1, 1, 1).expand(-1, 3, 4, 4)


def test_far_seeds_follow_the_rule(monkeypatch):
    # gan_image(seed) = z_seed; replace it by a value we control: seed % 7 / 7.
    monkeypatch.setattr(bt, "gan_image", lambda G, seed: torch.full((1, 3, 4, 4), seed % 7 / 7))
    monkeypatch.setattr(bt, "average_face", lambda G: torch.zeros(1, 3, 4, 4))

    def distance(x, y):
        return (x - y).abs().mean(dim=(1, 2, 3))

    seeds, threshold = bt.far_seeds(Constant(), distance, 3)
    reference = torch.tensor([s % 7 / 7 for s in bt.REFERENCE_SEEDS])
    assert threshold == pytest.approx(float(torch.quantile(reference, 0.75)))
    # From 100 on: 100 % 7 = 2, 101 -> 3, 102 -> 4, 103 -> 5, 104 -> 6; above ~0.714 only 6/7
    assert seeds == [104, 111, 118]


def test_render_targets_are_deterministic_and_not_generated():
    G = Constant()
    targets = bt.make_targets(G, "render", render_seeds=[5001, 5002])
    again = bt.make_targets(G, "render", render_seeds=[5001, 5002])
    assert [t.id for t in targets] == ["render-5001", "render-5002"]
    assert all(t.source == "render" and t.image.shape == (1, 3, 4, 4) for t in targets)
    assert torch.equal(targets[0].image, again[0].image)
    assert not torch.equal(targets[0].image, targets[1].image)


def test_gan_targets_with_given_seeds_and_errors():
    G = Constant()
    targets = bt.make_targets(G, "gan", gan_seeds=[3])
    assert [t.id for t in targets] == ["gan-3"] and targets[0].source == "gan"
    with pytest.raises(GanAdaptError, match="gan, render or both"):
        bt.make_targets(G, "photos")
    with pytest.raises(GanAdaptError, match="needs a distance"):
        bt.make_targets(G, "both")
