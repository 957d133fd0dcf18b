"""Render `REPORT.md` and its figures from a run's tables alone (docs/TABLES.md): load, summarise, draw, render.

`load` reads the tables through their one schema (the row dataclasses behind bench/tables.py);
`summarise` is pure and turns them into plain data; `draw` hands that data to bench/figures.py;
`render` writes the Markdown. The report knows nothing about frameworks: a backend is a name in a
table, and which backend is the compiled floor, or has a target for its tuned mode, comes from the
registry (xorbench.backends, which imports no framework). Whatever is missing is printed as
"not measured (reason)".
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..backends import LOSS_TARGET, REGISTRY, floor_backends  # the registry; imports no framework
from . import figures
from .stats import ALPHA, Comparison, mann_whitney, median, relative_difference, wilson
from .sweep_stats import Crossovers, crossover_lines, crossovers
from .tables import CURVES, SCHEMA_VERSION, CurveRow, RunRow, SweepRow, TimingRow, kinds, read_table, write_atomic

KEY = ["backend", "device", "mode"]
FINISHED = ("ok", "diverged")  # statuses whose rows carry measurements
FIGURES = figures.FIGURES
LEGACY_CURVES = "curves.csv"  # schema 1 wrote the curves uncompressed
README_START, README_END = "<!-- headline:start -->", "<!-- headline:end -->"

# The article's own numpy snippet is a yardstick for the harness, not a backend: these two targets
# concern it (groups are (backend, device, mode) of the matched preset; mode "article"/"article-bare"
# names those presets' idiomatic timing rows). The tuned modes' targets come from the registry.
ARTICLE_TARGETS = (
    (("numpy", "cpu", "tuned"), ("numpy", "cpu", "article-bare"), 0.6, "NumPy tuned vs the article's own loop"),
    (("numpy", "cpu", "article"), ("numpy", "cpu", "article-bare"), 1.1, "the article's loop in the harness vs bare"),
)
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


# ---------------------------------------------------------------- load


@dataclass
class Loaded:
    """A run's tables as read from its folder: the one container the report reads."""

    runs: pd.DataFrame | None = None
    timings: pd.DataFrame | None = None
    curves: pd.DataFrame | None = None
    sweep: pd.DataFrame | None = None
    env: dict | None = None
    curves_name: str = CURVES  # the curves file read (an older run has an uncompressed one)
    missing: dict[str, str] = field(default_factory=dict)  # file name -> why it is not usable
    warnings: list[str] = field(default_factory=list)  # one line each, for the reader and the CLI


def required(row_type: type) -> list[str]:
    """The columns a table cannot do without: the row fields that have no default."""
    return [f.name for f in dataclasses.fields(row_type) if f.default is f.default_factory is dataclasses.MISSING]


def read(path: Path, row_type: type) -> tuple[pd.DataFrame | None, str | None]:
    """A table through its schema, every schema column present (empty where the file lacks it); or why not."""
    name = path.name
    try:
        data = read_table(path, row_type)
    except FileNotFoundError:
        return None, f"no {name} in this run"
    except pd.errors.EmptyDataError:
        return None, f"{name} is empty"
    absent = [c for c in required(row_type) if c not in data.columns]
    if absent:
        return None, f"{name} lacks columns {', '.join(absent)}"
    if data.empty:
        return None, f"{name} has no rows"
    for column, kind in kinds(row_type).items():
        if column not in data.columns:
            data[column] = "" if kind == "str" else np.nan
    return data, None


def read_env(out_dir: Path) -> tuple[dict | None, str | None]:
    try:
        return json.loads((out_dir / "env.json").read_text()), None
    except FileNotFoundError:
        return None, "no env.json in this run"
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return None, f"env.json is not valid JSON ({error.__class__.__name__})"


def load(out_dir: Path, *, curves: bool = True, sweep: bool = True) -> Loaded:
    """Read a run's folder; `curves`/`sweep` False skip those tables (the README headline needs neither)."""
    out_dir, loaded = Path(out_dir), Loaded()
    if not (out_dir / CURVES).exists() and (out_dir / LEGACY_CURVES).exists():
        loaded.curves_name = LEGACY_CURVES
    wanted = {"runs.csv": ("runs", RunRow), "timings.csv": ("timings", TimingRow)}
    if curves:
        wanted[loaded.curves_name] = ("curves", CurveRow)
    for name, (attribute, row_type) in wanted.items():
        data, why = read(out_dir / name, row_type)
        setattr(loaded, attribute, data)
        if why:
            loaded.missing[name] = why
    loaded.env, why = read_env(out_dir)
    if why:
        loaded.missing["env.json"] = why
    if sweep:
        loaded.sweep, why = read(out_dir / "sweep.csv", SweepRow)
        if why:
            loaded.missing["sweep.csv"] = why
    if loaded.runs is not None:
        loaded.runs = upgrade(loaded.runs)
    loaded.warnings = newer_schema(loaded)
    return loaded


BORROWED_V1 = r"^convergence from the (\S+) mode"  # how schema 1 said, in `method` only, what was borrowed


