"""Keras on each of its backends: `keras` (TensorFlow), `keras-jax` and `keras-torch`.

One process holds one Keras backend, so a test session runs one (conftest.KERAS_FRAMEWORK,
TensorFlow unless told); the registry-wide tests (battery, protocol, modes, classic) leave the
other two out, and the last test here runs those files for each of them in a pytest process of its
own. Missing frameworks and a second Keras backend are checked in fresh interpreters.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from selection import BACKENDS_VARIABLE, KERAS_FRAMEWORK, KERAS_FRAMEWORK_VARIABLE
from test_equivalence import RTOL, SHORTEST  # the battery's tolerance, shown to have teeth at SHORTEST epochs

from xorbench import backends

REPO = Path(__file__).resolve().parents[1]
KERAS = tuple(name for name, spec in backends.REGISTRY.items() if "keras" in spec.packages)
TUNED = tuple(name for name in KERAS if "tuned" in backends.modes_of(name))


def run_python(code: str, env: dict[str, str] | None = None, unset: tuple[str, ...] = ()) -> object:
    """Run `code` in a fresh interpreter at the repository root, with `env` and without `unset`;
    the JSON it printed last."""
    env = {name: value for name, value in {**os.environ, **(env or {})}.items() if name not in unset}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_there_is_one_keras_backend_per_framework():
    assert {backends.REGISTRY[name].packages for name in KERAS} == {
        ("tensorflow", "keras"), ("jax", "keras"), ("torch", "keras")
    }  # fmt: skip


def test_every_keras_backend_trains_the_same_keras_code():
    """Model, compile, fit and predict live in keras_common; a backend module's idiomatic and
    compiled trainers only name themselves (and, on torch, the devices). Read from the modules'
    source: importing all three would load TensorFlow, JAX and torch into one process."""
    found = {}
    for name in KERAS:
        spec = backends.REGISTRY[name]
        tree = ast.parse(importlib.util.find_spec(spec.module).loader.get_source(spec.module))
        classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
        for mode, trainer in spec.trainers.items():
            cls = classes[trainer]
            own = [target.id for node in cls.body if isinstance(node, ast.Assign) for target in node.targets]
            own += [node.name for node in cls.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
            found[f"{name}-{mode}"] = [from_common(cls, classes), sorted(set(own) - {"name", "DEVICE_NAMES"})]
    assert len(found) == sum(len(backends.modes_of(name)) for name in KERAS)
    assert all(subclass for subclass, _ in found.values()), found
    assert {key: own for key, (_, own) in found.items() if not key.endswith("-tuned")} == {
        key: [] for key in found if not key.endswith("-tuned")
    }


def from_common(cls: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> bool:
    """Whether `cls` derives from a keras_common class, directly or through its module's other classes."""
    bases = [ast.unparse(base) for base in cls.bases]
    return any(b.startswith("keras_common.") or (b in classes and from_common(classes[b], classes)) for b in bases)


@pytest.mark.parametrize("name", KERAS[1:])
def test_a_missing_framework_skips_the_keras_backend_with_the_install_command(name):
    """Simulated: sys.modules[package] = None is how Python marks a module that cannot be imported."""
    framework = backends.REGISTRY[name].packages[0]
    code = f"""if True:
        import json, sys
        sys.modules[{framework!r}] = None
        from xorbench import backends
        rows = backends.available(({name!r},))
        try:
            backends.get_trainer({name!r})
            error = ""
        except RuntimeError as e:
            error = str(e)
        print(json.dumps({{"rows": [[r.device, r.ok, r.reason] for r in rows], "error": error}}))
    """
    out = run_python(code)
    reason = f"{framework} is not installed: pip install 'xorbench[{name}]'"
    assert out["rows"] == [["cpu", False, reason], ["gpu", False, reason]]
    assert out["error"] == f"{name} on cpu is unavailable: {reason}"


@pytest.mark.parametrize("name", KERAS)
def test_the_test_suite_skips_a_missing_framework_with_the_install_command(require_backend, monkeypatch, name):
    missing = dataclasses.replace(backends.REGISTRY[name], packages=("xorbench_no_such_package", "keras"))
    monkeypatch.setitem(backends.REGISTRY, name, missing)
    with pytest.raises(pytest.skip.Exception, match=re.escape(f"pip install 'xorbench[{name}]'")):
        require_backend(name)


def require_packages(*names: str) -> None:
    """Skip unless every package of these backends is installed (for tests in fresh interpreters).
    Looked for, not imported: importing keras here would fix this session's Keras backend."""
    for name in names:
        spec = backends.REGISTRY[name]
        for package in spec.packages:
            if importlib.util.find_spec(package) is None:
                pytest.skip(f"{package} is not installed: pip install '{spec.extra}'")


