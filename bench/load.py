"""Reading a run's folder: each table through its one schema (the row dataclasses of bench/rows.py),
what is missing or unreadable said in one line, and the small value helpers the summaries share."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from .rows import SummaryRow
from .stats import (
    median,
    median_ci,
)
from .tables import (
    CURVES,
    SCHEMA_VERSION,
    UNREADABLE,
    CurveRow,
    Cut,
    RunRow,
    SweepRow,
    TimingRow,
    kinds,
    read_series,
    read_table,
)

# ---------------------------------------------------------------- load


@dataclass
class Loaded:
    """A run's tables as read from its folder: the one container the summaries read."""

    runs: pd.DataFrame | None = None
    timings: pd.DataFrame | None = None
    curves: dict | None = None  # tables.read_series: (backend, device, mode, preset) -> seed -> (epochs, losses)
    sweep: pd.DataFrame | None = None
    env: dict | None = None
    missing: dict[str, str] = field(default_factory=dict)  # file name -> why it is not usable
    absent: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file name -> schema columns it lacks
    warnings: list[str] = field(default_factory=list)  # one line each, for the reader and the CLI


def required(row_type: type) -> list[str]:
    """The columns a table cannot do without: the row fields that have no default."""
    return [f.name for f in dataclasses.fields(row_type) if f.default is f.default_factory is dataclasses.MISSING]


class Unreadable(ValueError):
    """A table that is there but cannot be read whole (garbage, wrong columns, empty, cut mid-row)."""


def read_whole(path: Path, row_type: type) -> pd.DataFrame:
    """A table with every column its rows need, or Unreadable with the one line that says why
    (FileNotFoundError when there is none)."""
    name = path.name
    try:
        data = read_table(path, row_type)
    except FileNotFoundError:  # absent, not unreadable: the OSError in UNREADABLE would take it
        raise
    except pd.errors.EmptyDataError:
        raise Unreadable(f"{name} is empty") from None
    except Cut as error:
        raise Unreadable(str(error)) from None
    except UNREADABLE as error:
        raise Unreadable(f"{name} is not a readable table ({error.__class__.__name__})") from None
    check_columns(name, data.columns, row_type)
    check_version(name, data)
    return data


def check_version(name: str, data: pd.DataFrame) -> None:
    """Unreadable where an older xorbench wrote the table: its columns meant other things then, and no reader
    of older schemas is kept. (A newer one is read, with a warning: newer_schema.)"""
    if "schema_version" not in data.columns or data.empty:
        return
    oldest = pd.to_numeric(data["schema_version"], errors="coerce").min()
    if not oldest >= SCHEMA_VERSION:  # NaN too: a table from before the column
        version = "no schema_version" if pd.isna(oldest) else f"schema_version {int(oldest)}"
        raise Unreadable(f"{name} is from an older xorbench ({version}; this one reads {SCHEMA_VERSION})")


def check_columns(name: str, columns, row_type: type) -> None:
    """Unreadable, naming them, where a table lacks columns its rows cannot do without."""
    absent = [c for c in required(row_type) if c not in columns]
    if absent:
        raise Unreadable(f"{name} lacks columns {', '.join(absent)}")


def unreadable(out_dir: Path) -> list[str]:
    """Why each table in out_dir that `report` reads cannot be read whole; [] when every one present can."""
    out_dir, found = Path(out_dir), []
    tables = {"runs.csv": RunRow, "timings.csv": TimingRow, CURVES: CurveRow, "sweep.csv": SweepRow,
              "summary.csv": SummaryRow}  # fmt: skip
    for name, row_type in tables.items():
        try:
            check_curves(out_dir / name) if row_type is CurveRow else read_whole(out_dir / name, row_type)
        except FileNotFoundError:
            pass
        except Unreadable as error:
            found.append(str(error))
    return found