def upgrade(runs: pd.DataFrame) -> pd.DataFrame:
    """Schema-1 rows in schema-2 terms, where the facts can be read back: which mode a row borrows from."""
    runs = runs.copy()
    old = (runs["schema_version"].fillna(1) < 2) & (runs["borrowed_from"] == "")
    found = runs["method"].str.extract(BORROWED_V1, expand=False).fillna("")
    runs.loc[old, "borrowed_from"] = found[old]
    return runs


def newer_schema(loaded: Loaded) -> list[str]:
    """One warning line when a table was written by a newer xorbench than this one; else none."""
    tables = {"runs.csv": loaded.runs, "sweep.csv": loaded.sweep}
    versions = {name: data["schema_version"].max() for name, data in tables.items() if data is not None}
    if loaded.env is not None:
        versions["env.json"] = loaded.env.get("schema_version")
    newer = {name: int(v) for name, v in versions.items() if as_float(v) is not None and float(v) > SCHEMA_VERSION}
    if not newer:
        return []
    which = ", ".join(f"{name} (schema_version {v})" for name, v in newer.items())
    return [
        f"warning: {which} from a newer xorbench; this one reads schema_version {SCHEMA_VERSION}: "
        "rendered anyway, leaving out the columns it does not know"
    ]


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
    return x is not None and not (isinstance(x, float | np.floating) and not math.isfinite(x))


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


def as_int(x) -> int | None:
    x = as_float(x)
    return int(x) if x is not None else None


def as_float(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------- summary data


@dataclass(frozen=True)
class Group:
    """One backend × device × mode of one preset, summarised from runs.csv and timings.csv."""

    key: tuple
    status: str  # "ok" when anything was measured, else the status of its rows (skipped, error)
    us: float | None = None  # median steady-state µs per epoch
    us_min: float | None = None  # the fastest window's µs per epoch
    import_s: float | None = None
    first_epoch_s: float | None = None
    epochs: int | None = None  # epochs the timing run trained
    time_to_solve_s: float | None = None
    solved: int = 0
    seeds: int = 0
    epochs_to_solve: float | None = None
    final_loss: float | None = None
    success: tuple[float, float] | None = None  # 95% Wilson interval of solved / seeds
    repeats: tuple[float, ...] = ()  # µs per epoch of each timed window
    borrowed_from: str = ""  # the mode whose seeds gave success, epochs-to-solve and final loss
    borrow_difference: float | None = None
    ratio: float | None = None  # µs per epoch / the fastest group's
    versus: Comparison | None = None  # against the fastest group's windows; None for it and the untimed

    @property
    def startup_s(self) -> float | None:
        return self.import_s + self.first_epoch_s if measured(self.import_s) and measured(self.first_epoch_s) else None

    @property
    def training_s(self) -> float | None:
        return self.us * self.epochs * 1e-6 if measured(self.us) and measured(self.epochs) else None

    @property
    def total_s(self) -> float:
        return self.startup_s + self.training_s


@dataclass(frozen=True)
class Pair:
    """Group a against group b: their time-per-epoch ratio and the Mann-Whitney verdict on their windows."""

    a: Group
    b: Group
    comparison: Comparison

    @property
    def ratio(self) -> float:
        return self.a.us / self.b.us


@dataclass(frozen=True)
class Method:
    """How one kind of row was obtained: the columns its sentence in the methods table is written from."""

    key: tuple
    preset: str
    role: str
    method: str  # the mode, in the backend's words (schema 1: the whole sentence)
    legacy: bool = False  # schema 1: `method` already says everything
    epochs: int | None = None  # epochs trained
    windows: int | None = None
    window_epochs: int | None = None
    replays: int | None = None
    in_run: int | None = None  # windows timed in the run itself, the rest in its replays
    stopped_at_epoch: int | None = None
    stop_reason: str = ""
    of_epochs: int | None = None  # the epochs a stopped run was to train
    borrowed_from: str = ""
    borrow_difference: float | None = None
    source_method: str = ""  # what the lending mode is
    seed: int | None = None  # the seed whose curves were compared
    compared_epochs: int | None = None
    seeds: int | None = None
    seeds_cost_s: float | None = None  # what training every seed of this mode would take


@dataclass(frozen=True)
class ArticleRow:
    key: tuple
    status: str  # "ok", or the statuses of rows that all failed
    config: tuple[tuple[str, object], ...] = ()
    outputs: tuple[float, ...] | None = None  # of the lowest seed; None when runs.csv has none
    accuracy: float | None = None
    final_loss: float | None = None
    train_s: float | None = None
    learned: int = 0  # seeds at 100% accuracy
    seeds: int = 0


@dataclass(frozen=True)
class Target:
    what: str
    target: float
    a: tuple
    b: tuple
    a_us: float | None
    b_us: float | None

    @property
    def ratio(self) -> float:
        return self.a_us / self.b_us


@dataclass(frozen=True, eq=False)
class CurveBand:
    key: tuple
    seeds: int
    epochs: np.ndarray
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class CurvePair:
    a: tuple
    b: tuple
    seeds: int
    difference: float  # the largest relative difference, |a − b| / |a|
    seed: int
    epoch: int


@dataclass(frozen=True)
class Curves:
    bands: tuple[CurveBand, ...] = ()
    pairs: tuple[CurvePair, ...] = ()  # largest difference first
    why: str | None = None  # why there are none


@dataclass(frozen=True)
class Choices:
    """What the "which to choose when" statements are computed from."""

    timed: tuple[Group, ...] = ()  # by time per epoch
    first_start: Group | None = None  # the fastest to start among the timed
    payback_epochs: float | None = None  # after which the fastest per epoch has paid back its later start
    whole: tuple[Group, ...] = ()  # by start-up + training
    modes: tuple[Pair, ...] = ()  # each other mode against the idiomatic one
    devices: tuple[Pair, ...] = ()  # the GPU against the CPU
    converged: tuple[Group, ...] = ()
    apart: tuple[Group, ...] = ()  # success interval entirely below the best one's


@dataclass(frozen=True)
class Sweep:
    cells: int = 0
    failed: int = 0
    lines: tuple[figures.SweepLine, ...] = ()
    crossovers: Crossovers | None = None
    why: str | None = None


@dataclass(frozen=True)
class Summary:
    """Everything the report says, as data: no Markdown, no figures, no files."""

    preset: str
    groups: tuple[Group, ...]
    fastest: Group | None
    untested: str  # why a Mann-Whitney comparison could not be made
    problems: tuple[tuple, ...]  # (backend, device, mode, preset, status, reason, runs) of rows not ok
    methods: tuple[Method, ...]
    choices: Choices
    curves: Curves
    article: tuple[ArticleRow, ...]
    targets: tuple[Target, ...]
    floor: Group | None  # the fastest group of a floor backend (the registry says which backends are floors)
    floor_names: tuple[str, ...]
    bare_us: dict  # (backend, device) -> the article's own loop, timed bare, µs per epoch
    environment: tuple[tuple[str, object], ...] | None
    sweep: Sweep
    missing: dict
    warnings: tuple[str, ...]
    curves_name: str
    timestamp: str | None
    commit: str | None


# ---------------------------------------------------------------- summarise


def summarise(loaded: Loaded) -> Summary:
    """The report's content, computed from the loaded tables: pure, plain data."""
    runs, env = loaded.runs, loaded.env or {}
    presets = list(dict.fromkeys(runs["preset"])) if runs is not None else []
    preset = "matched" if "matched" in presets or not presets else presets[0]
    untested = loaded.missing.get("timings.csv", "no repeats in timings.csv")
    groups = ()
    if runs is not None:
        groups = against_fastest(summarise_groups(runs[runs["preset"] == preset], loaded.timings, preset))
    timed = [g for g in groups if measured(g.us)]
    floors = floor_backends()
    return Summary(
        preset=preset,
        groups=groups,
        fastest=min(timed, key=lambda g: g.us) if timed else None,
        untested=untested,
        problems=problems_of(runs) if runs is not None else (),
        methods=methods_of(runs) if runs is not None else (),
        choices=choices_of(groups),
        curves=curves_of(loaded),
        article=article_of(runs) if runs is not None else (),
        targets=targets_of(runs) if runs is not None else (),
        floor=min((g for g in timed if g.key[0] in floors), key=lambda g: g.us, default=None),
        floor_names=floors,
        bare_us=bare_of(runs) if runs is not None else {},
        environment=environment_of(loaded.env) if loaded.env is not None else None,
        sweep=sweep_of(loaded),
        missing=dict(loaded.missing),
        warnings=tuple(loaded.warnings),
        curves_name=loaded.curves_name,
        timestamp=env.get("timestamp"),
        commit=env.get("git_commit"),
    )


def truthy(values: pd.Series) -> pd.Series:
    return values.astype(str).str.strip().str.lower().isin(["true", "1", "1.0", "yes"])


def median_of(values: pd.Series) -> float | None:
    return median(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan))


