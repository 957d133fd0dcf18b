"""The harness end to end: tables and their contract, crash / hang / interrupt, skipped devices.

Every run here is tiny (a few epochs, seeds and repeats) except the one `--quick` run over all
backends that the issue asks for (slow tier). Crashes, hangs and slow spells come from the fake
backends of tests/fixtures/fake_backend.py: one run serves every failure test, its parent in this
process; only the interrupted run is a process of its own, since what it tests is a signal.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from xorbench import backends
from xorbench.bench import cli
from xorbench.bench import env as environment
from xorbench.bench.tables import (
    CURVE_COLUMNS,
    CURVE_SCHEMA,
    CURVES,
    ENV_KEYS,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    TIMING_COLUMNS,
    Tables,
    read_curves,
)

ROOT = Path(__file__).resolve().parent.parent
FAKE_XORBENCH = ROOT / "tests" / "fixtures" / "fake_backend.py"  # run as a script: `xorbench` with the fakes
FAKES = runpy.run_path(str(FAKE_XORBENCH))
TINY = ["--modes", "idiomatic", "--preset", "matched", "--epochs", "20", "--seeds", "2", "--repeats", "2",
        "--processes", "1"]  # fmt: skip
FINISHED = ("ok", "diverged")


def xorbench(*args: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xorbench", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def runs_of(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "runs.csv", keep_default_na=False, na_values=[""])


def installed(name: str) -> bool:
    return __import__("importlib.util").util.find_spec(backends.REGISTRY[name].packages[0]) is not None


# ------------------------------------------------------------------ the --quick run, all backends


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("quick")
    started = time.perf_counter()
    done = xorbench("run", "--quick", "--backends", "all", "--modes", "all", "--devices", "cpu", "--out", str(out),
                    "--no-report", timeout=2400)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    print(f"--quick took {time.perf_counter() - started:.0f} s")
    return out


@pytest.mark.slow
def test_quick_run_writes_every_table_with_the_contract_columns(quick):
    assert list(runs_of(quick).columns) == RUN_COLUMNS
    assert list(pd.read_csv(quick / "timings.csv").columns) == TIMING_COLUMNS
    assert pq.read_schema(quick / CURVES).remove_metadata() == CURVE_SCHEMA and CURVE_SCHEMA.names == CURVE_COLUMNS
    env = json.loads((quick / "env.json").read_text())
    assert set(ENV_KEYS) <= set(env) and env["threads"] == backends.DEFAULT_THREADS
    assert env["command"].startswith("xorbench run --quick") and env["schema_version"] == SCHEMA_VERSION
    assert not list(quick.glob(".*.tmp"))  # no temporary file left behind


@pytest.mark.slow
def test_quick_run_measures_every_installed_backend_and_mode(quick):
    runs = runs_of(quick)
    for name in backends.BACKENDS:
        mine = runs[runs["backend"] == name]
        if not installed(name):
            assert set(mine["status"]) == {"skipped"}
            continue
        assert set(mine["status"]) <= set(FINISHED), mine[["mode", "status", "reason"]]
        assert set(mine["mode"]) == set(backends.modes_of(name))
        timing = mine[(mine["role"] == "timing") & (mine["preset"] == "matched")]
        assert len(timing) == len(backends.modes_of(name))  # --quick: 1 fresh process per mode
        assert (timing["process"] == 0).all()
        assert (timing["epoch_us_median"] > 0).all() and (timing["epoch_us_iqr"] >= 0).all()
        assert (timing["epoch_us_min"] <= timing["epoch_us_median"]).all()
        assert (timing["first_epoch_s"] > 0).all() and (timing["import_s"] > 0).all()
        assert (timing["epoch_us"] > 0).all() and timing["call_us"].notna().all()
        assert (timing["startup_s"] >= timing["import_s"] + timing["first_epoch_s"] - 1e-9).all()
        assert (timing["peak_rss_mb"] >= timing["rss_import_mb"]).all() and (timing["cpu_ratio"] > 0).all()
        assert (mine["threads"] == backends.DEFAULT_THREADS).all()
        seeds = mine[mine["role"] == "convergence"]
        assert (seeds.groupby("preset")["mode"].nunique() == 1).all()  # once per backend and preset, on one mode
        assert sorted(seeds.groupby("preset").size().unique()) == [3]  # --quick: 3 seeds per preset
        assert seeds["epoch_us_median"].isna().all() and seeds["import_s"].isna().all()
        assert mine["method"].str.len().gt(0).all()


@pytest.mark.slow
def test_quick_run_keeps_a_curve_for_every_seed_and_article_run_it_trained(quick):
    runs, curves = runs_of(quick), read_curves(quick)
    lengths = curves.groupby(["backend", "device", "mode", "preset", "seed"]).size()
    trained = runs[runs["status"].isin(FINISHED) & ((runs["role"] == "convergence") | (runs["preset"] == "article"))]
    trained = trained[trained["preset"] != "article-bare"]  # the article's own code, timed, keeps no curve
    for row in trained.itertuples():
        key = (row.backend, row.device, row.mode, row.preset, row.seed)
        assert key in lengths.index, key
        if row.role == "convergence":
            assert lengths[key] == row.epochs
    assert not lengths.index.duplicated().any()


@pytest.mark.slow
def test_quick_run_records_the_article_preset_once_per_backend(quick):
    article = runs_of(quick).query("preset == 'article'")
    names = [n for n in ("numpy", "keras", "torch") if installed(n)]
    assert sorted(article["backend"]) == sorted(names)
    assert (article["mode"] == "idiomatic").all() and (article["role"] == "timing").all()
    assert article["outputs"].str.split().str.len().eq(4).all()
    assert (article["epochs"] == [backends.preset("article", n).epochs // 10 for n in article["backend"]]).all()


@pytest.mark.skipif(not installed("keras"), reason="keras not installed")
@pytest.mark.slow
def test_keras_convergence_is_trained_on_the_tuned_mode_only_and_model_fit_is_timed(quick):
    runs = runs_of(quick)
    seeds = runs.query("backend == 'keras' and role == 'convergence' and preset == 'matched'")
    assert set(seeds["mode"]) == {"tuned"} and len(seeds) == 3  # model.fit's seeds would cost minutes
    fit = runs.query("backend == 'keras' and mode == 'idiomatic' and preset == 'matched'")
    timing = fit[fit["role"] == "timing"].iloc[0]
    stopped = timing["stopped_at_epoch"] == timing["epochs"] and timing["stop_reason"] in ("solved", "budget")
    assert timing["epochs"] == 200 or stopped  # past --quick's 3 s budget, fit stops early


@pytest.mark.slow
def test_timings_hold_every_repeat_of_every_timing_run(quick):
    runs, timings = runs_of(quick), pd.read_csv(quick / "timings.csv")
    timed = runs[(runs["role"] == "timing") & runs["status"].isin(FINISHED)]
    counts = timings.groupby(["backend", "device", "mode", "preset", "process"]).size()
    assert len(counts) == len(timed)
    for row in timed.itertuples():  # as many as the row says, at least --quick's 4 repeats
        assert counts[row.backend, row.device, row.mode, row.preset, row.process] == row.windows >= 4, row
    assert (timings["epoch_us"] > 0).all() and (timings["window_epochs"] >= 1).all()


@pytest.mark.slow
def test_a_run_too_short_for_its_windows_is_replayed_and_timed_at_two_lengths(quick):
    """numpy's 200 --quick epochs take ~5 ms, less than --quick's 0.05 s window: the long window outlasts
    the run's epochs, so the run is set up again (a replay) before each window that would pass them."""
    runs, timings = runs_of(quick), pd.read_csv(quick / "timings.csv")
    rows = runs.query("backend == 'numpy' and mode == 'idiomatic' and preset == 'matched' and role == 'timing'")
    for row in rows.itertuples():
        mine = f"backend == 'numpy' and mode == 'idiomatic' and preset == 'matched' and process == {row.process}"
        windows = timings.query(mine)
        assert row.replays >= 1 and len(windows) == row.windows
        assert windows["window_epochs"].nunique() == 2 and windows["window_epochs"].max() == row.window_epochs > 200
        assert windows["window_epochs"].max() >= 8 * windows["window_epochs"].min()
        assert row.epochs <= 200 and row.status == "ok"  # the run itself is at most its 200 epochs


