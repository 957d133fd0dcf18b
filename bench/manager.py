"""Spawning and talking to workers, for `run` and `sweep` alike.

One worker subprocess per job (`python -m xorbench.bench.worker`), one after another so no two
frameworks share the CPU while timing. Every finished row is saved before the worker moves on. A
worker that crashes, or says nothing (no row, no progress) for the timeout, gives `error` rows for
every planned row it had not reported; one whose framework or device is missing gives `skipped` rows. SIGINT and
SIGTERM stop the run between rows, keeping everything saved (`Interrupts`). `xorbench list` asks a
worker per backend whether it can run here (`probe_backends`), so a framework whose import crashes
or hangs takes only its own lines down, and its log noise stays out of the terminal.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .job import Job, ProbeJob, planned

WORKER = "xorbench.bench.worker"


def worker_env(job: Job, caches: Path) -> dict[str, str]:
    """The worker's environment: threads pinned, and for a backend with an on-disk compile cache, the
    run's own cache in `caches`: empty for the row's first process ("cold"), full for the others ("warm")."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[name] = str(job.threads)  # pools sized at start-up; backends.set_threads pins the rest
    variable = job.spec.get("compile_cache_env")
    if variable:
        env[variable] = str(caches / "shared")
    return env


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"died of {signal.Signals(-code).name}"
        except ValueError:
            return f"died of signal {-code}"
    return f"exited with status {code}"


def last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def run_worker(job: Job, timeout_s: float, on_event: Callable[[dict], None], caches: Path) -> tuple[bool, str]:
    """Run one worker to the end; call on_event(event) for each event. Return (finished, why not)."""
    with tempfile.NamedTemporaryFile(prefix=f"xorbench-{job.backend}-{job.device}-", suffix=".log") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            env=worker_env(job, caches), text=True, bufsize=1,
        )  # fmt: skip
        lines: queue.Queue = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)], daemon=True)
        reader.start()
        ended = False  # the worker closed its output: let it exit by itself rather than kill it
        try:
            proc.stdin.write(job.to_json() + "\n")
            proc.stdin.flush()
            finished, why = follow(proc, lines, timeout_s, on_event)
            ended = not why
        finally:
            code = stop(proc, grace_s=5 if ended else 0)
            reader.join(timeout=5)
        if not finished:
            why = why or f"worker {describe_exit(code)}"
            stderr = last_line(Path(log.name))
            why += f"; last stderr line: {stderr}" if stderr else ""
        return finished, why


def stop(proc, grace_s: float) -> int:
    """The worker's exit status, killing it if it has not exited within grace_s."""
    try:
        return proc.wait(timeout=grace_s) if grace_s else proc.wait(timeout=0.01)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def follow(proc, lines: queue.Queue, timeout_s: float, on_event) -> tuple[bool, str]:
    """Read the worker's events until it ends, or until it has said nothing (no row, no progress) for
    timeout_s: a hang, not a long job (a backend's convergence job takes minutes of rows and progress
    on a slow machine); acknowledge each saved row."""
    finished, deadline = False, time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return finished, f"worker timed out after {timeout_s:g} s without a row or progress"
        try:
            line = lines.get(timeout=min(left, 0.25))
        except queue.Empty:
            continue
        if line is None:
            return finished, ""
        event = event_of(line)
        if not event:
            continue
        deadline = time.monotonic() + timeout_s
        finished = finished or event["event"] in ("done", "skipped")
        on_event(event)
        if event["event"] == "row":
            try:
                proc.stdin.write("saved\n")
                proc.stdin.flush()
            except BrokenPipeError:
                pass


@dataclass
class Outcome:
    """What one job gave: the keys it reported, and why the rest are missing."""

    job: Job
    done: set = field(default_factory=set)
    framework_version: str | None = None
    skipped: str | None = None  # the worker's reason, when the backend or device cannot run here
    why: str = ""  # why a worker that did not finish stopped
    seconds: float = 0.0  # the worker's wall time, start-up to exit

    @property
    def missing(self) -> list:
        return [key for key in planned(self.job) if key not in self.done]

    @property
    def status(self) -> tuple[str, str]:
        return ("skipped", self.skipped) if self.skipped else ("error", self.why or "not reported")


