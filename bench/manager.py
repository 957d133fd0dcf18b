"""Spawning and talking to workers, for `run` and `sweep` alike.

One worker subprocess per job (`python -m xorbench.bench.worker`), one after another so no two
frameworks share the CPU while timing, each with a timeout. Every finished row is saved before the
worker moves on. A worker that crashes or outlives its timeout gives `error` rows for every planned
row it had not reported; one whose framework or device is missing gives `skipped` rows. SIGINT and
SIGTERM stop the run between rows, keeping everything saved.
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
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .job import Job, planned

WORKER = "xorbench.bench.worker"


def worker_env(job: Job, caches: Path) -> dict[str, str]:
    """The worker's environment: threads pinned, and for a backend with an on-disk compile cache, a
    cache the run controls: `caches`/shared, filled by the first process and found full by "warm"
    ones, or a new empty folder for a "cold" one after the first."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[name] = str(job.threads)  # pools sized at start-up; backends.set_threads pins the rest
    variable = job.spec.get("compile_cache_env")
    if variable:
        fresh = job.compile_cache == "cold" and job.process > 0
        env[variable] = str(caches / (f"cold-{job.start_order}" if fresh else "shared"))
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
            finished, why = follow(proc, lines, time.monotonic() + timeout_s, timeout_s, on_event)
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


def follow(proc, lines: queue.Queue, deadline: float, timeout_s: float, on_event) -> tuple[bool, str]:
    """Read the worker's events until it ends or the deadline; acknowledge each saved row."""
    finished = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return finished, f"worker timed out after {timeout_s:g} s"
        try:
            line = lines.get(timeout=min(left, 0.25))
        except queue.Empty:
            continue
        if line is None:
            return finished, ""
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
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

    def execute(self, jobs: Iterable[Job], total: int) -> bool:
        """Run every job (`jobs` may be built as earlier ones finish; `total` rows in all); True when
        interrupted (SIGINT or SIGTERM), everything finished kept."""
        previous = signal.signal(signal.SIGTERM, _interrupt)
        progress = Progress(
            SpinnerColumn(), TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=self.console, refresh_per_second=4,
        )  # fmt: skip
        try:
            with progress, tempfile.TemporaryDirectory(prefix="xorbench-caches-") as caches:
                task = progress.add_task("starting", total=total)
                for job in jobs:
                    self.run_job(job, progress, task, Path(caches))
        except KeyboardInterrupt:
            return True
        finally:
            signal.signal(signal.SIGTERM, previous)
        return False

    def run_job(self, job: Job, progress: Progress, task, caches: Path) -> Outcome:
        outcome, started = Outcome(job), time.perf_counter()
        label = f"{job.backend}/{job.device}" + (f"/{job.modes[0]} #{job.process + 1}" if job.kind == "time" else "")
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
        for key in outcome.missing:
            self.placeholder(outcome, key)
            progress.advance(task)
        progress.console.print(f"{label}: {note(outcome)} ({time.perf_counter() - started:.1f} s)")
        return outcome


def note(outcome: Outcome) -> str:
    status, reason = outcome.status
    if outcome.skipped:
        return f"skipped: {reason}"
    text = f"{len(outcome.done)} rows finished"
    return text + (f", {len(outcome.missing)} error rows: {reason}" if outcome.missing else "")


def _interrupt(signum, frame):
    raise KeyboardInterrupt
