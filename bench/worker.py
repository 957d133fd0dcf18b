"""Runs inside one subprocess per job: imports only its framework, pins threads, measures, reports rows.

The manager (bench/manager.py) sends one JSON job (bench/job.py's Job) on stdin; the worker
answers with JSON lines on the process's original stdout, one event per finished row, and after
each waits for the manager's "saved" line on stdin, so table writes never overlap a timing.
Anything a framework prints goes to stderr, which the manager keeps out of the terminal. Only the
standard library is imported before the framework, so its import is timed in a fresh interpreter.
A job is of kind "run" (timing, convergence and article runs: RunSession) or "sweep" (cells:
sweep_cells); both measure with bench/measure.py's functions and follow the job's plan.

A job of kind "probe" (`xorbench list`) only loads its backend and says, per device, whether it
can run here.

Test hooks: XORBENCH_TEST_CRASH=<backend> makes that backend's worker die of SIGSEGV, and
XORBENCH_TEST_HANG=<backend> makes it sleep forever, right after its first finished row (a probe:
right after its import); XORBENCH_TEST_SLOW=<backend>:<process> slows one timing process down.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time

from .job import CellKey, Job, RunKey, planned, planned_cells, planned_runs
from .rows import RunRow, SweepRow

# Where a cheap mode's curve stands in for an expensive mode's convergence statistics, this
# run's seed-0 curves of the two modes must agree this closely (the tests pin 2e-5 / 1e-4).
BORROW_RTOL = 1e-3
CHECK_SEEDS = 3  # a borrowing mode's own curves are compared with the lender's on this many seeds
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
    """Kinds "time" and "run" of one backend on one device: rows of runs.csv, in the plan's order."""

    def __init__(self, job: Job, channel: Channel, module, import_s: float):
        from .. import backends

        self.job, self.channel, self.module, self.import_s = job, channel, module, import_s
        self.backends = backends
        self.version = module.framework_version()
        self.device_name = module.device_name(job.device)
        self.seeds: dict[tuple[str, str, int], RunRow] = {}  # (mode, preset, seed) -> its own convergence row
        self.curves: dict[tuple[str, str, int], object] = {}  # (mode, preset, seed) -> its own loss curve
        self.seed_trainers: dict[str, object] = {}  # mode -> the trainer its convergence seeds share
        self.costs: dict[str, float] = {}  # mode -> what all its seeds would take (run() sets them)

    def run(self) -> None:
        from .measure import convergence_sources

        keys = planned_runs(self.job)
        self.costs = {mode: self.probe_cost(mode) for mode in self.job.modes}
        sources = convergence_sources(self.costs, self.job.budget_s)
        converge = [k for k in keys if k.role == "convergence"]
        for key in sorted(converge, key=lambda k: k.mode in sources):  # the sources train first
            self.progress(key, f"seed {key.seed + 1}/{self.job.seeds}")
            self.convergence(key, sources.get(key.mode))
        for key in keys:
            if key.preset.startswith("article"):
                self.progress(key, "the article's own loop, bare" if key.preset == "article-bare" else "")
                self.bare_article(key) if key.preset == "article-bare" else self.timed(key, self.config(key))

    # -------------------------------------------------------------- the runs

    def config(self, key: RunKey):
        fields = self.job.article if key.preset.startswith("article") else getattr(self.job, key.preset)
        return self.backends.TrainConfig(**fields).replace(seed=key.seed)

    def trainer(self, mode: str):
        return self.backends.get_trainer(self.job.backend, self.job.device, mode)

    def seed_trainer(self, mode: str):
        """One trainer for every convergence seed of a mode: setup() starts each seed afresh (tested in
        tests/test_protocol.py), and a Keras model or a compiled loop of the same shape is reused rather
        than traced again per seed. The seeds are not timed, so sharing biases nothing."""
        if mode not in self.seed_trainers:
            self.seed_trainers[mode] = self.trainer(mode)
        return self.seed_trainers[mode]

    def seed_run(self, key: RunKey, config):
        """convergence_run of one seed on its mode's shared trainer; a run that raises drops that
        trainer, so the next seed starts from a new one."""
        from .measure import convergence_run

        try:
            return convergence_run(self.seed_trainer(key.mode), config, until_accurate=key.preset == "classic")
        except Exception:
            self.seed_trainers.pop(key.mode, None)
            raise

    def probe_cost(self, mode: str) -> float:
        """What every matched seed of `mode` would take, from a few epochs timed here: the estimate a
        run without timing processes (--preset classic, say) decides its borrowing on."""
        from .measure import timed_fit

        if self.job.costs and mode in self.job.costs:
            return self.job.costs[mode]
        if self.job.matched is None and self.job.classic is None:
            return 0.0  # the article presets alone: no seeds to borrow
        try:
            trainer = self.trainer(mode)
            trainer.setup(self.backends.TrainConfig(**(self.job.matched or self.job.classic or {})))
            timed_fit(trainer, 2)  # build, trace, compile
            seconds = min(timed_fit(trainer, 5)[0] for _ in range(2)) / 5
        except Exception:  # noqa: BLE001  (the seeds' own runs report what is wrong)
            return 0.0
        epochs = max((getattr(self.job, p) or {}).get("epochs", 0) for p in ("matched", "classic"))
        return self.job.seeds * epochs * seconds

    def time_process(self, rss_import_mb: float) -> None:
        """Kind "time": start-up, the solve runs (cold, then warm) and two-length windows, in this fresh process."""
        from .measure import timed_fit, window_lengths, windows_of

        job, key = self.job, planned(self.job)[0]
        config = self.config(key)
        self.progress(key, f"process {job.process + 1}")
        try:
            trainer = slowed(self.trainer(key.mode), f"{job.backend}:{job.process}")
            cold, warm, rss_build_mb = self.solve_runs(trainer, config)
            per_epoch = min(timed_fit(trainer, 5)[0] for _ in range(2)) / 5  # probes size the windows
            windows, replays = windows_of(trainer, config, window_lengths(per_epoch, job.window_s, config.epochs),
                                          job.repeats)  # fmt: skip
        except Exception as error:  # one broken process must not stop the others
            self.emit(self.row(key, config, status="error", reason=one_line(error), process=job.process,
                               start_order=job.start_order))  # fmt: skip
            return
        memory = dict(rss_import_mb=rss_import_mb, rss_build_mb=rss_build_mb, peak_rss_mb=peak_rss_mb(),
                      device_peak_mb=device_peak_mb(self.module, job.device))  # fmt: skip
        row = self.row(key, config, **self.outcome(cold), **self.windows_fields(windows, replays), **memory,
                       **self.startup_fields(config, cold, warm))  # fmt: skip
        timings = [{"window_epochs": w.epochs, "epoch_us": w.seconds / w.epochs * 1e6, "cpu_ratio": w.cpu_ratio}
                   for w in windows]  # fmt: skip
        self.emit(row, timings=timings)

    def solve_runs(self, trainer, config):
        """The cold run (build, compile and train until solved) and, set up again, the warm one: only
        after a cold run that solved, since the warm one trains as fast, without the compiling the
        budget leaves out."""
        from .measure import solve_run

        # cold and warm share the row's budget; 0: build and one epoch, for start-up only
        budget = self.job.budget_s / 2 if self.job.solve else 0.0
        cold = solve_run(trainer, config, budget)
        rss_build_mb = rss_mb()
        solved = cold.result.epoch_solved is not None
        warm = solve_run(trainer, config, budget) if self.job.solve and solved else None
        return cold, warm, rss_build_mb

    def startup_fields(self, config, cold, warm) -> dict:
        from .measure import time_to_solve

        job, epoch = self.job, cold.result.epoch_solved
        warm_epoch = warm.result.epoch_solved if warm is not None else None
        return dict(
            process=job.process, start_order=job.start_order, compile_cache=job.compile_cache, import_s=self.import_s,
            first_epoch_s=cold.first_epoch_s, startup_s=self.import_s + cold.first_epoch_s,
            time_to_solve_cold_s=cold.time_to_solve(epoch) if job.solve else None,
            time_to_solve_warm_s=time_to_solve(0.0, warm.calls, warm_epoch) if warm is not None else None,
            stopped_at_epoch=cold.epochs if cold.epochs < config.epochs or not job.solve else None,
            stop_reason=("solved" if epoch is not None else "budget") if job.solve else "start-up only",
        )  # fmt: skip

    @staticmethod
    def windows_fields(windows, replays: int) -> dict:
        from .stats import fit_call_and_epoch, summarise

        stats = summarise([w.seconds / w.epochs * 1e6 for w in windows])
        call_s, epoch_s = fit_call_and_epoch([w.epochs for w in windows], [w.seconds for w in windows])
        ratios = sorted(w.cpu_ratio for w in windows)
        return dict(epoch_us=epoch_s * 1e6, call_us=call_s * 1e6, epoch_us_median=stats.median,
                    epoch_us_iqr=stats.iqr, epoch_us_min=stats.min, windows=len(windows),
                    window_epochs=max(w.epochs for w in windows), replays=replays,
                    cpu_ratio=ratios[len(ratios) // 2])  # fmt: skip

    def timed(self, key: RunKey, config):
        """An article preset's run, timed in windows as it trains all its epochs (one process)."""
        from .measure import timing_run
        from .stats import summarise

        job = self.job
        try:
            run = timing_run(self.trainer(key.mode), config, job.repeats, job.window_s, job.budget_s, True)
        except Exception as error:  # one broken mode must not stop the others
            self.emit(self.row(key, config, status="error", reason=one_line(error)))
            return None
        stats = summarise(run.repeats_us)
        row = self.row(
            key, config, **self.outcome(run), epoch_us_median=stats.median, epoch_us_iqr=stats.iqr,
            epoch_us_min=stats.min, first_epoch_s=run.first_epoch_s, import_s=self.import_s, windows=stats.n,
            window_epochs=run.window, replays=run.replays, process=0, startup_s=self.import_s + run.first_epoch_s,
            epoch_us=stats.median,
        )  # fmt: skip
        timings = [{"window_epochs": run.window, "epoch_us": us} for us in run.repeats_us]
        self.emit(row, run.result.losses, timings)
        return run

    def convergence(self, key: RunKey, source: str | None) -> None:
        config = self.config(key)
        if source is not None:
            self.borrowed(key, config, source)
            return
        try:  # the classic experiment ends a run once it has converged, by the 1986 criterion
            run = self.seed_run(key, config)
        except Exception as error:
            self.emit(self.row(key, config, status="error", reason=one_line(error)))
            return
        row = self.row(key, config, **self.outcome(run))
        if run.epochs < config.epochs:  # a classic seed ends once converged
            row = dataclasses.replace(row, stopped_at_epoch=run.epochs, stop_reason="converged")
        self.seeds[key[:3]], self.curves[key[:3]] = row, run.result.losses
        # seeds train one after another in this process: only the first would be cold, so none is timed here
        self.emit(dataclasses.replace(row, time_to_solve_s=None, time_to_accuracy_s=None), run.result.losses)

    def borrowed(self, key: RunKey, config, source: str) -> None:
        """This seed's statistics from `source`. On the first CHECK_SEEDS seeds this mode trains as
        many epochs as the budget allows, and its curves must match the lender's to BORROW_RTOL."""
        theirs = self.seeds.get((source, key.preset, key.seed))
        if theirs is None:
            self.emit(self.row(key, config, status="error", reason=f"the {source} mode's run of this seed failed"))
            return
        try:
            difference, seeds, epochs, curve = self.borrow_check(key, config, source)
        except Exception as error:  # this mode's own check run failed: this seed's row says why, the next goes on
            self.emit(self.row(key, config, status="error", reason=one_line(error), borrowed_from=source))
            return
        if not difference <= BORROW_RTOL:
            reason = (f"not borrowed: the curves of {key.mode} and {source} differ by {difference:.2g} relative "
                      f"over {seeds} seeds x {epochs} epochs (limit {BORROW_RTOL:g})")  # fmt: skip
            self.emit(self.row(key, config, status="error", reason=reason, borrowed_from=source))
            return
        copied = ("status", "reason", "epochs", "final_loss", "accuracy", "solved", "epoch_solved", "epoch_accurate",
                  "outputs")  # fmt: skip
        check = dict(borrow_difference=difference, borrow_checked_seeds=seeds, borrow_checked_epochs=epochs)
        row = self.row(key, config, **{k: getattr(theirs, k) for k in copied}, borrowed_from=source, **check)
        self.emit(row, curve)

    def borrow_check(self, key: RunKey, config, source: str) -> tuple[float, int, int, object]:
        """(max relative difference, seeds, epochs, this seed's own curve or None) of this mode against
        `source` on seeds 0..CHECK_SEEDS-1, trained for as many epochs as a third of the budget buys."""
        from .stats import max_relative_difference

        cost = self.costs.get(key.mode, 0.0)  # every seed in full
        per_epoch_s = cost / max(1, self.job.seeds * config.epochs)
        # a third of the budget for the check, shared by its seeds (a preset's seeds may borrow twice a run)
        epochs = max(1, min(config.epochs, int(self.job.budget_s / 3 / CHECK_SEEDS / max(per_epoch_s, 1e-9))))
        seeds = min(CHECK_SEEDS, self.job.seeds)
        for seed in range(seeds):
            if (key.mode, key.preset, seed) not in self.curves:
                checked = config.replace(seed=seed, epochs=epochs)
                self.curves[key.mode, key.preset, seed] = self.seed_run(key, checked).result.losses
        mine, theirs = (lambda s: (key.mode, key.preset, s)), (lambda s: (source, key.preset, s))
        differences = [max_relative_difference(self.curves[theirs(s)], self.curves[mine(s)]) for s in range(seeds)
                       if theirs(s) in self.curves]  # fmt: skip
        difference = max(differences) if differences else float("nan")
        return difference, seeds, epochs, self.curves.get(key[:3]) if key.seed < seeds else None

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
            window_epochs=config.epochs, replays=0, process=0,
        )  # fmt: skip
        self.emit(row, timings=[{"window_epochs": config.epochs, "epoch_us": us} for us in repeats])

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
            role=key.role, method=self.how(key.mode), momentum=config.momentum, hidden=config.hidden,
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
            "epoch_accurate": result.epoch_accurate,
            "train_s": run.train_s,
            "time_to_solve_s": run.time_to_solve(epoch),
            "time_to_accuracy_s": run.time_to_solve(result.epoch_accurate),
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

        config = sweep_config(job.matched, key.hidden, key.batch)
        row = SweepRow(backend=job.backend, framework_version=version, device=job.device, device_name=device_name,
                       mode=key.mode, hidden=key.hidden, batch=key.batch, optimizer=config.optimizer, lr=config.lr,
                       dtype=config.dtype, threads=job.threads, **fields)  # fmt: skip
        channel.row(row, job.backend)


def measure_cell(job: Job, key: CellKey, estimate_s: float | None) -> dict:
    """Time one cell: setup and a warm-up epoch and window (untimed), then up to job.repeats windows.
    A cell whose memory estimate is over the limit (plan.memory_refusal) is skipped, never built."""
    from .. import backends
    from .measure import cell_windows, timed_fit
    from .plan import memory_refusal, sweep_config
    from .stats import summarise

    cap = job.cell_cap_s
    too_big = memory_refusal(job.backend, key.hidden, key.batch)  # before anything of the cell is allocated
    if too_big:
        return {"status": "skipped", "reason": too_big}
    if estimate_s is not None and estimate_s > cap:
        return {"status": "skipped", "reason": f"over the per-cell budget: an epoch would take about "
                f"{estimate_s:.2g} s (extrapolated from a smaller cell), cap {cap:g} s"}  # fmt: skip
    trainer = backends.get_trainer(job.backend, job.device, key.mode)
    start = time.perf_counter()
    trainer.setup(sweep_config(job.matched, key.hidden, key.batch))
    setup_s = time.perf_counter() - start
    first_s, _ = timed_fit(trainer, 1)  # warm-up: compiles, allocator, caches for this size
    probe_s, _ = timed_fit(trainer, 1)
    fields = {"status": "ok", "reason": "", "setup_s": setup_s, "first_epoch_s": first_s}
    if probe_s > cap:  # the probe is the measurement: one 1-epoch window
        reason = f"one 1-epoch window: an epoch took {probe_s:.2g} s, over the {cap:g} s per-cell cap"
        return {**fields, "reason": reason, "epoch_us_median": probe_s * 1e6, "epoch_us_min": probe_s * 1e6,
                "windows": 1, "window_epochs": 1}  # fmt: skip
    window, windows = cell_windows(probe_s, job.repeats, job.window_s)
    if window > 1:  # untimed: a call of this length may compile a function of its own (measure.windows_of)
        timed_fit(trainer, window)
    stats = summarise([timed_fit(trainer, window)[0] / window * 1e6 for _ in range(windows)])
    return {**fields, "epoch_us_median": stats.median, "epoch_us_min": stats.min, "windows": windows,
            "window_epochs": window}  # fmt: skip


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB, macOS bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def device_peak_mb(module, device: str) -> float | None:
    """The framework's peak device memory, for backends that can tell (an optional module function)."""
    peak = getattr(module, "device_peak_mb", None)
    return peak(device) if peak is not None and device != "cpu" else None


def slowed(trainer, name: str):
    """Test hook: XORBENCH_TEST_SLOW=<backend>:<process> makes that timing process's epochs 1 ms
    slower, as a slow spell of the machine would, to show the median over processes shrugs it off."""
    if os.environ.get("XORBENCH_TEST_SLOW") != name:
        return trainer
    fit = trainer.fit

    def slow_fit(epochs: int):
        time.sleep(epochs * 1e-3)
        return fit(epochs)

    trainer.fit = slow_fit
    return trainer


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


def load_backend(job: Job):
    """(backends, the job's backend module), imported now. The backend's spec comes with the job, so a
    backend registered only in the parent (a test's fake) loads here too. ImportError if it is absent."""
    from .. import backends

    spec = {**job.spec, "modes": tuple(map(tuple, job.spec["modes"]))}
    backends.register(backends.BackendSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}))
    return backends, backends.load(job.backend)


