"""The benchmark's claim arithmetic on hand-made numbers: means of per-case ratios and their
two-level bootstrap intervals."""

from __future__ import annotations

import pytest

from gan_adapt.evaluation.intervals import Interval, bootstrap_mean_ratio, case_ratio, mean_ratio


def test_a_case_ratio_is_the_ratio_of_the_means_not_the_mean_of_ratios():
    assert case_ratio([1.0, 3.0], [2.0, 2.0]) == 1.0
    assert case_ratio([1.0, 1.0], [1.0, 4.0]) == pytest.approx(0.4)  # not (1 + 0.25) / 2
    assert case_ratio([1.0], [0.0]) != case_ratio([1.0], [0.0])  # nan: no baseline to compare


def test_the_mean_ratio_weighs_every_case_the_same():
    # A case with large values (like `invert`) does not dominate: ratios 0.5 and 1.5.
    cases = [([50.0, 50.0], [100.0, 100.0]), ([0.3], [0.2])]
    assert mean_ratio(cases) == pytest.approx(1.0)


def test_one_case_of_constant_values_gives_a_zero_width_interval():
    interval = bootstrap_mean_ratio([([2.0, 2.0, 2.0], [4.0, 4.0, 4.0])], resamples=200)
    assert interval == Interval(0.5, 0.5, 0.5, 1)
    assert interval.excludes(1.0) and not interval.excludes(0.5)


def test_identical_ratios_in_every_case_give_a_zero_width_interval():
    cases = [([1.5] * 4, [1.0] * 4), ([3.0] * 2, [2.0] * 2), ([0.6], [0.4])]
    interval = bootstrap_mean_ratio(cases, resamples=500)
    assert (interval.mean, interval.low, interval.high) == pytest.approx((1.5, 1.5, 1.5))


def test_a_known_bootstrap_of_two_cases():
    # Two one-latent cases with ratios 1 and 3: a resample's mean is 1, 2 or 3 with
    # probabilities 1/4, 1/2, 1/4, so the 2.5th and 97.5th percentiles are 1 and 3.
    interval = bootstrap_mean_ratio([([1.0], [1.0]), ([3.0], [1.0])], resamples=2000, seed=0)
    assert (interval.mean, interval.low, interval.high, interval.cases) == (2.0, 1.0, 3.0, 2)
    assert not interval.excludes(1.0) and interval.excludes(3.5)


def test_the_interval_contains_the_mean_and_a_fixed_seed_repeats_it():
    cases = [([0.9, 1.1, 1.0, 0.8], [1.0, 1.2, 1.1, 1.0]), ([0.5, 0.7, 0.6], [0.7, 0.8, 0.6]),
             ([2.0, 2.5, 1.5], [2.2, 2.4, 2.3])]
    interval = bootstrap_mean_ratio(cases, resamples=1000, seed=3)
    assert interval.low <= interval.mean <= interval.high and interval.low < interval.high
    assert interval.mean == pytest.approx(mean_ratio(cases))
    assert bootstrap_mean_ratio(cases, resamples=1000, seed=3) == interval
    # Latent resampling widens a single case's interval when its latents vary.
    single = bootstrap_mean_ratio(cases[:1], resamples=1000)
    assert single.low < case_ratio(*cases[0]) < single.high


def test_unpaired_or_empty_cases_are_refused():
    with pytest.raises(ValueError, match="at least one case"):
        bootstrap_mean_ratio([])
    with pytest.raises(ValueError, match="case 0: .* paired"):
        bootstrap_mean_ratio([([1.0, 2.0], [1.0])])
