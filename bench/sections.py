"""The report's sections beyond the verdict, each computed from the loaded tables: the loss curves, the
classic (1986) experiment, the article's snippets, the targets, the environment and the sweep."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..backends import REGISTRY  # the registry; imports no framework
from . import figures
from .findings import (
    CLASSIC,
    Agreement,
    ArticleRow,
    Classic,
    ClassicRow,
    CurveBand,
    CurvePair,
    Curves,
    Sweep,
    Target,
)
from .load import Loaded, as_int, max_of, measured, median_of
from .stats import (
    compare_samples,
    median,
    relative_difference,
    wilson,
)
from .summary import ARTICLE_TARGETS, FINISHED, FRAMEWORK_TARGETS, KEY, process_values
from .sweep_stats import crossovers
from .tables import CURVES

# ---------------------------------------------------------------- summarise: curves


def curves_of(loaded: Loaded, preset: str = "matched") -> Curves:
    """A preset's curves: every pair's largest difference at a shared (seed, epoch), and bands over only
    the seeds that every series has, so that the figure compares like with like. Each curve is taken out
    of the table once, as two arrays: at the limit of 10M curve epochs no copy of the table is made."""
    if loaded.curves is None:
        why = loaded.missing.get(CURVES, f"no {CURVES} in this run")
        return Curves(why=why)
    series = finite({key[:3]: seeds for key, seeds in loaded.curves.items() if key[3] == preset})
    if not series:
        return Curves(why=f"{CURVES} has no finite {preset}-preset losses")
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

PAPER_SWEEPS, PAPER_ETA, PAPER_PATTERNS = 558, 0.5, 4  # p. 331: XOR in 558 sweeps at η = 0.5; its E sums 4 patterns


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
    )


def agreement_of(rows: tuple[ClassicRow, ...]) -> Agreement | None:
    """Seed by seed, the epochs to converge of every group that trained its own seeds; and the largest
    gap between two of their ECDFs over the seeds they all have."""
    own = [r for r in rows if r.status == "ok"]
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
        lines.append(figures.SweepLine(device, backend, mode, tuple(cells["hidden"]), tuple(cells["batch"]),
                                       tuple(cells["epoch_us_median"])))  # fmt: skip
    run = (loaded.env or {}).get("sweep")
    return Sweep(len(ok), int((sweep["status"] != "ok").sum()), tuple(lines), crossovers(sweep), run=run)
