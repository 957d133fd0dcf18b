"""Runs inside one subprocess per job: imports only its framework, pins threads, measures, reports rows.

The manager (bench/manager.py) sends one JSON job (bench/job.py) on stdin; the worker answers with
JSON lines on the process's original stdout, one event per finished row, and after each waits for
the manager's "saved" line on stdin, so table writes never overlap a timing. Anything a framework
prints goes to stderr, which the manager keeps out of the terminal. Only the standard library is
imported before the framework, so its import is timed in a fresh interpreter.

One function per kind of job: time_job (one timing process), run_job (the convergence seeds and the
article presets), sweep_job (cells) and probe_job (`xorbench list`). They measure with
bench/measure.py's functions and build every row with job.planned_row, as the manager builds the
rows of a worker that never sent them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import NamedTuple

from .job import CellKey, Job, ProbeJob, RunJob, RunKey, SweepJob, TimeJob, job_from_json, planned, planned_row

# An article run trains its epochs in windows of about this long (at most a ninth of the run each): the
# article's Keras snippet is one model.fit call, and each call costs ~40 ms here, so shorter windows
# would add minutes of calls the snippet never makes.
ARTICLE_WINDOW_S = 1.0


class Report(NamedTuple):
    """One finished row, with its loss curve and its timed windows where it has them."""

    row: object
    curve: object = None
    timings: list | None = None


class Channel:
    """Events to the manager on the original stdout; fd 1 itself now points at stderr."""

    def __init__(self):
        self.out = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)
        sys.stdout = sys.stderr

    def send(self, event: str, **fields) -> None:
        self.out.write(json.dumps({"event": event, **fields}, default=_plain) + "\n")
        self.out.flush()

    def progress(self, *parts: str) -> None:
        self.send("progress", text=" · ".join(p for p in parts if p))

    def report(self, report: Report) -> None:
        """One finished row; waits until the manager has saved it."""
        curve = None if report.curve is None else [float(x) for x in report.curve]
        self.send("row", row=dataclasses.asdict(report.row), curve=curve, timings=report.timings)
        if not sys.stdin.readline():  # the manager is gone
            os._exit(1)


def _plain(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot send {type(value).__name__}")


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


@dataclass(frozen=True)
class Framework:
    """The job's backend, imported and pinned in this process, and what every row says of it."""

    module: object
    import_s: float
    rss_import_mb: float  # resident memory right after the import
    version: str
    device_name: str

    def trainer(self, job: Job, mode: str):
        from .. import backends

        return backends.get_trainer(job.backend, job.device, mode)

    def row(self, job: Job, key: RunKey | CellKey, **fields):
        """job.planned_row, with what only the worker knows: the framework's version, the device's name
        and, for a run, what its mode is in the backend's own words (its trainer's or module's docstring)."""
        known = dict(framework_version=self.version, device_name=self.device_name)
        if isinstance(key, RunKey):
            from .. import backends

            cls = getattr(self.module, dict(job.spec["modes"])[key.mode])
            known["method"] = backends.describe(cls, self.module, f"{job.backend} {key.mode}")
        return planned_row(job, key, **{**known, **fields})

    def failed(self, job: Job, key: RunKey, error: BaseException, **fields) -> Report:
        return Report(self.row(job, key, status="error", reason=one_line(error), **fields))


def config_of(job: TimeJob | RunJob, key: RunKey):
    from .. import backends
    from .job import preset_fields

    return backends.TrainConfig(**preset_fields(job, key))


# ------------------------------------------------------------------ kind "time"


def time_job(job: TimeJob, channel: Channel, framework: Framework) -> None:
    """Start-up, the solve runs (cold, then warm) and windows of two lengths, in this fresh process."""
    from . import measure
    from .calibration import kernel

    key = planned(job)[0]
    config = config_of(job, key)
    channel.progress(key.mode, key.preset, f"process {job.process + 1}")
    try:
        trainer = framework.trainer(job, key.mode)
        cold, warm, rss_build_mb = measure.solve_runs(trainer, config, job.solve_s / 2, job.solve)  # share the budget
        lengths = measure.window_lengths(measure.epoch_seconds(trainer), job.window_s, measure.epochs_per_call(trainer))
        windows, replays = measure.windows_of(trainer, config, lengths, job.repeats, kernel=kernel)
    except Exception as error:  # one broken process must not stop the others
        channel.report(framework.failed(job, key, error))
        return
    memory = dict(rss_import_mb=framework.rss_import_mb, rss_build_mb=rss_build_mb, peak_rss_mb=measure.peak_rss_mb(),
                  device_peak_mb=device_peak_mb(framework.module, job.device))  # fmt: skip
    startup = dict(compile_cache=job.compile_cache, import_s=framework.import_s,
                   startup_s=framework.import_s + cold.first_epoch_s)  # fmt: skip
    row = framework.row(job, key, **measure.outcome_fields(cold), **measure.window_fields(windows, replays), **memory,
                        **startup, **measure.solve_fields(cold, warm, job.solve, config.epochs))  # fmt: skip
    timings = [{"window_epochs": w.epochs, "epoch_us": w.seconds / w.epochs * 1e6, "cpu_ratio": w.cpu_ratio,
                "kernel_us": w.kernel_s * 1e6 if w.kernel_s is not None else None, "cpu": w.cpu}
               for w in windows]  # fmt: skip
    channel.report(Report(row, timings=timings))


