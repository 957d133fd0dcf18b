"""The backends and their registry.

`import backends` imports no framework: each backend module is imported only
when that backend is asked for, so one process can hold just one framework.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from . import base
from .base import (
    DEFAULT_THREADS,
    DEVICES,
    LOSS_TARGET,
    MODES,
    PRESETS,
    Params,
    TrainConfig,
    Trainer,
    TrainResult,
    check_choice,
    initial_params,
    preset,
    train,
    xor_data,
)

# name -> (module, {mode: trainer class}, the package it needs, the extra that installs it)
REGISTRY = {
    "numpy": (
        "backends.numpy_scratch",
        {"idiomatic": "NumpyTrainer", "tuned": "NumpyTunedTrainer"},
        "numpy",
        "xorbench",
    ),
    "keras": (
        "backends.keras_tf",
        {"idiomatic": "KerasTrainer", "tuned": "KerasTunedTrainer"},
        "tensorflow",
        "xorbench[keras]",
    ),
    "torch": (
        "backends.torch_nn",
        {"idiomatic": "TorchTrainer", "tuned": "TorchTunedTrainer"},
        "torch",
        "xorbench[torch]",
    ),
    "numba": ("backends.numba_floor", {"idiomatic": "NumbaTrainer"}, "numba", "xorbench[floor]"),
    "jax": ("backends.jax_xla", {"idiomatic": "JaxTrainer", "tuned": "JaxTunedTrainer"}, "jax", "xorbench[jax]"),
}
BACKENDS = tuple(REGISTRY)
assert BACKENDS == base.BACKEND_NAMES, "keep base.BACKEND_NAMES in step with the registry"

__all__ = [
    "DEFAULT_THREADS",
    "BACKENDS",
    "DEVICES",
    "LOSS_TARGET",
    "MODES",
    "PRESETS",
    "Availability",
    "Params",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "available",
    "check_choice",
    "get_trainer",
    "initial_params",
    "load",
    "modes_of",
    "preset",
    "set_threads",
    "synchronize",
    "train",
    "xor_data",
]


@dataclass(frozen=True)
class Availability:
    backend: str
    device: str
    ok: bool
    reason: str  # one actionable line when not ok
    version: str  # framework version, "" when not installed


def load(name: str):
    """The backend's module, imported now. Raises ValueError for an unknown name, ImportError if absent."""
    check_choice("backend", name, BACKENDS)
    module, _, package, extra = REGISTRY[name]
    if importlib.util.find_spec(package) is None:
        raise ImportError(f"{package} is not installed: pip install '{extra}'")
    return importlib.import_module(module)


def availability(name: str, device: str) -> Availability:
    check_choice("backend", name, BACKENDS)
    check_choice("device", device, DEVICES)
    try:
        module = load(name)
    except ImportError as error:
        return Availability(name, device, False, str(error).splitlines()[0], "")
    reason = module.unavailable_reason(device)
    return Availability(name, device, reason is None, reason or "", module.framework_version())


def available(backends: tuple[str, ...] = BACKENDS, devices: tuple[str, ...] = DEVICES) -> list[Availability]:
    """For every backend and device: can it run here, and if not, why. Imports the frameworks."""
    return [availability(name, device) for name in backends for device in devices]


def set_threads(name: str, n: int) -> None:
    """Pin the backend's framework to n threads (process-wide; before its first op for TensorFlow)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be an integer >= 1; got {n!r}")
    load(name).set_threads(n)


def synchronize(trainer: Trainer) -> None:
    """Wait until the trainer's device has finished its queued work; a no-op on the CPU.

    Timings call it before starting the clock; fit() itself returns only once the device is done.
    """
    load(trainer.name).synchronize(trainer.device)


def modes_of(name: str) -> tuple[str, ...]:
    """The modes a backend offers (the numba floor has only one: compiled loops are its idiom)."""
    check_choice("backend", name, BACKENDS)
    return tuple(REGISTRY[name][1])


def get_trainer(name: str, device: str = "cpu", mode: str = "idiomatic") -> Trainer:
    """A ready trainer, or ValueError for unknown names and RuntimeError when it cannot run here."""
    check_choice("mode", mode, MODES)
    check_choice(f"mode of the {name} backend", mode, modes_of(name))
    status = availability(name, device)
    if not status.ok:
        raise RuntimeError(f"{name} on {device} is unavailable: {status.reason}")
    module = load(name)
    return getattr(module, REGISTRY[name][1][mode])(device=device)