def trained(rows: pd.DataFrame) -> pd.Series:
    """Epochs each run trained: where it stopped short, else its epochs."""
    return rows["stopped_at_epoch"].where(rows["stopped_at_epoch"].notna(), rows["epochs"])


def trained_one(row: pd.Series | None) -> int | None:
    if row is None:
        return None
    stopped = as_int(row["stopped_at_epoch"])
    return stopped if stopped is not None else as_int(row["epochs"])


def repeats_of(timings: pd.DataFrame | None, preset: str, key: tuple) -> tuple[float, ...]:
    if timings is None:
        return ()
    backend, device, mode = key
    chosen = (timings["preset"] == preset) & (timings["backend"] == backend) & (timings["device"] == device)
    return tuple(timings.loc[chosen & (timings["mode"] == mode), "epoch_us"].dropna().to_numpy(dtype=float))


def summarise_groups(runs: pd.DataFrame, timings: pd.DataFrame | None, preset: str) -> tuple[Group, ...]:
    groups = []
    for key, rows in runs.groupby(KEY, sort=True):
        done = rows[rows["status"].isin(FINISHED)]
        if done.empty:
            groups.append(Group(key, status="/".join(sorted(set(rows["status"])))))
            continue
        timing = done[done["role"] == "timing"] if (done["role"] == "timing").any() else done
        seeds = done[done["role"] == "convergence"] if (done["role"] == "convergence").any() else done
        solved = truthy(seeds["solved"])
        epochs = median_of(trained(timing))
        lenders = sorted(set(seeds["borrowed_from"]) - {""})
        groups.append(
            Group(
                key,
                "ok",
                us=median_of(timing["epoch_us_median"]),
                us_min=median_of(timing["epoch_us_min"]),
                import_s=median_of(timing["import_s"]),
                first_epoch_s=median_of(timing["first_epoch_s"]),
                epochs=int(epochs) if epochs is not None else None,
                time_to_solve_s=median_of(done["time_to_solve_s"]),
                solved=int(solved.sum()),
                seeds=len(seeds),
                epochs_to_solve=median_of(seeds["epoch_solved"][solved]),
                final_loss=median_of(seeds["final_loss"]),
                success=wilson(int(solved.sum()), len(seeds)),
                repeats=repeats_of(timings, preset, key),
                borrowed_from="/".join(lenders),
                borrow_difference=pd.to_numeric(seeds["borrow_difference"]).max() if lenders else None,
            )
        )
    return tuple(groups)


