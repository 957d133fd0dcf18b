"""Render `REPORT.md` and its figures from a run's tables alone (see docs/TABLES.md).

The report knows nothing about frameworks: a backend is a name in a table. Every
number it prints is read or computed from runs.csv, timings.csv, curves.csv and
env.json; whatever is missing is printed as "not measured (reason)".
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import mannwhitneyu  # noqa: E402

from ..backends import LOSS_TARGET  # noqa: E402  (a constant; imports no framework)
from .tables import write_atomic  # noqa: E402

ALPHA = 0.05  # significance level of the Mann-Whitney U test on the timing repeats
Z95 = 1.959963984540054  # two-sided 95% normal quantile, for the Wilson interval
DPI = 100
KEY = ["backend", "device", "mode"]
FINISHED = ("ok", "diverged")  # statuses whose rows carry measurements
FIGURES = ("epoch_time.png", "loss_curves.png", "time_breakdown.png")

REQUIRED = {
    "runs.csv": ["backend", "device", "mode", "preset", "seed", "status", "reason"],
    "timings.csv": ["backend", "device", "mode", "preset", "repeat", "epoch_us"],
    "curves.csv": ["backend", "device", "mode", "preset", "seed", "epoch", "loss"],
}
NUMERIC = [
    "lr", "epochs", "seed", "threads", "final_loss", "accuracy", "epoch_solved", "train_s", "epoch_us_median",
    "epoch_us_iqr", "epoch_us_min", "first_epoch_s", "time_to_solve_s", "import_s", "repeat", "window_epochs",
    "epoch_us", "epoch", "loss",
]  # fmt: skip

ARTICLE_NOTE = (
    "The article claims that all three of its snippets learn XOR. Each is run here as written, with two changes "
    "that Keras 3 forced on its TensorFlow snippet: the inputs are NumPy arrays instead of Python lists, and "
    "`input_shape=` on the first `Dense` became a `keras.Input` layer."
)
ENV_CAVEAT = (
    "Absolute times hold only for this machine, these versions and these thread settings; "
    "the ratios between backends are what carries over, and only roughly."
)


# ---------------------------------------------------------------- loading


@dataclass
class Tables:
    runs: pd.DataFrame | None = None
    timings: pd.DataFrame | None = None
    curves: pd.DataFrame | None = None
    env: dict | None = None
    missing: dict[str, str] = field(default_factory=dict)  # file name -> why it is not usable


def load_tables(out_dir: Path) -> Tables:
    tables = Tables()
    for name, columns in REQUIRED.items():
        path = out_dir / name
        try:
            frame = pd.read_csv(path, keep_default_na=True)
        except FileNotFoundError:
            tables.missing[name] = f"no {name} in this run"
            continue
        except pd.errors.EmptyDataError:
            tables.missing[name] = f"{name} is empty"
            continue
        absent = [c for c in columns if c not in frame.columns]
        if absent or frame.empty:
            tables.missing[name] = f"{name} lacks columns {', '.join(absent)}" if absent else f"{name} has no rows"
            continue
        for column in NUMERIC:
            if column in frame.columns:
                frame[column] = pd.to_numeric(frame[column], errors="coerce")
        for column in frame.columns:
            if column not in NUMERIC:
                frame[column] = frame[column].fillna("").astype(str)
        setattr(tables, name.removesuffix(".csv"), frame)
    try:
        tables.env = json.loads((out_dir / "env.json").read_text())
    except FileNotFoundError:
        tables.missing["env.json"] = "no env.json in this run"
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        tables.missing["env.json"] = f"env.json is not valid JSON ({error.__class__.__name__})"
    return tables


# ---------------------------------------------------------------- formatting


def sig(x: float, digits: int = 3) -> str:
    """x to `digits` significant figures (whole numbers in full), thousands separated, never e-notation."""
    if x == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{round(x, decimals):,.{decimals}f}"


def loss_text(x: float) -> str:
    return f"{x:.3g}"


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def measured(x) -> bool:
    return x is not None and not (isinstance(x, float) and not math.isfinite(x))


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


# ---------------------------------------------------------------- statistics


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def success_text(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k}/{n} = {pct(k / n)} ({pct(low)}–{pct(high)})"


def median_or_none(values: pd.Series) -> float | None:
    values = values.dropna()
    return float(values.median()) if len(values) else None


def truthy(values: pd.Series) -> pd.Series:
    return values.astype(str).str.strip().str.lower().isin(["true", "1", "1.0", "yes"])


@dataclass(frozen=True)
class Group:
    """One backend × device × mode of one preset, summarised from runs.csv."""

    key: tuple
    status: str  # "ok" when anything was measured, else the status of its rows (skipped, error)
    us: float | None = None  # median steady-state µs per epoch
    us_min: float | None = None  # the fastest window's µs per epoch
    import_s: float | None = None
    first_epoch_s: float | None = None
    epochs: int | None = None
    time_to_solve_s: float | None = None
    solved: int = 0
    seeds: int = 0
    epochs_to_solve: float | None = None
    final_loss: float | None = None

    @property
    def startup_s(self) -> float | None:
        return self.import_s + self.first_epoch_s if measured(self.import_s) and measured(self.first_epoch_s) else None

    @property
    def training_s(self) -> float | None:
        return self.us * self.epochs * 1e-6 if measured(self.us) and measured(self.epochs) else None


def column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(dtype=float)


def summarise(runs: pd.DataFrame) -> list[Group]:
    groups = []
    for key, rows in runs.groupby(KEY, sort=True):
        done = rows[rows["status"].isin(FINISHED)]
        if done.empty:
            groups.append(Group(key, status="/".join(sorted(set(rows["status"])))))
            continue
        role = done.get("role", pd.Series("", index=done.index))
        timing = done[role == "timing"] if (role == "timing").any() else done
        seeds = done[role == "convergence"] if (role == "convergence").any() else done
        solved = truthy(seeds["solved"]) if "solved" in seeds else pd.Series(False, index=seeds.index)
        epochs = median_or_none(column(timing, "epochs"))
        groups.append(
            Group(
                key,
                "ok",
                us=median_or_none(column(timing, "epoch_us_median")),
                us_min=median_or_none(column(timing, "epoch_us_min")),
                import_s=median_or_none(column(timing, "import_s")),
                first_epoch_s=median_or_none(column(timing, "first_epoch_s")),
                epochs=int(epochs) if epochs is not None else None,
                time_to_solve_s=median_or_none(column(done, "time_to_solve_s")),
                solved=int(solved.sum()),
                seeds=len(seeds),
                epochs_to_solve=median_or_none(column(seeds, "epoch_solved")[solved]),
                final_loss=median_or_none(column(seeds, "final_loss")),
            )
        )
    return groups


def repeats_of(timings: pd.DataFrame | None, preset: str, key: tuple) -> np.ndarray:
    if timings is None:
        return np.array([])
    backend, device, mode = key
    chosen = (timings["preset"] == preset) & (timings["backend"] == backend) & (timings["device"] == device)
    return timings.loc[chosen & (timings["mode"] == mode), "epoch_us"].dropna().to_numpy()


def compare(a: np.ndarray, b: np.ndarray) -> tuple[float | None, bool]:
    """Two-sided Mann-Whitney U p-value of the repeats a vs b, and whether it is significant at ALPHA."""
    if len(a) < 1 or len(b) < 1:
        return None, False
    p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return p, p < ALPHA


def compare_groups(tables: Tables, preset: str, a: Group, b: Group) -> tuple[float | None, bool]:
    return compare(repeats_of(tables.timings, preset, a.key), repeats_of(tables.timings, preset, b.key))


# ---------------------------------------------------------------- figures


def colours(keys: list[tuple]) -> dict[tuple, str]:
    palette = plt.get_cmap("tab10").colors
    return {key: palette[i % len(palette)] for i, key in enumerate(sorted(keys))}


def save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def figure_epoch_time(groups: list[Group], tables: Tables, preset: str, path: Path) -> None:
    timed = sorted((g for g in groups if measured(g.us)), key=lambda g: g.us, reverse=True)
    colour = colours([g.key for g in timed])
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(timed) + 1.4))
    rng = np.random.default_rng(0)
    for y, g in enumerate(timed):
        repeats = repeats_of(tables.timings, preset, g.key)
        ax.scatter(repeats, y + rng.uniform(-0.15, 0.15, len(repeats)), s=14, alpha=0.6, color=colour[g.key])
        ax.plot([g.us, g.us], [y - 0.3, y + 0.3], color="black", lw=2)
        ax.annotate(f"  {sig(g.us)} µs", (max(repeats, default=g.us), y), va="center", fontsize=8)
    floor = next((g for g in timed if g.key[0] == FLOOR), None)
    if floor is not None:
        ax.axvline(floor.us, color="grey", ls="--", lw=1)
        ax.annotate(" compiled floor", (floor.us, len(timed) - 0.6), fontsize=8, color="grey")
    ax.set_yticks(range(len(timed)), [label(g.key) for g in timed])
    ax.set_xscale("log")
    ax.set_xlabel("steady-state time per epoch (µs, log scale); dots: repeats, bar: median")
    ax.set_title(f"Time per epoch, {preset} preset")
    ax.margins(x=0.12)
    ax.grid(axis="x", which="both", alpha=0.3)
    save(fig, path)


def figure_loss_curves(curves: pd.DataFrame, path: Path) -> None:
    series_by_key = dict(list(curves.groupby(KEY, sort=True)))
    colour = colours(list(series_by_key))
    styles = ["-", "--", ":", "-."]
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for i, (key, series) in enumerate(series_by_key.items()):
        by_epoch = series.groupby("epoch")["loss"]
        epochs = by_epoch.median().index
        seeds = series["seed"].nunique()
        # bands of curves that agree stack up: keep their combined shade light
        ax.fill_between(epochs, by_epoch.min(), by_epoch.max(), color=colour[key], alpha=0.3 / len(series_by_key), lw=0)
        ax.plot(
            epochs, by_epoch.median(), styles[i % 4], color=colour[key], lw=1.6, label=f"{label(key)}, {seeds} seeds"
        )
    ax.axhline(LOSS_TARGET, color="grey", lw=0.8, ls=":")
    ax.annotate(f"solved: loss < {LOSS_TARGET:g}", (0.01, LOSS_TARGET), xycoords=("axes fraction", "data"),
                va="bottom", fontsize=8, color="grey")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean squared error (log scale)")
    ax.set_title("Loss curves, matched preset: median and min–max band over seeds")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(which="both", alpha=0.2)
    save(fig, path)


def figure_time_breakdown(groups: list[Group], path: Path) -> None:
    parts = [("import", "import_s"), ("build + first epoch", "first_epoch_s"), ("steady-state training", "training_s")]
    fig, ax = plt.subplots(figsize=(8, 0.75 * len(groups) + 1.6))
    height = 0.8 / len(parts)
    for j, (name, attribute) in enumerate(parts):
        values = [getattr(g, attribute) for g in groups]
        ys = [i + (j - 1) * height for i in range(len(groups))]
        shown = [(y, v) for y, v in zip(ys, values) if measured(v) and v > 0]
        ax.barh([y for y, _ in shown], [v for _, v in shown], height=height, label=name, color=f"C{j}")
        for y, v in shown:
            ax.annotate(f" {sig(v)} s", (v, y), va="center", fontsize=7)
    ax.set_yticks(range(len(groups)), [label(g.key) for g in groups])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("seconds (log scale); training = the run's epochs × median time per epoch")
    ax.set_title("Where the time goes")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(axis="x", which="both", alpha=0.25)
    ax.margins(x=0.15)
    save(fig, path)


# ---------------------------------------------------------------- sections


def section_verdict(tables: Tables, preset: str, groups: list[Group], out_dir: Path) -> list[str]:
    lines = [f"## 1. Verdict ({preset} preset)", ""]
    if tables.runs is None:
        return lines + [f"not measured ({tables.missing['runs.csv']})", ""]
    timed = [g for g in groups if measured(g.us)]
    fastest = min(timed, key=lambda g: g.us) if timed else None
    no_timings = tables.missing.get("timings.csv", "")
    header = [
        "backend", "device", "mode", "µs/epoch (median)", "min", "× fastest",
        f"vs fastest (Mann-Whitney U, α={ALPHA:g})", "start-up s (import + build/first epoch)", "time-to-solve s",
        "success (95% Wilson)", "median epochs-to-solve", "median final loss",
    ]  # fmt: skip
    rows = []
    for g in sorted(groups, key=lambda g: (g.status != "ok", g.us if measured(g.us) else math.inf, g.key)):
        if g.status != "ok":
            rows.append([*g.key] + [f"not measured ({g.status})"] * (len(header) - 3))
            continue
        if fastest is None or not measured(g.us):
            ratio = versus = "not measured (no time per epoch)"
        elif g.key == fastest.key:
            ratio, versus = f"{sig(1.0)}×", "fastest"
        else:
            ratio = f"{sig(g.us / fastest.us)}×"
            p, significant = compare_groups(tables, preset, g, fastest)
            if p is None:
                versus = f"not measured ({no_timings or 'no repeats in timings.csv'})"
            else:
                versus = f"{'slower' if significant else 'indistinguishable'} (p={p:.2g})"
        never = "never solved" if g.seeds else "no runs"
        rows.append(
            [
                *g.key,
                cell(g.us, why="not timed"),
                cell(g.us_min, why="not timed"),
                ratio,
                versus,
                cell(g.startup_s, why="not timed"),
                cell(g.time_to_solve_s, why=never if not g.solved else "not timed"),
                success_text(g.solved, g.seeds) if g.seeds else "not measured (no seeds)",
                cell(g.epochs_to_solve, lambda x: f"{x:.0f}", why=never),
                cell(g.final_loss, loss_text, why="not recorded"),
            ]
        )
    lines += [md_table(header, rows), ""]
    lines += [
        "Time per epoch: steady state after warm-up, median over the timed windows; min: the fastest window, the "
        "better estimate of a backend's own cost where other load on a shared machine slows some windows (noise "
        "only ever adds time). "
        f"A backend is called slower than "
        f"the fastest only where the two-sided Mann-Whitney U test on the repeats in timings.csv gives p < {ALPHA:g}. "
        f"Solved: loss below {LOSS_TARGET:g} (which implies 100% accuracy); success is over the convergence seeds.",
        "",
    ]
    if timed:
        figure_epoch_time(groups, tables, preset, out_dir / "epoch_time.png")
        lines += ["![Time per epoch](epoch_time.png)", ""]
    lines += section_problems(tables.runs)
    lines += section_methods(tables.runs)
    lines += ["### Which to choose when", ""] + [f"- {s}" for s in choose(groups, tables, preset)] + [""]
    return lines


def section_problems(runs: pd.DataFrame) -> list[str]:
    bad = runs[runs["status"] != "ok"]
    if bad.empty:
        return []
    counted = bad.groupby([*KEY, "preset", "status", "reason"], sort=True).size().reset_index(name="runs")
    counted["reason"] = counted["reason"].replace("", "not measured (no reason given)")
    rows = counted.astype(str).values.tolist()
    header = ["backend", "device", "mode", "preset", "status", "reason", "runs"]
    return ["### Runs that did not finish cleanly", "", md_table(header, rows), ""]


def section_methods(runs: pd.DataFrame) -> list[str]:
    if "method" not in runs:
        return []
    used = runs[(runs["method"] != "") & runs["status"].isin(FINISHED)]
    columns = [*KEY, "preset", "role", "method"] if "role" in used else [*KEY, "preset", "method"]
    used = used[columns].drop_duplicates().sort_values(columns)
    if used.empty:
        return []
    return ["### How each number was obtained", "", md_table(columns, used.values.tolist()), ""]


def total_s(g: Group) -> float:
    return g.startup_s + g.training_s


def versus_text(p: float | None, significant: bool, why_untested: str) -> str:
    if p is None:
        return f"not tested ({why_untested})"
    return f"{'significant' if significant else 'indistinguishable'}, p={p:.2g}"


def choose(groups: list[Group], tables: Tables, preset: str) -> list[str]:
    """Statements computed from the numbers, for a reader choosing a backend."""
    timed = sorted((g for g in groups if measured(g.us)), key=lambda g: g.us)
    if not timed:
        return ["not measured (no backend has a time per epoch)"]
    untested = tables.missing.get("timings.csv", "no repeats in timings.csv")
    return [
        *choose_by_speed(timed, tables, preset, untested),
        *choose_by_run_length(groups),
        *choose_mode(timed, tables, preset, untested),
        *choose_device(timed, tables, preset, untested),
        *choose_by_convergence(groups),
    ]


def choose_by_speed(timed: list[Group], tables: Tables, preset: str, untested: str) -> list[str]:
    fast = timed[0]
    verdicts = {g.key: compare_groups(tables, preset, g, fast) for g in timed[1:]}
    slower = [g for g in timed[1:] if verdicts[g.key][1]]
    tied = [g for g in timed[1:] if verdicts[g.key][0] is not None and not verdicts[g.key][1]]
    unknown = [g for g in timed[1:] if verdicts[g.key][0] is None]
    text = f"**Fastest per epoch** (lowest median): {label(fast.key)}, {sig(fast.us)} µs/epoch."
    if slower:
        text += " Significantly faster than "
        text += ", ".join(f"{label(g.key)} ({sig(g.us / fast.us)}×)" for g in slower) + "."
    if tied:
        text += " Indistinguishable from " + ", ".join(label(g.key) for g in tied) + "."
    if unknown:
        text += f" Not tested ({untested}) against " + ", ".join(label(g.key) for g in unknown) + "."
    said = [text]
    started = sorted((g for g in timed if measured(g.startup_s)), key=lambda g: g.startup_s)
    if not started:
        return said
    first = started[0]
    said.append(
        f"**Fastest start-up:** {label(first.key)}, {sig(first.startup_s)} s "
        f"(import {sig(first.import_s)} s + build and first epoch {sig(first.first_epoch_s)} s)."
    )
    if not measured(fast.startup_s):
        return said
    if fast.startup_s <= first.startup_s:
        said.append(f"{label(fast.key)} is fastest both to start and per epoch: it wins at every run length.")
        return said
    p, significant = verdicts[first.key]
    if not significant:
        said.append(
            f"{label(first.key)} starts fastest and its time per epoch is not significantly longer than "
            f"{label(fast.key)}'s ({versus_text(p, significant, untested)}): nothing here favours "
            f"{label(fast.key)} at any run length."
        )
        return said
    epochs = (fast.startup_s - first.startup_s) / ((first.us - fast.us) * 1e-6)
    said.append(
        f"**Pay-back:** {label(fast.key)} starts {sig(fast.startup_s - first.startup_s)} s later than "
        f"{label(first.key)} but saves {sig(first.us - fast.us)} µs per epoch, so its start-up is paid back "
        f"after {sig(epochs)} epochs: shorter runs favour {label(first.key)}, longer runs {label(fast.key)}."
    )
    return said


def choose_by_run_length(groups: list[Group]) -> list[str]:
    whole = sorted((g for g in groups if measured(g.startup_s) and measured(g.training_s)), key=total_s)
    if not whole:
        return []
    best = whole[0]
    text = f"**Quickest end to end** (start-up + {best.epochs:,} epochs): {label(best.key)}, {sig(total_s(best))} s"
    if len(whole) > 1:
        text += f"; next {label(whole[1].key)}, {sig(total_s(whole[1]))} s"
    said = [text + "."]
    heavy = [g for g in whole if g.startup_s > g.training_s]
    if heavy:
        said.append(
            "**Start-up outweighs training** (start-up > the run's epochs × time per epoch) for "
            + ", ".join(f"{label(g.key)} ({sig(g.startup_s)} s vs {sig(g.training_s)} s)" for g in heavy)
            + "."
        )
    return said


def choose_mode(timed: list[Group], tables: Tables, preset: str, untested: str) -> list[str]:
    """Each non-idiomatic mode against the idiomatic mode of the same backend and device."""
    by_key = {g.key: g for g in timed}
    said = []
    for (backend, device, mode), g in sorted(by_key.items()):
        base = by_key.get((backend, device, "idiomatic"))
        if mode == "idiomatic" or base is None:
            continue
        verdict = versus_text(*compare_groups(tables, preset, g, base), untested)
        said.append(
            f"**{backend} on {device}:** {mode} takes {sig(g.us / base.us)}× the idiomatic time per epoch ({verdict})."
        )
    return said


def choose_device(timed: list[Group], tables: Tables, preset: str, untested: str) -> list[str]:
    """Each backend and mode timed on both devices: the GPU's time per epoch against the CPU's."""
    by_key = {g.key: g for g in timed}
    said = []
    for (backend, device, mode), gpu in sorted(by_key.items()):
        cpu = by_key.get((backend, "cpu", mode))
        if device != "gpu" or cpu is None:
            continue
        verdict = versus_text(*compare_groups(tables, preset, gpu, cpu), untested)
        ratio = sig(gpu.us / cpu.us)
        said.append(f"**{backend} {mode}, GPU vs CPU:** the GPU takes {ratio}× the CPU's time per epoch ({verdict}).")
    return said


def choose_by_convergence(groups: list[Group]) -> list[str]:
    converged = [g for g in groups if g.seeds]
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
    best_low = wilson(best.solved, best.seeds)[0]
    apart = [g for g in converged if wilson(g.solved, g.seeds)[1] < best_low]
    if apart:
        text += " Clearly lower than the best (95% intervals do not overlap): "
        text += ", ".join(label(g.key) for g in apart) + "."
    else:
        text += " Every 95% interval overlaps the best one: at this many seeds convergence does not separate them."
    return [text]


def section_curves(tables: Tables, out_dir: Path) -> list[str]:
    lines = ["## 2. Loss curves (matched preset)", ""]
    if tables.curves is None:
        return lines + [f"not measured ({tables.missing['curves.csv']})", ""]
    curves = tables.curves[(tables.curves["preset"] == "matched") & np.isfinite(tables.curves["loss"])]
    curves = curves[curves["loss"] > 0]
    if curves.empty:
        return lines + ["not measured (curves.csv has no finite matched-preset losses)", ""]
    figure_loss_curves(curves, out_dir / "loss_curves.png")
    lines += ["![Loss curves](loss_curves.png)", ""]
    pairs = curve_differences(curves)
    if pairs.empty:
        return lines + ["Largest relative difference: not measured (fewer than two series share a seed)", ""]
    top = pairs.iloc[0]
    lines += [
        f"**Largest relative difference between any two series at the same seed and epoch: "
        f"{top['difference']:.3g}** ({top['a']} vs {top['b']}, seed {top['seed']:.0f}, epoch {top['epoch']:.0f}). "
        "Relative difference = |a − b| / max(a, b). Curves that lie on top of each other show the backends train "
        "the same network from the same weights, so the timings compare like with like.",
        "",
    ]
    rows = [
        [r.a, r.b, f"{r.seeds}", f"{r.difference:.3g}", f"seed {r.seed:.0f}, epoch {r.epoch:.0f}"]
        for r in pairs.itertuples()
    ]
    lines += [md_table(["series a", "series b", "seeds compared", "max relative difference", "at"], rows), ""]
    return lines


def curve_differences(curves: pd.DataFrame) -> pd.DataFrame:
    """For every pair of series, the largest relative loss difference at a shared (seed, epoch)."""
    series = {key: rows.set_index(["seed", "epoch"])["loss"] for key, rows in curves.groupby(KEY, sort=True)}
    keys = list(series)
    found = []
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            both = pd.concat([series[a], series[b]], axis=1, join="inner", keys=["a", "b"]).dropna()
            if both.empty:
                continue
            difference = (both["a"] - both["b"]).abs() / both[["a", "b"]].max(axis=1)
            seed, epoch = difference.idxmax()
            found.append(
                dict(
                    a=label(a),
                    b=label(b),
                    seeds=both.index.get_level_values("seed").nunique(),
                    difference=float(difference.max()),
                    seed=seed,
                    epoch=epoch,
                )
            )
    return (
        pd.DataFrame(found).sort_values("difference", ascending=False, ignore_index=True) if found else pd.DataFrame()
    )


def section_article(tables: Tables) -> list[str]:
    lines = ["## 3. The article, reproduced", "", ARTICLE_NOTE, ""]
    if tables.runs is None:
        return lines + [f"not measured ({tables.missing['runs.csv']})", ""]
    runs = tables.runs[tables.runs["preset"] == "article"]
    if runs.empty:
        return lines + ["not measured (no article-preset runs in runs.csv)", ""]
    header = [*KEY, "config", "final outputs", "accuracy", "final loss", "training s", "article claims", "here"]
    rows = []
    for key, group in runs.groupby(KEY, sort=True):
        done = group[group["status"].isin(FINISHED)].sort_values("seed")
        if done.empty:
            status = "/".join(sorted(set(group["status"])))
            rows.append([*key, *[f"not measured ({status}, see above)"] * 5, "learns XOR", f"not measured ({status})"])
            continue
        first = done.iloc[0]
        config = ", ".join(
            f"{name} {first[name]:g}" if isinstance(first[name], float) else f"{name} {first[name]}"
            for name in ("optimizer", "lr", "epochs", "dtype")
            if name in first and measured(first[name]) and first[name] != ""
        )
        learned = int((column(done, "accuracy") == 1.0).sum())
        seeds = f" over {len(done)} seeds" if len(done) > 1 else ""
        if learned == len(done):
            here = f"learns XOR{seeds} ✓"
        elif len(done) == 1:
            here = "does not learn XOR ✗"
        else:
            here = f"does not learn XOR: {learned}/{len(done)} seeds reach 100% accuracy ✗"
        rows.append(
            [
                *key,
                config or "not measured (no config columns)",
                outputs_text(first),
                cell(median_or_none(column(done, "accuracy")), pct),
                cell(median_or_none(column(done, "final_loss")), loss_text),
                cell(median_or_none(column(done, "train_s"))),
                "learns XOR",
                here,
            ]
        )
    note = (
        "Learns XOR: 100% accuracy at threshold 0.5. Outputs are of the lowest seed, for inputs "
        "(0,0), (0,1), (1,0), (1,1); XOR wants 0, 1, 1, 0."
    )
    return lines + [md_table(header, rows), "", note, ""]


def outputs_text(row: pd.Series) -> str:
    if "outputs" not in row or not str(row["outputs"]).strip():
        return "not measured (runs.csv has no outputs column)"
    values = re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf", str(row["outputs"]))
    return ", ".join(f"{float(v):.3f}" for v in values) or "not measured (outputs unreadable)"


def section_time(tables: Tables, groups: list[Group], preset: str, out_dir: Path) -> list[str]:
    lines = ["## 4. Where the time goes", ""]
    shown = [g for g in groups if g.status == "ok"]
    if not shown:
        return lines + [f"not measured ({tables.missing.get('runs.csv', 'no finished runs')})", ""]
    header = ["backend", "device", "mode", "import s", "build + first epoch s", "steady-state training s", "epochs"]
    rows = [
        [*g.key, cell(g.import_s), cell(g.first_epoch_s), cell(g.training_s), cell(g.epochs, lambda x: f"{x:,}")]
        for g in shown
    ]
    if any(measured(getattr(g, a)) for g in shown for a in ("import_s", "first_epoch_s", "training_s")):
        figure_time_breakdown(shown, out_dir / "time_breakdown.png")
        lines += ["![Where the time goes](time_breakdown.png)", ""]
    return lines + [
        md_table(header, rows),
        "",
        f"Training is the {preset} preset's epochs × the median steady-state time per epoch; import is measured in a "
        "fresh process; build + first epoch includes tracing, compilation and warm-up.",
        "",
    ]


FLOOR = "numba"  # the backend that is the compiled reference floor
# (numerator group, denominator group, target ratio, what the target says); groups are
# (backend, device, mode) of the matched preset, or the article presets' timing rows.
TARGETS = [
    (("numpy", "cpu", "tuned"), ("numpy", "cpu", "article-bare"), 0.6, "NumPy tuned vs the article's own loop"),
    (("keras", "cpu", "tuned"), ("keras", "cpu", "idiomatic"), 0.01, "Keras tuned vs `model.fit`"),
    (("torch", "cpu", "tuned"), ("torch", "cpu", "idiomatic"), 0.6, "torch tuned vs torch eager"),
    (("numpy", "cpu", "article"), ("numpy", "cpu", "article-bare"), 1.1, "the article's loop in the harness vs bare"),
]


def timing_us(runs: pd.DataFrame, key: tuple) -> float | None:
    """Median µs/epoch of a timing row: mode "article"/"article-bare" name those presets' idiomatic rows."""
    backend, device, mode = key
    preset = mode if mode.startswith("article") else "matched"
    mode = "idiomatic" if mode.startswith("article") else mode
    rows = runs[(runs["backend"] == backend) & (runs["device"] == device) & (runs["mode"] == mode)]
    rows = rows[(rows["preset"] == preset) & (rows["status"] == "ok") & (column(rows, "role") == "timing")]
    return median_or_none(column(rows, "epoch_us_median"))


