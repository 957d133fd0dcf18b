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
    break_even,
    break_even_range,
    compare_samples,
    median_ci,
    ratio,
    ratio_ci,
    verdict,
)


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


# ------------------------------------------------------------------ exact intervals, on simulated processes


def processes(rng, shape, slow_share=0.2):
    """Per-process times as measured here: log-normal jitter, and a share of processes at 0.55-0.8x
    speed (a bimodal law, far from normal: what the distribution-free intervals must survive)."""
    slow = rng.random(shape) < slow_share
    return np.exp(rng.normal(0, 0.03, shape)) / np.where(slow, rng.uniform(0.55, 0.8, shape), 1.0)


@pytest.mark.parametrize("n", [5, 9, 16])
def test_the_median_interval_covers_as_often_as_it_states(n):
    from xorbench.bench.stats import median_interval

    rng = np.random.default_rng(n)
    true_median = np.median(processes(rng, 400_000))
    found = [median_interval(sample) for sample in processes(rng, (3000, n))]
    stated = found[0].coverage
    assert all(f.coverage == stated for f in found)  # it depends on n alone
    covered = np.mean([f.low <= true_median <= f.high for f in found])
    assert abs(covered - stated) < 0.02, (covered, stated)
    assert stated >= 0.95 or n < 6  # below 6 processes nothing reaches 95%, and it says so


@pytest.mark.parametrize("n, m", [(5, 5), (9, 9), (8, 6)])
def test_the_rerun_band_holds_a_rerun_median_as_often_as_it_states(n, m):
    from xorbench.bench.stats import rerun_band

    rng = np.random.default_rng(n * m)
    first, rerun = processes(rng, (3000, n)), processes(rng, (3000, m))
    bands = [rerun_band(sample, m) for sample in first]
    held = np.mean([b.low <= np.median(r) <= b.high for b, r in zip(bands, rerun)])
    stated = bands[0].coverage
    assert held >= stated - 0.02 and (m % 2 == 0 or held <= stated + 0.02), (held, stated)


def test_the_ratio_interval_covers_a_known_slowdown_as_often_as_it_states():
    from xorbench.bench.stats import ratio_interval

    rng = np.random.default_rng(11)
    found = [ratio_interval(a, 1.3 * b) for a, b in zip(processes(rng, (2000, 7)), processes(rng, (2000, 7)))]
    stated = found[0][1].coverage
    assert stated >= 0.95
    assert abs(np.mean([i.low <= 1.3 <= i.high for _, i in found]) - stated) < 0.02
    assert abs(np.median([r for r, _ in found]) - 1.3) < 0.02


def test_the_mann_whitney_null_is_scipys_exact_distribution():
    from scipy.stats import mannwhitneyu

    from xorbench.bench.stats import mann_whitney_null

    x, y = np.array([0.5, 2.5, 4.5, 6.5]), np.arange(6.0)
    u = int(sum(xi > yj for xi in x for yj in y))  # pairs with the x above the y, scipy's U1
    exact = mannwhitneyu(x, y, alternative="less", method="exact").pvalue  # P(U1 <= u)
    assert math.isclose(mann_whitney_null(4, 6)[: u + 1].sum(), exact, rel_tol=1e-9)


def test_runs_of_one_commit_read_same_on_every_row_at_the_stated_rate_and_a_real_change_is_found():
    from xorbench.bench.stats import verdicts

    rng = np.random.default_rng(5)
    rows, n = 13, 8
    all_same = np.mean([
        all(said == SAME for *_, said in verdicts([(processes(rng, n), processes(rng, n)) for _ in range(rows)]))
        for _ in range(200)
    ])  # fmt: skip
    assert all_same >= 0.87  # stated: 90% family-wise
    quiet = lambda size: np.exp(rng.normal(0, 0.02, size))  # noqa: E731  (a calm machine)
    pairs = [(quiet(n), quiet(n)) for _ in range(rows - 1)] + [(quiet(n), 1.3 * quiet(n))]
    said = [s for *_, s in verdicts(pairs)]
    assert said[-1] == SLOWER and set(said[:-1]) == {SAME}
    small = [(quiet(n), 1.03 * quiet(n)) for _ in range(3)]  # real, but under the 5% minimum effect
    assert {s for *_, s in verdicts(small)} == {SAME}
    # 5 v 5 over 13 rows cannot reach 99.2% each: no claim; SAME where even their range reaches within 5%
    assert {s for *_, s in verdicts([(quiet(5), quiet(5))] * rows)} == {SAME}
    assert {s for *_, s in verdicts([(quiet(5), 2 * quiet(5))] * rows)} == {FEW}


