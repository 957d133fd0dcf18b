"""`xorbench sweep`: per-epoch time as the network widens and the batch grows, per backend x device x mode.

The same two-layer sigmoid net as the matched preset (float32, plain SGD), `hidden` wide, trained
full-batch on `batch` samples (Gaussian XOR clusters beyond 4). Like `xorbench run`, one worker
subprocess per (backend, device), run one after another with threads pinned (bench/runner.py's
run_worker); this file holds both sides: the orchestration and, under `python -m bench.sweep`, the
worker, which imports only the standard library before its framework.

Each cell: setup (untimed), one warm-up fit(1), then up to `repeats` timed fit(window) calls, the
window sized to about `window_s`; an epoch over `cell_cap_s` gets a single 1-epoch window. Cells run
in order of growing hidden x batch per mode; a cell whose epoch, extrapolated from the largest cell
measured so far (the mode's fastest epoch as fixed overhead, the rest linear in the work), would
exceed `cell_cap_s` is skipped as "over the per-cell budget" without being built.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .. import backends as registry  # `backends` is also an option's name
from .worker import Channel, one_line, start_backend, timed_fit

SCHEMA_VERSION = 1
SWEEP_COLUMNS = [
    "schema_version", "backend", "framework_version", "device", "device_name", "mode", "hidden", "batch",
    "work", "optimizer", "lr", "dtype", "threads", "status", "reason", "setup_s", "first_epoch_s",
    "epoch_us_median", "epoch_us_min", "windows", "window_epochs",
]  # fmt: skip
INTEGER_COLUMNS = ("schema_version", "hidden", "batch", "work", "threads", "windows", "window_epochs")
EXTRAPOLATE_FROM_S = 0.01  # a cell's epoch must take this long to predict a bigger cell's (overhead + linear in work)


@dataclass(frozen=True)
class SweepJob:
    """What one sweep worker measures: every (mode, hidden, batch) cell of one backend on one device."""

    backend: str
    device: str
    modes: tuple[str, ...]
    hidden: tuple[int, ...]
    batch: tuple[int, ...]
    threads: int
    repeats: int  # timed windows per cell
    window_s: float  # aim for timed windows about this long
    cell_cap_s: float  # an epoch longer than this (measured or extrapolated) skips the cell

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SweepJob:
        data = json.loads(text)
        return cls(**{**data, **{k: tuple(data[k]) for k in ("modes", "hidden", "batch")}})

    def cells(self) -> list[tuple[str, int, int]]:
        """(mode, hidden, batch) in the order measured: per mode, by growing work."""
        grid = sorted(((h, b) for h in self.hidden for b in self.batch), key=lambda c: (c[0] * c[1], c[0]))
        return [(mode, h, b) for mode in self.modes for h, b in grid]


@dataclass(frozen=True)
class Options:
    """One `xorbench sweep`. Defaults are the default sweep (at most about 5 minutes on the 2-core dev machine)."""

    backends: tuple[str, ...] = registry.BACKENDS
    devices: tuple[str, ...] = ("auto",)
    modes: tuple[str, ...] = registry.MODES
    hidden: tuple[int, ...] = (4, 16, 64, 256, 1024, 4096)
    batch: tuple[int, ...] = (4, 256, 4096, 65536)
    threads: int = registry.DEFAULT_THREADS
    repeats: int = 3
    window_s: float = 0.1
    cell_cap_s: float = 2.5
    timeout_s: float = 240.0  # per worker
    out: Path = Path("results")
    command: str = "xorbench sweep"


QUICK = {"repeats": 2, "window_s": 0.05, "cell_cap_s": 0.3}


# ------------------------------------------------------------------ the worker side


def config_for(backends, name: str, hidden: int, batch: int):
    return backends.preset("matched", name, seed=0).replace(hidden=hidden, samples=batch, dtype="float32")


def measure_cell(backends, job: SweepJob, mode: str, hidden: int, batch: int, estimate_s: float | None) -> dict:
    """Time one cell; the row's measured fields, or status skipped / error with its reason."""
    cap = job.cell_cap_s
    if estimate_s is not None and estimate_s > cap:
        return {"status": "skipped", "reason": f"over the per-cell budget: an epoch would take about "
                f"{estimate_s:.2g} s (extrapolated from a smaller cell), cap {cap:g} s"}  # fmt: skip
    trainer = backends.get_trainer(job.backend, job.device, mode)
    start = time.perf_counter()
    trainer.setup(config_for(backends, job.backend, hidden, batch))
    setup_s = time.perf_counter() - start
    first_s, _ = timed_fit(trainer, 1)  # warm-up: compiles, allocator, caches for this size
    probe_s, _ = timed_fit(trainer, 1)
    fields = {"status": "ok", "reason": "", "setup_s": setup_s, "first_epoch_s": first_s}
    if probe_s > cap:  # the probe is the measurement: one 1-epoch window
        reason = f"one 1-epoch window: an epoch took {probe_s:.2g} s, over the {cap:g} s per-cell cap"
        return {**fields, "reason": reason, "epoch_us_median": probe_s * 1e6, "epoch_us_min": probe_s * 1e6,
                "windows": 1, "window_epochs": 1}  # fmt: skip
    window = max(1, round(job.window_s / max(probe_s, 1e-9)))
    windows = max(1, min(job.repeats, int(job.repeats * job.window_s / max(window * probe_s, 1e-9))))
    from .stats import summarise  # numpy: imported after the framework, as in bench/worker.py

    stats = summarise([timed_fit(trainer, window)[0] / window * 1e6 for _ in range(windows)])
    return {**fields, "epoch_us_median": stats.median, "epoch_us_min": stats.min, "windows": windows,
            "window_epochs": window}  # fmt: skip


