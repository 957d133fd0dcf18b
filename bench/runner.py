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
from . import budget
from . import env as environment
from .job import CellKey, Job, RunKey, TimeJob, planned, planned_row
from .manager import Interrupts, Manager, Outcome
from .options import Options
from .plan import convergence_modes, first_processes, jobs, more_processes, run_jobs, time_jobs, with_estimate
from .rows import RunRow, SweepRow
from .tables import NotSaved, Tables, update_env, write_env


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
            if not owns_env:  # a sweep beside a run: the run's env.json keeps the sweep's own commit and date
                update_env(out, sweep={key: env.get(key) for key in SWEEP_ENV})
            failed = failed or late
    return ended(options, tables, interrupted or interrupts.count > 0, failed, start, env.get("plan"))


SWEEP_ENV = ("timestamp", "git_commit", "command", "cpu_model", "duration_s", "interrupted")


def begin(options: Options, env: dict | None, tables: Tables) -> None:
    """env.json, and fresh, empty tables: nothing of an earlier run survives beside this one's rows."""
    if env is not None:
        write_env(options.out, env)
    tables.save()
    if options.command == "run":
        (options.out / "summary.csv").unlink(missing_ok=True)  # written from these rows at the end


def measure(options: Options, tables: Tables, env: dict) -> bool:
    """Every job, each finished row saved as it comes, and in env the time each kind of job took and,
    for a run, its plan; True when interrupted."""
    save = save_run if options.command == "run" else save_cell
    manager = Manager(options.timeout_s, lambda event: save(tables, event), lambda o, key: fill(tables, o, key))
    total = sum(len(planned(job)) for job in jobs(options))
    schedule = Schedule(options, tables, manager) if options.command == "run" else None
    if schedule is not None:
        manager.deadline = time.monotonic() + options.budget_s
    try:
        planned_jobs = schedule.jobs() if schedule else (with_estimate(job, tables.cells) for job in jobs(options))
        return manager.execute(planned_jobs, total)
    finally:
        env.update(job_seconds=job_seconds(manager.outcomes))
        env.update({"plan": schedule.plan} if schedule else {})


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


def ended(options: Options, tables: Tables, interrupted: bool, failed: NotSaved | None, start: float,
          plan: dict | None = None) -> Ended:  # fmt: skip
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
    spent = time.perf_counter() - start
    print(f"{'tables' if options.command == 'run' else 'sweep.csv'} written to {out}/ in {spent:.0f} s"
          + (budget_text(plan, spent) if plan else ""))  # fmt: skip
    if errors:
        print(f"xorbench: {errors} of {len(rows)} rows errored or timed out (their `reason` says why)", file=sys.stderr)
    return Ended(errors, False, False)


def budget_text(plan: dict, spent: float) -> str:
    """What the run spent against its --budget, and why it went over when it did."""
    text = f", {spent / plan['budget_s']:.0%} of its --budget of {plan['budget_s']:g} s"
    if spent > plan["budget_s"] and "processes" not in plan:
        text += f" (the fewest processes, {budget.LEAST} per row, and the convergence jobs needed more)"
    return text


