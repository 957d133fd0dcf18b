"""Measurement as plain functions: size the windows, time a run, replay it, and the columns of a row
that each kind of run gives.

They take numbers and a trainer and return data; none imports a framework, so they are unit-tested
with a fake trainer (tests/test_measure.py). The worker (bench/worker.py) calls them in its process.
A trainer here is anything with setup(config), fit(epochs) -> History and predict(); `fit_clock`
times one fit() call and is replaceable, so the window arithmetic can be tested without a clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import backends
from ..backends import LOSS_TARGET
from ..backends.base import History, epoch_accurate, make_result
from .calibration import cpu_now
from .stats import summarise

CHUNKS = 20  # a convergence run calls fit() this many times, for time-to-solve's resolution
MAX_REPLAYS = 20  # a timing run too short for window_s-long windows is replayed this often at most
PROBES = 2  # short fit() calls that estimate the time per epoch before the windows are sized


def timed_fit(trainer, epochs: int) -> tuple[float, History]:
    """One fit(epochs) call as (seconds, history): the one place an epoch window is timed.

    The device is idle when the clock starts (synchronize) and when it stops (fit returns host data).
    """
    backends.synchronize(trainer)
    start = time.perf_counter()
    history = trainer.fit(epochs)
    return time.perf_counter() - start, history


Clock = Callable[[object, int], tuple[float, History]]


@dataclass
class Measured:
    """One training run as a sequence of timed fit() calls."""

    setup_s: float
    calls: list[tuple[int, float]] = field(default_factory=list)  # (epochs, seconds) per fit() call
    losses: list = field(default_factory=list)
    max_errors: list = field(default_factory=list)  # each epoch's worst |output - target|, per fit() call
    first_epoch_s: float | None = None
    window: int | None = None  # epochs per timed window
    repeats_us: list[float] = field(default_factory=list)  # µs per epoch of each timed window
    in_run: int = 0  # how many of repeats_us were timed inside the run itself (the rest: replays)
    stopped_at: int | None = None  # the epoch a timing run stopped at, short of config.epochs
    stop_reason: str | None = None  # "solved" | "budget"
    replays: int = 0
    result: object = None  # backends.TrainResult

    @property
    def epochs(self) -> int:
        return sum(n for n, _ in self.calls)

    @property
    def train_s(self) -> float:
        return sum(s for _, s in self.calls)

    @property
    def train_s_after_compiling(self) -> float:
        """train_s less the first call of each length: a trainer compiles per call length (torch
        tuned: its window, and its one-epoch step for the epochs left over), in that first call."""
        seen, total = set(), 0.0
        for epochs, seconds in self.calls:
            if epochs in seen:
                total += seconds
            seen.add(epochs)
        return total

    def time_to_solve(self, epoch: int | None) -> float | None:
        return time_to_solve(self.setup_s, self.calls, epoch)

    def fit(self, trainer, epochs: int, clock: Clock) -> float:
        seconds, history = clock(trainer, epochs)
        self.calls.append((epochs, seconds))
        self.losses.append(history.losses)
        self.max_errors.append(history.max_errors)
        return seconds


def time_to_solve(setup_s: float, calls: list[tuple[int, float]], epoch: int | None) -> float | None:
    """Build + training time to the end of `epoch`, linear within the fit() call that holds it."""
    if epoch is None:
        return None
    elapsed, done = setup_s, 0
    for n, seconds in calls:
        if epoch < done + n:
            return elapsed + seconds * (epoch - done + 1) / n
        elapsed, done = elapsed + seconds, done + n
    return None


def probe_epochs(epochs: int, repeats: int) -> int:
    """Epochs per probe: a few, but leaving most of a short run for the warm-up and timed windows."""
    return min(5, max(1, (epochs - 1) // (4 * (repeats + 1))))


def window_epochs(per_epoch_s: float, epochs_left: int, repeats: int, window_s: float) -> tuple[int, int]:
    """(window, wanted): epochs per timed window, and how many a window_s-long window would take.

    A warm-up window and `repeats` timed ones must fit in the epochs left, so the window is the
    smaller of the two; window < wanted means the run is too short and is replayed for more windows.
    """
    longest = max(1, epochs_left // (repeats + 1))
    wanted = max(1, round(window_s / max(per_epoch_s, 1e-9)))
    return min(longest, wanted), wanted


def finish(trainer, config, run: Measured) -> Measured:
    history = History(np.concatenate(run.losses), np.concatenate(run.max_errors))
    run.result = make_result(trainer, config.replace(epochs=len(history)), history, run.train_s)
    return run


def solved_in(losses) -> bool:
    return float(np.min(losses)) < LOSS_TARGET


def timing_run(
    trainer, config, repeats: int, window_s: float, budget_s: float, force_full: bool, clock: Clock = timed_fit
) -> Measured:
    """Build + first epoch, probes to size the windows, a warm-up window, `repeats` timed windows,
    then on to config.epochs (or, when the rest would exceed the budget, only until solved)."""
    n = config.epochs
    start = time.perf_counter()
    trainer.setup(config)
    run = Measured(setup_s=time.perf_counter() - start)
    run.first_epoch_s = run.setup_s + run.fit(trainer, 1, clock)
    probe = probe_epochs(n, repeats)
    per_epoch = min(run.fit(trainer, probe, clock) for _ in range(PROBES)) / probe
    run.window, wanted = window_epochs(per_epoch, n - run.epochs, repeats, window_s)
    run.fit(trainer, run.window, clock)  # warm-up: caches, allocator, a compile for this size
    run.repeats_us = [run.fit(trainer, run.window, clock) / run.window * 1e6 for _ in range(repeats)]
    run.in_run = repeats
    rest_s = (n - run.epochs) * summarise(run.repeats_us).median * 1e-6  # the rest of the run, estimated
    run_to_end(trainer, run, n, force_full or rest_s <= budget_s, budget_s, clock)
    finish(trainer, config, run)
    if run.window < wanted and run.stopped_at is None:
        replay(trainer, config, run, window_s, clock)
    return run


def run_to_end(trainer, run: Measured, n: int, full: bool, budget_s: float, clock: Clock) -> None:
    """Train on to epoch n in windows; unless `full`, stop once solved or past the budget."""
    solved = any(solved_in(losses) for losses in run.losses)
    start = time.perf_counter()
    while run.epochs < n:
        if not full and (solved or time.perf_counter() - start > budget_s):
            run.stopped_at, run.stop_reason = run.epochs, "solved" if solved else "budget"
            return
        run.fit(trainer, min(run.window, n - run.epochs), clock)
        solved = solved or solved_in(run.losses[-1])


def replay(trainer, config, run: Measured, window_s: float, clock: Clock = timed_fit) -> None:
    """More windows for a run too short to make them window_s long: set the trainer up again
    (untimed; a fresh start, tested) and time the same epochs again, until the windows add up
    to window_s or MAX_REPLAYS. A burst of noise then hits a few windows, not all of them."""
    window = run.window
    while sum(run.repeats_us) * window * 1e-6 < window_s and run.replays < MAX_REPLAYS:
        trainer.setup(config)
        clock(trainer, window)  # warm-up after the set-up, as in the run
        for _ in range(config.epochs // window - 1):
            run.repeats_us.append(clock(trainer, window)[0] / window * 1e6)
        run.replays += 1


def convergence_run(trainer, config, clock: Clock = timed_fit, until_accurate: bool = False) -> Measured:
    """A run of config.epochs in CHUNKS fit() calls (time-to-solve is interpolated inside one); with
    `until_accurate`, it ends after the call in which every output first lay on the right side of 0.5."""
    start = time.perf_counter()
    trainer.setup(config)
    run = Measured(setup_s=time.perf_counter() - start)
    chunk = math.ceil(config.epochs / CHUNKS)
    while run.epochs < config.epochs and not (until_accurate and accurate_in(run.max_errors)):
        run.fit(trainer, min(chunk, config.epochs - run.epochs), clock)
    return finish(trainer, config, run)


def accurate_in(max_errors: list) -> bool:
    """Whether the last fit() call reached 100% accuracy (every |output - target| < 0.5)."""
    return bool(max_errors) and max_errors[-1] is not None and epoch_accurate(max_errors[-1]) is not None


def cell_windows(probe_s: float, repeats: int, window_s: float) -> tuple[int, int]:
    """A sweep cell's (epochs per window, windows): windows about window_s long, fewer when epochs are slow."""
    window = max(1, round(window_s / max(probe_s, 1e-9)))
    windows = max(1, min(repeats, int(repeats * window_s / max(window * probe_s, 1e-9))))
    return window, windows


