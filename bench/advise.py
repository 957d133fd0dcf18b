"""`xorbench advise`: predict (bench/predict.py), and with --check measure the top three candidates at
exactly that workload in fresh processes, through the sweep's jobs and the ordinary manager, then print
predicted against measured (bench/templates/advise.md.j2) and, with --save, append them to advice.csv."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import pandas as pd

from . import predict
from .rows import AdviceRow, SweepRow
from .stats import median, median_interval
from .tables import csv_text, frame

TOP = 3  # --check measures this many candidates
PROCESSES = 3  # fresh processes per candidate: the fewest whose median has an interval


def add_advise(sub) -> None:
    advise_ = sub.add_parser("advise", help="which backend and mode is quickest for your network, predicted "
                             "from a run and its sweep")  # fmt: skip
    advise_.add_argument("--hidden", type=int, required=True, metavar="H", help="hidden units")
    advise_.add_argument("--batch", type=int, required=True, metavar="B", help="samples per full batch, >= 4")
    advise_.add_argument("--epochs", type=int, required=True, metavar="N", help="epochs, trained in one fit() call")
    advise_.add_argument("--device", default="cpu", choices=("cpu", "gpu"), help="default: cpu")
    advise_.add_argument("--from", dest="source", default="results", metavar="DIR",
                         help="a folder with a run's summary.csv and its sweep.csv (default: results)")  # fmt: skip
    advise_.add_argument("--check", action="store_true", help=f"measure the top {TOP} at this workload, "
                         f"{PROCESSES} fresh processes each, and compare")  # fmt: skip
    advise_.add_argument("--save", metavar="CSV", help="with --check: append the rows to this advice.csv")
    advise_.add_argument("--timeout", type=float, default=600.0, metavar="S", help="per checking process (600)")
    advise_.set_defaults(func=cmd_advise)


def cmd_advise(args: argparse.Namespace) -> int:
    try:
        if args.save and not args.check:
            raise predict.Refused("--save needs --check: it saves what was measured")
        work = predict.Workload(args.hidden, args.batch, args.epochs, args.device)
        predictions = predict.predict(*predict.load(Path(args.source), work.device), work)
        found = predict.verdict(predictions)
    except predict.Refused as error:
        print(f"xorbench: error: {error}", file=sys.stderr)
        return 2
    measured = check(predictions[:TOP], work, args.timeout) if args.check else None
    rows = advice_rows(work, predictions[:TOP] if args.check else predictions, measured)
    print(render(work, rows, found, args.check), end="")
    if args.save:
        save(Path(args.save), rows)
    return 0


def check(candidates: list[predict.Prediction], work: predict.Workload, timeout_s: float) -> pd.DataFrame:
    """The candidates' cells, each timed whole (import + setup + one fit(epochs) call) in PROCESSES fresh
    processes, interleaved, through the sweep's jobs and the run's manager."""
    from .manager import Manager
    from .options import make
    from .plan import sweep_jobs
    from .runner import fill, save_cell
    from .tables import Tables

    given = {"backends": tuple(dict.fromkeys(c.backend for c in candidates)), "devices": (work.device,),
             "hidden": (work.hidden,), "batch": (work.batch,), "timeout_s": timeout_s}  # fmt: skip
    options = make("sweep", False, given, "xorbench advise --check")
    wanted = {(c.backend, c.mode) for c in candidates}
    jobs = [dataclasses.replace(job, total_epochs=work.epochs)
            for job in sweep_jobs(options) if (job.backend, job.modes[0]) in wanted]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="xorbench-check-") as folder:
        tables = Tables(Path(folder), kind="sweep")
        manager = Manager(timeout_s, lambda event: save_cell(tables, event), lambda o, key: fill(tables, o, key))
        manager.execute([job for _ in range(PROCESSES) for job in jobs], PROCESSES * len(jobs))
        return frame(tables.cells, SweepRow)


def advice_rows(work: predict.Workload, predictions: list, measured: pd.DataFrame | None) -> list[AdviceRow]:
    from .env import git_commit

    commit = (git_commit() or "") if measured is not None else ""
    rows = []
    for rank, p in enumerate(predictions, 1):
        fields = {}
        if measured is not None:
            mine = measured[(measured["backend"] == p.backend) & (measured["mode"] == p.mode)]
            totals = mine.loc[mine["status"] == "ok", "total_s"].dropna().to_numpy()
            interval = median_interval(totals)
            fields = dict(measured_s=median(totals) if len(totals) else None, measured_low_s=interval.low,
                          measured_high_s=interval.high, measured_level=interval.coverage, processes=len(totals),
                          git_commit=commit)  # fmt: skip
        rows.append(AdviceRow(hidden=work.hidden, batch=work.batch, epochs=work.epochs, device=work.device,
                              backend=p.backend, mode=p.mode, predicted_rank=rank, predicted_s=p.total_s,
                              predicted_low_s=p.low_s, predicted_high_s=p.high_s, startup_s=p.startup_s,
                              epoch_us=p.epoch_us, beyond=p.beyond, **fields))  # fmt: skip
    timed = sorted((r for r in rows if r.measured_s is not None), key=lambda r: r.measured_s)
    for rank, row in enumerate(timed, 1):
        row.measured_rank = rank
    return rows


def render(work: predict.Workload, rows: list[AdviceRow], found: predict.Verdict, checked: bool) -> str:
    from .report import templates

    template = templates().get_template("advise.md.j2")
    return template.render(
        work=work, rows=rows, verdict=found, checked=checked, held=predict.held(rows) if checked else None
    )


def save(path: Path, rows: list[AdviceRow]) -> None:
    """Append to an advice.csv (its header when new)."""
    text = csv_text(rows, AdviceRow)
    if path.is_file() and path.stat().st_size:
        text = text.split("\n", 1)[1]
    with open(path, "a", encoding="utf-8") as file:
        file.write(text)
