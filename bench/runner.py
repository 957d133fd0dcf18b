"""Orchestration of `xorbench run` and `xorbench sweep`: plan the jobs, let the manager run them, keep
every finished row in the tables, fill the rows that never came, print the summary.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Iterator
from typing import NamedTuple

from rich.console import Console
from rich.table import Table

from .. import backends as registry
from . import env as environment
from .job import CellKey, Job, RunKey, TimeJob, planned, planned_row
from .manager import Interrupts, Manager, Outcome
from .options import Options
from .plan import jobs, run_jobs, time_jobs
from .rows import RunRow, SweepRow
from .tables import LEGACY_CURVES, NotSaved, Tables, write_env


class Ended(NamedTuple):
    """How a run or sweep ended, for the command line's exit status."""

    errors: int  # rows that errored or timed out
    interrupted: bool  # by SIGINT or SIGTERM; the finished rows are saved
    not_saved: bool  # a table could not be written (the one line said which)


def execute(options: Options) -> Ended:
    """Measure what the options ask for into options.out, saving every finished row as it comes; the
    tables, the run's summary and env.json are written at the end however the run ends, while the
    process can still write (a signal then no longer interrupts: manager.Interrupts)."""
    start, out = time.perf_counter(), options.out
    env = environment.collect(options.argv, options.threads)
    tables = Tables(out, kind=options.command)
    owns_env = options.command == "run" or not (out / "env.json").is_file()  # a sweep keeps its run's env.json
    interrupted, failed = True, None
    with Interrupts() as interrupts:
        try:
            begin(options, env if owns_env else None, tables)
            interrupted = measure(options, tables, env)
        except KeyboardInterrupt:
            pass
        except NotSaved as error:  # the first write that failed stops the run
            interrupted, failed = False, error
        finally:  # also on the way out of an unexpected error, which the command line reports
            interrupts.saving = True
            env.update(duration_s=round(time.perf_counter() - start, 1), interrupted=interrupted)
            env.update({"error": str(failed)} if failed else {})
            late = finish(options, env if owns_env else None, tables)
            failed = failed or late
    return ended(options, tables, interrupted or interrupts.count > 0, failed, start)


def begin(options: Options, env: dict | None, tables: Tables) -> None:
    """env.json, and fresh, empty tables: nothing of an earlier run survives beside this one's rows."""
    if env is not None:
        write_env(options.out, env)
    tables.save()
    if options.command == "run":
        (options.out / "summary.csv").unlink(missing_ok=True)  # written from these rows at the end
        for name in LEGACY_CURVES:  # an older xorbench's curves, which a reader would not take for these
            (options.out / name).unlink(missing_ok=True)


def measure(options: Options, tables: Tables, env: dict) -> bool:
    """Every job, each finished row saved as it comes, and in env the time each kind of job took;
    True when interrupted."""
    save = save_run if options.command == "run" else save_cell
    manager = Manager(options.timeout_s, lambda event: save(tables, event), lambda o, key: fill(tables, o, key))
    total = sum(len(planned(job)) for job in jobs(options))
    try:
        return manager.execute(scheduled(options, tables), total)
    finally:
        env.update(job_seconds=job_seconds(manager.outcomes))


def job_seconds(outcomes: list[Outcome]) -> dict[str, float]:
    """Wall seconds spent per kind of job: "time backend/device/mode" adds up a row's timing processes,
    "run backend/device" is a backend's convergence-and-article job, "sweep backend/device" its cells."""
    spent: dict[str, float] = {}
    for outcome in outcomes:
        job = outcome.job
        key = f"{job.kind} {job.backend}/{job.device}" + (f"/{job.mode}" if isinstance(job, TimeJob) else "")
        spent[key] = spent.get(key, 0.0) + outcome.seconds
    return {key: round(seconds, 1) for key, seconds in spent.items()}


def finish(options: Options, env: dict | None, tables: Tables) -> NotSaved | None:
    """Write the tables, the run's summary and env.json as they stand; the first that could not be."""
    failed = None
    try:
        tables.save(final=True)  # the curves too, however recently they were written
    except NotSaved as error:
        failed = error
    if options.command == "run" and failed is None:  # never a summary of other rows than these
        from .summary import write_summary

        try:
            write_summary(options.out)
        except OSError as error:
            failed = NotSaved(options.out / "summary.csv", error)
    try:
        if env is not None:
            write_env(options.out, env)
    except NotSaved as error:
        failed = failed or error
    return failed