def extrapolate(largest: tuple[int, float] | None, overhead_s: float, work: int) -> float | None:
    """A bigger sweep cell's epoch: the fastest epoch as fixed overhead, the rest linear in hidden x batch."""
    if largest is None:
        return None
    known_work, known_s = largest
    return overhead_s + max(0.0, known_s - overhead_s) * work / known_work


@dataclass
class Window:
    epochs: int
    seconds: float
    cpu_ratio: float  # process CPU time / wall time during the window
    kernel_s: float | None = None  # the calibration kernel, timed in this process just before the window
    cpu: int | None = None  # the CPU the process ran on as the window ended


def timed_window(trainer, epochs: int, clock: Clock = timed_fit, cpu=time.process_time, kernel=None) -> Window:
    """One timed fit(epochs) call, with the process's CPU time over it (threads actually used); with
    `kernel`, the calibration kernel's seconds timed just before it (bench/calibration.py)."""
    kernel_s = kernel() if kernel is not None else None
    cpu_start = cpu()
    seconds, _ = clock(trainer, epochs)
    ratio = (cpu() - cpu_start) / seconds if seconds > 0 else float("nan")
    return Window(epochs, seconds, ratio, kernel_s, cpu_now())


def solve_run(trainer, config, budget_s: float, clock: Clock = timed_fit) -> Measured:
    """Set up and train in CHUNKS fit() calls until solved, config.epochs, or budget_s of training
    beyond the compiling (train_s_after_compiling: the compiling is paid whatever the budget)."""
    start = time.perf_counter()
    trainer.setup(config)
    run = Measured(setup_s=time.perf_counter() - start)
    run.first_epoch_s = run.setup_s + run.fit(trainer, 1, clock)
    chunk = math.ceil(config.epochs / CHUNKS)
    while run.epochs < config.epochs and not solved_in(run.losses[-1]) and run.train_s_after_compiling < budget_s:
        run.fit(trainer, min(chunk, config.epochs - run.epochs), clock)
    return finish(trainer, config, run)


