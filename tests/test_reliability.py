"""Hardening: bounded memory for any accepted input, no tracebacks, statuses that mean the same on
every backend, exit statuses that say what happened, and one run per results folder.

Every case runs in seconds: huge inputs must be refused before any work, failures are forced
through the fake backends of tests/fixtures/fake_backend.py or a monkeypatched write, and training
runs are a few epochs. Commands run in this process (cli.main; their workers in their own) except
where the test is about the command's process: one refusal, and the interrupts.
"""

from __future__ import annotations

import errno
import json
import os
import runpy
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import KERAS_FRAMEWORK

from xorbench import backends
from xorbench.bench import cli

ROOT = Path(__file__).resolve().parent.parent
FAKE_XORBENCH = ROOT / "tests" / "fixtures" / "fake_backend.py"  # run as a script: `xorbench` with the fakes
FAKES = runpy.run_path(str(FAKE_XORBENCH))
TINY = ["--modes", "idiomatic", "--preset", "matched", "--epochs", "20", "--seeds", "2", "--repeats", "2",
        "--processes", "1", "--no-report"]  # fmt: skip


def xorbench(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xorbench", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def one_line(stderr: str) -> str:
    """stderr holds exactly one line and no traceback; that line."""
    assert "Traceback" not in stderr and stderr.count("\n") == 1, stderr
    return stderr.strip()


def installed(name: str) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(p) is not None for p in backends.REGISTRY[name].packages)


def this_sessions_keras(name: str) -> bool:
    """False for a Keras backend on another framework than this session's Keras (conftest.KERAS_FRAMEWORK):
    one process holds one Keras backend, and asking for another would skip the whole test."""
    packages = backends.REGISTRY[name].packages
    return "keras" not in packages or packages[0] == KERAS_FRAMEWORK


# ------------------------------------------------------------------ statuses mean the same everywhere

EVERY_TRAINER = [(name, mode) for name in backends.BACKENDS for mode in backends.modes_of(name)]
# Each lr with each optimizer; CI runs one case per lr and per optimizer (every trainer, ~12 s a case).
BLOW_UPS = [
    pytest.param(optimizer, lr, id=f"{optimizer}-lr{lr:g}", marks=[pytest.mark.slow] if slow else [])
    for optimizer, lr, slow in [
        ("sgd", 1e39, False),
        ("adam", 1000.0, False),
        ("sgd", 1000.0, True),
        ("adam", 1e39, True),
    ]
]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("optimizer, lr", BLOW_UPS)
def test_a_blown_up_run_is_diverged_on_every_backend_with_epoch_0s_loss_recorded(new_trainer, optimizer, lr):
    """lr 1000 saturates every sigmoid (loss stuck at 0.5); lr 1e39 overflows float32 in some backends
    and saturates others (numba): the same config gives the same status everywhere, and every backend
    records epoch 0's loss, from before any update, even when the first update overflows (torch).
    (Every installed backend this session can build: Keras on another framework is left out.)"""
    found = {}
    for name, mode in EVERY_TRAINER:
        if not installed(name) or not this_sessions_keras(name):
            continue
        config = backends.preset("matched", name, optimizer=optimizer, lr=lr, epochs=5 if name == "keras" else 20)
        result = backends.train(new_trainer(name, mode), config)
        found[name, mode] = (result.status, result.losses[0])
    assert {status for status, _ in found.values()} == {"diverged"}, found
    first = np.array([loss for _, loss in found.values()])
    assert np.all(np.isfinite(first)) and np.allclose(first, first[0], rtol=1e-6), found


def test_saturated_outputs_on_the_wrong_side_are_diverged_and_a_solved_net_is_ok():
    from xorbench.backends.base import run_status

    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    start = np.array([0.26, 0.3])
    assert run_status(start, np.array([[1e-4], [1 - 1e-4], [1e-4], [1e-5]]), y, 1000)[0] == "diverged"
    assert run_status(start, np.array([[1e-4], [0.9999], [0.9999], [1e-5]]), y, 2.0) == ("ok", "")  # solved
    assert run_status(start, np.array([[0.5], [0.5], [0.5], [0.5]]), y, 2.0) == ("ok", "")  # stuck, not saturated
    status, reason = run_status(np.array([0.26, np.nan]), np.full((4, 1), np.nan), y, 1e39)
    assert status == "diverged" and "non-finite at epoch 1" in reason