# ------------------------------------------------------------------ failures, through the fake backends


@pytest.fixture(scope="module")
def misbehaving(tmp_path_factory) -> tuple[Path, int, str]:
    """One run of three fake backends, each misbehaving in its seed-1 timing process (tests/fixtures/
    fake_backend.py): "hanging" says nothing for the 5 s --timeout, "crashing" dies of SIGSEGV, "slow"
    is 1 ms an epoch slower. Parent in this process, workers in their own: (out, exit status, stderr)."""
    out = tmp_path_factory.mktemp("misbehaving")
    argv = ["run", "--backends", "hanging,crashing,slow", "--modes", "idiomatic", "--preset", "matched", "--epochs",
            "300", "--seeds", "1", "--repeats", "4", "--processes", "3", "--timeout", "5", "--no-report"]  # fmt: skip
    err = io.StringIO()
    with (
        pytest.MonkeyPatch.context() as patch,
        contextlib.redirect_stderr(err),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        FAKES["install"](patch)
        code = cli.main([*argv, "--out", str(out)])
    return out, code, err.getvalue()


def test_a_run_with_error_rows_is_status_1_with_every_row_saved(misbehaving):
    out, code, err = misbehaving
    assert code == 1 and "Traceback" not in err, err[-2000:]
    assert err.strip().splitlines()[-1] == "xorbench: 2 of 12 rows errored or timed out (their `reason` says why)"
    runs = runs_of(out)
    assert len(runs) == 12 and list(runs.columns) == RUN_COLUMNS
    failed = (runs["role"] == "timing") & (runs["process"] == 1) & runs["backend"].isin(["hanging", "crashing"])
    assert (runs[~failed]["status"] == "ok").all()  # every job after a hang or a crash ran


def test_a_crashing_worker_gives_error_rows_and_the_others_complete(misbehaving):
    runs = runs_of(misbehaving[0]).query("backend == 'crashing'")
    timing = runs.query("role == 'timing'").set_index("process")
    assert list(timing["status"]) == ["ok", "error", "ok"]  # process 1 died; the processes after it ran
    assert timing.loc[1, "reason"] == "worker died of SIGSEGV; last stderr line: fake backend: crashing on purpose"
    assert list(runs.query("role == 'convergence'")["status"]) == ["ok"]


def test_a_silent_worker_is_stopped_after_the_timeout_and_the_others_complete(misbehaving):
    runs = runs_of(misbehaving[0])
    timing = runs.query("backend == 'hanging' and role == 'timing'").set_index("process")
    assert list(timing["status"]) == ["ok", "error", "ok"]
    assert timing.loc[1, "reason"].startswith("worker timed out after 5 s without a row or progress")
    assert timing.loc[1, "start_order"] == 3 and timing.loc[1, "seed"] == 1  # the placeholder's planned columns


def test_a_slow_process_is_outvoted_by_the_median_of_processes(misbehaving):
    """One of three timing processes runs 1 ms per epoch slower (a fake trainer standing in for a slow
    spell of the machine): its own figure shows it, the row's median over processes does not."""
    out = misbehaving[0]
    timing = runs_of(out).query("backend == 'slow' and role == 'timing'").set_index("process")["epoch_us"]
    summary = pd.read_csv(out / "summary.csv").query("backend == 'slow' and preset == 'matched'").iloc[0]
    assert timing[1] > 3 * max(timing[0], timing[2])  # the slow process shows it (1 ms vs ~25-90 µs)
    assert min(timing[0], timing[2]) <= summary["epoch_us_raw"] <= max(timing[0], timing[2])
    assert summary["epoch_us"] < timing[1] / 3  # calibrated for each process's speed state, still outvoted
    assert summary["processes"] == 3
    env = json.loads((out / "env.json").read_text())  # each row's three processes' time, and the convergence jobs'
    spent = env["job_seconds"]
    names = ("hanging", "crashing", "slow")
    assert set(spent) == {f"time {n}/cpu/idiomatic" for n in names} | {f"run {n}/cpu" for n in names}
    rounding = 0.05 * (len(spent) + 1)  # env.json keeps each figure to 0.1 s
    assert min(spent.values()) > 0 and sum(spent.values()) <= env["duration_s"] + rounding
    assert spent["time hanging/cpu/idiomatic"] >= 5  # the silence it was stopped after


def test_an_interrupted_run_keeps_its_finished_rows_and_leaves_no_worker_behind(tmp_path):
    """SIGINT to the run's own process (not its group): the hung worker is killed, the rows saved."""
    import psutil

    runner = subprocess.Popen(
        [sys.executable, str(FAKE_XORBENCH), "run", "--backends", "hanging", *TINY, "--out", str(tmp_path),
         "--no-report"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until seed 0 is saved; the worker then hangs on seed 1
        if (tmp_path / "runs.csv").exists() and "convergence" in set(runs_of(tmp_path)["role"]):
            break
        time.sleep(0.2)
    workers = psutil.Process(runner.pid).children(recursive=True)
    runner.send_signal(signal.SIGINT)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 130
    assert b"interrupted" in err and b"Traceback" not in err
    runs = runs_of(tmp_path)
    assert list(runs["status"]) == ["ok"] * 2 and list(runs["role"]) == ["timing", "convergence"]
    assert list(read_curves(tmp_path)["seed"].unique()) == [0]  # seed 0's curve alone: timing processes keep none
    assert json.loads((tmp_path / "env.json").read_text())["interrupted"] is True
    assert workers and not any(w.is_running() for w in workers)


def test_a_run_starts_with_an_empty_curves_table_and_ends_with_every_curve(tmp_path):
    from xorbench.bench.options import make
    from xorbench.bench.runner import begin, finish

    options = make("run", False, {"backends": ("numpy",), "out": tmp_path}, "xorbench run")
    tables = Tables(tmp_path, clock=lambda: 0.0)  # time stands still: only the first and the final save write curves
    begin(options, None, tables)
    assert pd.read_parquet(tmp_path / CURVES).empty
    tables.add({"backend": "numpy", "device": "cpu", "mode": "idiomatic", "preset": "matched", "seed": 0,
                "role": "convergence", "status": "ok"}, curve=[0.3, 0.2])  # fmt: skip
    tables.save()  # as after every finished row
    assert pd.read_parquet(tmp_path / CURVES).empty and len(runs_of(tmp_path)) == 1
    assert finish(options, None, tables) is None
    assert list(read_curves(tmp_path)["loss"]) == [pytest.approx(0.3), pytest.approx(0.2)]


@pytest.mark.skipif(bool(environment.gpus()), reason="this machine has a GPU")
def test_devices_gpu_without_a_gpu_gives_skipped_rows_with_the_reason(tmp_path):
    # jax: the quickest framework to import (torch's reason: tests/test_protocol.py)
    assert cli.main(["run", "--devices", "gpu", "--backends", "numpy,jax", *TINY, "--out", str(tmp_path),
                     "--no-report"]) == 0  # fmt: skip
    runs = runs_of(tmp_path)
    assert len(runs) == 6 and set(runs["status"]) == {"skipped"} and set(runs["device"]) == {"gpu"}
    reasons = runs.groupby("backend")["reason"].first()
    assert "CuPy" in reasons["numpy"] and "no GPU visible to jax" in reasons["jax"]
    assert pd.read_parquet(tmp_path / CURVES).empty


@pytest.mark.slow
def test_quick_run_times_the_article_snippet_bare_beside_the_harness_loop(quick):
    runs = runs_of(quick)
    bare = runs[(runs["backend"] == "numpy") & (runs["preset"] == "article-bare")]
    harness = runs[(runs["backend"] == "numpy") & (runs["preset"] == "article") & (runs["role"] == "timing")]
    assert len(bare) == 1 and len(harness) == 1
    assert bare["status"].iloc[0] == "ok" and "verbatim" in bare["method"].iloc[0]
    assert bare["epoch_us_median"].iloc[0] > 0 and harness["epoch_us_median"].iloc[0] > 0
    assert int(bare["epochs"].iloc[0]) == int(harness["epochs"].iloc[0])
