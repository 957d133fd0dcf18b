"""`xorbench advise`'s prediction: the total time each backend and mode would take to train a
hidden-wide network on `batch` samples for `epochs` epochs, composed from measured parts.

The run (summary.csv) measured the 2-4-1 network's costs in fresh processes, with intervals: start-up,
µs per epoch and per fit() call. The sweep (sweep.csv) measured how the per-epoch cost and the build grow
with hidden x batch. A prediction is the run's cost plus the sweep's growth from its 4 x 4 cell, with the
run's relative interval. Tables in, numbers out: this module imports no framework.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .rows import SummaryRow, SweepRow
from .stats import break_even
from .summary import read

BASE = (4, 4)  # the run's network: hidden 4, the 4 XOR samples
CALLS = 1  # a user's script trains in one fit() call


class Refused(ValueError):
    """Input advise cannot answer: one line, exit status 2."""


@dataclass(frozen=True)
class Workload:
    hidden: int
    batch: int
    epochs: int
    device: str = "cpu"

    def __post_init__(self):
        for name in ("hidden", "batch", "epochs"):
            if not getattr(self, name) >= 1:
                raise Refused(f"--{name} must be >= 1; got {getattr(self, name)!r}")
        if self.batch < 4:
            raise Refused(f"--batch must be >= 4 (the 4 XOR samples, repeated); got {self.batch!r}")


@dataclass(frozen=True)
class Prediction:
    """One backend and mode's predicted total, its parts and its interval; `beyond` is how far the
    workload lies outside the cells measured (1 inside the grid; else the work ratio to the cell used)."""

    backend: str
    mode: str
    startup_s: float
    epoch_us: float
    call_us: float
    total_s: float
    low_s: float
    high_s: float
    beyond: float

    @property
    def extrapolated(self) -> bool:
        return self.beyond > 1.0


def load(folder: Path, device: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary rows of the matched preset on `device`, the sweep's timed cells on it); Refused otherwise."""
    folder = Path(folder)
    summary, why = read(folder / "summary.csv", SummaryRow)
    if summary is None:
        raise Refused(f"{folder}/summary.csv: {why} (xorbench run --out {folder} writes it)")
    sweep, why = read(folder / "sweep.csv", SweepRow)
    if sweep is None:
        raise Refused(f"{folder}/sweep.csv: {why} (xorbench sweep --out {folder} writes it)")
    rows = summary[(summary["preset"] == "matched") & (summary["device"] == device) & (summary["epoch_us"] > 0)]
    cells = sweep[(sweep["status"] == "ok") & (sweep["device"] == device) & (sweep["epoch_us_median"] > 0)]
    if rows.empty or cells.empty:
        which = "summary.csv" if rows.empty else "sweep.csv"
        raise Refused(f"{folder}/{which} has no timed {device} rows")
    return rows, cells


def bracket(axis: np.ndarray, x: float) -> tuple[int, int, float]:
    """(i, j, t): axis[i] <= x <= axis[j], adjacent, and x's fraction of the way between them in log space."""
    j = int(np.clip(np.searchsorted(axis, x), 1, len(axis) - 1))
    i = j - 1
    t = (math.log(x) - math.log(axis[i])) / (math.log(axis[j]) - math.log(axis[i]))
    return i, j, t


def at(cells: pd.DataFrame, column: str, hidden: int, batch: int, growth: float) -> tuple[float, float]:
    """(value, beyond) of `column` at hidden x batch, from one row's cells: bilinear in log hidden, log
    batch and log value between four measured cells; elsewhere from the largest measured cell at or
    below the workload, times (work ratio)**growth, and `beyond` is that work ratio (1 inside the grid)."""
    cells = cells[cells[column] > 0]
    if cells.empty:
        return math.nan, math.inf
    grid = cells.pivot_table(index="hidden", columns="batch", values=column, aggfunc="median")
    hs, bs = grid.index.to_numpy(float), grid.columns.to_numpy(float)
    inside = hs[0] <= hidden <= hs[-1] and bs[0] <= batch <= bs[-1] and len(hs) > 1 and len(bs) > 1
    if inside:
        (i, j, t), (k, m, u) = bracket(hs, hidden), bracket(bs, batch)
        corners = grid.iloc[[i, i, j, j], [k, m, k, m]].to_numpy().diagonal()
        if np.all(corners > 0):
            low, high = np.log(corners[[0, 2]]), np.log(corners[[1, 3]])
            return float(np.exp((1 - t) * ((1 - u) * low[0] + u * high[0]) + t * ((1 - u) * low[1] + u * high[1]))), 1.0
    below = cells[(cells["hidden"] <= max(hidden, hs[0])) & (cells["batch"] <= max(batch, bs[0]))]
    if below.empty:
        return math.nan, math.inf
    cell = below.loc[(below["hidden"] * below["batch"]).idxmax()]
    ratio = hidden * batch / (cell["hidden"] * cell["batch"])
    return float(cell[column] * max(ratio, 1.0) ** growth), max(ratio, 1.0 / ratio)