def worker_main() -> int:
    job = SweepJob.from_json(sys.stdin.readline())
    channel = Channel()
    started = start_backend(job, channel)
    if started is None:
        return 0
    module = started[0]
    version = module.framework_version()
    device_name = module.device_name(job.device)
    channel.send("start", framework_version=version, device_name=device_name)
    largest: dict[str, tuple[int, float]] = {}  # mode -> (work, seconds per epoch) of its largest cell so far
    floor: dict[str, float] = {}  # mode -> its fastest epoch so far: the per-epoch overhead, which does not grow
    for mode, hidden, batch in job.cells():
        work = hidden * batch
        known, overhead = largest.get(mode), floor.get(mode, 0.0)
        estimate = overhead + max(0.0, known[1] - overhead) * work / known[0] if known else None
        channel.send("progress", text=f"{mode} · hidden {hidden} · batch {batch}")
        try:
            fields = measure_cell(registry, job, mode, hidden, batch, estimate)
        except Exception as error:  # one broken cell must not stop the others
            fields = {"status": "error", "reason": one_line(error)}
        seconds = (fields.get("epoch_us_median") or 0) * 1e-6
        if seconds > 0:
            floor[mode] = min(seconds, floor.get(mode, seconds))
        if seconds >= EXTRAPOLATE_FROM_S:  # smaller epochs are mostly overhead: no guide to bigger cells
            largest[mode] = (work, seconds)
        config = config_for(registry, job.backend, hidden, batch)
        row = {
            "backend": job.backend, "framework_version": version, "device": job.device, "device_name": device_name,
            "mode": mode, "hidden": hidden, "batch": batch, "optimizer": config.optimizer, "lr": config.lr,
            "dtype": config.dtype, "threads": job.threads, **fields,
        }  # fmt: skip
        channel.send("run", row=row)
        channel.wait_saved()
    channel.send("done")
    return 0


# ------------------------------------------------------------------ the orchestration side


def check(options: Options) -> None:
    """Raise ValueError, naming the option, for anything that would fail later."""
    from .runner import check_numbers, check_selection

    check_selection(options)
    for name, minimum in (("hidden", 1), ("batch", 4)):
        values = getattr(options, name)
        if not values or any(not isinstance(v, int) or v < minimum for v in values):
            raise ValueError(f"--{name} must be comma-separated integers >= {minimum}; got {values!r}")
    check_numbers(options, counts=("threads", "repeats"), positive=("timeout_s", "window_s", "cell_cap_s"))
    if not jobs(options):
        raise ValueError("nothing to sweep: no chosen backend offers the chosen modes")


def jobs(options: Options) -> list[SweepJob]:
    from .. import backends
    from .runner import devices

    found = []
    for name in options.backends:
        modes = tuple(m for m in options.modes if m in backends.modes_of(name))
        if modes:
            for device in devices(options):
                found.append(SweepJob(name, device, modes, options.hidden, options.batch, options.threads,
                                      options.repeats, options.window_s, options.cell_cap_s))  # fmt: skip
    return found


