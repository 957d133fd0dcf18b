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
FIGURES = ("epoch_time.png", "total_time.png", "loss_curves.png", "time_breakdown.png", CLASSIC)
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
    hidden: Sequence[int]
    batch: Sequence[int]
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


# One colour per framework in every figure; the mode is the line style (idiomatic solid, tuned dashed,
# compiled dotted) or the label.
FRAMEWORK_COLOURS = {"numpy": "#1f77b4", "keras": "#d62728", "torch": "#ff7f0e", "jax": "#2ca02c",
                     "numba": "#7f7f7f", "keras-jax": "#9467bd", "keras-torch": "#8c564b"}  # fmt: skip
MODE_STYLES = {"idiomatic": "-", "tuned": "--", "compiled": ":"}


def colour_of(backend: str) -> str:
    return FRAMEWORK_COLOURS.get(backend, "#17becf")


def save(fig, path: Path, stamp: str = "") -> None:
    """The figure as a PNG at path, written beside it and renamed in place: a full disk or an interrupt
    leaves the old figure or the new one, never a part, and a link at path is replaced, not followed."""
    if stamp:  # which run the figure comes from, in its corner
        fig.text(0.998, 0.002, stamp, ha="right", va="bottom", fontsize=6, color="grey")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, format="png")
    _pyplot().close(fig)
    write_atomic(path, buffer.getvalue())


def epoch_time(rows: Sequence[Timed], floor_us: float | None, title: str, path: Path, stamp: str = "") -> None:
    """A dot per process, a bar at the median and a line over its 95% interval, slowest on top; a dashed
    line at the floor."""
    import numpy as np

    rows = sorted(rows, key=lambda r: r.median_us, reverse=True)
    fig, ax = _pyplot().subplots(figsize=(8, 0.5 * len(rows) + 1.4))
    rng = np.random.default_rng(0)
    for y, row in enumerate(rows):
        values = np.asarray(row.values_us, dtype=float)
        if row.interval_us is not None:
            ax.plot(row.interval_us, [y, y], color="black", lw=1, alpha=0.6)
        ax.scatter(values, y + rng.uniform(-0.15, 0.15, len(values)), s=14, alpha=0.6, color=colour_of(row.key[0]))
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
    save(fig, path, stamp)


def loss_curves(bands: Sequence[Band], deviations: Sequence[tuple[str, str, float]], target: float, path: Path,
                seeds: str = "", stamp: str = "") -> None:  # fmt: skip
    """Left: the reference series' median curve and min-max band (the rows agree: right), with the
    solved line. Right: each row's largest relative difference from the reference, (label, backend, value)."""
    plt = _pyplot()
    fig, (ax, dev) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [3, 2]})
    band = bands[0]
    ax.fill_between(band.epochs, band.low, band.high, color=colour_of(band.key[0]), alpha=0.25, lw=0)
    ax.plot(band.epochs, band.median, color=colour_of(band.key[0]), lw=1.8, label=band.label)
    ax.axhline(target, color="grey", lw=0.8, ls=":")
    ax.annotate(f"solved: loss < {target:g}", (0.01, target), xycoords=("axes fraction", "data"),
                va="bottom", fontsize=8, color="grey")  # fmt: skip
    ax.set(yscale="log", xlabel="epoch", ylabel="mean squared error (log scale)",
           title=f"Loss, matched preset: median and min–max over {seeds or 'seeds'}")  # fmt: skip
    ax.legend(fontsize=8, frameon=False)
    ax.grid(which="both", alpha=0.2)
    rows = sorted(deviations, key=lambda d: d[2])
    floor = 1e-17  # an exact match (0) drawn at the left edge
    dev.barh(range(len(rows)), [max(v, floor) for _, _, v in rows], color=[colour_of(b) for _, b, _ in rows])
    dev.set_yticks(range(len(rows)), [label for label, _, _ in rows], fontsize=8)
    dev.set(xscale="log", xlabel="largest |loss − the reference's| / loss, any seed and epoch",
            title="Each row's largest deviation")  # fmt: skip
    dev.grid(axis="x", which="both", alpha=0.25)
    save(fig, path, stamp)


def time_breakdown(rows: Sequence[Breakdown], path: Path, stamp: str = "") -> None:
    """Import, build + first epoch and training stacked per group, linear seconds, quickest on top."""
    rows = sorted(rows, key=lambda r: sum(v or 0.0 for v in r.seconds), reverse=True)
    fig, ax = _pyplot().subplots(figsize=(8, 0.4 * len(rows) + 1.6))
    left = [0.0] * len(rows)
    for j, name in enumerate(PARTS):
        widths = [r.seconds[j] or 0.0 for r in rows]
        ax.barh(range(len(rows)), widths, left=left, label=name, color=("#bbbbbb", "#7a9cc6", "#2b5d8a")[j])
        left = [x + w for x, w in zip(left, widths)]
    for y, (row, total) in enumerate(zip(rows, left)):
        ax.annotate(f" {row.notes[0]}", (total, y), va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [r.label for r in rows])
    ax.set(xlabel="seconds; training = the preset's epochs × the median time per epoch",
           title="Where the time goes, end to end")  # fmt: skip
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    ax.grid(axis="x", alpha=0.25)
    ax.margins(x=0.12)
    save(fig, path, stamp)


@dataclass(frozen=True)
class Total:
    """One group's start-up and time per epoch: its total time is startup_s + epochs x us."""

    key: tuple
    label: str
    startup_s: float
    us: float