def start_backend(job: Job, channel: Channel):
    """Import the job's framework, pin its threads and check its device, as every worker starts.

    Returns (module, import seconds), or None after telling the manager why the job is skipped.
    """
    start = time.perf_counter()
    try:  # the first import in this interpreter: the framework, plus NumPy through backends.base
        backends, module = load_backend(job)
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


def probe(job: Job, channel: Channel) -> None:
    """Kind "probe" (`xorbench list`): per device, whether the backend can run here, and why not."""
    from ..backends import DEVICES

    try:
        backends, module = load_backend(job)
        test_hooks(job.backend)
        found = [(device, module.unavailable_reason(device), module.framework_version()) for device in DEVICES]
    except Exception as error:  # noqa: BLE001  (an import that fails in any way: the backend is unavailable)
        found = [(device, str(error).splitlines()[0] if isinstance(error, ImportError) else one_line(error), "")
                 for device in DEVICES]  # fmt: skip
    for device, reason, version in found:
        channel.send("available", device=device, ok=reason is None, reason=reason or "", version=version)


def main() -> int:
    job = Job.from_json(sys.stdin.readline())
    channel = Channel()
    if job.kind == "probe":
        probe(job, channel)
        return 0
    started = start_backend(job, channel)
    if started is None:
        return 0
    module, import_s = started
    rss_import_mb = rss_mb()
    channel.send("start", framework_version=module.framework_version())
    if job.kind == "sweep":
        sweep_cells(job, channel, module)
    elif job.kind == "time":
        RunSession(job, channel, module, import_s).time_process(rss_import_mb)
    else:
        RunSession(job, channel, module, import_s).run()
    channel.send("done")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the manager reports it
        os._exit(130)