class Sweep:
    def __init__(self, options: Options):
        self.options = options
        self.rows: list[dict] = []

    def save(self) -> None:
        import pandas as pd

        from .tables import write_atomic

        counts = {c: "Int64" for c in INTEGER_COLUMNS}  # integers stay integers beside empty cells
        text = pd.DataFrame(self.rows, columns=SWEEP_COLUMNS).astype(counts).to_csv(index=False, lineterminator="\n")
        self.options.out.mkdir(parents=True, exist_ok=True)
        write_atomic(self.options.out / "sweep.csv", text)

    def add(self, row: dict) -> None:
        self.rows.append({**{c: None for c in SWEEP_COLUMNS}, **row, "schema_version": SCHEMA_VERSION,
                          "work": row["hidden"] * row["batch"]})  # fmt: skip
        self.save()

    def execute(self) -> int:
        from . import env as environment
        from .tables import write_env

        options, start = self.options, time.perf_counter()
        if not (options.out / "env.json").is_file():  # a run's env.json describes its own tables; keep it
            write_env(options.out, environment.collect(options.command, options.threads))
        self.save()  # fresh, empty: nothing of an earlier sweep survives
        try:
            for job in jobs(options):
                self.run_job(job)
        except KeyboardInterrupt:
            print(f"xorbench: interrupted; the {len(self.rows)} finished cells are saved in {options.out}",
                  file=sys.stderr)  # fmt: skip
            return 130
        print_summary(self.rows)
        print(f"sweep.csv written to {options.out}/ in {time.perf_counter() - start:.0f} s")
        return 0

    def run_job(self, job: SweepJob) -> None:
        from .runner import run_worker

        label, started = f"{job.backend}/{job.device}", time.perf_counter()
        done: set[tuple] = set()
        info = {"framework_version": None, "skipped": None}

        def on_event(event: dict) -> None:
            if event["event"] in ("start", "skipped"):
                info["framework_version"] = event.get("framework_version")
                info["skipped"] = event.get("reason") if event["event"] == "skipped" else None
            elif event["event"] == "run":
                self.add(event["row"])
                done.add((event["row"]["mode"], event["row"]["hidden"], event["row"]["batch"]))

        finished, why = run_worker(job, self.options.timeout_s, on_event, module="xorbench.bench.sweep")
        status, reason = ("skipped", info["skipped"]) if info["skipped"] else ("error", why or "not reported")
        missing = [cell for cell in job.cells() if cell not in done]
        for mode, hidden, batch in missing:
            self.add({"backend": job.backend, "framework_version": info["framework_version"], "device": job.device,
                      "mode": mode, "hidden": hidden, "batch": batch, "threads": job.threads, "status": status,
                      "reason": reason})  # fmt: skip
        counts = {s: sum(r["status"] == s for r in self.rows[-len(job.cells()) :]) for s in ("ok", "skipped", "error")}
        note = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        print(f"{label}: {note}{f' ({reason})' if missing else ''} ({time.perf_counter() - started:.1f} s)",
              file=sys.stderr)  # fmt: skip


def summary_lines(sweep) -> list[str]:
    """The crossover statements, from sweep_stats, as plain sentences (shared with the report)."""
    from .sweep_stats import WITHIN, gpu_overtakes, within_factor_from

    lines = []
    ok = sweep[sweep["status"] == "ok"]
    for device, mode in sorted({(d, m) for d, m in zip(ok["device"], ok["mode"])}):
        found = within_factor_from(sweep, device, mode)
        if found is None:
            text = "fewer than two frameworks measured"
        elif found["hidden"] is None:
            text = f"not within {WITHIN:g}x even at the largest cell compared (ratio {found['ratio']:.3g})"
        else:
            work = found["hidden"] * found["batch"]
            text = (f"within {WITHIN:g}x from hidden {found['hidden']} x batch {found['batch']} (work {work:,}) "
                    f"upwards (ratio {found['ratio']:.3g} there; {found['cells']} cells compared)")  # fmt: skip
        lines.append(f"{device}/{mode}: frameworks {text}")
    overtakes = gpu_overtakes(sweep)
    if overtakes.empty:
        lines.append("GPU vs CPU: not measured (no cell timed on both devices)")
    for row in overtakes.itertuples():
        if row.hidden is None or row.hidden != row.hidden:  # None or NaN
            text = f"never overtakes the CPU in {row.cells} cells (best {row.best_speedup:.2g}x)"
        else:
            text = (f"GPU overtakes the CPU from hidden {int(row.hidden)} x batch {int(row.batch)} "
                    f"({row.speedup:.2g}x there, best {row.best_speedup:.2g}x)")  # fmt: skip
        lines.append(f"{row.backend}/{row.mode}: {text}")
    return lines


def print_summary(rows: list[dict]) -> None:
    import pandas as pd

    sweep = pd.DataFrame(rows, columns=SWEEP_COLUMNS)
    counts = sweep["status"].value_counts().to_dict()
    print("sweep: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + " cells")
    for line in summary_lines(sweep):
        print(f"  {line}")


def integers(text: str, name: str) -> tuple[int, ...]:
    values = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                values.append(int(part))
            except ValueError:
                raise ValueError(f"--{name} must be comma-separated integers; got {part!r}") from None
    return tuple(dict.fromkeys(values))


def options_from(args, argv: list[str]) -> Options:
    from .cli import names

    given = {
        "backends": names(args.backends) if args.backends is not None else None,
        "devices": names(args.devices) if args.devices is not None else None,
        "modes": names(args.modes) if args.modes is not None else None,
        "hidden": integers(args.hidden, "hidden") if args.hidden is not None else None,
        "batch": integers(args.batch, "batch") if args.batch is not None else None,
        "threads": args.threads,
        "timeout_s": args.timeout,
        "out": Path(args.out),
    }
    if args.quick:
        from .sweep_stats import QUICK_BATCH, QUICK_HIDDEN

        given = {"hidden": QUICK_HIDDEN, "batch": QUICK_BATCH, **{k: v for k, v in given.items() if v is not None}}
    values = {**(QUICK if args.quick else {}), **{k: v for k, v in given.items() if v is not None}}
    return Options(**values, command=shlex.join(["xorbench", *argv]))


if __name__ == "__main__":
    import os

    try:
        sys.exit(worker_main())
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group
        os._exit(130)
