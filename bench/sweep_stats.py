"""Reading the scaling sweep: where frameworks converge and where the GPU pays.

Pure table logic (pandas in, plain values out), shared by `xorbench sweep`'s
summary and the report.
"""

from __future__ import annotations

import pandas as pd

HIDDEN = (4, 16, 64, 256, 1024, 4096)
BATCH = (4, 256, 4096, 65536)
QUICK_HIDDEN = (4, 64, 1024)
QUICK_BATCH = (4, 4096)
FRAMEWORKS = ("numpy", "keras", "torch")  # the floor is a reference, not a contender
WITHIN = 2.0


def _ok(sweep: pd.DataFrame) -> pd.DataFrame:
    ok = sweep[sweep["status"] == "ok"].copy()
    ok["work"] = ok["hidden"] * ok["batch"]
    return ok


def spread(sweep: pd.DataFrame, device: str, mode: str) -> pd.DataFrame:
    """Per (hidden, batch): slowest / fastest per-epoch median among the frameworks measured."""
    ok = _ok(sweep)
    ok = ok[(ok["device"] == device) & (ok["mode"] == mode) & ok["backend"].isin(FRAMEWORKS)]
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
