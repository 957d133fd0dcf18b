"""Render `REPORT.md`, its figures and README's headline from a run's tables alone (docs/TABLES.md).

Load and summarise live in bench/summary.py (plain data, no Markdown); this module draws that data
with bench/figures.py and renders it as Markdown: compute, then draw, then print. The report knows
nothing about frameworks: a backend is a name in a table. Whatever is missing is printed as
"not measured (reason)".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..backends import LOSS_TARGET, REGISTRY, floor_backends  # the registry; imports no framework
from . import figures
from .compare import AGREE, Rerun, Swap, distinguishable, rerun_of, spread, within, worst
from .stats import FASTER, FEW, MIN_PROCESSES, SAME, SLOWER, Versus, wilson
from .summary import (
    KEY,
    THREADS_SLACK,
    Choices,
    Classic,
    ClassicRow,
    Curves,
    Group,
    Method,
    Pair,
    Step,
    Summary,
    Target,
    as_float,
    load,
    measured,
    read_summary,
    summarise,
)
from .sweep_stats import crossover_lines
from .tables import write_atomic
from .text import sig

FIGURES = figures.FIGURES
README_START, README_END = "<!-- headline:start -->", "<!-- headline:end -->"

ARTICLE_NOTE = (
    "The article claims that all three of its snippets learn XOR. Each is run here as written, with two changes "
    "that Keras 3 forced on its TensorFlow snippet: the inputs are NumPy arrays instead of Python lists, and "
    "`input_shape=` on the first `Dense` became a `keras.Input` layer."
)
ENV_CAVEAT = (
    "Absolute times hold only for this machine, these versions and these thread settings; "
    "the ratios between backends are what carries over, and only roughly."
)
RELATIVE = "Relative difference = |a − b| / |a|, series a being the reference (bench/stats.py, as everywhere here)."
VERDICT_NOTE = (
    "µs/epoch is b of the line fit(W) seconds = a + b·W, fitted by least squares in each fresh worker process to "
    "its timed windows of two or more lengths; per-call µs is a, what one fit() call costs whatever its epochs. "
    "Each figure is the median over the row's processes, started round-robin across rows; its 95% interval is a "
    "percentile bootstrap of that median over the processes (with five processes it is their range). A row is "
    "called slower or faster than another only where the bootstrap interval of the ratio of their medians lies "
    f"wholly above or below 1, and only with at least {MIN_PROCESSES} processes on each side; the windows within "
    "one process share its luck and decide nothing. Start-up: import + build + first epoch in a fresh process. "
    "Time-to-solve, cold: in a fresh process, from the build through the first solved epoch, compilation "
    "included, import apart; warm: the same seed set up and trained again in that process, compiled already; "
    "n: the processes that solved. Time-to-accuracy, cold: the same cold run, to the end of the first epoch whose "
    "every output lies on the right side of 0.5 (100% accuracy, the 1986 criterion; n: the processes that got "
    "there); epochs-to-accuracy and epochs-to-solve: medians over the convergence seeds that got there. "
    "MB to train this net: the median over processes of the peak resident memory "
    f"of the whole worker process (interpreter, framework and training). Solved: loss below {LOSS_TARGET:g} (which "
    "implies 100% accuracy); success is over the convergence seeds."
)
VERDICT_WORDS = {SLOWER: "slower", FASTER: "faster", SAME: "same within noise"}

# The classic experiment's sources: what the paper reports, as text (nothing here is measured).
CLASSIC_SOURCE = (
    "D. E. Rumelhart, G. E. Hinton and R. J. Williams, “Learning internal representations by error propagation”, "
    "in *Parallel Distributed Processing*, vol. 1, ch. 8 (1986), pp. 318–362"
)
PAPER_SWEEPS, PAPER_ETA, PAPER_PATTERNS = 558, 0.5, 4  # p. 331: XOR in 558 sweeps at η = 0.5; its E sums 4 patterns
PAPER = {  # what the paper says of each thing the classic table measures
    "epochs": f"{PAPER_SWEEPS} sweeps at η = {PAPER_ETA:g} (p. 331), one run, by a net with one hidden unit plus "
    "direct input–output connections, not 2-2-1",
    "stuck": "local minima met in only two cases, both with two hidden units (pp. 331–332)",
    "momentum": "α ≈ 0.9 “in most of our simulations” (p. 330)",
    "step": f"η = {PAPER_ETA:g} on E = ½·Σ over the {PAPER_PATTERNS} patterns (p. 331)",
    "chauvin": "Chauvin's fit: P = 280 − 33·log2(H) presentations for H hidden units, at η = 0.25 (p. 333); "
    "247 at H = 2",
}
CLASSIC_DEVIATION = (
    f"Deviations from the paper. Its error is E = ½·Σ over the {PAPER_PATTERNS} patterns; the preset's objective, "
    f"½·MSE, is E / {PAPER_PATTERNS}, so lr on it steps as η = lr / {PAPER_PATTERNS} would on the paper's E. The "
    f"preset follows the issue's spec, η = {PAPER_ETA:g} on ½·MSE: a step {PAPER_PATTERNS}× shorter than the "
    f"558-sweep run's (whose η = {PAPER_ETA:g} is lr {PAPER_ETA * PAPER_PATTERNS:.1f} here). And that run's net had "
    "one hidden unit and direct input–output connections, which a 2-H-1 net cannot express; the initial range, "
    "which the paper does not give for XOR, is an assumption (U[−0.5, 0.5]). The paper's figures are set beside "
    "this run's, not compared with them."
)
CONVERGED_NOTE = (
    "Converged: the first epoch whose four outputs all lie on the right side of 0.5 (every |output − target| < "
    "0.5; runs.csv's epoch_accurate, the number of weight updates before that epoch's forward pass), within the "
    "preset's epochs; each seed's run ends after the fit() call in which it converged. Share converged with its "
    "95% Wilson interval; epochs to converge: median and range over the seeds that converged."
)


# ---------------------------------------------------------------- formatting


def loss_text(x: float) -> str:
    return f"{x:.3g}"


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def cell(x, text=sig, why: str = "not recorded") -> str:
    return text(x) if measured(x) else f"not measured ({why})"


def label(group: tuple) -> str:
    backend, device, mode = group
    return f"{backend} ({device}, {mode})"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    def clean(text) -> str:
        return str(text).replace("\n", " ").replace("|", "\\|") or "not measured (empty)"

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(clean(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def success_text(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k}/{n} = {pct(k / n)} ({pct(low)}–{pct(high)})"


def interval_text(interval: tuple | None) -> str:
    return f"{sig(interval[0])}–{sig(interval[1])}" if interval is not None else ""


def with_interval(x: float | None, interval: tuple | None, processes: int, why: str) -> str:
    """A median with its 95% interval, or why it has none."""
    if not measured(x):
        return f"not measured ({why})"
    if interval is None:
        return f"{sig(x)} (1 process, no interval)" if processes <= 1 else sig(x)
    return f"{sig(x)} ({interval_text(interval)})"


def counted(x: float | None, n: int, why: str) -> str:
    return f"{sig(x)} (n={n})" if measured(x) else f"not measured ({why})"


def verdict_words(v: Versus) -> str:
    if v.verdict == FEW:
        return f"too few processes to tell ({v.n_a} and {v.n_b}; {MIN_PROCESSES} each needed)"
    return VERDICT_WORDS[v.verdict]


def ratio_text(v: Versus) -> str:
    """B/A with its interval: "1.23× (1.20–1.27)"."""
    interval = f" ({sig(v.low)}–{sig(v.high)})" if v.low is not None else ""
    return f"{sig(v.ratio)}×{interval}"


def versus_text(v: Versus) -> str:
    return f"{ratio_text(v)}: {verdict_words(v)}"


def borrowed(g: Group | ClassicRow) -> str:
    """The mark on a number that comes from another mode's seeds."""
    return f" (from {g.borrowed_from})" if g.borrowed_from else ""