def total_time(
    rows: Sequence[Total], marks: Sequence[tuple[float, str]], epochs: float, path: Path, stamp: str = ""
) -> None:
    """Total time (start-up + epochs x time per epoch) against epochs, log-log, a line per group; a
    point and label at each (epochs, text) in `marks` (the break-evens), and the preset's epochs dotted."""
    import numpy as np

    fig, ax = _pyplot().subplots(figsize=(8, 5))
    x = np.logspace(0, 7, 200)
    for row in rows:
        ax.plot(x, row.startup_s + x * row.us * 1e-6, color=colour_of(row.key[0]),
                ls=MODE_STYLES.get(row.key[2], "-"), lw=1.4)  # fmt: skip
    for at, text in marks:
        y = min(r.startup_s + at * r.us * 1e-6 for r in rows)
        ax.plot([at], [y], "ko", ms=5)
        ax.annotate(f"{text} ", (at, y), fontsize=8, ha="right", va="top")
    legend_by_style(ax, sorted({r.key[0] for r in rows}), sorted({r.key[2] for r in rows}))
    ax.axvline(epochs, color="grey", ls=":", lw=1)
    ax.annotate(f" {epochs:,.0f} epochs (the preset)", (epochs, ax.get_ylim()[1]), fontsize=8, color="grey", va="top")
    ax.set(xscale="log", yscale="log", xlabel="epochs trained in one fit() call",
           ylabel="seconds: start-up + epochs × time per epoch", title="Which is quickest end to end")  # fmt: skip
    ax.grid(which="both", alpha=0.2)
    save(fig, path, stamp)


def legend_by_style(ax, backends: Sequence[str], modes: Sequence[str]) -> None:
    """Two short legends instead of one entry per line: colour = framework, line style = mode."""
    from matplotlib.lines import Line2D

    first = ax.legend([Line2D([], [], color=colour_of(b)) for b in backends], backends, fontsize=7, frameon=False,
                      loc="upper left", title="framework", title_fontsize=7)  # fmt: skip
    ax.add_artist(first)
    ax.legend([Line2D([], [], color="black", ls=MODE_STYLES.get(m, "-")) for m in modes], modes, fontsize=7,
              frameon=False, loc="lower right", title="mode", title_fontsize=7)  # fmt: skip


def convergence_ecdf(series: Sequence[Converged], limit: int | None, reference: tuple[float, str] | None,
                     path: Path, stamp: str = "") -> None:  # fmt: skip
    """The share of each group's seeds converged by each epoch (an ECDF that ends at its share converged),
    drawn in turn thinner and dashed so that curves that coincide all show; a dotted line at `limit`
    (the preset's epochs) and a grey one at `reference` (epochs, label)."""
    fig, ax = _pyplot().subplots(figsize=(8, 4.4))
    right = max([limit or 0, *(e for c in series for e in c.epochs), reference[0] if reference else 0, 1])
    for i, c in enumerate(series):
        epochs = sorted(c.epochs)
        steps = [k / c.seeds for k in range(len(epochs) + 1)]
        width = 2.4 - 1.6 * i / len(series)  # each next curve thinner: coinciding curves all show
        ax.step([0, *epochs, right], [*steps, steps[-1]], where="post", ls=STYLES[i % 4], lw=width,
                color=colour_of(c.key[0]), label=f"{c.label}: {len(epochs)}/{c.seeds}")  # fmt: skip
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
    save(fig, path, stamp)


def sweep(lines: Sequence[SweepLine], path: Path, stamp: str = "") -> None:
    """Small multiples, one panel per device and batch: each backend and mode's time per epoch against
    hidden units, log-log, coloured by framework, dashed where tuned."""
    panels = sorted({(line.device, b) for line in lines for b in line.batch})
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 4), squeeze=False, sharey=True)
    for ax, (device, batch) in zip(axes[0], panels):
        for line in (x for x in lines if x.device == device):
            points = sorted((h, us) for h, b, us in zip(line.hidden, line.batch, line.median_us) if b == batch)
            ax.plot([h for h, _ in points], [us for _, us in points], marker="o", ms=3, lw=1.2,
                    color=colour_of(line.backend), ls=MODE_STYLES.get(line.mode, "-"))  # fmt: skip
        ax.set(xscale="log", yscale="log", title=f"{device}, batch {batch:,}", xlabel="hidden units")
        ax.grid(which="both", alpha=0.3)
    axes[0][0].set_ylabel("time per epoch (µs, median)")
    legend_by_style(axes[0][0], sorted({x.backend for x in lines}), sorted({x.mode for x in lines}))
    save(fig, path, stamp)


def winner_map(panels: Sequence[WinnerPanel], path: Path, stamp: str = "") -> None:
    """One panel per epoch count: the hidden x batch grid, each cell coloured and named by its winner."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for i, hidden in enumerate(panel.hidden):
            for j, batch in enumerate(panel.batch):
                name = panel.winners.get((hidden, batch))
                ax.add_patch(
                    plt.Rectangle(
                        (j, i),
                        1,
                        1,
                        color=colour_of(name.split(" (")[0]) if name else "white",
                        alpha=0.35 if name and name.endswith("(idiomatic)") else 0.8,
                    )
                )
                ax.text(j + 0.5, i + 0.5, (name or "not measured").replace(" (", "\n("), ha="center", va="center",
                        fontsize=7)  # fmt: skip
        ax.set(xlim=(0, len(panel.batch)), ylim=(0, len(panel.hidden)), title=panel.title, xlabel="batch",
               ylabel="hidden units")  # fmt: skip
        ax.set_xticks([j + 0.5 for j in range(len(panel.batch))], [f"{b:,}" for b in panel.batch])
        ax.set_yticks([i + 0.5 for i in range(len(panel.hidden))], [f"{h:,}" for h in panel.hidden])
    save(fig, path, stamp)
