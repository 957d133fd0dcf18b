"""Runs inside one subprocess per (backend, device): imports only its framework, pins threads, times.

The runner (bench/runner.py) sends one JSON job on stdin; the worker answers with JSON lines on
the process's original stdout, one event per finished run, and after each waits for the runner's
"saved" line on stdin, so table writes never overlap a timing. Anything a framework prints goes
to stderr, which the runner keeps out of the terminal. Only the standard library is imported
before the framework, so the framework's import is timed in a fresh interpreter.

Test hooks: XORBENCH_TEST_CRASH=<backend> makes that backend's worker die of SIGSEGV, and
XORBENCH_TEST_HANG=<backend> makes it sleep forever, right after its first finished run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field

# Where a cheap mode's curve stands in for an expensive mode's convergence statistics, this
# run's seed-0 curves of the two modes must agree this closely (the tests pin 2e-5 / 1e-4).
BORROW_RTOL = 1e-3
CHUNKS = 20  # a convergence run calls fit() this many times, for time-to-solve's resolution
MAX_REPLAYS = 20  # a timing run too short for window_s-long windows is replayed this often at most


@dataclass(frozen=True)
class Job:
    """What one worker measures. Configs are TrainConfig fields; None leaves that preset out."""

    backend: str
    device: str
    modes: tuple[str, ...]
    threads: int
    seeds: int  # convergence seeds of the matched preset: 0 .. seeds-1
    repeats: int  # timed windows per timing run
    window_s: float  # aim for timed windows about this long (capped by the run's length)
    budget_s: float  # a mode whose full timing run or seeds would take longer is shortened / borrows
    matched: dict | None = None
    article: dict | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Job:
        data = json.loads(text)
        return cls(**{**data, "modes": tuple(data["modes"])})


def planned(job: Job) -> list[tuple[str, str, int, str]]:
    """Every run the job will report, as (mode, preset, seed, role)."""
    keys = []
    if job.matched is not None:
        keys += [(mode, "matched", job.matched["seed"], "timing") for mode in job.modes]
        keys += [(mode, "matched", seed, "convergence") for mode in job.modes for seed in range(job.seeds)]
    if job.article is not None and "idiomatic" in job.modes:
        keys.append(("idiomatic", "article", job.article["seed"], "timing"))
        if job.backend == "numpy" and job.device == "cpu":
            keys.append(("idiomatic", "article-bare", job.article["seed"], "timing"))
    return keys


class Channel:
    """Events to the runner on the original stdout; fd 1 itself now points at stderr."""

    def __init__(self):
        self.out = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)
        sys.stdout = sys.stderr

    def send(self, event: str, **fields) -> None:
        self.out.write(json.dumps({"event": event, **fields}, default=_plain) + "\n")
        self.out.flush()

    def wait_saved(self) -> None:
        if not sys.stdin.readline():  # the runner is gone
            os._exit(1)


def _plain(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot send {type(value).__name__}")


def timed_fit(trainer, epochs: int):
    """One fit(epochs) call as (seconds, losses): the one place an epoch window is timed.

    The device is idle when the clock starts (synchronize) and when it stops (fit returns host data).
    """
    from ..backends import synchronize

    synchronize(trainer)
    start = time.perf_counter()
    losses = trainer.fit(epochs)
    return time.perf_counter() - start, losses


def finite_or_none(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


@dataclass
class Measured:
    """One training run as a sequence of timed fit() calls."""

    setup_s: float
    calls: list[tuple[int, float]] = field(default_factory=list)  # (epochs, seconds) per fit() call
    losses: list = field(default_factory=list)
    first_epoch_s: float | None = None
    window: int | None = None
    repeats_us: list[float] = field(default_factory=list)
    stopped: str = ""  # why it stopped before config.epochs, "" when it ran them all
    replays: int = 0  # times the run was set up again and its epochs timed again (timing_run)
    result: object = None  # backends.TrainResult

    @property
    def epochs(self) -> int:
        return sum(n for n, _ in self.calls)

    @property
    def train_s(self) -> float:
        return sum(s for _, s in self.calls)

    def time_to_solve(self, epoch: int | None) -> float | None:
        """Build + training time to the end of `epoch`, linear within the fit() call that holds it."""
        if epoch is None:
            return None
        elapsed, done = self.setup_s, 0
        for n, seconds in self.calls:
            if epoch < done + n:
                return elapsed + seconds * (epoch - done + 1) / n
            elapsed, done = elapsed + seconds, done + n
        return None


class Session:
    def __init__(self, job: Job, channel: Channel, module, import_s: float):
        from .. import backends

        self.job, self.channel, self.module, self.import_s = job, channel, module, import_s
        self.backends = backends
        self.version = module.framework_version()
        self.device_name = module.device_name(job.device)
        self.reported = 0

    # -------------------------------------------------------------- measuring

    def fit(self, trainer, run: Measured, epochs: int) -> float:
        seconds, losses = timed_fit(trainer, epochs)
        run.calls.append((epochs, seconds))
        run.losses.append(losses)
        return seconds

    def finish(self, trainer, config, run: Measured) -> Measured:
        import numpy as np

        from ..backends.base import make_result

        losses = np.concatenate(run.losses)
        run.result = make_result(trainer, config.replace(epochs=len(losses)), losses, run.train_s)
        return run

    def timing_run(self, mode: str, config, force_full: bool) -> Measured:
        """Build + first epoch, two probes to size the windows, a warm-up window, `repeats` timed
        windows, then on to config.epochs (or, past the budget, only until solved); replays if the
        run was too short for window_s-long windows."""
        from ..backends import LOSS_TARGET
        from .stats import summarise

        job, n = self.job, config.epochs
        trainer = self.backends.get_trainer(job.backend, job.device, mode)
        start = time.perf_counter()
        trainer.setup(config)
        run = Measured(setup_s=time.perf_counter() - start)
        run.first_epoch_s = run.setup_s + self.fit(trainer, run, 1)
        probe = min(5, max(1, (n - 1) // (4 * (job.repeats + 1))))
        per_epoch = min(self.fit(trainer, run, probe) for _ in range(2)) / probe
        longest = max(1, (n - run.epochs) // (job.repeats + 1))
        wanted = max(1, round(job.window_s / max(per_epoch, 1e-9)))
        run.window = window = min(longest, wanted)
        self.fit(trainer, run, window)  # warm-up: caches, allocator, a compile for this size
        run.repeats_us = [self.fit(trainer, run, window) / window * 1e6 for _ in range(job.repeats)]
        solved = any(float(min(losses)) < LOSS_TARGET for losses in run.losses)
        measured_epochs = run.epochs
        rest = (n - measured_epochs) * summarise(run.repeats_us).median * 1e-6  # the rest of the run, estimated
        full = force_full or rest <= job.budget_s
        rest_start = time.perf_counter()
        while run.epochs < n:
            if not full and (solved or time.perf_counter() - rest_start > job.budget_s):
                break
            self.fit(trainer, run, min(window, n - run.epochs))
            solved = solved or float(min(run.losses[-1])) < LOSS_TARGET
        if run.epochs < n:
            why = "once solved" if solved else f"after its {job.budget_s:g} s budget, unsolved,"
            run.stopped = (
                f"stopped {why} at epoch {run.epochs} of {n}: the {n - measured_epochs} epochs after the timed windows "
                f"would take about {rest:.0f} s, over the {job.budget_s:g} s budget"
            )
        self.finish(trainer, config, run)
        if window < wanted and not run.stopped:
            self.replay(trainer, config, run)
        return run

    def replay(self, trainer, config, run: Measured) -> None:
        """More windows for a run too short to make them window_s long: set the trainer up again
        (untimed; a fresh start, tested) and time the same epochs again, until the windows add up
        to window_s or MAX_REPLAYS. A burst of noise then hits a few windows, not all of them."""
        window = run.window
        while sum(run.repeats_us) * window * 1e-6 < self.job.window_s and run.replays < MAX_REPLAYS:
            trainer.setup(config)
            timed_fit(trainer, window)  # warm-up after the set-up, as in the run
            for _ in range(config.epochs // window - 1):
                run.repeats_us.append(timed_fit(trainer, window)[0] / window * 1e6)
            run.replays += 1

    def convergence_run(self, mode: str, config) -> Measured:
        trainer = self.backends.get_trainer(self.job.backend, self.job.device, mode)
        start = time.perf_counter()
        trainer.setup(config)
        run = Measured(setup_s=time.perf_counter() - start)
        chunk = math.ceil(config.epochs / CHUNKS)
        while run.epochs < config.epochs:
            self.fit(trainer, run, min(chunk, config.epochs - run.epochs))
        return self.finish(trainer, config, run)

    # -------------------------------------------------------------- reporting

    def how(self, mode: str) -> str:
        """What a mode is, in the backend's own words (its trainer's or module's docstring)."""
        cls = getattr(self.module, self.backends.REGISTRY[self.job.backend][1][mode])
        doc = cls.__doc__ or self.module.__doc__ or f"{self.job.backend} {mode}"
        return doc.strip().splitlines()[0].rstrip(".")

    def row(self, mode: str, preset: str, role: str, config, **fields) -> dict:
        return {
            "backend": self.job.backend,
            "framework_version": self.version,
            "device": self.job.device,
            "device_name": self.device_name,
            "mode": mode,
            "preset": preset,
            "optimizer": config.optimizer,
            "lr": config.lr,
            "epochs": config.epochs,
            "seed": config.seed,
            "dtype": config.dtype,
            "init": config.init,
            "threads": self.job.threads,
            "role": role,
            **fields,
        }

    def outcome(self, run: Measured) -> dict:
        result = run.result
        epoch = result.epoch_solved
        return {
            "status": result.status,
            "reason": result.reason,
            "epochs": run.epochs,
            "final_loss": finite_or_none(result.losses[-1]),
            "accuracy": result.accuracy,
            "solved": result.solved,
            "epoch_solved": epoch,
            "train_s": run.train_s,
            "time_to_solve_s": run.time_to_solve(epoch),
            "outputs": " ".join(f"{v:.6g}" for v in result.predictions.ravel()) if result.status == "ok" else None,
        }

    def emit(self, row: dict, curve=None, timings=None, window=None) -> None:
        self.channel.send("run", row=row, curve=None if curve is None else [float(x) for x in curve],
                          timings=timings, window_epochs=window)  # fmt: skip
        self.channel.wait_saved()
        self.reported += 1
        if self.reported == 1:
            test_hooks(self.job.backend)

    def progress(self, text: str) -> None:
        self.channel.send("progress", text=text)

    def failed(self, mode: str, preset: str, role: str, config, reason: str) -> None:
        self.emit(self.row(mode, preset, role, config, status="error", reason=reason))

    # -------------------------------------------------------------- the job

    def run(self) -> None:
        job = self.job
        if job.matched is not None:
            self.matched(self.backends.TrainConfig(**job.matched))
        if job.article is not None and "idiomatic" in job.modes:
            config = self.backends.TrainConfig(**job.article)
            self.progress("idiomatic · article preset")
            self.timed(("idiomatic", "article"), config, force_full=True)
            if job.backend == "numpy" and job.device == "cpu":
                self.bare_article(config)

    def bare_article(self, config) -> None:
        """The article's snippet verbatim, timed with nothing of xorbench around it: the
        yardstick for what the trainer and the harness add (preset `article-bare`)."""
        from .article_bare import epoch_us
        from .stats import summarise

        self.progress("the article's own loop, bare")
        repeats = [epoch_us(config.epochs, config.seed) for _ in range(self.job.repeats)]
        stats = summarise(repeats)
        method = (
            f"the article's NeuralNetwork class verbatim (bench/article_bare.py), {config.epochs} epochs "
            f"of its own train() timed bare, {len(repeats)} repeats"
        )
        timing = {"epoch_us_median": stats.median, "epoch_us_iqr": stats.iqr, "epoch_us_min": stats.min}
        row = self.row("idiomatic", "article-bare", "timing", config, status="ok", reason="", method=method, **timing)
        self.emit(row, timings=repeats, window=config.epochs)

    def timed(self, key: tuple[str, str], config, force_full: bool) -> Measured | None:
        from .stats import summarise

        mode, preset = key
        try:
            run = self.timing_run(mode, config, force_full)
        except Exception as error:  # one broken mode must not stop the others
            self.failed(mode, preset, "timing", config, one_line(error))
            return None
        repeats = summarise(run.repeats_us)
        timed, in_run = len(run.repeats_us), self.job.repeats
        method = (
            f"{self.how(mode)}; timed in {timed} windows of {run.window} epochs (one fit({run.window}) call each): "
            f"{in_run} after build + first epoch, 2 probes of {run.calls[1][0]} epochs and a {run.window}-epoch "
            "warm-up; " + (run.stopped or f"then on to all {config.epochs} epochs")
        )
        if run.replays:
            method += (
                f"; then {timed - in_run} more in {run.replays} replays of the run (set up again from its initial "
                f"weights, untimed, then a warm-up window): the run is too short for {self.job.window_s:g} s windows"
            )
        row = self.row(
            mode, preset, "timing", config, **self.outcome(run), epoch_us_median=repeats.median,
            epoch_us_iqr=repeats.iqr, epoch_us_min=repeats.min, first_epoch_s=run.first_epoch_s,
            import_s=self.import_s, method=method,
        )  # fmt: skip
        self.emit(row, run.result.losses, run.repeats_us, run.window)
        return run

    def matched(self, config) -> None:
        from .stats import summarise

        job = self.job
        timing = {}
        for mode in job.modes:
            self.progress(f"{mode} · matched · timing")
            timing[mode] = self.timed((mode, "matched"), config, force_full=False)
        cost = {  # what training `seeds` full runs of each mode would take (builds and compiles aside)
            mode: job.seeds * config.epochs * summarise(run.repeats_us).median * 1e-6
            for mode, run in timing.items()
            if run is not None
        }
        source = convergence_sources(cost, job.budget_s)
        rows: dict[str, dict[int, tuple[dict, Measured | None]]] = {}
        for mode in sorted(job.modes, key=lambda m: m in source):  # the sources run first
            if timing[mode] is None:
                for seed in range(job.seeds):
                    reason = "not run: this mode's timing run failed"
                    self.failed(mode, "matched", "convergence", config.replace(seed=seed), reason)
            elif mode in source:
                self.borrowed(mode, source[mode], config, timing, rows[source[mode]], cost[mode])
            else:
                rows[mode] = self.own(mode, config, timing[mode])

    def own(self, mode: str, config, timing_run: Measured) -> dict:
        rows = {}
        for seed in range(self.job.seeds):
            self.progress(f"{mode} · matched · seed {seed + 1}/{self.job.seeds}")
            seeded = config.replace(seed=seed)
            if seed == config.seed and not timing_run.stopped:
                run, method = timing_run, f"the timing run of seed {seed} ({config.epochs} epochs)"
            else:
                try:
                    run = self.convergence_run(mode, seeded)
                except Exception as error:
                    self.failed(mode, "matched", "convergence", seeded, one_line(error))
                    continue
                chunk = run.calls[0][0]
                method = f"{self.how(mode)}; {config.epochs} epochs in fit() calls of {chunk}"
            row = self.row(mode, "matched", "convergence", seeded, **self.outcome(run), method=method)
            rows[seed] = row
            self.emit(row, run.result.losses if run is not timing_run else None)
        return rows

    def borrowed(self, mode: str, source: str, config, timing: dict, rows: dict, cost: float) -> None:
        from .stats import max_relative_difference

        mine, theirs = timing[mode], timing[source]
        epochs = min(mine.epochs, theirs.epochs)
        difference = max_relative_difference(mine.result.losses, theirs.result.losses)
        agree = difference <= BORROW_RTOL
        for seed in range(self.job.seeds):
            seeded = config.replace(seed=seed)
            if seed not in rows:
                self.failed(mode, "matched", "convergence", seeded, f"the {source} mode's run of this seed failed")
                continue
            if not agree:
                reason = (
                    f"not borrowed: this run's seed-{config.seed} curves of {mode} and {source} differ by "
                    f"{difference:.2g} relative over {epochs} epochs (limit {BORROW_RTOL:g})"
                )
                self.failed(mode, "matched", "convergence", seeded, reason)
                continue
            method = (
                f"convergence from the {source} mode ({self.how(source)}), whose curve is tested to equal this "
                f"mode's (tests/test_modes.py) and matched this run's seed-{config.seed} curve to {difference:.1g} "
                f"relative over {epochs} epochs; {self.job.seeds} seeds of this mode would take about {cost:.0f} s"
            )
            copied = {k: rows[seed][k] for k in ("status", "reason", "epochs", "final_loss", "accuracy", "solved",
                                                 "epoch_solved", "outputs")}  # fmt: skip
            self.emit(self.row(mode, "matched", "convergence", seeded, **copied, method=method))