# ---------------------------------------------------------------- draw


def draw(summary: Summary, out_dir: Path, wanted: bool = True) -> frozenset[str]:
    """Every figure the summary has data for, drawn into out_dir (none unless `wanted`); the names of
    those drawn. A figure this render does not draw is deleted: it must not survive from an earlier render."""
    out_dir = Path(out_dir)
    for name in (*FIGURES, figures.SWEEP):
        (out_dir / name).unlink(missing_ok=True)
    if not wanted:
        return frozenset()
    drawn = set()
    timed = [g for g in summary.groups if measured(g.us)]
    if timed:
        rows = [figures.Timed(g.key, label(g.key), g.us, g.values, f"{sig(g.us)} µs", g.us_ci) for g in timed]
        floor = summary.floor.us if summary.floor is not None else None
        figures.epoch_time(rows, floor, f"Time per epoch, {summary.preset} preset", out_dir / "epoch_time.png")
        drawn.add("epoch_time.png")
    if summary.curves.bands:
        bands = [
            figures.Band(b.key, f"{label(b.key)}, {b.seeds} seeds", b.epochs, b.median, b.low, b.high)
            for b in summary.curves.bands
        ]
        figures.loss_curves(bands, LOSS_TARGET, out_dir / "loss_curves.png", seeds_text(summary.curves.shared_seeds))
        drawn.add("loss_curves.png")
    shown = [g for g in summary.groups if g.status == "ok"]
    if any(measured(s) for g in shown for s in (g.import_s, g.first_epoch_s, g.training_s)):
        figures.time_breakdown([breakdown(g) for g in shown], out_dir / "time_breakdown.png")
        drawn.add("time_breakdown.png")
    if summary.sweep.lines:
        figures.sweep(summary.sweep.lines, out_dir / figures.SWEEP)
        drawn.add(figures.SWEEP)
    classic = [r for r in summary.classic.rows if r.status == "ok"]
    if classic:
        series = [figures.Converged(r.key, label(r.key) + borrowed(r), r.epochs, r.seeds) for r in classic]
        limit = max((r.cap for r in classic if r.cap), default=None)
        paper = (PAPER_SWEEPS, f"{PAPER_SWEEPS} sweeps: the paper's 1-hidden-unit net (p. 331)")
        figures.convergence_ecdf(series, limit, paper, out_dir / figures.CLASSIC)
        drawn.add(figures.CLASSIC)
    return frozenset(drawn)


def breakdown(g: Group) -> figures.Breakdown:
    seconds = tuple(float(s) if measured(s) else None for s in (g.import_s, g.first_epoch_s, g.training_s))
    return figures.Breakdown(label(g.key), seconds, tuple(f"{sig(s)} s" if s else "" for s in seconds))


def seeds_text(seeds: tuple[int, ...]) -> str:
    if not seeds:
        return "each series' own seeds"
    if len(seeds) > 3 and seeds == tuple(range(seeds[0], seeds[-1] + 1)):
        return f"seeds {seeds[0]}–{seeds[-1]}"
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(str(s) for s in seeds)


# ---------------------------------------------------------------- render


def render(summary: Summary, drawn: frozenset[str] = frozenset(), rerun: Rerun | None = None) -> str:
    """REPORT.md's text: the summary in Markdown, linking the figures in `drawn`; with the second full run
    in rerun/ compared with this one, where `rerun` is given."""
    lines = ["# xorbench results", ""]
    lines += [*summary.warnings, ""] if summary.warnings else []
    lines += [
        f"Rendered from the tables in this folder (runs.csv, timings.csv, {summary.curves_name}, env.json). "
        f"Run of {summary.timestamp or 'an unrecorded time'}, commit {summary.commit or 'not recorded'}.",
        "",
    ]
    top = [why for name, why in summary.missing.items() if name != "sweep.csv"]
    if top:
        lines += [f"- not measured ({why})" for why in top] + [""]
    lines += section_verdict(summary, drawn)
    lines += section_curves(summary, drawn)
    lines += section_article(summary)
    lines += section_time(summary, drawn)
    lines += section_targets(summary)
    lines += section_env(summary)
    lines += section_sweep(summary, drawn)
    lines += section_classic(summary.classic, drawn)
    lines += section_rerun(rerun) if rerun is not None else []
    return "\n".join(lines).rstrip() + "\n"


VERDICT_HEADER = [
    "backend", "device", "mode", "µs/epoch (median over processes; 95% interval)", "× fastest (95% interval)",
    "vs fastest", "per-call µs", "start-up s (95% interval)", "time-to-accuracy s, cold (n)",
    "time-to-solve s, cold (n)", "time-to-solve s, warm (n)", "success (95% Wilson)",
    "median epochs-to-accuracy", "median epochs-to-solve", "median final loss",
    "MB to train this net (peak RSS; + device peak on a GPU)",
]  # fmt: skip


def against_text(g: Group, summary: Summary) -> tuple[str, str]:
    """The × fastest and vs fastest cells."""
    if not measured(g.us) or summary.fastest is None:
        return ("not measured (no time per epoch)",) * 2
    if g.versus is None:
        return f"{sig(1.0)}×", "fastest"
    return ratio_text(g.versus), verdict_words(g.versus)


def us_text(g: Group) -> str:
    """µs per epoch with its interval and the processes behind it."""
    if not measured(g.us):
        return "not measured (not timed)"
    n = len(g.values)
    left_out = f" ({g.unresolved} more resolved no per-epoch cost)" if g.unresolved else ""
    if g.us_ci is None:
        return f"{sig(g.us)} ({n} process{'es' if n != 1 else ''}{left_out}, no interval)"
    return f"{sig(g.us)} ({interval_text(g.us_ci)}), {n} processes{left_out}"


def startup_text(g: Group) -> str:
    return with_interval(g.startup_s, g.startup_ci, g.processes, "not timed")


