"""Reading the scaling sweep: where frameworks converge and where the GPU pays.

Pure table logic (pandas in, plain values out), and the sentences that say it, shared by
`xorbench sweep`'s summary and the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..backends import REGISTRY, floor_backends  # the registry; imports no framework

HIDDEN = (4, 16, 64, 256, 1024, 4096)
BATCH = (4, 256, 4096, 65536)
QUICK_HIDDEN = (4, 64, 1024)
QUICK_BATCH = (4, 4096)
WITHIN = 2.0


def frameworks() -> tuple[str, ...]:
    """The contenders: every registered backend but the floors, which are a reference."""
    floors = floor_backends()
    return tuple(name for name in REGISTRY if name not in floors)


def __getattr__(name: str):
    if name == "FRAMEWORKS":  # read when asked, so that a backend registered later counts
        return frameworks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _ok(sweep: pd.DataFrame) -> pd.DataFrame:
    ok = sweep[sweep["status"] == "ok"].copy()
    ok["work"] = ok["hidden"] * ok["batch"]
    return ok


def spread(sweep: pd.DataFrame, device: str, mode: str) -> pd.DataFrame:
    """Per (hidden, batch): slowest / fastest per-epoch median among the frameworks measured."""
    ok = _ok(sweep)
    ok = ok[(ok["device"] == device) & (ok["mode"] == mode) & ok["backend"].isin(frameworks())]
    grouped = ok.groupby(["hidden", "batch"])["epoch_us_median"]
    table = pd.DataFrame({"fastest_us": grouped.min(), "slowest_us": grouped.max(), "backends": grouped.count()})
    table["ratio"] = table["slowest_us"] / table["fastest_us"]
    table["work"] = [h * b for h, b in table.index]
    return table[table["backends"] >= 2].reset_index().sort_values(["work", "hidden"])


def within_factor_from(sweep: pd.DataFrame, device: str, mode: str, factor: float = WITHIN) -> dict | None:
    """The smallest hidden x batch from which every larger cell has the frameworks within `factor`.

    None when no cell has at least two frameworks measured; {"hidden": None, ...} when
    even the largest cell is not within the factor.
    """
    table = spread(sweep, device, mode)
    if table.empty:
        return None
    holds = (table["ratio"] <= factor).to_numpy()
    start = len(holds)
    while start > 0 and holds[start - 1]:
        start -= 1  # walk back from the largest cell while it still holds
    cells = len(table)
    if start == cells:
        return {"hidden": None, "batch": None, "ratio": float(table["ratio"].iloc[-1]), "cells": cells}
    row = table.iloc[start]
    return {"hidden": int(row["hidden"]), "batch": int(row["batch"]), "ratio": float(row["ratio"]), "cells": cells}


def gpu_overtakes(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per backend and mode: the smallest hidden x batch where the GPU epoch beats the CPU one."""
    ok = _ok(sweep)
    cpu = ok[ok["device"] == "cpu"].set_index(["backend", "mode", "hidden", "batch"])["epoch_us_median"]
    gpu = ok[ok["device"] == "gpu"].set_index(["backend", "mode", "hidden", "batch"])["epoch_us_median"]
    both = pd.DataFrame({"cpu_us": cpu, "gpu_us": gpu}).dropna().reset_index()
    rows = []
    for (backend, mode), cells in both.groupby(["backend", "mode"]):
        cells = cells.assign(work=cells["hidden"] * cells["batch"]).sort_values(["work", "hidden"])
        faster = cells[cells["gpu_us"] < cells["cpu_us"]]
        first = faster.iloc[0] if len(faster) else None
        rows.append(
            {
                "backend": backend,
                "mode": mode,
                "cells": len(cells),
                "hidden": None if first is None else int(first["hidden"]),
                "batch": None if first is None else int(first["batch"]),
                "speedup": None if first is None else float(first["cpu_us"] / first["gpu_us"]),
                "best_speedup": float((cells["cpu_us"] / cells["gpu_us"]).max()),
            }
        )
    return pd.DataFrame(rows, columns=["backend", "mode", "cells", "hidden", "batch", "speedup", "best_speedup"])


@dataclass(frozen=True)
class Crossovers:
    """What the sweep found: per (device, mode) where the frameworks come within WITHIN of each
    other (within_factor_from's answer), and per backend and mode where the GPU overtakes the CPU."""

    within: tuple[tuple[str, str, dict | None], ...]
    overtakes: tuple[dict, ...]  # gpu_overtakes' rows


def crossovers(sweep: pd.DataFrame) -> Crossovers:
    ok = sweep[sweep["status"] == "ok"]
    pairs = sorted({(d, m) for d, m in zip(ok["device"], ok["mode"])})
    within = tuple((device, mode, within_factor_from(sweep, device, mode)) for device, mode in pairs)
    return Crossovers(within, tuple(gpu_overtakes(sweep).to_dict("records")))


def crossover_lines(found: Crossovers) -> list[str]:
    """The crossovers as plain sentences."""
    lines = []
    for device, mode, where in found.within:
        if where is None:
            text = "fewer than two frameworks measured"
        elif where["hidden"] is None:
            text = f"not within {WITHIN:g}x even at the largest cell compared (ratio {where['ratio']:.3g})"
        else:
            work = where["hidden"] * where["batch"]
            text = (f"within {WITHIN:g}x from hidden {where['hidden']} x batch {where['batch']} (work {work:,}) "
                    f"upwards (ratio {where['ratio']:.3g} there; {where['cells']} cells compared)")  # fmt: skip
        lines.append(f"{device}/{mode}: frameworks {text}")
    if not found.overtakes:
        lines.append("GPU vs CPU: not measured (no cell timed on both devices)")
    for row in found.overtakes:
        if row["hidden"] is None or row["hidden"] != row["hidden"]:  # None or NaN
            text = f"never overtakes the CPU in {row['cells']} cells (best {row['best_speedup']:.2g}x)"
        else:
            text = (f"GPU overtakes the CPU from hidden {int(row['hidden'])} x batch {int(row['batch'])} "
                    f"({row['speedup']:.2g}x there, best {row['best_speedup']:.2g}x)")  # fmt: skip
        lines.append(f"{row['backend']}/{row['mode']}: {text}")
    return lines


def summary_lines(sweep: pd.DataFrame) -> list[str]:
    """The crossover statements of a sweep table, as plain sentences (the sweep command's and the report's)."""
    return crossover_lines(crossovers(sweep))
