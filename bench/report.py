"""Render `REPORT.md`, its figures and README's headline from a run's tables alone (docs/TABLES.md).

Load and summarise live in bench/summary.py (plain data, no Markdown); this module draws that data with
bench/figures.py, lays its tables out with bench/report_tables.py, and hands both to the Jinja2 template
bench/templates/REPORT.md.j2, which holds every sentence: compute, then draw, then print. How each number
is measured is docs/METHODOLOGY.md, which the report links. A value the template names but the context
lacks fails the render (StrictUndefined); whatever the run lacks prints as "not measured (reason)".
"""

from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd

from ..backends import LOSS_TARGET, REGISTRY, floor_backends  # the registry; imports no framework
from . import figures, predict, report_tables
from .compare import AGREE, Rerun, distinguishable, rerun_of, spread, within, worst
from .digest import summarise
from .drawing import draw
from .findings import Summary
from .load import as_float, load, measured, read, read_env
from .rows import AdviceRow
from .sections import PAPER_ETA, PAPER_PATTERNS, PAPER_SWEEPS
from .stats import FEW, MIN_PROCESSES, SAME, SLOWER
from .summary import KEY, THREADS_SLACK, Group, read_summary
from .sweep_stats import crossover_lines
from .tables import write_atomic
from .text import (
    cell,
    interval_text,
    label,
    md_table,
    pct,
    ratio_text,
    seeds_text,
    short_commit,
    sig,
    success_text,
    times_text,
    verdict_words,
    versus_text,
    whole_clause,
)

FIGURES = figures.FIGURES
README_START, README_END = "<!-- headline:start -->", "<!-- headline:end -->"
TEMPLATES = Path(__file__).resolve().parent / "templates"
METHODOLOGY = Path(__file__).resolve().parent.parent / "docs" / "METHODOLOGY.md"  # in a checkout, not a wheel


# ---------------------------------------------------------------- the template and its filters


def key_name(key: tuple) -> str:
    """A row as README's headline names it: "numpy (tuned)", "numba floor"."""
    return headline_name(dict(zip(KEY, key)))


def told_runs(swap) -> list[str]:
    """The runs, of A and B, in which a swapped pair is told apart."""
    return [run for run, v in (("A", swap.in_a), ("B", swap.in_b)) if distinguishable(v)]


def run_text(env: dict | None) -> str:
    if env is None:
        return "no env.json"
    return f"{env.get('timestamp') or 'an unrecorded time'}, commit {env.get('git_commit') or 'not recorded'}"


def rate(g: Group) -> float:
    return g.solved / g.seeds


@functools.cache
def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(
        sig=sig, pct=pct, g=lambda x: f"{x:g}", thousands=lambda x: f"{x:,}", interval=interval_text, label=label,
        ratio=ratio_text, times=times_text, verdict=verdict_words, versus=versus_text, cell=cell, measured=measured,
        seeds=seeds_text, commit=short_commit,
        clause=whole_clause, run_name=key_name, told_runs=told_runs, worst=worst, within=within, spread=spread,
        distinguishable=distinguishable, run_of=run_text, extra=lambda name: REGISTRY[name].extra,
        not_converged=report_tables.not_converged, rate=rate,
    )  # fmt: skip
    env.tests.update(
        measured=measured,
        start_heavy=lambda g: g.startup_s > g.training_s,
        rate_is=lambda g, r: rate(g) == r,
    )
    env.globals.update(
        MIN_PROCESSES=MIN_PROCESSES, LOSS_TARGET=LOSS_TARGET, THREADS_SLACK=THREADS_SLACK, AGREE=AGREE,
        SLOWER=SLOWER, SAME=SAME, FEW=FEW, PAPER_SWEEPS=PAPER_SWEEPS, PAPER_ETA=PAPER_ETA,
        PAPER_PATTERNS=PAPER_PATTERNS, success=success_text, WITHIN=predict.WITHIN, inf=math.inf,
    )  # fmt: skip
    return env


def macros():
    """The template's shared sentences (bench/templates/macros.md.j2), callable from Python."""
    return templates().get_template("macros.md.j2").module