def verdict_row(g: Group, summary: Summary) -> list[str]:
    if g.status != "ok":
        return [*g.key] + [f"not measured ({g.status})"] * (len(VERDICT_HEADER) - 3)
    ratio, versus = against_text(g, summary)
    never = "never solved" if g.seeds else "no runs"
    inaccurate = "never accurate" if g.seeds else "no runs"
    if summary.lacks("runs.csv", "epoch_accurate"):
        inaccurate = "runs.csv from before epoch_accurate"
    mark = borrowed(g)
    return [
        *g.key,
        us_text(g),
        ratio,
        versus,
        cell(g.call_us, why="not fitted"),
        startup_text(g),
        counted(g.tta_cold_s, g.tta_cold_n, tta_why(g, summary)),
        counted(g.tts_cold_s, g.tts_cold_n, "never solved" if g.processes else "not timed"),
        counted(g.tts_warm_s, g.tts_warm_n, "no warm solve run"),
        success_text(g.solved, g.seeds) + mark if g.seeds else "not measured (no seeds)",
        cell(g.epochs_to_accuracy, lambda x: f"{x:.0f} ({g.accurate}/{g.seeds} seeds){mark}", why=inaccurate),
        cell(g.epochs_to_solve, lambda x: f"{x:.0f}{mark}", why=never),
        cell(g.final_loss, lambda x: loss_text(x) + mark, why="not recorded"),
        memory_text(g),
    ]


def tta_why(g: Group, summary: Summary) -> str:
    if summary.lacks("runs.csv", "time_to_accuracy_s"):
        return "runs.csv from before time_to_accuracy_s"
    return "never accurate" if g.processes else "not timed"


def memory_text(g: Group) -> str:
    """Peak resident memory, and on a GPU the framework's own peak of device memory beside it."""
    text = cell(g.peak_rss_mb, why="not recorded")
    return text + f" + {sig(g.device_peak_mb)} on the device" if measured(g.device_peak_mb) else text


def section_verdict(summary: Summary, drawn: frozenset[str]) -> list[str]:
    lines = [f"## 1. Verdict ({summary.preset} preset)", ""]
    if "runs.csv" in summary.missing:
        return lines + [f"not measured ({summary.missing['runs.csv']})", ""]
    order = sorted(summary.groups, key=lambda g: (g.status != "ok", g.us if measured(g.us) else math.inf, g.key))
    lines += [md_table(VERDICT_HEADER, [verdict_row(g, summary) for g in order]), "", VERDICT_NOTE, ""]
    flagged = [g for g in summary.groups if g.threads_exceeded]
    if flagged:
        lines += [
            "**Threads:** CPU time exceeded wall time × threads by more than "
            f"{THREADS_SLACK:g} for " + ", ".join(label(g.key) for g in flagged) + " (section 4, Threads).",
            "",
        ]
    lines += borrowed_note(summary.groups)
    if "epoch_time.png" in drawn:
        lines += ["![Time per epoch](epoch_time.png)", ""]
    lines += section_problems(summary)
    lines += section_methods(summary)
    lines += ["### Which to choose when", ""] + [f"- {s}" for s in choose(summary)] + [""]
    return lines


def checked_text(g: Group) -> str:
    """What of the borrowing mode's own curves was compared with the lender's."""
    if not measured(g.borrow_difference):
        return ""
    if g.borrow_checked_seeds:
        return (
            f"; its own curves were compared with {g.borrowed_from}'s on {g.borrow_checked_seeds} seeds × "
            f"{g.borrow_checked_epochs:,} epochs: max relative difference {g.borrow_difference:.1g}"
        )
    return f" (the two modes' curves in this run matched to {g.borrow_difference:.1g} relative)"


def borrowed_note(groups: tuple[Group, ...]) -> list[str]:
    said = [
        f"{label(g.key)}: success, epochs-to-accuracy, epochs-to-solve and final loss (marked “from "
        f"{g.borrowed_from}”) are those of the {g.borrowed_from} mode's seeds, not this mode's own "
        f"seeds{checked_text(g)}."
        for g in groups
        if g.borrowed_from
    ]
    return ["Borrowed convergence: " + " ".join(said), ""] if said else []


def section_problems(summary: Summary) -> list[str]:
    if not summary.problems:
        return []
    rows = [[*row[:5], row[5] or "not measured (no reason given)", row[6]] for row in summary.problems]
    header = ["backend", "device", "mode", "preset", "status", "reason", "runs"]
    return ["### Runs that did not finish cleanly", "", md_table(header, [[str(c) for c in r] for r in rows]), ""]


def section_methods(summary: Summary) -> list[str]:
    rows = sorted([*m.key, m.preset, m.role, method_text(m)] for m in summary.methods)
    rows = [row for i, row in enumerate(rows) if i == 0 or row != rows[i - 1]]
    if not rows:
        return []
    header = [*KEY, "preset", "role", "method"]
    return ["### How each number was obtained", "", md_table(header, rows), ""]


def method_text(m: Method) -> str:
    """The sentence of the methods table, written from the row's columns."""
    if m.legacy:
        return m.method
    if m.borrowed_from:
        return borrowed_text(m)
    if m.processes:
        return processes_text(m)
    if m.epochs_range:
        low, high = m.epochs_range
        trained = f"{low:,}–{high:,} epochs" if low != high else f"{low:,} epochs"
        return f"{m.method}; each seed trained until every output lay on the right side of 0.5, {trained}"
    if m.role != "timing":
        return f"{m.method}; {m.epochs} epochs" if m.epochs else m.method
    if m.preset == "article-bare":
        return f"{m.method}, {m.epochs} epochs of its own train() timed bare, {m.windows} repeats"
    text = m.method
    if m.windows and m.window_epochs:
        text += f"; timed in {m.windows} windows of {m.window_epochs} epochs (one fit({m.window_epochs}) call each)"
        text += f": {m.in_run} in the run" if m.in_run else ""
    if m.stopped_at_epoch:
        why = "once solved" if m.stop_reason == "solved" else "at its time budget, unsolved,"
        text += f"; stopped {why} at epoch {m.stopped_at_epoch}" + (f" of {m.of_epochs}" if m.of_epochs else "")
    elif m.epochs:
        text += f"; then on to all {m.epochs} epochs" if m.windows else f"; {m.epochs} epochs"
    if m.replays and m.in_run:
        more = m.windows - m.in_run
        text += f"; then {more} more in {m.replays} replays of the run (set up again from its initial weights, untimed)"
    elif m.replays:
        text += f"; the windows include {m.replays} replays of the run (set up again from its initial weights, untimed)"
    return text


def processes_text(m: Method) -> str:
    """A schema-3 timing row: its fresh processes, what each did, and how its costs were fitted."""
    text = f"{m.method}; timed in {m.processes} fresh worker processes, started round-robin with the other rows'"
    if m.solved_in == m.processes:
        text += "; each trained its seed until solved, from cold and then warm"
    elif m.solved_in:
        text += f"; {m.solved_in} of them trained their seed until solved, from cold and then warm (the others only "
        text += "started up: training to solved in every process would exceed the budget)"
    if m.solved_in and m.solved is not None and m.solved < m.solved_in:
        text += f" ({m.solved} of {m.solved_in} solved within the epochs and the budget)"
    lengths = " and ".join(f"{n:,}" for n in m.window_lengths)
    windows = f"{m.windows} windows" if m.windows else "windows"
    text += f"; then {windows} per process" + (f" of {lengths} epochs" if lengths else "")
    return text + " (one fit(W) call each), fitted with seconds = a + b·W"


