"""The rows of every table: one dataclass per table, whose fields are its columns (docs/TABLES.md).

Workers build rows here and send them as dicts; the tables (bench/tables.py) check and write them.
Imports only the standard library, so a worker can use it without loading pandas.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

SCHEMA_VERSION = 3  # 2: runs.csv gained windows .. stop_reason; curves.csv.gz. 3: per-process timing, summary.csv
#                    Within 3, curves.csv.gz became curves.parquet, same columns (older runs' still read)
STATUSES = ("ok", "diverged", "skipped", "error")
ROLES = ("timing", "convergence")
CURVES = "curves.parquet"  # written by bench/tables.py (pyarrow); every other table is CSV


@dataclass(kw_only=True)
class RunRow:
    """runs.csv: one run, a backend x device x mode x preset x seed (docs/TABLES.md)."""

    schema_version: int = SCHEMA_VERSION
    backend: str
    framework_version: str | None = None
    device: str
    device_name: str | None = None
    mode: str
    preset: str
    optimizer: str | None = None
    lr: float | None = None
    epochs: int | None = None
    seed: int
    dtype: str | None = None
    threads: int | None = None
    status: str  # ok | diverged | skipped | error
    reason: str = ""
    final_loss: float | None = None
    accuracy: float | None = None
    solved: bool | None = None
    epoch_solved: int | None = None
    train_s: float | None = None
    epoch_us_median: float | None = None
    epoch_us_iqr: float | None = None
    epoch_us_min: float | None = None
    first_epoch_s: float | None = None
    time_to_solve_s: float | None = None
    import_s: float | None = None
    role: str  # timing | convergence
    method: str | None = None  # what the mode is, in the backend's words; the report adds how it was timed
    init: str | None = None
    outputs: str | None = None
    windows: int | None = None  # timed windows in timings.csv, replays included
    window_epochs: int | None = None  # epochs per timed window (one fit() call each)
    replays: int | None = None  # times the run was set up again to time more windows
    stopped_at_epoch: int | None = None  # where a timing run stopped short of its epochs
    stop_reason: str | None = None  # solved | budget
    # Timing rows: one per fresh worker process. `seed` is the seed its solve runs trained.
    process: int | None = None  # 0 .. processes-1 within this backend x device x mode
    start_order: int | None = None  # when this process started among all of the run's processes (0, 1, ...)
    epoch_us: float | None = None  # b of fit(W) seconds = a + b * W over this process's windows, in µs
    call_us: float | None = None  # a: the fixed cost of one fit() call, in µs
    startup_s: float | None = None  # import + build + first epoch in this fresh process
    compile_cache: str | None = None  # the on-disk compile cache this process started with: cold | warm | ""
    time_to_solve_cold_s: float | None = None  # fresh process: build + training until solved (import apart)
    time_to_solve_warm_s: float | None = None  # compiled already: training only, until solved
    rss_import_mb: float | None = None  # resident memory after the framework's import
    rss_build_mb: float | None = None  # ... after the first build
    peak_rss_mb: float | None = None  # the process's peak resident memory, training included
    device_peak_mb: float | None = None  # the framework's peak device memory (GPU only)
    cpu_ratio: float | None = None  # process CPU time / wall time over the timed windows (median)
    kernel_us: float | None = None  # the calibration kernel before each window (median): the process's speed state
    # The 1986 criterion (classic preset, and every run): all four outputs on the right side of 0.5
    epoch_accurate: int | None = None  # first epoch whose every |output - target| < 0.5
    time_to_accuracy_s: float | None = None  # as time_to_solve_s, to the end of epoch_accurate
    momentum: float | None = None  # the config's SGD momentum
    hidden: int | None = None  # the config's hidden units


@dataclass(kw_only=True)
class SummaryRow:
    """summary.csv: one row per backend x device x mode x preset, over its processes and seeds.

    Figures are medians over processes; epoch_us is calibrated (stats.calibrate: each process moved to the
    run's median kernel), epoch_us_raw not; *_ci_low/_high an order-statistic interval of the median, at
    the level epoch_us_ci_level (at least 95% where the processes allow, else the deepest they give)."""

    schema_version: int = SCHEMA_VERSION
    backend: str
    device: str
    mode: str
    preset: str
    processes: int | None = None  # timing processes that finished ok
    epoch_us: float | None = None
    epoch_us_ci_low: float | None = None
    epoch_us_ci_high: float | None = None
    call_us: float | None = None  # median per-call cost; empty unless its interval over processes lies above 0
    startup_s: float | None = None
    startup_ci_low: float | None = None
    startup_ci_high: float | None = None
    startup_cold_cache_s: float | None = None
    startup_warm_cache_s: float | None = None
    time_to_solve_cold_s: float | None = None
    time_to_solve_cold_n: int | None = None
    time_to_solve_warm_s: float | None = None
    time_to_solve_warm_n: int | None = None
    solved: int | None = None  # seeds whose loss fell below LOSS_TARGET; empty where seeds stop once converged
    seeds: int | None = None
    epochs_to_solve: float | None = None  # median over solved seeds
    accurate: int | None = None  # seeds that reached 100% accuracy (epoch_accurate)
    epochs_to_accuracy: float | None = None  # median epoch_accurate over those seeds
    time_to_accuracy_cold_s: float | None = None  # median over timing processes of time_to_accuracy_s (cold run)
    time_to_accuracy_cold_n: int | None = None  # processes that reached it
    peak_rss_mb: float | None = None
    cpu_ratio: float | None = None
    threads: int | None = None
    threads_exceeded: bool | None = None  # cpu_ratio > threads + 0.25
    borrowed_from: str | None = None  # the mode whose convergence seeds these are (trained once per backend)
    unresolved: int | None = None  # timing processes whose windows resolved no per-epoch cost: not in epoch_us
    epoch_us_raw: float | None = None  # median over processes before the calibration adjustment
    calibration_beta: float | None = None  # log epoch_us = alpha + beta log kernel_us across the processes
    epoch_us_ci_level: float | None = None  # the actual coverage of the order-statistic interval for n processes


@dataclass(kw_only=True)
class SweepRow:
    """sweep.csv: one cell, a backend x device x mode x hidden x batch."""

    schema_version: int = SCHEMA_VERSION
    backend: str
    framework_version: str | None = None
    device: str
    device_name: str | None = None
    mode: str
    hidden: int
    batch: int
    work: int | None = None  # hidden x batch
    optimizer: str | None = None
    lr: float | None = None
    dtype: str | None = None
    threads: int | None = None
    status: str
    reason: str = ""
    import_s: float | None = None  # the framework's import in this cell's process (one process per sweep job)
    setup_s: float | None = None
    first_epoch_s: float | None = None  # after an untimed warm-up of the mode at the first cell: the size's compile
    epoch_us_median: float | None = None
    epoch_us_min: float | None = None
    windows: int | None = None
    window_epochs: int | None = None
    total_epochs: int | None = None  # advise --check: one fit(total_epochs) call straight after setup
    total_s: float | None = None  # import + setup + that call, in a fresh process

    def __post_init__(self) -> None:
        self.work = self.hidden * self.batch


@dataclass(kw_only=True)
class TimingRow:
    """timings.csv: one timed window of a timing run."""

    backend: str
    device: str
    mode: str
    preset: str
    repeat: int
    window_epochs: int | None
    epoch_us: float
    process: int | None = None  # the timing process (runs.csv `process`) this window came from
    cpu_ratio: float | None = None  # process CPU time / wall time during this window
    kernel_us: float | None = None  # the calibration kernel, timed in the same process just before the window
    cpu: int | None = None  # the CPU the process ran on as the window ended


@dataclass(kw_only=True)
class CurveRow:
    """curves.parquet: one epoch's loss of one run (float32; bench/tables.py CURVE_SCHEMA)."""

    backend: str
    device: str
    mode: str
    preset: str
    seed: int
    epoch: int
    loss: float


def columns(row_type: type) -> list[str]:
    """A table's columns: the row's fields, in order."""
    return [f.name for f in dataclasses.fields(row_type)]


def kinds(row_type: type) -> dict[str, str]:
    """Column -> int | float | bool | str, from the row's annotations: how a reader parses it."""
    hints = typing.get_type_hints(row_type)
    found = {}
    for name in columns(row_type):
        options = set(typing.get_args(hints[name])) - {type(None)} or {hints[name]}
        found[name] = next(t.__name__ for t in (bool, int, float, str) if t in options)
    return found


RUN_COLUMNS = columns(RunRow)
SWEEP_COLUMNS = columns(SweepRow)
SUMMARY_COLUMNS = columns(SummaryRow)
TIMING_COLUMNS = columns(TimingRow)
CURVE_COLUMNS = columns(CurveRow)
ENV_KEYS = [
    "schema_version", "timestamp", "command", "git_commit", "cpu_model", "cores", "memory_gb", "os", "python",
    "frameworks", "blas", "gpu", "threads",
]  # fmt: skip


@dataclass(kw_only=True)
class AdviceRow:
    """advice.csv: one backend and mode of one `xorbench advise --check` workload, predicted and measured."""

    schema_version: int = SCHEMA_VERSION
    hidden: int
    batch: int
    epochs: int
    device: str
    backend: str
    mode: str
    predicted_rank: int
    predicted_s: float
    predicted_low_s: float
    predicted_high_s: float
    startup_s: float
    epoch_us: float
    beyond: float  # 1: inside the sweep's grid; else the work ratio to the measured cell it grew from
    measured_s: float | None = None  # median over `processes` fresh processes of import + setup + fit(epochs)
    measured_low_s: float | None = None
    measured_high_s: float | None = None
    measured_level: float | None = None  # the coverage of that order-statistic interval
    processes: int = 0
    measured_rank: int | None = None  # among the candidates checked
    git_commit: str = ""


TABLES = {"runs.csv": RunRow, "timings.csv": TimingRow, CURVES: CurveRow, "sweep.csv": SweepRow,
          "summary.csv": SummaryRow}  # fmt: skip


def make_row(row_type: type, row: dict | object):
    """A row of `row_type` from a dict (as a worker sends it), refusing unknown columns and statuses."""
    if isinstance(row, row_type):
        made = row
    else:
        known = {f.name for f in dataclasses.fields(row_type)}
        unknown = set(row) - known
        if unknown:
            raise ValueError(f"unknown {table_name(row_type)} columns: {sorted(unknown)}")
        made = row_type(**{k: v for k, v in row.items() if k != "schema_version"})  # always this version's
    status = getattr(made, "status", "ok")
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
    return made


def table_name(row_type: type) -> str:
    return next(name for name, kind in TABLES.items() if kind is row_type)
