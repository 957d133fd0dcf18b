"""Keras on each of its backends: `keras` (TensorFlow), `keras-jax` and `keras-torch`.

One process holds one Keras backend, so a test session runs one (conftest.KERAS_FRAMEWORK,
TensorFlow unless told); the registry-wide tests (protocol, modes, equivalence, classic) skip the
other two, and the last test here trains every mode of each against NumPy in a process of its own. Missing
frameworks and a second Keras backend are checked in fresh interpreters.
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
from conftest import KERAS_FRAMEWORK

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


@pytest.mark.parametrize("name", ["keras-jax", "keras-torch"])
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


# ------------------------------------------------------------------ in this session's Keras


@pytest.mark.parametrize("name", TUNED)
def test_a_tuned_fit_leaves_its_weights_in_the_keras_model(new_trainer, name):
    """The tuned loops carry weights outside Keras' variables; fit() writes them back, so
    Keras' own model.predict sees the trained network."""
    trainer = new_trainer(name, "tuned")
    trainer.setup(backends.preset("matched", name, epochs=400))
    trainer.fit(400)  # seed 0 solves XOR at epoch 363
    keras_outputs = trainer.model.predict(trainer.X, verbose=0)
    np.testing.assert_allclose(trainer.predict(), keras_outputs, rtol=1e-6)
    np.testing.assert_array_less(np.abs(keras_outputs - trainer.y), 0.5)


@pytest.mark.parametrize("name", KERAS)
def test_the_idiomatic_mode_is_kerass_default_compile(new_trainer, name):
    """jit_compile="auto": XLA on JAX; eager on torch and, on a CPU, on TensorFlow."""
    trainer = new_trainer(name)
    trainer.setup(backends.preset("matched", name, epochs=2))
    trainer.fit(1)
    assert trainer.model.jit_compile == (name == "keras-jax")


# ------------------------------------------------------------------ the other Keras backends, each in a process

# What tests/test_modes.py and tests/test_equivalence.py check in this session's Keras, checked for each
# other Keras backend in a fresh interpreter of its own: every mode's matched curves against NumPy's
# (SGD and Adam, and SGD with momentum), and fit(12) + fit(8) == fit(20). Modes that torch.compile
# Keras' code take 15-45 s to trace each config or fit() length here, so they get the SGD curve only.
AGREEMENT = """if True:
    import json, numpy as np
    from xorbench import backends
    name, traced = {name!r}, {traced!r}
    backends.set_threads(name, 1)
    backends.set_threads("numpy", 1)
    configs = {{"sgd": {{}}, "adam": {{"optimizer": "adam"}}, "momentum": {{"momentum": 0.9, "lr": 0.5}}}}
    def relative(a, b):
        return float(np.max(np.abs(a - b) / np.abs(a)))
    found = {{}}
    for mode in backends.modes_of(name):
        for label, overrides in configs.items():
            if mode in traced and label != "sgd":
                continue
            config = backends.preset("matched", name, seed=1, epochs=150, **overrides)
            ours = backends.train(backends.get_trainer(name, "cpu", mode), config)
            numpy = backends.train(backends.get_trainer("numpy", "cpu"), config)
            worst = float(np.max(np.abs(numpy.predictions - ours.predictions)))
            found[f"{{mode}}-{{label}}"] = [ours.status, relative(numpy.losses, ours.losses),
                relative(numpy.max_errors, ours.max_errors), worst]
        if mode in traced:  # each new fit() length would trace again
            continue
        split, whole = (backends.get_trainer(name, "cpu", mode) for _ in range(2))
        config = backends.preset("matched", name, seed=3, epochs=20, momentum=0.9, lr=0.5)
        split.setup(config), whole.setup(config)
        found[f"{{mode}}-split"] = relative(whole.fit(20), np.concatenate([split.fit(12), split.fit(8)]))
    print(json.dumps(found))
"""


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if backends.REGISTRY[n].compile_cache_env else n for n in KERAS]
)  # torch.compile traces Keras' Python for minutes: keras-torch is slow
def test_every_mode_of_another_keras_backend_trains_numpys_curves_in_a_process_of_its_own(name):
    framework = backends.REGISTRY[name].packages[0]
    if framework == KERAS_FRAMEWORK:
        pytest.skip(f"{name} runs in this session (tests/test_modes.py, tests/test_equivalence.py)")
    require_packages(name)
    traced = ("compiled", "tuned") if backends.REGISTRY[name].compile_cache_env else ()
    found = run_python(AGREEMENT.format(name=name, traced=traced))
    modes = backends.modes_of(name)
    assert {key.rsplit("-", 1)[0] for key in found} == set(modes)
    assert {f"{mode}-split" for mode in modes if mode not in traced} <= set(found)
    for key, value in found.items():
        if key.endswith("-split"):  # fit continues with the momentum it built up
            assert value < 1e-6, key
            continue
        status, losses, max_errors, predictions = value
        tolerance = 1e-4  # tests/test_modes.py's NUMPY_RTOL: the bound against NumPy
        assert status == "ok" and losses <= tolerance and max_errors <= tolerance and predictions < 1e-5, (key, value)
    assert sum(not key.endswith("-split") for key in found) >= len(modes) + 2  # idiomatic's Adam and momentum too
