"""`xorbench compare A B`: two result folders in; for each row both have, B's time per epoch over A's,
with its interval over their processes, and "faster", "slower" or "same within noise".

Each row's processes are first moved to one speed state, the median calibration kernel of both runs
(stats.calibrate, fitted on the row's processes of both runs), so that a slow vCPU in one run is not
read as a slower commit. A row is faster or slower only where its whole interval (Moses, at the level
corrected for the number of rows: stats.verdicts) lies beyond --min-effect (default 5%).

In the spirit of pyperf's compare_to and pytest-benchmark's compare: `compare` is pure (rows in, rows
out), `render` prints a plain text table, `main` returns the exit status: 2 with one line for a
missing or malformed folder; 1 when `--fail-above PCT` is given and a row fails the gate (`gate`: slower
beyond both the threshold and the noise, errored in B, timed in A but not in B, or too few processes
to decide), one line per such row; else 0. The rows are summary.csv's; the per-process values behind each
ratio are the timing rows of runs.csv (bench/summary.py reads both).

`rerun_of` is the same comparison seen as a reproducibility check: a run folder holding a second full
run's tables in rerun/ (run A), against the run itself (run B), for the report and README.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .load import read, read_env
from .rows import RunRow, SummaryRow
from .stats import FASTER, FEW, MIN_EFFECT, SLOWER, Versus, calibrate, compare_samples, verdicts
from .summary import with_kernels
from .text import ratio_text, sig

ROW = ["backend", "device", "mode", "preset"]


class Unusable(ValueError):
    """A folder that cannot be compared, with the one line that says why."""


@dataclass(frozen=True)
class Compared:
    """One row of both runs: B's per-process µs per epoch against A's."""

    key: tuple  # backend, device, mode, preset
    a_us: float  # median over A's processes
    b_us: float
    versus: Versus  # ratio B / A, its interval, the verdict (with the threshold, if one was given)


@dataclass(frozen=True)
class Run:
    """What compare reads of one folder: its timing processes by row, and the rows summary.csv has timed."""

    path: Path
    values: dict  # (backend, device, mode, preset) -> per-process µs per epoch
    cpu: str | None  # env.json's cpu_model, where there is one
    rows: frozenset = frozenset()  # every row summary.csv has, timed or not
    errors: dict = field(default_factory=dict)  # row -> the reasons of its runs.csv rows that errored
    kernels: dict = field(default_factory=dict)  # row -> per-process calibration kernel µs, where each has one


def read_run(path: Path) -> Run:
    """A result folder's runs.csv and summary.csv, or Unusable with the reason."""
    path = Path(path)
    if not path.is_dir():
        raise Unusable(f"{path}: no such folder")
    tables = {}
    for name, row_type in (("runs.csv", RunRow), ("summary.csv", SummaryRow)):
        data, why = read(path / name, row_type)
        if data is None:
            hint = " (written at the end of `xorbench run`)" if why.startswith("no ") and name == "summary.csv" else ""
            raise Unusable(f"{path}: {why}{hint}")
        tables[name] = data
    runs, summary = tables["runs.csv"], tables["summary.csv"]
    timed = summary[pd.to_numeric(summary["epoch_us"], errors="coerce").notna()]
    timing = runs[(runs["role"] == "timing") & (runs["status"] == "ok")]
    values, kernels = {}, {}
    for _, row in timed.iterrows():
        key = tuple(row[c] for c in ROW)
        chosen = timing[(timing[ROW] == pd.Series(dict(zip(ROW, key)))).all(axis=1)]
        found, kernel = with_kernels(chosen)
        values[key] = found if found.size else [float(row["epoch_us"])]  # summary.csv's figure alone
        if kernel is not None:
            kernels[key] = kernel
    errors = {}
    for _, row in runs[runs["status"] == "error"].iterrows():
        errors.setdefault(tuple(row[c] for c in ROW), []).append(row["reason"] or "no reason given")
    env, _ = read_env(path)
    every = frozenset(tuple(row[c] for c in ROW) for _, row in summary.iterrows())
    return Run(path, values, (env or {}).get("cpu_model"), every, errors, kernels)


