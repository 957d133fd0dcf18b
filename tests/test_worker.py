"""The worker's RunSession in this process, on the scratch NumPy backend, with a channel that keeps
what it is sent: how a convergence job answers when one of its runs fails."""

from __future__ import annotations

import dataclasses

from xorbench import backends
from xorbench.backends import numpy_scratch
from xorbench.bench.job import Job, RunKey
from xorbench.bench.worker import RunSession


class Kept:
    """A Channel that keeps the rows instead of writing them to a manager."""

    def __init__(self):
        self.rows = []

    def row(self, row, backend, **extra) -> None:
        self.rows.append(row)

    def send(self, event, **fields) -> None:
        pass


def session() -> RunSession:
    matched = dataclasses.asdict(backends.preset("matched", "numpy", epochs=30, seed=0))
    job = Job("run", "numpy", "cpu", ("idiomatic", "tuned"), threads=1, spec=dataclasses.asdict(backends.spec("numpy")),
              repeats=2, window_s=0.01, seeds=2, budget_s=1.0, matched=matched)  # fmt: skip
    return RunSession(job, Kept(), numpy_scratch, import_s=0.0)


def test_a_borrowing_mode_whose_check_run_fails_gets_an_error_row_and_a_new_trainer_for_the_next_seed():
    s = session()
    lender = RunKey("tuned", "matched", 0, "convergence")
    s.convergence(lender, None)  # the lender's own seed
    broken = s.seed_trainer("idiomatic")
    broken.fit = lambda epochs: (_ for _ in ()).throw(RuntimeError("the framework fell over"))
    s.convergence(RunKey("idiomatic", "matched", 0, "convergence"), "tuned")
    lent, failed = s.channel.rows
    assert lent.status == "ok" and lent.mode == "tuned"
    assert (failed.status, failed.reason, failed.borrowed_from) == ("error", "RuntimeError: the framework fell over",
                                                                     "tuned")  # fmt: skip
    assert s.seed_trainer("idiomatic") is not broken
