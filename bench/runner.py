"""Orchestration of `xorbench run` and `xorbench sweep`: plan the jobs, let the manager run them, keep
every finished row in the tables, fill the rows that never came, print the summary.
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.table import Table

from .. import backends as registry
from . import env as environment
from .job import CellKey, RunKey
from .manager import Manager, Outcome
from .options import Options
from .plan import jobs
from .rows import RunRow, SweepRow
from .tables import Tables, write_env


def execute(options: Options) -> int:
    """Measure what the options ask for into options.out; the exit status (130 when interrupted)."""
    start, out = time.perf_counter(), options.out
    env = environment.collect(options.argv, options.threads)
    if options.command == "run" or not (out / "env.json").is_file():  # a sweep keeps its run's env.json
        write_env(out, env)
    tables = Tables(out, kind=options.command)
    tables.save()  # fresh, empty tables: nothing of an earlier run survives
    save, fill = (save_run, fill_run) if options.command == "run" else (save_cell, fill_cell)
    manager = Manager(options.timeout_s, lambda event: save(tables, event), lambda o, key: fill(tables, o, key))
    interrupted = True  # until the manager returns
    try:
        interrupted = manager.execute(jobs(options))
    finally:
        tables.save()
        if options.command == "run":
            env.update(duration_s=round(time.perf_counter() - start, 1), interrupted=interrupted)
            write_env(out, env)
    if interrupted:
        done = len(tables.runs) + len(tables.cells)
        print(f"xorbench: interrupted; the {done} finished rows are saved in {out}", file=sys.stderr)
        return 130
    if options.command == "run":
        print_run_summary(tables.runs, Console() if sys.stdout.isatty() else Console(width=120))
    else:
        print_sweep_summary(tables.cells)
    print(f"{'tables' if options.command == 'run' else 'sweep.csv'} written to {out}/ in "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    return 0


def save_run(tables: Tables, event: dict) -> RunKey:
    row = tables.add(event["row"], event.get("curve"), event.get("timings"))
    tables.save()
    return RunKey(row.mode, row.preset, row.seed, row.role)


def save_cell(tables: Tables, event: dict) -> CellKey:
    row = tables.add_cell(event["row"])
    tables.save()
    return CellKey(row.mode, row.hidden, row.batch)


def fill_run(tables: Tables, outcome: Outcome, key: RunKey) -> None:
    job = outcome.job
    config = registry.TrainConfig(**(job.matched if key.preset == "matched" else job.article)).replace(seed=key.seed)
    status, reason = outcome.status
    tables.add(RunRow(
        backend=job.backend, framework_version=outcome.framework_version, device=job.device, mode=key.mode,
        preset=key.preset, optimizer=config.optimizer, lr=config.lr, epochs=config.epochs, seed=config.seed,
        dtype=config.dtype, init=config.init, threads=job.threads, status=status, reason=reason, role=key.role,
    ))  # fmt: skip
    tables.save()


def fill_cell(tables: Tables, outcome: Outcome, key: CellKey) -> None:
    job = outcome.job
    status, reason = outcome.status
    tables.add_cell(SweepRow(
        backend=job.backend, framework_version=outcome.framework_version, device=job.device, mode=key.mode,
        hidden=key.hidden, batch=key.batch, threads=job.threads, status=status, reason=reason,
    ))  # fmt: skip
    tables.save()


def number(x: float) -> str:
    return f"{x:,.0f}" if x >= 1000 else f"{x:.3g}"


def print_run_summary(rows: list[RunRow], console: Console) -> None:
    """Per backend, device and mode of the matched preset: its timing run and its convergence seeds."""
    table = Table(title="matched preset", title_justify="left")
    for column in ("backend", "device", "mode", "µs/epoch", "IQR", "start s", "solved", "epochs", "status"):
        table.add_column(column, justify="left" if column in ("backend", "device", "mode", "status") else "right")
    matched = [r for r in rows if r.preset == "matched"]
    for key in dict.fromkeys((r.backend, r.device, r.mode) for r in matched):
        group = [r for r in matched if (r.backend, r.device, r.mode) == key]
        timing = next((r for r in group if r.role == "timing" and r.epoch_us_median is not None), None)
        seeds = [r for r in group if r.role == "convergence" and r.status in ("ok", "diverged")]
        solved = sorted(r.epoch_solved for r in seeds if r.solved)
        table.add_row(
            *key,
            number(timing.epoch_us_median) if timing else "-",
            number(timing.epoch_us_iqr) if timing else "-",
            f"{timing.import_s + timing.first_epoch_s:.2f}" if timing else "-",
            solved_text(seeds, solved),
            str(solved[len(solved) // 2]) if solved else "-",
            "/".join(sorted({r.status for r in group})),
        )
    console.print(table)
    console.print(
        "µs/epoch: median of the timed windows (IQR); start: import + build + first epoch; "
        f"solved: convergence seeds reaching loss < {registry.LOSS_TARGET:g}; epochs: median epochs to solve"
    )


def solved_text(seeds: list[RunRow], solved: list) -> str:
    if not seeds:
        return "-"
    lenders = {r.borrowed_from for r in seeds if r.borrowed_from}
    return f"{len(solved)}/{len(seeds)}" + (f" (from {', '.join(sorted(lenders))})" if lenders else "")


def print_sweep_summary(cells: list[SweepRow]) -> None:
    from .sweep_stats import summary_lines
    from .tables import frame

    sweep = frame(cells, SweepRow)
    counts = sweep["status"].value_counts().to_dict()
    print("sweep: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + " cells")
    for line in summary_lines(sweep):
        print(f"  {line}")