def tidy(text: str) -> str:
    """The template's output as Markdown: a paragraph's lines joined into one, trailing spaces and runs of
    blank lines dropped. Table rows, headings, list items and images keep their own lines."""
    lines: list[str] = []
    for line in (raw.rstrip() for raw in text.splitlines()):
        previous = lines[-1] if lines else ""
        joins = (
            previous
            and line
            and not previous.startswith(("|", "#", "!["))
            and not line.startswith(("|", "#", "- ", "!["))
        )
        if joins:
            lines[-1] = f"{previous} {line.lstrip()}"
        elif line or previous:
            lines.append(line)
    return "\n".join(lines).strip() + "\n"


def methodology_link(out_dir: Path | None):
    """The template's `methods(anchor)`: a link to docs/METHODOLOGY.md from the report's folder, where
    this is a checkout that has it; else its name."""

    def methods(anchor: str = "") -> str:
        name = "docs/METHODOLOGY.md" + (f"#{anchor}" if anchor else "")
        if out_dir is None or not METHODOLOGY.exists():
            return f"{name} in xorbench's source"
        target = Path(os.path.relpath(METHODOLOGY, Path(out_dir).resolve())).as_posix()
        return f"[{name}]({target}{'#' + anchor if anchor else ''})"

    return methods


# ---------------------------------------------------------------- draw