class Schedule:
    """A run's jobs, each decided as late as possible from what the tables hold by then.

    The timing processes come in rounds, every row once per round: budget.LEAST rounds (or --processes),
    the fewest that give a median an interval, whatever the budget; then one convergence-and-article job
    per backend, each preset's seeds on the mode that trains them fastest; then, within what is left of
    the budget, more processes where they buy the most precision (plan.more_processes, by Neyman
    allocation). A timing process trains to
    solved only while its row's solve runs fit the solve budget (none after one that ran out of it)."""

    def __init__(self, options, tables: Tables, manager: Manager):
        self.options, self.tables, self.manager = options, tables, manager
        self.start = time.perf_counter()
        self.plan: dict = {"budget_s": options.budget_s}  # what env.json says of the plan and what it spent

    def jobs(self) -> Iterator[Job]:
        options = self.options
        for process in range(first_processes(options)):
            yield from self.solving(time_jobs(options, range(process, process + 1), self.started()))
        self.plan["timing_s"] = round(self.spent(), 1)
        yield from run_jobs(options, convergence_modes(options, self.timed()))
        self.plan["convergence_s"] = round(self.spent() - self.plan["timing_s"], 1)
        if options.processes is None:
            yield from self.planned_processes()

    def spent(self) -> float:
        return time.perf_counter() - self.start

    def started(self) -> int:
        return sum(isinstance(o.job, TimeJob) for o in self.manager.outcomes)

    def timed(self) -> list[RunRow]:
        return [r for r in self.tables.runs if r.role == "timing" and r.preset == "matched" and r.status == "ok"]

    def seconds(self) -> dict[tuple, list[float]]:
        """(backend, device, mode) -> the wall seconds of each of its timing processes so far."""
        found: dict[tuple, list[float]] = {}
        for outcome in self.manager.outcomes:
            job = outcome.job
            if isinstance(job, TimeJob):
                found.setdefault((job.backend, job.device, job.mode), []).append(outcome.seconds)
        return found

    def planned_processes(self) -> Iterator[TimeJob]:
        seconds = self.seconds()
        if self.spent() >= self.options.budget_s:
            self.plan.update(over_budget=f"{self.spent():.0f} s spent on {budget.LEAST} processes per row and the "
                                         f"convergence jobs, over the {self.options.budget_s:g} s budget")  # fmt: skip
            return
        plan = more_processes(self.options, self.timed(), seconds, self.spent())
        self.plan.update(processes={"/".join(row): n for row, n in plan.processes.items()},
                         planned_s=round(plan.total_s + self.spent(), 1))  # fmt: skip
        done = {row: len(spent) for row, spent in seconds.items()}
        for process in range(min(done.values(), default=0), max(plan.processes.values(), default=0)):
            rows = {row for row, n in plan.processes.items() if done[row] <= process < n}
            yield from self.solving(time_jobs(self.options, range(process, process + 1), self.started(), rows))

    def solving(self, jobs: list[TimeJob]) -> Iterator[TimeJob]:
        for job in jobs:
            rows = [r for r in self.timed() if (r.backend, r.device, r.mode) == (job.backend, job.device, job.mode)]
            spent = [r.time_to_solve_cold_s + (r.time_to_solve_warm_s or 0) for r in rows
                     if r.time_to_solve_cold_s is not None]  # fmt: skip
            fits = sum(spent) + max(spent, default=0) <= job.solve_s and all(r.stop_reason != "budget" for r in rows)
            yield dataclasses.replace(job, solve=job.process == 0 or fits)


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
        seeds = [r for r in matched if r.role == "convergence" and r.status in ("ok", "diverged")  # one mode's
                 and (r.backend, r.device) == key[:2]]  # fmt: skip
        solved = sorted(r.epoch_solved for r in seeds if r.solved)
        us, start = median([r.epoch_us for r in timed]), median([r.startup_s for r in timed])
        table.add_row(
            *key,
            number(us) if us is not None else "-",
            str(len(timed)),
            f"{start:.2f}" if start is not None else "-",
            solved_text(seeds, solved, key[2]),
            str(solved[len(solved) // 2]) if solved else "-",
            "/".join(sorted({r.status for r in group})),
        )
    console.print(table)
    console.print(
        "µs/epoch: per-epoch cost b of fit(W) = a + b·W, median over the timing processes; start: import + build + "
        f"first epoch (median); solved: convergence seeds reaching loss < {registry.LOSS_TARGET:g}; epochs: median "
        "epochs to solve. Intervals and claims: REPORT.md"
    )


def solved_text(seeds: list[RunRow], solved: list, mode: str) -> str:
    if not seeds:
        return "-"
    trained = {r.mode for r in seeds} - {mode}
    return f"{len(solved)}/{len(seeds)}" + (f" (on {', '.join(sorted(trained))})" if trained else "")


def print_sweep_summary(cells: list[SweepRow]) -> None:
    from .sweep_stats import summary_lines
    from .tables import frame

    sweep = frame(cells, SweepRow)
    counts = sweep["status"].value_counts().to_dict()
    print("sweep: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + " cells")
    for line in summary_lines(sweep):
        print(f"  {line}")