def against_fastest(groups: tuple[Group, ...]) -> tuple[Group, ...]:
    """Each timed group with its ratio to the fastest and, but for the fastest, the test against it."""
    timed = [g for g in groups if measured(g.us)]
    if not timed:
        return groups
    fastest = min(timed, key=lambda g: g.us)
    return tuple(
        dataclasses.replace(
            g,
            ratio=g.us / fastest.us,
            versus=None if g.key == fastest.key else mann_whitney(g.repeats, fastest.repeats),
        )
        if measured(g.us)
        else g
        for g in groups
    )


def problems_of(runs: pd.DataFrame) -> tuple[tuple, ...]:
    bad = runs[runs["status"] != "ok"]
    if bad.empty:
        return ()
    counted = bad.groupby([*KEY, "preset", "status", "reason"], sort=True).size().reset_index(name="runs")
    return tuple(tuple(row) for row in counted.itertuples(index=False))


def choices_of(groups: tuple[Group, ...]) -> Choices:
    timed = tuple(sorted((g for g in groups if measured(g.us)), key=lambda g: g.us))
    if not timed:
        return Choices()
    fast = timed[0]
    started = sorted((g for g in timed if measured(g.startup_s)), key=lambda g: g.startup_s)
    first = started[0] if started else None
    payback = None
    if first is not None and measured(fast.startup_s) and fast.startup_s > first.startup_s:
        if first.versus is not None and first.versus.significant:
            payback = (fast.startup_s - first.startup_s) / ((first.us - fast.us) * 1e-6)
    by_key = {g.key: g for g in timed}
    modes = [(g, by_key.get((b, d, "idiomatic"))) for (b, d, m), g in sorted(by_key.items()) if m != "idiomatic"]
    devices = [(g, by_key.get((b, "cpu", m))) for (b, d, m), g in sorted(by_key.items()) if d == "gpu"]
    whole = [g for g in groups if measured(g.startup_s) and measured(g.training_s)]
    converged = tuple(g for g in groups if g.seeds)
    best = max(converged, key=lambda g: g.solved / g.seeds) if converged else None
    return Choices(
        timed=timed,
        first_start=first,
        payback_epochs=payback,
        whole=tuple(sorted(whole, key=lambda g: g.total_s)),
        modes=tuple(Pair(a, b, mann_whitney(a.repeats, b.repeats)) for a, b in modes if b is not None),
        devices=tuple(Pair(a, b, mann_whitney(a.repeats, b.repeats)) for a, b in devices if b is not None),
        converged=converged,
        apart=tuple(g for g in converged if g.success[1] < best.success[0]) if best else (),
    )


# ---------------------------------------------------------------- summarise: how each number was obtained


def methods_of(runs: pd.DataFrame) -> tuple[Method, ...]:
    """The distinct ways rows were obtained, from their columns (and their group's timing row)."""
    used = runs[(runs["method"] != "") & runs["status"].isin(FINISHED)]
    ok = runs[runs["status"] == "ok"]
    key4 = [*KEY, "preset"]
    timing = {key: rows.iloc[0] for key, rows in ok[ok["role"] == "timing"].groupby(key4, sort=False)}
    seeds = runs[runs["role"] == "convergence"].groupby(key4).size().to_dict()
    preset_epochs = runs.groupby("preset")["epochs"].max().to_dict()
    found = {method_of(row, timing, seeds, as_int(preset_epochs.get(row["preset"]))) for _, row in used.iterrows()}
    return tuple(found)


def method_of(row: pd.Series, timing: dict, seeds: dict, preset_epochs: int | None) -> Method:
    key, preset, role = (row["backend"], row["device"], row["mode"]), row["preset"], row["role"]
    base = Method(key, preset, role, row["method"])
    if not (row["schema_version"] >= 2):  # NaN too: a table from before the columns existed
        return dataclasses.replace(base, legacy=True)
    epochs = trained_one(row)
    if row["borrowed_from"]:
        return borrowed_method(base, row, timing, seeds, preset_epochs)
    if role != "timing":
        return dataclasses.replace(base, epochs=epochs)
    windows, window, replays = as_int(row["windows"]), as_int(row["window_epochs"]), as_int(row["replays"])
    stopped = as_int(row["stopped_at_epoch"])
    of = next((n for n in (as_int(row["epochs"]), preset_epochs) if n and stopped and n > stopped), None)
    return dataclasses.replace(
        base,
        epochs=epochs,
        windows=windows,
        window_epochs=window,
        replays=replays,
        in_run=windows_in_run(windows, window, replays, epochs),
        stopped_at_epoch=stopped,
        stop_reason=row["stop_reason"],
        of_epochs=of,
    )


