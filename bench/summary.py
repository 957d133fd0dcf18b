"""A run's tables, loaded through their one schema and summarised into plain data: summary.csv's rows
and everything the report says (bench/report.py renders it; bench/compare.py compares two runs).

`load` reads the tables (the row dataclasses of bench/rows.py say their columns); `groups_of`
summarises one backend × device × mode × preset over its processes and seeds; `summary_rows` and
`write_summary` turn that into summary.csv; `summarise` adds the comparisons, the curves, the
article, the targets, the environment, the sweep and the classic (1986) experiment. Pure but for
`load` and `write_summary`; no Markdown, no figures, and nothing of any framework: which backend is
the compiled floor, or has a target for its tuned mode, comes from the registry (xorbench.backends,
which imports no framework).

Every figure of a timing row is a median over its fresh worker processes, with a 95% bootstrap
interval over them (bench/stats.py); claims compare process values, never windows.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..backends import MODES, REGISTRY, floor_backends  # the registry; imports no framework
from . import figures
from .rows import SUMMARY_COLUMNS, SummaryRow
from .stats import (
    FEW,
    OWN_BETA,
    Versus,
    break_even,
    calibrate,
    compare_samples,
    median,
    median_ci,
    median_interval,
    per_call,
    pooled_beta,
    relative_difference,
    wilson,
)
from .sweep_stats import Crossovers, crossovers
from .tables import (
    CURVES,
    SCHEMA_VERSION,
    UNREADABLE,
    CurveRow,
    Cut,
    RunRow,
    SweepRow,
    TimingRow,
    csv_text,
    curves_file,
    kinds,
    read_series,
    read_table,
    write_atomic,
)

KEY = ["backend", "device", "mode"]
FINISHED = ("ok", "diverged")  # statuses whose rows carry measurements
THREADS_SLACK = 0.25  # a row whose CPU / wall time exceeds its threads by more than this is flagged

# The article's own numpy snippet is a yardstick for the harness, not a backend: these two targets
# concern it (groups are (backend, device, mode) of the matched preset; mode "article"/"article-bare"
# names those presets' idiomatic timing rows). The tuned modes' targets come from the registry.
ARTICLE_TARGETS = (
    (("numpy", "cpu", "tuned"), ("numpy", "cpu", "article-bare"), 0.6, "NumPy tuned vs the article's own loop"),
    (("numpy", "cpu", "article"), ("numpy", "cpu", "article-bare"), 1.1, "the article's loop in the harness vs bare"),
)
# Between frameworks: two whole-loop XLA programs, JAX's lax.scan against Keras' on TensorFlow.
FRAMEWORK_TARGETS = ((("jax", "cpu", "tuned"), ("keras", "cpu", "tuned"), 0.6, "jax tuned vs keras tuned"),)


# ---------------------------------------------------------------- load


@dataclass
class Loaded:
    """A run's tables as read from its folder: the one container the summaries read."""

    runs: pd.DataFrame | None = None
    timings: pd.DataFrame | None = None
    curves: dict | None = None  # tables.read_series: (backend, device, mode, preset) -> seed -> (epochs, losses)
    sweep: pd.DataFrame | None = None
    env: dict | None = None
    curves_name: str = CURVES  # the curves file read (an older run has a CSV one: tables.curves_file)
    missing: dict[str, str] = field(default_factory=dict)  # file name -> why it is not usable
    absent: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file name -> schema columns it lacks
    warnings: list[str] = field(default_factory=list)  # one line each, for the reader and the CLI


def required(row_type: type) -> list[str]:
    """The columns a table cannot do without: the row fields that have no default."""
    return [f.name for f in dataclasses.fields(row_type) if f.default is f.default_factory is dataclasses.MISSING]


class Unreadable(ValueError):
    """A table that is there but cannot be read whole (garbage, wrong columns, empty, cut mid-row)."""


def read_whole(path: Path, row_type: type) -> pd.DataFrame:
    """A table with every column its rows need, or Unreadable with the one line that says why
    (FileNotFoundError when there is none)."""
    name = path.name
    try:
        data = read_table(path, row_type)
    except FileNotFoundError:  # absent, not unreadable: the OSError in UNREADABLE would take it
        raise
    except pd.errors.EmptyDataError:
        raise Unreadable(f"{name} is empty") from None
    except Cut as error:
        raise Unreadable(str(error)) from None
    except UNREADABLE as error:
        raise Unreadable(f"{name} is not a readable table ({error.__class__.__name__})") from None
    check_columns(name, data.columns, row_type)
    return data


def check_columns(name: str, columns, row_type: type) -> None:
    """Unreadable, naming them, where a table lacks columns its rows cannot do without."""
    absent = [c for c in required(row_type) if c not in columns]
    if absent:
        raise Unreadable(f"{name} lacks columns {', '.join(absent)}")


def unreadable(out_dir: Path) -> list[str]:
    """Why each table in out_dir that `report` reads cannot be read whole; [] when every one present can."""
    out_dir, found = Path(out_dir), []
    tables = {"runs.csv": RunRow, "timings.csv": TimingRow, curves_file(out_dir).name: CurveRow,
              "sweep.csv": SweepRow, "summary.csv": SummaryRow}  # fmt: skip
    for name, row_type in tables.items():
        try:
            check_curves(out_dir / name) if row_type is CurveRow else read_whole(out_dir / name, row_type)
        except FileNotFoundError:
            pass
        except Unreadable as error:
            found.append(str(error))
    return found


def read(path: Path, row_type: type) -> tuple[pd.DataFrame | None, str | None]:
    """A table through its schema, every schema column present (empty where the file lacks it); or why not."""
    try:
        data = read_whole(path, row_type)
    except FileNotFoundError:
        return None, f"no {path.name} in this run"
    except Unreadable as error:
        return None, str(error)
    if data.empty:
        return None, f"{path.name} has no rows"
    types = kinds(row_type)
    lacking = tuple(column for column in types if column not in data.columns)
    for column in lacking:
        data[column] = "" if types[column] == "str" else np.nan
    data.attrs["absent"] = lacking  # an older xorbench's table: these columns are empty, not measured
    return data, None


def read_curves_of(path: Path) -> tuple[dict | None, str | None]:
    """The curves table as its series (tables.read_series), or why not."""
    try:
        check_curves(path)
        series = read_series(path)
    except FileNotFoundError:
        return None, f"no {path.name} in this run"
    except Unreadable as error:
        return None, str(error)
    except (*UNREADABLE, KeyError, ValueError) as error:
        return None, f"{path.name} is not a readable table ({error.__class__.__name__})"
    return (series, None) if series else (None, f"{path.name} has no rows")


def check_curves(path: Path) -> None:
    """Unreadable unless curves.parquet's footer reads and names every column a curve needs; an older run's
    CSV curves are read whole (read_whole). Nothing is decoded: the curves are the largest table."""
    if path.suffix != ".parquet":
        read_whole(path, CurveRow)
        return
    try:
        with open(path, "rb") as file:
            names = pq.read_schema(file).names
    except FileNotFoundError:
        raise
    except UNREADABLE as error:
        raise Unreadable(f"{path.name} is not a readable table ({error.__class__.__name__})") from None
    check_columns(path.name, names, CurveRow)


def read_env(out_dir: Path) -> tuple[dict | None, str | None]:
    try:
        return json.loads((out_dir / "env.json").read_text()), None
    except FileNotFoundError:
        return None, "no env.json in this run"
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return None, f"env.json is not valid JSON ({error.__class__.__name__})"


