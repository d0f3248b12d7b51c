"""Mean per-case ratios with bootstrap intervals: how the benchmark states a claim.

A *case* is one (transform, target) pair. For a metric and two methods (a recipe and the
baseline), each case holds one value per evaluation latent for each method, paired: latent
``i`` went through both (already averaged over the recipe seeds). The case's ratio is
``mean(recipe) / mean(baseline)``, and the claim's number is the mean of the case ratios, so
every case weighs the same and no one transform can carry the mean.

The interval is a percentile bootstrap over both levels of sampling: each resample draws the
cases with replacement and, inside every drawn case, its latents with replacement (the same
latent indices for both methods, keeping the pairing), then recomputes the mean ratio. The 2.5th
and 97.5th percentiles of the resampled means bound the 95% interval. The random draws come
from a fixed seed, so a rerun gives the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
SEED = 0
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean ratio and its bootstrap interval."""

    mean: float
    low: float
    high: float
    cases: int

    def excludes(self, value: float = 1.0) -> bool:
        """Whether ``value`` lies outside the interval (a claim "differs from value" stands)."""
        return value < self.low or value > self.high

    def as_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "cases": self.cases}


def case_ratio(recipe: Sequence[float], baseline: Sequence[float]) -> float:
    """``mean(recipe) / mean(baseline)`` of one case (nan when the baseline's mean is 0)."""
    top, bottom = float(np.mean(recipe)), float(np.mean(baseline))
    return top / bottom if bottom != 0 else float("nan")


def mean_ratio(cases: Sequence[tuple[Sequence[float], Sequence[float]]]) -> float:
    """The mean over cases of :func:`case_ratio` (each case a ``(recipe, baseline)`` pair)."""
    return float(np.mean([case_ratio(r, b) for r, b in cases]))


def _check(cases: Sequence[tuple[Sequence[float], Sequence[float]]]) -> list[tuple[np.ndarray,
                                                                                   np.ndarray]]:
    if not cases:
        raise ValueError("a mean ratio needs at least one case")
    arrays = []
    for index, (recipe, baseline) in enumerate(cases):
        r, b = np.asarray(recipe, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
        if r.ndim != 1 or r.shape != b.shape or r.size == 0:
            raise ValueError(f"case {index}: the recipe's and the baseline's values must be "
                             f"paired 1-D lists of one length, got {r.shape} and {b.shape}")
        arrays.append((r, b))
    return arrays


def bootstrap_mean_ratio(cases: Sequence[tuple[Sequence[float], Sequence[float]]],
                         resamples: int = RESAMPLES, seed: int = SEED,
                         level: float = LEVEL) -> Interval:
    """The mean per-case ratio and its two-level percentile bootstrap interval (module doc)."""
    arrays = _check(cases)
    rng = np.random.default_rng(seed)
    # ratios[c, k]: case c's ratio in resample k, its latents redrawn
    ratios = np.empty((len(arrays), resamples))
    for c, (r, b) in enumerate(arrays):
        picks = rng.integers(0, r.size, size=(resamples, r.size))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios[c] = r[picks].mean(axis=1) / b[picks].mean(axis=1)
    drawn = rng.integers(0, len(arrays), size=(resamples, len(arrays)))
    means = ratios[drawn, np.arange(resamples)[:, None]].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(means, [tail, 100 - tail]) if np.isfinite(means).any() \
        else (float("nan"), float("nan"))
    return Interval(mean_ratio(arrays), float(low), float(high), len(arrays))
