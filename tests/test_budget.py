"""bench/budget.py's allocation of processes to timed rows, on constructed costs: no clock, no framework."""

from __future__ import annotations

import numpy as np
import pytest

from xorbench.bench.budget import PRECISION, Cost, OverBudget, allocate


def test_a_planned_run_never_exceeds_its_budget_and_leaves_less_than_one_more_process_unspent():
    rng = np.random.default_rng(0)
    for _ in range(300):
        rows = int(rng.integers(1, 14))
        costs = {i: Cost(float(rng.lognormal(0, 2)), float(rng.uniform(0.02, 0.3))) for i in range(rows)}
        fixed = float(rng.uniform(0, 50))
        budget = fixed + 3 * sum(c.process_s for c in costs.values()) * float(rng.uniform(1, 5))
        plan = allocate(costs, budget, fixed)
        assert plan.total_s <= budget + 1e-9
        assert all(3 <= n <= 30 for n in plan.processes.values())
        room = budget - plan.total_s  # nothing that could still grow fits in what is left
        precise = {r: costs[r].spread / n**0.5 <= PRECISION for r, n in plan.processes.items()}  # needs no more
        assert all(n == 30 or costs[r].process_s > room or precise[r] for r, n in plan.processes.items())


def test_processes_go_where_they_buy_precision_as_neyman_allocation_says():
    costs = {"cheap noisy": Cost(1.0, 0.2), "cheap quiet": Cost(1.0, 0.05), "costly": Cost(16.0, 0.2)}
    plan = allocate(costs, 400.0, most=10_000, precision=0.0)
    n = plan.processes
    assert n["cheap noisy"] > n["costly"] and n["cheap noisy"] > n["cheap quiet"]
    # n proportional to spread / sqrt(cost): 0.2 : 0.05 : 0.05, i.e. 4 : 1 : 1
    assert n["cheap noisy"] / n["cheap quiet"] == pytest.approx(4, rel=0.15)
    assert n["cheap noisy"] / n["costly"] == pytest.approx(4, rel=0.15)


def test_a_budget_below_the_fewest_processes_is_refused_with_what_it_needs():
    with pytest.raises(OverBudget, match=r"needs at least 70 s .* got 60 s"):
        allocate({"a": Cost(10.0, 0.1), "b": Cost(10.0, 0.1)}, 60.0, fixed_s=10.0)


def test_a_row_precise_enough_gets_no_more_processes_however_cheap():
    plan = allocate({"quiet": Cost(0.1, 0.02), "noisy": Cost(1.0, 0.2)}, 1_000.0)
    assert plan.processes["quiet"] == 3 and plan.processes["noisy"] == 30  # 0.02 / sqrt(3) is under 2% already


def test_a_simulated_run_times_three_rounds_then_the_convergence_jobs_then_more_processes_within_its_budget():
    """runner.Schedule against a simulated clock: each job 'takes' its row's seconds as it is started."""
    from types import SimpleNamespace

    from xorbench.bench.options import make
    from xorbench.bench.runner import Schedule

    options = make("run", False, {"backends": ("numpy", "jax"), "devices": ("cpu",), "budget_s": 90.0}, "x run")
    cost = {"numpy": 1.0, "jax": 3.0, "run": 10.0}
    rng = np.random.default_rng(3)
    clock, tables, manager = [0.0], SimpleNamespace(runs=[]), SimpleNamespace(outcomes=[])
    schedule = Schedule(options, tables, manager)
    schedule.spent = lambda: clock[0]
    kinds = []
    for job in schedule.jobs():
        seconds = cost["run" if job.kind == "run" else job.backend]
        clock[0] += seconds
        manager.outcomes.append(SimpleNamespace(job=job, seconds=seconds))
        kinds.append(job.kind)
        if job.kind == "time":
            us = 20.0 * float(rng.lognormal(0, 0.2))  # a noisy row: worth more processes
            tables.runs.append(SimpleNamespace(
                backend=job.backend, device="cpu", mode=job.mode, role="timing", preset="matched", status="ok",
                process=job.process, epoch_us=us, startup_s=1.0, import_s=0.5, time_to_solve_cold_s=None,
                time_to_solve_warm_s=None, stop_reason="solved", compile_cache=""))  # fmt: skip
    rows = 4  # numpy and jax, idiomatic and tuned
    assert kinds[: 3 * rows] == ["time"] * 3 * rows and kinds[3 * rows : 3 * rows + 2] == ["run", "run"]
    assert kinds[3 * rows + 2 :] and set(kinds[3 * rows + 2 :]) == {"time"}  # the budget left buys processes
    assert clock[0] <= options.budget_s and options.budget_s - clock[0] < max(cost.values())
    assert schedule.plan["timing_s"] == 3 * 2 * (1.0 + 3.0) and schedule.plan["convergence_s"] == 20.0