def predict(rows: pd.DataFrame, cells: pd.DataFrame, work: Workload) -> list[Prediction]:
    """Every backend and mode timed in both tables, quickest predicted total first."""
    found = []
    for row in rows.itertuples():
        mine = cells[(cells["backend"] == row.backend) & (cells["mode"] == row.mode)]
        if mine.empty:
            continue
        epoch, beyond = at(mine, "epoch_us_median", work.hidden, work.batch, growth=1.0)
        epoch_base, _ = at(mine, "epoch_us_median", *BASE, growth=1.0)
        setup, _ = at(mine, "setup_s", work.hidden, work.batch, growth=0.0)
        setup_base, _ = at(mine, "setup_s", *BASE, growth=0.0)
        if not (math.isfinite(epoch) and math.isfinite(epoch_base)):
            continue
        epoch_us = row.epoch_us + max(0.0, epoch - epoch_base)  # the run's level, the sweep's growth
        grown = max(0.0, setup - setup_base) if math.isfinite(setup + setup_base) else 0.0
        call_s = (row.call_us if row.call_us > 0 else 0.0) * 1e-6 * CALLS
        startup = (row.startup_s, row.startup_ci_low, row.startup_ci_high)
        spread = (1.0, row.epoch_us_ci_low / row.epoch_us, row.epoch_us_ci_high / row.epoch_us)
        total, low, high = (
            (s if s > 0 else row.startup_s) + grown + work.epochs * epoch_us * (r if r > 0 else 1.0) * 1e-6 + call_s
            for s, r in zip(startup, spread)
        )  # the run's interval ends: NaN (`> 0` is False) where it has none
        found.append(Prediction(row.backend, row.mode, row.startup_s + grown, epoch_us, call_s * 1e6, total, low,
                                high, beyond))  # fmt: skip
    return sorted(found, key=lambda p: p.total_s)


@dataclass(frozen=True)
class Verdict:
    """The winner and the runner-up: by how much, whether their intervals overlap, and the epochs at
    which their order flips (None: never, for any epoch count)."""

    winner: Prediction
    runner_up: Prediction | None
    margin: float | None  # runner-up's total / the winner's
    overlap: bool
    flips_at: float | None


def verdict(predictions: list[Prediction]) -> Verdict:
    if not predictions:
        raise Refused("no backend is timed in both summary.csv and sweep.csv")
    first, second = predictions[0], (predictions[1] if len(predictions) > 1 else None)
    if second is None:
        return Verdict(first, None, None, False, None)
    flips = break_even(first.startup_s, first.epoch_us, second.startup_s, second.epoch_us)
    return Verdict(first, second, second.total_s / first.total_s, second.low_s <= first.high_s, flips)


EPOCHS_SHOWN = (100, 10_000, 1_000_000)  # the report's "which one for your size" panels


def winners(rows: pd.DataFrame, cells: pd.DataFrame, epochs: int, device: str = "cpu") -> pd.DataFrame:
    """Per cell of the sweep's grid: the backend and mode predicted quickest for `epochs` epochs there."""
    found = []
    for hidden in sorted(cells["hidden"].unique()):
        for batch in sorted(cells["batch"].unique()):
            ranked = predict(rows, cells, Workload(int(hidden), int(batch), epochs, device))
            best = next((p for p in ranked if not p.extrapolated), None)
            if best is not None:
                found.append({"hidden": hidden, "batch": batch, "winner": f"{best.backend} ({best.mode})"})
    return pd.DataFrame(found, columns=["hidden", "batch", "winner"])