# ------------------------------------------------------------------ bounded memory: refused before any work


def test_a_sweep_cell_over_the_memory_limit_is_a_skipped_row_with_its_estimate(tmp_path):
    argv = ["sweep", "--backends", "numpy", "--modes", "tuned", "--hidden", "4,1000000000000", "--batch", "4"]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 0
    sweep = pd.read_csv(tmp_path / "sweep.csv").set_index("hidden")
    assert sweep.loc[4, "status"] == "ok"
    assert sweep.loc[10**12, "status"] == "skipped" and "TB by estimate" in sweep.loc[10**12, "reason"]


def test_the_memory_estimate_grows_with_the_network_and_refuses_only_what_does_not_fit():
    from xorbench.bench.plan import memory_refusal, network_bytes

    assert network_bytes("numpy", 64, 256) < network_bytes("numpy", 128, 256) < network_bytes("numpy", 128, 512)
    assert network_bytes("keras", 4, 4) < network_bytes("numpy", 4, 4) == network_bytes("never-measured", 4, 4)
    assert memory_refusal("numpy", 4, 4) is None
    assert "over the memory limit" in memory_refusal("numpy", 10**9, 10**9)


# ------------------------------------------------------------------ failures: one line, a status, env.json


def test_a_table_that_cannot_be_written_ends_in_one_line_status_1_and_a_finalised_env(tmp_path, monkeypatch, capsys):
    from xorbench.bench import tables

    append = tables.append

    def disk_full(path, data, size):  # the fresh tables are written whole; the first row's append finds no room
        if path.name == "runs.csv":
            raise tables.NotSaved(path, OSError(errno.ENOSPC, "No space left on device"))
        append(path, data, size)

    monkeypatch.setattr(tables, "append", disk_full)
    assert cli.main(["run", "--backends", "numpy", *TINY, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    why = "(No space left on device); the tables there are their last complete version"
    assert err.strip().splitlines()[-1] == f"xorbench: error: could not write runs.csv in {tmp_path}/ {why}"
    env = json.loads((tmp_path / "env.json").read_text())
    assert env["interrupted"] is False and env["duration_s"] >= 0 and "No space left" in env["error"]
    assert pd.read_csv(tmp_path / "runs.csv").empty  # the last complete set: the fresh, empty tables
    assert not list(tmp_path.glob(".*.tmp")) and not (tmp_path / ".xorbench.lock").exists()


def test_a_folder_where_a_table_goes_is_bad_input(tmp_path, capsys):
    (tmp_path / "runs.csv").mkdir()
    assert cli.main(["run", "--backends", "numpy", *TINY, "--out", str(tmp_path)]) == 2
    assert "has a folder named runs.csv" in one_line(capsys.readouterr().err)


def test_every_row_an_error_is_status_1_with_the_tables_written(tmp_path, monkeypatch, capsys):
    FAKES["install"](monkeypatch)  # "crashing-probe" dies as its worker asks whether it can run: every row errs
    assert cli.main(["run", "--backends", "crashing-probe", *TINY, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "3 of 3 rows errored or timed out" in err.strip().splitlines()[-1]
    assert set(pd.read_csv(tmp_path / "runs.csv")["status"]) == {"error"}


def test_an_all_ok_run_is_status_0_and_leaves_no_lock(tmp_path):
    assert cli.main(["run", "--backends", "numpy", *TINY, "--out", str(tmp_path)]) == 0
    assert set(pd.read_csv(tmp_path / "runs.csv")["status"]) == {"ok"}
    assert not (tmp_path / ".xorbench.lock").exists()


def test_an_empty_out_is_bad_input(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for argv in (["run", "--backends", "numpy", *TINY], ["sweep", "--backends", "numpy"], ["report"]):
        assert cli.main([*argv, "--out", ""]) == 2
        assert one_line(capsys.readouterr().err) == "xorbench: error: --out must name a folder; got ''"
    assert not list(tmp_path.iterdir())


def test_the_article_preset_without_a_snippet_names_the_real_cause(tmp_path, capsys):
    argv = ["run", "--backends", "numba", "--preset", "article", "--modes", "idiomatic", "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    line = one_line(capsys.readouterr().err)
    assert "the article has no snippet for numba" in line and "idiomatic" not in line


# ------------------------------------------------------------------ interruptions


def interrupted_run(out: Path, gap_s: float) -> tuple[int, str]:
    """A run whose worker hangs after its first convergence seed (the "hanging" fake backend), interrupted
    like Ctrl-C in a terminal (the whole process group) and again gap_s later: (exit status, stderr)."""
    runner = subprocess.Popen(
        [sys.executable, str(FAKE_XORBENCH), "run", "--backends", "hanging", *TINY, "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "convergence" not in read_text(out / "runs.csv"):
        time.sleep(0.1)
    os.killpg(runner.pid, signal.SIGINT)
    time.sleep(gap_s)
    os.killpg(runner.pid, signal.SIGINT)
    _, err = runner.communicate(timeout=60)
    return runner.returncode, err


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def test_a_second_interrupt_50_ms_after_the_first_waits_for_the_save(tmp_path):
    code, err = interrupted_run(tmp_path, 0.05)
    assert code == 130 and "Traceback" not in err, err[-2000:]
    assert err.strip().splitlines()[-1] == f"xorbench: interrupted; the 2 finished rows are saved in {tmp_path}"
    assert json.loads((tmp_path / "env.json").read_text())["interrupted"] is True
    assert list(pd.read_csv(tmp_path / "runs.csv")["role"]) == ["timing", "convergence"]
    assert (tmp_path / "summary.csv").is_file() and not (tmp_path / ".xorbench.lock").exists()


def test_interrupts_stop_the_run_once_then_only_say_it_is_saving(capfd):
    from xorbench.bench.manager import Interrupts

    with Interrupts() as interrupts:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs here
        os.kill(os.getpid(), signal.SIGTERM)  # the second: noted, not raised
        time.sleep(0.1)
    assert interrupts.count == 2 and "saving the finished rows first" in capfd.readouterr().err
    with Interrupts() as interrupts:
        interrupts.saving = True  # a run saving its tables: even the first signal waits
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)
    assert interrupts.count == 1


def fake_report(monkeypatch, render) -> None:
    import types

    module = types.ModuleType("xorbench.bench.report")
    module.render_report = render
    module.clear = lambda out, keep=frozenset(): None
    monkeypatch.setitem(sys.modules, "xorbench.bench.report", module)


def test_an_interrupted_report_is_one_line_and_status_130(tmp_path, monkeypatch, capsys):
    def interrupted(out, figures=True):
        raise KeyboardInterrupt

    fake_report(monkeypatch, interrupted)
    assert cli.main(["run", "--backends", "numpy", *TINY[:-1], "--out", str(tmp_path)]) == 130  # with its report
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"xorbench: interrupted while rendering the report; the tables in {tmp_path} are complete"
    assert json.loads((tmp_path / "env.json").read_text())["interrupted"] is True  # stopped before its end
    assert cli.main(["report", "--out", str(tmp_path)]) == 130
    assert one_line(capsys.readouterr().err) == "xorbench: interrupted while rendering the report"


# ------------------------------------------------------------------ one run per results folder


def test_a_second_run_into_a_folder_a_live_run_holds_is_refused_naming_its_pid(tmp_path, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from xorbench.bench import lock\n"
         f"with lock.hold(Path({str(tmp_path)!r}), 'xorbench run --out held'):\n"
         "    print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        for command in ("run", "sweep"):
            assert cli.main([command, "--backends", "numpy", "--out", str(tmp_path)]) == 2
            line = one_line(capsys.readouterr().err)
            assert f"PID {holder.pid}" in line and "in use by another xorbench run" in line
        assert not (tmp_path / "runs.csv").exists() and not (tmp_path / "sweep.csv").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_from_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".xorbench.lock").write_text(f"PID {dead.stdout.strip()}: xorbench run --out {tmp_path}\n")
    assert cli.main(["run", "--backends", "numpy", *TINY, "--out", str(tmp_path)]) == 0
    assert not (tmp_path / ".xorbench.lock").exists()


@pytest.mark.parametrize("plant", ["symlink", "hardlink"])
def test_a_lock_file_that_links_elsewhere_is_refused_and_its_target_untouched(plant, tmp_path, capsys):
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    getattr(os, plant if plant == "symlink" else "link")(target, out / ".xorbench.lock")
    assert cli.main(["run", "--backends", "numpy", *TINY, "--out", str(out)]) == 2
    said = one_line(capsys.readouterr().err)
    assert f"{'a symbolic link' if plant == 'symlink' else 'a hard link'}, not a lock file" in said
    assert target.read_text() == "precious\n" and not (out / "runs.csv").exists()


# ------------------------------------------------------------------ list, report, encodings


def test_a_probe_that_crashes_or_hangs_makes_only_its_backend_unavailable(monkeypatch):
    from xorbench.bench.manager import probe_backends

    FAKES["install"](monkeypatch)
    found = {(a.backend, a.device): a for a in probe_backends(("crashing-probe", "fake"), 60)}
    assert [found["crashing-probe", device].ok for device in backends.DEVICES] == [False, False]
    assert (
        found["crashing-probe", "cpu"].reason
        == "probe died of SIGSEGV; last stderr line: fake backend: crashing on purpose"
    )
    assert found["fake", "cpu"].ok and found["fake", "cpu"].version == "fake 1.0"
    assert {a.reason for a in probe_backends(("hanging-probe",), 3)} == {"probe timed out after 3 s"}


def test_list_keeps_framework_noise_out_and_lists_the_others_when_one_crashes(monkeypatch, capfd):
    # TensorFlow (under keras) is the noisiest import; every backend: test_cli's slow list test
    FAKES["install"](monkeypatch)
    assert cli.main(["list", "--backends", "numpy,keras,crashing-probe"]) == 0
    out, err = capfd.readouterr()  # what reached the terminal's file descriptors, the workers' included
    assert err == "", err[-2000:]
    lines = [line.split(None, 4) for line in out.splitlines()[1:]]
    names = ("numpy", "keras", "crashing-probe")
    assert {(b, d) for b, d, *_ in lines} == {(b, d) for b in names for d in backends.DEVICES}
    assert all(line[2] in ("available", "unavailable") for line in lines)  # and test_cli's slow list test
    crashed = [line for line in lines if line[0] == "crashing-probe"]
    assert all(line[2] == "unavailable" and "probe died of SIGSEGV" in line[4] for line in crashed)
    assert any(line[:3] == ["numpy", "cpu", "available"] for line in lines)


def test_a_report_on_newer_tables_warns_once(tmp_path, capsys):
    import runpy

    write_fixture = runpy.run_path(str(ROOT / "tests" / "fixtures" / "make_fixture.py"))["write_fixture"]
    out = write_fixture(tmp_path)
    runs = pd.read_csv(out / "runs.csv")
    runs.assign(schema_version=99).to_csv(out / "runs.csv", index=False)
    assert cli.main(["report", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("from a newer xorbench") == 1 and "runs.csv (schema_version 99)" in err


def test_an_out_that_is_not_utf8_gets_its_report(tmp_path, capsys):
    out = os.fsdecode(os.fsencode(tmp_path) + b"/results-\xff")  # as sys.argv holds such a path
    with warnings.catch_warnings(record=True) as caught:  # in this process they would not reach stderr
        warnings.simplefilter("always")
        assert cli.main(["run", "--backends", "numpy", *TINY[:-1], "--out", out]) == 0
    hidden_by_default = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)
    assert not [str(w.message) for w in caught if not issubclass(w.category, hidden_by_default)]
    err = capsys.readouterr().err
    assert "Traceback" not in err and "warning" not in err, err
    report = (Path(out) / "REPORT.md").read_text(encoding="utf-8")
    assert "results-\\xff" in report  # the byte, as its escape
    assert "results-\\xff" in json.loads((Path(out) / "env.json").read_text())["command"]


def test_sigterm_during_list_is_status_130_and_leaves_no_probe_behind():
    import psutil

    listing = subprocess.Popen([sys.executable, str(FAKE_XORBENCH), "list", "--backends", "hanging-probe"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    parent, deadline = psutil.Process(listing.pid), time.monotonic() + 60
    while not parent.children() and time.monotonic() < deadline:
        time.sleep(0.05)
    probes = parent.children(recursive=True)
    assert probes, "no probe worker started"
    time.sleep(0.5)  # the probe hangs now, in its import
    listing.send_signal(signal.SIGTERM)
    _, err = listing.communicate(timeout=60)
    assert listing.returncode == 130 and err.strip().splitlines()[-1] == "xorbench: interrupted"
    assert not [p for p in probes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
