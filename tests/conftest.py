"""Shared fixtures: trainers for installed backends only, and each training run done once per session.

Keras' model.fit costs tens of milliseconds per epoch here, so a (backend, config) pair
is trained once and every test that needs its result reads it from the session cache.
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from xorbench import backends
from xorbench.bench.tables import CURVES

# Keras reads KERAS_BACKEND at its first import, so one process holds one Keras backend. A test
# session runs Keras on this framework (the first of a keras* backend's packages); the other
# keras* backends are skipped in it, and tests/test_keras_backends.py checks each of them in a
# process of its own. (XORBENCH_TEST_KERAS_FRAMEWORK=jax runs this whole suite on Keras-on-JAX instead.)
KERAS_FRAMEWORK_VARIABLE = "XORBENCH_TEST_KERAS_FRAMEWORK"
KERAS_FRAMEWORK = os.environ.get(KERAS_FRAMEWORK_VARIABLE, "tensorflow")


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


def _prepare(name: str) -> None:
    """Once per backend and session: pin threads, and make TensorFlow's ops deterministic."""
    try:
        backends.set_threads(name, backends.DEFAULT_THREADS)
    except RuntimeError:  # TensorFlow already ran an op (e.g. bench/ tests first): threads only affect speed
        pass
    if backends.REGISTRY[name].packages[0] == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


@pytest.fixture(scope="session")
def require_backend() -> Callable[[str], None]:
    """`require` for tests that need a backend installed without building its trainer here."""
    return require


@pytest.fixture(scope="session")
def new_trainer() -> Callable[..., backends.Trainer]:
    """A fresh idiomatic CPU trainer for `name`; skips when its framework is not installed."""
    prepared: set[str] = set()

    def make(name: str, mode: str = "idiomatic") -> backends.Trainer:
        require(name)
        if name not in prepared:
            _prepare(name)
            prepared.add(name)
        return backends.get_trainer(name, "cpu", mode)

    return make


@pytest.fixture(scope="session")
def trained(new_trainer) -> Callable[[str, backends.TrainConfig], backends.TrainResult]:
    """The result of training `name` on `config`, computed at most once per session."""
    cache: dict[tuple[str, backends.TrainConfig], backends.TrainResult] = {}

    def run(name: str, config: backends.TrainConfig) -> backends.TrainResult:
        key = (name, config)
        if key not in cache:
            cache[key] = backends.train(new_trainer(name), config)
        return cache[key]

    return run


# A small made-up run in the table contract (tests/fixtures/make_fixture.py), for the report tests.
FIXTURE = runpy.run_path(str(Path(__file__).parent / "fixtures" / "make_fixture.py"))


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory) -> Path:
    return FIXTURE["write_fixture"](tmp_path_factory.mktemp("fixture"))


@pytest.fixture(scope="module")
def rendered(fixture_run) -> str:
    from xorbench.bench.report import write_report

    return write_report(fixture_run).read_text(encoding="utf-8")


@pytest.fixture
def run_copy(fixture_run, tmp_path) -> Path:
    """The fixture run's tables, copied into a folder a test may change."""
    for name in ("runs.csv", "timings.csv", CURVES, "env.json", "summary.csv"):
        shutil.copy(fixture_run / name, tmp_path / name)
    return tmp_path


# Keras' compiled mode on TensorFlow is model.fit with jit_compile=True: every new model traces an XLA
# program (10-35 s a test here, the suite's costliest rows). Those rows are `slow`: README's test command
# deselects them, `pytest -m slow` runs them. The compiled mode's curves against NumPy stay in CI
# (tests/test_modes.py's test_every_mode_gives_the_numpy_curve[keras-compiled-*]).
SLOW_ROWS = {("keras", "compiled")}
KEEP = "test_every_mode_gives_the_numpy_curve"


def pytest_collection_modifyitems(items):
    for item in items:
        params = item.callspec.params if hasattr(item, "callspec") else {}
        if (params.get("name"), params.get("mode")) in SLOW_ROWS and item.originalname != KEEP:
            item.add_marker(pytest.mark.slow)
