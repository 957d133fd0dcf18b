"""The one definition of each statistic: the repeats' summary (median, interquartile range, minimum),
the median of a column, the Wilson interval of a success rate, the Mann-Whitney comparison of two
sets of repeats, and the relative difference of two loss curves.

NumPy only at import (a worker imports this); SciPy is imported when a comparison is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

ALPHA = 0.05  # significance level of the Mann-Whitney U test on the timing repeats
Z95 = 1.959963984540054  # two-sided 95% normal quantile, for the Wilson interval
TINY = np.finfo(np.float64).tiny  # the denominator of a relative difference never goes below this


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


class Comparison(NamedTuple):
    """A two-sided Mann-Whitney U test of two sets of repeats: p (None when untested) and p < alpha."""

    p: float | None
    significant: bool


def mann_whitney(a, b, alpha: float = ALPHA) -> Comparison:
    """Compare the repeats a and b; untested (p None) when either set is empty."""
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
