"""The numbers adaptation papers report, as plain functions of tensors.

Images are ``[N, 3, H, W]`` in ``[-1, 1]`` (the generators' range); feature sets are ``[N, D]``.
Every function is deterministic given its inputs (and its ``seed`` where it draws anything), so
an evaluation repeated on the same samples gives the same numbers.

* :func:`pairwise_lpips_diversity`: mean LPIPS between pairs of *different* samples (Ojha et al.
  2021's intra-cluster LPIPS; with one target image there is a single cluster, so it is the mean
  over pairs of samples). Pairs come from :func:`ring_pairs`, O(N) of them.
* :func:`paired_distance`: LPIPS / L1 between two aligned batches (G_s(w) vs G_t(w), or
  G_t(w) vs an ideal image), one value per pair.
* :func:`mean_cosine`: mean cosine similarity between embeddings (CLIP similarity).
* :func:`feature_statistics`, :func:`frechet_distance`: FID's Gaussian fit and distance;
  :func:`kernel_distance`: KID (unbiased MMD² with the cubic polynomial kernel), mean and
  standard deviation over random subsets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

#: ``distance(x, y) -> [N]``: e.g. :class:`gan_adapt.encoders.perceptual.LPIPSDistance`.
PairDistance = Callable[[Tensor, Tensor], Tensor]


def ring_pairs(n: int, seed: int, rounds: int = 1) -> Tensor:
    """Pairs of distinct indices ``[n * rounds, 2]`` for estimating a mean over all pairs.

    Each round draws a random permutation ``p`` (from ``seed``) and pairs ``p[k]`` with
    ``p[k + 1]`` around the ring. Every sample is in exactly two pairs per round, the pairs of a
    round are distinct, and each pair is a uniformly random pair of distinct samples, so the
    mean over them is an unbiased estimate of the mean over all ``n (n - 1) / 2`` pairs at O(n)
    cost. ``n = 2`` gives the single pair (twice per round).
    """
    if n < 2:
        raise ValueError(f"pairwise metrics need at least 2 samples, got {n}")
    gen = torch.Generator().manual_seed(seed)
    chunks = []
    for _ in range(rounds):
        perm = torch.randperm(n, generator=gen)
        chunks.append(torch.stack([perm, perm.roll(-1)], dim=1))
    return torch.cat(chunks)


def batched(fn: Callable[[Tensor, Tensor], Tensor], x: Tensor, y: Tensor,
            batch: int = 64) -> Tensor:
    """``fn(x, y)`` on aligned chunks of ``batch`` rows, concatenated (bounded memory)."""
    outs = [fn(x[i:i + batch], y[i:i + batch]) for i in range(0, x.shape[0], batch)]
    return torch.cat([o.reshape(-1) for o in outs])


@torch.no_grad()
def pairwise_lpips_diversity(images: Tensor, distance: PairDistance, seed: int = 0,
                             rounds: int = 1, batch: int = 64) -> float:
    """Mean ``distance`` over :func:`ring_pairs` of ``images`` (0 when all images are equal)."""
    pairs = ring_pairs(images.shape[0], seed, rounds)
    return float(batched(distance, images[pairs[:, 0]], images[pairs[:, 1]], batch).mean())


@torch.no_grad()
def paired_distance(x: Tensor, y: Tensor, distance: PairDistance, batch: int = 64) -> Tensor:
    """``distance`` between row i of ``x`` and row i of ``y``, ``[N]``."""
    if x.shape != y.shape:
        raise ValueError(f"paired batches must have the same shape, got {list(x.shape)} and "
                         f"{list(y.shape)}")
    return batched(distance, x, y, batch)


def l1_distance(x: Tensor, y: Tensor) -> Tensor:
    """Mean absolute pixel difference per sample, ``[N]`` (in the [-1, 1] range, so at most 2)."""
    return (x - y).abs().flatten(1).mean(dim=1)


def mean_cosine(a: Tensor, b: Tensor) -> float:
    """Mean cosine similarity: row-wise when ``a`` and ``b`` have the same rows, else every row of
    ``a`` against every row of ``b`` (e.g. N samples against one target)."""
    a = torch.nn.functional.normalize(a.double(), dim=-1)
    b = torch.nn.functional.normalize(b.double(), dim=-1)
    if a.shape == b.shape:
        return float((a * b).sum(dim=-1).mean())
    return float((a @ b.T).mean())


# ---------------------------------------------------------------------------------------------
# FID and KID


@dataclass
class FeatureStatistics:
    """The Gaussian fit of a feature set: mean ``[D]`` and covariance ``[D, D]`` (float64)."""

    mean: Tensor
    cov: Tensor
    count: int


def feature_statistics(features: Tensor) -> FeatureStatistics:
    """Mean and unbiased covariance (``N - 1``) of ``[N, D]`` features, in float64."""
    f = features.double()
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need features [N >= 2, D], got {list(f.shape)}")
    mean = f.mean(dim=0)
    centred = f - mean
    cov = centred.T @ centred / (f.shape[0] - 1)
    return FeatureStatistics(mean, cov, f.shape[0])


def _psd_sqrt(matrix: Tensor) -> Tensor:
    """Symmetric square root of a (numerically) positive semi-definite matrix."""
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(a: FeatureStatistics, b: FeatureStatistics) -> float:
    """Fréchet distance between two Gaussians (FID when the features are Inception's).

    ``|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))``. The trace of the matrix
    square root is computed as the sum of square roots of the eigenvalues of
    ``S_a^(1/2) S_b S_a^(1/2)``, which is symmetric PSD and has the same eigenvalues as
    ``S_a S_b``: no complex parts to discard, as with a general ``sqrtm``.
    """
    root_a = _psd_sqrt(a.cov)
    middle = root_a @ b.cov @ root_a
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    diff = a.mean - b.mean
    value = diff.dot(diff) + a.cov.trace() + b.cov.trace() - 2 * trace_sqrt
    return float(value.clamp(min=0))


def _polynomial_kernel(x: Tensor, y: Tensor, degree: int, coef0: float) -> Tensor:
    return (x @ y.T / x.shape[1] + coef0) ** degree


def kernel_distance(x: Tensor, y: Tensor, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0, degree: int = 3, coef0: float = 1.0) -> tuple[float, float]:
    """KID (Bińkowski et al. 2018): the unbiased MMD² estimate with the kernel
    ``(x.y / D + 1)^3``, averaged over ``subsets`` random subsets of ``subset_size`` rows of
    each set (drawn without replacement within a subset, from ``seed``). Returns (mean, std).

    ``subset_size`` is capped at the smaller set's size. The estimate is unbiased, so it can be
    slightly negative for two samples of one distribution.
    """
    x, y = x.double(), y.double()
    m = min(subset_size, x.shape[0], y.shape[0])
    if m < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    gen = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        xs = x[torch.randperm(x.shape[0], generator=gen)[:m]]
        ys = y[torch.randperm(y.shape[0], generator=gen)[:m]]
        k_xx = _polynomial_kernel(xs, xs, degree, coef0)
        k_yy = _polynomial_kernel(ys, ys, degree, coef0)
        k_xy = _polynomial_kernel(xs, ys, degree, coef0)
        off_diagonal = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum()
                        - k_yy.diagonal().sum()) / (m * (m - 1))
        values.append(off_diagonal - 2 * k_xy.mean())
    stacked = torch.stack(values)
    std = float(stacked.std(unbiased=True)) if len(values) > 1 else 0.0
    return float(stacked.mean()), std