def load(out_dir: Path, *, curves: bool = True, sweep: bool = True) -> Loaded:
    """Read a run's folder; `curves`/`sweep` False skip those tables (summary.csv needs neither)."""
    out_dir, loaded = Path(out_dir), Loaded()
    loaded.curves_name = curves_file(out_dir).name
    wanted = {"runs.csv": ("runs", RunRow), "timings.csv": ("timings", TimingRow)}
    if curves:
        loaded.curves, why = read_curves_of(out_dir / loaded.curves_name)
        if why:
            loaded.missing[loaded.curves_name] = why
    if sweep:
        wanted["sweep.csv"] = ("sweep", SweepRow)
    for name, (attribute, row_type) in wanted.items():
        data, why = read(out_dir / name, row_type)
        setattr(loaded, attribute, data)
        if why:
            loaded.missing[name] = why
        else:
            loaded.absent[name] = data.attrs.get("absent", ())
    loaded.env, why = read_env(out_dir)
    if why:
        loaded.missing["env.json"] = why
    if loaded.runs is not None:
        loaded.runs = upgrade(loaded.runs)
    loaded.warnings = newer_schema(loaded)
    return loaded


BORROWED_V1 = r"^convergence from the (\S+) mode"  # how schema 1 said, in `method` only, what was borrowed


def upgrade(runs: pd.DataFrame) -> pd.DataFrame:
    """Schema-1 rows in schema-2 terms, where the facts can be read back: which mode a row borrows from."""
    runs = runs.copy()
    old = (runs["schema_version"].fillna(1) < 2) & (runs["borrowed_from"] == "")
    found = runs["method"].str.extract(BORROWED_V1, expand=False).fillna("")
    runs.loc[old, "borrowed_from"] = found[old]
    return runs


def newer_schema(loaded: Loaded) -> list[str]:
    """One warning line when a table was written by a newer xorbench than this one; else none."""
    tables = {"runs.csv": loaded.runs, "sweep.csv": loaded.sweep}
    versions = {name: data["schema_version"].max() for name, data in tables.items() if data is not None}
    if loaded.env is not None:
        versions["env.json"] = loaded.env.get("schema_version")
    newer = {name: int(v) for name, v in versions.items() if as_float(v) is not None and float(v) > SCHEMA_VERSION}
    if not newer:
        return []
    which = ", ".join(f"{name} (schema_version {v})" for name, v in newer.items())
    return [
        f"warning: {which} from a newer xorbench; this one reads schema_version {SCHEMA_VERSION}: "
        "rendered anyway, leaving out the columns it does not know"
    ]


# ---------------------------------------------------------------- small helpers


def measured(x) -> bool:
    return x is not None and not (isinstance(x, float | np.floating) and not math.isfinite(x))