def calibrated(a: Run, b: Run, key: tuple, reference: float | None) -> tuple:
    """The row's per-process values of both runs, moved to the reference kernel where both have kernels."""
    if reference is None or key not in a.kernels or key not in b.kernels:
        return a.values[key], b.values[key]
    n = len(a.values[key])
    both = calibrate(np.concatenate([a.values[key], b.values[key]]), np.concatenate([a.kernels[key], b.kernels[key]]),
                     reference)  # fmt: skip
    return both.values[:n], both.values[n:]


def compare_runs(a: Run, b: Run, min_effect: float = MIN_EFFECT) -> list[Compared]:
    """Every row timed in both runs: B/A, its interval and verdict (stats.verdicts, corrected for the rows)."""
    keys = sorted(set(a.values) & set(b.values))
    kernels = [k for run in (a, b) for values in run.kernels.values() for k in values]
    reference = float(np.median(kernels)) if kernels else None
    pairs = [calibrated(a, b, key, reference) for key in keys]
    rows = []
    for key, (x, y), (value, inside, said) in zip(keys, pairs, verdicts(pairs, min_effect)):
        interval = (inside.low, inside.high) if math.isfinite(inside.low) else (None, None)
        versus = Versus(value if math.isfinite(value) else float(np.median(y) / np.median(x)), *interval, said,
                        len(x), len(y))  # fmt: skip
        rows.append(Compared(key, float(np.median(x)), float(np.median(y)), versus))
    return rows


def compare(a: Path, b: Path, min_effect: float = MIN_EFFECT) -> list[Compared]:
    """Every row timed in both folders, by backend, device, mode and preset: B/A of µs per epoch."""
    return compare_runs(read_run(a), read_run(b), min_effect)


def verdict_text(v: Versus) -> str:
    if v.verdict == FEW and min(v.n_a, v.n_b) < 2:
        return f"too few processes ({v.n_a} and {v.n_b}): no claim"
    if v.verdict == FEW:
        return f"too few processes to tell ({v.n_a} and {v.n_b}): apart, but not at the corrected level"
    return v.verdict