def windows_in_run(windows: int | None, window: int | None, replays: int | None, epochs: int | None) -> int | None:
    """Windows timed in the run itself: each replay times the run's epochs again in windows, but for its
    warm-up window (bench/measure.py's replay). None where the columns do not add up to that."""
    if not (windows and window and replays and epochs):
        return None
    in_run = windows - replays * (epochs // window - 1)
    return in_run if 0 < in_run < windows else None


def borrowed_method(base: Method, row: pd.Series, timing: dict, seeds: dict, preset_epochs: int | None) -> Method:
    backend, device, mode = base.key
    mine = timing.get((backend, device, mode, base.preset))
    lender = timing.get((backend, device, row["borrowed_from"], base.preset))
    both = [trained_one(mine), trained_one(lender)]
    count = seeds.get((backend, device, mode, base.preset))
    us = as_float(mine["epoch_us_median"]) if mine is not None else None
    return dataclasses.replace(
        base,
        borrowed_from=row["borrowed_from"],
        borrow_difference=as_float(row["borrow_difference"]),
        source_method=lender["method"] if lender is not None else "",
        seed=as_int(mine["seed"]) if mine is not None else None,
        compared_epochs=min(both) if None not in both else None,
        seeds=count,
        seeds_cost_s=count * preset_epochs * us * 1e-6 if count and preset_epochs and us else None,
    )


# ---------------------------------------------------------------- summarise: curves, article, targets, env, sweep


def curves_of(loaded: Loaded) -> Curves:
    if loaded.curves is None:
        why = loaded.missing.get(loaded.curves_name, f"no {loaded.curves_name} in this run")
        return Curves(why=why)
    curves = loaded.curves[(loaded.curves["preset"] == "matched") & np.isfinite(loaded.curves["loss"])]
    curves = curves[curves["loss"] > 0]
    if curves.empty:
        return Curves(why=f"{loaded.curves_name} has no finite matched-preset losses")
    bands = []
    for key, series in curves.groupby(KEY, sort=True):
        by_epoch = series.groupby("epoch")["loss"]
        middle = by_epoch.median()
        low, high = by_epoch.min().to_numpy(), by_epoch.max().to_numpy()
        bands.append(CurveBand(key, series["seed"].nunique(), middle.index.to_numpy(), middle.to_numpy(), low, high))
    return Curves(tuple(bands), curve_differences(curves))


def curve_differences(curves: pd.DataFrame) -> tuple[CurvePair, ...]:
    """For every pair of series, the largest relative loss difference at a shared (seed, epoch)."""
    series = {key: rows.set_index(["seed", "epoch"])["loss"] for key, rows in curves.groupby(KEY, sort=True)}
    keys = list(series)
    found = []
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            both = pd.concat([series[a], series[b]], axis=1, join="inner", keys=["a", "b"]).dropna()
            if both.empty:
                continue
            difference = relative_difference(both["a"].to_numpy(), both["b"].to_numpy())
            seed, epoch = both.index[int(np.argmax(difference))]
            seeds = both.index.get_level_values("seed").nunique()
            found.append(CurvePair(a, b, seeds, float(difference.max()), int(seed), int(epoch)))
    return tuple(sorted(found, key=lambda p: p.difference, reverse=True))


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


def timing_us(runs: pd.DataFrame, key: tuple) -> float | None:
    """Median µs/epoch of a timing row: mode "article"/"article-bare" name those presets' idiomatic rows."""
    backend, device, mode = key
    preset = mode if mode.startswith("article") else "matched"
    mode = "idiomatic" if mode.startswith("article") else mode
    rows = runs[(runs["backend"] == backend) & (runs["device"] == device) & (runs["mode"] == mode)]
    rows = rows[(rows["preset"] == preset) & (rows["status"] == "ok") & (rows["role"] == "timing")]
    return median_of(rows["epoch_us_median"])


def targets() -> list[tuple]:
    """(numerator group, denominator group, target ratio, what it says): the article's two, the registry's."""
    tuned = [
        ((name, "cpu", "tuned"), (name, "cpu", "idiomatic"), spec.tuned_target, f"{name} tuned vs {name} idiomatic")
        for name, spec in REGISTRY.items()
        if spec.tuned_target is not None
    ]
    return [ARTICLE_TARGETS[0], *tuned, ARTICLE_TARGETS[1]]


def targets_of(runs: pd.DataFrame) -> tuple[Target, ...]:
    return tuple(Target(what, target, a, b, timing_us(runs, a), timing_us(runs, b)) for a, b, target, what in targets())


def bare_of(runs: pd.DataFrame) -> dict:
    bare = runs[(runs["preset"] == "article-bare") & (runs["status"] == "ok")]
    found = {(b, d): timing_us(runs, (b, d, "article-bare")) for b, d in zip(bare["backend"], bare["device"])}
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
    )


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
        lines.append(figures.SweepLine(device, backend, mode, tuple(cells["work"]), tuple(cells["epoch_us_median"])))
    return Sweep(len(ok), int((sweep["status"] != "ok").sum()), tuple(lines), crossovers(sweep))