def epochs_per_call(trainer) -> int:
    """The epochs a trainer fuses into one compiled call (its WINDOW: torch's and Keras-on-torch's tuned
    loops), 1 for the others. Such a trainer runs the epochs past whole windows through a one-epoch step,
    a call of its own each: a window of another length would time those calls as if they were epochs."""
    return int(getattr(trainer, "WINDOW", 1))


def window_lengths(per_epoch_s: float, window_s: float, unit: int = 1) -> tuple[int, int]:
    """(short, long) epochs per window: long lasts about window_s, short an eighth of it, so that
    fit(W) seconds = a + b * W separates the cost of a call (a) from an epoch's (b) from lengths
    stats.LENGTH_RATIO apart; both whole multiples of `unit` (epochs_per_call). No preset's epoch count
    caps a window: windows_of replays from setup()."""
    from .stats import LENGTH_RATIO

    long = max(LENGTH_RATIO * unit, round(window_s / max(per_epoch_s, 1e-9)))
    short = max(unit, long // LENGTH_RATIO // unit * unit)
    return short, max(LENGTH_RATIO * short, long // unit * unit)


def windows_of(trainer, config, lengths: tuple[int, int], count: int, clock: Clock = timed_fit,
               kernel=None) -> tuple[list, int]:  # fmt: skip
    """`count` timed windows, short and long in turn, on a trainer set up for config; (windows, replays).
    `kernel`: the calibration kernel, timed before each window (measure.timed_window).

    A window that would run past config.epochs (or, for a window longer than the run, past its own
    length) starts a replay instead: set up again (untimed) from the initial weights and a warm-up
    epoch. Each length is first called once untimed, after a set-up of its own: a trainer may compile
    a function per call length (see Measured.train_s_after_compiling), and no timed window may hold that."""
    for epochs in dict.fromkeys(lengths):
        trainer.setup(config)
        clock(trainer, epochs)
    limit = max(config.epochs, max(lengths) + 1)
    windows, replays, trained = [], 0, limit  # trained: epochs since the last set-up; force one first
    for i in range(count):
        epochs = lengths[i % 2]
        if trained + epochs > limit:
            trainer.setup(config)
            clock(trainer, 1)
            trained, replays = 1, replays + 1
        windows.append(timed_window(trainer, epochs, clock, kernel=kernel))
        trained += epochs
    return windows, replays - 1


def epoch_seconds(trainer, clock: Clock = timed_fit) -> float:
    """Seconds per epoch of a trainer set up and compiled already: the faster of two calls of 5 epochs,
    or of one whole compiled call where a trainer fuses more (epochs_per_call)."""
    epochs = max(5, epochs_per_call(trainer))
    return min(clock(trainer, epochs)[0] for _ in range(PROBES)) / epochs


WARM_SOLVE_MAX_S = 5.0  # a warm solve repeats the cold one's training: past this, it only spends the budget


def solve_runs(trainer, config, budget_s: float, solve: bool, clock: Clock = timed_fit):
    """(cold, warm, MB resident after the first build): the cold run (build, compile and train until
    solved) and, set up again, the warm one: only after a cold run that solved within WARM_SOLVE_MAX_S
    of training, since the warm one trains as fast, without the compiling (for model.fit, ~13 s more for
    what the cold run's calls already show). Without `solve`, the cold run is the build and one epoch
    (budget 0), for start-up only."""
    cold = solve_run(trainer, config, budget_s if solve else 0.0, clock)
    rss_build_mb = rss_mb()
    again = solve and cold.result.epoch_solved is not None and cold.train_s_after_compiling <= WARM_SOLVE_MAX_S
    warm = solve_run(trainer, config, budget_s, clock) if again else None
    return cold, warm, rss_build_mb


def solve_fields(cold: Measured, warm: Measured | None, solve: bool, epochs: int) -> dict:
    """A timing process's start-up and time-to-solve columns, from its solve runs."""
    epoch = cold.result.epoch_solved
    warm_epoch = warm.result.epoch_solved if warm is not None else None
    return dict(
        first_epoch_s=cold.first_epoch_s,
        time_to_solve_cold_s=cold.time_to_solve(epoch) if solve else None,
        time_to_solve_warm_s=time_to_solve(0.0, warm.calls, warm_epoch) if warm is not None else None,
        stopped_at_epoch=cold.epochs if cold.epochs < epochs or not solve else None,
        stop_reason=("solved" if epoch is not None else "budget") if solve else "start-up only",
    )


def window_fields(windows: list[Window], replays: int) -> dict:
    """A timing process's per-epoch columns: b of fit(W) seconds = a + b * W through its windows' medians
    at two lengths (a unclipped: noise shows as a spread over processes, stats.per_call), their spread,
    and the median calibration kernel of the process (the speed state it ran in)."""
    from .stats import call_and_epoch, median

    stats = summarise([w.seconds / w.epochs * 1e6 for w in windows])
    call_s, epoch_s = call_and_epoch([w.epochs for w in windows], [w.seconds for w in windows])
    kernels = [w.kernel_s for w in windows if w.kernel_s is not None]
    ratios = sorted(w.cpu_ratio for w in windows)
    return dict(epoch_us=epoch_s * 1e6, call_us=call_s * 1e6, epoch_us_median=stats.median,
                epoch_us_iqr=stats.iqr, epoch_us_min=stats.min, windows=len(windows),
                window_epochs=max(w.epochs for w in windows), replays=replays,
                cpu_ratio=ratios[len(ratios) // 2],
                kernel_us=median(kernels) * 1e6 if kernels else None)  # fmt: skip


def repeat_fields(repeats_us: list[float], window: int, replays: int) -> dict:
    """The per-epoch columns of a run timed in windows of one length (the article presets)."""
    stats = summarise(repeats_us)
    return dict(epoch_us_median=stats.median, epoch_us_iqr=stats.iqr, epoch_us_min=stats.min, windows=stats.n,
                window_epochs=window, replays=replays)  # fmt: skip


def outcome_fields(run: Measured) -> dict:
    """What a run trained to: its status, loss, accuracy, when it solved, and how long it took."""
    result = run.result
    final = float(result.losses[-1])
    return {
        "status": result.status,
        "reason": result.reason,
        "epochs": run.epochs,
        "final_loss": final if math.isfinite(final) else None,
        "accuracy": result.accuracy,
        "solved": result.solved,
        "epoch_solved": result.epoch_solved,
        "epoch_accurate": result.epoch_accurate,
        "train_s": run.train_s,
        "time_to_solve_s": run.time_to_solve(result.epoch_solved),
        "time_to_accuracy_s": run.time_to_solve(result.epoch_accurate),
        "outputs": " ".join(f"{v:.6g}" for v in result.predictions.ravel()) if result.status == "ok" else None,
    }


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB, macOS bytes)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10