@pytest.mark.parametrize("beta", [1.0, 1 / 3])
def test_the_calibration_recovers_a_known_beta_and_removes_the_process_state(beta):
    from xorbench.bench.stats import calibrate

    rng = np.random.default_rng(int(beta * 10))
    state = processes(rng, 12)  # each process's speed state, which the kernel and the row both feel
    kernels = 50.0 * state * np.exp(rng.normal(0, 0.005, 12))
    values = 20.0 * state**beta * np.exp(rng.normal(0, 0.005, 12))
    fitted = calibrate(values, kernels)
    assert abs(fitted.beta - beta) < 0.1
    assert np.std(np.log(fitted.values)) < 0.3 * np.std(np.log(values))
    assert calibrate(values, np.full(12, 50.0)).beta == 0.0  # kernels that do not vary adjust nothing


def test_rows_of_three_processes_share_a_pooled_beta_that_one_odd_row_cannot_set():
    from xorbench.bench.stats import pooled_beta

    rng = np.random.default_rng(7)
    rows = []
    for level in (20.0, 300.0, 0.2, 45.0):  # rows of any speed: each is centred on its own means
        state = processes(rng, 3)
        rows.append((level * state * np.exp(rng.normal(0, 0.005, 3)), 50.0 * state))
    assert abs(pooled_beta(rows) - 1.0) < 0.1
    assert pooled_beta(rows[:2]) is None  # two rows: too few to speak for the others
    odd = (np.array([30.0, 1000.0, 31.0]), np.array([50.0, 51.0, 49.0]))  # a slow process the kernel did not see
    assert abs(pooled_beta([odd] + rows) - 1.0) < 0.2  # its kernel hardly moved: it hardly moves the slope


def test_the_calibration_kernel_times_real_work_and_names_a_cpu_of_this_machine():
    import os

    from xorbench.bench.calibration import cpu_now, kernel

    assert 0 < kernel(10) < kernel(400)  # more epochs of the same work take longer
    cpu = cpu_now()
    assert cpu is None or cpu in os.sched_getaffinity(0) or 0 <= cpu < os.cpu_count()


def test_the_two_length_fit_recovers_call_and_epoch_costs_unclipped_and_refuses_close_lengths():
    from xorbench.bench.stats import call_and_epoch

    lengths = [100, 800] * 4
    noise = [1e-5, -1e-5, 0, 0, -1e-5, 1e-5, 0, 0]  # the median at each length is the exact line
    a, b = call_and_epoch(lengths, [-2e-4 + 1e-5 * w + e for w, e in zip(lengths, noise)])
    assert math.isclose(a, -2e-4, rel_tol=1e-6) and math.isclose(b, 1e-5, rel_tol=1e-6)  # kept negative
    with pytest.raises(ValueError, match="8x apart"):
        call_and_epoch([100, 400], [0.1, 0.4])


def test_a_per_call_cost_whose_interval_does_not_lie_above_zero_is_not_reported():
    from xorbench.bench.stats import per_call

    assert per_call([3e-4, 3.2e-4, 2.9e-4, 3.1e-4, 3.05e-4])[0] == pytest.approx(3.05e-4)
    value, inside = per_call([-3e-4, 2e-4, 1e-4, -1e-4, 4e-4])
    assert value is None and inside.low < 0 < inside.high
    assert per_call([-3e-4, -3.2e-4, -2.9e-4])[0] is None  # longer windows faster per epoch: no per-call cost


def test_the_break_evens_bounds_come_from_the_ends_of_its_inputs_intervals():
    quick_start, quick_epoch = ((0.1, 0.2), (40.0, 50.0)), ((1.0, 1.2), (1.0, 2.0))  # (start-up s, µs per epoch)
    fewest, most = break_even_range(*quick_start, *quick_epoch)
    assert fewest == pytest.approx(0.8 / 49e-6) and most == pytest.approx(1.1 / 38e-6)
    assert fewest < break_even(0.15, 45.0, 1.1, 1.5) < most
    assert break_even_range((0.1, 1.5), (1.5, 50.0), *quick_epoch) == (0.0, math.inf)  # a tie is possible at both
