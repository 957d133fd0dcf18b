"""Runs inside one subprocess per job: imports only its framework, pins threads, measures, reports rows.

The manager (bench/manager.py) sends one JSON job (bench/job.py's Job) on stdin; the worker
answers with JSON lines on the process's original stdout, one event per finished row, and after
each waits for the manager's "saved" line on stdin, so table writes never overlap a timing.
Anything a framework prints goes to stderr, which the manager keeps out of the terminal. Only the
standard library is imported before the framework, so its import is timed in a fresh interpreter.
A job is of kind "run" (timing, convergence and article runs: RunSession) or "sweep" (cells:
sweep_cells); both measure with bench/measure.py's functions and follow the job's plan.

Test hooks: XORBENCH_TEST_CRASH=<backend> makes that backend's worker die of SIGSEGV, and
XORBENCH_TEST_HANG=<backend> makes it sleep forever, right after its first finished row.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time

from .job import CellKey, Job, RunKey, planned_cells, planned_runs
from .rows import RunRow, SweepRow

# Where a cheap mode's curve stands in for an expensive mode's convergence statistics, this
# run's seed-0 curves of the two modes must agree this closely (the tests pin 2e-5 / 1e-4).
BORROW_RTOL = 1e-3
EXTRAPOLATE_FROM_S = 0.01  # a sweep cell's epoch must take this long to predict a bigger cell's


class Channel:
    """Events to the manager on the original stdout; fd 1 itself now points at stderr."""

    def __init__(self):
        self.out = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self.reported = 0

    def send(self, event: str, **fields) -> None:
        self.out.write(json.dumps({"event": event, **fields}, default=_plain) + "\n")
        self.out.flush()

    def row(self, row, backend: str, **extra) -> None:
        """One finished row; waits until the manager has saved it."""
        self.send("row", row=dataclasses.asdict(row), **extra)
        if not sys.stdin.readline():  # the manager is gone
            os._exit(1)
        self.reported += 1
        if self.reported == 1:
            test_hooks(backend)


def _plain(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot send {type(value).__name__}")


def finite_or_none(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


class RunSession:
    """The "run" kind: every planned run of one backend on one device, in the plan's order."""

    def __init__(self, job: Job, channel: Channel, module, import_s: float):
        from .. import backends

        self.job, self.channel, self.module, self.import_s = job, channel, module, import_s
        self.backends = backends
        self.version = module.framework_version()
        self.device_name = module.device_name(job.device)
        self.timing: dict[str, object] = {}  # mode -> its matched timing run (measure.Measured), None if failed
        self.seeds: dict[tuple[str, int], RunRow] = {}  # (mode, seed) -> its own convergence row

    def run(self) -> None:
        from .measure import convergence_sources

        keys = planned_runs(self.job)
        for key in keys:
            if key.preset == "matched" and key.role == "timing":
                self.progress(key, "timing")
                self.timing[key.mode] = self.timed(key, self.config(key), force_full=False)
        cost = {m: self.seeds_cost(run) for m, run in self.timing.items() if run is not None}
        sources = convergence_sources(cost, self.job.budget_s)
        converge = [k for k in keys if k.role == "convergence"]
        for key in sorted(converge, key=lambda k: k.mode in sources):  # the sources train first
            self.progress(key, f"seed {key.seed + 1}/{self.job.seeds}")
            self.convergence(key, sources.get(key.mode))
        for key in keys:
            if key.preset.startswith("article"):
                self.progress(key, "the article's own loop, bare" if key.preset == "article-bare" else "")
                self.bare_article(key) if key.preset == "article-bare" else self.timed(key, self.config(key), True)

    # -------------------------------------------------------------- the runs

    def config(self, key: RunKey):
        fields = self.job.article if key.preset.startswith("article") else self.job.matched
        return self.backends.TrainConfig(**fields).replace(seed=key.seed)

    def trainer(self, mode: str):
        return self.backends.get_trainer(self.job.backend, self.job.device, mode)

    def seeds_cost(self, run) -> float:
        """What training every seed of this mode in full would take, builds and compiles aside."""
        from .stats import summarise

        return self.job.seeds * self.job.matched["epochs"] * summarise(run.repeats_us).median * 1e-6

    def timed(self, key: RunKey, config, force_full: bool):
        from .measure import timing_run
        from .stats import summarise

        job = self.job
        try:
            run = timing_run(self.trainer(key.mode), config, job.repeats, job.window_s, job.budget_s, force_full)
        except Exception as error:  # one broken mode must not stop the others
            self.emit(self.row(key, config, status="error", reason=one_line(error)))
            return None
        stats = summarise(run.repeats_us)
        row = self.row(
            key, config, **self.outcome(run), epoch_us_median=stats.median, epoch_us_iqr=stats.iqr,
            epoch_us_min=stats.min, first_epoch_s=run.first_epoch_s, import_s=self.import_s, windows=stats.n,
            window_epochs=run.window, replays=run.replays, stopped_at_epoch=run.stopped_at,
            stop_reason=run.stop_reason,
        )  # fmt: skip
        self.emit(row, run.result.losses, run.repeats_us)
        return run

    def convergence(self, key: RunKey, source: str | None) -> None:
        from .measure import convergence_run

        config, timing = self.config(key), self.timing.get(key.mode)
        if timing is None:
            self.emit(self.row(key, config, status="error", reason="not run: this mode's timing run failed"))
        elif source is not None:
            self.borrowed(key, config, source)
        elif key.seed == self.job.matched["seed"] and timing.stopped_at is None:
            row = self.row(key, config, **self.outcome(timing))  # the timing run is this seed's full run
            self.seeds[key.mode, key.seed] = row
            self.emit(row)
        else:
            try:
                run = convergence_run(self.trainer(key.mode), config)
            except Exception as error:
                self.emit(self.row(key, config, status="error", reason=one_line(error)))
                return
            self.seeds[key.mode, key.seed] = row = self.row(key, config, **self.outcome(run))
            self.emit(row, run.result.losses)

    def borrowed(self, key: RunKey, config, source: str) -> None:
        """This seed's statistics from `source`, whose seed-0 curve in this run matched this mode's."""
        from .stats import max_relative_difference

        theirs = self.seeds.get((source, key.seed))
        mine, lender = self.timing[key.mode], self.timing[source]
        difference = max_relative_difference(mine.result.losses, lender.result.losses)
        if theirs is None:
            reason = f"the {source} mode's run of this seed failed"
        elif not difference <= BORROW_RTOL:
            epochs = min(mine.epochs, lender.epochs)
            reason = (f"not borrowed: this run's seed-{self.job.matched['seed']} curves of {key.mode} and {source} "
                      f"differ by {difference:.2g} relative over {epochs} epochs (limit {BORROW_RTOL:g})")  # fmt: skip
        else:
            copied = ("status", "reason", "epochs", "final_loss", "accuracy", "solved", "epoch_solved", "outputs")
            row = self.row(key, config, **{k: getattr(theirs, k) for k in copied})
            self.emit(dataclasses.replace(row, borrowed_from=source, borrow_difference=difference))
            return
        self.emit(self.row(key, config, status="error", reason=reason, borrowed_from=source))

    def bare_article(self, key: RunKey) -> None:
        """The article's snippet verbatim, timed with nothing of xorbench around it: the yardstick
        for what the trainer and the harness add (preset `article-bare`)."""
        from .article_bare import epoch_us
        from .stats import summarise

        config = self.config(key)
        repeats = [epoch_us(config.epochs, config.seed) for _ in range(self.job.repeats)]
        stats = summarise(repeats)
        row = self.row(
            key, config, status="ok", method="the article's NeuralNetwork class verbatim (bench/article_bare.py)",
            epoch_us_median=stats.median, epoch_us_iqr=stats.iqr, epoch_us_min=stats.min, windows=stats.n,
            window_epochs=config.epochs, replays=0,
        )  # fmt: skip
        self.emit(row, timings=repeats)

    # -------------------------------------------------------------- rows

    def how(self, mode: str) -> str:
        """What a mode is, in the backend's own words (its trainer's or module's docstring)."""
        cls = getattr(self.module, self.backends.spec(self.job.backend).trainers[mode])
        doc = cls.__doc__ or self.module.__doc__ or f"{self.job.backend} {mode}"
        return doc.strip().splitlines()[0].rstrip(".")

    def row(self, key: RunKey, config, **fields) -> RunRow:
        """The run's row: its config's columns, overridden by `fields` (the epochs it really trained, say)."""
        described = dict(
            backend=self.job.backend, framework_version=self.version, device=self.job.device,
            device_name=self.device_name, mode=key.mode, preset=key.preset, optimizer=config.optimizer, lr=config.lr,
            epochs=config.epochs, seed=config.seed, dtype=config.dtype, init=config.init, threads=self.job.threads,
            role=key.role, method=self.how(key.mode),
        )  # fmt: skip
        return RunRow(**{**described, **fields})

    @staticmethod
    def outcome(run) -> dict:
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

    def emit(self, row: RunRow, curve=None, timings=None) -> None:
        curve = None if curve is None else [float(x) for x in curve]
        self.channel.row(row, self.job.backend, curve=curve, timings=timings)

    def progress(self, key: RunKey, text: str) -> None:
        self.channel.send("progress", text=" · ".join(p for p in (key.mode, key.preset, text) if p))