def device_peak_mb(module, device: str) -> float | None:
    """The framework's peak device memory, for backends that can tell (an optional module function)."""
    peak = getattr(module, "device_peak_mb", None)
    return peak(device) if peak is not None and device != "cpu" else None


# ------------------------------------------------------------------ kind "run"


def run_job(job: RunJob, channel: Channel, framework: Framework) -> None:
    """The convergence seeds, each preset's on its convergence mode, then the article presets."""
    seeds = Seeds(lambda mode: framework.trainer(job, mode))
    keys = planned(job)
    for key in keys:
        if key.role == "convergence":
            channel.progress(key.mode, key.preset, f"seed {key.seed + 1}/{job.seeds}")
            channel.report(own_seed(job, framework, seeds, key))
        elif key.preset == "article":
            channel.progress(key.mode, key.preset)
            channel.report(article_run(job, framework, key))
        elif key.preset == "article-bare":
            channel.progress(key.mode, key.preset, "the article's own loop, bare")
            channel.report(bare_article(job, framework, key))


class Seeds:
    """A run job's convergence seeds: one trainer per mode that all its seeds share. setup() starts each
    seed afresh (tested in tests/test_protocol.py), and a Keras model or a compiled loop of the same
    shape is reused rather than traced again per seed. The seeds are not timed, so sharing biases nothing."""

    def __init__(self, new_trainer):
        self.new_trainer = new_trainer
        self.trainers: dict[str, object] = {}

    def trainer(self, mode: str):
        if mode not in self.trainers:
            self.trainers[mode] = self.new_trainer(mode)
        return self.trainers[mode]

    def run(self, mode: str, config, until_accurate: bool = False):
        """measure.convergence_run of one seed on the mode's shared trainer; a run that raises drops that
        trainer, so the next seed starts from a new one."""
        from .measure import convergence_run

        try:
            return convergence_run(self.trainer(mode), config, until_accurate=until_accurate)
        except Exception:
            self.trainers.pop(mode, None)
            raise


def own_seed(job: RunJob, framework: Framework, seeds: Seeds, key: RunKey) -> Report:
    from .measure import outcome_fields

    config = config_of(job, key)
    try:  # the classic experiment ends a run once it has converged, by the 1986 criterion
        run = seeds.run(key.mode, config, until_accurate=key.preset == "classic")
    except Exception as error:
        return framework.failed(job, key, error)
    row = framework.row(job, key, **outcome_fields(run))
    if run.epochs < config.epochs:  # a classic seed ends once converged
        row = dataclasses.replace(row, stopped_at_epoch=run.epochs, stop_reason="converged")
    # seeds train one after another in this process: only the first would be cold, so none is timed here
    return Report(dataclasses.replace(row, time_to_solve_s=None, time_to_accuracy_s=None), run.result.losses)


def article_run(job: RunJob, framework: Framework, key: RunKey) -> Report:
    """An article preset's run, timed in windows as it trains all its epochs (one process)."""
    from .measure import outcome_fields, repeat_fields, timing_run

    config = config_of(job, key)
    try:
        window_s = max(job.window_s, ARTICLE_WINDOW_S)
        run = timing_run(framework.trainer(job, key.mode), config, job.repeats, window_s, job.solve_s, True)
    except Exception as error:  # one broken mode must not stop the others
        return framework.failed(job, key, error)
    timed = repeat_fields(run.repeats_us, run.window, run.replays)
    row = framework.row(job, key, **outcome_fields(run), **timed, first_epoch_s=run.first_epoch_s, process=0,
                        import_s=framework.import_s, startup_s=framework.import_s + run.first_epoch_s,
                        epoch_us=timed["epoch_us_median"])  # fmt: skip
    return Report(row, run.result.losses, [{"window_epochs": run.window, "epoch_us": us} for us in run.repeats_us])


def bare_article(job: RunJob, framework: Framework, key: RunKey) -> Report:
    """The article's snippet verbatim, timed with nothing of xorbench around it: the yardstick for
    what the trainer and the harness add (preset `article-bare`)."""
    from .article_bare import epoch_us
    from .measure import repeat_fields

    config = config_of(job, key)
    repeats = [epoch_us(config.epochs, config.seed) for _ in range(job.repeats)]
    method = "the article's NeuralNetwork class verbatim (bench/article_bare.py)"
    row = framework.row(job, key, status="ok", method=method, **repeat_fields(repeats, config.epochs, 0), process=0)
    return Report(row, timings=[{"window_epochs": config.epochs, "epoch_us": us} for us in repeats])


