"""The one definition of each statistic: the repeats' summary (median, interquartile range, minimum),
the median of a column, the Wilson interval of a success rate, the per-call and per-epoch costs
of one process's windows, the bootstrap interval of a median over processes and of a ratio of
two such medians, the verdict a ratio's interval allows, the relative difference of two loss curves;
and, for the harness to adopt, exact order-statistic intervals with their coverage, row verdicts with a
minimum effect, the calibration adjustment and the two-length per-call fit.

Processes, not windows, are the independent repeats of a measurement (pyperf's view): windows of
one process share its memory layout, its compiled code and its luck, so intervals and claims here
are over per-process values.

NumPy and the standard library only: a worker imports this.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # two-sided 95% normal quantile, for the Wilson interval
TINY = np.finfo(np.float64).tiny  # the denominator of a relative difference never goes below this
LEVEL = 0.95  # of every bootstrap interval
RESAMPLES = 10_000
# A claim ("faster", "slower") needs this many processes on each side. With two, the bootstrap
# interval of a median is the range of the two values, and two processes of one row both beating two
# of another happens by chance one time in three (2 of the 6 orderings): no claim is made from that.
MIN_PROCESSES = 3
FASTER, SLOWER, SAME = "faster", "slower", "same within noise"
FEW = "too few processes"  # no claim either way: fewer than MIN_PROCESSES on a side


@dataclass(frozen=True)
class Summary:
    median: float
    iqr: float  # 75th minus 25th percentile (linear interpolation)
    min: float
    n: int


def summarise(values) -> Summary:
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("cannot summarise an empty sample")
    q25, median, q75 = np.percentile(values, [25, 50, 75])
    return Summary(float(median), float(q75 - q25), float(values.min()), int(values.size))


def median(values) -> float | None:
    """The median of the values that are not NaN; None when there are none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(np.median(values)) if values.size else None


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion k/n."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))


