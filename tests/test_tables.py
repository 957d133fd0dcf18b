"""The tables' schema matches docs/TABLES.md, files are replaced atomically, the curves go to Parquet
(float32, in arrival order, rewritten at most every CURVES_EVERY_S but for the first and last save),
and the worker's small pure pieces (statistics, time-to-solve,
which mode lends its convergence) do what they say."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from xorbench.bench.job import RunJob, TimeJob, job_from_json, planned
from xorbench.bench.measure import Measured
from xorbench.bench.rows import AdviceRow
from xorbench.bench.stats import max_relative_difference, summarise
from xorbench.bench.tables import (
    CURVE_COLUMNS,
    CURVE_SCHEMA,
    CURVES,
    CURVES_EVERY_S,
    ENV_KEYS,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    SWEEP_COLUMNS,
    TIMING_COLUMNS,
    NotSaved,
    RunRow,
    Tables,
    read_curves,
    write_atomic,
)

CONTRACT = (Path(__file__).resolve().parent.parent / "docs" / "TABLES.md").read_text()


TUNED, IDIOMATIC = {"matched": "tuned", "classic": "tuned"}, {"matched": "idiomatic", "classic": "idiomatic"}


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
        (CURVES, CURVE_COLUMNS),
        ("sweep.csv", SWEEP_COLUMNS),
        ("advice.csv", [f.name for f in dataclasses.fields(AdviceRow)]),
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
    curves = read_curves(tmp_path)
    assert list(curves["loss"]) == [np.float32(x) for x in (0.3, 0.2, 0.1)]
    assert list(pd.read_csv(tmp_path / "timings.csv")["epoch_us"]) == [10.0, 12.0]
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert list(runs.columns) == RUN_COLUMNS and list(runs["schema_version"]) == [SCHEMA_VERSION] * 2


def test_a_long_run_writes_each_table_byte_once_and_its_appended_tables_equal_one_written_whole(tmp_path):
    from xorbench.bench.tables import csv_text

    tables = Tables(tmp_path)
    for i in range(300):  # saved after every row, as the runner does: rewriting would write ~150x more
        extra = {"final_loss": 0.5 / (i + 1), "solved": i % 3 == 0} if i % 2 else {"epochs": i, "reason": 'a, "b"'}
        tables.add(row(seed=i, process=i, **extra), timings=[{"window_epochs": 5 + i, "epoch_us": 1.0 + i}])
        tables.save()
    on_disk = {name: (tmp_path / name).read_bytes() for name in ("runs.csv", "timings.csv")}
    assert tables.csv_bytes == sum(map(len, on_disk.values()))
    assert on_disk["runs.csv"].decode() == csv_text(tables.runs, RunRow)
    (tmp_path / "runs.csv").write_text("changed behind the run's back\n")  # rewritten whole, not appended to
    tables.add(row(seed=300))
    tables.save()
    assert (tmp_path / "runs.csv").read_text() == csv_text(tables.runs, RunRow)


def test_an_append_the_disk_cuts_short_leaves_whole_rows_and_says_so(tmp_path, monkeypatch):
    from xorbench.bench import tables as module

    tables = Tables(tmp_path)
    tables.add(row(seed=0))
    tables.save()
    before = (tmp_path / "runs.csv").read_bytes()
    write = module.os.write
    monkeypatch.setattr(module.os, "write", lambda fd, data: write(fd, data[: len(data) // 2]))  # a full disk
    tables.add(row(seed=1))
    with pytest.raises(NotSaved):
        tables.save()
    assert (tmp_path / "runs.csv").read_bytes() == before
    monkeypatch.undo()
    tables.save()  # room again: the row that did not fit is written
    assert list(pd.read_csv(tmp_path / "runs.csv")["seed"]) == [0, 1]


class Clock:
    """A clock the test moves by hand: Tables.save's throttle without sleeping."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_curves_round_trip_as_float32_in_arrival_order_with_their_keys(tmp_path):
    rng = np.random.default_rng(0)
    tables, sent = Tables(tmp_path), {}
    for backend, mode, preset, seed, epochs in [("torch", "tuned", "matched", 3, 5), ("numpy", "idiomatic", "classic",
                                                0, 4), ("numpy", "idiomatic", "matched", 2**40, 1)]:  # fmt: skip
        losses = rng.random(epochs) * 10.0 ** rng.integers(-30, 3, epochs)  # float64, every magnitude
        losses[-1] = np.nan if seed == 3 else losses[-1]  # a diverged run's curve ends non-finite
        tables.add(row(backend=backend, mode=mode, preset=preset, seed=seed, role="convergence"), curve=losses)
        sent[(backend, "cpu", mode, preset, seed)] = losses
    tables.add(row(seed=7, status="error"))  # no curve: no rows
    tables.save(final=True)
    assert pq.read_schema(tmp_path / CURVES).remove_metadata() == CURVE_SCHEMA  # float32 loss, int32 epoch
    back = read_curves(tmp_path)
    assert list(back.columns) == CURVE_COLUMNS and len(back) == 5 + 4 + 1
    keys = list(back[CURVE_COLUMNS[:5]].itertuples(index=False, name=None))
    assert list(dict.fromkeys(keys)) == list(sent)  # curve after curve, as they arrived
    for key, losses in sent.items():
        mine = back[[k == key for k in keys]]
        assert list(mine["epoch"]) == list(range(len(losses)))
        np.testing.assert_array_equal(mine["loss"].to_numpy(np.float32), losses.astype(np.float32))  # exact
        assert mine["loss"].dtype == np.float64  # read as every table's numbers, widened exactly


