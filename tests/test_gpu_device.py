"""GPU code paths run for real: collected only where a GPU is visible (tests/conftest.py's collect_ignore;
the session header says which), so a machine without one neither runs nor skips them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_equivalence import DEFAULT_EPOCHS, RTOL
from test_gpu import OPTIMIZER_RUNS
from test_runner import TINY, runs_of, xorbench

from xorbench import backends
from xorbench.bench.job import CellKey, SweepJob
from xorbench.bench.tables import read_curves
from xorbench.bench.worker import measure_cell

# ------------------------------------------------------------------ on a real GPU

GPU_ROWS = [(name, mode) for name in backends.BACKENDS for mode in backends.modes_of(name)]


def gpu_trainer(require_backend, name: str, mode: str) -> backends.Trainer:
    """A trainer on the GPU, or a skip carrying the framework's reason why not."""
    require_backend(name)
    status = backends.availability(name, "gpu")
    if not status.ok:
        pytest.skip(f"{name} on the GPU: {status.reason}")
    return backends.get_trainer(name, "gpu", mode)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("name, mode", GPU_ROWS, ids=[f"{n}-{m}" for n, m in GPU_ROWS])
def test_gpu_curves_match_the_cpu_reference(require_backend, trained, name, mode, optimizer):
    """float32 on the GPU too (no TF32): the matched curve agrees with NumPy's on the CPU."""
    trainer = gpu_trainer(require_backend, name, mode)
    config = backends.preset("matched", "numpy", optimizer=optimizer, epochs=DEFAULT_EPOCHS)
    gpu, cpu = backends.train(trainer, config), trained("numpy", config)
    np.testing.assert_allclose(gpu.losses, cpu.losses, rtol=RTOL[optimizer], atol=0)
    np.testing.assert_array_equal(gpu.predictions > 0.5, cpu.predictions > 0.5)


@pytest.mark.parametrize("optimizer", OPTIMIZER_RUNS)
def test_torch_tuned_replays_one_cuda_graph_across_fit_calls(require_backend, optimizer):
    """With momentum, the graph owns the velocity: warm-up steps before the capture leave none behind."""
    trainer = gpu_trainer(require_backend, "torch", "tuned")
    config = backends.preset("matched", "torch", epochs=40, **OPTIMIZER_RUNS[optimizer])
    rtol = RTOL[config.optimizer]
    trainer.setup(config)
    assert {run.__name__ for run in trainer.runs.values()} == {"replay"}  # captured CUDA graphs, replayed
    split = backends.History.join([trainer.fit(15), trainer.fit(25)])
    eager = backends.get_trainer("torch", "gpu", "idiomatic")
    eager.setup(config)
    whole = eager.fit(40)
    np.testing.assert_allclose(split.losses, whole.losses, rtol=rtol, atol=0)
    np.testing.assert_allclose(split.max_errors, whole.max_errors, rtol=rtol, atol=0)
    assert split.losses[-1] < split.losses[0]  # the graph's updates reach the weights: the loss moves


def test_devices_gpu_measures_the_rows_a_gpu_can_run(tmp_path):
    done = xorbench("run", "--devices", "gpu", "--backends", "numpy,torch", *TINY, "--out", str(tmp_path),
                    "--no-report")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    runs = runs_of(tmp_path)
    assert set(runs["device"]) == {"gpu"}
    measurable = [name for name in ("numpy", "torch") if backends.availability(name, "gpu").ok]
    assert measurable, "nvidia-smi sees a GPU, but neither CuPy nor torch can use it"
    for name in measurable:
        rows = runs[runs["backend"] == name]
        assert set(rows["status"]) <= {"ok", "diverged"} and len(rows) == 3, rows
        assert (rows["device_name"] != "cpu").all() and (rows["epoch_us_median"].dropna() > 0).all()
    curves = read_curves(tmp_path)
    assert set(curves["device"]) == {"gpu"} and set(measurable) <= set(curves["backend"])


@pytest.mark.parametrize("mode", ["idiomatic", "tuned"])
def test_a_gpu_sweep_cell_is_timed(require_backend, mode):
    gpu_trainer(require_backend, "torch", mode)
    job = SweepJob(backend="torch", device="gpu", modes=(mode,), threads=1, spec={}, repeats=3,
                   window_s=0.01, hidden=(64,), batch=(256,), cell_cap_s=5.0,
                   matched=dataclasses.asdict(backends.TrainConfig()))  # fmt: skip
    row = measure_cell(job, CellKey(mode, 64, 256), estimate_s=None)
    assert row["status"] == "ok" and row["epoch_us_median"] > 0 and row["windows"] >= 1, row
