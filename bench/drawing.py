"""The report's figures: what each is drawn from (the summary, the sweep, advise's predictions), stamped
with the run or sweep it comes from, and drawn by bench/figures.py into the run's folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..backends import LOSS_TARGET
from . import figures, predict
from .findings import Summary
from .load import measured
from .sections import PAPER_SWEEPS
from .summary import Group
from .text import label, seeds_text, short_commit, sig


def draw(summary: Summary, out_dir: Path, wanted: bool = True) -> frozenset[str]:
    """Every figure the summary has data for, drawn into out_dir (none unless `wanted`); the names of
    those drawn. Each replaces its file in one rename; render_report deletes the ones not drawn."""
    out_dir = Path(out_dir)
    if not wanted:
        return frozenset()
    drawn = set()
    swept = summary.sweep.run or {}
    run = stamp_of("xorbench run", summary.commit, summary.timestamp)
    sweep = stamp_of("xorbench sweep", swept.get("git_commit"), swept.get("timestamp"))
    timed = [g for g in summary.groups if measured(g.us)]
    if timed:
        rows = [figures.Timed(g.key, label(g.key), g.us, g.values, f"{sig(g.us)} µs", g.us_ci) for g in timed]
        floor = summary.floor.us if summary.floor is not None else None
        figures.epoch_time(
            rows, floor, f"Time per epoch, {summary.preset} preset", out_dir / "epoch_time.png", stamp=run
        )
        drawn.add("epoch_time.png")
    if summary.curves.bands:
        figures.loss_curves(*curve_figure(summary), LOSS_TARGET, out_dir / "loss_curves.png",
                            seeds_text(summary.curves.shared_seeds), stamp=run)  # fmt: skip
        drawn.add("loss_curves.png")
    totals = [figures.Total(g.key, label(g.key), g.startup_s, g.us) for g in timed if measured(g.startup_s)]
    if totals:
        epochs = max((g.epochs for g in summary.groups if g.epochs), default=1)
        figures.total_time(totals, break_evens(summary), epochs, out_dir / "total_time.png", stamp=run)
        drawn.add("total_time.png")
    shown = [g for g in summary.groups if g.status == "ok"]
    if any(measured(s) for g in shown for s in (g.import_s, g.first_epoch_s, g.training_s)):
        figures.time_breakdown([breakdown(g) for g in shown], out_dir / "time_breakdown.png", stamp=run)
        drawn.add("time_breakdown.png")
    if summary.sweep.lines:
        figures.sweep(summary.sweep.lines, out_dir / figures.SWEEP, stamp=sweep or run)
        drawn.add(figures.SWEEP)
    panels = winner_panels(out_dir)
    if panels:
        figures.winner_map(panels, out_dir / figures.WINNERS, stamp=f"{run}; {sweep}" if sweep else run)
        drawn.add(figures.WINNERS)
    classic = [r for r in summary.classic.rows if r.status == "ok"]
    if classic:
        series = [figures.Converged(r.key, label(r.key), r.epochs, r.seeds) for r in classic]
        limit = max((r.cap for r in classic if r.cap), default=None)
        paper = (PAPER_SWEEPS, f"{PAPER_SWEEPS} sweeps: the paper's 1-hidden-unit net (p. 331)")
        figures.convergence_ecdf(series, limit, paper, out_dir / figures.CLASSIC, stamp=run)
        drawn.add(figures.CLASSIC)
    return frozenset(drawn)


def stamp_of(what: str, commit: str | None, timestamp: str | None) -> str:
    """The corner of a figure: which run (or sweep) it comes from, by commit and date; "" where unknown."""
    commit, when = short_commit(commit or ""), (timestamp or "")[:10]
    return f"{what} at {commit}, {when}" if commit or when else ""


def winner_panels(out_dir: Path) -> list[figures.WinnerPanel]:
    """advise's predicted winner over the sweep's grid, one panel per predict.EPOCHS_SHOWN; none without
    a run's summary.csv and a sweep beside it."""
    try:
        rows, grids = predict.load(out_dir, "cpu")
    except predict.Refused:
        return []
    tables = {epochs: predict.winners(rows, grids, epochs) for epochs in predict.EPOCHS_SHOWN}
    every = pd.concat(tables.values())
    hidden, batch = sorted(set(every["hidden"])), sorted(set(every["batch"]))
    return [
        figures.WinnerPanel(
            f"{epochs:,} epochs", hidden, batch, {(h, b): w for h, b, w in table.itertuples(index=False)}
        )  # fmt: skip
        for epochs, table in tables.items()
    ]


def breakdown(g: Group) -> figures.Breakdown:
    seconds = tuple(float(s) if measured(s) else None for s in (g.import_s, g.first_epoch_s, g.training_s))
    return figures.Breakdown(label(g.key), seconds, (f"{sig(sum(s or 0.0 for s in seconds))} s",))


def curve_figure(summary: Summary) -> tuple[list[figures.Band], list[tuple[str, str, float]]]:
    """The loss figure's series, NumPy's first (the reference), and each other series' largest relative
    difference from it (summary.curves.pairs)."""
    bands = sorted(summary.curves.bands, key=lambda b: (b.key[0] != "numpy", b.key))
    first = bands[0].key
    drawn = [figures.Band(b.key, f"{label(b.key)}, {b.seeds} seeds", b.epochs, b.median, b.low, b.high) for b in bands]
    deviations = [(label(p.b if p.a == first else p.a), (p.b if p.a == first else p.a)[0], p.difference)
                  for p in summary.curves.pairs if first in (p.a, p.b)]  # fmt: skip
    return drawn, deviations


def break_evens(summary: Summary) -> list[tuple[float, str]]:
    """Where the fastest per epoch overtakes the quickest to start (the verdict's pay-back), if it does."""
    c = summary.choices
    if c.payback_epochs is None or c.first_start is None or not c.timed:
        return []
    return [(c.payback_epochs, f"{label(c.timed[0].key)} overtakes {label(c.first_start.key)}: "
                               f"{c.payback_epochs:,.0f} epochs")]  # fmt: skip