def section_targets(tables: Tables, groups: list[Group]) -> list[str]:
    lines = ["## 5. Tuned modes: targets and the compiled floor", ""]
    runs = tables.runs
    if runs is None:
        return lines + [f"not measured ({tables.missing.get('runs.csv', 'no runs')})", ""]
    rows = []
    for top, bottom, target, what in TARGETS:
        a, b = timing_us(runs, top), timing_us(runs, bottom)
        if a is None or b is None:
            missing = " and ".join("/".join(k) for k, v in ((top, a), (bottom, b)) if v is None)
            rows.append([what, f"≤ {target:g}×", f"not measured ({missing} not timed)", "not measured"])
            continue
        ratio = a / b
        rows.append(
            [what, f"≤ {target:g}×", f"{sig(a)} / {sig(b)} µs = {sig(ratio)}×", "met" if ratio <= target else "missed"]
        )
    lines += [md_table(["comparison (same run)", "target", "ratio", "verdict"], rows), ""]
    floor = next((g for g in groups if g.key[0] == FLOOR and measured(g.us)), None)
    if floor is None:
        return lines + [f"Compiled floor: not measured (no {FLOOR} timing row; pip install 'xorbench[floor]')", ""]
    timed = sorted((g for g in groups if measured(g.us) and g.key[0] != FLOOR), key=lambda g: g.us)
    lines += [
        f"Compiled floor ({FLOOR}, {sig(floor.us)} µs/epoch: the same maths as plain compiled loops). "
        "How far each backend and mode is from it, per epoch (dashed line in the time-per-epoch figure):",
        "",
        md_table(
            ["backend", "device", "mode", "µs/epoch", "× floor"],
            [[*g.key, sig(g.us), f"{sig(g.us / floor.us)}×"] for g in timed],
        ),
        "",
    ]
    return lines


