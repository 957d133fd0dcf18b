"""Fixtures of the pytest-benchmark suite: one row per backend x device x mode.

The suite is thin on purpose: pytest-benchmark times, the trainers train, and
this file only picks the row, skips it with its reason when it cannot run here,
pins threads as the harness does and labels the benchmark (`extra_info`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from xorbench import backends


def row_id(name: str, device: str, mode: str) -> str:
    """`torch-cpu`, `torch-cpu-tuned`: short, because they are the names in the table."""
    return f"{name}-{device}" + ("" if mode == "idiomatic" else f"-{mode}")


# id -> (backend, device, mode); the ids are the fixture's values, so `--benchmark-group-by=param:row` reads well
ROWS = {
    row_id(name, device, mode): (name, device, mode)
    for name in backends.BACKENDS
    for device in backends.DEVICES
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


# CI runs every benchmark once, untimed (--benchmark-disable), as a smoke test. Keras' model.fit rows are the
# costliest there (10-13 s each to trace and train to solved); their train-to-solved smoke is `slow`, and
# their one-epoch and inference smokes stay in CI. Timed runs (`pytest bench --benchmark-only`) keep them all.
SLOW_SMOKES = {("test_train_to_solved", "keras-cpu"), ("test_train_to_solved", "keras-cpu-compiled")}


def pytest_collection_modifyitems(items):
    for item in items:
        row = item.callspec.params.get("row") if hasattr(item, "callspec") else None
        if (item.originalname, row) in SLOW_SMOKES:
            item.add_marker(pytest.mark.slow)
