"""One backend × device × mode × preset summarised over its fresh processes and seeds (`groups_of`), and
summary.csv's rows from it (`summary_rows`, `write_summary`); the table readers are bench/load.py's,
the report's content bench/digest.py's. Pure but for `write_summary`; nothing of any framework.

Every figure of a timing row is a median over its fresh worker processes, with an interval over them
(bench/stats.py); claims compare process values, never windows.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .load import as_int, ci, load, max_of, measured, median_of, numbers, read, truthy
from .rows import SUMMARY_COLUMNS, SummaryRow
from .stats import (
    OWN_BETA,
    Versus,
    calibrate,
    median,
    median_interval,
    per_call,
    pooled_beta,
    wilson,
)
from .tables import (
    csv_text,
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


# ---------------------------------------------------------------- one backend × device × mode × preset


def process_us(timing: pd.DataFrame) -> pd.Series:
    """Each timing process's µs per epoch: b of its a + b·W fit (`epoch_us`); a row timed otherwise
    (article-bare) has only the median of its windows. <= 0: its windows did not resolve a per-epoch cost
    (unresolved_of)."""
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
    tts_cold_cache: str = ""  # the compile cache those processes started with: cold, warm, or both ("" unrecorded)
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
    to_convergence: bool = False  # its seeds stop once converged (classic): solved is a by-product, not shown
    borrowed_from: str = ""  # the mode whose seeds gave success, epochs-to-solve and final loss
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
    convergence, lender = done[done["role"] == "convergence"], ""
    if convergence.empty and backend_seeds is not None and not backend_seeds.empty:
        convergence, lender = backend_seeds, "/".join(sorted(set(backend_seeds["mode"])))
    seeds = convergence if not convergence.empty else done
    trained_whole = convergence if not convergence.empty else rows  # the preset's epochs: its seeds trained them
    return Group(
        key,
        "ok",
        preset,
        epochs=as_int(max_of(trained_whole["epochs"])),
        **timing_fields(timing, windows, reference, pooled),
        **seed_fields(seeds),
        borrowed_from=lender,
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
    if not cold.size:  # a row timed in one run (the article presets): its time-to-solve, a cold one
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
        tts_cold_cache=" and ".join(sorted(set(cache[timing["time_to_solve_cold_s"].notna()].dropna()) - {""})),
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
    return dict(
        solved=int(solved.sum()),
        seeds=len(seeds),
        epochs_to_solve=median_of(seeds["epoch_solved"][solved]),
        accurate=len(numbers(seeds["epoch_accurate"])),
        epochs_to_accuracy=median_of(seeds["epoch_accurate"]),
        final_loss=median_of(seeds["final_loss"]),
        success=wilson(int(solved.sum()), len(seeds)),
        to_convergence=bool((seeds["stop_reason"] == "converged").any()),
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
        solved=g.solved if g.seeds and not g.to_convergence else None, seeds=g.seeds or None,
        epochs_to_solve=None if g.to_convergence else g.epochs_to_solve,
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