# ------------------------------------------------------------------ kind "sweep"


def sweep_job(job: SweepJob, channel: Channel, framework: Framework) -> None:
    """The job's cell, in this fresh process, as a user's script would meet it: after an untimed warm-up
    there (setup and one epoch), so that the cell's setup and first epoch are that size's own cost, not
    the framework's first use (which the run's start-up measures). A cell the parent predicts over the
    per-cell cap (job.estimate_s), or whose memory estimate is over the limit (plan.memory_refusal), is
    skipped without being built."""
    from .plan import memory_refusal

    for key in planned(job):
        channel.progress(key.mode, f"hidden {key.hidden}", f"batch {key.batch}")
        too_big = memory_refusal(job.backend, key.hidden, key.batch)  # before anything of the cell is allocated
        try:
            if too_big:
                fields = {"status": "skipped", "reason": too_big}
            elif job.total_epochs:
                fields = total_cell(job, key, framework.import_s)
            else:
                fields = measure_cell(job, key, job.estimate_s)
        except Exception as error:  # a broken cell is a row that says why
            fields = {"status": "error", "reason": one_line(error)}
        channel.report(Report(framework.row(job, key, import_s=framework.import_s, **fields)))


def cell_trainer(job: SweepJob, key: CellKey):
    """A trainer of the cell's mode, set up for its network; (trainer, setup seconds)."""
    from .. import backends
    from .plan import sweep_config

    trainer = backends.get_trainer(job.backend, job.device, key.mode)
    start = time.perf_counter()
    trainer.setup(sweep_config(job.matched, key.hidden, key.batch))
    return trainer, time.perf_counter() - start


def total_cell(job: SweepJob, key: CellKey, import_s: float) -> dict:
    """advise --check: what a user's script pays in a fresh process, set up and trained in one call."""
    from .measure import timed_fit

    trainer, setup_s = cell_trainer(job, key)
    fit_s, _ = timed_fit(trainer, job.total_epochs)
    total_s = import_s + setup_s + fit_s
    return {"status": "ok", "reason": "", "setup_s": setup_s, "total_epochs": job.total_epochs, "total_s": total_s}


def measure_cell(job: SweepJob, key: CellKey, estimate_s: float | None) -> dict:
    """Time one cell: an untimed first use (setup and one epoch), then setup, a warm-up epoch and window
    (untimed), then up to job.repeats windows; skipped where `estimate_s` is over the per-cell cap."""
    from .measure import cell_windows, timed_fit
    from .stats import summarise

    cap = job.cell_cap_s
    if estimate_s is not None and estimate_s > cap:
        return {"status": "skipped", "reason": f"over the per-cell budget: an epoch would take about "
                f"{estimate_s:.2g} s (extrapolated from a smaller cell), cap {cap:g} s"}  # fmt: skip
    timed_fit(cell_trainer(job, key)[0], 1)  # the framework's first use, untimed
    trainer, setup_s = cell_trainer(job, key)
    first_s, _ = timed_fit(trainer, 1)  # this size's compiles, allocator, caches
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


# ------------------------------------------------------------------ start-up, kind "probe", main


def load_backend(job: Job):
    """(backends, the job's backend module), imported now. The backend's spec comes with the job, so a
    backend registered only in the parent (a test's fake) loads here too. ImportError if it is absent."""
    from .. import backends

    spec = {**job.spec, "modes": tuple(map(tuple, job.spec["modes"]))}
    backends.register(backends.BackendSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}))
    return backends, backends.load(job.backend)


def start_backend(job: TimeJob | RunJob | SweepJob, channel: Channel) -> Framework | None:
    """Import the job's framework, pin its threads and check its device, as every worker starts; None
    after telling the manager why the job is skipped."""
    from .measure import rss_mb

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
    return Framework(module, import_s, rss_mb(), module.framework_version(), module.device_name(job.device))


def probe_job(job: ProbeJob, channel: Channel) -> None:
    """Per device, whether the backend can run here, and why not."""
    from ..backends import DEVICES

    try:
        _, module = load_backend(job)
        found = [(device, module.unavailable_reason(device), module.framework_version()) for device in DEVICES]
    except Exception as error:  # noqa: BLE001  (an import that fails in any way: the backend is unavailable)
        found = [(device, str(error).splitlines()[0] if isinstance(error, ImportError) else one_line(error), "")
                 for device in DEVICES]  # fmt: skip
    for device, reason, version in found:
        channel.send("available", device=device, ok=reason is None, reason=reason or "", version=version)


MEASURES = {"time": time_job, "run": run_job, "sweep": sweep_job}


def main() -> int:
    job = job_from_json(sys.stdin.readline())
    channel = Channel()
    if isinstance(job, ProbeJob):
        probe_job(job, channel)
        return 0
    framework = start_backend(job, channel)
    if framework is None:
        return 0
    channel.send("start", framework_version=framework.version)
    MEASURES[job.kind](job, channel, framework)
    channel.send("done")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the manager reports it
        os._exit(130)
