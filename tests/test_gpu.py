"""GPU code paths: run for real where a GPU is visible, and the scratch backend's device code on a CPU stand-in.

Without a GPU the real-GPU tests skip, each with the reason its framework gives. The
stand-in tests run everywhere: they drive the scratch backend's GPU branch through a
strict NumPy-backed namespace that, like CuPy, refuses host arrays and NumPy's own
functions on device arrays, so a host/device mix-up fails here rather than on a GPU.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.special
from test_equivalence import CURVE_RTOL, EPOCHS
from test_runner import TINY, runs_of, xorbench

from xorbench import backends
from xorbench.backends import numpy_scratch
from xorbench.bench import env
from xorbench.bench.job import CellKey, SweepJob
from xorbench.bench.measure import timed_fit
from xorbench.bench.tables import read_curves
from xorbench.bench.worker import measure_cell

# ------------------------------------------------------------------ the CPU stand-in for CuPy


class DeviceArray(np.ndarray):
    """An array "on the device": arithmetic with other device arrays and scalars only, like CuPy's."""

    def get(self) -> np.ndarray:  # cupy.ndarray.get(): a host copy
        return np.array(self.view(np.ndarray))

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if any(type(a) is np.ndarray and a.ndim for a in (*inputs, *(out or ()))):
            raise TypeError(f"{ufunc.__name__}: a host array met a device array")
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) for o in out)
        result = getattr(ufunc, method)(*(to_plain(a) for a in inputs), **kwargs)
        return (out[0] if len(out) == 1 else out) if out is not None else to_device(result)

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"numpy.{func.__name__} called on a device array: use the array namespace")


def to_plain(value):
    if isinstance(value, DeviceArray):
        return value.view(np.ndarray)
    if type(value) is np.ndarray and value.ndim:
        raise TypeError("a host array was passed to a device function (upload it with asarray)")
    if isinstance(value, (list, tuple)):
        return type(value)(to_plain(v) for v in value)
    return value


def to_device(value):
    return np.asarray(value).view(DeviceArray) if isinstance(value, (np.ndarray, np.generic)) else value


def on_device(func):
    """`func` as the device namespace offers it: device arrays in, device arrays (or `out`) back."""

    def call(*args, **kwargs):
        result = func(*to_plain(args), **{k: to_plain(v) for k, v in kwargs.items()})
        return kwargs["out"] if "out" in kwargs else to_device(result)

    return call


class StandInCupy:
    """The part of CuPy's namespace the scratch backend uses, served by NumPy on DeviceArrays."""

    @staticmethod
    def asarray(a):
        return np.array(a).view(DeviceArray)  # the upload: a copy

    def __getattr__(self, name):
        return on_device(getattr(np, name))


@pytest.fixture
def stand_in_gpu(monkeypatch):
    """Point the scratch backend's "gpu" device at the stand-in namespace."""
    monkeypatch.setattr(numpy_scratch, "array_namespace", lambda d: StandInCupy() if d == "gpu" else np)
    expit = on_device(scipy.special.expit)
    monkeypatch.setattr(numpy_scratch, "expit_for", lambda d: expit if d == "gpu" else scipy.special.expit)


def test_the_stand_in_refuses_what_cupy_refuses():
    device = StandInCupy().asarray(np.ones(3))
    with pytest.raises(TypeError, match="host array"):
        device + np.ones(3)
    with pytest.raises(TypeError, match="namespace"):
        np.vdot(device, device)
    with pytest.raises(TypeError, match="host array"):
        StandInCupy().matmul(device, np.ones(3))
    assert isinstance(StandInCupy().vdot(device, device), DeviceArray) and type(device.get()) is np.ndarray


OPTIMIZER_RUNS = {
    "sgd": dict(optimizer="sgd"),
    "adam": dict(optimizer="adam"),
    "sgd-momentum": dict(momentum=0.9, lr=0.5),
}


