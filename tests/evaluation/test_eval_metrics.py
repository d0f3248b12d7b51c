"""Metric functions on constructed inputs whose answers are known."""

from __future__ import annotations

import math

import pytest
import torch

from gan_adapt.evaluation.evaluate import _Ring
from gan_adapt.evaluation.metrics import (
    feature_statistics,
    frechet_distance,
    kernel_distance,
    l1_distance,
    mean_cosine,
    pairwise_lpips_diversity,
    ring_pairs,
)


@pytest.fixture(scope="module")
def lpips():
    from gan_adapt.encoders.perceptual import LPIPSDistance

    torch.manual_seed(0)
    return LPIPSDistance(net="alex", pretrained=False, resize_to=32)


def images(n: int, seed: int = 0, size: int = 32) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_ring_pairs_are_distinct_and_use_every_sample_twice():
    pairs = ring_pairs(10, seed=3, rounds=2)
    assert pairs.shape == (20, 2)
    assert bool((pairs[:, 0] != pairs[:, 1]).all())
    counts = torch.bincount(pairs.flatten(), minlength=10)
    assert counts.tolist() == [4] * 10  # two per round
    assert torch.equal(pairs, ring_pairs(10, seed=3, rounds=2))
    assert not torch.equal(pairs, ring_pairs(10, seed=4, rounds=2))
    with pytest.raises(ValueError):
        ring_pairs(1, seed=0)


def test_identical_images_have_zero_diversity(lpips):
    same = images(1).expand(8, -1, -1, -1).contiguous()
    assert pairwise_lpips_diversity(same, lpips) == pytest.approx(0.0, abs=1e-7)
    assert pairwise_lpips_diversity(same, l1_distance) == 0.0
    assert pairwise_lpips_diversity(images(8), lpips) > 1e-3


def test_l1_diversity_has_the_known_value():
    # Constant images at -1, 0 and 1 (x3): every distinct pair differs by 1 or 2.
    x = torch.tensor([-1.0, 0.0, 1.0]).reshape(3, 1, 1, 1).expand(3, 3, 4, 4)
    # Ring pairs of 3 samples are all 3 unordered pairs: mean of |{1, 2, 1}| = 4/3.
    assert pairwise_lpips_diversity(x, l1_distance, seed=5) == pytest.approx(4 / 3)


def test_streaming_ring_matches_the_ring_over_generation_order(lpips):
    x = images(11, seed=1)
    ring = _Ring(lpips)
    for chunk in x.split(4):
        ring.add(chunk)
    order = torch.arange(11)
    expected = lpips(x[order], x[order.roll(-1)]).double().mean()
    assert ring.mean() == pytest.approx(float(expected), rel=1e-6)


def test_mean_cosine():
    a = torch.eye(3)
    assert mean_cosine(a, a) == pytest.approx(1.0)
    assert mean_cosine(a, a.roll(1, dims=0)) == pytest.approx(0.0)
    # Three samples against one reference: cosines 1, 0, 0.
    assert mean_cosine(a, a[:1]) == pytest.approx(1 / 3)


def gaussian(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * scale + shift


def test_frechet_distance_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    x = gaussian(500, 16, seed=0)
    stats = feature_statistics(x)
    assert frechet_distance(stats, stats) == pytest.approx(0.0, abs=1e-8)
    # A shift of every feature by s moves only the mean: the distance is exactly d * s^2.
    shifted = feature_statistics(x + 0.5)
    assert frechet_distance(stats, shifted) == pytest.approx(16 * 0.25, rel=1e-9)
    assert frechet_distance(stats, feature_statistics(x + 1.0)) > frechet_distance(stats,
                                                                                   shifted)


def test_frechet_distance_of_known_gaussians():
    # N(0, I) vs N(0, s^2 I) in d dimensions: tr(I + s^2 I - 2 s I) = d (1 - s)^2.
    d, s = 8, 3.0
    a = feature_statistics(torch.zeros(2, d, dtype=torch.float64))
    a.cov = torch.eye(d, dtype=torch.float64)
    b = feature_statistics(torch.zeros(2, d, dtype=torch.float64))
    b.cov = torch.eye(d, dtype=torch.float64) * s**2
    assert frechet_distance(a, b) == pytest.approx(d * (1 - s) ** 2)


def test_frechet_distance_matches_scipy_sqrtm():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    import numpy as np

    a = feature_statistics(gaussian(200, 12, seed=1))
    b = feature_statistics(gaussian(300, 12, seed=2, shift=0.3, scale=1.7) @
                           torch.randn(12, 12, generator=torch.Generator().manual_seed(3),
                                       dtype=torch.float64))
    covmean = scipy_linalg.sqrtm(a.cov.numpy() @ b.cov.numpy()).real
    diff = (a.mean - b.mean).numpy()
    expected = diff @ diff + np.trace(a.cov.numpy()) + np.trace(b.cov.numpy()) \
        - 2 * np.trace(covmean)
    assert frechet_distance(a, b) == pytest.approx(float(expected), rel=1e-6)


def test_kernel_distance_is_near_zero_for_one_distribution_and_larger_when_shifted():
    x, y = gaussian(300, 16, seed=0), gaussian(300, 16, seed=1)
    same, _ = kernel_distance(x, y, subsets=10, subset_size=150, seed=0)
    far, _ = kernel_distance(x, y + 0.5, subsets=10, subset_size=150, seed=0)
    assert abs(same) < 0.05
    assert far > 10 * max(abs(same), 1e-3)
    assert kernel_distance(x, y, subsets=5, subset_size=100, seed=1) == \
        kernel_distance(x, y, subsets=5, subset_size=100, seed=1)


def test_kernel_distance_matches_torch_fidelity_on_full_sets():
    metric_kid = pytest.importorskip("torch_fidelity.metric_kid")
    x, y = gaussian(60, 10, seed=4), gaussian(50, 10, seed=5, shift=0.2)
    # One subset of every row: the unbiased MMD estimate does not depend on the draw.
    ours, _ = kernel_distance(x[:50], y, subsets=1, subset_size=50)
    theirs = metric_kid.kid_features_to_metric(
        x[:50].float(), y.float(), kid_subsets=1, kid_subset_size=50, verbose=False,
        kid_degree=3, kid_gamma=None, kid_coef0=1)["kernel_inception_distance_mean"]
    assert ours == pytest.approx(theirs, rel=1e-4, abs=1e-6)
    assert not math.isnan(ours)


def test_evaluate_generators_on_known_cases():
    """G against itself: no content change; the identity as `ideal`: zero fidelity error; a text
    target gives the text similarity only."""
    from gan_adapt.encoders import tiny_clip
    from gan_adapt.encoders.perceptual import LPIPSDistance
    from gan_adapt.evaluation.evaluate import EvalSettings, Instruments, evaluate_generators
    from gan_adapt.generators import tiny
    from gan_adapt.plugin_host.context import TargetData

    G, _ = tiny(resolution=16)
    torch.manual_seed(0)
    instruments = Instruments(LPIPSDistance("alex", pretrained=False, resize_to=32),
                              tiny_clip(seed=0))
    settings = EvalSettings(n=6, batch=4)
    metrics = evaluate_generators(G, G, TargetData(text="a pencil sketch"), instruments,
                                  settings, ideal=lambda x: x)
    assert metrics["content_lpips"] == 0.0 and metrics["fidelity_l1"] == 0.0
    assert metrics["content_clip"] == pytest.approx(1.0)
    assert metrics["diversity_lpips"] == pytest.approx(metrics["diversity_lpips_source"])
    assert "target_clip_text" in metrics and "target_clip_image" not in metrics
    assert "fid" not in metrics
