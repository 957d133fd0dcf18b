"""The statistics behind every claim, on constructed data with known answers: the a + b·W fit of one
process's windows, the bootstrap interval of a median over processes, the ratio of two medians and
its interval, and the verdict an interval allows."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from xorbench.bench.stats import (
    FASTER,
    FEW,
    MIN_PROCESSES,
    SAME,
    SLOWER,
    compare_samples,
    fit_call_and_epoch,
    median_ci,
    ratio,
    ratio_ci,
    verdict,
)


def test_the_fit_recovers_an_exact_line():
    lengths = [100, 200, 400, 100, 200, 400]
    seconds = [0.004 + 25e-6 * w for w in lengths]
    call_s, epoch_s = fit_call_and_epoch(lengths, seconds)
    assert math.isclose(call_s, 0.004, rel_tol=1e-9) and math.isclose(epoch_s, 25e-6, rel_tol=1e-9)


def test_the_fit_of_noisy_windows_is_the_least_squares_line():
    lengths = np.array([50, 50, 50, 150, 150, 150], dtype=float)
    seconds = 0.01 + 1e-4 * lengths + np.array([1, -1, 0, 2, -2, 0]) * 1e-4
    call_s, epoch_s = fit_call_and_epoch(lengths, seconds)  # the noise sums to zero at each length
    assert math.isclose(call_s, 0.01, rel_tol=1e-9) and math.isclose(epoch_s, 1e-4, rel_tol=1e-9)


def test_a_negative_call_cost_is_clamped_to_zero_and_the_line_goes_through_the_origin():
    lengths, seconds = np.array([100.0, 200.0]), np.array([0.9e-3, 2.0e-3])  # free line: a = -0.2 ms
    call_s, epoch_s = fit_call_and_epoch(lengths, seconds)
    assert call_s == 0.0
    assert math.isclose(epoch_s, float(lengths @ seconds / (lengths @ lengths)), rel_tol=1e-12)


def test_windows_that_do_not_resolve_a_per_epoch_cost_give_zero_per_epoch_and_the_mean_per_call():
    call_s, epoch_s = fit_call_and_epoch([100, 200], [0.5, 0.4])  # the longer window was faster
    assert epoch_s == 0.0 and math.isclose(call_s, 0.45)


@pytest.mark.parametrize("lengths, seconds", [([100, 100, 100], [1.0, 1.1, 0.9]), ([100, 200], [1.0])])
def test_the_fit_refuses_windows_of_one_length_or_mismatched_lists(lengths, seconds):
    with pytest.raises(ValueError):
        fit_call_and_epoch(lengths, seconds)


def test_the_interval_of_five_processes_is_their_range():
    # P(the bootstrap median is the smallest of five) = P(3+ of 5 draws are it) = 5.8% > 2.5%
    assert median_ci([10.0, 10.2, 9.9, 10.1, 10.05]) == (9.9, 10.2)


def test_the_interval_holds_the_true_median_of_a_known_sample_and_is_reproducible():
    sample = np.random.default_rng(7).permutation(np.linspace(90.0, 110.0, 41))  # median 100
    low, high = median_ci(sample)
    assert low < 100.0 < high
    assert low > sample.min() and high < sample.max()  # narrower than the range at 41 values
    assert median_ci(sample) == (low, high) and median_ci(sample, seed=0) == (low, high)


def test_the_interval_covers_the_true_median_about_as_often_as_it_says():
    rng = np.random.default_rng(3)
    covered = [low < 0 < high for low, high in (median_ci(rng.standard_normal(25), resamples=2000) for _ in range(200))]
    assert 0.88 <= np.mean(covered) <= 1.0


def test_fewer_than_two_values_have_no_interval():
    assert all(math.isnan(x) for x in median_ci([3.0]))
    assert all(math.isnan(x) for x in median_ci([]))
    assert all(math.isnan(x) for x in median_ci([np.nan, 4.0]))


def test_a_fake_slow_process_among_five_leaves_the_median_where_the_other_four_put_it():
    honest = [20.1, 19.8, 20.0, 20.3]
    processes = [*honest, 100.0]  # one process on a busy machine
    assert min(honest) <= float(np.median(processes)) <= max(honest)
    assert np.mean(processes) > 35  # what a mean would have said
    low, high = median_ci(processes)
    assert low == min(honest) and high == 100.0  # the interval owns up to the odd process


def test_the_ratio_of_medians_and_its_interval():
    a = np.array([10.0, 10.2, 9.9, 10.1, 10.05])
    b = 2 * a
    assert ratio(a, b) == 2.0
    low, high = ratio_ci(a, b)
    assert 1 < low <= 2.0 <= high
    assert ratio_ci(a, b) == (low, high)  # seeded
    assert all(math.isnan(x) for x in ratio_ci(a, [20.0]))


def test_the_same_values_on_both_sides_are_the_same_within_noise():
    a = [10.0, 10.2, 9.9, 10.1, 10.05]
    low, high = ratio_ci(a, a)
    assert low < 1 < high
    assert compare_samples(a, a).verdict == SAME


@pytest.mark.parametrize(
    "value, low, high, threshold, expected",
    [
        (1.5, 1.2, 1.8, 0.0, SLOWER),
        (0.5, 0.4, 0.6, 0.0, FASTER),
        (1.1, 0.9, 1.3, 0.0, SAME),  # the interval holds 1
        (1.05, 1.02, 1.08, 0.10, SAME),  # beyond the noise, but under the 10% threshold
        (1.2, 1.02, 1.3, 0.10, SLOWER),
        (0.95, 0.93, 0.97, 0.10, SAME),  # 0.95 > 1 / 1.1: under the threshold on the log scale too
        (0.85, 0.80, 0.90, 0.10, FASTER),
        (2.0, math.nan, math.nan, 0.0, SAME),  # no interval, no claim
    ],
)
def test_the_verdict_needs_the_interval_beyond_one_and_the_ratio_beyond_the_threshold(
    value, low, high, threshold, expected
):
    assert verdict(value, low, high, threshold) == expected


def test_no_claim_from_fewer_than_min_processes_a_side():
    a, b = [10.0, 10.1], [20.0, 20.2]  # every b beats every a, which two against two does 1 time in 3
    found = compare_samples(a, b)
    assert found.verdict == FEW and (found.n_a, found.n_b) == (2, 2) and found.ratio == pytest.approx(2.0, rel=0.01)
    assert found.low is not None  # the interval is shown, it just decides nothing
    three = compare_samples([10.0, 10.1, 9.9], [20.0, 20.2, 19.9])
    assert MIN_PROCESSES == 3 and three.verdict == SLOWER
    one = compare_samples([10.0], [20.0, 20.1, 19.9])
    assert one.verdict == FEW and one.low is None and one.high is None


def test_stats_imports_only_numpy():
    heavy = ("scipy", "pandas", "matplotlib")
    code = f"import sys, xorbench.bench.stats\nprint(sorted(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
