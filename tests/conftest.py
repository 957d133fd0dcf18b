"""Shared fixtures: trainers for installed backends only, and each training run done once per session.

Keras' model.fit costs tens of milliseconds per epoch here, so a (backend, config) pair
is trained once and every test that needs its result reads it from the session cache.
"""

from __future__ import annotations

import runpy
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from selection import HERE, KERAS_FRAMEWORK, require  # tests/selection.py: which backends this process tests

from xorbench import backends
from xorbench.bench import env
from xorbench.bench.tables import CURVES


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


# The real-GPU tests are collected only where nvidia-smi lists a GPU: without one they are not asked, not skipped.
GPU_VISIBLE = bool(env.gpus())
collect_ignore = [] if GPU_VISIBLE else ["test_gpu_device.py"]


def pytest_report_header(config) -> str:
    gpu = "GPU tests collected (a GPU is visible)" if GPU_VISIBLE else "no GPU visible: GPU tests not collected"
    return f"xorbench: backends {', '.join(HERE)} (Keras on {KERAS_FRAMEWORK}); {gpu}"