# ---------------------------------------------------------------- draw


def draw(summary: Summary, out_dir: Path) -> frozenset[str]:
    """Every figure the summary has data for, drawn into out_dir; the names of those drawn.

    A figure this render does not draw is deleted: it must not survive from an earlier render."""
    out_dir = Path(out_dir)
    for name in (*FIGURES, figures.SWEEP):
        (out_dir / name).unlink(missing_ok=True)
    drawn = set()
    timed = [g for g in summary.groups if measured(g.us)]
    if timed:
        rows = [figures.Timed(g.key, label(g.key), g.us, g.repeats, f"{sig(g.us)} µs") for g in timed]
        floor = summary.floor.us if summary.floor is not None else None
        figures.epoch_time(rows, floor, f"Time per epoch, {summary.preset} preset", out_dir / "epoch_time.png")
        drawn.add("epoch_time.png")
    if summary.curves.bands:
        bands = [
            figures.Band(b.key, f"{label(b.key)}, {b.seeds} seeds", b.epochs, b.median, b.low, b.high)
            for b in summary.curves.bands
        ]
        figures.loss_curves(bands, LOSS_TARGET, out_dir / "loss_curves.png")
        drawn.add("loss_curves.png")
    shown = [g for g in summary.groups if g.status == "ok"]
    if any(measured(s) for g in shown for s in (g.import_s, g.first_epoch_s, g.training_s)):
        figures.time_breakdown([breakdown(g) for g in shown], out_dir / "time_breakdown.png")
        drawn.add("time_breakdown.png")
    if summary.sweep.lines:
        figures.sweep(summary.sweep.lines, out_dir / figures.SWEEP)
        drawn.add(figures.SWEEP)
    return frozenset(drawn)


def breakdown(g: Group) -> figures.Breakdown:
    seconds = tuple(float(s) if measured(s) else None for s in (g.import_s, g.first_epoch_s, g.training_s))
    return figures.Breakdown(label(g.key), seconds, tuple(f"{sig(s)} s" if s else "" for s in seconds))


# ---------------------------------------------------------------- render


def render(summary: Summary, drawn: frozenset[str] = frozenset()) -> str:
    """REPORT.md's text: the summary in Markdown, linking the figures in `drawn`."""
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
    return "\n".join(lines).rstrip() + "\n"


def borrowed(g: Group) -> str:
    """The mark on a number that comes from another mode's seeds."""
    return f" (from {g.borrowed_from})" if g.borrowed_from else ""


def verdict_row(g: Group, summary: Summary) -> list[str]:
    if g.status != "ok":
        return [*g.key] + [f"not measured ({g.status})"] * 9
    if not measured(g.us) or summary.fastest is None:
        ratio = versus = "not measured (no time per epoch)"
    elif g.versus is None:
        ratio, versus = f"{sig(1.0)}×", "fastest"
    else:
        ratio = f"{sig(g.ratio)}×"
        p, significant = g.versus
        if p is None:
            versus = f"not measured ({summary.untested})"
        else:
            versus = f"{'slower' if significant else 'indistinguishable'} (p={p:.2g})"
    never = "never solved" if g.seeds else "no runs"
    mark = borrowed(g)
    return [
        *g.key,
        cell(g.us, why="not timed"),
        cell(g.us_min, why="not timed"),
        ratio,
        versus,
        cell(g.startup_s, why="not timed"),
        cell(g.time_to_solve_s, why=never if not g.solved else "not timed"),
        success_text(g.solved, g.seeds) + mark if g.seeds else "not measured (no seeds)",
        cell(g.epochs_to_solve, lambda x: f"{x:.0f}{mark}", why=never),
        cell(g.final_loss, lambda x: loss_text(x) + mark, why="not recorded"),
    ]


def section_verdict(summary: Summary, drawn: frozenset[str]) -> list[str]:
    lines = [f"## 1. Verdict ({summary.preset} preset)", ""]
    if "runs.csv" in summary.missing:
        return lines + [f"not measured ({summary.missing['runs.csv']})", ""]
    header = [
        "backend", "device", "mode", "µs/epoch (median)", "min", "× fastest",
        f"vs fastest (Mann-Whitney U, α={ALPHA:g})", "start-up s (import + build/first epoch)", "time-to-solve s",
        "success (95% Wilson)", "median epochs-to-solve", "median final loss",
    ]  # fmt: skip
    order = sorted(summary.groups, key=lambda g: (g.status != "ok", g.us if measured(g.us) else math.inf, g.key))
    lines += [md_table(header, [verdict_row(g, summary) for g in order]), ""]
    lines += [
        "Time per epoch: steady state after warm-up, median over the timed windows; min: the fastest window, the "
        "better estimate of a backend's own cost where other load on a shared machine slows some windows (noise "
        "only ever adds time). "
        f"A backend is called slower than "
        f"the fastest only where the two-sided Mann-Whitney U test on the repeats in timings.csv gives p < {ALPHA:g}. "
        f"Solved: loss below {LOSS_TARGET:g} (which implies 100% accuracy); success is over the convergence seeds.",
        "",
    ]
    lines += borrowed_note(summary.groups)
    if "epoch_time.png" in drawn:
        lines += ["![Time per epoch](epoch_time.png)", ""]
    lines += section_problems(summary)
    lines += section_methods(summary)
    lines += ["### Which to choose when", ""] + [f"- {s}" for s in choose(summary)] + [""]
    return lines


