"""The backends and their registry.

`import backends` imports no framework: each backend module is imported only
when that backend is asked for, so one process can hold just one framework.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from . import base
from .base import (
    DEFAULT_THREADS,
    DEVICES,
    LOSS_TARGET,
    MODES,
    PRESETS,
    History,
    Params,
    TrainConfig,
    Trainer,
    TrainResult,
    check_choice,
    initial_params,
    train,
    xor_data,
)


@dataclass(frozen=True)
class BackendSpec:
    """Everything the harness, the report and the tests need to know about one backend.

    Adding a backend is one module (the functions of `BackendModule`, and a Trainer class per mode)
    plus one `register(BackendSpec(...))` line below.
    """

    name: str
    module: str  # importable module path
    modes: tuple[tuple[str, str], ...]  # (mode, trainer class name), in the order they are measured
    packages: tuple[str, ...]  # what must be importable; the first is the framework
    extra: str  # what installs them: pip install '<extra>'
    distributions: tuple[str, ...] = ()  # whose versions env.json records
    floor: bool = False  # the compiled reference floor, not a contender
    tuned_target: float | None = None  # the report checks tuned / idiomatic time per epoch against this
    compile_cache_env: str | None = None  # where the framework keeps its on-disk compile cache, if it has one

    @property
    def trainers(self) -> dict[str, str]:
        return dict(self.modes)


@runtime_checkable
class BackendModule(Protocol):
    """The functions every backend module offers beside its trainers."""

    def framework_version(self) -> str: ...

    def unavailable_reason(self, device: str) -> str | None:
        """None when the backend can run on `device` here, else one actionable line."""

    def set_threads(self, n: int) -> None:
        """Pin the framework's thread pools (process-wide; before its first op for some)."""

    def synchronize(self, device: str) -> None:
        """Wait until the device has finished its queued work; a no-op on the CPU."""

    def device_name(self, device: str) -> str: ...


PROTOCOL_FUNCTIONS = ("framework_version", "unavailable_reason", "set_threads", "synchronize", "device_name")
REGISTRY: dict[str, BackendSpec] = {}
# backend name -> its module's synchronize: timed calls wait on it, so it is looked up (packages checked,
# module imported) once, not per call
_SYNCHRONIZE: dict[str, Callable[[str], None]] = {}


def register(spec: BackendSpec) -> None:
    """Add a backend (or replace one of the same name): from then on every command and report sees it."""
    REGISTRY[spec.name] = spec
    _SYNCHRONIZE.pop(spec.name, None)


register(
    BackendSpec(
        "numpy",
        module=f"{__name__}.numpy_scratch",
        modes=(("idiomatic", "NumpyTrainer"), ("tuned", "NumpyTunedTrainer")),
        packages=("numpy",),
        extra="xorbench",
        distributions=("numpy", "scipy", "cupy", "cupy-cuda12x", "cupy-cuda13x"),  # CuPy: the GPU's array namespace
    )
)
register(
    BackendSpec(
        "keras",
        module=f"{__name__}.keras_tf",
        modes=(("idiomatic", "KerasTrainer"), ("compiled", "KerasCompiledTrainer"), ("tuned", "KerasTunedTrainer")),
        packages=("tensorflow", "keras"),
        extra="xorbench[keras]",
        distributions=("tensorflow", "tensorflow-cpu", "keras"),
        tuned_target=0.01,
    )
)
register(
    BackendSpec(
        "torch",
        module=f"{__name__}.torch_nn",
        modes=(("idiomatic", "TorchTrainer"), ("compiled", "TorchCompiledTrainer"), ("tuned", "TorchTunedTrainer")),
        packages=("torch",),
        extra="xorbench[torch]",
        distributions=("torch",),
        tuned_target=0.12,
        compile_cache_env="TORCHINDUCTOR_CACHE_DIR",
    )
)
register(
    BackendSpec(
        "numba",
        module=f"{__name__}.numba_floor",
        modes=(("idiomatic", "NumbaTrainer"),),
        packages=("numba",),
        extra="xorbench[floor]",
        distributions=("numba",),
        floor=True,
    )
)
register(
    BackendSpec(
        "jax",
        module=f"{__name__}.jax_xla",
        modes=(("idiomatic", "JaxTrainer"), ("tuned", "JaxTunedTrainer")),
        packages=("jax",),
        extra="xorbench[jax]",
        distributions=("jax", "jaxlib"),
    )
)

register(
    BackendSpec(
        "keras-jax",
        module=f"{__name__}.keras_jax",
        # No compiled mode: Keras' default jit_compile="auto" already is XLA on JAX.
        modes=(("idiomatic", "KerasJaxTrainer"), ("tuned", "KerasJaxTunedTrainer")),
        packages=("jax", "keras"),
        extra="xorbench[keras-jax]",
        distributions=("keras", "jax", "jaxlib"),
    )
)

