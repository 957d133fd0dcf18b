"""The tables a run writes (docs/TABLES.md): one dataclass per row, and the one place they are written.

A row's fields *are* the table's columns, in order; docs/TABLES.md is tested against them. Every
file is written atomically (a temporary file in the same folder, then a rename), and the whole set
is rewritten after each finished run, so an interrupted run leaves complete tables holding every
run that finished and never a half-written file.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import os
import tempfile
from pathlib import Path

import pandas as pd

from .rows import (  # noqa: F401  (re-exported: the tables' schema lives in rows.py)
    CURVE_COLUMNS,
    CURVES,
    ENV_KEYS,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    STATUSES,
    SWEEP_COLUMNS,
    TABLES,
    TIMING_COLUMNS,
    CurveRow,
    RunRow,
    SweepRow,
    TimingRow,
    columns,
    kinds,
    make_row,
)


def frame(rows: list, row_type: type) -> pd.DataFrame:
    """Rows as a DataFrame in the table's column order; integer columns stay integers beside empty cells."""
    data = pd.DataFrame([dataclasses.asdict(r) for r in rows], columns=columns(row_type))
    integers = {c: "Int64" for c, kind in kinds(row_type).items() if kind == "int"}
    return data.astype(integers)


def csv_text(rows: list, row_type: type) -> str:
    return frame(rows, row_type).to_csv(index=False, lineterminator="\n")


def read_table(path: Path, row_type: type) -> pd.DataFrame:
    """A table as written here: numbers as numbers (NaN where empty), text as text ("" where empty)."""
    data = pd.read_csv(path, keep_default_na=True)
    types = kinds(row_type)
    for name in data.columns:
        if types.get(name) in ("int", "float"):
            data[name] = pd.to_numeric(data[name], errors="coerce")
        elif types.get(name) == "str" or name not in types:
            data[name] = data[name].astype(object).fillna("").astype(str)
    return data


class NotSaved(Exception):
    """A table (or env.json) could not be written; the files on disk are still their last complete set."""

    def __init__(self, path: Path, error: OSError):
        where = f"{path.name} in {path.parent}/" if not path.is_dir() else f"the tables in {path}/"
        super().__init__(f"could not write {where} ({error.strerror or error})")
        self.path, self.error = path, error


def utf8(text: str) -> bytes:
    """Text as UTF-8. A character UTF-8 cannot hold (a byte of a non-UTF-8 path, which Python decodes
    to a lone surrogate) is written as its escape, \\xff, rather than failing the write."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")  # the path's own bytes back
        except UnicodeEncodeError:
            return text.encode("utf-8", "backslashreplace")
        return raw.decode("utf-8", "backslashreplace").encode("utf-8")


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write text (or bytes) to path so that readers see the old file or the new one, never a part."""
    write_atomic_all({Path(path): data})


def write_atomic_all(files: dict[Path, str | bytes]) -> None:
    """Write every file beside itself under a temporary name, then, once all are written, rename each
    in place: a full disk or a crash leaves the last complete set (renames need no space). An OSError
    names the file it stopped at (its `filename`)."""
    temporaries: dict[Path, str] = {}
    try:
        for path, data in files.items():
            try:
                handle, temporaries[path] = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
                with os.fdopen(handle, "wb") as file:
                    file.write(utf8(data) if isinstance(data, str) else data)
                os.chmod(temporaries[path], 0o644)  # mkstemp makes it private; tables are for everyone to read
            except OSError as error:
                error.filename = error.filename or str(path)
                raise
        for path, temporary in temporaries.items():
            os.replace(temporary, path)
    except BaseException:
        for temporary in temporaries.values():
            Path(temporary).unlink(missing_ok=True)
        raise


def curve_text(key: tuple, losses) -> str:
    """Rows of the curves table for one run."""
    prefix = ",".join(str(part) for part in key)
    return "".join(f"{prefix},{epoch},{float(loss):.9g}\n" for epoch, loss in enumerate(losses))


def gzip_member(text: str) -> bytes:
    """Text as one gzip member. A .gz file may hold several members one after another, which gzip and
    pandas read as one stream: each curve is compressed once, when it arrives, not at every save.
    mtime=0: the same curves give the same bytes, so a rerun does not churn the repository."""
    return gzip.compress(utf8(text), compresslevel=9, mtime=0)


HEADER = gzip_member(",".join(CURVE_COLUMNS) + "\n")


class Tables:
    """The tables of one run or sweep, held in memory and rewritten to out_dir as runs finish."""

    def __init__(self, out_dir: Path, kind: str = "run"):
        self.out_dir = Path(out_dir)
        self.kind = kind  # "run": runs, timings, curves; "sweep": sweep.csv
        self.runs: list[RunRow] = []
        self.cells: list[SweepRow] = []
        self.timings: list[TimingRow] = []
        self.curves: dict[tuple, bytes] = {}  # one gzip member per (backend, device, mode, preset, seed)

    def add(self, row: dict | RunRow, curve=None, timings=None) -> RunRow:
        row = make_row(RunRow, row)
        self.runs.append(row)
        key = (row.backend, row.device, row.mode, row.preset)
        if curve is not None and len(curve):
            # A later, longer run of the same seed (seed 0 trained in full after a shortened
            # timing run) replaces the earlier curve: the curves table keeps one curve per run key.
            self.curves[(*key, row.seed)] = gzip_member(curve_text((*key, row.seed), curve))
        for repeat, window in enumerate(timings or []):  # {window_epochs, epoch_us[, cpu_ratio]} per timed window
            self.timings.append(TimingRow(**dict(zip(TIMING_COLUMNS, (*key, repeat))), process=row.process, **window))
        return row

    def add_cell(self, row: dict | SweepRow) -> SweepRow:
        row = make_row(SweepRow, row)
        self.cells.append(row)
        return row

    def save(self) -> None:
        """Rewrite every table, all or none (write_atomic_all); NotSaved when one cannot be written."""
        if self.kind == "sweep":
            save({self.out_dir / "sweep.csv": csv_text(self.cells, SweepRow)})
            return
        save({
            self.out_dir / "runs.csv": csv_text(self.runs, RunRow),
            self.out_dir / "timings.csv": csv_text(self.timings, TimingRow),
            self.out_dir / CURVES: HEADER + b"".join(self.curves.values()),
        })  # fmt: skip


def save(files: dict[Path, str | bytes]) -> None:
    """write_atomic_all(files), their folder made first; an OSError becomes NotSaved, naming the file."""
    folder = next(iter(files)).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic_all(files)
    except OSError as error:
        raise NotSaved(Path(error.filename or folder), error) from error


def write_env(out_dir: Path, env: dict) -> None:
    missing = [k for k in ENV_KEYS if k not in env]
    if missing:
        raise ValueError(f"env.json needs {missing}")
    save({Path(out_dir) / "env.json": json.dumps(env, indent=2, default=_jsonable) + "\n"})


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)
