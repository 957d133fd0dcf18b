"""The report's plain data: what bench/digest.py and bench/sections.py compute from a run's tables and
bench/report.py renders (no Markdown here, and nothing of any framework)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import figures
from .stats import (
    FEW,
    Versus,
    median,
)
from .summary import Group
from .sweep_stats import Crossovers

# ---------------------------------------------------------------- the report's summary data


@dataclass(frozen=True)
class Pair:
    """Group b against group a: b's time per epoch over a's, with its interval and verdict."""

    a: Group
    b: Group
    versus: Versus


@dataclass(frozen=True)
class Method:
    """How one kind of row was obtained: the columns its sentence in the methods table is written from."""

    key: tuple
    preset: str
    role: str
    method: str  # the mode, in the backend's words
    epochs: int | None = None  # epochs trained
    epochs_range: tuple[int, int] | None = None  # seeds trained until converged: the fewest and most epochs
    windows: int | None = None
    window_epochs: int | None = None
    replays: int | None = None
    in_run: int | None = None  # windows timed in the run itself, the rest in its replays
    stopped_at_epoch: int | None = None
    stop_reason: str = ""
    of_epochs: int | None = None  # the epochs a stopped run was to train
    processes: int | None = None  # fresh timing processes
    window_lengths: tuple[int, ...] = ()  # the window lengths those processes timed
    solved_in: int | None = None  # processes that trained towards solved (cold and warm)
    solved: int | None = None  # ... and of those, how many solved


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
class Step:
    """A group against a reference group of the same run: idiomatic, for a framework's other modes;
    Keras on TensorFlow, for model.fit on Keras' other backends."""

    group: Group
    versus: Versus | None  # group / reference over their processes; None for the reference, or untimed


@dataclass(frozen=True)
class Target:
    """Group a's time per epoch over group b's against a target ratio, decided on its interval."""

    what: str
    target: float
    a: tuple
    b: tuple
    a_us: float | None
    b_us: float | None
    versus: Versus | None = None  # a against b (ratio a / b)

    @property
    def ratio(self) -> float:
        return self.a_us / self.b_us

    @property
    def verdict(self) -> str:
        """met / missed where the interval is wholly on one side of the target; else undecided."""
        v = self.versus
        if v is None or v.verdict == FEW:
            return ("met" if self.ratio <= self.target else "missed") + " on the medians"
        if v.high <= self.target:
            return "met"
        return "missed" if v.low > self.target else "undecided"


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
    shared_seeds: tuple[int, ...] = ()  # the seeds every drawn series has: the only ones drawn
    pairs: tuple[CurvePair, ...] = ()  # largest difference first
    why: str | None = None  # why there are none


@dataclass(frozen=True)
class Choices:
    """What the "which to choose when" statements are computed from."""

    timed: tuple[Group, ...] = ()  # by time per epoch
    first_start: Group | None = None  # the fastest to start among the timed
    payback_epochs: float | None = None  # after which the fastest per epoch has paid back its later start
    payback_bounds: tuple[float, float] | None = None  # its fewest and most epochs over the inputs' intervals
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
    run: dict | None = None  # the sweep's own entry in env.json (command, commit, date, seconds), beside a run


CLASSIC = "classic"  # the preset of the 1986 experiment (backends.PRESETS)


@dataclass(frozen=True)
class ClassicRow:
    """One backend × device × mode of the classic preset: its seeds, each trained until converged (every
    |output − target| < 0.5, runs.csv's epoch_accurate) or to the preset's epochs."""

    key: tuple
    status: str  # "ok" when any seed finished, else the statuses of its rows (skipped, error)
    seeds: int = 0  # seeds that finished (ok or diverged)
    converged: int = 0
    interval: tuple[float, float] | None = None  # 95% Wilson interval of converged / seeds
    epochs: tuple[int, ...] = ()  # epochs to converge (epoch_accurate) of the converged seeds, ascending
    by_seed: tuple[tuple[int, int | None], ...] = ()  # (seed, epochs to converge, None where it did not)
    cap: int | None = None  # epochs an unconverged seed trained: the preset's limit (None: every seed converged)
    longest: int | None = None  # the most epochs any seed trained
    lr: float | None = None
    momentum: float | None = None  # where runs.csv records it

    @property
    def median(self) -> float | None:
        return median(self.epochs)


@dataclass(frozen=True)
class Agreement:
    """Whether the classic groups that trained their own seeds converged alike, seed by seed."""

    groups: int  # groups compared
    seeds: int  # the seeds every one of them has
    differing: int = 0  # of those, seeds on which the epochs to converge (or whether it did) differ
    largest: int | None = None  # the largest difference in epochs to converge on a seed where all converged
    at_seed: int | None = None
    gap: float = 0.0  # the largest vertical distance between two groups' ECDFs over those seeds
    gap_between: tuple[tuple, tuple] | None = None


@dataclass(frozen=True)
class Classic:
    rows: tuple[ClassicRow, ...] = ()
    agreement: Agreement | None = None  # None with fewer than two groups of their own seeds
    curves: Curves = Curves()
    why: str | None = None  # why there are none


@dataclass(frozen=True)
class Summary:
    """Everything the report says, as data: no Markdown, no figures, no files."""

    preset: str
    groups: tuple[Group, ...]
    fastest: Group | None
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
    timestamp: str | None
    commit: str | None
    classic: Classic = Classic()
    ladders: tuple[tuple[Step, ...], ...] = ()  # per framework and device: idiomatic → compiled → tuned
    keras_fits: tuple[Step, ...] = ()  # model.fit on each Keras backend, against Keras on TensorFlow
    absent: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file -> schema columns it lacks (older)

    def lacks(self, table: str, column: str) -> bool:
        """Whether `table` was written before `column` existed: its empty cells are unrecorded, not measured."""
        return column in self.absent.get(table, ())