def test_a_later_curve_of_the_same_seed_replaces_the_earlier_in_its_place(tmp_path):
    tables = Tables(tmp_path)
    tables.add(row(seed=0), curve=[0.5])
    tables.add(row(seed=1, role="convergence"), curve=[0.4, 0.3])
    tables.add(row(seed=0, role="convergence"), curve=[0.5, 0.2, 0.1])
    tables.save(final=True)
    curves = read_curves(tmp_path)
    assert list(curves["seed"]) == [0, 0, 0, 1, 1] and list(curves["epoch"]) == [0, 1, 2, 0, 1]
    assert list(curves["loss"]) == [np.float32(x) for x in (0.5, 0.2, 0.1, 0.4, 0.3)]


def test_the_first_save_writes_an_empty_curves_table_with_its_columns(tmp_path):
    Tables(tmp_path).save()  # as a run's begin() does, before any row
    assert pq.read_schema(tmp_path / CURVES).remove_metadata() == CURVE_SCHEMA
    curves = read_curves(tmp_path)
    assert curves.empty and list(curves.columns) == CURVE_COLUMNS


def test_curves_are_rewritten_at_most_every_few_seconds_but_always_at_the_final_save(tmp_path):
    clock = Clock()
    tables = Tables(tmp_path, clock=clock)
    tables.save()
    tables.add(row(seed=0, role="convergence"), curve=[0.3])
    clock.now += CURVES_EVERY_S - 0.1
    tables.save()
    assert read_curves(tmp_path).empty and len(pd.read_csv(tmp_path / "runs.csv")) == 1  # runs.csv at every save
    clock.now += 0.1
    tables.save()
    assert list(read_curves(tmp_path)["seed"]) == [0]
    clock.now += 2 * CURVES_EVERY_S
    (tmp_path / CURVES).unlink()
    tables.save()  # time enough, but nothing changed: not rewritten
    assert not (tmp_path / CURVES).exists()
    tables.add(row(seed=1, role="convergence"), curve=[0.2])
    clock.now += 1.0
    tables.save(final=True)  # the run's end: written however recently
    assert list(read_curves(tmp_path)["seed"]) == [0, 1]


def test_curves_that_take_long_to_write_are_written_at_most_a_tenth_of_the_time(tmp_path, monkeypatch):
    from xorbench.bench import tables as module

    clock, compress = Clock(), module.curves_parquet

    def slow(columns):  # each write of the curves takes 3 s of the run
        clock.now += 3.0
        return compress(columns)

    monkeypatch.setattr(module, "curves_parquet", slow)
    tables = Tables(tmp_path, clock=clock)
    tables.save()
    tables.add(row(seed=0, role="convergence"), curve=[0.3])
    clock.now += 26.0  # 29 s after the last write began (it ended at 3): past CURVES_EVERY_S, within 10 x 3 s
    tables.save()
    assert read_curves(tmp_path).empty
    clock.now += 1.0
    tables.save()
    assert list(read_curves(tmp_path)["seed"]) == [0]


