"""The worker's RunSession in this process, on the scratch NumPy backend, with a channel that keeps
what it is sent: how a convergence job answers when one of its runs fails. And how the manager
follows a worker's events: a worker is stopped for silence, not for taking long."""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
import time

from xorbench import backends
from xorbench.backends import numpy_scratch
from xorbench.bench.job import Job, RunKey
from xorbench.bench.manager import follow
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


def fed(events: list[dict], every_s: float, end: bool) -> queue.Queue:
    """A worker's output as the manager's reader thread queues it: an event every `every_s`, then its
    end (None), or silence."""
    lines: queue.Queue = queue.Queue()

    def feed() -> None:
        for event in events:
            time.sleep(every_s)
            lines.put(json.dumps(event) + "\n")
        if end:
            lines.put(None)

    threading.Thread(target=feed, daemon=True).start()
    return lines


def test_a_worker_that_keeps_reporting_is_not_stopped_however_long_it_runs():
    events = [{"event": "progress", "text": f"seed {i}"} for i in range(12)] + [{"event": "done"}]
    seen = []
    finished, why = follow(None, fed(events, 0.25, end=True), 2.0, seen.append)  # ~3.2 s in all, never 2 s silent
    assert (finished, why) == (True, "") and seen == events


def test_a_worker_that_goes_silent_is_stopped_after_the_timeout():
    seen = []
    finished, why = follow(None, fed([{"event": "start"}], 0.0, end=False), 0.5, seen.append)
    assert not finished and why == "worker timed out after 0.5 s without a row or progress" and len(seen) == 1
