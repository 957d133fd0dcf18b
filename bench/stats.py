"""The one place repeats are summarised: median, interquartile range, minimum."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def max_relative_difference(a, b) -> float:
    """Largest |a - b| / |a| over the common prefix of two loss curves (inf if either is non-finite there)."""
    n = min(len(a), len(b))
    a, b = np.asarray(a[:n], dtype=np.float64), np.asarray(b[:n], dtype=np.float64)
    if n == 0:
        return float("nan")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("inf")
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), np.finfo(np.float64).tiny)))
