"""A job, what one worker process measures, and every row it reports (its plan).

The worker follows `planned(job)`, and the manager fills a placeholder row for every planned key
a worker did not report, so the two can never disagree. Standard library only: the worker imports
this before its framework, whose import it times.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Job:
    """What one worker process measures: one backend on one device.

    kind "time": one mode's matched-preset timing in one fresh process (`process` of `processes`);
    kind "run": the convergence seeds of every mode, and the article presets; kind "sweep": cells;
    kind "probe" (`xorbench list`): whether the backend can run on each device, nothing measured.
    """

    kind: str
    backend: str
    device: str
    modes: tuple[str, ...]
    threads: int
    spec: dict  # the backend's BackendSpec: a worker can load a backend registered only in its parent
    repeats: int  # timed windows per timing run / per sweep cell
    window_s: float  # aim for timed windows about this long
    # kinds "time" and "run"
    seeds: int = 0  # convergence seeds of the matched preset: 0 .. seeds-1
    budget_s: float = 0.0  # a mode whose seeds or solve runs would take longer borrows / solves less
    matched: dict | None = None  # TrainConfig fields; None leaves the preset out
    article: dict | None = None
    classic: dict | None = None  # the 1986 experiment: convergence seeds only
    # kind "time"
    process: int = 0  # which of the row's fresh processes this is; its solve runs train seed `process`
    start_order: int = 0  # this process's place among all the run's processes, as started
    solve: bool = True  # train to solved (cold, then warm) in this process
    compile_cache: str = ""  # the on-disk compile cache this process starts with: cold | warm | ""
    # kind "run": what training every seed of each mode would take (from the time jobs), for borrowing
    costs: dict | None = None
    # kind "sweep"
    hidden: tuple[int, ...] = ()
    batch: tuple[int, ...] = ()
    cell_cap_s: float = 0.0  # an epoch longer than this (measured or extrapolated) skips the cell

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Job:
        data = json.loads(text)
        return cls(**{**data, **{k: tuple(data[k]) for k in ("modes", "hidden", "batch")}})


class RunKey(NamedTuple):
    mode: str
    preset: str
    seed: int
    role: str  # timing | convergence


class CellKey(NamedTuple):
    mode: str
    hidden: int
    batch: int


def planned(job: Job) -> list:
    """Every row the job reports, in the order the worker measures them."""
    if job.kind == "time":
        return [RunKey(job.modes[0], "matched", job.process, "timing")]
    return planned_cells(job) if job.kind == "sweep" else planned_runs(job)


def planned_runs(job: Job) -> list[RunKey]:
    """The convergence seeds of every mode (matched, then classic), then the article presets."""
    keys = []
    for preset in ("matched", "classic"):
        if getattr(job, preset) is not None:
            keys += [RunKey(mode, preset, seed, "convergence") for mode in job.modes for seed in range(job.seeds)]
    if job.article is not None and "idiomatic" in job.modes:
        keys.append(RunKey("idiomatic", "article", job.article["seed"], "timing"))
        if job.backend == "numpy" and job.device == "cpu":
            keys.append(RunKey("idiomatic", "article-bare", job.article["seed"], "timing"))
    return keys


def planned_cells(job: Job) -> list[CellKey]:
    """(mode, hidden, batch) in the order measured: per mode, by growing work."""
    grid = sorted(((h, b) for h in job.hidden for b in job.batch), key=lambda c: (c[0] * c[1], c[0]))
    return [CellKey(mode, h, b) for mode in job.modes for h, b in grid]
