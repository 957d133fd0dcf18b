"""Hardening: bounded memory for any accepted input, no tracebacks, statuses that mean the same on
every backend, exit statuses that say what happened, and one run per results folder.

Every case runs in seconds: huge inputs must be refused before any work, failures are forced
through the worker's test hooks or a monkeypatched write, and training runs are a few epochs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xorbench import backends

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--modes", "idiomatic", "--preset", "matched", "--epochs", "20", "--seeds", "2", "--repeats", "2",
        "--processes", "1", "--no-report"]  # fmt: skip


def xorbench(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xorbench", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def one_line(stderr: str) -> str:
    """stderr holds exactly one line and no traceback; that line."""
    assert "Traceback" not in stderr and stderr.count("\n") == 1, stderr
    return stderr.strip()


def installed(name: str) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(p) is not None for p in backends.REGISTRY[name].packages)


# ------------------------------------------------------------------ statuses mean the same everywhere

EVERY_TRAINER = [(name, mode) for name in backends.BACKENDS for mode in backends.modes_of(name)]
BLOW_UPS = [(optimizer, lr) for optimizer in ("sgd", "adam") for lr in (1000.0, 1e39)]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("optimizer, lr", BLOW_UPS, ids=[f"{o}-lr{lr:g}" for o, lr in BLOW_UPS])
def test_a_blown_up_run_is_diverged_on_every_backend_with_epoch_0s_loss_recorded(new_trainer, optimizer, lr):
    """lr 1000 saturates every sigmoid (loss stuck at 0.5); lr 1e39 overflows float32 in some backends
    and saturates others (numba): the same config gives the same status everywhere, and every backend
    records epoch 0's loss, from before any update, even when the first update overflows (torch)."""
    found = {}
    for name, mode in EVERY_TRAINER:
        if not installed(name):
            continue
        config = backends.preset("matched", name, optimizer=optimizer, lr=lr, epochs=5 if name == "keras" else 20)
        result = backends.train(new_trainer(name, mode), config)
        found[name, mode] = (result.status, result.losses[0])
    assert {status for status, _ in found.values()} == {"diverged"}, found
    first = np.array([loss for _, loss in found.values()])
    assert np.all(np.isfinite(first)) and np.allclose(first, first[0], rtol=1e-6), found


def test_saturated_outputs_on_the_wrong_side_are_diverged_and_a_solved_net_is_ok():
    from xorbench.backends.base import run_status

    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    start = np.array([0.26, 0.3])
    assert run_status(start, np.array([[1e-4], [1 - 1e-4], [1e-4], [1e-5]]), y, 1000)[0] == "diverged"
    assert run_status(start, np.array([[1e-4], [0.9999], [0.9999], [1e-5]]), y, 2.0) == ("ok", "")  # solved
    assert run_status(start, np.array([[0.5], [0.5], [0.5], [0.5]]), y, 2.0) == ("ok", "")  # stuck, not saturated
    status, reason = run_status(np.array([0.26, np.nan]), np.full((4, 1), np.nan), y, 1e39)
    assert status == "diverged" and "non-finite at epoch 1" in reason
