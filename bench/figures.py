"""Every figure of the report, drawn in one place: one function per figure, from summary data to a PNG.

The inputs are small dataclasses of numbers and ready-made labels; nothing here reads a table or
formats a number. Matplotlib is imported when a figure is drawn, so importing this (or the
report) loads no plotting library.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .tables import write_atomic

DPI = 100
CLASSIC = "classic_epochs.png"
FIGURES = ("epoch_time.png", "loss_curves.png", "time_breakdown.png", CLASSIC)
SWEEP = "sweep.png"
WINNERS = "winners.png"
STYLES = ("-", "--", ":", "-.")


@dataclass(frozen=True)
class Timed:
    """One group's processes: a row of the time-per-epoch figure."""

    key: tuple  # what its colour is chosen by
    label: str
    median_us: float
    values_us: Sequence[float]  # one per fresh process
    note: str  # printed beside the row, e.g. "12.0 µs"
    interval_us: tuple[float, float] | None = None  # the median's 95% interval, where there is one


@dataclass(frozen=True)
class Band:
    """One series of loss curves: the median over seeds per epoch and the min-max band."""

    key: tuple
    label: str
    epochs: Sequence[float]
    median: Sequence[float]
    low: Sequence[float]
    high: Sequence[float]


@dataclass(frozen=True)
class Breakdown:
    """One group's seconds per part (None where not measured) and the text beside each bar."""

    label: str
    seconds: tuple[float | None, ...]  # in the order of PARTS
    notes: tuple[str, ...]


PARTS = ("import", "build + first epoch", "steady-state training")


@dataclass(frozen=True)
class Converged:
    """One group's seeds of the classic experiment: the epochs to converge of those that did."""

    key: tuple
    label: str
    epochs: Sequence[int]  # of the converged seeds
    seeds: int  # every seed, converged or not: the curve ends at converged / seeds


@dataclass(frozen=True)
class SweepLine:
    """One backend and mode on one device: time per epoch against hidden x batch."""

    device: str
    backend: str
    mode: str
    work: Sequence[int]
    median_us: Sequence[float]


@dataclass(frozen=True)
class WinnerPanel:
    """The predicted quickest backend and mode per hidden x batch cell, for one epoch count."""

    title: str
    hidden: Sequence[int]  # the rows, smallest first
    batch: Sequence[int]  # the columns
    winners: dict  # (hidden, batch) -> its winner's label


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def colours(keys) -> dict:
    palette = _pyplot().get_cmap("tab10").colors
    return {key: palette[i % len(palette)] for i, key in enumerate(sorted(keys))}


