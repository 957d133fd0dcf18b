"""The report's tables: a summary's rows (bench/summary.py) as Markdown tables of formatted cells.

Each function returns one table, or "" where it has no row; the sentences around them live in the
template (bench/templates/). A missing number prints as "not measured (why)".
"""

from __future__ import annotations

import math

from ..backends import REGISTRY  # the registry; imports no framework
from .compare import Rerun, spread
from .findings import Classic, ClassicRow, Curves, Step, Summary, Target
from .load import measured
from .summary import KEY, Group
from .text import (
    borrowed,
    cell,
    counted,
    label,
    loss_text,
    md_table,
    pct,
    ratio_text,
    sig,
    success_text,
    times_text,
    verdict_words,
    versus_text,
    with_interval,
)

VERDICT_HEADER = [
    "backend", "device", "mode", "µs/epoch (median over processes; interval, its level)", "× fastest (95% interval)",
    "vs fastest", "per-call µs", "start-up s (95% interval)", "time-to-accuracy s, cold (n)",
    "time-to-solve s, cold (n)", "time-to-solve s, warm (n)", "success (95% Wilson)",
    "median epochs-to-accuracy", "median epochs-to-solve", "median final loss",
    "MB to train this net (peak RSS; + device peak on a GPU)",
]  # fmt: skip
TARGET_WORDS = {
    "met": "met",
    "missed": "missed",
    "undecided": "undecided (the 95% interval spans the target)",
    "met on the medians": "met on the medians (too few processes to decide on the interval)",
    "missed on the medians": "missed on the medians (too few processes to decide on the interval)",
}


def tables(summary: Summary, method_text, rerun: Rerun | None) -> dict[str, str]:
    """Every table of the report, by name; `method_text` is the template's sentence for a findings.Method."""
    shown = [g for g in summary.groups if g.status == "ok"]
    return {
        "glance": glance(summary),
        "same_solved": same_solved(summary),
        "verdict": verdict(summary),
        "problems": problems(summary),
        "methods": methods(summary, method_text),
        "curves": curve_pairs(summary.curves),
        "article": article(summary),
        "time": time(summary, shown) if shown else "",
        "cache": cache(shown),
        "memory": memory(shown),
        "threads": threads(shown),
        "targets": targets(summary.targets),
        "ladders": ladders(summary.ladders),
        "keras_fits": keras_fits(summary.keras_fits),
        "floor": floor(summary),
        "environment": environment(summary),
        "classic": classic(summary.classic),
        "classic_curves": curve_pairs(summary.classic.curves),
        "rerun": rerun_table(rerun) if rerun is not None and not rerun.why else "",
    }


# ---------------------------------------------------------------- section 1: the verdict


def us_text(g: Group) -> str:
    """µs per epoch with its interval and the processes behind it."""
    if not measured(g.us):
        return "not measured (not timed)"
    n = len(g.values)
    left_out = f" ({g.unresolved} more resolved no per-epoch cost)" if g.unresolved else ""
    if g.us_ci is None:
        return f"{sig(g.us)} ({n} process{'es' if n != 1 else ''}{left_out}, no interval)"
    level = f", {g.us_ci_level:.0%}" if g.us_ci_level is not None else ""  # older runs: a 95% bootstrap
    return f"{sig(g.us)} ({sig(g.us_ci[0])}–{sig(g.us_ci[1])}{level}), {n} processes{left_out}"


def startup_text(g: Group) -> str:
    return with_interval(g.startup_s, g.startup_ci, g.processes, "not timed")


def memory_text(g: Group) -> str:
    """Peak resident memory, and on a GPU the framework's own peak of device memory beside it."""
    text = cell(g.peak_rss_mb, why="not recorded")
    return text + f" + {sig(g.device_peak_mb)} on the device" if measured(g.device_peak_mb) else text


def against_fastest(g: Group, summary: Summary) -> tuple[str, str]:
    """The × fastest and vs fastest cells."""
    if not measured(g.us) or summary.fastest is None:
        return ("not measured (no time per epoch)",) * 2
    if g.versus is None:
        return f"{sig(1.0)}×", "fastest"
    return ratio_text(g.versus), verdict_words(g.versus)