def sweep_cells(job: Job, channel: Channel, module) -> None:
    """The "sweep" kind: every planned cell, smallest first per mode; a cell predicted (from the
    largest measured so far) to exceed the per-cell cap is skipped without being built."""
    from .measure import extrapolate

    version, device_name = module.framework_version(), module.device_name(job.device)
    largest: dict[str, tuple[int, float]] = {}  # mode -> (work, seconds per epoch) of its largest cell so far
    floor: dict[str, float] = {}  # mode -> its fastest epoch so far: the per-epoch overhead, which does not grow
    for key in planned_cells(job):
        work = key.hidden * key.batch
        estimate = extrapolate(largest.get(key.mode), floor.get(key.mode, 0.0), work)
        channel.send("progress", text=f"{key.mode} · hidden {key.hidden} · batch {key.batch}")
        try:
            fields = measure_cell(job, key, estimate)
        except Exception as error:  # one broken cell must not stop the others
            fields = {"status": "error", "reason": one_line(error)}
        seconds = (fields.get("epoch_us_median") or 0) * 1e-6
        if seconds > 0:
            floor[key.mode] = min(seconds, floor.get(key.mode, seconds))
        if seconds >= EXTRAPOLATE_FROM_S:  # smaller epochs are mostly overhead: no guide to bigger cells
            largest[key.mode] = (work, seconds)
        from .plan import sweep_config

        config = sweep_config(job.backend, key.hidden, key.batch)
        row = SweepRow(backend=job.backend, framework_version=version, device=job.device, device_name=device_name,
                       mode=key.mode, hidden=key.hidden, batch=key.batch, optimizer=config.optimizer, lr=config.lr,
                       dtype=config.dtype, threads=job.threads, **fields)  # fmt: skip
        channel.row(row, job.backend)


