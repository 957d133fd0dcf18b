"""Fixtures of the pytest-benchmark suite: one row per backend x device x mode.

The suite is thin on purpose: pytest-benchmark times, the trainers train, and
this file only picks the row, skips it with its reason when it cannot run here,
pins threads as the harness does and labels the benchmark (`extra_info`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from xorbench import backends
from xorbench.bench import env


def row_id(name: str, device: str, mode: str) -> str:
    """`torch-cpu`, `torch-cpu-tuned`: short, because they are the names in the table."""
    return f"{name}-{device}" + ("" if mode == "idiomatic" else f"-{mode}")


def runs_here(name: str) -> bool:
    """tests/conftest.py's rule, read from the same variables (that conftest is not importable from here):
    one Keras backend per process (XORBENCH_TEST_KERAS_FRAMEWORK, TensorFlow unless told), and
    XORBENCH_TEST_BACKENDS narrows the backends. tests/test_keras_backends.py runs this file for the others."""
    spec, wanted = backends.REGISTRY[name], os.environ.get("XORBENCH_TEST_BACKENDS")
    if wanted and name not in wanted.split(","):
        return False
    return "keras" not in spec.packages or spec.packages[0] == os.environ.get(
        "XORBENCH_TEST_KERAS_FRAMEWORK", "tensorflow"
    )


# GPU rows only where a GPU is visible: elsewhere they are not collected, rather than skipped.
DEVICES_HERE = backends.DEVICES if env.gpus() else ("cpu",)
# id -> (backend, device, mode); the ids are the fixture's values, so `--benchmark-group-by=param:row` reads well
ROWS = {
    row_id(name, device, mode): (name, device, mode)
    for name in backends.BACKENDS
    if runs_here(name)
    for device in DEVICES_HERE
    for mode in backends.modes_of(name)
    if mode in backends.MODES
}


@dataclass(frozen=True)
class Row:
    backend: str
    device: str
    mode: str

    def trainer(self, config: backends.TrainConfig) -> backends.Trainer:
        """A trainer built for `config` (model, optimizer, initial weights): never inside a timed call."""
        trainer = backends.get_trainer(self.backend, self.device, self.mode)
        trainer.setup(config)
        backends.synchronize(trainer)  # a GPU's queued setup work must not land in the timed call
        return trainer


# backend -> the thread count it was pinned to, or why it could not be pinned
_threads: dict[str, int | str] = {}


def pin_threads(name: str) -> int | str:
    """Pin the backend to DEFAULT_THREADS once per session, before its first benchmark, as the harness does."""
    if name not in _threads:
        try:
            backends.set_threads(name, backends.DEFAULT_THREADS)
            _threads[name] = backends.DEFAULT_THREADS
        except RuntimeError as error:  # TensorFlow ran an op earlier in this session (e.g. in tests/)
            _threads[name] = f"unpinned: {error}"
    return _threads[name]


@pytest.fixture(params=list(ROWS))
def row(request: pytest.FixtureRequest, benchmark) -> Row:
    name, device, mode = ROWS[request.param]
    status = backends.available((name,), (device,))[0]  # imports the framework: outside any timing
    if not status.ok:
        pytest.skip(status.reason)
    threads = pin_threads(name)
    if isinstance(threads, str) and benchmark.enabled:
        pytest.skip(f"{name}: {threads}; run `pytest bench` in a session of its own to time it")
    benchmark.extra_info.update(
        backend=name, device=device, mode=mode, framework_version=status.version, threads=threads
    )
    return Row(name, device, mode)


# Untimed (--benchmark-disable, as CI runs them), each row's one-epoch benchmark is its smoke test: it builds,
# checks the first loss against NumPy's and trains. Inference and train-to-solved add nothing the battery in
# tests/ does not check (predictions, solving), so they are deselected there; timed runs keep all three.
SMOKE = "test_one_epoch"


def pytest_collection_modifyitems(config, items):
    if not config.getoption("benchmark_disable", False):
        return
    here = [item for item in items if "row" not in getattr(item, "fixturenames", ()) or item.originalname == SMOKE]
    dropped = [item for item in items if item not in here]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = here