def render(rows: list[Compared], a: str = "A", b: str = "B", only: tuple[list, list] = ([], [])) -> str:
    """A plain text table, one line per row, like pyperf's compare_to; then the rows only one run has."""

    header = ["backend", "device", "mode", "preset", f"{a} µs/epoch", f"{b} µs/epoch", "B/A (interval)", "verdict"]
    lines = [header]
    for row in rows:
        v = row.versus
        counts = [f"{sig(row.a_us)} (n={v.n_a})", f"{sig(row.b_us)} (n={v.n_b})"]
        lines.append([*row.key, *counts, ratio_text(v), verdict_text(v)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    for name, keys in zip((a, b), only):
        if keys:
            text.append(f"only in {name}: " + ", ".join("/".join(k) for k in keys))
    return "\n".join(text) + "\n"


# ---------------------------------------------------------------- a second full run (rerun/)

RERUN = "rerun"  # the folder, inside a run's, that holds a second full run's tables
AGREE = 1.10  # the reproducibility target: each row's max/min over the two runs at or below this


@dataclass(frozen=True)
class Swap:
    """Two rows whose order by speed differs between the runs, and whether each run tells them apart."""

    first: tuple  # the row faster in A
    second: tuple  # the row faster in B
    in_a: Versus  # second against first, over A's processes
    in_b: Versus


@dataclass(frozen=True)
class Rerun:
    """This run (B) against the second full run in its rerun/ folder (A), for one preset's rows."""

    rows: tuple[Compared, ...] = ()  # timed in both runs, fastest in B first
    swaps: tuple[Swap, ...] = ()
    env_a: dict | None = None  # env.json of each run, where it has one
    env_b: dict | None = None
    why: str | None = None  # why there is nothing to compare


def spread(row: Compared) -> float:
    """max/min of the row's per-epoch figures in the two runs: 1 where they agree exactly."""
    return max(row.a_us, row.b_us) / min(row.a_us, row.b_us)


def worst(rerun: Rerun) -> Compared:
    return max(rerun.rows, key=spread)


def within(rerun: Rerun) -> int:
    """How many rows meet the target: max/min at or below AGREE."""
    return sum(spread(r) <= AGREE for r in rerun.rows)


def distinguishable(v: Versus) -> bool:
    return v.verdict in (FASTER, SLOWER)


def swaps_of(rows: list[Compared], a: Run, b: Run) -> tuple[Swap, ...]:
    """Every pair of rows that one run orders by speed one way and the other the other way."""
    swaps = []
    for i, x in enumerate(rows):
        for y in rows[i + 1 :]:
            if (x.a_us - y.a_us) * (x.b_us - y.b_us) < 0:
                first, second = (x, y) if x.a_us < y.a_us else (y, x)
                in_a = compare_samples(a.values[first.key], a.values[second.key])
                in_b = compare_samples(b.values[first.key], b.values[second.key])
                swaps.append(Swap(first.key, second.key, in_a, in_b))
    return tuple(swaps)


def rerun_of(out_dir: Path, preset: str = "matched") -> Rerun:
    """out_dir/rerun (A) against out_dir (B): the preset's rows, the pairs whose order differs, both envs."""
    out_dir = Path(out_dir)
    folder = out_dir / RERUN
    if not (folder / "summary.csv").is_file():
        return Rerun(why=f"no {RERUN}/ folder with a second full run's summary.csv in {out_dir}")
    try:
        a, b = read_run(folder), read_run(out_dir)
    except Unusable as error:
        return Rerun(why=str(error))
    rows = sorted((r for r in compare_runs(a, b) if r.key[3] == preset), key=lambda r: r.b_us)
    if not rows:
        return Rerun(why=f"no {preset}-preset row is timed in both runs")
    return Rerun(tuple(rows), swaps_of(rows, a, b), read_env(folder)[0], read_env(out_dir)[0])


# The rows --fail-above must decide: those timed over --processes fresh processes. The article's rows
# are timed in one process by design (a yardstick, on which the report makes no claim either).
DECIDED_PRESETS = ("matched",)


def gate(a: Run, b: Run, rows: list[Compared], fail_above: float) -> list[str]:
    """One line per row that fails --fail-above: slower beyond the noise and beyond fail_above percent;
    errored in B; timed in A and missing or untimed in B; or too few processes to decide."""
    why: dict[tuple, list[str]] = {}
    for key, reasons in b.errors.items():
        kinds = list(dict.fromkeys(reasons))
        why.setdefault(key, []).append(f"{len(reasons)} row{'s' if len(reasons) > 1 else ''} errored in B "
                                       f"({'; '.join(kinds[:2])}{'; ...' if len(kinds) > 2 else ''})")  # fmt: skip
    for key in a.values:
        if key not in b.values:
            why.setdefault(key, []).append("timed in A, " + ("not timed in B" if key in b.rows else "missing from B"))
    for row in rows:
        v = row.versus
        if v.verdict == FEW and row.key[3] in DECIDED_PRESETS:
            why.setdefault(row.key, []).append(f"cannot decide: {verdict_text(v)}")
        elif v.verdict == SLOWER and v.ratio > 1 + fail_above / 100:
            why.setdefault(row.key, []).append(f"{sig(v.ratio)}× slower than A, beyond the noise and {fail_above:g}%")
    return [f"{'/'.join(key)}: {'; '.join(reasons)}" for key, reasons in sorted(why.items())]


def main(a: Path, b: Path, fail_above: float | None = None, min_effect: float = 100 * MIN_EFFECT) -> int:
    """Compare, print the table, and return the exit status (0, 1 with --fail-above, 2 for a bad folder)."""
    for flag, value in (("--fail-above", fail_above), ("--min-effect", min_effect)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            print(f"xorbench: error: {flag} must be a percentage >= 0; got {value}", file=sys.stderr)
            return 2
    try:
        run_a, run_b = read_run(a), read_run(b)
    except Unusable as error:
        print(f"xorbench: error: {error}", file=sys.stderr)
        return 2
    rows = compare_runs(run_a, run_b, min_effect / 100)  # the verdicts say what the noise allows
    only = ([k for k in sorted(run_a.values) if k not in run_b.values],
            [k for k in sorted(run_b.values) if k not in run_a.values])  # fmt: skip
    print(f"A = {run_a.path}, B = {run_b.path}; B/A < 1: B is faster")
    if run_a.cpu and run_b.cpu and run_a.cpu != run_b.cpu:
        print(f"warning: different CPUs ({run_a.cpu} vs {run_b.cpu}): the ratios compare the machines too")
    print(render(rows, "A", "B", only), end="")
    if not rows:
        print("no row is timed in both runs")
    if fail_above is None:
        return 0
    failed = gate(run_a, run_b, rows, fail_above)
    for line in failed:
        print(f"xorbench: --fail-above {fail_above:g}: {line}", file=sys.stderr)
    return 1 if failed else 0