def verdict_row(g: Group, summary: Summary) -> list[str]:
    if g.status != "ok":
        return [*g.key] + [f"not measured ({g.status})"] * (len(VERDICT_HEADER) - 3)
    ratio, versus = against_fastest(g, summary)
    never = "never solved" if g.seeds else "no runs"
    inaccurate = "never accurate" if g.seeds else "no runs"
    if summary.lacks("runs.csv", "epoch_accurate"):
        inaccurate = "runs.csv from before epoch_accurate"
    tta_why = "never accurate" if g.processes else "not timed"
    if summary.lacks("runs.csv", "time_to_accuracy_s"):
        tta_why = "runs.csv from before time_to_accuracy_s"
    mark = borrowed(g)
    return [
        *g.key,
        us_text(g),
        ratio,
        versus,
        cell(g.call_us, why="below resolution"),
        startup_text(g),
        counted(g.tta_cold_s, g.tta_cold_n, tta_why),
        counted(g.tts_cold_s, g.tts_cold_n, "never solved" if g.processes else "not timed", g.tts_cold_cache),
        counted(g.tts_warm_s, g.tts_warm_n, "no warm solve run"),
        success_text(g.solved, g.seeds) + mark if g.seeds else "not measured (no seeds)",
        cell(g.epochs_to_accuracy, lambda x: f"{x:.0f} ({g.accurate}/{g.seeds} seeds){mark}", why=inaccurate),
        cell(g.epochs_to_solve, lambda x: f"{x:.0f}{mark}", why=never),
        cell(g.final_loss, lambda x: loss_text(x) + mark, why="not recorded"),
        memory_text(g),
    ]


def glance(summary: Summary) -> str:
    """The first screen's table, fastest per epoch first: at most seven columns, each a figure that decides a
    choice. The device is in the row's name only where the run has more than one; the solved seeds only
    where they differ between rows (else the template states them once: same_solved)."""
    timed = glanced(summary)
    devices = {g.key[1] for g in timed}
    name = (
        (lambda g: f"{g.key[0]} ({g.key[2]}, {g.key[1]})")
        if len(devices) > 1
        else (lambda g: f"{g.key[0]} ({g.key[2]})")
    )
    epochs = next((g.epochs for g in timed if measured(g.epochs)), None)
    header = ["backend (mode)", "µs/epoch (interval, level)", "against the fastest per epoch", "start-up s",
              f"start-up + {epochs:,} epochs, s" if epochs else "start-up + epochs, s", "to solved from cold, s (n)",
              "solved seeds"]  # fmt: skip
    rows = [[name(g), us_text(g), times_text(g.versus) if g.versus else "fastest", cell(g.startup_s, why="not timed"),
             cell(g.total_s if measured(g.startup_s) and measured(g.training_s) else None, why="not timed"),
             counted(g.tts_cold_s, g.tts_cold_n, "not solved within the solve budget", g.tts_cold_cache),
             f"{g.solved}/{g.seeds}{borrowed(g)}" if g.seeds else "no seeds"]
            for g in timed]  # fmt: skip
    if same_solved(summary):
        header, rows = header[:-1], [row[:-1] for row in rows]
    return md_table(header, rows) if rows else ""


def glanced(summary: Summary) -> list[Group]:
    """The rows of the first screen's table: every timed one, fastest per epoch first."""
    return sorted((g for g in summary.groups if g.status == "ok" and measured(g.us)), key=lambda g: g.us)


def same_solved(summary: Summary) -> str:
    """ "k/n" where every row of the first screen's table solved k of n seeds, else ""."""
    solved = {f"{g.solved}/{g.seeds}" if g.seeds else "no seeds" for g in glanced(summary)}
    return solved.pop() if len(solved) == 1 and "no seeds" not in solved else ""


def verdict(summary: Summary) -> str:
    order = sorted(summary.groups, key=lambda g: (g.status != "ok", g.us if measured(g.us) else math.inf, g.key))
    return md_table(VERDICT_HEADER, [verdict_row(g, summary) for g in order])