class Manager:
    """Runs jobs one at a time with a progress bar; `save_row(event)` stores each finished row and
    returns its plan key, `placeholder(outcome, key)` stores a row for a key the worker never reported."""

    def __init__(self, timeout_s: float, save_row: Callable, placeholder: Callable, console: Console | None = None):
        self.timeout_s, self.save_row, self.placeholder = timeout_s, save_row, placeholder
        self.console = console or Console(stderr=True)
        self.outcomes: list[Outcome] = []  # every job run so far, in order
        self.deadline: float | None = None  # time.monotonic() when a run's budget ends: progress shows what is left

    def execute(self, jobs: Iterable[Job], total: int) -> bool:
        """Run every job (`jobs` may be built as earlier ones finish; `total` rows in all); True when
        interrupted (KeyboardInterrupt: SIGINT, or SIGTERM under `Interrupts`), everything finished kept."""
        progress = Progress(
            SpinnerColumn(), TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("{task.fields[left]}"), console=self.console, refresh_per_second=4,
        )  # fmt: skip
        try:
            with progress, tempfile.TemporaryDirectory(prefix="xorbench-caches-") as caches:
                task = progress.add_task("starting", total=total, left="")
                for job in jobs:  # a planned run adds jobs as it goes: the bar's total grows with them
                    done = progress.tasks[0].completed
                    progress.update(task, total=max(progress.tasks[0].total, done + len(planned(job))),
                                    left=self.left())  # fmt: skip
                    self.run_job(job, progress, task, Path(caches))
        except KeyboardInterrupt:
            return True
        return False

    def left(self) -> str:
        if self.deadline is None:
            return ""
        left = self.deadline - time.monotonic()
        return f"~{left:.0f} s of budget left" if left >= 0 else f"{-left:.0f} s over budget"

    def run_job(self, job: Job, progress: Progress, task, caches: Path) -> Outcome:
        outcome, started = Outcome(job), time.perf_counter()
        label = job.label
        progress.update(task, description=f"{label} · importing")

        def on_event(event: dict) -> None:
            kind = event["event"]
            if kind == "progress":
                progress.update(task, description=f"{label} · {event['text']}")
            elif kind in ("start", "skipped"):
                outcome.framework_version = event.get("framework_version")
                outcome.skipped = event.get("reason") if kind == "skipped" else None
            elif kind == "row":
                outcome.done.add(self.save_row(event))
                progress.advance(task)

        finished, outcome.why = run_worker(job, self.timeout_s, on_event, caches)
        outcome.seconds = time.perf_counter() - started
        self.outcomes.append(outcome)
        for key in outcome.missing:
            self.placeholder(outcome, key)
            progress.advance(task)
        progress.console.print(f"{label}: {note(outcome)} ({outcome.seconds:.1f} s)")
        return outcome


def note(outcome: Outcome) -> str:
    status, reason = outcome.status
    if outcome.skipped:
        return f"skipped: {reason}"
    text = f"{len(outcome.done)} rows finished"
    return text + (f", {len(outcome.missing)} error rows: {reason}" if outcome.missing else "")


class Interrupts:
    """SIGINT (Ctrl-C) and SIGTERM while a run measures and saves its tables.

    The first stops the run between rows (KeyboardInterrupt, which Manager.execute turns into an
    interrupted run); once `saving` is set, or after the first, a signal only says the finished rows
    are being saved, so the final writes are never cut short; a third quits at once (every table on
    disk is a complete file either way: they are written atomically)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.count = 0  # signals received
        self.saving = False  # set while the run saves what it has: no signal interrupts that

    def __enter__(self) -> Interrupts:
        self.previous = {number: signal.signal(number, self.on_signal) for number in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)

    def on_signal(self, signum, frame) -> None:
        self.count += 1
        if self.count == 1 and not self.saving:
            raise KeyboardInterrupt
        if self.count >= 3:
            os.write(2, b"xorbench: quit at once; the tables on disk are the last complete version\n")
            os._exit(130)
        # os.write: print() could re-enter a stream the interrupted code was writing to
        os.write(2, b"xorbench: saving the finished rows first (interrupt once more to quit at once)\n")


def probe_backends(names: tuple[str, ...], timeout_s: float) -> list:
    """Every backend's availability on every device (backends.Availability), each found by a worker of
    its own (kind "probe"), one after another, each within timeout_s. A probe that crashes, hangs or says
    nothing makes its own backend's lines unavailable, with why; its stderr goes to a log, not here."""
    found = []
    with tempfile.TemporaryDirectory(prefix="xorbench-probe-") as folder:
        for name in names:
            proc, log = start_probe(name, Path(folder))
            try:
                found += probe_result(name, proc, log, timeout_s)
            finally:  # interrupted while it ran: no probe outlives `list`
                stop(proc, grace_s=0)
    return found


def start_probe(name: str, folder: Path) -> tuple[subprocess.Popen, Path]:
    from .. import backends

    job = ProbeJob(backend=name, spec=asdict(backends.spec(name)))
    log = folder / f"{name}.log"
    with open(log, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=stderr, env=worker_env(job, folder), text=True)  # fmt: skip
    proc.stdin.write(job.to_json() + "\n")
    proc.stdin.close()
    return proc, log


def event_of(line: str) -> dict:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return {}


def probe_result(name: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> list:
    """The probe's lines, once it ends or timeout_s after it started; for every device it did not
    report, unavailable, with why."""
    from .. import backends

    why = ""
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        code, why = proc.wait(), f"probe timed out after {timeout_s:g} s"
    events = [event_of(line) for line in proc.stdout.read().splitlines()]
    proc.stdout.close()
    found = {e["device"]: backends.Availability(name, e["device"], e["ok"], e["reason"], e["version"])
             for e in events if e.get("event") == "available"}  # fmt: skip
    if not why:
        why = f"probe {describe_exit(code)}" if code else "probe reported nothing"
        stderr = last_line(log)
        why += f"; last stderr line: {stderr}" if stderr and code else ""
    return [found.get(device) or backends.Availability(name, device, False, why, "") for device in backends.DEVICES]