@pytest.mark.parametrize("optimizer", OPTIMIZER_RUNS)
@pytest.mark.parametrize("mode", ["idiomatic", "tuned"])
def test_scratch_gpu_branch_keeps_every_array_on_the_device(stand_in_gpu, mode, optimizer):
    trainer_class = {"idiomatic": numpy_scratch.NumpyTrainer, "tuned": numpy_scratch.NumpyTunedTrainer}[mode]
    config = backends.preset("matched", "numpy", epochs=60, **OPTIMIZER_RUNS[optimizer])
    on_gpu = trainer_class(device="gpu")
    gpu = backends.train(on_gpu, config)
    cpu = backends.train(trainer_class(device="cpu"), config)

    held = [v for v in vars(on_gpu).values() if isinstance(v, np.ndarray)] + on_gpu.params + on_gpu.m + on_gpu.v
    held += on_gpu.velocity
    assert held and all(isinstance(a, DeviceArray) for a in held), [type(a) for a in held]
    assert type(gpu.losses) is np.ndarray and type(gpu.predictions) is np.ndarray  # brought home by to_host
    assert type(gpu.max_errors) is np.ndarray
    np.testing.assert_array_equal(gpu.losses, cpu.losses)  # the same NumPy arithmetic underneath
    np.testing.assert_array_equal(gpu.predictions, cpu.predictions)
    np.testing.assert_array_equal(gpu.max_errors, cpu.max_errors)


# ------------------------------------------------------------------ timings wait for the device


def test_timed_fit_waits_for_the_device_before_starting_the_clock(monkeypatch):
    events = []

    class Trainer:
        name, device, mode = "numpy", "gpu", "idiomatic"

        def fit(self, epochs):
            events.append("fit")
            return np.zeros(epochs)

    monkeypatch.setattr(backends, "synchronize", lambda trainer: events.append(("synchronize", trainer.device)))
    seconds, losses = timed_fit(Trainer(), 3)
    assert events == [("synchronize", "gpu"), "fit"] and seconds >= 0 and losses.shape == (3,)


@pytest.mark.parametrize("name", backends.BACKENDS)
def test_synchronize_on_the_cpu_is_a_no_op_for_every_installed_backend(require_backend, name):
    require_backend(name)
    trainer = backends.get_trainer(name, "cpu", "idiomatic")
    assert backends.synchronize(trainer) is None


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
    config = backends.preset("matched", "numpy", optimizer=optimizer, epochs=EPOCHS)
    gpu, cpu = backends.train(trainer, config), trained("numpy", config)
    np.testing.assert_allclose(gpu.losses, cpu.losses, rtol=CURVE_RTOL[optimizer], atol=0)
    np.testing.assert_array_equal(gpu.predictions > 0.5, cpu.predictions > 0.5)


@pytest.mark.parametrize("optimizer", OPTIMIZER_RUNS)
def test_torch_tuned_replays_one_cuda_graph_across_fit_calls(require_backend, optimizer):
    """With momentum, the graph owns the velocity: warm-up steps before the capture leave none behind."""
    import torch

    trainer = gpu_trainer(require_backend, "torch", "tuned")
    config = backends.preset("matched", "torch", epochs=40, **OPTIMIZER_RUNS[optimizer])
    rtol = CURVE_RTOL[config.optimizer]
    trainer.setup(config)
    assert isinstance(trainer.graph, torch.cuda.CUDAGraph)
    split = np.concatenate([trainer.fit(15), trainer.fit(25)])
    eager = backends.get_trainer("torch", "gpu", "idiomatic")
    eager.setup(config)
    np.testing.assert_allclose(split, eager.fit(40), rtol=rtol, atol=0)
    np.testing.assert_allclose(trainer.max_errors, eager.max_errors[15:], rtol=rtol, atol=0)
    assert split[-1] < split[0]  # the graph's updates reach the weights: the loss moves


@pytest.mark.skipif(not env.gpus(), reason="no GPU here (nvidia-smi lists none): test_runner checks the skipped rows")
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