def measure_cell(job: Job, key: CellKey, estimate_s: float | None) -> dict:
    """Time one cell: setup (untimed), a warm-up epoch, then up to job.repeats windows; its row's fields."""
    from .. import backends
    from .measure import cell_windows, timed_fit
    from .plan import sweep_config
    from .stats import summarise

    cap = job.cell_cap_s
    if estimate_s is not None and estimate_s > cap:
        return {"status": "skipped", "reason": f"over the per-cell budget: an epoch would take about "
                f"{estimate_s:.2g} s (extrapolated from a smaller cell), cap {cap:g} s"}  # fmt: skip
    trainer = backends.get_trainer(job.backend, job.device, key.mode)
    start = time.perf_counter()
    trainer.setup(sweep_config(job.backend, key.hidden, key.batch))
    setup_s = time.perf_counter() - start
    first_s, _ = timed_fit(trainer, 1)  # warm-up: compiles, allocator, caches for this size
    probe_s, _ = timed_fit(trainer, 1)
    fields = {"status": "ok", "reason": "", "setup_s": setup_s, "first_epoch_s": first_s}
    if probe_s > cap:  # the probe is the measurement: one 1-epoch window
        reason = f"one 1-epoch window: an epoch took {probe_s:.2g} s, over the {cap:g} s per-cell cap"
        return {**fields, "reason": reason, "epoch_us_median": probe_s * 1e6, "epoch_us_min": probe_s * 1e6,
                "windows": 1, "window_epochs": 1}  # fmt: skip
    window, windows = cell_windows(probe_s, job.repeats, job.window_s)
    stats = summarise([timed_fit(trainer, window)[0] / window * 1e6 for _ in range(windows)])
    return {**fields, "epoch_us_median": stats.median, "epoch_us_min": stats.min, "windows": windows,
            "window_epochs": window}  # fmt: skip


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


def start_backend(job: Job, channel: Channel):
    """Import the job's framework, pin its threads and check its device, as every worker starts.

    Returns (module, import seconds), or None after telling the manager why the job is skipped.
    """
    start = time.perf_counter()
    try:  # the first import in this interpreter: the framework, plus NumPy through backends.base
        from .. import backends

        spec = {**job.spec, "modes": tuple(map(tuple, job.spec["modes"]))}
        backends.register(backends.BackendSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}))
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
    channel.send("start", framework_version=module.framework_version())
    if job.kind == "sweep":
        sweep_cells(job, channel, module)
    else:
        RunSession(job, channel, module, import_s).run()
    channel.send("done")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the manager reports it
        os._exit(130)