def read(path: Path, row_type: type) -> tuple[pd.DataFrame | None, str | None]:
    """A table through its schema, every schema column present (empty where the file lacks it); or why not."""
    try:
        data = read_whole(path, row_type)
    except FileNotFoundError:
        return None, f"no {path.name} in this run"
    except Unreadable as error:
        return None, str(error)
    if data.empty:
        return None, f"{path.name} has no rows"
    types = kinds(row_type)
    lacking = tuple(column for column in types if column not in data.columns)
    for column in lacking:
        data[column] = "" if types[column] == "str" else np.nan
    data.attrs["absent"] = lacking  # an older xorbench's table: these columns are empty, not measured
    return data, None


def read_curves_of(path: Path) -> tuple[dict | None, str | None]:
    """The curves table as its series (tables.read_series), or why not."""
    try:
        check_curves(path)
        series = read_series(path)
    except FileNotFoundError:
        return None, f"no {path.name} in this run"
    except Unreadable as error:
        return None, str(error)
    except (*UNREADABLE, KeyError, ValueError) as error:
        return None, f"{path.name} is not a readable table ({error.__class__.__name__})"
    return (series, None) if series else (None, f"{path.name} has no rows")


def check_curves(path: Path) -> None:
    """Unreadable unless curves.parquet's footer reads and names every column a curve needs. Nothing is
    decoded: the curves are the largest table."""
    try:
        with open(path, "rb") as file:
            names = pq.read_schema(file).names
    except FileNotFoundError:
        raise
    except UNREADABLE as error:
        raise Unreadable(f"{path.name} is not a readable table ({error.__class__.__name__})") from None
    check_columns(path.name, names, CurveRow)


def read_env(out_dir: Path) -> tuple[dict | None, str | None]:
    try:
        return json.loads((out_dir / "env.json").read_text()), None
    except FileNotFoundError:
        return None, "no env.json in this run"
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return None, f"env.json is not valid JSON ({error.__class__.__name__})"


def load(out_dir: Path, *, curves: bool = True, sweep: bool = True) -> Loaded:
    """Read a run's folder; `curves`/`sweep` False skip those tables (summary.csv needs neither)."""
    out_dir, loaded = Path(out_dir), Loaded()
    wanted = {"runs.csv": ("runs", RunRow), "timings.csv": ("timings", TimingRow)}
    if curves:
        loaded.curves, why = read_curves_of(out_dir / CURVES)
        if why:
            loaded.missing[CURVES] = why
    if sweep:
        wanted["sweep.csv"] = ("sweep", SweepRow)
    for name, (attribute, row_type) in wanted.items():
        data, why = read(out_dir / name, row_type)
        setattr(loaded, attribute, data)
        if why:
            loaded.missing[name] = why
        else:
            loaded.absent[name] = data.attrs.get("absent", ())
    loaded.env, why = read_env(out_dir)
    if why:
        loaded.missing["env.json"] = why
    loaded.warnings = newer_schema(loaded)
    return loaded


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


# ---------------------------------------------------------------- small helpers


def measured(x) -> bool:
    return x is not None and not (isinstance(x, float | np.floating) and not math.isfinite(x))


def as_float(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def as_int(x) -> int | None:
    x = as_float(x)
    return int(x) if x is not None else None


def truthy(values: pd.Series) -> pd.Series:
    return values.astype(str).str.strip().str.lower().isin(["true", "1", "1.0", "yes"])


def numbers(values: pd.Series) -> np.ndarray:
    """A column's finite numbers (empty cells and text dropped)."""
    values = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return values[np.isfinite(values)]


def median_of(values: pd.Series) -> float | None:
    return median(numbers(values))


def max_of(values: pd.Series) -> float | None:
    found = numbers(values)
    return float(found.max()) if found.size else None


def trained(rows: pd.DataFrame) -> pd.Series:
    """Epochs each run trained: where it stopped short, else its epochs."""
    return rows["stopped_at_epoch"].where(rows["stopped_at_epoch"].notna(), rows["epochs"])


def trained_one(row: pd.Series | None) -> int | None:
    if row is None:
        return None
    stopped = as_int(row["stopped_at_epoch"])
    return stopped if stopped is not None else as_int(row["epochs"])


def ci(values) -> tuple[float, float] | None:
    """The 95% bootstrap interval of the median of values; None where fewer than two."""
    low, high = median_ci(values)
    return (low, high) if math.isfinite(low) else None
