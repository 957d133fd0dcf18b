"""A backend is one module plus one registry entry: everything else comes from the registry.

The fake backend (tests/fixtures/fake_backend.py's "fake") is registered here with one BackendSpec, and
shows up in `list`, in a run's tables (measured in its own worker process) and in the report.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import KERAS_FRAMEWORK
from selection import HERE

from xorbench import backends
from xorbench.bench import cli, env
from xorbench.bench.report import write_report

FAKES = runpy.run_path(str(Path(__file__).parent / "fixtures" / "fake_backend.py"))
FAKE = FAKES["SPECS"]["fake"]


@pytest.fixture
def fake(monkeypatch):
    FAKES["install"](monkeypatch)  # every fake; "fake" itself trains as the scratch NumPy loop does
    yield
    sys.modules.pop("fake_backend", None)


def test_every_registered_module_offers_the_backend_protocol():
    """Every installed backend's module, in this process: loading one imports its framework, and a Keras
    backend on another framework than the Keras already imported loads too (unavailable_reason says why
    it cannot run). This session's own Keras loads first, so the others never pick Keras' framework."""
    others_last = sorted(
        backends.REGISTRY.values(), key=lambda s: "keras" in s.packages and s.packages[0] != KERAS_FRAMEWORK
    )
    for spec in others_last:
        assert spec.trainers and spec.packages and spec.extra
        if all(importlib.util.find_spec(p) is not None for p in spec.packages):
            assert isinstance(backends.load(spec.name), backends.BackendModule), spec.name


def test_a_module_without_the_protocol_functions_is_refused(fake, monkeypatch):
    monkeypatch.setitem(backends.REGISTRY, "broken", backends.BackendSpec(
        "broken", module="xorbench.backends.base", modes=(("idiomatic", "Trainer"),), packages=("numpy",),
        extra="xorbench"))  # fmt: skip
    with pytest.raises(TypeError, match="lacks framework_version"):
        backends.load("broken")


def test_one_registry_entry_puts_a_backend_in_list_run_tables_and_report(fake, tmp_path, capsys, monkeypatch):
    assert "fake" in backends.BACKENDS and backends.modes_of("fake") == ("idiomatic",)
    # `list` probes each registered backend in a fresh worker (~30 s for all of them here); test_reliability
    # lists them all, so this list holds the fake alone.
    with monkeypatch.context() as only_fake:
        only_fake.setattr(backends, "REGISTRY", {"fake": FAKE})
        assert cli.main(["list"]) == 0
    assert any(line.split()[:3] == ["fake", "cpu", "available"] for line in capsys.readouterr().out.splitlines())
    argv = ["run", "--backends", "fake,numpy", "--modes", "idiomatic", "--preset", "matched", "--epochs", "20"]
    assert (
        cli.main([*argv, "--seeds", "2", "--repeats", "2", "--processes", "1", "--no-report", "--out", str(tmp_path)])
        == 0
    )
    runs = pd.read_csv(tmp_path / "runs.csv")
    fake_rows = runs[runs["backend"] == "fake"]
    assert len(fake_rows) == 3 and set(fake_rows["status"]) == {"ok"}, fake_rows[["status", "reason"]]
    assert (fake_rows["framework_version"] == "fake 1.0").all()
    numpy_rows = runs[runs["backend"] == "numpy"].set_index(["role", "seed"])
    same = fake_rows.set_index(["role", "seed"])["final_loss"] == numpy_rows["final_loss"]
    assert same.all()  # the same maths from the same weights: the same numbers
    report = write_report(tmp_path, figures=False).read_text(encoding="utf-8")
    every = report[report.index("## Appendix B. Every measurement") :]
    assert "| fake | cpu | idiomatic |" in every
    assert "numpy" in env.distributions()


def test_a_fake_backend_on_a_missing_device_is_skipped_with_its_reason(fake, tmp_path):
    argv = ["run", "--backends", "fake", "--devices", "gpu", "--preset", "matched", "--epochs", "20", "--seeds", "1"]
    assert cli.main([*argv, "--repeats", "2", "--processes", "1", "--no-report", "--out", str(tmp_path)]) == 0
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert set(runs["status"]) == {"skipped"} and set(runs["reason"]) == {"the fake backend runs on the CPU only"}


def test_every_backends_install_command_names_an_extra_the_package_declares():
    """The skip and error messages say pip install 'xorbench[<extra>]': that extra must exist."""
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    extras = set(project["optional-dependencies"])
    in_all = set(project["optional-dependencies"]["all"][0].removeprefix("xorbench[").rstrip("]").split(","))
    for name, spec in backends.REGISTRY.items():
        extra = spec.extra.removeprefix("xorbench").strip("[]")
        assert extra == "" or (extra in extras and extra in in_all), (name, spec.extra)


def test_a_modes_description_is_its_first_whole_sentence_with_constants_as_their_values():
    class Trainer:
        """WINDOW epochs per call: forward, backward and update, looped by lax.fori_loop, with
        the forward pass fused. Then more.

        A second paragraph."""

        WINDOW = 16

    said = backends.describe(Trainer, None, "fallback")
    assert (
        said == "16 epochs per call: forward, backward and update, looped by lax.fori_loop, with the forward pass fused"
    )
    assert backends.describe(type("Bare", (), {}), None, "numpy idiomatic") == "numpy idiomatic"


@pytest.mark.parametrize("name", HERE)
def test_every_mode_here_describes_itself_in_a_whole_sentence_with_no_placeholder(name):
    import re

    module = backends.load(name)
    for mode, trainer in backends.spec(name).modes:
        said = backends.describe(getattr(module, trainer), module, "")
        assert said and not re.search(r"\b[A-Z][A-Z_]{3,}\b(?= [a-z])", said), (mode, said)
        assert not re.search(r"[,;:]?\s+(with|and|or|of|the|by|to|for|in|where|which)$", said), (mode, said)
