"""The worker's functions in this process, on the scratch NumPy backend: how a convergence job answers
when one of its runs fails, and that its rows and the manager's placeholders come from one builder.
And how the manager follows a worker's events: a worker is stopped for silence, not for taking long."""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
import time

import pytest

from xorbench import backends
from xorbench.backends import numpy_scratch
from xorbench.bench.job import CellKey, ProbeJob, RunJob, RunKey, SweepJob, TimeJob, job_from_json, planned_row
from xorbench.bench.manager import follow
from xorbench.bench.worker import Framework, Seeds, own_seed

TUNED, IDIOMATIC = {"matched": "tuned", "classic": "tuned"}, {"matched": "idiomatic", "classic": "idiomatic"}
COMMON = dict(backend="numpy", device="cpu", threads=1, spec=dataclasses.asdict(backends.spec("numpy")), repeats=2,
              window_s=0.01)  # fmt: skip
MATCHED = dataclasses.asdict(backends.preset("matched", "numpy", epochs=30, seed=0))
FRAMEWORK = Framework(numpy_scratch, import_s=0.0, rss_import_mb=0.0, version="numpy 0", device_name="cpu")


def test_a_seed_whose_run_fails_gets_an_error_row_and_a_new_trainer_for_the_next_seed():
    job = RunJob(**COMMON, modes=("idiomatic", "tuned"), convergence_modes=TUNED, seeds=2, solve_s=1.0,
                 matched=MATCHED)  # fmt: skip
    seeds = Seeds(lambda mode: FRAMEWORK.trainer(job, mode))
    ok = own_seed(job, FRAMEWORK, seeds, RunKey("tuned", "matched", 0, "convergence"))
    broken = seeds.trainer("tuned")
    broken.fit = lambda epochs: (_ for _ in ()).throw(RuntimeError("the framework fell over"))
    failed = own_seed(job, FRAMEWORK, seeds, RunKey("tuned", "matched", 1, "convergence"))
    assert ok.row.status == "ok" and ok.row.mode == "tuned" and len(ok.curve) == 30
    assert (failed.row.status, failed.row.reason) == ("error", "RuntimeError: the framework fell over")
    assert seeds.trainer("tuned") is not broken


JOBS = {
    "time": (TimeJob(**COMMON, mode="tuned", matched=MATCHED, solve_s=1.0, process=2, start_order=5),
             RunKey("tuned", "matched", 2, "timing")),
    "run": (RunJob(**COMMON, modes=("idiomatic",), convergence_modes=IDIOMATIC, seeds=2, solve_s=1.0, matched=MATCHED,
                   article={**MATCHED, "seed": 7}), RunKey("idiomatic", "article", 7, "timing")),
    "sweep": (SweepJob(**COMMON, modes=("tuned",), matched=MATCHED, hidden=(8,), batch=(16,), cell_cap_s=1.0),
              CellKey("tuned", 8, 16)),
}  # fmt: skip


@pytest.mark.parametrize("kind", JOBS)
def test_a_placeholder_row_has_every_column_a_workers_row_takes_from_the_plan(kind):
    job, key = JOBS[kind]
    placeholder = dataclasses.asdict(planned_row(job, key, status="error", reason="worker died of SIGSEGV"))
    measured = dataclasses.asdict(FRAMEWORK.row(job, key, status="error", reason="worker died of SIGSEGV"))
    only_the_worker_knows = {"framework_version", "device_name", "method"}
    differ = {name for name in measured if measured[name] != placeholder[name]}
    assert differ == only_the_worker_knows & set(measured), differ
    assert placeholder["mode"] == key.mode and placeholder["threads"] == 1 and placeholder["lr"] == MATCHED["lr"]
    if kind == "time":
        assert (placeholder["process"], placeholder["start_order"], placeholder["seed"]) == (2, 5, 2)
    if kind == "run":
        assert placeholder["seed"] == 7 and placeholder["process"] is None
    if kind == "sweep":
        assert (placeholder["hidden"], placeholder["batch"], placeholder["dtype"]) == (8, 16, "float32")


@pytest.mark.parametrize("job", [*(job for job, _ in JOBS.values()), ProbeJob(backend="numpy", spec=COMMON["spec"])])
def test_every_kind_of_job_reaches_the_worker_as_it_left_the_manager(job):
    back = job_from_json(job.to_json())  # the spec's tuples arrive as lists: worker.load_backend takes either
    assert type(back) is type(job) and dataclasses.replace(back, spec=job.spec) == job
    assert back.to_json() == job.to_json()


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