def borrowed_text(m: Method) -> str:
    text = f"convergence from the {m.borrowed_from} mode" + (f" ({m.source_method})" if m.source_method else "")
    if measured(m.borrow_difference) and m.compared_seeds:
        text += (
            f"; this mode's own curves matched {m.borrowed_from}'s to {m.borrow_difference:.1g} relative (max) on "
            f"{m.compared_seeds} seeds × {m.compared_epochs:,} epochs"
        )
    elif measured(m.borrow_difference):
        seed = f"seed-{m.seed} " if m.seed is not None else ""
        text += f", whose {seed}curve in this run matched this mode's to {m.borrow_difference:.1g} relative"
        text += f" over {m.compared_epochs} epochs" if m.compared_epochs else ""
    if m.seeds_cost_s is not None:
        text += f"; {m.seeds} seeds of this mode would take about {m.seeds_cost_s:.0f} s"
    return text


# ---------------------------------------------------------------- render: which to choose when


def choose(summary: Summary) -> list[str]:
    """Statements computed from the numbers, for a reader choosing a backend."""
    found = summary.choices
    if not found.timed:
        return ["not measured (no backend has a time per epoch)"]
    return [
        *choose_by_speed(found),
        *choose_by_start(found),
        *choose_by_run_length(found),
        *choose_by_solve(summary.groups),
        *choose_mode(found.modes),
        *choose_device(found.devices),
        *choose_by_convergence(found),
    ]


def choose_by_speed(found: Choices) -> list[str]:
    fast, others = found.timed[0], found.timed[1:]
    text = f"**Fastest per epoch** (lowest median over processes): {label(fast.key)}, {sig(fast.us)} µs/epoch"
    text += f" ({interval_text(fast.us_ci)})." if fast.us_ci else "."
    said = {
        SLOWER: "Slower, the ratio's 95% interval above 1:",
        SAME: "Same within noise (the ratio's interval holds 1):",
        FEW: f"Too few processes to tell ({MIN_PROCESSES} each needed):",
    }
    for verdict, words in said.items():
        chosen = [g for g in others if g.versus.verdict == verdict]
        if chosen:
            text += f" {words} " + ", ".join(f"{label(g.key)} ({ratio_text(g.versus)})" for g in chosen) + "."
    return [text]


def choose_by_start(found: Choices) -> list[str]:
    fast, first = found.timed[0], found.first_start
    if first is None:
        return []
    said = [
        f"**Fastest start-up:** {label(first.key)}, {sig(first.startup_s)} s "
        f"(import {cell(first.import_s)} s + build and first epoch {cell(first.first_epoch_s)} s)."
    ]
    if not measured(fast.startup_s):
        return said
    if fast.startup_s <= first.startup_s:
        return said + [f"{label(fast.key)} is fastest both to start and per epoch: it wins at every run length."]
    if found.payback_epochs is None:
        return said + [
            f"{label(first.key)} starts fastest and its time per epoch is not shown to be longer than "
            f"{label(fast.key)}'s ({versus_text(first.versus)}): nothing here favours "
            f"{label(fast.key)} at any run length."
        ]
    return said + [
        f"**Pay-back:** {label(fast.key)} starts {sig(fast.startup_s - first.startup_s)} s later than "
        f"{label(first.key)} but saves {sig(first.us - fast.us)} µs per epoch, so its start-up is paid back "
        f"after {sig(found.payback_epochs)} epochs: shorter runs favour {label(first.key)}, longer runs "
        f"{label(fast.key)}."
    ]


def choose_by_run_length(found: Choices) -> list[str]:
    if not found.whole:
        return []
    best = found.whole[0]
    text = f"**Quickest end to end** (start-up + {best.epochs:,} epochs): {label(best.key)}, {sig(best.total_s)} s"
    if len(found.whole) > 1:
        text += f"; next {label(found.whole[1].key)}, {sig(found.whole[1].total_s)} s"
    said = [text + "."]
    heavy = [g for g in found.whole if g.startup_s > g.training_s]
    if heavy:
        said.append(
            "**Start-up outweighs training** (start-up > the preset's epochs × time per epoch) for "
            + ", ".join(f"{label(g.key)} ({sig(g.startup_s)} s vs {sig(g.training_s)} s)" for g in heavy)
            + "."
        )
    return said


def choose_by_solve(groups: tuple[Group, ...]) -> list[str]:
    """The quickest to a solved network: from a fresh process (import + cold time-to-solve), and warm."""
    cold = sorted((g for g in groups if measured(g.tts_cold_s) and measured(g.import_s)),
                  key=lambda g: g.import_s + g.tts_cold_s)  # fmt: skip
    warm = sorted((g for g in groups if measured(g.tts_warm_s)), key=lambda g: g.tts_warm_s)
    if not cold:
        return []
    first = cold[0]
    text = (
        f"**Quickest to a solved network from a fresh process** (import + cold time-to-solve, medians): "
        f"{label(first.key)}, {sig(first.import_s + first.tts_cold_s)} s"
    )
    if warm:
        text += f"; compiled already (warm), {label(warm[0].key)}, {sig(warm[0].tts_warm_s)} s"
    return [text + "."]


def choose_mode(pairs: tuple[Pair, ...]) -> list[str]:
    """Each non-idiomatic mode against the idiomatic mode of the same backend and device."""
    return [
        f"**{p.b.key[0]} on {p.b.key[1]}:** {p.b.key[2]} takes {ratio_text(p.versus)} the idiomatic time per epoch: "
        f"{verdict_words(p.versus)}."
        for p in pairs
    ]


def choose_device(pairs: tuple[Pair, ...]) -> list[str]:
    """Each backend and mode timed on both devices: the GPU's time per epoch against the CPU's."""
    return [
        f"**{p.b.key[0]} {p.b.key[2]}, GPU vs CPU:** the GPU takes {ratio_text(p.versus)} the CPU's time per epoch: "
        f"{verdict_words(p.versus)}."
        for p in pairs
    ]


def choose_by_convergence(found: Choices) -> list[str]:
    converged = found.converged
    if not converged:
        return []
    rate = lambda g: g.solved / g.seeds  # noqa: E731
    best, worst = max(converged, key=rate), min(converged, key=rate)
    if rate(best) == rate(worst):
        return [f"**Convergence:** every backend solves the same share, {success_text(best.solved, best.seeds)}."]
    holding = lambda r: ", ".join(label(g.key) for g in converged if rate(g) == r)  # noqa: E731
    text = (
        f"**Convergence:** success rates range from {success_text(worst.solved, worst.seeds)} ({holding(rate(worst))}) "
        f"to {success_text(best.solved, best.seeds)} ({holding(rate(best))})."
    )
    if found.apart:
        text += " Clearly lower than the best (95% intervals do not overlap): "
        text += ", ".join(label(g.key) for g in found.apart) + "."
    else:
        text += " Every 95% interval overlaps the best one: at this many seeds convergence does not separate them."
    return [text]


# ---------------------------------------------------------------- render: the other sections