def borrowed_note(groups: tuple[Group, ...]) -> list[str]:
    said = []
    for g in (g for g in groups if g.borrowed_from):
        matched = ""
        if measured(g.borrow_difference):
            matched = f" (the two modes' curves in this run matched to {g.borrow_difference:.1g} relative)"
        said.append(
            f"{label(g.key)}: success, epochs-to-solve and final loss (marked “from {g.borrowed_from}”) are those "
            f"of the {g.borrowed_from} mode's seeds{matched}, not this mode's own seeds."
        )
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


def borrowed_text(m: Method) -> str:
    text = f"convergence from the {m.borrowed_from} mode" + (f" ({m.source_method})" if m.source_method else "")
    if measured(m.borrow_difference):
        seed = f"seed-{m.seed} " if m.seed is not None else ""
        text += f", whose {seed}curve in this run matched this mode's to {m.borrow_difference:.1g} relative"
        text += f" over {m.compared_epochs} epochs" if m.compared_epochs else ""
    if m.seeds_cost_s is not None:
        text += f"; {m.seeds} seeds of this mode would take about {m.seeds_cost_s:.0f} s"
    return text


# ---------------------------------------------------------------- render: which to choose when


def versus_text(comparison: Comparison, why_untested: str) -> str:
    p, significant = comparison
    if p is None:
        return f"not tested ({why_untested})"
    return f"{'significant' if significant else 'indistinguishable'}, p={p:.2g}"


def choose(summary: Summary) -> list[str]:
    """Statements computed from the numbers, for a reader choosing a backend."""
    found = summary.choices
    if not found.timed:
        return ["not measured (no backend has a time per epoch)"]
    return [
        *choose_by_speed(found, summary.untested),
        *choose_by_run_length(found),
        *choose_mode(found.modes, summary.untested),
        *choose_device(found.devices, summary.untested),
        *choose_by_convergence(found),
    ]


def choose_by_speed(found: Choices, untested: str) -> list[str]:
    fast, others = found.timed[0], found.timed[1:]
    slower = [g for g in others if g.versus.significant]
    tied = [g for g in others if g.versus.p is not None and not g.versus.significant]
    unknown = [g for g in others if g.versus.p is None]
    text = f"**Fastest per epoch** (lowest median): {label(fast.key)}, {sig(fast.us)} µs/epoch."
    if slower:
        text += " Significantly faster than " + ", ".join(f"{label(g.key)} ({sig(g.ratio)}×)" for g in slower) + "."
    if tied:
        text += " Indistinguishable from " + ", ".join(label(g.key) for g in tied) + "."
    if unknown:
        text += f" Not tested ({untested}) against " + ", ".join(label(g.key) for g in unknown) + "."
    said, first = [text], found.first_start
    if first is None:
        return said
    said.append(
        f"**Fastest start-up:** {label(first.key)}, {sig(first.startup_s)} s "
        f"(import {sig(first.import_s)} s + build and first epoch {sig(first.first_epoch_s)} s)."
    )
    if not measured(fast.startup_s):
        return said
    if fast.startup_s <= first.startup_s:
        return said + [f"{label(fast.key)} is fastest both to start and per epoch: it wins at every run length."]
    if found.payback_epochs is None:
        return said + [
            f"{label(first.key)} starts fastest and its time per epoch is not significantly longer than "
            f"{label(fast.key)}'s ({versus_text(first.versus, untested)}): nothing here favours "
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
            "**Start-up outweighs training** (start-up > the run's epochs × time per epoch) for "
            + ", ".join(f"{label(g.key)} ({sig(g.startup_s)} s vs {sig(g.training_s)} s)" for g in heavy)
            + "."
        )
    return said


def choose_mode(pairs: tuple[Pair, ...], untested: str) -> list[str]:
    """Each non-idiomatic mode against the idiomatic mode of the same backend and device."""
    return [
        f"**{p.a.key[0]} on {p.a.key[1]}:** {p.a.key[2]} takes {sig(p.ratio)}× the idiomatic time per epoch "
        f"({versus_text(p.comparison, untested)})."
        for p in pairs
    ]


