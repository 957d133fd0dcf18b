"""Importing the package loads no framework; using one backend loads no other.

Each check runs in a fresh interpreter (array-api-compat's test_no_dependencies idea),
since this test process has long imported everything.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from xorbench import backends

REPO = Path(__file__).resolve().parents[1]


FRAMEWORKS = ("torch", "tensorflow", "keras", "numba", "jax")


def frameworks_loaded_after(*codes: str) -> list[list[str]]:
    """Run each of `codes` in turn in one fresh interpreter at the repository root; per code, the
    frameworks in sys.modules after it."""
    snapshot = f"import json, sys\nprint(json.dumps(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules)))"
    probe = "\n".join(f"{code}\n{snapshot}" for code in codes)
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.strip().splitlines()[-len(codes) :]]


def test_importing_the_package_loads_no_framework():
    assert frameworks_loaded_after("import xorbench, xorbench.backends, xorbench.bench, xorbench.bench.cli") == [[]]


def test_configs_and_presets_load_no_framework():
    code = "from xorbench import backends\nfor b in ('numpy', 'keras', 'torch'):\n    backends.preset('article', b)"
    assert frameworks_loaded_after(code) == [[]]


OWN = {
    "numpy": set(), "torch": {"torch"}, "keras": {"tensorflow", "keras"}, "jax": {"jax"},
    "keras-jax": {"jax", "keras"}, "keras-torch": {"torch", "keras"},
}  # fmt: skip
# What a framework drags in by itself is not ours to avoid: TensorFlow's tf.lite imports jax
# whenever jax is installed beside it, and so does Keras' orbax checkpoint callback on any backend.
# (Keras' keras.utils.set_random_seed would import TensorFlow too; the Keras trainers call it only
# for init="framework", so Keras on JAX or torch trains without loading TensorFlow.)
DRAGGED_IN_BY = {
    "keras": "import tensorflow",
    "keras-jax": "import os\nos.environ['KERAS_BACKEND'] = 'jax'\nimport keras",
    "keras-torch": "import os\nos.environ['KERAS_BACKEND'] = 'torch'\nimport keras",
}


@pytest.mark.timeout(180)
@pytest.mark.parametrize(  # Keras on torch, an extra, like its battery: in the slow tier
    "name", [pytest.param(n, marks=pytest.mark.slow) if n == "keras-torch" else n for n in OWN]
)
def test_training_one_backend_loads_no_other_framework(name):
    spec = backends.REGISTRY[name]
    missing = [p for p in spec.packages if importlib.util.find_spec(p) is None]  # a fresh interpreter trains it
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: pip install '{spec.extra}'")
    code = (
        f"from xorbench import backends\nbackends.train(backends.get_trainer({name!r}), backends.TrainConfig(epochs=2))"
    )
    # The framework's own import first, in the same process (one interpreter, one framework import):
    # what it drags in by itself, then what training with our backend adds to that.
    dragged, loaded = frameworks_loaded_after(DRAGGED_IN_BY.get(name, "pass"), code)
    assert set(loaded) == OWN[name] | set(dragged)


def project_imports() -> dict[str, set[str]]:
    """module -> the project modules it imports (anywhere in it, function-level imports included)."""
    import ast

    folders = {"xorbench": REPO / "xorbench", "xorbench.backends": REPO / "backends", "xorbench.bench": REPO / "bench"}
    graph = {}
    for package, folder in folders.items():
        for path in folder.glob("*.py"):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found, tree = set(), ast.parse(path.read_text())
            typing_only = {id(n) for node in ast.walk(tree) if is_type_checking_block(node) for n in ast.walk(node)}
            for node in ast.walk(tree):
                if id(node) in typing_only:
                    continue
                if isinstance(node, ast.ImportFrom):
                    base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                    target = ".".join(p for p in (base, node.module) if p)
                    found |= {target} | {f"{target}.{alias.name}" for alias in node.names}
                elif isinstance(node, ast.Import):
                    found |= {alias.name for alias in node.names}
            graph[name] = found
    return {name: {m for m in found if m in graph and m != name} for name, found in graph.items()}


def is_type_checking_block(node) -> bool:
    import ast

    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def test_the_project_modules_import_each_other_without_a_cycle():
    import graphlib

    graph = project_imports()
    assert {"xorbench.bench.cli", "xorbench.bench.worker", "xorbench.backends.base"} <= set(graph)
    graph = {name: {m for m in deps if m not in ("xorbench", "xorbench.bench")} for name, deps in graph.items()}
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle
