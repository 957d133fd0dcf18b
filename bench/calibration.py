"""The calibration kernel: a fixed piece of work timed in a timing process just before each window.

A process on the dev VM keeps one speed for its life, and about one in five runs at 0.55-0.8x
(probably the vCPU it lands on). Timing the same fixed work in the same process, right before each
window, measures that state, so the window's time can be moved to a reference state (stats.calibrate).
The kernel is the article's own NumPy epoch at 4 samples, 200 times over: small-array work whose
speed follows the interpreter's and the CPU's, as most rows' epochs do (../shared/probe: corr 0.89-0.97
with the rows' windows). Standard library and NumPy only: a worker imports it before its framework.
"""

from __future__ import annotations

import time

import numpy as np

REPEATS = 200  # epochs of the kernel per timing: ~2-4 ms here, small beside a window of >= 10 ms

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([[0.0], [1.0], [1.0], [0.0]])


def kernel(repeats: int = REPEATS) -> float:
    """Seconds for `repeats` epochs of the article's scratch network (the same weights every call, so
    the same work every call: the result is thrown away)."""
    rng = np.random.default_rng(0)
    w1, w2 = rng.random((2, 4)), rng.random((4, 1))
    start = time.perf_counter()
    for _ in range(repeats):
        hidden = 1 / (1 + np.exp(-X @ w1))
        output = 1 / (1 + np.exp(-hidden @ w2))
        output_delta = (Y - output) * output * (1 - output)
        hidden_delta = (output_delta @ w2.T) * hidden * (1 - hidden)
        w2 = w2 + 0.1 * hidden.T @ output_delta
        w1 = w1 + 0.1 * X.T @ hidden_delta
    return time.perf_counter() - start


def cpu_now() -> int | None:
    """The CPU this process last ran on (field 39 of /proc/self/stat), or None where there is no /proc."""
    try:
        with open("/proc/self/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[36])
    except (OSError, IndexError, ValueError):
        return None