def problems(summary: Summary) -> str:
    if not summary.problems:
        return ""
    rows = [[*row[:5], row[5] or "not measured (no reason given)", row[6]] for row in summary.problems]
    header = ["backend", "device", "mode", "preset", "status", "reason", "runs"]
    return md_table(header, [[str(c) for c in r] for r in rows])


def methods(summary: Summary, method_text) -> str:
    rows = sorted([*m.key, m.preset, m.role, method_text(m)] for m in summary.methods)
    rows = [row for i, row in enumerate(rows) if i == 0 or row != rows[i - 1]]
    return md_table([*KEY, "preset", "role", "method"], rows) if rows else ""


# ---------------------------------------------------------------- sections 2-6


def curve_pairs(curves: Curves) -> str:
    rows = [
        [label(p.a), label(p.b), f"{p.seeds}", f"{p.difference:.3g}", f"seed {p.seed}, epoch {p.epoch}"]
        for p in curves.pairs
    ]
    return md_table(["series a", "series b", "seeds compared", "max relative difference", "at"], rows)


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


def article(summary: Summary) -> str:
    header = [*KEY, "config", "final outputs", "accuracy", "final loss", "training s", "article claims", "here"]
    return md_table(header, [article_cells(row) for row in summary.article]) if summary.article else ""


def time(summary: Summary, shown: list[Group]) -> str:
    header = ["backend", "device", "mode", "import s", "build + first epoch s", "start-up s (95% interval)",
              "steady-state training s", "epochs"]  # fmt: skip
    rows = [
        [*g.key, cell(g.import_s), cell(g.first_epoch_s), startup_text(g), cell(g.training_s),
         cell(g.epochs, lambda x: f"{x:,}")]
        for g in shown
    ]  # fmt: skip
    return md_table(header, rows)


def cache(shown: list[Group]) -> str:
    cached = [g for g in shown if measured(g.startup_cold_cache_s) or measured(g.startup_warm_cache_s)]
    rows = [
        [*g.key, cell(g.startup_cold_cache_s, why="no process started cold"),
         cell(g.startup_warm_cache_s, why="no process started warm")]
        for g in cached
    ]  # fmt: skip
    return md_table([*KEY, "start-up s, cold cache", "start-up s, warm cache"], rows) if rows else ""


def memory(shown: list[Group]) -> str:
    mb = lambda x: cell(x, why="not recorded")  # noqa: E731
    rows = [[*g.key, mb(g.rss_import_mb), mb(g.rss_build_mb), mb(g.peak_rss_mb)] for g in shown]
    header = [*KEY, "MB after import", "MB after build", "peak MB, training included"]
    if any(measured(g.device_peak_mb) for g in shown):
        rows = [[*row, cell(g.device_peak_mb, why="not on a GPU")] for row, g in zip(rows, shown)]
        header.append("device peak MB (the framework's own count)")
    return md_table(header, rows)


def threads(shown: list[Group]) -> str:
    def flag(g: Group) -> str:
        if g.threads_exceeded is None:
            return "not measured (no CPU ratio or thread count)"
        threads = f"{g.threads} thread" + ("s" if g.threads != 1 else "")
        return f"exceeds its {threads}" if g.threads_exceeded else "within its threads"

    rows = [[*g.key, cell(g.threads, str), cell(g.cpu_ratio, why="not recorded"), flag(g)] for g in shown]
    return md_table([*KEY, "threads", "CPU time / wall time", "flag"], rows)


def target_row(t: Target) -> list[str]:
    if t.a_us is None or t.b_us is None:
        missing = " and ".join("/".join(k) for k, v in ((t.a, t.a_us), (t.b, t.b_us)) if v is None)
        return [t.what, f"≤ {t.target:g}×", f"not measured ({missing} not timed)", "not measured"]
    interval = f" ({sig(t.versus.low)}–{sig(t.versus.high)})" if t.versus and t.versus.low is not None else ""
    ratio = f"{sig(t.a_us)} / {sig(t.b_us)} µs = {sig(t.ratio)}×{interval}"
    return [t.what, f"≤ {t.target:g}×", ratio, TARGET_WORDS[t.verdict]]