def gpu_text(gpu) -> str:
    if not isinstance(gpu, dict) or not gpu.get("name"):
        return "no GPU recorded"
    return f"{gpu['name']} (driver {gpu['driver']})" if gpu.get("driver") else str(gpu["name"])


def section_env(tables: Tables) -> list[str]:
    lines = ["## 6. Environment", "", ENV_CAVEAT, ""]
    if tables.env is None:
        return lines + [f"not measured ({tables.missing['env.json']})", ""]
    env = tables.env
    gpu = env.get("gpu")
    facts = [
        ("CPU", env.get("cpu_model")),
        ("cores", env.get("cores")),
        ("memory GB", env.get("memory_gb")),
        ("OS", env.get("os")),
        ("Python", env.get("python")),
        ("BLAS", env.get("blas")),
        ("GPU", gpu_text(gpu)),
        ("threads", env.get("threads")),
        *[(f"{name} version", version) for name, version in sorted((env.get("frameworks") or {}).items())],
        ("git commit", env.get("git_commit")),
        ("command", f"`{env['command']}`" if env.get("command") else None),
        ("timestamp", env.get("timestamp")),
    ]
    rows = [[name, "not measured (not in env.json)" if value in (None, "") else str(value)] for name, value in facts]
    return lines + [md_table(["fact", "value"], rows), ""]