def section_curves(summary: Summary, drawn: frozenset[str]) -> list[str]:
    lines = ["## 2. Loss curves (matched preset)", ""]
    curves = summary.curves
    if curves.why:
        return lines + [f"not measured ({curves.why})", ""]
    if "loss_curves.png" in drawn:
        lines += ["![Loss curves](loss_curves.png)", "", drawn_text(summary), ""]
    return lines + curve_agreement(curves, SAME_NETWORK)


SAME_NETWORK = (
    "Curves that lie on top of each other show the backends train the same network from the same weights, "
    "so the timings compare like with like."
)


def curve_agreement(curves: Curves, meaning: str) -> list[str]:
    """The largest relative difference of any two series at a shared seed and epoch, and every pair's."""
    if not curves.pairs:
        return ["Largest relative difference: not measured (fewer than two series share a seed)", ""]
    top = curves.pairs[0]
    rows = [
        [label(p.a), label(p.b), f"{p.seeds}", f"{p.difference:.3g}", f"seed {p.seed}, epoch {p.epoch}"]
        for p in curves.pairs
    ]
    return [
        f"**Largest relative difference between any two series at the same seed and epoch: "
        f"{top.difference:.3g}** ({label(top.a)} vs {label(top.b)}, seed {top.seed}, epoch {top.epoch}). "
        f"{RELATIVE} {meaning}",
        "",
        md_table(["series a", "series b", "seeds compared", "max relative difference", "at"], rows),
        "",
    ]


def drawn_text(summary: Summary) -> str:
    """Which seeds and epochs the figure draws, and the series drawn over fewer epochs."""
    curves = summary.curves
    if curves.shared_seeds:
        shared = seeds_text(curves.shared_seeds)
        text = f"Drawn: {shared}, the seeds every series has, so that every band is over the same seeds."
    else:
        text = "Drawn: each series over its own seeds (no seed is shared by every series)."
    last = max(int(b.epochs.max()) for b in curves.bands)
    lenders = {g.key: g.borrowed_from for g in summary.groups if g.borrowed_from}
    for b in (b for b in curves.bands if int(b.epochs.max()) < last):
        why = f" (its own curves, checked against {lenders[b.key]}'s)" if b.key in lenders else ""
        text += f" {label(b.key)} is drawn to epoch {int(b.epochs.max()):,} only{why}."
    return text


def article_cells(row) -> list[str]:
    if row.status != "ok":
        failed = [f"not measured ({row.status}, see above)"] * 5
        return [*row.key, *failed, "learns XOR", f"not measured ({row.status})"]
    config = ", ".join(
        f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}" for name, value in row.config
    )
    if row.outputs is None:
        outputs = "not measured (runs.csv has no outputs column)"
    else:
        outputs = ", ".join(f"{v:.3f}" for v in row.outputs) or "not measured (outputs unreadable)"
    seeds = f" over {row.seeds} seeds" if row.seeds > 1 else ""
    if row.learned == row.seeds:
        here = f"learns XOR{seeds} ✓"
    elif row.seeds == 1:
        here = "does not learn XOR ✗"
    else:
        here = f"does not learn XOR: {row.learned}/{row.seeds} seeds reach 100% accuracy ✗"
    config = config or "not measured (no config columns)"
    numbers = [cell(row.accuracy, pct), cell(row.final_loss, loss_text), cell(row.train_s)]
    return [*row.key, config, outputs, *numbers, "learns XOR", here]


def section_article(summary: Summary) -> list[str]:
    lines = ["## 3. The article, reproduced", "", ARTICLE_NOTE, ""]
    if "runs.csv" in summary.missing:
        return lines + [f"not measured ({summary.missing['runs.csv']})", ""]
    if not summary.article:
        return lines + ["not measured (no article-preset runs in runs.csv)", ""]
    header = [*KEY, "config", "final outputs", "accuracy", "final loss", "training s", "article claims", "here"]
    note = (
        "Learns XOR: 100% accuracy at threshold 0.5. Outputs are of the lowest seed, for inputs "
        "(0,0), (0,1), (1,0), (1,1); XOR wants 0, 1, 1, 0."
    )
    return lines + [md_table(header, [article_cells(row) for row in summary.article]), "", note, ""]


def section_time(summary: Summary, drawn: frozenset[str]) -> list[str]:
    lines = ["## 4. Where the time goes", ""]
    shown = [g for g in summary.groups if g.status == "ok"]
    if not shown:
        return lines + [f"not measured ({summary.missing.get('runs.csv', 'no finished runs')})", ""]
    header = ["backend", "device", "mode", "import s", "build + first epoch s", "start-up s (95% interval)",
              "steady-state training s", "epochs"]  # fmt: skip
    rows = [
        [*g.key, cell(g.import_s), cell(g.first_epoch_s), startup_text(g), cell(g.training_s),
         cell(g.epochs, lambda x: f"{x:,}")]
        for g in shown
    ]  # fmt: skip
    if "time_breakdown.png" in drawn:
        lines += ["![Where the time goes](time_breakdown.png)", ""]
    lines += [
        md_table(header, rows),
        "",
        f"Medians over each row's processes. Training is the {summary.preset} preset's epochs × the median time per "
        "epoch; import is measured in a fresh process; build + first epoch includes tracing, compilation and "
        "warm-up.",
        "",
    ]
    return lines + section_cache(shown) + section_memory(shown) + section_threads(shown)


def section_cache(shown: list[Group]) -> list[str]:
    cached = [g for g in shown if measured(g.startup_cold_cache_s) or measured(g.startup_warm_cache_s)]
    if not cached:
        return []
    rows = [
        [*g.key, cell(g.startup_cold_cache_s, why="no process started cold"),
         cell(g.startup_warm_cache_s, why="no process started warm")]
        for g in cached
    ]  # fmt: skip
    return [
        "### Start-up with a cold and a warm compile cache",
        "",
        md_table([*KEY, "start-up s, cold cache", "start-up s, warm cache"], rows),
        "",
        "Medians over the processes that started with an empty (cold) or an already filled (warm) on-disk "
        "compile cache (torch.compile's, for instance): what a first run on a machine costs, and what every "
        "later one does.",
        "",
    ]


def mb(x) -> str:
    return cell(x, why="not recorded")


def section_memory(shown: list[Group]) -> list[str]:
    rows = [[*g.key, mb(g.rss_import_mb), mb(g.rss_build_mb), mb(g.peak_rss_mb)] for g in shown]
    header = [*KEY, "MB after import", "MB after build", "peak MB, training included"]
    if any(measured(g.device_peak_mb) for g in shown):
        rows = [[*row, cell(g.device_peak_mb, why="not on a GPU")] for row, g in zip(rows, shown)]
        header.append("device peak MB (the framework's own count)")
    return [
        "### Memory",
        "",
        md_table(header, rows),
        "",
        "Resident memory of the whole worker process (RSS), median over processes: after the framework's import, "
        "after the first build, and its peak while training.",
        "",
    ]


