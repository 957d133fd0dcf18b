"""The tables' schema matches docs/TABLES.md, files are replaced atomically, and the worker's small
pure pieces (statistics, time-to-solve, which mode lends its convergence) do what they say."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xorbench.bench.job import Job, planned
from xorbench.bench.measure import Measured, convergence_sources
from xorbench.bench.stats import max_relative_difference, summarise
from xorbench.bench.tables import (
    CURVE_COLUMNS,
    ENV_KEYS,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    SWEEP_COLUMNS,
    TIMING_COLUMNS,
    Tables,
    write_atomic,
)

CONTRACT = (Path(__file__).resolve().parent.parent / "docs" / "TABLES.md").read_text()


def contract_columns(heading: str) -> list[str]:
    section = CONTRACT.split(f"## {heading}", 1)[1]
    block = section.split("\n\n", 1)[0].split("\n", 1)[1]  # the lines under the heading, up to a blank line
    block = re.sub(r"\{[^}]*\}|\(.*?\)|\bor null\b", "", block.split("\n(")[0])
    return [name.strip() for name in block.replace("\n", " ").split(",") if name.strip()]


@pytest.mark.parametrize(
    "heading, columns",
    [
        ("runs.csv", RUN_COLUMNS),
        ("timings.csv", TIMING_COLUMNS),
        ("curves.csv.gz", CURVE_COLUMNS),
        ("sweep.csv", SWEEP_COLUMNS),
        ("env.json", ENV_KEYS),
    ],
)
def test_columns_are_the_ones_docs_tables_promises(heading, columns):
    assert contract_columns(heading) == columns


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "runs.csv"
    write_atomic(path, "old\n")
    write_atomic(path, "new\n")
    assert path.read_text() == "new\n" and [p.name for p in tmp_path.iterdir()] == ["runs.csv"]


def row(**changes) -> dict:
    return {"backend": "numpy", "device": "cpu", "mode": "idiomatic", "preset": "matched", "seed": 0,
            "role": "timing", "status": "ok", **changes}  # fmt: skip


def test_tables_keep_one_curve_per_run_key_the_later_one_winning(tmp_path):
    tables = Tables(tmp_path)
    windows = [{"window_epochs": 5, "epoch_us": 10.0}, {"window_epochs": 20, "epoch_us": 12.0, "cpu_ratio": 1.0}]
    tables.add(row(process=0), curve=[0.3, 0.2], timings=windows)
    tables.add(row(role="convergence"), curve=[0.3, 0.2, 0.1])
    tables.save()
    curves = pd.read_csv(tmp_path / "curves.csv.gz")
    assert list(curves["loss"]) == [0.3, 0.2, 0.1]
    assert list(pd.read_csv(tmp_path / "timings.csv")["epoch_us"]) == [10.0, 12.0]
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert list(runs.columns) == RUN_COLUMNS and list(runs["schema_version"]) == [SCHEMA_VERSION] * 2


def test_tables_refuse_unknown_columns_and_statuses(tmp_path):
    with pytest.raises(ValueError, match="unknown runs.csv columns"):
        Tables(tmp_path).add(row(speed=3))
    with pytest.raises(ValueError, match="status must be one of"):
        Tables(tmp_path).add(row(status="fine"))


def test_summary_is_median_iqr_and_min():
    s = summarise([4.0, 1.0, 3.0, 2.0, 100.0])
    assert (s.median, s.iqr, s.min, s.n) == (3.0, 2.0, 1.0, 5)


def test_relative_difference_compares_the_common_prefix():
    assert max_relative_difference([1.0, 0.5, 0.25], [1.0, 0.5]) == 0.0
    assert max_relative_difference([1.0, 0.5], [1.0, 0.55]) == pytest.approx(0.1)
    assert max_relative_difference([1.0, np.nan], [1.0, 0.5]) == np.inf


def test_time_to_solve_is_build_plus_calls_interpolated_inside_the_solving_call():
    run = Measured(setup_s=1.0, calls=[(1, 0.5), (10, 2.0), (10, 1.0)])
    assert run.time_to_solve(0) == pytest.approx(1.5)
    assert run.time_to_solve(5) == pytest.approx(1.5 + 2.0 * 5 / 10)  # epoch 5 is the 5th of the 2nd call
    assert run.time_to_solve(20) == pytest.approx(4.5)
    assert run.time_to_solve(None) is None and run.time_to_solve(21) is None


def test_an_expensive_mode_borrows_convergence_from_the_cheapest_mode_within_budget():
    assert convergence_sources({"idiomatic": 900.0, "tuned": 2.0}, 30.0) == {"idiomatic": "tuned"}
    assert convergence_sources({"idiomatic": 5.0, "tuned": 2.0}, 30.0) == {}
    assert convergence_sources({"idiomatic": 900.0, "tuned": 800.0}, 30.0) == {}  # nothing cheaper fits: own


def test_the_plan_lists_seeds_then_the_article_and_a_time_job_its_one_row():
    job = Job("run", "keras", "cpu", ("idiomatic", "tuned"), threads=1, spec={}, repeats=3, window_s=1.0, seeds=2,
              budget_s=30.0, matched={"seed": 0}, article={"seed": 0})  # fmt: skip
    assert planned(job) == [
        ("idiomatic", "matched", 0, "convergence"), ("idiomatic", "matched", 1, "convergence"),
        ("tuned", "matched", 0, "convergence"), ("tuned", "matched", 1, "convergence"),
        ("idiomatic", "article", 0, "timing"),
    ]  # fmt: skip
    assert Job.from_json(job.to_json()) == job
    timed = dataclasses.replace(job, kind="time", modes=("tuned",), process=3)
    assert planned(timed) == [("tuned", "matched", 3, "timing")]


def test_timing_processes_start_round_robin_across_rows_with_torch_caches_cold_then_warm():
    from xorbench.bench.options import make
    from xorbench.bench.plan import time_jobs

    options = make("run", False, {"backends": ("numpy", "torch"), "devices": ("cpu",), "processes": 3}, "xorbench run")
    order = [(j.backend, j.modes[0], j.process, j.compile_cache) for j in time_jobs(options)]
    rows = [("numpy", "idiomatic"), ("numpy", "tuned"), ("torch", "idiomatic"), ("torch", "tuned")]
    assert [o[:2] for o in order] == rows * 3 and [o[2] for o in order] == [0] * 4 + [1] * 4 + [2] * 4
    assert [o[3] for o in order if o[0] == "torch"] == ["cold", "cold", "warm", "warm", "cold", "cold"]
    assert [j.start_order for j in time_jobs(options)] == list(range(12))