def choose_device(pairs: tuple[Pair, ...], untested: str) -> list[str]:
    """Each backend and mode timed on both devices: the GPU's time per epoch against the CPU's."""
    return [
        f"**{p.a.key[0]} {p.a.key[2]}, GPU vs CPU:** the GPU takes {sig(p.ratio)}× the CPU's time per epoch "
        f"({versus_text(p.comparison, untested)})."
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
        lines += ["![Loss curves](loss_curves.png)", ""]
    if not curves.pairs:
        return lines + ["Largest relative difference: not measured (fewer than two series share a seed)", ""]
    top = curves.pairs[0]
    lines += [
        f"**Largest relative difference between any two series at the same seed and epoch: "
        f"{top.difference:.3g}** ({label(top.a)} vs {label(top.b)}, seed {top.seed}, epoch {top.epoch}). "
        f"{RELATIVE} Curves that lie on top of each other show the backends train "
        "the same network from the same weights, so the timings compare like with like.",
        "",
    ]
    rows = [
        [label(p.a), label(p.b), f"{p.seeds}", f"{p.difference:.3g}", f"seed {p.seed}, epoch {p.epoch}"]
        for p in curves.pairs
    ]
    lines += [md_table(["series a", "series b", "seeds compared", "max relative difference", "at"], rows), ""]
    return lines


def article_cells(row: ArticleRow) -> list[str]:
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
    header = ["backend", "device", "mode", "import s", "build + first epoch s", "steady-state training s", "epochs"]
    rows = [
        [*g.key, cell(g.import_s), cell(g.first_epoch_s), cell(g.training_s), cell(g.epochs, lambda x: f"{x:,}")]
        for g in shown
    ]
    if "time_breakdown.png" in drawn:
        lines += ["![Where the time goes](time_breakdown.png)", ""]
    return lines + [
        md_table(header, rows),
        "",
        f"Training is the {summary.preset} preset's epochs × the median steady-state time per epoch; import is "
        "measured in a fresh process; build + first epoch includes tracing, compilation and warm-up.",
        "",
    ]


def target_row(t: Target) -> list[str]:
    if t.a_us is None or t.b_us is None:
        missing = " and ".join("/".join(k) for k, v in ((t.a, t.a_us), (t.b, t.b_us)) if v is None)
        return [t.what, f"≤ {t.target:g}×", f"not measured ({missing} not timed)", "not measured"]
    ratio = f"{sig(t.a_us)} / {sig(t.b_us)} µs = {sig(t.ratio)}×"
    return [t.what, f"≤ {t.target:g}×", ratio, "met" if t.ratio <= t.target else "missed"]


def section_targets(summary: Summary) -> list[str]:
    lines = ["## 5. Tuned modes: targets and the compiled floor", ""]
    if "runs.csv" in summary.missing:
        return lines + [f"not measured ({summary.missing['runs.csv']})", ""]
    header = ["comparison (same run)", "target", "ratio", "verdict"]
    lines += [md_table(header, [target_row(t) for t in summary.targets]), ""]
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


# ---------------------------------------------------------------- entry points


@dataclass(frozen=True)
class Written:
    """What write_report did: the report's path, and the warnings it printed at its top."""

    path: Path
    warnings: tuple[str, ...]


def render_report(out_dir: Path) -> Written:
    """Load, summarise, draw, render: REPORT.md and its figures next to the tables in out_dir."""
    out_dir = Path(out_dir)
    summary = summarise(load(out_dir))
    drawn = draw(summary, out_dir)
    path = out_dir / "REPORT.md"
    write_atomic(path, render(summary, drawn))
    return Written(path, summary.warnings)


def write_report(out_dir: Path) -> Path:
    """Render REPORT.md and the figures it links, next to the tables in out_dir; return REPORT.md's path."""
    return render_report(out_dir).path


# ---------------------------------------------------------------- README's headline table


def headline_name(g: Group) -> str:
    backend, device, mode = g.key
    name = f"{backend} floor" if backend in floor_backends() else f"{backend} ({mode})"
    return name if device == "cpu" else f"{name} on {device}"


def headline_rows(summary: Summary) -> list[list[str]]:
    rows = []
    for g in sorted((g for g in summary.groups if measured(g.us)), key=lambda g: g.us):
        backend, device, mode = g.key
        us = f"{sig(g.us)}; {cell(g.us_min, why='not timed')}"
        bare = summary.bare_us.get((backend, device))
        if mode == "idiomatic" and bare is not None:
            us += f" ({sig(bare)} for the article's own code, timed bare)"
        solved = f"{g.solved}/{g.seeds}{borrowed(g)}" if g.seeds else "not measured (no seeds)"
        rows.append([headline_name(g), us, cell(g.startup_s, why="not timed"), solved])
    return rows


def headline(out_dir: Path) -> str:
    """README's headline table, rendered from a run's folder: one row per timed backend and mode, fastest first."""
    summary = summarise(load(out_dir, curves=False, sweep=False))
    if "runs.csv" in summary.missing:
        raise ValueError(f"no headline table: {summary.missing['runs.csv']}")
    seeds = {g.seeds for g in summary.groups if measured(g.us)}
    solved = f"solved, {seeds.pop()} seeds" if len(seeds) == 1 else "solved"
    header = [
        "backend (mode)",
        f"µs per epoch, {summary.preset} preset (median; fastest window)",
        "start-up s (import + build + first epoch)",
        solved,
    ]
    return md_table(header, headline_rows(summary))


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