@pytest.mark.parametrize(
    "first, second",  # one check, three ways round: CI runs the quickest pair (a fresh Keras import each)
    [pytest.param("keras", "keras-jax", marks=pytest.mark.slow), ("keras-jax", "keras-torch"),
     pytest.param("keras-torch", "keras", marks=pytest.mark.slow)],
)  # fmt: skip
def test_a_second_keras_backend_in_one_process_is_unavailable_and_says_why(first, second):
    require_packages(first, second)
    code = f"""if True:
        import json
        from xorbench import backends
        first = backends.available(({first!r},), ("cpu",))[0]  # imports Keras on the first's framework
        second = backends.available(({second!r},), ("cpu",))[0]
        try:
            backends.get_trainer({second!r})
            error = ""
        except RuntimeError as e:
            error = str(e)
        import keras
        print(json.dumps([first.ok, second.ok, second.reason, error, keras.backend.backend()]))
    """
    # KERAS_BACKEND set to another backend: each module sets its own before Keras is imported.
    first_ok, second_ok, reason, error, loaded = run_python(code, {"KERAS_BACKEND": "numpy"})
    assert first_ok and not second_ok and loaded == backends.REGISTRY[first].packages[0]
    assert reason.startswith(f"keras was already imported with the {loaded!r} backend") and "of its own" in reason
    assert error == f"{second} on cpu is unavailable: {reason}"


@pytest.mark.parametrize("name", ["keras-jax", pytest.param("keras-torch", marks=pytest.mark.slow)])
def test_set_threads_pins_the_framework_under_keras(name):
    """keras-jax sizes XLA's pool as the jax backend does (tests/test_jax.py checks the pool
    itself); keras-torch sets torch's intra-op threads as the torch backend does."""
    require_packages(name)
    code = f"""if True:
        import json, os
        from xorbench import backends
        backends.set_threads({name!r}, 1)
        threads = __import__("torch").get_num_threads() if {name!r} == "keras-torch" else None
        print(json.dumps([os.environ.get("PJRT_NPROC"), os.environ.get("XLA_FLAGS", ""), threads]))
    """
    nproc, flags, threads = run_python(code, unset=("PJRT_NPROC", "NPROC", "XLA_FLAGS"))
    if name == "keras-jax":
        assert nproc == "1" and "--xla_cpu_multi_thread_eigen=false" in flags
    else:
        assert threads == 1


# ------------------------------------------------------------------ the other Keras backends, each in a process

# The files whose tests are parametrised over the backends this session runs (conftest.HERE): a pytest
# process of its own runs them for each other Keras backend, so those backends are tested, not skipped.
BATTERY = (
    "tests/test_equivalence.py", "tests/test_protocol.py", "tests/test_modes.py", "tests/test_classic.py",
    "tests/test_tuning.py", "bench/benchmarks/test_bench.py",
)  # fmt: skip
# CI runs the properties that differ by engine (the curve against NumPy's, the protocol); the rest of the
# battery checks Keras code the TensorFlow backend runs in CI already, and runs in the slow tier.
CORE = BATTERY[:2]
PROTOCOL = BATTERY[1]
# Registry-wide checks, not any backend's own: this session runs them (the GPU one imports every framework, 5 s).
NOT_A_BACKENDS_OWN = (
    "test_available_has_one_row_per_backend_and_device", "test_gpu_rows_match_what_the_frameworks_see"
)  # fmt: skip
OTHERS = [name for name in KERAS if backends.REGISTRY[name].packages[0] != KERAS_FRAMEWORK]


def batteries():
    slow = pytest.mark.slow
    for name in OTHERS:  # torch.compile traces Keras' Python for minutes: keras-torch's process is slow
        if not backends.REGISTRY[name].compile_cache_env:
            yield pytest.param(name, CORE, id=f"{name}-core")
        yield pytest.param(name, BATTERY, id=f"{name}-all", marks=slow)


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("name, files", list(batteries()))
def test_another_keras_backend_passes_the_battery_in_a_process_of_its_own(name, files):
    require_packages(name)
    env = {**os.environ, KERAS_FRAMEWORK_VARIABLE: backends.REGISTRY[name].packages[0], BACKENDS_VARIABLE: name}
    command = [
        sys.executable,
        "-m",
        "pytest",
        *files,
        "-q",
        "-p",
        "no:cacheprovider",
        "--benchmark-disable",
        *(arg for test in NOT_A_BACKENDS_OWN for arg in ("--deselect", f"{PROTOCOL}::{test}")),
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1700, check=False)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in summary and "skipped" not in summary, summary


def test_keras_torch_tuned_epoch_trains_numpys_curve_without_its_compile():
    """keras-torch's tuned mode has an epoch of its own (keras_torch.train_window). Its battery compiles it
    for minutes and runs in the slow tier; here the same function runs eagerly in a fresh process, so a
    wrong sign in it fails CI too. Three windows and four one-epoch steps, against NumPy's curve."""
    require_packages("keras-torch")
    config = backends.preset("matched", "numpy", seed=0, epochs=SHORTEST + 4)
    code = f"""if True:
        import functools, json
        from xorbench import backends
        from xorbench.backends import keras_torch
        keras_torch.compiled_window = lambda key, epochs, model, loss_fn, options=(): functools.partial(
            keras_torch.train_window, model, loss_fn, epochs)
        trainer = backends.get_trainer("keras-torch", "cpu", "tuned")
        result = backends.train(trainer, backends.preset("matched", "numpy", seed=0, epochs={config.epochs}))
        print(json.dumps([result.status, result.losses.tolist(), result.max_errors.tolist()]))
    """
    status, losses, max_errors = run_python(code)
    reference = backends.train(backends.get_trainer("numpy"), config)
    assert status == "ok"
    np.testing.assert_allclose(losses, reference.losses, rtol=RTOL["sgd"], atol=0)
    np.testing.assert_allclose(max_errors, reference.max_errors, rtol=RTOL["sgd"], atol=0)