def as_float(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def as_int(x) -> int | None:
    x = as_float(x)
    return int(x) if x is not None else None


def truthy(values: pd.Series) -> pd.Series:
    return values.astype(str).str.strip().str.lower().isin(["true", "1", "1.0", "yes"])


def numbers(values: pd.Series) -> np.ndarray:
    """A column's finite numbers (empty cells and text dropped)."""
    values = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return values[np.isfinite(values)]


def median_of(values: pd.Series) -> float | None:
    return median(numbers(values))


def max_of(values: pd.Series) -> float | None:
    found = numbers(values)
    return float(found.max()) if found.size else None


def trained(rows: pd.DataFrame) -> pd.Series:
    """Epochs each run trained: where it stopped short, else its epochs."""
    return rows["stopped_at_epoch"].where(rows["stopped_at_epoch"].notna(), rows["epochs"])


def trained_one(row: pd.Series | None) -> int | None:
    if row is None:
        return None
    stopped = as_int(row["stopped_at_epoch"])
    return stopped if stopped is not None else as_int(row["epochs"])


def ci(values) -> tuple[float, float] | None:
    """The 95% bootstrap interval of the median of values; None where fewer than two."""
    low, high = median_ci(values)
    return (low, high) if math.isfinite(low) else None


# ---------------------------------------------------------------- one backend × device × mode × preset


def process_us(timing: pd.DataFrame) -> pd.Series:
    """Each timing process's µs per epoch: b of its a + b·W fit (`epoch_us`); a table from before schema
    3, or a row timed otherwise (article-bare), has only the median of its windows. <= 0: its windows did
    not resolve a per-epoch cost (unresolved_of)."""
    us = pd.to_numeric(timing["epoch_us"], errors="coerce")
    return us.where(us.notna(), pd.to_numeric(timing["epoch_us_median"], errors="coerce"))


def process_values(timing: pd.DataFrame) -> np.ndarray:
    """The resolved ones of process_us, as an array."""
    us = process_us(timing)
    return numbers(us[us > 0])


def unresolved_of(timing: pd.DataFrame) -> int:
    """Timing processes whose windows did not resolve a per-epoch cost: longer windows were no slower
    (stats.call_and_epoch's b <= 0). That is no measurement."""
    return int((pd.to_numeric(timing["epoch_us"], errors="coerce") <= 0).sum())


def startup_values(timing: pd.DataFrame) -> pd.Series:
    """Each process's start-up (import + build + first epoch), from its parts where the column is empty."""
    parts = pd.to_numeric(timing["import_s"], errors="coerce") + pd.to_numeric(timing["first_epoch_s"], errors="coerce")
    startup = pd.to_numeric(timing["startup_s"], errors="coerce")
    return startup.where(startup.notna(), parts)


@dataclass(frozen=True)
class Group:
    """One backend × device × mode of one preset, summarised over its timing processes and its seeds."""

    key: tuple
    status: str  # "ok" when anything was measured, else the status of its rows (skipped, error)
    preset: str = "matched"
    processes: int = 0  # ok timing processes
    unresolved: int = 0  # ... of which their windows resolved no per-epoch cost (left out of values)
    values: tuple[float, ...] = ()  # µs per epoch of each process, calibrated (the independent repeats)
    us: float | None = None  # median over processes of µs per epoch, calibrated
    us_ci: tuple[float, float] | None = None  # its order-statistic interval; None from fewer than 2
    us_ci_level: float | None = None  # ... and that interval's coverage
    us_raw: float | None = None  # the median before calibration
    beta: float | None = None  # the calibration's slope on the kernel (stats.calibrate)
    call_us: float | None = None  # median per-call cost of fit()
    import_s: float | None = None
    first_epoch_s: float | None = None
    startup_s: float | None = None  # median over processes of import + build + first epoch
    startup_ci: tuple[float, float] | None = None
    startup_cold_cache_s: float | None = None  # ... of the processes that started with a cold compile cache
    startup_warm_cache_s: float | None = None
    tts_cold_s: float | None = None  # median time-to-solve from a fresh process (import apart)
    tts_cold_n: int = 0
    tts_warm_s: float | None = None  # ... already compiled: training only
    tts_warm_n: int = 0
    tta_cold_s: float | None = None  # median cold time-to-accuracy (every output on the right side of 0.5)
    tta_cold_n: int = 0
    epochs: int | None = None  # the preset's epochs for this group
    solved: int = 0
    seeds: int = 0
    epochs_to_solve: float | None = None
    accurate: int = 0  # seeds that reached 100% accuracy (epoch_accurate)
    epochs_to_accuracy: float | None = None  # median epoch_accurate over those seeds
    final_loss: float | None = None
    success: tuple[float, float] | None = None  # 95% Wilson interval of solved / seeds
    rss_import_mb: float | None = None
    rss_build_mb: float | None = None
    peak_rss_mb: float | None = None
    device_peak_mb: float | None = None
    cpu_ratio: float | None = None  # CPU time / wall time over the timed windows
    threads: int | None = None
    borrowed_from: str = ""  # the mode whose seeds gave success, epochs-to-solve and final loss
    borrow_difference: float | None = None
    borrow_checked_seeds: int | None = None  # this mode's own curves compared with the lender's: seeds ...
    borrow_checked_epochs: int | None = None  # ... × epochs
    versus: Versus | None = None  # against the fastest group; None for it and the untimed

    @property
    def threads_exceeded(self) -> bool | None:
        if not (measured(self.cpu_ratio) and measured(self.threads)):
            return None
        return self.cpu_ratio > self.threads + THREADS_SLACK

    @property
    def training_s(self) -> float | None:
        return self.us * self.epochs * 1e-6 if measured(self.us) and measured(self.epochs) else None

    @property
    def total_s(self) -> float:
        return self.startup_s + self.training_s


def group_of(key: tuple, preset: str, rows: pd.DataFrame, windows: pd.DataFrame | None,
             backend_seeds: pd.DataFrame | None = None, reference: float | None = None,
             pooled: float | None = None) -> Group:  # fmt: skip
    """A group from its rows of runs.csv (and its windows in timings.csv, for the CPU ratio of older runs).
    A mode without convergence seeds of its own has its backend's (`backend_seeds`: trained once per
    backend, on its fastest mode), marked borrowed_from that mode."""
    done = rows[rows["status"].isin(FINISHED)]
    if done.empty:
        return Group(key, "/".join(sorted(set(rows["status"]))), preset)
    timing = done[(done["role"] == "timing") & (done["status"] == "ok")]
    convergence = done[done["role"] == "convergence"]
    if convergence.empty and backend_seeds is not None and not backend_seeds.empty:
        convergence = backend_seeds.assign(borrowed_from=backend_seeds["mode"])
    seeds = convergence if not convergence.empty else done
    trained_whole = convergence if not convergence.empty else rows  # the preset's epochs: its seeds trained them
    return Group(
        key,
        "ok",
        preset,
        epochs=as_int(max_of(trained_whole["epochs"])),
        **timing_fields(timing, windows, reference, pooled),
        **seed_fields(seeds),
    )


def with_kernels(timing: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """The row's per-process µs per epoch (process_values) and, where every one timed it, their kernels."""
    us = process_us(timing)
    kernels = pd.to_numeric(timing["kernel_us"], errors="coerce")[us > 0].to_numpy(dtype=float)
    return numbers(us[us > 0]), kernels if kernels.size and np.isfinite(kernels).all() else None


def calibrated(timing: pd.DataFrame, reference: float | None, pooled: float | None) -> dict:
    """The row's per-process µs per epoch moved to the run's median kernel (stats.calibrate): by its own
    beta from OWN_BETA processes on, else by the run's pooled beta; as measured (beta None) where no
    beta or no kernels are known."""
    values, kernels = with_kernels(timing)
    raw = median(values)
    beta = None if values.size >= OWN_BETA else pooled
    if reference is None or kernels is None or (beta is None and values.size < OWN_BETA):
        return dict(values=tuple(values), us_raw=raw, beta=None)
    adjusted = calibrate(values, kernels, reference, beta)
    return dict(values=tuple(adjusted.values), us_raw=raw, beta=adjusted.beta)


def timing_fields(timing: pd.DataFrame, windows: pd.DataFrame | None, reference: float | None = None,
                  pooled: float | None = None) -> dict:  # fmt: skip
    cal, startup = calibrated(timing, reference, pooled), startup_values(timing)
    values = np.asarray(cal["values"])
    interval = median_interval(values)
    cache = timing["compile_cache"]
    cold = numbers(timing["time_to_solve_cold_s"])
    if not cold.size:  # before schema 3: the one timing run's time-to-solve, which was the cold one
        cold = numbers(timing["time_to_solve_s"])
    warm = numbers(timing["time_to_solve_warm_s"])
    accurate = numbers(timing["time_to_accuracy_s"])  # a timing row's runs to solved are cold ones
    cpu = median_of(timing["cpu_ratio"])
    if cpu is None and windows is not None:
        cpu = median_of(windows["cpu_ratio"])
    return dict(
        processes=len(timing),
        unresolved=unresolved_of(timing),
        **cal,
        us=median(values),
        us_ci=(interval.low, interval.high) if math.isfinite(interval.low) else None,
        us_ci_level=interval.coverage if math.isfinite(interval.low) else None,
        call_us=per_call(numbers(pd.to_numeric(timing["call_us"], errors="coerce")))[0],  # None: below resolution
        import_s=median_of(timing["import_s"]),
        first_epoch_s=median_of(timing["first_epoch_s"]),
        startup_s=median_of(startup),
        startup_ci=ci(numbers(startup)),
        startup_cold_cache_s=median_of(startup[cache == "cold"]),
        startup_warm_cache_s=median_of(startup[cache == "warm"]),
        tts_cold_s=median(cold),
        tts_cold_n=len(cold),
        tts_warm_s=median(warm),
        tts_warm_n=len(warm),
        tta_cold_s=median(accurate),
        tta_cold_n=len(accurate),
        rss_import_mb=median_of(timing["rss_import_mb"]),
        rss_build_mb=median_of(timing["rss_build_mb"]),
        peak_rss_mb=median_of(timing["peak_rss_mb"]),
        device_peak_mb=median_of(timing["device_peak_mb"]),
        cpu_ratio=cpu,
        threads=as_int(median_of(timing["threads"])),
    )


def seed_fields(seeds: pd.DataFrame) -> dict:
    solved = truthy(seeds["solved"])
    lenders = sorted(set(seeds["borrowed_from"]) - {""})
    lent = seeds[seeds["borrowed_from"] != ""]
    return dict(
        solved=int(solved.sum()),
        seeds=len(seeds),
        epochs_to_solve=median_of(seeds["epoch_solved"][solved]),
        accurate=len(numbers(seeds["epoch_accurate"])),
        epochs_to_accuracy=median_of(seeds["epoch_accurate"]),
        final_loss=median_of(seeds["final_loss"]),
        success=wilson(int(solved.sum()), len(seeds)),
        borrowed_from="/".join(lenders),
        borrow_difference=max_of(lent["borrow_difference"]) if lenders else None,
        borrow_checked_seeds=as_int(max_of(lent["borrow_checked_seeds"])) if lenders else None,
        borrow_checked_epochs=as_int(max_of(lent["borrow_checked_epochs"])) if lenders else None,
    )


def windows_of(timings: pd.DataFrame | None, preset: str, key: tuple) -> pd.DataFrame | None:
    if timings is None:
        return None
    chosen = timings["preset"] == preset
    for column, value in zip(KEY, key):
        chosen &= timings[column] == value
    return timings[chosen]


def groups_of(runs: pd.DataFrame, timings: pd.DataFrame | None, preset: str) -> tuple[Group, ...]:
    """Every backend × device × mode of one preset, in key order."""
    rows = runs[runs["preset"] == preset]
    seeds = rows[(rows["role"] == "convergence") & rows["status"].isin(FINISHED)]
    timed = rows[(rows["role"] == "timing") & (rows["status"] == "ok")]
    reference = median(numbers(pd.to_numeric(timed["kernel_us"], errors="coerce")))  # the run's median kernel
    rows_kernels = [with_kernels(group) for _, group in timed.groupby(KEY, sort=True)]
    pooled = pooled_beta([(v, k) for v, k in rows_kernels if k is not None])
    return tuple(
        group_of(
            key,
            preset,
            group,
            windows_of(timings, preset, key),
            seeds[(seeds["backend"] == key[0]) & (seeds["device"] == key[1])],
            reference,
            pooled,
        )  # fmt: skip
        for key, group in rows.groupby(KEY, sort=True)
    )


# ---------------------------------------------------------------- summary.csv


def accuracy_columns(g: Group) -> dict:
    """The time-to-accuracy columns that SummaryRow declares (bench/rows.py): summary.csv gains them with it."""
    found = dict(
        accurate=g.accurate if g.seeds else None,
        epochs_to_accuracy=g.epochs_to_accuracy,
        time_to_accuracy_cold_s=g.tta_cold_s,
        time_to_accuracy_cold_n=g.tta_cold_n,
    )
    return {name: value for name, value in found.items() if name in SUMMARY_COLUMNS}


def summary_row(g: Group) -> SummaryRow:
    backend, device, mode = g.key
    low, high = g.us_ci or (None, None)
    calibration = dict(epoch_us_raw=g.us_raw, calibration_beta=g.beta, epoch_us_ci_level=g.us_ci_level)
    start_low, start_high = g.startup_ci or (None, None)
    return SummaryRow(
        backend=backend, device=device, mode=mode, preset=g.preset, processes=g.processes,
        epoch_us=g.us, epoch_us_ci_low=low, epoch_us_ci_high=high, call_us=g.call_us,
        startup_s=g.startup_s, startup_ci_low=start_low, startup_ci_high=start_high,
        startup_cold_cache_s=g.startup_cold_cache_s, startup_warm_cache_s=g.startup_warm_cache_s,
        time_to_solve_cold_s=g.tts_cold_s, time_to_solve_cold_n=g.tts_cold_n,
        time_to_solve_warm_s=g.tts_warm_s, time_to_solve_warm_n=g.tts_warm_n,
        success=g.solved if g.seeds else None, seeds=g.seeds or None, epochs_to_solve=g.epochs_to_solve,
        peak_rss_mb=g.peak_rss_mb, cpu_ratio=g.cpu_ratio, threads=g.threads, threads_exceeded=g.threads_exceeded,
        borrowed_from=g.borrowed_from, unresolved=g.unresolved, **accuracy_columns(g), **calibration,
    )  # fmt: skip


def summary_rows(runs: pd.DataFrame, timings: pd.DataFrame | None = None) -> list[SummaryRow]:
    """summary.csv's rows: one per backend × device × mode × preset, presets in the order runs.csv has them."""
    presets = list(dict.fromkeys(runs["preset"]))
    return [summary_row(g) for preset in presets for g in groups_of(runs, timings, preset)]


def write_summary(out_dir: Path) -> Path:
    """Compute summary.csv from the run's runs.csv and timings.csv and write it atomically; its path."""
    out_dir = Path(out_dir)
    loaded = load(out_dir, curves=False, sweep=False)
    if loaded.runs is None:
        raise ValueError(f"no summary.csv: {loaded.missing['runs.csv']}")
    path = out_dir / "summary.csv"
    write_atomic(path, csv_text(summary_rows(loaded.runs, loaded.timings), SummaryRow))
    return path


def read_summary(out_dir: Path) -> tuple[pd.DataFrame | None, str | None]:
    """summary.csv through its schema; computed from runs.csv when a run has none (an older one); or why not."""
    out_dir = Path(out_dir)
    if (out_dir / "summary.csv").exists():
        return read(out_dir / "summary.csv", SummaryRow)
    loaded = load(out_dir, curves=False, sweep=False)
    if loaded.runs is None:
        return None, loaded.missing["runs.csv"]
    rows = summary_rows(loaded.runs, loaded.timings)
    return pd.DataFrame([dataclasses.asdict(r) for r in rows]), None


# ---------------------------------------------------------------- the report's summary data


@dataclass(frozen=True)
class Pair:
    """Group b against group a: b's time per epoch over a's, with its interval and verdict."""

    a: Group
    b: Group
    versus: Versus


@dataclass(frozen=True)
class Method:
    """How one kind of row was obtained: the columns its sentence in the methods table is written from."""

    key: tuple
    preset: str
    role: str
    method: str  # the mode, in the backend's words (schema 1: the whole sentence)
    legacy: bool = False  # schema 1: `method` already says everything
    epochs: int | None = None  # epochs trained
    epochs_range: tuple[int, int] | None = None  # seeds trained until converged: the fewest and most epochs
    windows: int | None = None
    window_epochs: int | None = None
    replays: int | None = None
    in_run: int | None = None  # windows timed in the run itself, the rest in its replays
    stopped_at_epoch: int | None = None
    stop_reason: str = ""
    of_epochs: int | None = None  # the epochs a stopped run was to train
    borrowed_from: str = ""
    borrow_difference: float | None = None
    source_method: str = ""  # what the lending mode is
    seed: int | None = None  # the seed whose curves were compared (before schema 3)
    compared_seeds: int | None = None
    compared_epochs: int | None = None
    seeds: int | None = None
    seeds_cost_s: float | None = None  # what training every seed of this mode would take
    processes: int | None = None  # fresh timing processes (schema 3)
    window_lengths: tuple[int, ...] = ()  # the window lengths those processes timed
    solved_in: int | None = None  # processes that trained towards solved (cold and warm)
    solved: int | None = None  # ... and of those, how many solved


@dataclass(frozen=True)
class ArticleRow:
    key: tuple
    status: str  # "ok", or the statuses of rows that all failed
    config: tuple[tuple[str, object], ...] = ()
    outputs: tuple[float, ...] | None = None  # of the lowest seed; None when runs.csv has none
    accuracy: float | None = None
    final_loss: float | None = None
    train_s: float | None = None
    learned: int = 0  # seeds at 100% accuracy
    seeds: int = 0


@dataclass(frozen=True)
class Step:
    """A group against a reference group of the same run: idiomatic, for a framework's other modes;
    Keras on TensorFlow, for model.fit on Keras' other backends."""

    group: Group
    versus: Versus | None  # group / reference over their processes; None for the reference, or untimed


@dataclass(frozen=True)
class Target:
    """Group a's time per epoch over group b's against a target ratio, decided on its interval."""

    what: str
    target: float
    a: tuple
    b: tuple
    a_us: float | None
    b_us: float | None
    versus: Versus | None = None  # a against b (ratio a / b)

    @property
    def ratio(self) -> float:
        return self.a_us / self.b_us

    @property
    def verdict(self) -> str:
        """met / missed where the interval is wholly on one side of the target; else undecided."""
        v = self.versus
        if v is None or v.verdict == FEW:
            return ("met" if self.ratio <= self.target else "missed") + " on the medians"
        if v.high <= self.target:
            return "met"
        return "missed" if v.low > self.target else "undecided"


@dataclass(frozen=True, eq=False)
class CurveBand:
    key: tuple
    seeds: int
    epochs: np.ndarray
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class CurvePair:
    a: tuple
    b: tuple
    seeds: int
    difference: float  # the largest relative difference, |a − b| / |a|
    seed: int
    epoch: int


@dataclass(frozen=True)
class Curves:
    bands: tuple[CurveBand, ...] = ()
    shared_seeds: tuple[int, ...] = ()  # the seeds every drawn series has: the only ones drawn
    pairs: tuple[CurvePair, ...] = ()  # largest difference first
    why: str | None = None  # why there are none


@dataclass(frozen=True)
class Choices:
    """What the "which to choose when" statements are computed from."""

    timed: tuple[Group, ...] = ()  # by time per epoch
    first_start: Group | None = None  # the fastest to start among the timed
    payback_epochs: float | None = None  # after which the fastest per epoch has paid back its later start
    whole: tuple[Group, ...] = ()  # by start-up + training
    modes: tuple[Pair, ...] = ()  # each other mode against the idiomatic one
    devices: tuple[Pair, ...] = ()  # the GPU against the CPU
    converged: tuple[Group, ...] = ()
    apart: tuple[Group, ...] = ()  # success interval entirely below the best one's


@dataclass(frozen=True)
class Sweep:
    cells: int = 0
    failed: int = 0
    lines: tuple[figures.SweepLine, ...] = ()
    crossovers: Crossovers | None = None
    why: str | None = None


CLASSIC = "classic"  # the preset of the 1986 experiment (backends.PRESETS)


@dataclass(frozen=True)
class ClassicRow:
    """One backend × device × mode of the classic preset: its seeds, each trained until converged (every
    |output − target| < 0.5, runs.csv's epoch_accurate) or to the preset's epochs."""

    key: tuple
    status: str  # "ok" when any seed finished, else the statuses of its rows (skipped, error)
    seeds: int = 0  # seeds that finished (ok or diverged)
    converged: int = 0
    interval: tuple[float, float] | None = None  # 95% Wilson interval of converged / seeds
    epochs: tuple[int, ...] = ()  # epochs to converge (epoch_accurate) of the converged seeds, ascending
    by_seed: tuple[tuple[int, int | None], ...] = ()  # (seed, epochs to converge, None where it did not)
    cap: int | None = None  # epochs an unconverged seed trained: the preset's limit (None: every seed converged)
    longest: int | None = None  # the most epochs any seed trained
    lr: float | None = None
    momentum: float | None = None  # where runs.csv records it
    borrowed_from: str = ""  # the mode whose seeds these rows copy

    @property
    def median(self) -> float | None:
        return median(self.epochs)


@dataclass(frozen=True)
class Agreement:
    """Whether the classic groups that trained their own seeds converged alike, seed by seed."""

    groups: int  # groups compared (borrowing groups copy their lender's seeds: left out)
    seeds: int  # the seeds every one of them has
    differing: int = 0  # of those, seeds on which the epochs to converge (or whether it did) differ
    largest: int | None = None  # the largest difference in epochs to converge on a seed where all converged
    at_seed: int | None = None
    gap: float = 0.0  # the largest vertical distance between two groups' ECDFs over those seeds
    gap_between: tuple[tuple, tuple] | None = None


@dataclass(frozen=True)
class Classic:
    rows: tuple[ClassicRow, ...] = ()
    agreement: Agreement | None = None  # None with fewer than two groups of their own seeds
    curves: Curves = Curves()
    why: str | None = None  # why there are none


@dataclass(frozen=True)
class Summary:
    """Everything the report says, as data: no Markdown, no figures, no files."""

    preset: str
    groups: tuple[Group, ...]
    fastest: Group | None
    problems: tuple[tuple, ...]  # (backend, device, mode, preset, status, reason, runs) of rows not ok
    methods: tuple[Method, ...]
    choices: Choices
    curves: Curves
    article: tuple[ArticleRow, ...]
    targets: tuple[Target, ...]
    floor: Group | None  # the fastest group of a floor backend (the registry says which backends are floors)
    floor_names: tuple[str, ...]
    bare_us: dict  # (backend, device) -> the article's own loop, timed bare, µs per epoch
    environment: tuple[tuple[str, object], ...] | None
    sweep: Sweep
    missing: dict
    warnings: tuple[str, ...]
    curves_name: str
    timestamp: str | None
    commit: str | None
    classic: Classic = Classic()
    ladders: tuple[tuple[Step, ...], ...] = ()  # per framework and device: idiomatic → compiled → tuned
    keras_fits: tuple[Step, ...] = ()  # model.fit on each Keras backend, against Keras on TensorFlow
    absent: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file -> schema columns it lacks (older)

    def lacks(self, table: str, column: str) -> bool:
        """Whether `table` was written before `column` existed: its empty cells are unrecorded, not measured."""
        return column in self.absent.get(table, ())


# ---------------------------------------------------------------- summarise


def summarise(loaded: Loaded) -> Summary:
    """The report's content, computed from the loaded tables: pure, plain data."""
    runs, env = loaded.runs, loaded.env or {}
    presets = list(dict.fromkeys(runs["preset"])) if runs is not None else []
    preset = "matched" if "matched" in presets or not presets else presets[0]
    groups = against_fastest(groups_of(runs, loaded.timings, preset)) if runs is not None else ()
    timed = [g for g in groups if measured(g.us)]
    floors = floor_backends()
    return Summary(
        preset=preset,
        groups=groups,
        fastest=min(timed, key=lambda g: g.us) if timed else None,
        problems=problems_of(runs) if runs is not None else (),
        methods=methods_of(runs, loaded.timings) if runs is not None else (),
        choices=choices_of(groups),
        curves=curves_of(loaded),
        article=article_of(runs) if runs is not None else (),
        targets=targets_of(runs) if runs is not None else (),
        floor=min((g for g in timed if g.key[0] in floors), key=lambda g: g.us, default=None),
        floor_names=floors,
        bare_us=bare_of(runs) if runs is not None else {},
        environment=environment_of(loaded.env) if loaded.env is not None else None,
        sweep=sweep_of(loaded),
        missing=dict(loaded.missing),
        warnings=tuple(loaded.warnings),
        curves_name=loaded.curves_name,
        timestamp=env.get("timestamp"),
        commit=env.get("git_commit"),
        classic=classic_of(loaded),
        ladders=ladders_of(groups),
        keras_fits=keras_fits_of(groups),
        absent=dict(loaded.absent),
    )


def step(group: Group, reference: Group | None) -> Step:
    if reference is None or group is reference or not (group.values and reference.values):
        return Step(group, None)
    return Step(group, compare_samples(reference.values, group.values))


def ladders_of(groups: tuple[Group, ...]) -> tuple[tuple[Step, ...], ...]:
    """Each backend and device with more than one mode: its modes in MODES order, each against idiomatic."""
    ladders = []
    ran = [g for g in groups if g.status == "ok"]  # skipped and failed rows have their own section
    for where in dict.fromkeys(g.key[:2] for g in ran):
        modes = {g.key[2]: g for g in ran if g.key[:2] == where}
        if len(modes) > 1:
            reference = modes.get("idiomatic")
            ladders.append(tuple(step(modes[m], reference) for m in MODES if m in modes))
    return tuple(ladders)


def keras_fits_of(groups: tuple[Group, ...]) -> tuple[Step, ...]:
    """model.fit (each Keras backend's idiomatic mode), each against Keras on TensorFlow on its device."""
    fits = [g for g in groups if g.status == "ok" and g.key[2] == "idiomatic" and is_keras(g.key[0])]
    on_tf = {g.key[1]: g for g in fits if REGISTRY[g.key[0]].packages[0] == "tensorflow"}
    return tuple(step(g, on_tf.get(g.key[1])) for g in fits)


def is_keras(name: str) -> bool:
    return name in REGISTRY and "keras" in REGISTRY[name].packages


def against_fastest(groups: tuple[Group, ...]) -> tuple[Group, ...]:
    """Each timed group but the fastest, compared with the fastest over their processes."""
    timed = [g for g in groups if measured(g.us)]
    if not timed:
        return groups
    fastest = min(timed, key=lambda g: g.us)
    return tuple(
        dataclasses.replace(g, versus=compare_samples(fastest.values, g.values))
        if measured(g.us) and g.key != fastest.key
        else g
        for g in groups
    )


def problems_of(runs: pd.DataFrame) -> tuple[tuple, ...]:
    bad = runs[runs["status"] != "ok"]
    if bad.empty:
        return ()
    counted = bad.groupby([*KEY, "preset", "status", "reason"], sort=True).size().reset_index(name="runs")
    return tuple(tuple(row) for row in counted.itertuples(index=False))


def choices_of(groups: tuple[Group, ...]) -> Choices:
    timed = tuple(sorted((g for g in groups if measured(g.us)), key=lambda g: g.us))
    if not timed:
        return Choices()
    fast = timed[0]
    started = sorted((g for g in timed if measured(g.startup_s)), key=lambda g: g.startup_s)
    first = started[0] if started else None
    payback = None
    if first is not None and measured(fast.startup_s) and fast.startup_s > first.startup_s:
        if first.versus is not None and first.versus.verdict == "slower":
            payback = break_even(first.startup_s, first.us, fast.startup_s, fast.us)
    by_key = {g.key: g for g in timed}
    modes = [(by_key.get((b, d, "idiomatic")), g) for (b, d, m), g in sorted(by_key.items()) if m != "idiomatic"]
    devices = [(by_key.get((b, "cpu", m)), g) for (b, d, m), g in sorted(by_key.items()) if d == "gpu"]
    whole = [g for g in groups if measured(g.startup_s) and measured(g.training_s)]
    converged = tuple(g for g in groups if g.seeds)
    best = max(converged, key=lambda g: g.solved / g.seeds) if converged else None
    return Choices(
        timed=timed,
        first_start=first,
        payback_epochs=payback,
        whole=tuple(sorted(whole, key=lambda g: g.total_s)),
        modes=tuple(Pair(a, b, compare_samples(a.values, b.values)) for a, b in modes if a is not None),
        devices=tuple(Pair(a, b, compare_samples(a.values, b.values)) for a, b in devices if a is not None),
        converged=converged,
        apart=tuple(g for g in converged if g.success[1] < best.success[0]) if best else (),
    )


# ---------------------------------------------------------------- summarise: how each number was obtained


def methods_of(runs: pd.DataFrame, timings: pd.DataFrame | None = None) -> tuple[Method, ...]:
    """The distinct ways rows were obtained, from their columns (and their group's timing rows)."""
    used = runs[(runs["method"] != "") & runs["status"].isin(FINISHED)]
    ok = runs[runs["status"] == "ok"]
    key4 = [*KEY, "preset"]
    timing = {key: rows for key, rows in ok[ok["role"] == "timing"].groupby(key4, sort=False)}
    seeds = runs[runs["role"] == "convergence"].groupby(key4).size().to_dict()
    preset_epochs = runs.groupby("preset")["epochs"].max().to_dict()
    found = set()
    for key, rows in used.groupby([*key4, "role"], sort=True):
        if key[-1] == "timing" and per_process(rows):
            found.add(processes_method(rows, windows_of(timings, key[3], key[:3])))
            continue
        if key[3] == CLASSIC and key[-1] == "convergence":  # each seed ends once converged: one line for all
            own, rows = rows[rows["borrowed_from"] == ""], rows[rows["borrowed_from"] != ""]
            found |= {until_converged(own)} if not own.empty else set()
        epochs = as_int(preset_epochs.get(key[3]))
        found |= {method_of(row, timing, seeds, epochs) for _, row in rows.iterrows()}
    return tuple(found)


def until_converged(rows: pd.DataFrame) -> Method:
    """The classic preset's own seeds: each trained until converged, or to the preset's epochs."""
    first, epochs = rows.iloc[0], numbers(trained(rows))
    return Method(
        (first["backend"], first["device"], first["mode"]),
        first["preset"],
        first["role"],
        first["method"],
        epochs_range=(int(epochs.min()), int(epochs.max())) if epochs.size else None,
    )


def per_process(rows: pd.DataFrame) -> bool:
    """Timing rows of schema 3's fresh processes, as against one timing run (article presets, older runs)."""
    return bool((rows["schema_version"] >= 3).all() and rows["process"].notna().all() and rows["call_us"].notna().any())


def processes_method(rows: pd.DataFrame, windows: pd.DataFrame | None) -> Method:
    first = rows.iloc[0]
    lengths = ()
    if windows is not None and not windows.empty:
        lengths = tuple(sorted({int(w) for w in numbers(windows["window_epochs"])}))
    solving = rows["stop_reason"].isin(["solved", "budget"]) | rows["time_to_solve_cold_s"].notna()
    return Method(
        (first["backend"], first["device"], first["mode"]),
        first["preset"],
        "timing",
        first["method"],
        windows=as_int(median_of(rows["windows"])),
        processes=len(rows),
        window_lengths=lengths,
        solved_in=int(solving.sum()),
        solved=int(rows["time_to_solve_cold_s"].notna().sum()),
    )


def method_of(row: pd.Series, timing: dict, seeds: dict, preset_epochs: int | None) -> Method:
    key, preset, role = (row["backend"], row["device"], row["mode"]), row["preset"], row["role"]
    base = Method(key, preset, role, row["method"])
    if not (row["schema_version"] >= 2):  # NaN too: a table from before the columns existed
        return dataclasses.replace(base, legacy=True)
    epochs = trained_one(row)
    if row["borrowed_from"]:
        return borrowed_method(base, row, timing, seeds, preset_epochs)
    if role != "timing":
        return dataclasses.replace(base, epochs=epochs)
    windows, window, replays = as_int(row["windows"]), as_int(row["window_epochs"]), as_int(row["replays"])
    stopped = as_int(row["stopped_at_epoch"])
    of = next((n for n in (as_int(row["epochs"]), preset_epochs) if n and stopped and n > stopped), None)
    return dataclasses.replace(
        base,
        epochs=epochs,
        windows=windows,
        window_epochs=window,
        replays=replays,
        in_run=windows_in_run(windows, window, replays, epochs),
        stopped_at_epoch=stopped,
        stop_reason=row["stop_reason"],
        of_epochs=of,
    )


def windows_in_run(windows: int | None, window: int | None, replays: int | None, epochs: int | None) -> int | None:
    """Windows timed in the run itself: each replay times the run's epochs again in windows, but for its
    warm-up window (bench/measure.py's replay). None where the columns do not add up to that."""
    if not (windows and window and replays and epochs):
        return None
    in_run = windows - replays * (epochs // window - 1)
    return in_run if 0 < in_run < windows else None


def borrowed_method(base: Method, row: pd.Series, timing: dict, seeds: dict, preset_epochs: int | None) -> Method:
    backend, device, mode = base.key
    mine = timing.get((backend, device, mode, base.preset))
    lender = timing.get((backend, device, row["borrowed_from"], base.preset))
    first, lent = (rows.iloc[0] if rows is not None else None for rows in (mine, lender))
    checked = as_int(row["borrow_checked_seeds"])
    both = [trained_one(first), trained_one(lent)]
    count = seeds.get((backend, device, mode, base.preset))
    us = median(process_values(mine)) if mine is not None else None
    return dataclasses.replace(
        base,
        borrowed_from=row["borrowed_from"],
        borrow_difference=as_float(row["borrow_difference"]),
        source_method=lent["method"] if lent is not None else "",
        seed=as_int(first["seed"]) if first is not None and checked is None else None,
        compared_seeds=checked,
        compared_epochs=as_int(row["borrow_checked_epochs"]) if checked else (min(both) if None not in both else None),
        seeds=count,
        seeds_cost_s=count * preset_epochs * us * 1e-6 if count and preset_epochs and us else None,
    )


# ---------------------------------------------------------------- summarise: curves


def curves_of(loaded: Loaded, preset: str = "matched") -> Curves:
    """A preset's curves: every pair's largest difference at a shared (seed, epoch), and bands over only
    the seeds that every series has, so that the figure compares like with like. Each curve is taken out
    of the table once, as two arrays: at the limit of 10M curve epochs no copy of the table is made."""
    if loaded.curves is None:
        why = loaded.missing.get(loaded.curves_name, f"no {loaded.curves_name} in this run")
        return Curves(why=why)
    series = finite({key[:3]: seeds for key, seeds in loaded.curves.items() if key[3] == preset})
    if not series:
        return Curves(why=f"{loaded.curves_name} has no finite {preset}-preset losses")
    shared = tuple(sorted(int(s) for s in set.intersection(*(set(seeds) for seeds in series.values()))))
    bands = [band(key, [seeds[s] for s in shared] if shared else list(seeds.values())) for key, seeds in series.items()]
    return Curves(tuple(bands), shared, curve_differences(series))


def finite(series: dict) -> dict[tuple, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """The series with their finite, positive losses only (a diverged run's NaNs, a loss of 0 on a log
    axis), those left with none dropped; series in key order, seeds ascending."""
    found: dict[tuple, dict] = {}
    for key in sorted(series):
        for seed in sorted(series[key]):
            epochs, losses = series[key][seed]
            kept = np.isfinite(losses) & (losses > 0)
            if kept.any():
                found.setdefault(key, {})[seed] = (epochs[kept], losses[kept])
    return found


def band(key: tuple, curves: list[tuple[np.ndarray, np.ndarray]]) -> CurveBand:
    """The median, lowest and highest loss at each epoch that any of the curves has."""
    width = int(max(epochs.max() for epochs, _ in curves)) + 1
    grid = np.full((len(curves), width), np.nan)
    for row, (epochs, losses) in enumerate(curves):
        grid[row, epochs] = losses
    some = ~np.all(np.isnan(grid), axis=0)
    grid = grid[:, some]
    return CurveBand(key, len(curves), np.flatnonzero(some), np.nanmedian(grid, axis=0), np.nanmin(grid, axis=0),
                     np.nanmax(grid, axis=0))  # fmt: skip


def curve_differences(series: dict[tuple, dict[int, tuple[np.ndarray, np.ndarray]]]) -> tuple[CurvePair, ...]:
    """For every pair of series, the largest relative loss difference at a shared (seed, epoch)."""
    keys = list(series)
    found = []
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            worst, seeds = None, 0
            for seed in sorted(set(series[a]) & set(series[b])):
                (epochs_a, losses_a), (epochs_b, losses_b) = series[a][seed], series[b][seed]
                epochs, in_a, in_b = np.intersect1d(epochs_a, epochs_b, assume_unique=True, return_indices=True)
                if not epochs.size:
                    continue
                seeds += 1
                difference = relative_difference(losses_a[in_a], losses_b[in_b])
                at = int(np.argmax(difference))
                if worst is None or difference[at] > worst[0]:
                    worst = (float(difference[at]), seed, int(epochs[at]))
            if worst is not None:
                found.append(CurvePair(a, b, seeds, *worst))
    return tuple(sorted(found, key=lambda p: p.difference, reverse=True))


# ---------------------------------------------------------------- summarise: the classic experiment


def classic_of(loaded: Loaded) -> Classic:
    """The classic preset's convergence seeds per backend × device × mode, whether those that trained
    their own seeds converged alike, and how far their curves agree (as the matched preset's)."""
    runs = loaded.runs
    if runs is None:
        return Classic(why=loaded.missing.get("runs.csv", "no runs.csv in this run"))
    seeds = runs[(runs["preset"] == CLASSIC) & (runs["role"] == "convergence")]
    if seeds.empty:
        return Classic(why="no classic-preset runs in runs.csv; run `xorbench run --preset classic`")
    rows = tuple(classic_row(key, group) for key, group in seeds.groupby(KEY, sort=True))
    return Classic(rows, agreement_of(rows), curves_of(loaded, CLASSIC))


def classic_row(key: tuple, rows: pd.DataFrame) -> ClassicRow:
    done = rows[rows["status"].isin(FINISHED)].sort_values("seed")
    if done.empty:
        return ClassicRow(key, "/".join(sorted(set(rows["status"]))))
    accurate = pd.to_numeric(done["epoch_accurate"], errors="coerce")
    converged = accurate.notna()
    momentum = done["momentum"] if "momentum" in done.columns else pd.Series(dtype=float)
    return ClassicRow(
        key,
        "ok",
        seeds=len(done),
        converged=int(converged.sum()),
        interval=wilson(int(converged.sum()), len(done)),
        epochs=tuple(sorted(int(e) for e in accurate[converged])),
        by_seed=tuple((int(s), as_int(e)) for s, e in zip(done["seed"], accurate)),
        cap=as_int(max_of(done["epochs"][~converged])),
        longest=as_int(max_of(done["epochs"])),
        lr=median_of(done["lr"]),
        momentum=median_of(momentum),
        borrowed_from="/".join(sorted(set(done["borrowed_from"]) - {""})),
    )


def agreement_of(rows: tuple[ClassicRow, ...]) -> Agreement | None:
    """Seed by seed, the epochs to converge of every group that trained its own seeds; and the largest
    gap between two of their ECDFs over the seeds they all have."""
    own = [r for r in rows if r.status == "ok" and not r.borrowed_from]
    if len(own) < 2:
        return None
    per = {r.key: dict(r.by_seed) for r in own}
    common = sorted(set.intersection(*(set(p) for p in per.values())))
    differing, largest, at_seed = 0, None, None
    for seed in common:
        found = {p[seed] for p in per.values()}
        differing += len(found) > 1
        if len(found) > 1 and None not in found and (largest is None or max(found) - min(found) > largest):
            largest, at_seed = max(found) - min(found), seed
    gap, between = 0.0, None
    for i, a in enumerate(own):
        for b in own[i + 1 :]:
            distance = ecdf_gap([per[a.key][s] for s in common], [per[b.key][s] for s in common])
            if distance > gap:
                gap, between = distance, (a.key, b.key)
    return Agreement(len(own), len(common), differing, largest, at_seed, gap, between)


def ecdf_gap(a: list[int | None], b: list[int | None]) -> float:
    """The largest vertical distance between the ECDFs of epochs to converge of two equal sets of
    seeds (None: never converged, so it counts at no epoch): the two-sample Kolmogorov-Smirnov D."""
    if not a:
        return 0.0
    at = sorted({e for e in (*a, *b) if e is not None})
    share = lambda values, t: sum(e is not None and e <= t for e in values) / len(values)  # noqa: E731
    return max((abs(share(a, t) - share(b, t)) for t in at), default=0.0)


# ---------------------------------------------------------------- summarise: article, targets, env, sweep


def article_of(runs: pd.DataFrame) -> tuple[ArticleRow, ...]:
    rows = []
    for key, group in runs[runs["preset"] == "article"].groupby(KEY, sort=True):
        done = group[group["status"].isin(FINISHED)].sort_values("seed")
        if done.empty:
            rows.append(ArticleRow(key, "/".join(sorted(set(group["status"])))))
            continue
        first = done.iloc[0]
        given = [name for name in ("optimizer", "lr", "epochs", "dtype") if measured(first[name]) and first[name] != ""]
        config = tuple((name, first[name]) for name in given)
        rows.append(
            ArticleRow(
                key,
                "ok",
                config=config,
                outputs=outputs_of(first["outputs"]),
                accuracy=median_of(done["accuracy"]),
                final_loss=median_of(done["final_loss"]),
                train_s=median_of(done["train_s"]),
                learned=int((done["accuracy"] == 1.0).sum()),
                seeds=len(done),
            )
        )
    return tuple(rows)


def outputs_of(text: str) -> tuple[float, ...] | None:
    if not str(text).strip():
        return None
    values = re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf", str(text))
    return tuple(float(v) for v in values)


def timing_values(runs: pd.DataFrame, key: tuple) -> np.ndarray:
    """Per-process µs/epoch of a timing row: mode "article"/"article-bare" name those presets' idiomatic rows."""
    backend, device, mode = key
    preset = mode if mode.startswith("article") else "matched"
    mode = "idiomatic" if mode.startswith("article") else mode
    rows = runs[(runs["backend"] == backend) & (runs["device"] == device) & (runs["mode"] == mode)]
    return process_values(rows[(rows["preset"] == preset) & (rows["status"] == "ok") & (rows["role"] == "timing")])


def targets() -> list[tuple]:
    """(numerator group, denominator group, target ratio, what it says): the article's two, the registry's."""
    tuned = [
        ((name, "cpu", "tuned"), (name, "cpu", "idiomatic"), spec.tuned_target, f"{name} tuned vs {name} idiomatic")
        for name, spec in REGISTRY.items()
        if spec.tuned_target is not None
    ]
    return [ARTICLE_TARGETS[0], *tuned, *FRAMEWORK_TARGETS, ARTICLE_TARGETS[1]]


def target_of(runs: pd.DataFrame, a: tuple, b: tuple, target: float, what: str) -> Target:
    a_values, b_values = timing_values(runs, a), timing_values(runs, b)
    if not (a_values.size and b_values.size):
        return Target(what, target, a, b, median(a_values), median(b_values))
    return Target(what, target, a, b, median(a_values), median(b_values), compare_samples(b_values, a_values))


def targets_of(runs: pd.DataFrame) -> tuple[Target, ...]:
    return tuple(target_of(runs, a, b, target, what) for a, b, target, what in targets())


def bare_of(runs: pd.DataFrame) -> dict:
    bare = runs[(runs["preset"] == "article-bare") & (runs["status"] == "ok")]
    keys = set(zip(bare["backend"], bare["device"]))
    found = {(b, d): median(timing_values(runs, (b, d, "article-bare"))) for b, d in keys}
    return {key: us for key, us in found.items() if us is not None}


def environment_of(env: dict) -> tuple[tuple[str, object], ...]:
    return (
        ("CPU", env.get("cpu_model")),
        ("cores", env.get("cores")),
        ("memory GB", env.get("memory_gb")),
        ("OS", env.get("os")),
        ("Python", env.get("python")),
        ("BLAS", env.get("blas")),
        ("GPU", gpu_text(env.get("gpu"))),
        ("threads", env.get("threads")),
        *[(f"{name} version", version) for name, version in sorted((env.get("frameworks") or {}).items())],
        ("git commit", env.get("git_commit")),
        ("command", f"`{env['command']}`" if env.get("command") else None),
        ("timestamp", env.get("timestamp")),
        ("run took", duration_text(env.get("duration_s"), env.get("interrupted"))),
        ("time spent", spent_text(env.get("job_seconds"))),
    )


def duration_text(seconds, interrupted) -> str | None:
    """The run's wall time, from env.json (None: a run that has not finished or an older one)."""
    if not isinstance(seconds, (int, float)):
        return None
    return f"{seconds:,.0f} s ({seconds / 60:.1f} min){', interrupted' if interrupted else ''}"


JOB_KINDS = {"time": "timing processes", "run": "convergence and article jobs", "sweep": "sweep jobs"}


def spent_text(spent) -> str | None:
    """Where the run's time went, from env.json's job_seconds (runner.job_seconds): the seconds per kind
    of job, then the three costliest rows or backends. None: an older run, which did not record it."""
    if not isinstance(spent, dict):
        return None
    found = [(key.split(" ", 1), s) for key, s in spent.items() if isinstance(s, (int, float)) and " " in key]
    if not found:
        return None
    totals: dict[str, float] = {}
    for (kind, _), seconds in found:
        totals[kind] = totals.get(kind, 0.0) + seconds
    costliest = sorted(found, key=lambda item: -item[1])[:3]
    return ("; ".join(f"{JOB_KINDS.get(kind, kind)} {seconds:,.0f} s" for kind, seconds in totals.items())
            + "; costliest: " + ", ".join(f"{name} ({JOB_KINDS.get(kind, kind)}) {seconds:,.0f} s"
                                          for (kind, name), seconds in costliest))  # fmt: skip


def gpu_text(gpu) -> str:
    if not isinstance(gpu, dict) or not gpu.get("name"):
        return "no GPU recorded"
    return f"{gpu['name']} (driver {gpu['driver']})" if gpu.get("driver") else str(gpu["name"])


SWEEP_WHY = {  # the sweep section's words for what load() found
    "no sweep.csv in this run": "no sweep.csv",
    "sweep.csv is empty": "no sweep.csv",
    "sweep.csv has no rows": "sweep.csv has no finished cells",
}


def sweep_of(loaded: Loaded) -> Sweep:
    if loaded.sweep is None:
        why = loaded.missing.get("sweep.csv", "no sweep.csv")
        return Sweep(why=SWEEP_WHY.get(why, why))
    sweep = loaded.sweep
    ok = sweep[sweep["status"] == "ok"].assign(work=lambda f: f["hidden"] * f["batch"])
    if ok.empty:
        return Sweep(why="sweep.csv has no finished cells")
    lines = []
    for (device, backend, mode), cells in ok.groupby(["device", "backend", "mode"], sort=True):
        cells = cells.sort_values(["work", "hidden"])
        lines.append(figures.SweepLine(device, backend, mode, tuple(cells["work"]), tuple(cells["epoch_us_median"])))
    return Sweep(len(ok), int((sweep["status"] != "ok").sum()), tuple(lines), crossovers(sweep))
