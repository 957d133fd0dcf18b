"""Which backends and modes this test process tests, and the skip for a backend that is not installed.

A module of its own, not conftest.py: test modules import these names, and bench/benchmarks has a
conftest.py too, so `from conftest import ...` would find whichever pytest loaded last.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from xorbench import backends

# Keras reads KERAS_BACKEND at its first import, so one process holds one Keras backend. A test
# session runs Keras on this framework (the first of a keras* backend's packages); tests parametrised
# over backends leave the other keras* backends out (not collected, so not skipped), and
# tests/test_keras_backends.py runs the battery for each of them in a pytest process of its own,
# which sets this variable. XORBENCH_TEST_BACKENDS (names, comma-separated) narrows the backends too.
KERAS_FRAMEWORK_VARIABLE = "XORBENCH_TEST_KERAS_FRAMEWORK"
KERAS_FRAMEWORK = os.environ.get(KERAS_FRAMEWORK_VARIABLE, "tensorflow")
BACKENDS_VARIABLE = "XORBENCH_TEST_BACKENDS"


def runs_here(name: str) -> bool:
    """Whether this session tests backend `name`: not a Keras on another framework than this session's."""
    spec = backends.REGISTRY[name]
    wanted = os.environ.get(BACKENDS_VARIABLE)
    if wanted and name not in wanted.split(","):
        return False
    return "keras" not in spec.packages or spec.packages[0] == KERAS_FRAMEWORK


HERE = tuple(name for name in backends.BACKENDS if runs_here(name))  # the backends this session tests
MODES_HERE = [(name, mode) for name in HERE for mode in backends.modes_of(name)]
# Modes that compile a graph per new shape or dtype for tens of seconds here (torch.compile, Keras' XLA per
# model): tests other than the battery's train them only on its configs, so each compiles at most twice.
COSTLY = {("torch", "compiled"), ("torch", "tuned"), ("keras", "compiled"), ("keras-torch", "compiled"),
          ("keras-torch", "tuned")}  # fmt: skip
CHEAP_MODES = [row for row in MODES_HERE if row not in COSTLY]


def mode_ids(rows) -> list[str]:
    return [f"{name}-{mode}" for name, mode in rows]


# Keras' compiled mode traces an XLA program for every new model (10-35 s each here): beyond the battery's
# two configs its tests are `slow` (README's test command deselects them; `pytest -m slow` runs them).
SLOW_OUTSIDE_THE_BATTERY = {("keras", "compiled")}


def mode_params(rows) -> list:
    """(name, mode) rows as pytest parameters, named name-mode, `slow` where SLOW_OUTSIDE_THE_BATTERY says."""
    return [
        pytest.param(name, mode, id=id_, marks=[pytest.mark.slow] if (name, mode) in SLOW_OUTSIDE_THE_BATTERY else [])
        for (name, mode), id_ in zip(rows, mode_ids(rows))
    ]


def require(name: str) -> None:
    """Skip the calling test, with the reason, when backend `name`'s framework is not installed,
    or when it runs Keras on another framework than this session's Keras (see KERAS_FRAMEWORK)."""
    spec = backends.REGISTRY[name]
    for module in spec.packages:  # looked for, not imported: importing keras would pick its backend now
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"backend {name!r} needs {module}, which is not installed: pip install '{spec.extra}'")
    if "keras" in spec.packages and spec.packages[0] != KERAS_FRAMEWORK:
        pytest.skip(
            f"backend {name!r} runs Keras on {spec.packages[0]}, this session on {KERAS_FRAMEWORK}: one process holds "
            f"one Keras backend (tests/test_keras_backends.py checks {name!r} in a process of its own)"
        )
