"""Orchestration: plan the workers, run them one at a time, save every finished run, show progress.

One worker subprocess per (backend, device) (bench/worker.py), run one after another so no two
frameworks share the CPU while timing. A worker that crashes or outlives its timeout gives
`error` rows for every run it had not finished; one whose framework or device is missing gives
`skipped` rows. Every finished run is written to the tables (bench/tables.py) before the worker
moves on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .. import backends as registry  # `backends` is also an option's name
from . import env as environment
from .tables import Tables, write_env
from .worker import Job, planned

PRESET_CHOICES = ("matched", "article", "all")
DEVICE_CHOICES = ("cpu", "gpu", "auto")


@dataclass(frozen=True)
class Options:
    """One `xorbench run`. Defaults are the default run (about 1.5 minutes on the 2-core dev machine)."""

    backends: tuple[str, ...] = registry.BACKENDS
    devices: tuple[str, ...] = ("auto",)
    modes: tuple[str, ...] = registry.MODES
    preset: str = "all"
    optimizer: str | None = None  # None: the matched preset's own (SGD)
    lr: float | None = None
    epochs: int | None = None  # matched preset; None: its 2000
    seeds: int = 20
    repeats: int = 10
    threads: int = registry.DEFAULT_THREADS
    out: Path = Path("results")
    timeout_s: float = 300.0  # per worker
    budget_s: float = 30.0  # per backend and mode: longer full runs are shortened or borrow convergence
    window_s: float = 1.0  # aim for timed windows this long
    article_scale: float = 1.0  # --quick shortens the article's runs
    report: bool = True
    command: str = "xorbench run"


QUICK = {"epochs": 200, "seeds": 3, "repeats": 3, "budget_s": 3.0, "window_s": 0.1, "article_scale": 0.1}


def check_selection(options) -> None:
    """The --backends/--devices/--modes of a run or a sweep: at least one each, known names only."""
    for name in ("backends", "devices", "modes"):
        if not getattr(options, name):
            raise ValueError(f"--{name} needs at least one name")
    for name in options.backends:
        registry.check_choice("backend", name, registry.BACKENDS)
    for device in options.devices:
        registry.check_choice("device", device, DEVICE_CHOICES)
    for mode in options.modes:
        registry.check_choice("mode", mode, registry.MODES)


def check_numbers(options, counts: tuple[str, ...], positive: tuple[str, ...]) -> None:
    """Options of a run or a sweep that must be integers >= 1 (`counts`) or numbers > 0 (`positive`)."""
    for name in counts:
        value = getattr(options, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"--{name} must be an integer >= 1; got {value!r}")
    for name in positive:
        if not getattr(options, name) > 0:
            raise ValueError(f"{name} must be > 0; got {getattr(options, name)!r}")


def check(options: Options) -> None:
    """Raise ValueError, naming the option, for anything that would fail later."""
    check_selection(options)
    registry.check_choice("preset", options.preset, PRESET_CHOICES)
    check_numbers(options, counts=("seeds", "repeats", "threads"),
                  positive=("timeout_s", "budget_s", "window_s", "article_scale"))  # fmt: skip
    for name in options.backends:  # TrainConfig checks optimizer, lr and epochs
        matched_config(options, name)
    if not jobs(options):
        raise ValueError("nothing to run: the article preset runs in idiomatic mode only (add --modes idiomatic)")


def matched_config(options: Options, name: str) -> registry.TrainConfig:
    given = {"optimizer": options.optimizer, "lr": options.lr, "epochs": options.epochs}
    return registry.preset("matched", name, **{k: v for k, v in given.items() if v is not None}, seed=0)


def article_config(options: Options, name: str) -> registry.TrainConfig | None:
    try:
        config = registry.preset("article", name)
    except ValueError:  # a backend the article has no snippet for (the numba floor)
        return None
    return config.replace(epochs=max(1, round(config.epochs * options.article_scale)))


def devices(options: Options) -> tuple[str, ...]:
    found = []
    for device in options.devices:
        if device == "auto":
            found += ["cpu", "gpu"] if environment.gpus() else ["cpu"]
        else:
            found.append(device)
    return tuple(dict.fromkeys(found))


def jobs(options: Options) -> list[Job]:
    found = []
    for name in options.backends:
        modes = tuple(m for m in options.modes if m in registry.modes_of(name))
        matched = matched_config(options, name) if options.preset in ("matched", "all") else None
        article = article_config(options, name) if options.preset in ("article", "all") else None
        for device in devices(options):
            job = Job(
                name, device, modes, options.threads, options.seeds, options.repeats, options.window_s,
                options.budget_s, matched and dataclasses.asdict(matched), article and dataclasses.asdict(article),
            )  # fmt: skip
            if planned(job):  # e.g. the numba floor has no article snippet
                found.append(job)
    return found


# ------------------------------------------------------------------ one worker


def worker_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Start-up is measured cold: torch.compile's on-disk caches would let a second run start
    # several seconds faster than a first one on a fresh machine.
    env.setdefault("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[name] = str(threads)  # pools sized at start-up; backends.set_threads pins the rest
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


def run_worker(job: Job, timeout_s: float, on_event, module: str = "xorbench.bench.worker") -> tuple[bool, str]:
    """Run one worker (`python -m module`) to the end; call on_event(event) for each event.

    Return (finished, why not). `job` needs backend, device, threads and to_json().
    """
    with tempfile.NamedTemporaryFile(prefix=f"xorbench-{job.backend}-{job.device}-", suffix=".log") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            env=worker_env(job.threads), text=True, bufsize=1,
        )  # fmt: skip
        lines: queue.Queue = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)], daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout_s
        finished, why = False, ""
        try:
            proc.stdin.write(job.to_json() + "\n")
            proc.stdin.flush()
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    why = f"worker timed out after {timeout_s:g} s"
                    break
                try:
                    line = lines.get(timeout=min(left, 0.25))
                except queue.Empty:
                    continue
                if line is None:
                    break
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                finished = finished or event["event"] in ("done", "skipped")
                on_event(event)
                if event["event"] == "run":
                    try:
                        proc.stdin.write("saved\n")
                        proc.stdin.flush()
                    except BrokenPipeError:
                        pass
        finally:
            if proc.poll() is None:
                proc.kill()
            code = proc.wait()
            reader.join(timeout=5)
        if not finished and not why:
            why = f"worker {describe_exit(code)}"
        if not finished:
            stderr = last_line(Path(log.name))
            why += f"; last stderr line: {stderr}" if stderr else ""
        return finished, why


# ------------------------------------------------------------------ the whole run


class Run:
    def __init__(self, options: Options, console: Console | None = None):
        self.options = options
        self.tables = Tables(options.out)
        self.console = console or Console(stderr=True)
        self.jobs = jobs(options)
        self.total = sum(len(planned(job)) for job in self.jobs)
        self.summary: list[str] = []

    def execute(self) -> int:
        options, start = self.options, time.perf_counter()
        env = environment.collect(options.command, options.threads)
        write_env(options.out, env)
        self.tables.save()  # fresh, empty tables: nothing of an earlier run survives
        interrupted = False
        previous = signal.signal(signal.SIGTERM, _interrupt)
        progress = Progress(
            SpinnerColumn(), TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=self.console, refresh_per_second=4,
        )  # fmt: skip
        try:
            with progress:
                task = progress.add_task("starting", total=self.total)
                for job in self.jobs:
                    self.run_job(job, progress, task)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.tables.save()
            env.update(duration_s=round(time.perf_counter() - start, 1), interrupted=interrupted)
            write_env(options.out, env)
        if interrupted:
            print(
                f"xorbench: interrupted; the {len(self.tables.runs)} finished runs are saved in {options.out}",
                file=sys.stderr,
            )
            return 130
        print_summary(self.tables.runs, Console() if sys.stdout.isatty() else Console(width=120))
        print(f"tables written to {options.out}/ in {time.perf_counter() - start:.0f} s")
        if options.report:
            write_report(options.out)
        return 0

    def run_job(self, job: Job, progress: Progress, task) -> None:
        keys = planned(job)
        done: set[tuple] = set()
        info = {"framework_version": None, "skipped": None}
        label = f"{job.backend}/{job.device}"
        started = time.perf_counter()
        progress.update(task, description=f"{label} · importing")

        def on_event(event: dict) -> None:
            kind = event["event"]
            if kind == "progress":
                progress.update(task, description=f"{label} · {event['text']}")
            elif kind in ("start", "skipped"):
                info["framework_version"] = event.get("framework_version")
                info["skipped"] = event.get("reason") if kind == "skipped" else None
            elif kind == "run":
                row = event["row"]
                self.tables.add(row, event.get("curve"), event.get("timings"), event.get("window_epochs"))
                self.tables.save()
                done.add((row["mode"], row["preset"], row["seed"], row["role"]))
                progress.advance(task)

        finished, why = run_worker(job, self.options.timeout_s, on_event)
        status, reason = ("skipped", info["skipped"]) if info["skipped"] else ("error", why or "not reported")
        missing = [key for key in keys if key not in done]
        for mode, preset, seed, role in missing:
            config = registry.TrainConfig(**(job.matched if preset == "matched" else job.article)).replace(seed=seed)
            self.tables.add(self.placeholder(job, info, config, mode, preset, role, status, reason))
            progress.advance(task)
        self.tables.save()
        note = f"skipped: {reason}" if info["skipped"] else f"{len(done)} runs finished"
        if missing and not info["skipped"]:
            note += f", {len(missing)} error rows: {reason}"
        progress.console.print(f"{label}: {note} ({time.perf_counter() - started:.1f} s)")

    def placeholder(self, job, info, config, mode, preset, role, status, reason) -> dict:
        return {
            "backend": job.backend, "framework_version": info["framework_version"], "device": job.device,
            "mode": mode, "preset": preset, "optimizer": config.optimizer, "lr": config.lr, "epochs": config.epochs,
            "seed": config.seed, "dtype": config.dtype, "init": config.init, "threads": job.threads, "status": status,
            "reason": reason, "role": role,
        }  # fmt: skip


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def write_report(out: Path) -> None:
    """The report is another module's job; its absence or failure never fails the run."""
    try:
        from .report import write_report as render

        path = render(Path(out))
    except Exception as error:  # noqa: BLE001  (any failure of the report is a warning here)
        message = str(error).strip().splitlines()
        print(f"warning: report not written ({type(error).__name__}: {message[0] if message else ''})", file=sys.stderr)
        return
    print(f"report written to {path}")