def convergence_sources(cost: dict[str, float], budget_s: float) -> dict[str, str]:
    """For each mode whose seeds would take longer than the budget, the cheapest mode that fits in it.

    Modes left out train their own seeds (also when nothing cheaper fits: slow, but measured).
    """
    fits = [mode for mode in cost if cost[mode] <= budget_s]
    return {mode: min(fits, key=cost.get) for mode in cost if cost[mode] > budget_s and fits}


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def test_hooks(backend: str) -> None:
    if os.environ.get("XORBENCH_TEST_CRASH") == backend:
        import faulthandler
        import signal

        print(f"XORBENCH_TEST_CRASH={backend}: crashing on purpose", file=sys.stderr, flush=True)
        faulthandler.disable()
        os.kill(os.getpid(), signal.SIGSEGV)
    if os.environ.get("XORBENCH_TEST_HANG") == backend:
        print(f"XORBENCH_TEST_HANG={backend}: hanging on purpose", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)


def start_backend(job, channel: Channel):
    """Import the job's framework, pin its threads and check its device, as every worker starts.

    Returns (module, import seconds), or None after telling the runner why the job is skipped.
    """
    start = time.perf_counter()
    try:  # the first import in this interpreter: the framework, plus NumPy through backends.base
        from .. import backends

        module = backends.load(job.backend)
    except ImportError as error:
        channel.send("skipped", reason=str(error).splitlines()[0])
        return None
    import_s = time.perf_counter() - start
    backends.set_threads(job.backend, job.threads)  # before the framework's first op
    reason = module.unavailable_reason(job.device)
    if reason:
        channel.send("skipped", reason=reason, framework_version=module.framework_version())
        return None
    return module, import_s


def main() -> int:
    job = Job.from_json(sys.stdin.readline())
    channel = Channel()
    started = start_backend(job, channel)
    if started is None:
        return 0
    module, import_s = started
    session = Session(job, channel, module, import_s)
    channel.send("start", framework_version=session.version, device_name=session.device_name, import_s=import_s)
    session.run()
    channel.send("done")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the runner reports it
        os._exit(130)
