"""The tables a run writes (docs/TABLES.md): one dataclass per row, and the one place they are written.

A row's fields *are* the table's columns, in order; docs/TABLES.md is tested against them. Every
file is written atomically (a temporary file in the same folder, then a rename), and the set is
rewritten after each finished run (the curves at most every CURVES_EVERY_S seconds: Tables.save), so
an interrupted run leaves complete tables holding the runs that finished and never a half-written file.
The curves are Parquet (curves_parquet); every other table is CSV.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

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
    """A table as written here, Parquet (the curves) or CSV (the rest): numbers
    as numbers (NaN where empty), text as text ("" where empty). Numbers are 64-bit, but in a table of
    CURVE_ROWS rows or more, which keeps the file's own (the curves' int32 epochs and float32 losses)."""
    path = Path(path)
    if path.suffix == ".parquet":  # the curves: millions of rows, so text keys stay categorical (1 byte a row)
        with open(path, "rb") as file:  # Python opens any path; pyarrow refuses a non-UTF-8 one
            table = pq.read_table(file, read_dictionary=CURVE_KEY[:4])
            data = table.to_pandas(self_destruct=True, split_blocks=True)  # frees Arrow's copy column by column
            del table
    else:
        data = pd.read_csv(path, keep_default_na=True)
        if path.suffix == ".csv" and not ends_whole(path):
            raise Cut(f"{path.name} is cut mid-row (its last line has no end)")
    types = kinds(row_type)
    for name in data.columns:
        if types.get(name) in ("int", "float"):
            data[name] = pd.to_numeric(data[name], errors="coerce")
            if data[name].dtype.kind in "iu":
                data[name] = data[name].astype("int64" if len(data) < CURVE_ROWS else data[name].dtype)
            elif data[name].dtype.kind == "f":
                data[name] = data[name].astype("float64" if len(data) < CURVE_ROWS else data[name].dtype)
        elif isinstance(data[name].dtype, pd.CategoricalDtype):  # sorted as text sorts, not as first seen
            data[name] = data[name].cat.reorder_categories(sorted(data[name].cat.categories))
        elif types.get(name) == "str" or name not in types:
            data[name] = data[name].astype(object).fillna("").astype(str)
    return data


class Cut(ValueError):
    """A CSV table whose last row was cut short (a copy or a disk that stopped mid-file): its rows are
    not all there, and the last one, read, would count as a whole row with empty cells."""


def ends_whole(path: Path) -> bool:
    """Every row here ends with a newline (csv_text writes one after the last), so a file ending in
    anything else was cut mid-row. An empty file is whole (and empty)."""
    with open(path, "rb") as file:
        if file.seek(0, os.SEEK_END) == 0:
            return True
        file.seek(-1, os.SEEK_END)
        return file.read(1) in (b"\n", b"\r")


# a file that is no table
UNREADABLE = (pd.errors.ParserError, UnicodeDecodeError, OSError, pa.ArrowException, Cut)


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


CURVE_KEY = CURVE_COLUMNS[:5]  # backend, device, mode, preset, seed: one curve each
# loss is float32: the matched and classic presets train in float32, so that is the losses' own precision
# (the numba floor sums its float32 errors in float64, and numpy's article preset trains in float64: their
# losses are rounded to float32 here, a relative 6e-8 at most). The four text keys and the seed are
# dictionary-encoded (a handful of values each), epoch is delta-encoded (it counts up by one), and loss is
# byte-stream-split (each byte of the float32s in a stream of its own, so the sign-and-exponent bytes, which
# vary little, compress apart from the mantissas), all compressed with zstd: 1.47 MB for the reference
# run's 730,000 losses, 5.7 MB as curves.csv.gz (smallest of the combinations measured on them).
CURVE_SCHEMA = pa.schema([
    *((name, pa.dictionary(pa.int32(), pa.string())) for name in CURVE_KEY[:4]),
    ("seed", pa.int64()),
    ("epoch", pa.int32()),
    ("loss", pa.float32()),
])  # fmt: skip
CURVE_GROUP = 1 << 20  # rows per Parquet row group: a reader decodes a group at a time
CURVE_ROWS = 1_000_000  # a table this long keeps its file's narrow numbers when read (read_table)
CURVES_EVERY_S = 10.0  # Tables.save rewrites curves.parquet at most this often, but for a run's first and last save


def curves_parquet(columns: Mapping[str, object]) -> bytes:
    """The curves table as the bytes of a Parquet file: `columns` maps each of CURVE_COLUMNS to its values
    (arrays or lists, converted to CURVE_SCHEMA's types), every curve's rows together, epochs ascending.
    zstd at level 15: within 0.3% of its smallest (level 19-22) at a third of level 19's time. The same
    curves give the same bytes (no timestamp), so a rerun does not churn the repository."""
    table = pa.table({name: columns[name] for name in CURVE_COLUMNS}, schema=CURVE_SCHEMA)
    sink = pa.BufferOutputStream()
    pq.write_table(
        table, sink, compression="zstd", compression_level=15, use_dictionary=CURVE_KEY,
        use_byte_stream_split=["loss"], column_encoding={"epoch": "DELTA_BINARY_PACKED"},
        row_group_size=CURVE_GROUP,
    )  # fmt: skip
    return sink.getvalue().to_pybytes()


def curve_columns(curves: Mapping[tuple, np.ndarray]) -> dict[str, object]:
    """{(backend, device, mode, preset, seed): losses} as the curves table's columns, curve after curve: the
    text keys as dictionary arrays (an int32 index a row, not a string), epochs as int32."""
    lengths = np.array([len(losses) for losses in curves.values()], dtype=np.int64)
    which = np.repeat(np.arange(len(curves), dtype=np.int32), lengths)  # each row's curve
    keys = list(zip(*curves)) if curves else [()] * len(CURVE_KEY)
    columns = {}
    for name, values in zip(CURVE_KEY[:4], keys):
        names, index = np.unique(np.array(values, dtype=object).astype(str), return_inverse=True)
        columns[name] = pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)[which]), pa.array(names))
    columns["seed"] = np.asarray(keys[4], dtype=np.int64)[which]
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    columns["epoch"] = (np.arange(int(lengths.sum())) - starts).astype(np.int32)
    columns["loss"] = np.concatenate([np.zeros(0, np.float32), *curves.values()])
    return columns


def read_curves(folder: Path) -> pd.DataFrame:
    """The curves table of a run's folder, as read_table reads it."""
    return read_table(Path(folder) / CURVES, CurveRow)


Series = dict[tuple, dict[int, tuple[np.ndarray, np.ndarray]]]  # (backend, device, mode, preset) -> seed -> arrays


def read_series(path: Path) -> Series:
    """A curves table as one (epochs, losses) pair of arrays per curve, read a row group at a time: the
    table is never held whole, so reading takes about the arrays' own 12 bytes an epoch."""
    with open(path, "rb") as file:  # Python opens any path; pyarrow refuses a non-UTF-8 one
        return split_series(pq.ParquetFile(file).iter_batches(batch_size=CURVE_GROUP, columns=CURVE_COLUMNS))


def split_series(batches) -> Series:
    """Curves from record batches whose rows run curve after curve (as curve_columns writes them)."""
    pieces: dict[tuple, list] = {}
    for batch in batches:
        codes, names = [], []
        for name in CURVE_KEY:
            column = batch.column(name)
            if name != "seed" and not pa.types.is_dictionary(column.type):
                column = column.dictionary_encode()
            if pa.types.is_dictionary(column.type):
                codes.append(column.indices.to_numpy(zero_copy_only=False))
                names.append(column.dictionary.to_pylist())
            else:
                codes.append(column.to_numpy(zero_copy_only=False))
                names.append(None)
        if not batch.num_rows:
            continue
        change = np.zeros(batch.num_rows, dtype=bool)
        change[0] = True
        for found in codes:
            change[1:] |= found[1:] != found[:-1]
        starts = [*np.flatnonzero(change), batch.num_rows]
        epochs = batch.column("epoch").to_numpy(zero_copy_only=False)
        losses = batch.column("loss").to_numpy(zero_copy_only=False)
        for start, end in zip(starts[:-1], starts[1:]):
            key = tuple(str(n[c[start]]) if n is not None else int(c[start]) for c, n in zip(codes, names))
            pieces.setdefault(key, []).append((epochs[start:end], losses[start:end]))
    series: Series = {}
    for (*key, seed), parts in pieces.items():
        joined = (np.concatenate([e for e, _ in parts]).astype(np.int64), np.concatenate([x for _, x in parts]))
        series.setdefault(tuple(key), {})[seed] = (joined[0], joined[1].astype(np.float64))
    return series


class Tables:
    """The tables of one run or sweep, held in memory and saved to out_dir as runs finish.

    The CSV tables grow by appending each save's new rows (the bytes written over a run are the
    tables' size, not the square of it); curves.parquet, compressed whole, is rewritten on a throttle."""

    def __init__(self, out_dir: Path, kind: str = "run", clock: Callable[[], float] = time.monotonic):
        self.out_dir = Path(out_dir)
        self.kind = kind  # "run": runs, timings, curves; "sweep": sweep.csv
        self.runs: list[RunRow] = []
        self.cells: list[SweepRow] = []
        self.timings: list[TimingRow] = []
        self.curves: dict[tuple, np.ndarray] = {}  # float32 losses per (backend, device, mode, preset, seed)
        self.clock = clock
        self.curves_saved_at: float | None = None  # clock() when curves.parquet was last written
        self.curves_took = 0.0  # how long that write took
        self.curves_changed = True  # since then
        self.written: dict[Path, tuple[int, int]] = {}  # CSV table -> (rows, bytes) on disk
        self.csv_bytes = 0  # written to the CSV tables by every save: their size, once (tested)

    def add(self, row: dict | RunRow, curve=None, timings=None) -> RunRow:
        row = make_row(RunRow, row)
        self.runs.append(row)
        key = (row.backend, row.device, row.mode, row.preset)
        if curve is not None and len(curve):
            # A later, longer run of the same seed (seed 0 trained in full after a shortened
            # timing run) replaces the earlier curve: the curves table keeps one curve per run key.
            # It keeps the earlier curve's place: curves stay in the order they first arrived.
            self.curves[(*key, row.seed)] = np.asarray(curve, dtype=np.float32)
            self.curves_changed = True
        for repeat, window in enumerate(timings or []):  # {window_epochs, epoch_us[, cpu_ratio]} per timed window
            self.timings.append(TimingRow(**dict(zip(TIMING_COLUMNS, (*key, repeat))), process=row.process, **window))
        return row

    def add_cell(self, row: dict | SweepRow) -> SweepRow:
        row = make_row(SweepRow, row)
        self.cells.append(row)
        return row

    def save(self, final: bool = False) -> None:
        """Bring the files up to date with the rows; NotSaved when one cannot be written, the files on disk
        then still holding whole rows only.

        Each CSV table gets the rows added since the last save appended (save_csv). curves.parquet, the
        largest, compressed whole each time, is written at the first save (empty, but a table with its
        columns), at the `final` one (the run's end, however it ends: runner.finish), and in between only
        when its curves changed and CURVES_EVERY_S, or ten times its last write's time, have passed: its
        writing never takes more than a tenth of a run. So during a run it may lack the last seconds'
        curves; a run killed outright (SIGKILL) leaves it so."""
        tables = [("sweep.csv", self.cells, SweepRow)] if self.kind == "sweep" else [
            ("timings.csv", self.timings, TimingRow), ("runs.csv", self.runs, RunRow)]  # fmt: skip
        # (a run's windows reach the disk before its row: a row on disk always has its windows)
        for name, rows, row_type in tables:
            self.save_csv(self.out_dir / name, rows, row_type)
        if self.kind == "sweep":
            return
        now, last = self.clock(), self.curves_saved_at
        wait = max(CURVES_EVERY_S, 10 * self.curves_took)
        if final or last is None or (self.curves_changed and now - last >= wait):
            data = curves_parquet(curve_columns(self.curves))
            save({self.out_dir / CURVES: data})
            self.curves_saved_at, self.curves_changed = now, False
            self.curves_took = self.clock() - now

    def save_csv(self, path: Path, rows: list, row_type: type) -> None:
        """Append the rows not yet on disk to a CSV table; the first save, or a file that is not as this run
        left it, gets the whole table written atomically. A failed append is cut back to the last whole row."""
        done, size = self.written.get(path, (0, -1))
        if done == len(rows) and size >= 0:
            return
        try:
            same = size >= 0 and os.lstat(path).st_size == size
        except OSError:
            same = False
        if not same:
            text = utf8(csv_text(rows, row_type))
            save({path: text})
        else:
            text = utf8(csv_text(rows[done:], row_type).split("\n", 1)[1])  # without the header line
            append(path, text, size)
        self.written[path] = (len(rows), (size if same else 0) + len(text))
        self.csv_bytes += len(text)


def append(path: Path, data: bytes, size: int) -> None:
    """Append data to a file of `size` bytes, never through a link; on failure (a full disk) cut it back to
    `size`, so the file holds whole rows only, and raise NotSaved."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        raise NotSaved(path, error) from error
    try:
        if os.write(fd, data) != len(data):  # a full disk can take part of a write without an error
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    except OSError as error:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise NotSaved(path, error) from error
    finally:
        os.close(fd)


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


def update_env(out_dir: Path, **changes) -> None:
    """Change fields of a finished run's env.json (a report interrupted after the run: interrupted=True);
    nothing where the run wrote none, or it cannot be read or written (the report's line says the rest)."""
    path = Path(out_dir) / "env.json"
    try:
        env = json.loads(path.read_text())
        save({path: json.dumps({**env, **changes}, indent=2, default=_jsonable) + "\n"})
    except (OSError, ValueError, NotSaved):
        pass


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)
