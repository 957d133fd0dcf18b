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

REPO = Path(__file__).resolve().parents[1]


FRAMEWORKS = ("torch", "tensorflow", "keras", "numba", "jax")


def frameworks_loaded_after(code: str) -> list[str]:
    """Run `code` in a fresh interpreter at the repository root; the frameworks it left in sys.modules."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_package_loads_no_framework():
    assert frameworks_loaded_after("import backends, bench, bench.cli") == []


def test_configs_and_presets_load_no_framework():
    code = "import backends\nfor b in ('numpy', 'keras', 'torch'):\n    backends.preset('article', b)"
    assert frameworks_loaded_after(code) == []


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", ("numpy", "torch", "keras", "jax"))
def test_training_one_backend_loads_no_other_framework(require_backend, name):
    require_backend(name)
    own = {"numpy": set(), "torch": {"torch"}, "keras": {"tensorflow", "keras"}, "jax": {"jax"}}[name]
    if name == "keras" and importlib.util.find_spec("jax"):
        own.add("jax")  # TensorFlow's own doing: tensorflow/lite/python/util.py imports jax when installed
    code = f"import backends\nbackends.train(backends.get_trainer({name!r}), backends.TrainConfig(epochs=2))"
    assert set(frameworks_loaded_after(code)) == own