def section_threads(shown: list[Group]) -> list[str]:
    def flag(g: Group) -> str:
        if g.threads_exceeded is None:
            return "not measured (no CPU ratio or thread count)"
        threads = f"{g.threads} thread" + ("s" if g.threads != 1 else "")
        return f"exceeds its {threads}" if g.threads_exceeded else "within its threads"

    rows = [[*g.key, cell(g.threads, str), cell(g.cpu_ratio, why="not recorded"), flag(g)] for g in shown]
    return [
        "### Threads",
        "",
        md_table([*KEY, "threads", "CPU time / wall time", "flag"], rows),
        "",
        "CPU time / wall time of the worker process over each timed window, median over windows and processes. "
        f"Above the row's thread count by more than {THREADS_SLACK:g}, more threads ran than the setting allows "
        "(a framework's own pool, say), and the row is flagged.",
        "",
    ]


TARGET_WORDS = {
    "met": "met",
    "missed": "missed",
    "undecided": "undecided (the 95% interval spans the target)",
    "met on the medians": "met on the medians (too few processes to decide on the interval)",
    "missed on the medians": "missed on the medians (too few processes to decide on the interval)",
}


def target_row(t: Target) -> list[str]:
    if t.a_us is None or t.b_us is None:
        missing = " and ".join("/".join(k) for k, v in ((t.a, t.a_us), (t.b, t.b_us)) if v is None)
        return [t.what, f"≤ {t.target:g}×", f"not measured ({missing} not timed)", "not measured"]
    interval = f" ({sig(t.versus.low)}–{sig(t.versus.high)})" if t.versus and t.versus.low is not None else ""
    ratio = f"{sig(t.a_us)} / {sig(t.b_us)} µs = {sig(t.ratio)}×{interval}"
    return [t.what, f"≤ {t.target:g}×", ratio, TARGET_WORDS[t.verdict]]


def section_targets(summary: Summary) -> list[str]:
    lines = ["## 5. Tuned modes: targets and the compiled floor", ""]
    if "runs.csv" in summary.missing:
        return lines + [f"not measured ({summary.missing['runs.csv']})", ""]
    header = ["comparison (same run)", "target", "ratio (95% interval)", "verdict"]
    lines += [
        md_table(header, [target_row(t) for t in summary.targets]),
        "",
        "A target is met where the whole 95% interval of the ratio (over the two rows' processes) is at or below "
        f"it, missed where the whole interval is above it; where a row has fewer than {MIN_PROCESSES} processes (the "
        "article presets are timed in one), the verdict is on the medians alone.",
        "",
    ]
    lines += ladders_table(summary.ladders) + keras_fits_table(summary.keras_fits)
    floor, names = summary.floor, summary.floor_names
    if floor is None:
        how = "; ".join(f"no {n} timing row; pip install '{REGISTRY[n].extra}'" for n in names)
        return lines + [f"Compiled floor: not measured ({how or 'no floor backend registered'})", ""]
    timed = sorted((g for g in summary.groups if measured(g.us) and g.key[0] not in names), key=lambda g: g.us)
    return lines + [
        f"Compiled floor ({floor.key[0]}, {sig(floor.us)} µs/epoch: the same maths as plain compiled loops). "
        "How far each backend and mode is from it, per epoch (dashed line in the time-per-epoch figure):",
        "",
        md_table(
            ["backend", "device", "mode", "µs/epoch", "× floor"],
            [[*g.key, sig(g.us), f"{sig(g.us / floor.us)}×"] for g in timed],
        ),
        "",
    ]


def step_row(step: Step) -> list[str]:
    """A group and its ratio to the reference (the reference's own row says so)."""
    g = step.group
    if step.versus is not None:
        against = versus_text(step.versus)
    else:
        against = "the reference" if measured(g.us) and g.key[2] == "idiomatic" else "not measured (a side not timed)"
    return [*g.key, us_text(g), against]


def ladders_table(ladders: tuple[tuple[Step, ...], ...]) -> list[str]:
    """Idiomatic → compiled → tuned per framework: what each step buys, with its interval."""
    if not ladders:
        return []
    rows = [step_row(s) for ladder in ladders for s in ladder]
    return [
        "Each framework's modes, idiomatic → compiled (its documented one-line speed switch) → tuned, "
        "each against the idiomatic mode (per-process medians, 95% bootstrap interval of the ratio):",
        "",
        md_table(["backend", "device", "mode", "µs/epoch (95% interval)", "× idiomatic (95% interval)"], rows),
        "",
    ]


def keras_fits_table(fits: tuple[Step, ...]) -> list[str]:
    """Keras' model.fit on each of its backends, side by side: the backend choice alone."""
    if len(fits) < 2:
        return []
    rows = [[f"{s.group.key[0]} ({REGISTRY[s.group.key[0]].packages[0]})", *step_row(s)[1:]]
            for s in fits]  # fmt: skip
    return [
        "Keras' `model.fit` (the idiomatic mode) on each Keras backend, against Keras on TensorFlow:",
        "",
        md_table(["Keras on", "device", "mode", "µs/epoch (95% interval)", "× on TensorFlow (95% interval)"], rows),
        "",
    ]


def section_env(summary: Summary) -> list[str]:
    lines = ["## 6. Environment", "", ENV_CAVEAT, ""]
    if summary.environment is None:
        return lines + [f"not measured ({summary.missing['env.json']})", ""]
    absent = "not measured (not in env.json)"
    rows = [[name, absent if value in (None, "") else str(value)] for name, value in summary.environment]
    return lines + [md_table(["fact", "value"], rows), ""]


def section_sweep(summary: Summary, drawn: frozenset[str]) -> list[str]:
    """`xorbench sweep`'s sweep.csv, when this folder has one: a log-log figure and the crossovers."""
    lines, sweep = ["## 7. Scaling sweep", ""], summary.sweep
    if sweep.why:
        return lines + [f"not measured ({sweep.why})", ""]
    lines += [
        f"Per-epoch time of the matched network (float32, plain SGD, full batch) widened to hidden units and fed "
        f"batch samples: {sweep.cells} cells timed, {sweep.failed} skipped or failed (reasons in sweep.csv).",
        "",
    ]
    if figures.SWEEP in drawn:
        lines += ["![Per-epoch time against hidden × batch](sweep.png)", ""]
    return lines + [*[f"- {line}" for line in crossover_lines(sweep.crossovers)], ""]


# ---------------------------------------------------------------- render: the classic experiment


def section_classic(classic: Classic, drawn: frozenset[str]) -> list[str]:
    """The 1986 experiment: per backend and mode its seeds converged and when, how alike they converged,
    how alike their curves are, and what the paper reported beside it."""
    lines = ["## 8. The classic experiment (Rumelhart, Hinton & Williams, 1986)", ""]
    if classic.why:
        return lines + [f"not measured ({classic.why})", ""]
    header = [*KEY, "seeds", "converged (95% Wilson)", "within (epochs)", "epochs to converge: median (range)"]
    lines += [md_table(header, [classic_cells(r) for r in classic.rows]), "", CONVERGED_NOTE, ""]
    lines += borrowed_classic(classic.rows)
    if figures.CLASSIC in drawn:
        lines += [f"![Epochs to converge per seed]({figures.CLASSIC})", ""]
    lines += [ecdf_text(classic), "", "### Curve agreement (classic preset)", ""]
    if classic.curves.why:
        lines += [f"not measured ({classic.curves.why})", ""]
    else:
        lines += curve_agreement(classic.curves, "Runs end at different epochs: only the epochs both series trained "
                                 "are compared.")  # fmt: skip
    return lines + section_paper(classic.rows)