def number(x: float) -> str:
    return f"{x:,.0f}" if x >= 1000 else f"{x:.3g}"


def print_summary(rows: list[dict], console: Console) -> None:
    """Per backend, device and mode of the matched preset: its timing run and its convergence seeds."""
    table = Table(title="matched preset", title_justify="left")
    for column in ("backend", "device", "mode", "µs/epoch", "IQR", "start s", "solved", "epochs", "status"):
        table.add_column(column, justify="left" if column in ("backend", "device", "mode", "status") else "right")
    keys = dict.fromkeys((r["backend"], r["device"], r["mode"]) for r in rows if r["preset"] == "matched")
    for key in keys:
        group = [r for r in rows if (r["backend"], r["device"], r["mode"]) == key and r["preset"] == "matched"]
        timing = next((r for r in group if r["role"] == "timing" and r["epoch_us_median"] is not None), None)
        seeds = [r for r in group if r["role"] == "convergence" and r["status"] in ("ok", "diverged")]
        solved = sorted(r["epoch_solved"] for r in seeds if r["solved"])
        table.add_row(
            *key,
            number(timing["epoch_us_median"]) if timing else "-",
            number(timing["epoch_us_iqr"]) if timing else "-",
            f"{timing['import_s'] + timing['first_epoch_s']:.2f}" if timing else "-",
            f"{len(solved)}/{len(seeds)}" if seeds else "-",
            str(solved[len(solved) // 2]) if solved else "-",
            "/".join(sorted({r["status"] for r in group})),
        )
    console.print(table)
    console.print(
        "µs/epoch: median of the timed windows (IQR); start: import + build + first epoch; "
        f"solved: convergence seeds reaching loss < {registry.LOSS_TARGET:g}; epochs: median epochs to solve"
    )
