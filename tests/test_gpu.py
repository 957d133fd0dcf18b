"""GPU code paths on the CPU: the scratch backend's device code on a stand-in, and timings that wait.

The stand-in tests run everywhere: they drive the scratch backend's GPU branch through a
strict NumPy-backed namespace that, like CuPy, refuses host arrays and NumPy's own
functions on device arrays, so a host/device mix-up fails here rather than on a GPU.
The real-GPU tests are tests/test_gpu_device.py, collected only where a GPU is visible.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special
from selection import HERE

from xorbench import backends
from xorbench.backends import numpy_scratch
from xorbench.bench.measure import timed_fit

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
            return backends.History(np.zeros(epochs), np.zeros(epochs))

    monkeypatch.setattr(backends, "synchronize", lambda trainer: events.append(("synchronize", trainer.device)))
    seconds, history = timed_fit(Trainer(), 3)
    assert events == [("synchronize", "gpu"), "fit"] and seconds >= 0 and len(history) == 3


@pytest.mark.parametrize("name", HERE)  # the other Keras backends: they cannot load in this process
def test_synchronize_on_the_cpu_is_a_no_op_for_every_installed_backend(require_backend, name):
    require_backend(name)
    trainer = backends.get_trainer(name, "cpu", "idiomatic")
    assert backends.synchronize(trainer) is None


def test_synchronize_looks_its_backend_up_once_not_per_timed_call(monkeypatch):
    """Timings call it before every window: the module lookup (packages checked, module imported) is paid once."""
    loads = []
    load = backends.load
    monkeypatch.setattr(backends, "load", lambda name: loads.append(name) or load(name))
    backends.register(backends.REGISTRY["numpy"])  # registering again forgets what was looked up
    trainer = backends.get_trainer("numpy")
    loads.clear()
    for _ in range(3):
        backends.synchronize(trainer)
    assert loads == ["numpy"]
