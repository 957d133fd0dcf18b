"""The one definition of each statistic: the repeats' summary (median, interquartile range, minimum),
the median of a column, the Wilson interval of a success rate, the per-call and per-epoch costs
of one process's windows, the bootstrap interval of a median over processes and of a ratio of
two such medians, the verdict a ratio's interval allows, the Mann-Whitney comparison of two
samples, and the relative difference of two loss curves.

Processes, not windows, are the independent repeats of a measurement (pyperf's view): windows of
one process share its memory layout, its compiled code and its luck, so intervals and claims here
are over per-process values.

NumPy only at import (a worker imports this); SciPy is imported when a comparison is made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

ALPHA = 0.05  # significance level of the Mann-Whitney U test on the timing repeats
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


def fit_call_and_epoch(window_epochs, seconds) -> tuple[float, float]:
    """(a, b) in seconds: the per-call cost a and the per-epoch cost b of fit(W) seconds = a + b * W,
    fitted by least squares to one process's windows, which must come in at least two lengths.

    Neither cost can be negative, so this is the least-squares line under a >= 0 and b >= 0: where the
    free line has a < 0 (noise, or a per-epoch cost that grows with W), a is 0 and the line goes through
    the origin (b = sum(W s) / sum(W^2)); where it has b < 0 (longer windows were no slower: the windows
    do not resolve a per-epoch cost), b is 0 and a is the mean of the seconds. Of these, the one with
    the smaller squared error.
    """
    w, s = np.asarray(window_epochs, dtype=np.float64), np.asarray(seconds, dtype=np.float64)
    if w.shape != s.shape or w.ndim != 1:
        raise ValueError("window_epochs and seconds must be two lists of the same length")
    if np.unique(w).size < 2:
        raise ValueError(f"fitting a + b * W needs windows of at least two lengths; got {sorted(set(w.tolist()))}")
    b, a = np.polyfit(w, s, 1)
    if a >= 0 and b >= 0:
        return float(a), float(b)
    candidates = [(0.0, float(w @ s / (w @ w))), (float(s.mean()), 0.0)]
    return min(candidates, key=lambda ab: float(np.sum((s - ab[0] - ab[1] * w) ** 2)))


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


class Comparison(NamedTuple):
    """A two-sided Mann-Whitney U test of two sets of repeats: p (None when untested) and p < alpha."""

    p: float | None
    significant: bool


def mann_whitney(a, b, alpha: float = ALPHA) -> Comparison:
    """Compare the samples a and b (independent values: processes, not windows); untested (p None)
    when either is empty."""
    if len(a) < 1 or len(b) < 1:
        return Comparison(None, False)
    from scipy.stats import mannwhitneyu

    p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return Comparison(p, p < alpha)


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