def classic_cells(r: ClassicRow) -> list[str]:
    if r.status != "ok":
        return [*r.key] + [f"not measured ({r.status})"] * 4
    mark = borrowed(r)
    if r.cap is not None:
        within = f"{r.cap:,}"
    else:
        within = f"every seed converged; the longest run trained {r.longest:,}" if r.longest else "not recorded"
    if r.epochs:
        epochs = f"{r.median:.0f} ({r.epochs[0]:,}–{r.epochs[-1]:,}){mark}"
    else:
        epochs = "not measured (no seed converged)"
    return [*r.key, str(r.seeds), success_text(r.converged, r.seeds) + mark, within, epochs]


def borrowed_classic(rows: tuple[ClassicRow, ...]) -> list[str]:
    said = [f"{label(r.key)} copies the {r.borrowed_from} mode's seeds (marked “from {r.borrowed_from}”)." for r in
            rows if r.borrowed_from]  # fmt: skip
    return ["Borrowed convergence: " + " ".join(said), ""] if said else []


def ecdf_text(classic: Classic) -> str:
    """Whether the groups that trained their own seeds converged alike, seed by seed (computed)."""
    a = classic.agreement
    if a is None:
        return "ECDF agreement: not measured (fewer than two backends or modes trained their own classic seeds)."
    if not a.seeds:
        return f"ECDF agreement: not measured (the {a.groups} backends and modes share no seed)."
    if not a.differing:
        return (
            f"**The ECDFs coincide:** on each of the {a.seeds} seeds that all {a.groups} backends and modes trained, "
            "they converged at the same epoch or all failed to, so their ECDFs are one curve (the largest gap between "
            "two is 0). Borrowing modes copy their lender's seeds and are left out."
        )
    by = f", by up to {a.largest:,} epochs (seed {a.at_seed})" if a.largest is not None else ""
    gap = f", between {label(a.gap_between[0])} and {label(a.gap_between[1])}" if a.gap_between else ""
    return (
        f"**The ECDFs differ:** on {a.differing} of the {a.seeds} seeds that all {a.groups} backends and modes "
        f"trained, the epoch they converged at (or whether they did) differs{by}; the largest gap between two ECDFs "
        f"(Kolmogorov–Smirnov D) is {a.gap:.2g}{gap}. Borrowing modes copy their lender's seeds and are left out."
    )


def not_converged_text(r: ClassicRow) -> str:
    return f"{r.seeds - r.converged} of {r.seeds}" + (f" within {r.cap:,} epochs" if r.cap else "")


def same_or_each(rows: list[ClassicRow], text) -> str:
    """text(row) once where every row has the same, else per row."""
    said = {text(r) for r in rows}
    if len(said) == 1:
        return f"{said.pop()}, every backend and mode"
    return "; ".join(f"{label(r.key)}: {text(r)}" for r in rows)


def section_paper(rows: tuple[ClassicRow, ...]) -> list[str]:
    """This run beside the paper: its measured figures, computed from the table, and the paper's, quoted."""
    own = [r for r in rows if r.status == "ok" and not r.borrowed_from]
    if not own:
        return []
    medians = sorted({r.median for r in own if r.epochs})
    if not medians:
        epochs = "not measured (no seed converged)"
    elif len({r.epochs for r in own}) == 1:
        epochs = f"median {medians[0]:.0f} (range {own[0].epochs[0]:,}–{own[0].epochs[-1]:,}), every backend and mode"
    else:
        epochs = f"medians {medians[0]:.0f}–{medians[-1]:.0f} across backends and modes"
    stuck = same_or_each(own, not_converged_text)
    lr = sorted({r.lr for r in own if measured(r.lr)})
    step = (", ".join(f"lr {x:g} on ½·MSE, the step of η = {x / PAPER_PATTERNS:g} on the paper's E" for x in lr)
            or "not measured (no lr in runs.csv)")  # fmt: skip
    momentum = sorted({r.momentum for r in own if measured(r.momentum)})
    rows_ = [
        ["epochs to converge", epochs, PAPER["epochs"]],
        ["seeds not converged", stuck, PAPER["stuck"]],
        ["step size", step, PAPER["step"]],
        ["momentum", ", ".join(f"{x:g}" for x in momentum) or "not measured (runs.csv has no momentum column)",
         PAPER["momentum"]],
        ["hidden units against presentations", "not measured (one network size per run)", PAPER["chauvin"]],
    ]  # fmt: skip
    return [
        "### Beside the paper",
        "",
        md_table(["measure", "this run", "the paper (ch. 8)"], rows_),
        "",
        CLASSIC_DEVIATION,
        "",
        f"Source: {CLASSIC_SOURCE}.",
        "",
    ]


# ---------------------------------------------------------------- render: a second full run


RERUN_NOTE = (
    "Run A is the other full default run, whose tables are in rerun/; run B is this one. Each row's µs per epoch is "
    "the median over its processes in that run; max/min is the larger of the two over the smaller; B/A, its 95% "
    "interval over both runs' processes and the verdict are `xorbench compare rerun .`'s. Target: every row within "
    f"{pct(AGREE - 1)} (max/min ≤ {AGREE:.2f}) and the same order of rows by speed in both runs."
)


def run_text(env: dict | None) -> str:
    if env is None:
        return "no env.json"
    return f"{env.get('timestamp') or 'an unrecorded time'}, commit {env.get('git_commit') or 'not recorded'}"


def machine_text(rerun: Rerun) -> str:
    """Where the second run ran, as far as env.json tells: its CPU model against this run's."""
    cpu_a, cpu_b = ((env or {}).get("cpu_model") for env in (rerun.env_a, rerun.env_b))
    if not (cpu_a and cpu_b):
        return ""
    return " on the same CPU model" if cpu_a == cpu_b else f" on another CPU ({cpu_a}; this run: {cpu_b})"


def key_name(key: tuple) -> str:
    """A row of the comparison as README's headline names it: "numpy (tuned)", "numba floor"."""
    return headline_name(dict(zip(KEY, key)))


def told_apart(s: Swap) -> str:
    told = [run for run, v in (("A", s.in_a), ("B", s.in_b)) if distinguishable(v)]
    if len(told) == 1:
        return f"told apart in run {told[0]} only"
    return "told apart in both runs" if told else "told apart in neither run"


def agreement_text(rerun: Rerun) -> str:
    w, n, k = worst(rerun), len(rerun.rows), within(rerun)
    how = f"within {100 * (spread(w) - 1):.1f}% per row" if k == n else f"within {pct(AGREE - 1)} on {k} of {n} rows"
    return f"agreed {how} (worst: {key_name(w.key)}, max/min {spread(w):.3f})"


def order_text(rerun: Rerun) -> str:
    if not rerun.swaps:
        return "with the same order of rows by speed"
    pairs = "; ".join(f"{key_name(s.first)} and {key_name(s.second)}, {told_apart(s)}" for s in rerun.swaps)
    n = len(rerun.swaps)
    return f"with {n} pair{'s' if n != 1 else ''} of rows in the other order by speed ({pairs})"


