"""A job, what one worker process measures, one type per kind; every row it reports (its plan); those rows.

The worker follows `planned(job)`, and the manager fills a placeholder row for every planned key a
worker did not report; both build the row with `planned_row`, so the two can never disagree.
Standard library only: the worker imports this before its framework, whose import it times.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from .rows import RunRow, SweepRow


@dataclass(frozen=True, kw_only=True)
class Measuring:
    """What every measuring job carries: one backend on one device, its threads pinned."""

    kind: ClassVar[str]
    backend: str
    device: str
    threads: int
    spec: dict  # the backend's BackendSpec: a worker can load a backend registered only in its parent
    repeats: int  # timed windows per timing run / per sweep cell
    window_s: float  # aim for timed windows about this long

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, **dataclasses.asdict(self)})

    @property
    def label(self) -> str:
        return f"{self.backend}/{self.device}"


@dataclass(frozen=True, kw_only=True)
class TimeJob(Measuring):
    """One mode's matched-preset timing in one fresh process (`process` of the row's processes)."""

    kind: ClassVar[str] = "time"
    mode: str
    matched: dict  # TrainConfig fields
    solve_s: float  # the solve runs (cold, then warm) share this
    process: int = 0  # which of the row's fresh processes this is; it trains seed `process`
    start_order: int = 0  # this process's place among all the run's processes, as started
    solve: bool = True  # train to solved (cold, then warm) in this process
    compile_cache: str = ""  # the on-disk compile cache this process starts with: cold | warm | ""

    @property
    def label(self) -> str:
        return f"{self.backend}/{self.device}/{self.mode} #{self.process + 1}"


@dataclass(frozen=True, kw_only=True)
class RunJob(Measuring):
    """The backend's convergence seeds (matched, then classic), each preset's on one mode, then the
    article presets.

    Every mode of a backend follows the same curve (tests/test_equivalence.py), so convergence is a
    property of the maths: trained once per backend and preset, on the mode that trains its seeds
    fastest (plan.convergence_modes)."""

    kind: ClassVar[str] = "run"
    modes: tuple[str, ...]  # the chosen modes: the article presets run in idiomatic mode, when chosen
    convergence_modes: dict  # preset -> the mode that trains its convergence seeds
    seeds: int  # convergence seeds per preset: 0 .. seeds-1
    solve_s: float  # an article run trains on past its windows while the rest fits this
    matched: dict | None = None  # TrainConfig fields; None leaves the preset out
    article: dict | None = None
    classic: dict | None = None  # the 1986 experiment: convergence seeds only


@dataclass(frozen=True, kw_only=True)
class SweepJob(Measuring):
    """Cells of the matched network at hidden x batch, per mode: plan.sweep_jobs gives each cell a process."""

    kind: ClassVar[str] = "sweep"
    modes: tuple[str, ...]
    matched: dict
    hidden: tuple[int, ...]
    batch: tuple[int, ...]
    cell_cap_s: float  # an epoch longer than this (measured or extrapolated) skips the cell
    total_epochs: int = 0  # advise --check: time import + setup + one fit(total_epochs) call, nothing else
    estimate_s: float | None = None  # the parent's prediction of an epoch here, from the cells measured before

    @property
    def label(self) -> str:
        cells = "" if len(self.hidden) * len(self.batch) > 1 else f" {self.hidden[0]}×{self.batch[0]}"
        return f"{self.backend}/{self.device}/{','.join(self.modes)}{cells}"


@dataclass(frozen=True, kw_only=True)
class ProbeJob:
    """`xorbench list`: whether the backend can run on each device; nothing measured."""

    kind: ClassVar[str] = "probe"
    backend: str
    spec: dict
    threads: int = 1

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, **dataclasses.asdict(self)})


Job = TimeJob | RunJob | SweepJob | ProbeJob
KINDS = {kind.kind: kind for kind in (TimeJob, RunJob, SweepJob, ProbeJob)}


def job_from_json(text: str) -> Job:
    """The job a manager sent: JSON gives lists, the job keeps tuples."""
    data = json.loads(text)
    kind = KINDS[data.pop("kind")]
    return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


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
    if isinstance(job, TimeJob):
        return [RunKey(job.mode, "matched", job.process, "timing")]
    if isinstance(job, SweepJob):
        return planned_cells(job)
    return planned_runs(job) if isinstance(job, RunJob) else []


def planned_runs(job: RunJob) -> list[RunKey]:
    """The convergence seeds (matched, then classic, each on its convergence mode), then the article presets."""
    keys = []
    for preset in ("matched", "classic"):
        if getattr(job, preset) is not None:
            mode = job.convergence_modes[preset]
            keys += [RunKey(mode, preset, seed, "convergence") for seed in range(job.seeds)]
    if job.article is not None and "idiomatic" in job.modes:
        keys.append(RunKey("idiomatic", "article", job.article["seed"], "timing"))
        if job.backend == "numpy" and job.device == "cpu":
            keys.append(RunKey("idiomatic", "article-bare", job.article["seed"], "timing"))
    return keys


def planned_cells(job: SweepJob) -> list[CellKey]:
    """(mode, hidden, batch) in the order measured: per mode, by growing work."""
    grid = sorted(((h, b) for h in job.hidden for b in job.batch), key=lambda c: (c[0] * c[1], c[0]))
    return [CellKey(mode, h, b) for mode in job.modes for h, b in grid]


def preset_fields(job: TimeJob | RunJob, key: RunKey) -> dict:
    """The TrainConfig fields of a run key, its seed included."""
    fields = job.article if key.preset.startswith("article") else getattr(job, key.preset)
    return {**fields, "seed": key.seed}


def planned_row(job: TimeJob | RunJob | SweepJob, key: RunKey | CellKey, **fields) -> RunRow | SweepRow:
    """The row of a planned key: every column its job and config fix, overridden by `fields` (what
    was measured, or a placeholder's status and reason). Worker and manager both build rows here."""
    common = dict(backend=job.backend, device=job.device, mode=key.mode, threads=job.threads)
    if isinstance(key, CellKey):  # the sweep trains the matched preset's optimizer, float32 (plan.sweep_config)
        config = dict(optimizer=job.matched["optimizer"], lr=job.matched["lr"], dtype="float32")
        return SweepRow(**common, hidden=key.hidden, batch=key.batch, **config, **fields)
    config = preset_fields(job, key)
    described = dict(
        preset=key.preset, role=key.role, optimizer=config["optimizer"], lr=config["lr"], epochs=config["epochs"],
        seed=config["seed"], dtype=config["dtype"], init=config["init"], momentum=config["momentum"],
        hidden=config["hidden"],
    )  # fmt: skip
    if isinstance(job, TimeJob):
        described.update(process=job.process, start_order=job.start_order)
    return RunRow(**{**common, **described, **fields})