def _values(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    return values[~np.isnan(values)]


def bootstrap_medians(values, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The medians of `resamples` resamples (with replacement) of values, in chunks of bounded memory."""
    n, found = values.size, []
    chunk = max(1, 2_000_000 // n)
    for start in range(0, resamples, chunk):
        picks = rng.integers(0, n, size=(min(chunk, resamples - start), n))
        found.append(np.median(values[picks], axis=1))
    return np.concatenate(found)


def median_ci(values, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """The percentile-bootstrap interval of the median of values (NaNs dropped), seeded: the same values
    give the same interval. (nan, nan) for fewer than two values: one process says nothing of the spread.

    At five values it is their range (the bootstrap median falls on the smallest value 5.8% of the time),
    which holds the true median with probability 1 - 2/2**5 = 94%: the most any interval from five can.
    """
    values = _values(values)
    if values.size < 2:
        return math.nan, math.nan
    medians = bootstrap_medians(values, resamples, np.random.default_rng(seed))
    low, high = np.percentile(medians, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def ratio(a, b) -> float:
    """median(b) / median(a): how many times a's time b takes."""
    return float(np.median(_values(b)) / np.median(_values(a)))


def ratio_ci(a, b, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """The percentile-bootstrap interval of median(b) / median(a), each side resampled on its own
    (seeded, reproducible); (nan, nan) when either side has fewer than two values."""
    a, b = _values(a), _values(b)
    if a.size < 2 or b.size < 2:
        return math.nan, math.nan
    rng_a, rng_b = np.random.default_rng(seed).spawn(2)
    ratios = bootstrap_medians(b, resamples, rng_b) / bootstrap_medians(a, resamples, rng_a)
    low, high = np.percentile(ratios, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def verdict(value: float, low: float, high: float, threshold: float = 0.0) -> str:
    """What the interval (low, high) of a time ratio B/A allows one to say of B against A.

    "slower" where the interval lies above 1 and the ratio above 1 + threshold; "faster" where it lies
    below 1 and the ratio below 1 / (1 + threshold) (the same margin on a log scale); else "same within
    noise". A threshold of 0.1 ignores differences under 10%. A missing interval says nothing: SAME.
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        return SAME
    if low > 1 and value > 1 + threshold:
        return SLOWER
    if high < 1 and value < 1 / (1 + threshold):
        return FASTER
    return SAME


@dataclass(frozen=True)
class Versus:
    """B against A over their processes: median(B) / median(A), its 95% interval, what they allow."""

    ratio: float
    low: float | None  # None where a side has fewer than two values
    high: float | None
    verdict: str  # FASTER | SLOWER | SAME | FEW
    n_a: int
    n_b: int


def compare_samples(a, b, threshold: float = 0.0) -> Versus:
    """B's per-process times against A's: the ratio of medians, its bootstrap interval, and the verdict,
    which is FEW (no claim) unless each side has MIN_PROCESSES values."""
    a, b = _values(a), _values(b)
    if not (a.size and b.size):
        raise ValueError("comparing needs at least one value on each side")
    low, high = ratio_ci(a, b)
    value, few = ratio(a, b), min(a.size, b.size) < MIN_PROCESSES
    interval = (low, high) if math.isfinite(low) else (None, None)
    said = FEW if few else verdict(value, low, high, threshold)
    return Versus(value, *interval, said, int(a.size), int(b.size))


def relative_difference(a, b) -> np.ndarray:
    """|a - b| / |a|, element by element: how far b is from the reference a."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b) / np.maximum(np.abs(a), TINY)


def max_relative_difference(a, b) -> float:
    """Largest |a - b| / |a| over the common prefix of two loss curves (inf if either is non-finite there)."""
    n = min(len(a), len(b))
    a, b = np.asarray(a[:n], dtype=np.float64), np.asarray(b[:n], dtype=np.float64)
    if n == 0:
        return float("nan")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("inf")
    return float(np.max(relative_difference(a, b)))


# ------------------------------------------------------------------ intervals with their real coverage
#
# With the 5-8 processes a row can afford, a bootstrap "95%" interval is the sample's range and covers
# the median 94% of the time at n = 5, less below. The intervals below are distribution-free and exact:
# each comes from order statistics, and says the coverage it really has at this n.


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    coverage: float  # the probability the interval holds what it is for, exact for any continuous distribution


def median_interval(values, level: float = LEVEL) -> Interval:
    """The order-statistic interval (x_(k), x_(n+1-k)) of the population median: the narrowest whose
    coverage, 1 - 2 P(Binomial(n, 1/2) < k), is at least `level`; at small n (below 6 for 95%) none
    reaches it, and the range is returned with the coverage it has. NaN interval for fewer than 2 values."""
    x = np.sort(_values(values))
    n = x.size
    if n < 2:
        return Interval(math.nan, math.nan, 0.0)
    below = np.cumsum([math.comb(n, j) for j in range(n + 1)]) / 2.0**n  # P(B <= j)
    k = deepest(lambda k: float(1 - 2 * below[k - 1]), n // 2, level)
    return Interval(float(x[k - 1]), float(x[n - k]), float(1 - 2 * below[k - 1]))


def deepest(coverage, most: int, level: float) -> int:
    """The largest k <= most whose symmetric interval (the k-th value from each end) still has coverage(k)
    >= level, coverage falling as k grows; 1 (the range) where even that falls short."""
    k = 1
    while k + 1 <= most and coverage(k + 1) >= level:
        k += 1
    return k


def rank_of_future(n: int, m: int, r: int) -> np.ndarray:
    """P(K = k), k = 0..n: how many of n values fall below the r-th smallest of m further values drawn
    from the same continuous distribution (exchangeability alone fixes it)."""
    total = math.comb(n + m, n)
    return np.array([math.comb(k + r - 1, k) * math.comb(n - k + m - r, n - k) / total for k in range(n + 1)])


def rerun_band(values, m: int | None = None, level: float = LEVEL) -> Interval:
    """Where the median of a rerun of m processes (default: as many as here) should fall, as the narrowest
    symmetric order-statistic band (x_(i), x_(n+1-i)) holding it with probability >= `level`, or the range
    with what it holds. The coverage is exact for odd m and a lower bound for even m; it assumes the rerun
    meets the machine in the same state, which is what a rerun tests."""
    x = np.sort(_values(values))
    n, m = x.size, m or x.size
    if n < 2:
        return Interval(math.nan, math.nan, 0.0)
    lower = rank_of_future(n, m, (m + 1) // 2)  # the median's lower middle value
    upper = rank_of_future(n, m, m // 2 + 1)  # and its upper one (the same for odd m)

    def coverage(i: int) -> float:  # P(x_(i) <= lower middle and upper middle <= x_(n+1-i))
        return float(1 - lower[:i].sum() - upper[n + 1 - i :].sum())

    i = deepest(coverage, (n + 1) // 2, level)
    return Interval(float(x[i - 1]), float(x[n - i]), coverage(i))


def mann_whitney_null(n: int, m: int) -> np.ndarray:
    """P(U = u), u = 0..n*m, for the Mann-Whitney U (pairs with the x above the y) of n x-values and m
    y-values from one continuous distribution. Built on the largest value: an x adds m to U, a y adds
    nothing, so counts(n, m) = counts(n - 1, m) shifted by m + counts(n, m - 1)."""
    size = n * m + 1
    row = [np.eye(1, size).ravel() for _ in range(m + 1)]  # counts(0, j): one arrangement, U = 0
    for _ in range(n):  # one more x-value each time
        new = [np.eye(1, size).ravel()]  # counts(i, 0): U = 0
        for j in range(1, m + 1):
            new.append(np.concatenate([np.zeros(j), row[j][: size - j]]) + new[j - 1])
        row = new
    return row[m] / row[m].sum()


def ratio_interval(a, b, level: float = LEVEL) -> tuple[float, Interval]:
    """B's times against A's as a ratio: exp of the Hodges-Lehmann shift of log(b) - log(a), and its
    distribution-free interval (Moses), the order statistics (d_(k), d_(nm+1-k)) of the n*m pairwise
    log differences, whose coverage 1 - 2 P(U < k) comes from the exact Mann-Whitney null. Where even
    the range falls short of `level` (3 against 3 processes: 90%), the range with what it covers."""
    a, b = np.log(_values(a)), np.log(_values(b))
    if a.size < 2 or b.size < 2:
        return math.nan, Interval(math.nan, math.nan, 0.0)
    d = np.sort((b[None, :] - a[:, None]).ravel())
    tail = np.cumsum(mann_whitney_null(a.size, b.size))  # P(U <= u)
    k = deepest(lambda k: float(1 - 2 * tail[k - 1]), d.size // 2, level)
    inside = Interval(float(np.exp(d[k - 1])), float(np.exp(d[d.size - k])), float(1 - 2 * tail[k - 1]))
    return float(np.exp(np.median(d))), inside


MIN_EFFECT = 0.05  # compare calls a row faster or slower only beyond this (5% either way, on a log scale)
# compare's family-wise level: two runs of one commit read SAME on every row in at least 9 pairs of 10
# (issue 23's target). Rows whose processes can reach it: 4 v 4 for up to 3 rows, 5 v 5 up to 12, 6 v 6 up to 46.
FAMILY_LEVEL = 0.90


def verdicts(pairs, min_effect: float = MIN_EFFECT, level: float = FAMILY_LEVEL) -> list[tuple[float, Interval, str]]:
    """B against A for each of several rows at once, as `compare` says it: (ratio, interval, verdict).

    Each interval is at level 1 - (1 - level) / rows (Bonferroni; rows: those with two processes or more
    on each side, the only ones that can be called faster or slower), so that with no real difference
    anywhere, all rows read SAME together with probability >= `level`. A row is FASTER or SLOWER only
    where its whole interval lies beyond `min_effect` (0.05: 5% either way, on a log scale). Where its
    processes cannot reach the corrected level (their range covers less), no difference can be claimed:
    SAME while even that range reaches within min_effect, else FEW (apart, but too few to say so)."""
    each = 1 - (1 - level) / max(1, sum(min(np.size(a), np.size(b)) >= 2 for a, b in pairs))
    found = []
    for a, b in pairs:
        value, inside = ratio_interval(a, b, each)
        beyond = inside.high < 1 / (1 + min_effect) or inside.low > 1 + min_effect
        if inside.coverage < each:
            said = FEW if beyond or not math.isfinite(inside.low) else SAME
        elif inside.high < 1 / (1 + min_effect):
            said = FASTER
        elif inside.low > 1 + min_effect:
            said = SLOWER
        else:
            said = SAME
        found.append((value, inside, said))
    return found


@dataclass(frozen=True)
class Calibrated:
    values: np.ndarray  # each process's figure moved to the reference kernel time
    beta: float  # how far the row's time follows the kernel's, on a log scale (1: one for one)
    reference: float  # the kernel time the values are moved to


BETA_BOUNDS = (0.0, 1.5)
OWN_BETA = 5  # processes a row needs to fit its own beta: three points let one odd process set the slope


def calibrate(values, kernels, reference: float | None = None, beta: float | None = None) -> Calibrated:
    """Regression adjustment (CUPED) of per-process figures on a calibration kernel timed in the same
    process: fit log value = alpha + beta log kernel across the processes, then move each value to the
    reference kernel time, value * (reference / kernel) ** beta. A row whose time tracks the process's
    speed state one for one gets beta ~ 1 (a plain ratio); a fused loop that slows a third as much, ~1/3,
    which a ratio would overcorrect. beta is clipped to BETA_BOUNDS, and 0 (no adjustment) where the
    kernels do not vary or fewer than three processes fit it; a `beta` given is used as it is (a run's
    pooled beta, pooled_beta). Reference: the kernels' median."""
    v, k = np.asarray(values, dtype=np.float64), np.asarray(kernels, dtype=np.float64)
    if v.shape != k.shape:
        raise ValueError("values and kernels must pair up, one kernel time per value")
    if beta is None:
        beta = float(np.clip(log_slope(v, k) or 0.0, *BETA_BOUNDS))
    reference = float(np.median(k)) if reference is None else float(reference)
    return Calibrated(v * (reference / k) ** beta, float(beta), reference)


def log_slope(values, kernels) -> float | None:
    """The least-squares slope of log value on log kernel over three points or more; None with fewer, or
    where the kernels do not vary."""
    lv, lk = np.log(np.asarray(values, dtype=np.float64)), np.log(np.asarray(kernels, dtype=np.float64))
    spread = float(np.var(lk))
    return float(np.cov(lv, lk, bias=True)[0, 1] / spread) if lv.size >= 3 and spread > 0 else None


def pooled_beta(rows) -> float | None:
    """One beta for rows too few to fit their own: the median of the rows' own slopes of log value on log
    kernel, over every row of (values, kernels) with three processes or more whose kernels vary; None
    unless three such rows give it. A median, so that a row with an odd process (slow for a reason the
    kernel did not see) cannot set every row's slope."""
    slopes = [s for s in (log_slope(values, kernels) for values, kernels in rows) if s is not None]
    if len(slopes) < 3:
        return None
    return float(np.clip(np.median(slopes), *BETA_BOUNDS))


LENGTH_RATIO = 8  # a window's two lengths at least this far apart, so the per-call cost is resolved


def call_and_epoch(window_epochs, seconds) -> tuple[float, float]:
    """(a, b) in seconds of fit(W) = a + b * W for one process, through the medians of its windows at
    its shortest and longest length, which must be LENGTH_RATIO apart or more. Not clipped: a negative
    a is noise, and a row says so by its interval over processes (per_call), never by a clipped 0."""
    w, s = np.asarray(window_epochs, dtype=np.float64), np.asarray(seconds, dtype=np.float64)
    if w.shape != s.shape or w.ndim != 1 or not w.size:
        raise ValueError("window_epochs and seconds must be two lists of the same length")
    short, long = w.min(), w.max()
    if long < LENGTH_RATIO * short:
        raise ValueError(f"the per-call cost needs windows {LENGTH_RATIO}x apart in length; got {short:g} to {long:g}")
    at_short, at_long = np.median(s[w == short]), np.median(s[w == long])
    b = (at_long - at_short) / (long - short)
    return float(at_short - b * short), float(b)


def per_call(values, level: float = LEVEL) -> tuple[float | None, Interval]:
    """The per-call cost over processes: its median and order-statistic interval, or None for the median
    where the interval does not lie above 0: holding 0, the windows do not resolve a per-call cost ("below
    resolution"); below 0, longer windows ran faster per epoch, and a + b·W is not what they measured."""
    inside = median_interval(values, level)
    resolved = math.isfinite(inside.low) and inside.low > 0
    return (median(values) if resolved else None), inside


def break_even(startup_a: float, us_a: float, startup_b: float, us_b: float) -> float | None:
    """The epoch count at which a and b take equal total time (start-up s + epochs x µs per epoch), where
    one starts quicker and the other trains quicker; None where one is quicker at both."""
    if us_a == us_b:
        return None
    epochs = (startup_b - startup_a) / ((us_a - us_b) * 1e-6)
    return epochs if epochs > 0 else None


def break_even_range(startup_a: tuple, us_a: tuple, startup_b: tuple, us_b: tuple) -> tuple[float, float]:
    """The fewest and most epochs break_even can take with each input anywhere in its interval (low, high),
    a quicker to start and b quicker per epoch: 0 where the intervals allow b to start as quickly, inf where
    they allow a to train as quickly (then nothing bounds it). Bounds from the inputs' intervals, not an
    interval with a coverage of its own."""
    fewest = max(0.0, startup_b[0] - startup_a[1]) / ((us_a[1] - us_b[0]) * 1e-6)
    gap = us_a[0] - us_b[1]
    most = (startup_b[1] - startup_a[0]) / (gap * 1e-6) if gap > 0 else math.inf
    return fewest, most