def test_curves_that_could_not_be_saved_are_written_at_the_next_save(tmp_path):
    clock = Clock()
    tables = Tables(tmp_path, clock=clock)
    tables.save()
    tables.add(row(seed=0, role="convergence"), curve=[0.3])
    clock.now += CURVES_EVERY_S
    (tmp_path / "runs.csv").unlink()
    (tmp_path / "runs.csv").mkdir()  # the whole set then fails, curves.parquet included
    with pytest.raises(NotSaved):
        tables.save()
    (tmp_path / "runs.csv").rmdir()
    assert read_curves(tmp_path).empty
    tables.save()
    assert list(read_curves(tmp_path)["seed"]) == [0]


def test_a_folder_without_curves_has_none_to_read(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_curves(tmp_path)


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


def test_convergence_is_trained_per_preset_on_the_mode_whose_seeds_cost_least_build_and_epochs_together():
    from types import SimpleNamespace

    from xorbench.bench.options import make
    from xorbench.bench.plan import convergence_modes

    options = make("run", False, {"backends": ("torch",), "preset": "all", "seeds": 10}, "xorbench run")

    def row(mode, us, startup_s):
        return SimpleNamespace(backend="torch", device="cpu", mode=mode, epoch_us=us, startup_s=startup_s, import_s=1.0,
                               time_to_solve_cold_s=None, compile_cache="")  # fmt: skip

    # matched: 10 seeds x 2000 epochs at 400 us -> 8 s, at 20 us -> 0.4 s, plus the build (startup - import);
    # classic: 10 seeds x ~1,500 epochs -> 6 s at 400 us, plus the slowest build (its shape compiles cold)
    idiomatic = [row("idiomatic", 400.0, 1.5)] * 3
    cheap, costly = [row("tuned", 20.0, 5.0)] * 3, [row("tuned", 20.0, 5.0)] * 2 + [row("tuned", 20.0, 30.0)]
    assert convergence_modes(options, idiomatic + cheap) == {("torch", "cpu"): {"matched": "tuned", "classic": "tuned"}}
    assert convergence_modes(options, idiomatic + costly) == {
        ("torch", "cpu"): {"matched": "tuned", "classic": "idiomatic"}}  # fmt: skip
    slow_build = [row("tuned", 20.0, 30.0)] * 3
    assert convergence_modes(options, idiomatic + slow_build) == {
        ("torch", "cpu"): {"matched": "idiomatic", "classic": "idiomatic"}}  # fmt: skip


def test_the_plan_lists_seeds_then_the_article_and_a_time_job_its_one_row():
    job = RunJob(backend="keras", device="cpu", modes=("idiomatic", "tuned"), convergence_modes=TUNED, threads=1,
                 spec={}, repeats=3, window_s=1.0, seeds=2, solve_s=30.0, matched={"seed": 0},
                 article={"seed": 0})  # fmt: skip
    assert planned(job) == [
        ("tuned", "matched", 0, "convergence"), ("tuned", "matched", 1, "convergence"),
        ("idiomatic", "article", 0, "timing"),
    ]  # fmt: skip
    assert job_from_json(job.to_json()) == job
    timed = TimeJob(backend="keras", device="cpu", mode="tuned", threads=1, spec={}, repeats=3, window_s=1.0,
                    matched={"seed": 0}, solve_s=30.0, process=3)  # fmt: skip
    assert planned(timed) == [("tuned", "matched", 3, "timing")]


def test_timing_processes_start_round_robin_across_rows_with_torch_caches_cold_then_warm():
    from xorbench.bench.options import DEFAULT_MODES, make
    from xorbench.bench.plan import time_jobs

    options = make("run", False, {"backends": ("numpy", "torch"), "devices": ("cpu",), "processes": 3}, "xorbench run")
    order = [(j.backend, j.mode, j.process, j.compile_cache) for j in time_jobs(options, range(3))]
    rows = [(name, mode) for name in ("numpy", "torch") for mode in DEFAULT_MODES]
    n = len(rows)
    assert [o[:2] for o in order] == rows * 3 and [o[2] for o in order] == [0] * n + [1] * n + [2] * n
    # each torch row's first process fills the compile cache; the others find it full
    assert [o[3] for o in order if o[0] == "torch"] == ["cold"] * 2 + ["warm"] * 4
    assert {o[3] for o in order if o[0] == "numpy"} == {""}
    assert [j.start_order for j in time_jobs(options, range(3))] == list(range(3 * n))


def test_a_row_stops_training_to_solved_once_a_process_ran_out_of_its_budget():
    from types import SimpleNamespace

    from xorbench.bench.options import make
    from xorbench.bench.runner import Schedule

    options = make("run", False, {"backends": ("numpy",), "devices": ("cpu",), "modes": ("idiomatic",),
                                  "processes": 3, "preset": "matched"}, "xorbench run")  # fmt: skip

    def solves(first: dict) -> list[bool]:
        row = dict(backend="numpy", device="cpu", mode="idiomatic", role="timing", preset="matched", status="ok",
                   epoch_us=None, startup_s=None, import_s=None, **first)  # fmt: skip
        tables = SimpleNamespace(runs=[SimpleNamespace(**row)])
        return [
            job.solve for job in Schedule(options, tables, SimpleNamespace(outcomes=[])).jobs() if job.kind == "time"
        ]

    solved = dict(time_to_solve_cold_s=1.0, time_to_solve_warm_s=0.5, stop_reason="solved")
    assert solves(solved) == [True, True, True]
    assert solves(dict(solved, time_to_solve_cold_s=20.0)) == [True, False, False]  # 2 x 20.5 s > the 30 s solve budget
    # unsolved within its budget: no time spent is known, and the later processes would only repeat it
    unsolved = dict(time_to_solve_cold_s=None, time_to_solve_warm_s=None, stop_reason="budget")
    assert solves(unsolved) == [True, False, False]


def test_curve_keys_are_stored_and_read_as_categories_a_few_bytes_a_row(tmp_path):
    tables = Tables(tmp_path)
    for seed, backend in enumerate(["torch", "numpy", "jax"]):  # first seen in another order than sorted
        tables.add(row(backend=backend, seed=seed, role="convergence"), curve=np.ones(1000, np.float32))
    tables.save(final=True)
    stored = pq.read_schema(tmp_path / CURVES)
    assert all(str(stored.field(name).type).startswith("dictionary<values=string") for name in CURVE_COLUMNS[:4])
    curves = read_curves(tmp_path)
    assert isinstance(curves["backend"].dtype, pd.CategoricalDtype)
    assert list(curves["backend"].cat.categories) == ["jax", "numpy", "torch"]  # sorted, so groups sort as text
    assert curves.memory_usage(deep=True)[["backend", "device", "mode", "preset"]].sum() < 4 * 2 * len(curves)


def test_curves_are_read_back_series_by_series_across_row_groups(tmp_path, monkeypatch):
    from xorbench.bench import tables as module

    monkeypatch.setattr(module, "CURVE_GROUP", 7)  # row groups and batches of 7 rows: curves straddle them
    rng = np.random.default_rng(1)
    sent = {("torch", "cpu", "tuned", "matched", 3): rng.random(10, dtype=np.float32),
            ("numpy", "cpu", "idiomatic", "classic", 0): rng.random(5, dtype=np.float32),
            ("numpy", "cpu", "idiomatic", "matched", 0): rng.random(16, dtype=np.float32)}  # fmt: skip
    (tmp_path / CURVES).write_bytes(module.curves_parquet(module.curve_columns(sent)))
    assert pq.ParquetFile(tmp_path / CURVES).num_row_groups == 5
    series = module.read_series(tmp_path / CURVES)
    assert {(*key, seed) for key, seeds in series.items() for seed in seeds} == set(sent)
    for (*key, seed), losses in sent.items():
        epochs, back = series[tuple(key)][seed]
        assert list(epochs) == list(range(len(losses))) and back.dtype == np.float64
        np.testing.assert_array_equal(back, losses.astype(np.float64))