def save(fig, path: Path) -> None:
    """The figure as a PNG at path, written beside it and renamed in place: a full disk or an interrupt
    leaves the old figure or the new one, never a part, and a link at path is replaced, not followed."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, format="png")
    _pyplot().close(fig)
    write_atomic(path, buffer.getvalue())


def epoch_time(rows: Sequence[Timed], floor_us: float | None, title: str, path: Path) -> None:
    """A dot per process, a bar at the median and a line over its 95% interval, slowest on top; a dashed
    line at the floor."""
    import numpy as np

    rows = sorted(rows, key=lambda r: r.median_us, reverse=True)
    colour = colours([r.key for r in rows])
    fig, ax = _pyplot().subplots(figsize=(8, 0.5 * len(rows) + 1.4))
    rng = np.random.default_rng(0)
    for y, row in enumerate(rows):
        values = np.asarray(row.values_us, dtype=float)
        if row.interval_us is not None:
            ax.plot(row.interval_us, [y, y], color="black", lw=1, alpha=0.6)
        ax.scatter(values, y + rng.uniform(-0.15, 0.15, len(values)), s=14, alpha=0.6, color=colour[row.key])
        ax.plot([row.median_us, row.median_us], [y - 0.3, y + 0.3], color="black", lw=2)
        right = max([*values, *(row.interval_us or ())], default=row.median_us)
        ax.annotate(f"  {row.note}", (right, y), va="center", fontsize=8)
    if floor_us is not None:
        ax.axvline(floor_us, color="grey", ls="--", lw=1)
        ax.annotate(" compiled floor", (floor_us, len(rows) - 0.6), fontsize=8, color="grey")
    ax.set_yticks(range(len(rows)), [r.label for r in rows])
    ax.set_xscale("log")
    ax.set_xlabel("time per epoch (µs, log scale); dots: processes, bar: median, line: its 95% interval")
    ax.set_title(title)
    ax.margins(x=0.12)
    ax.grid(axis="x", which="both", alpha=0.3)
    save(fig, path)


def loss_curves(bands: Sequence[Band], target: float, path: Path, seeds: str = "") -> None:
    """Median curve and min-max band per series, log scale, with the solved line; `seeds` says which."""
    colour = colours([b.key for b in bands])
    fig, ax = _pyplot().subplots(figsize=(8, 4.8))
    for i, band in enumerate(bands):
        # bands of curves that agree stack up: keep their combined shade light
        ax.fill_between(band.epochs, band.low, band.high, color=colour[band.key], alpha=0.3 / len(bands), lw=0)
        ax.plot(band.epochs, band.median, STYLES[i % 4], color=colour[band.key], lw=1.6, label=band.label)
    ax.axhline(target, color="grey", lw=0.8, ls=":")
    ax.annotate(f"solved: loss < {target:g}", (0.01, target), xycoords=("axes fraction", "data"),
                va="bottom", fontsize=8, color="grey")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean squared error (log scale)")
    ax.set_title(f"Loss curves, matched preset: median and min–max band over {seeds or 'seeds'}")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(which="both", alpha=0.2)
    save(fig, path)


def time_breakdown(rows: Sequence[Breakdown], path: Path) -> None:
    """Import, build + first epoch and training side by side per group, log scale."""
    fig, ax = _pyplot().subplots(figsize=(8, 0.75 * len(rows) + 1.6))
    height = 0.8 / len(PARTS)
    for j, name in enumerate(PARTS):
        bars = [(i + (j - 1) * height, r.seconds[j], r.notes[j]) for i, r in enumerate(rows)]
        bars = [(y, v, note) for y, v, note in bars if v is not None and v > 0]
        ax.barh([y for y, _, _ in bars], [v for _, v, _ in bars], height=height, label=name, color=f"C{j}")
        for y, v, note in bars:
            ax.annotate(f" {note}", (v, y), va="center", fontsize=7)
    ax.set_yticks(range(len(rows)), [r.label for r in rows])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("seconds (log scale); training = the run's epochs × median time per epoch")
    ax.set_title("Where the time goes")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(axis="x", which="both", alpha=0.25)
    ax.margins(x=0.15)
    save(fig, path)


def convergence_ecdf(series: Sequence[Converged], limit: int | None, reference: tuple[float, str] | None,
                     path: Path) -> None:  # fmt: skip
    """The share of each group's seeds converged by each epoch (an ECDF that ends at its share converged),
    drawn in turn thinner and dashed so that curves that coincide all show; a dotted line at `limit`
    (the preset's epochs) and a grey one at `reference` (epochs, label)."""
    colour = colours([c.key for c in series])
    fig, ax = _pyplot().subplots(figsize=(8, 4.4))
    right = max([limit or 0, *(e for c in series for e in c.epochs), reference[0] if reference else 0, 1])
    for i, c in enumerate(series):
        epochs = sorted(c.epochs)
        steps = [k / c.seeds for k in range(len(epochs) + 1)]
        width = 2.4 - 1.6 * i / len(series)  # each next curve thinner: coinciding curves all show
        ax.step([0, *epochs, right], [*steps, steps[-1]], where="post", ls=STYLES[i % 4], lw=width,
                color=colour[c.key], label=f"{c.label}: {len(epochs)}/{c.seeds}")  # fmt: skip
    if limit:
        ax.axvline(limit, color="black", ls=":", lw=0.8)
        ax.annotate(f"limit: {limit:,} epochs ", (limit, 1.02), fontsize=8, ha="right", va="top")
    if reference:
        ax.axvline(reference[0], color="grey", lw=1)
        ax.annotate(f" {reference[1]}", (reference[0], 0.95), fontsize=8, color="grey", va="top")
    ax.set(xlim=(0, right * 1.02), ylim=(0, 1.05), xlabel="epochs to converge (every |output − target| < 0.5)",
           ylabel="share of seeds converged", title="Classic preset: epochs to converge, per seed")  # fmt: skip
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(alpha=0.3)
    save(fig, path)


def sweep(lines: Sequence[SweepLine], path: Path) -> None:
    """One log-log panel per device: each backend and mode's time per epoch against hidden x batch."""
    devices = sorted({line.device for line in lines})
    fig, axes = _pyplot().subplots(1, len(devices), figsize=(6 * len(devices), 4.2), squeeze=False, sharey=True)
    colour = colours({(line.backend, line.mode) for line in lines})
    for ax, device in zip(axes[0], devices):
        for line in sorted((x for x in lines if x.device == device), key=lambda x: (x.backend, x.mode)):
            ax.plot(line.work, line.median_us, marker="o", ms=3, lw=1, color=colour[(line.backend, line.mode)],
                    ls="-" if line.mode == "idiomatic" else "--", label=f"{line.backend} {line.mode}")  # fmt: skip
        ax.set(xscale="log", yscale="log", title=device, xlabel="work: hidden × batch")
        ax.grid(which="both", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("time per epoch (µs, median)")
    save(fig, path)


def winner_map(panels: Sequence[WinnerPanel], path: Path) -> None:
    """One panel per epoch count: the hidden x batch grid, each cell coloured and named by its winner."""
    plt = _pyplot()
    names = sorted({w for p in panels for w in p.winners.values()})
    colour = colours(names)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for i, hidden in enumerate(panel.hidden):
            for j, batch in enumerate(panel.batch):
                name = panel.winners.get((hidden, batch))
                ax.add_patch(plt.Rectangle((j, i), 1, 1, color=colour[name] if name else "white", alpha=0.8))
                ax.text(j + 0.5, i + 0.5, (name or "not measured").replace(" (", "\n("), ha="center", va="center",
                        fontsize=7)  # fmt: skip
        ax.set(xlim=(0, len(panel.batch)), ylim=(0, len(panel.hidden)), title=panel.title, xlabel="batch",
               ylabel="hidden units")  # fmt: skip
        ax.set_xticks([j + 0.5 for j in range(len(panel.batch))], [f"{b:,}" for b in panel.batch])
        ax.set_yticks([i + 0.5 for i in range(len(panel.hidden))], [f"{h:,}" for h in panel.hidden])
    save(fig, path)