register(
    BackendSpec(
        "keras-torch",
        module=f"{__name__}.keras_torch",
        modes=(
            ("idiomatic", "KerasTorchTrainer"),
            ("compiled", "KerasTorchCompiledTrainer"),
            ("tuned", "KerasTorchTunedTrainer"),
        ),
        packages=("torch", "keras"),
        extra="xorbench[keras-torch]",
        distributions=("keras", "torch"),
        compile_cache_env="TORCHINDUCTOR_CACHE_DIR",
    )
)


def __getattr__(name: str):
    if name == "BACKENDS":  # every registered backend's name, read when asked: register() adds to it
        return tuple(REGISTRY)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def spec(name: str) -> BackendSpec:
    """The registered backend `name`, or ValueError naming the known ones."""
    check_choice("backend", name, tuple(REGISTRY))
    return REGISTRY[name]


__all__ = [
    "DEFAULT_THREADS",
    "BACKENDS",
    "DEVICES",
    "LOSS_TARGET",
    "MODES",
    "PRESETS",
    "Availability",
    "BackendModule",
    "BackendSpec",
    "History",
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
    "floor_backends",
    "preset",
    "register",
    "set_threads",
    "spec",
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


def load(name: str) -> BackendModule:
    """The backend's module, imported now. Raises ValueError for an unknown name, ImportError if absent."""
    found = spec(name)
    for package in found.packages:
        if importlib.util.find_spec(package) is None:
            raise ImportError(f"{package} is not installed: pip install '{found.extra}'")
    module = importlib.import_module(found.module)
    missing = [f for f in PROTOCOL_FUNCTIONS if not callable(getattr(module, f, None))]
    if missing:
        raise TypeError(f"backend module {found.module} lacks {', '.join(missing)} (see BackendModule)")
    return module


def availability(name: str, device: str) -> Availability:
    spec(name)
    check_choice("device", device, DEVICES)
    try:
        module = load(name)
    except ImportError as error:
        return Availability(name, device, False, str(error).splitlines()[0], "")
    reason = module.unavailable_reason(device)
    return Availability(name, device, reason is None, reason or "", module.framework_version())


def available(backends: tuple[str, ...] | None = None, devices: tuple[str, ...] = DEVICES) -> list[Availability]:
    """For every backend (default: all registered) and device: can it run here, and if not, why.

    Imports the frameworks, in this process."""
    return [availability(name, device) for name in backends or tuple(REGISTRY) for device in devices]


def set_threads(name: str, n: int) -> None:
    """Pin the backend's framework to n threads (process-wide; before its first op for TensorFlow)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be an integer >= 1; got {n!r}")
    load(name).set_threads(n)


def synchronize(trainer: Trainer) -> None:
    """Wait until the trainer's device has finished its queued work; a no-op on the CPU.

    Timings call it before starting the clock; fit() itself returns only once the device is done.
    """
    wait = _SYNCHRONIZE.get(trainer.name)
    if wait is None:
        wait = _SYNCHRONIZE[trainer.name] = load(trainer.name).synchronize
    wait(trainer.device)


def preset(name: str, backend: str, **overrides) -> TrainConfig:
    """The configuration of preset `name` (matched, article) for a registered `backend`, with overrides."""
    spec(backend)
    return base.preset(name, backend, **overrides)


def floor_backends() -> tuple[str, ...]:
    """The compiled reference floors: measured beside the frameworks, never ranked among them."""
    return tuple(name for name, found in REGISTRY.items() if found.floor)


def modes_of(name: str) -> tuple[str, ...]:
    """The modes a backend offers (the numba floor has only one: compiled loops are its idiom)."""
    return tuple(spec(name).trainers)


def get_trainer(name: str, device: str = "cpu", mode: str = "idiomatic") -> Trainer:
    """A ready trainer, or ValueError for unknown names and RuntimeError when it cannot run here."""
    check_choice("mode", mode, MODES)
    check_choice(f"mode of the {name} backend", mode, modes_of(name))
    status = availability(name, device)
    if not status.ok:
        raise RuntimeError(f"{name} on {device} is unavailable: {status.reason}")
    module = load(name)
    return getattr(module, spec(name).trainers[mode])(device=device)


def describe(trainer_class: type, module: object, fallback: str) -> str:
    """What a mode is, in its own words: the first sentence of its trainer's docstring (or, where the class
    has none, its module's), whole where the first paragraph wraps, with a class constant it names as its
    value ("WINDOW epochs per call" reads "16 epochs per call"); `fallback` where neither has one."""
    doc = trainer_class.__doc__ or getattr(module, "__doc__", None) or ""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    sentence = re.split(r"(?<=\.)\s", paragraph, maxsplit=1)[0].rstrip(".") or fallback

    def value(match: re.Match) -> str:
        found = getattr(trainer_class, match.group(0), None)
        return str(found) if isinstance(found, int) and not isinstance(found, bool) else match.group(0)

    return re.sub(r"\b[A-Z][A-Z_]{3,}\b", value, sentence)