def targets(found: tuple[Target, ...]) -> str:
    return md_table(
        ["comparison (same run)", "target", "ratio (95% interval)", "verdict"], [target_row(t) for t in found]
    )


def step_row(step: Step) -> list[str]:
    """A group and its ratio to the reference (the reference's own row says so)."""
    g = step.group
    if step.versus is not None:
        against = versus_text(step.versus)
    else:
        against = "the reference" if measured(g.us) and g.key[2] == "idiomatic" else "not measured (a side not timed)"
    return [*g.key, us_text(g), against]


def ladders(ladders: tuple[tuple[Step, ...], ...]) -> str:
    """Idiomatic → compiled → tuned per framework: what each step buys, with its interval."""
    rows = [step_row(s) for ladder in ladders for s in ladder]
    header = ["backend", "device", "mode", "µs/epoch (95% interval)", "× idiomatic (95% interval)"]
    return md_table(header, rows) if rows else ""


def keras_fits(fits: tuple[Step, ...]) -> str:
    """Keras' model.fit on each of its backends, side by side: the backend choice alone."""
    if len(fits) < 2:
        return ""
    rows = [[f"{s.group.key[0]} ({REGISTRY[s.group.key[0]].packages[0]})", *step_row(s)[1:]]
            for s in fits]  # fmt: skip
    return md_table(["Keras on", "device", "mode", "µs/epoch (95% interval)", "× on TensorFlow (95% interval)"], rows)


def floor(summary: Summary) -> str:
    if summary.floor is None:
        return ""
    names, us = summary.floor_names, summary.floor.us
    timed = sorted((g for g in summary.groups if measured(g.us) and g.key[0] not in names), key=lambda g: g.us)
    rows = [[*g.key, sig(g.us), f"{sig(g.us / us)}×"] for g in timed]
    return md_table(["backend", "device", "mode", "µs/epoch", "× floor"], rows)


def environment(summary: Summary) -> str:
    if summary.environment is None:
        return ""
    absent = "not measured (not in env.json)"
    rows = [[name, absent if value in (None, "") else str(value)] for name, value in summary.environment]
    return md_table(["fact", "value"], rows)


# ---------------------------------------------------------------- sections 8 and 9


def classic_cells(r: ClassicRow) -> list[str]:
    if r.status != "ok":
        return [*r.key] + [f"not measured ({r.status})"] * 4
    if r.cap is not None:
        within = f"{r.cap:,}"
    else:
        within = f"every seed converged; the longest run trained {r.longest:,}" if r.longest else "not recorded"
    if r.epochs:
        epochs = f"{r.median:.0f} ({r.epochs[0]:,}–{r.epochs[-1]:,})"
    else:
        epochs = "not measured (no seed converged)"
    return [*r.key, str(r.seeds), success_text(r.converged, r.seeds), within, epochs]


def classic(found: Classic) -> str:
    header = [*KEY, "seeds", "converged (95% Wilson)", "within (epochs)", "epochs to converge: median (range)"]
    return md_table(header, [classic_cells(r) for r in found.rows]) if not found.why else ""


def not_converged(r: ClassicRow) -> str:
    return f"{r.seeds - r.converged} of {r.seeds}" + (f" within {r.cap:,} epochs" if r.cap else "")


def rerun_table(rerun: Rerun) -> str:
    def row(r) -> list[str]:
        v = r.versus
        ends = [f"{sig(r.a_us)} (n={v.n_a})", f"{sig(r.b_us)} (n={v.n_b})", f"{spread(r):.3f}"]
        return [*r.key[:3], *ends, ratio_text(v), verdict_words(v)]

    header = [*KEY, "A µs/epoch (n)", "B µs/epoch (n)", "max/min", "B/A (95% interval)", "verdict"]
    return md_table(header, [row(r) for r in rerun.rows])
