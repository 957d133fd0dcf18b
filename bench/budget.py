"""How a run spends its --budget: processes per timed row where they buy the most precision.

Most of a run's time is fresh processes (start-up, compiles), not timed windows, and rows differ
a thousandfold in what a process costs (the NumPy loop: under a second; Keras on torch, compiling:
a minute). Every row's figure is a median over processes, whose variance falls as spread^2 / n. For
a fixed budget, the sum of the rows' variances is smallest with n proportional to spread / sqrt(cost)
(Neyman allocation): cheap rows get many processes, costly rows the fewest that still give an interval.
Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    process_s: float  # one fresh timing process of the row, start to end (start-up, compiles, windows)
    spread: float  # between-process coefficient of variation of the row's figure (a prior, or measured)


@dataclass(frozen=True)
class Plan:
    processes: dict  # row -> fresh timing processes in all, those done already included
    planned_s: dict  # row -> seconds the processes still to run should take
    fixed_s: float  # what the run spends besides timing processes (convergence jobs)
    budget_s: float

    @property
    def total_s(self) -> float:
        return self.fixed_s + sum(self.planned_s.values())


LEAST = 3  # timing processes per row at least: the median of 3 has an order-statistic interval (75%)
MOST = 30
# A row grows no further once spread / sqrt(n), about its median's relative standard error, is below
# this: the 10% that two runs must agree within is then several standard errors wide.
PRECISION = 0.02


class OverBudget(ValueError):
    """Even the fewest processes per row do not fit the budget."""


def allocate(costs: Mapping[Hashable, Cost], budget_s: float, fixed_s: float = 0.0, least: int = LEAST,
             most: int = MOST, done: Mapping[Hashable, int] | None = None,
             precision: float = PRECISION) -> Plan:  # fmt: skip
    """Processes per row, `least` to `most` each, within budget_s - fixed_s, by Neyman allocation; a row
    precise enough already (PRECISION) gets no more.

    `done`: processes a row has had already; they count toward `least` and `most`, and not against
    budget_s (the seconds left). OverBudget when `least` processes of every row and the fixed costs
    already exceed the budget: the message says what the selection needs at least."""
    done = dict(done or {})
    n = {r: max(least, done.get(r, 0)) for r in costs}
    more = lambda r: n[r] - done.get(r, 0)  # noqa: E731
    need = fixed_s + sum(more(r) * c.process_s for r, c in costs.items())
    if need > budget_s:
        raise OverBudget(f"needs at least {math.ceil(need)} s ({least} processes per timed row and the "
                         f"convergence jobs); got {budget_s:g} s")  # fmt: skip
    left = budget_s - need
    # Grow one process at a time where it lowers the summed variance (spread^2 / n) most per second, until
    # nothing fits: a greedy form of the Neyman allocation that respects `least`, `most` and whole processes.
    while True:
        fits = [r for r in costs if n[r] < most and costs[r].process_s <= left
                and costs[r].spread / math.sqrt(n[r]) > precision]  # fmt: skip
        if not fits:
            break
        best = max(fits, key=lambda r: costs[r].spread ** 2 / (n[r] * (n[r] + 1) * costs[r].process_s))
        n[best] += 1
        left -= costs[best].process_s
    return Plan(n, {r: more(r) * costs[r].process_s for r in costs}, fixed_s, budget_s)
