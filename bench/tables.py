"""The tables a run writes (docs/TABLES.md): their columns, and the one place they are written.

Every file is written atomically (a temporary file in the same folder, then a rename), and
the whole set is rewritten after each finished run, so an interrupted run leaves complete
tables holding every run that finished and never a half-written file.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from pathlib import Path

import pandas as pd

SCHEMA_VERSION = 1

RUN_COLUMNS = [
    "schema_version", "backend", "framework_version", "device", "device_name", "mode", "preset", "optimizer",
    "lr", "epochs", "seed", "dtype", "threads", "status", "reason", "final_loss", "accuracy", "solved",
    "epoch_solved", "train_s", "epoch_us_median", "epoch_us_iqr", "epoch_us_min", "first_epoch_s",
    "time_to_solve_s", "import_s", "role", "method", "init", "outputs",
]  # fmt: skip
TIMING_COLUMNS = ["backend", "device", "mode", "preset", "repeat", "window_epochs", "epoch_us"]
CURVE_COLUMNS = ["backend", "device", "mode", "preset", "seed", "epoch", "loss"]
ENV_KEYS = [
    "schema_version", "timestamp", "command", "git_commit", "cpu_model", "cores", "memory_gb", "os", "python",
    "frameworks", "blas", "gpu", "threads",
]  # fmt: skip
STATUSES = ("ok", "diverged", "skipped", "error")
ROLES = ("timing", "convergence")


def write_atomic(path: Path, text: str) -> None:
    """Write text to path so that readers see the old file or the new one, never a part."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; tables are for everyone to read
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def csv_text(rows: list[dict], columns: list[str]) -> str:
    buffer = io.StringIO()
    pd.DataFrame(rows, columns=columns).to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def curve_text(key: tuple, losses) -> str:
    """Rows of curves.csv for one run; rendered once, since the file is rewritten many times."""
    prefix = ",".join(str(part) for part in key)
    return "".join(f"{prefix},{epoch},{float(loss):.9g}\n" for epoch, loss in enumerate(losses))


class Tables:
    """The tables of one run, held in memory and rewritten to out_dir as runs finish."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.runs: list[dict] = []
        self.timings: list[dict] = []
        self.curves: dict[tuple, str] = {}  # one curve per (backend, device, mode, preset, seed)

    def add(self, row: dict, curve=None, timings=None, window_epochs: int | None = None) -> None:
        unknown = set(row) - set(RUN_COLUMNS)
        if unknown:
            raise ValueError(f"unknown runs.csv columns: {sorted(unknown)}")
        if row.get("status") not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}; got {row.get('status')!r}")
        self.runs.append({**{c: None for c in RUN_COLUMNS}, **row, "schema_version": SCHEMA_VERSION})
        key = tuple(row[c] for c in ("backend", "device", "mode", "preset"))
        if curve is not None and len(curve):
            # A later, longer run of the same seed (seed 0 trained in full after a shortened
            # timing run) replaces the earlier curve: curves.csv keeps one curve per run key.
            self.curves[(*key, row["seed"])] = curve_text((*key, row["seed"]), curve)
        for repeat, epoch_us in enumerate(timings or []):
            self.timings.append(dict(zip(TIMING_COLUMNS, (*key, repeat, window_epochs, epoch_us))))

    def save(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self.out_dir / "runs.csv", csv_text(self.runs, RUN_COLUMNS))
        write_atomic(self.out_dir / "timings.csv", csv_text(self.timings, TIMING_COLUMNS))
        write_atomic(self.out_dir / "curves.csv", ",".join(CURVE_COLUMNS) + "\n" + "".join(self.curves.values()))


def write_env(out_dir: Path, env: dict) -> None:
    missing = [k for k in ENV_KEYS if k not in env]
    if missing:
        raise ValueError(f"env.json needs {missing}")
    write_atomic(Path(out_dir) / "env.json", json.dumps(env, indent=2, default=_jsonable) + "\n")


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)