def advice_of(out_dir: Path) -> list[AdviceRow]:
    """advice.csv's checked workloads, where the folder has one."""
    frame, _ = read(Path(out_dir) / predict.ADVICE, AdviceRow)
    if frame is None:
        return []
    return [AdviceRow(**{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
            for row in frame.to_dict("records")]  # fmt: skip


# ---------------------------------------------------------------- render


@dataclass(frozen=True)
class Band:
    """A loss-curve series drawn over fewer epochs than the longest: where it ends."""

    key: tuple
    last: int


@dataclass(frozen=True)
class Solve:
    """The quickest to a solved network: from a fresh process (import + cold time-to-solve), and warm."""

    cold: Group | None
    warm: Group | None


def short_bands(summary: Summary) -> list[Band]:
    bands = summary.curves.bands
    if not bands:
        return []
    last = max(int(b.epochs.max()) for b in bands)
    return [Band(b.key, int(b.epochs.max())) for b in bands if int(b.epochs.max()) < last]


def solve_of(groups: tuple[Group, ...]) -> Solve:
    cold = [g for g in groups if measured(g.tts_cold_s) and measured(g.import_s)]
    warm = [g for g in groups if measured(g.tts_warm_s)]
    return Solve(
        min(cold, key=lambda g: g.import_s + g.tts_cold_s, default=None),
        min(warm, key=lambda g: g.tts_warm_s, default=None),
    )


def render(
    summary: Summary, drawn: frozenset[str] = frozenset(), rerun: Rerun | None = None, out_dir: Path | None = None
) -> str:
    """REPORT.md's text: the summary through the template, linking the figures in `drawn` (and, from
    out_dir, docs/METHODOLOGY.md); with the second full run in rerun/ compared with this one, where given."""
    advice = advice_of(out_dir) if out_dir is not None else []  # advise --check's workloads
    context = {
        "s": summary,
        "drawn": drawn,
        "rerun": rerun,
        "tables": report_tables.tables(summary, lambda m: str(macros().method_text(m)), rerun),
        "methods": methodology_link(out_dir),
        "short_bands": short_bands(summary),
        "solve": solve_of(summary.groups),
        "crossovers": crossover_lines(summary.sweep.crossovers) if summary.sweep.crossovers else [],
        "advice": advice,
        "tally": predict.tally(advice),
    }
    return tidy(templates().get_template("REPORT.md.j2").render(context))


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
    write_atomic(path, render(summary, drawn, rerun_of(out_dir, summary.preset), out_dir))
    if figures:  # only now: until the new REPORT.md is in place, the old one's figures stay beside it
        clear(out_dir, keep=drawn | {"REPORT.md"})
    return Written(path, summary.warnings)


REPORT_FILES = ("REPORT.md", *FIGURES, figures.SWEEP, figures.WINNERS)


def clear(out_dir: Path, keep: frozenset[str] = frozenset()) -> None:
    """Delete the report and figures in out_dir but those in `keep`: a run clears an older run's before
    it writes its tables, so no report is left beside tables it was not rendered from."""
    for name in REPORT_FILES:
        if name not in keep:
            (Path(out_dir) / name).unlink(missing_ok=True)


def write_report(out_dir: Path, figures: bool = True) -> Path:
    """Render REPORT.md and the figures it links, next to the tables in out_dir; return REPORT.md's path."""
    return render_report(out_dir, figures).path


# ---------------------------------------------------------------- README's headline table


def headline_name(row: pd.Series) -> str:
    backend, device, mode = row["backend"], row["device"], row["mode"]
    name = f"{backend} floor" if backend in floor_backends() else f"{backend} ({mode})"
    return name if device == "cpu" else f"{name} on {device}"


def headline_figure(x, low, high, level=None) -> str:
    """A median and its interval from summary.csv's cells (with the interval's level where it has one); the
    median alone where there is no interval."""
    x, low, high, level = as_float(x), as_float(low), as_float(high), as_float(level)
    if x is None:
        return "not measured (not timed)"
    if low is None or high is None:
        return sig(x)
    return f"{sig(x)} ({sig(low)}–{sig(high)}{f', {level:.0%}' if level is not None else ''})"


def headline_cells(row: pd.Series, bare: dict) -> list[str]:
    us = headline_figure(row["epoch_us"], row["epoch_us_ci_low"], row["epoch_us_ci_high"], row["epoch_us_ci_level"])
    unresolved, processes = as_float(row.get("unresolved")), as_float(row["processes"])
    if unresolved and processes:
        us += f"; {int(processes - unresolved)} of {int(processes)} processes resolved a per-epoch cost"
    if row["mode"] == "idiomatic" and (row["backend"], row["device"]) in bare:
        us += f"; {sig(bare[row['backend'], row['device']])} for the article's own code, timed bare"
    startup = headline_figure(row["startup_s"], row["startup_ci_low"], row["startup_ci_high"])
    seeds, solved = as_float(row["seeds"]), as_float(row["solved"])
    mark = f" (from {row['borrowed_from']})" if row["borrowed_from"] else ""
    solved = f"{int(solved)}/{int(seeds)}{mark}" if seeds and solved is not None else "not measured (no seeds)"
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
    levels = pd.to_numeric(timed["epoch_us_ci_level"], errors="coerce").notna().any()
    over, interval, start = "median over processes", "interval, its level" if levels else "95% interval", "95% interval"
    if processes == {1}:
        over, interval = "median", "one process: no interval"
        start = interval
    elif len(processes) == 1:
        over = f"median over {processes.pop()} processes"
    header = [
        "backend (mode)",
        f"µs per epoch, matched preset ({over}; {interval})",
        f"start-up s (import + build + first epoch; {start})",
        f"solved, {seeds.pop()} seeds" if len(seeds) == 1 else "solved",
    ]
    table = md_table(header, [headline_cells(row, bare) for _, row in timed.iterrows()])
    said = choice(Path(out_dir))
    verdict = f"{macros().headline_verdict(**said).strip()}\n\n" if said else ""
    env, _ = read_env(Path(out_dir))
    run = f"\n\n{macros().headline_run(env).strip()}" if env else ""
    rerun = rerun_of(Path(out_dir))
    return f"{verdict}{table}{run}" + ("" if rerun.why else f"\n\n{macros().rerun_sentence(rerun)}")


def choice(out_dir: Path) -> dict | None:
    """What README's three-line verdict says: the report's own choices (digest.choices_of), so the two
    never disagree: the fastest per epoch, the quickest two end to end at the preset's epochs, and after
    how many epochs the fastest per epoch overtakes the quickest to start. None for a run without runs.csv."""
    loaded = load(out_dir, curves=False, sweep=False)
    if loaded.runs is None:
        return None
    c = summarise(loaded).choices
    if not c.timed:
        return None
    fast, ends = c.timed[0], c.whole[:2]
    return dict(
        fastest=key_name(fast.key),
        fastest_us=fast.us,
        epochs=ends[0].epochs if ends else None,
        ends=[key_name(g.key) for g in ends],
        totals=[g.total_s for g in ends],
        first=key_name(c.first_start.key) if c.first_start else None,
        payback=c.payback_epochs,
    )


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