def rerun_sentence(rerun: Rerun) -> str:
    """README's and the report's one sentence on how the two full runs agree."""
    return f"A second full run{machine_text(rerun)} {agreement_text(rerun)}, {order_text(rerun)}."


def rerun_row(row) -> list[str]:
    v = row.versus
    ends = [f"{sig(row.a_us)} (n={v.n_a})", f"{sig(row.b_us)} (n={v.n_b})", f"{spread(row):.3f}"]
    return [*row.key[:3], *ends, ratio_text(v), verdict_words(v)]


def section_rerun(rerun: Rerun) -> list[str]:
    """This run against the second full run in rerun/: per row both figures, their max/min and the verdict;
    the worst row, how many are within the target, and whether the order by speed is the same."""
    lines = ["## 9. Reproducibility: a second full run", ""]
    if rerun.why:
        return lines + [f"not measured ({rerun.why})", ""]
    header = [*KEY, "A µs/epoch (n)", "B µs/epoch (n)", "max/min", "B/A (95% interval)", "verdict"]
    w, n, k = worst(rerun), len(rerun.rows), within(rerun)
    met = k == n and not rerun.swaps
    return lines + [
        f"Run A (rerun/): {run_text(rerun.env_a)}. Run B (this run): {run_text(rerun.env_b)}.",
        "",
        md_table(header, [rerun_row(r) for r in rerun.rows]),
        "",
        RERUN_NOTE,
        "",
        f"- Worst row: {label(w.key[:3])}, max/min {spread(w):.3f}.",
        f"- Within {pct(AGREE - 1)}: {k} of {n} rows.",
        f"- Order by speed: {order_lines(rerun)}",
        f"- Target: {'met' if met else 'missed'}. {rerun_sentence(rerun)}",
        "",
    ]


def order_lines(rerun: Rerun) -> str:
    if not rerun.swaps:
        return "the same in both runs."
    swapped = "; ".join(
        f"{label(s.first[:3])} is faster in A, {label(s.second[:3])} in B; {label(s.second[:3])} / "
        f"{label(s.first[:3])} is {ratio_text(s.in_a)} in A and {ratio_text(s.in_b)} in B: {told_apart(s)}"
        for s in rerun.swaps
    )
    return f"differs for {len(rerun.swaps)} pair{'s' if len(rerun.swaps) != 1 else ''}: {swapped}."


# ---------------------------------------------------------------- entry points


@dataclass(frozen=True)
class Written:
    """What write_report did: the report's path, and the warnings it printed at its top."""

    path: Path
    warnings: tuple[str, ...]


def render_report(out_dir: Path, figures: bool = True) -> Written:
    """Load, summarise, draw, render: REPORT.md and its figures (text only unless `figures`: matplotlib
    takes most of a render's seconds) next to the tables in out_dir."""
    out_dir = Path(out_dir)
    summary = summarise(load(out_dir))
    drawn = draw(summary, out_dir, figures)
    path = out_dir / "REPORT.md"
    write_atomic(path, render(summary, drawn, rerun_of(out_dir, summary.preset)))
    return Written(path, summary.warnings)


def write_report(out_dir: Path, figures: bool = True) -> Path:
    """Render REPORT.md and the figures it links, next to the tables in out_dir; return REPORT.md's path."""
    return render_report(out_dir, figures).path


# ---------------------------------------------------------------- README's headline table


def headline_name(row: pd.Series) -> str:
    backend, device, mode = row["backend"], row["device"], row["mode"]
    name = f"{backend} floor" if backend in floor_backends() else f"{backend} ({mode})"
    return name if device == "cpu" else f"{name} on {device}"


def headline_figure(x, low, high) -> str:
    """A median and its interval from summary.csv's cells; the median alone where there is no interval."""
    x, low, high = as_float(x), as_float(low), as_float(high)
    if x is None:
        return "not measured (not timed)"
    return f"{sig(x)} ({sig(low)}–{sig(high)})" if low is not None and high is not None else sig(x)


def headline_cells(row: pd.Series, bare: dict) -> list[str]:
    us = headline_figure(row["epoch_us"], row["epoch_us_ci_low"], row["epoch_us_ci_high"])
    unresolved, processes = as_float(row.get("unresolved")), as_float(row["processes"])
    if unresolved and processes:
        us += f"; {int(processes - unresolved)} of {int(processes)} processes resolved a per-epoch cost"
    if row["mode"] == "idiomatic" and (row["backend"], row["device"]) in bare:
        us += f"; {sig(bare[row['backend'], row['device']])} for the article's own code, timed bare"
    startup = headline_figure(row["startup_s"], row["startup_ci_low"], row["startup_ci_high"])
    seeds, success = as_float(row["seeds"]), as_float(row["success"])
    mark = f" (from {row['borrowed_from']})" if row["borrowed_from"] else ""
    solved = f"{int(success)}/{int(seeds)}{mark}" if seeds and success is not None else "not measured (no seeds)"
    return [headline_name(row), us, startup, solved]


def headline(out_dir: Path) -> str:
    """README's headline table, from a run's summary.csv (computed from runs.csv where the run has none):
    one row per timed backend and mode of the matched preset, fastest first; below it, where the run has
    a second full run in rerun/, one sentence on how the two agree."""
    rows, why = read_summary(Path(out_dir))
    if rows is None:
        raise ValueError(f"no headline table: {why}")
    rows = rows.assign(epoch_us=pd.to_numeric(rows["epoch_us"], errors="coerce"))
    bare = rows[(rows["preset"] == "article-bare") & rows["epoch_us"].notna()]
    bare = {(b, d): us for b, d, us in zip(bare["backend"], bare["device"], bare["epoch_us"])}
    timed = rows[(rows["preset"] == "matched") & rows["epoch_us"].notna()].sort_values("epoch_us", kind="stable")
    seeds = {int(s) for s in pd.to_numeric(timed["seeds"], errors="coerce").dropna()}
    processes = {int(p) for p in pd.to_numeric(timed["processes"], errors="coerce").dropna()}
    over, interval = "median over processes", "95% interval"
    if processes == {1}:
        over, interval = "median", "one process: no interval"
    elif len(processes) == 1:
        over = f"median over {processes.pop()} processes"
    header = [
        "backend (mode)",
        f"µs per epoch, matched preset ({over}; {interval})",
        f"start-up s (import + build + first epoch; {interval})",
        f"solved, {seeds.pop()} seeds" if len(seeds) == 1 else "solved",
    ]
    table = md_table(header, [headline_cells(row, bare) for _, row in timed.iterrows()])
    rerun = rerun_of(Path(out_dir))
    return table if rerun.why else f"{table}\n\n{rerun_sentence(rerun)}"


def update_readme(readme: Path, out_dir: Path) -> bool:
    """Replace the text between README's headline markers with headline(out_dir); True if it changed."""
    readme = Path(readme)
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{readme} has no {README_START} … {README_END} markers")
    block = f"{README_START}\n{headline(out_dir)}\n{README_END}"
    updated = pattern.sub(lambda _: block, text, count=1)
    if updated == text:
        return False
    write_atomic(readme, updated)
    return True