def ended(options: Options, tables: Tables, interrupted: bool, failed: NotSaved | None, start: float) -> Ended:
    """One line on stderr for a run that failed or was interrupted, the summary otherwise."""
    out, rows = options.out, [*tables.runs, *tables.cells]
    errors = sum(row.status == "error" for row in rows)
    if failed is not None:
        print(f"xorbench: error: {failed}; the tables there are their last complete version", file=sys.stderr)
        return Ended(errors, interrupted, True)
    if interrupted:
        print(f"xorbench: interrupted; the {len(rows)} finished rows are saved in {out}", file=sys.stderr)
        return Ended(errors, True, False)
    if options.command == "run":
        print_run_summary(tables.runs, Console() if sys.stdout.isatty() else Console(width=120))
    else:
        print_sweep_summary(tables.cells)
    print(f"{'tables' if options.command == 'run' else 'sweep.csv'} written to {out}/ in "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    if errors:
        print(f"xorbench: {errors} of {len(rows)} rows errored or timed out (their `reason` says why)", file=sys.stderr)
    return Ended(errors, False, False)


def scheduled(options: Options, tables: Tables) -> Iterator[Job]:
    """The jobs in order, each decided as late as possible from what the tables hold by then: a timing
    process trains to solved only while its row's solve runs fit the budget (none after one that ran
    out of it), and the convergence jobs learn what each mode's seeds would cost."""
    if options.command == "sweep":
        yield from jobs(options)
        return
    for job in time_jobs(options):
        rows = timing_rows(tables, job)
        spent = [r.time_to_solve_cold_s + (r.time_to_solve_warm_s or 0) for r in rows
                 if r.time_to_solve_cold_s is not None]  # fmt: skip
        fits = sum(spent) + max(spent, default=0) <= job.budget_s and all(r.stop_reason != "budget" for r in rows)
        yield dataclasses.replace(job, solve=job.process == 0 or fits)
    yield from run_jobs(options, seed_costs(tables, options))


def timing_rows(tables: Tables, job: TimeJob) -> list[RunRow]:
    return [r for r in tables.runs if (r.backend, r.device, r.mode, r.role) == (job.backend, job.device,
            job.mode, "timing") and r.preset == "matched" and r.status == "ok"]  # fmt: skip


def seed_costs(tables: Tables, options: Options) -> dict[tuple[str, str], dict[str, float]]:
    """(backend, device) -> mode -> seconds to train every convergence seed in full, from the timing rows."""
    from .stats import median

    costs: dict[tuple[str, str], dict[str, float]] = {}
    for row in tables.runs:
        if row.role == "timing" and row.preset == "matched" and row.status == "ok" and row.epoch_us is not None:
            costs.setdefault((row.backend, row.device), {}).setdefault(row.mode, []).append(row.epoch_us)
    return {key: {mode: options.seeds * row_epochs(options) * median(us) * 1e-6 for mode, us in modes.items()}
            for key, modes in costs.items()}  # fmt: skip


def row_epochs(options: Options) -> int:
    return options.epochs or registry.TrainConfig().epochs


def save_run(tables: Tables, event: dict) -> RunKey:
    row = tables.add(event["row"], event.get("curve"), event.get("timings"))
    tables.save()
    return RunKey(row.mode, row.preset, row.seed, row.role)


def save_cell(tables: Tables, event: dict) -> CellKey:
    row = tables.add_cell(event["row"])
    tables.save()
    return CellKey(row.mode, row.hidden, row.batch)


def fill(tables: Tables, outcome: Outcome, key: RunKey | CellKey) -> None:
    """The row of a key the worker never reported, built as the worker builds its rows."""
    status, reason = outcome.status
    row = planned_row(outcome.job, key, framework_version=outcome.framework_version, status=status, reason=reason)
    if isinstance(key, CellKey):
        tables.add_cell(row)
    else:
        tables.add(row)
    tables.save()


def number(x: float) -> str:
    return f"{x:,.0f}" if x >= 1000 else f"{x:.3g}"


def print_run_summary(rows: list[RunRow], console: Console) -> None:
    """Per backend, device and mode of the matched preset: its timing processes and its convergence seeds."""
    from .stats import median

    table = Table(title="matched preset", title_justify="left")
    for column in ("backend", "device", "mode", "µs/epoch", "processes", "start s", "solved", "epochs", "status"):
        table.add_column(column, justify="left" if column in ("backend", "device", "mode", "status") else "right")
    matched = [r for r in rows if r.preset == "matched"]
    for key in dict.fromkeys((r.backend, r.device, r.mode) for r in matched):
        group = [r for r in matched if (r.backend, r.device, r.mode) == key]
        timed = [r for r in group if r.role == "timing" and r.epoch_us is not None]
        seeds = [r for r in group if r.role == "convergence" and r.status in ("ok", "diverged")]
        solved = sorted(r.epoch_solved for r in seeds if r.solved)
        us, start = median([r.epoch_us for r in timed]), median([r.startup_s for r in timed])
        table.add_row(
            *key,
            number(us) if us is not None else "-",
            str(len(timed)),
            f"{start:.2f}" if start is not None else "-",
            solved_text(seeds, solved),
            str(solved[len(solved) // 2]) if solved else "-",
            "/".join(sorted({r.status for r in group})),
        )
    console.print(table)
    console.print(
        "µs/epoch: per-epoch cost b of fit(W) = a + b·W, median over the timing processes; start: import + build + "
        f"first epoch (median); solved: convergence seeds reaching loss < {registry.LOSS_TARGET:g}; epochs: median "
        "epochs to solve. Intervals and claims: REPORT.md"
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