def section_sweep(out_dir: Path) -> list[str]:
    """`xorbench sweep`'s sweep.csv, when this folder has one: a log-log figure and the crossovers."""

    from .sweep import summary_lines

    lines, figure = ["## 7. Scaling sweep", ""], out_dir / "sweep.png"
    figure.unlink(missing_ok=True)
    try:
        sweep = pd.read_csv(out_dir / "sweep.csv")
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return lines + ["not measured (no sweep.csv)", ""]
    ok = sweep[sweep["status"] == "ok"].assign(work=lambda f: f["hidden"] * f["batch"])
    if ok.empty:
        return lines + ["not measured (sweep.csv has no finished cells)", ""]
    devices = sorted(set(ok["device"]))
    fig, axes = plt.subplots(1, len(devices), figsize=(6 * len(devices), 4.2), squeeze=False, sharey=True)
    keys = sorted({(b, m) for b, m in zip(ok["backend"], ok["mode"])})
    colour = colours(keys)
    for ax, device in zip(axes[0], devices):
        for (backend, mode), cells in ok[ok["device"] == device].groupby(["backend", "mode"]):
            cells = cells.sort_values(["work", "hidden"])
            ax.plot(cells["work"], cells["epoch_us_median"], marker="o", ms=3, lw=1, color=colour[(backend, mode)],
                    ls="-" if mode == "idiomatic" else "--", label=f"{backend} {mode}")  # fmt: skip
        ax.set(xscale="log", yscale="log", title=device, xlabel="work: hidden × batch")
        ax.grid(which="both", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("time per epoch (µs, median)")
    save(fig, figure)
    skipped = sweep[sweep["status"] != "ok"]
    return lines + [
        f"Per-epoch time of the matched network (float32, plain SGD, full batch) widened to hidden units and fed "
        f"batch samples: {len(ok)} cells timed, {len(skipped)} skipped or failed (reasons in sweep.csv).",
        "",
        "![Per-epoch time against hidden × batch](sweep.png)",
        "",
        *[f"- {line}" for line in summary_lines(sweep)],
        "",
    ]


# ---------------------------------------------------------------- entry point


def write_report(out_dir: Path) -> Path:
    """Render REPORT.md and the figures it links, next to the tables in out_dir; return REPORT.md's path."""
    out_dir = Path(out_dir)
    tables = load_tables(out_dir)
    for name in FIGURES:  # a figure this render does not draw must not survive from an earlier one
        (out_dir / name).unlink(missing_ok=True)
    runs = tables.runs
    presets = list(dict.fromkeys(runs["preset"])) if runs is not None else []
    preset = "matched" if "matched" in presets or not presets else presets[0]
    groups = summarise(runs[runs["preset"] == preset]) if runs is not None else []
    env = tables.env or {}
    lines = [
        "# xorbench results",
        "",
        f"Rendered from the tables in this folder (runs.csv, timings.csv, curves.csv, env.json). "
        f"Run of {env.get('timestamp') or 'an unrecorded time'}, commit {env.get('git_commit') or 'not recorded'}.",
        "",
    ]
    if tables.missing:
        lines += [f"- not measured ({why})" for why in tables.missing.values()] + [""]
    lines += section_verdict(tables, preset, groups, out_dir)
    lines += section_curves(tables, out_dir)
    lines += section_article(tables)
    lines += section_time(tables, groups, preset, out_dir)
    lines += section_targets(tables, groups)
    lines += section_env(tables)
    lines += section_sweep(out_dir)
    path = out_dir / "REPORT.md"
    write_atomic(path, "\n".join(lines).rstrip() + "\n")
    return path
