"""`xorbench sweep`: a tiny grid end to end, GPU rows skipped with a reason here, bad input in one line,
the crossover arithmetic of bench/sweep_stats.py, and the report's sweep section."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pandas as pd
import pytest

from xorbench.bench import env
from xorbench.bench.cli import main
from xorbench.bench.report import write_report
from xorbench.bench.sweep_stats import gpu_overtakes, within_factor_from
from xorbench.bench.tables import SWEEP_COLUMNS

write_fixture = runpy.run_path(str(Path(__file__).parent / "fixtures" / "make_fixture.py"))["write_fixture"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = ["--hidden", "4,16", "--batch", "4,256", "--modes", "idiomatic"]  # 2 x 2 cells, a fresh process each


def test_a_tiny_sweep_writes_every_cell_timed(tmp_path, capsys):
    assert main(["sweep", *TINY, "--backends", "numpy", "--devices", "cpu", "--out", str(tmp_path)]) == 0
    sweep = pd.read_csv(tmp_path / "sweep.csv")
    assert list(sweep.columns) == SWEEP_COLUMNS
    assert len(sweep) == 2 * 2  # hidden x batch
    assert set(sweep["status"]) == {"ok"}, sweep[["backend", "status", "reason"]]
    assert (sweep["epoch_us_median"] > 0).all() and (sweep["epoch_us_min"] <= sweep["epoch_us_median"]).all()
    assert (sweep["windows"] >= 1).all() and (sweep["window_epochs"] >= 1).all()
    assert set(zip(sweep["hidden"], sweep["batch"])) == {(4, 4), (4, 256), (16, 4), (16, 256)}
    assert (sweep["dtype"] == "float32").all() and (sweep["optimizer"] == "sgd").all()
    assert (sweep["import_s"] > 0).all() and sweep["total_s"].isna().all()  # total_s: advise --check's cells only
    assert json.loads((tmp_path / "env.json").read_text())["command"].startswith("xorbench sweep")
    assert "cpu/idiomatic: frameworks" in capsys.readouterr().out


def test_a_sweep_beside_a_run_keeps_the_runs_env_and_records_its_own_commit_and_date(tmp_path):
    (tmp_path / "env.json").write_text(json.dumps({"command": "xorbench run", "git_commit": "abc"}))
    assert main(["sweep", "--hidden", "4", "--batch", "4", "--backends", "numpy", "--out", str(tmp_path)]) == 0
    found = json.loads((tmp_path / "env.json").read_text())
    assert found["command"] == "xorbench run" and found["git_commit"] == "abc"
    assert found["sweep"]["command"].startswith("xorbench sweep") and found["sweep"]["timestamp"]


@pytest.mark.skipif(bool(env.gpus()), reason="a GPU is present: its rows are measured, not skipped")
def test_gpu_cells_are_skipped_with_their_reason_without_a_gpu(tmp_path):
    argv = ["sweep", "--hidden", "4", "--batch", "4", "--backends", "numpy", "--devices", "gpu", "--out", str(tmp_path)]
    assert main(argv) == 0
    sweep = pd.read_csv(tmp_path / "sweep.csv")
    assert len(sweep) == 2  # idiomatic and tuned
    assert set(sweep["status"]) == {"skipped"}
    assert sweep["reason"].str.len().min() > 10


@pytest.mark.parametrize(
    "argv",
    [
        ["--hidden", "0"],
        ["--hidden", "four"],
        ["--batch", "2"],
        ["--backends", "mxnet"],
        ["--devices", "tpu"],
        ["--modes", "fast"],
        ["--threads", "0"],
        ["--timeout", "-1"],
        ["--backends", ","],
    ],
)
def test_bad_sweep_input_is_one_line_and_status_2(argv, tmp_path, capsys):
    assert main(["sweep", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xorbench: error:") and err.count("\n") == 1
    assert not (tmp_path / "sweep.csv").exists()


def synthetic() -> pd.DataFrame:
    cells = [(4, 4), (64, 4), (4, 256), (64, 256)]  # work 16, 256, 1024, 16384
    times = {
        ("numpy", "cpu"): [10, 20, 30, 100],
        ("torch", "cpu"): [100, 60, 50, 120],  # ratios 10, 3, 1.67, 1.2
        ("torch", "gpu"): [500, 300, 40, 20],  # overtakes the CPU at (4, 256)
    }
    rows = [
        {"backend": b, "device": d, "mode": "idiomatic", "hidden": h, "batch": n, "status": "ok", "epoch_us_median": t}
        for (b, d), ts in times.items()
        for (h, n), t in zip(cells, ts)
    ]
    rows.append({"backend": "numpy", "device": "gpu", "mode": "idiomatic", "hidden": 4, "batch": 4,
                 "status": "skipped", "epoch_us_median": None})  # fmt: skip
    return pd.DataFrame(rows)


def test_within_factor_is_the_smallest_cell_from_which_every_larger_one_holds():
    found = within_factor_from(synthetic(), "cpu", "idiomatic")
    assert found["hidden"] == 4 and found["batch"] == 256 and found["cells"] == 4
    assert found["ratio"] == pytest.approx(50 / 30)
    assert within_factor_from(synthetic(), "cpu", "idiomatic", factor=1.1)["hidden"] is None
    assert within_factor_from(synthetic(), "gpu", "idiomatic") is None  # one framework only


def test_gpu_overtakes_at_the_first_cell_where_its_epoch_is_faster():
    table = gpu_overtakes(synthetic())
    assert list(table["backend"]) == ["torch"]
    row = table.iloc[0]
    assert (row["hidden"], row["batch"]) == (4, 256)
    assert row["speedup"] == pytest.approx(50 / 40) and row["best_speedup"] == pytest.approx(6.0)


def test_the_report_draws_the_sweep_section_from_sweep_csv(tmp_path):
    run = write_fixture(tmp_path)
    assert "not measured (no sweep.csv)" in write_report(run, figures=False).read_text(encoding="utf-8")
    synthetic().to_csv(run / "sweep.csv", index=False)
    report = write_report(run).read_text(encoding="utf-8")
    section = report[report.index("## 7. Scaling sweep") :]
    assert "![Per-epoch time against hidden × batch](sweep.png)" in section
    assert "cpu/idiomatic: frameworks within 2x from hidden 4 x batch 256" in section
    assert "torch/idiomatic: GPU overtakes the CPU from hidden 4 x batch 256" in section
    figure = run / "sweep.png"
    assert figure.read_bytes()[:8] == PNG_MAGIC and figure.stat().st_size < 200_000
    (run / "sweep.csv").unlink()
    write_report(run)
    assert not figure.exists()


def test_each_cell_gets_a_process_and_is_predicted_from_the_cells_measured_before_it():
    from xorbench.bench.job import planned
    from xorbench.bench.options import make
    from xorbench.bench.plan import sweep_jobs, with_estimate
    from xorbench.bench.rows import SweepRow

    options = make("sweep", False, {"backends": ("numpy",), "hidden": (4, 64), "batch": (4, 256)}, "xorbench sweep")
    jobs = sweep_jobs(options)
    assert [len(planned(job)) for job in jobs] == [1] * 8  # 2 modes x 4 cells, a process each
    first = jobs[0]
    assert with_estimate(first, []).estimate_s is None  # nothing measured yet: nothing predicted
    done = [SweepRow(backend="numpy", device="cpu", mode=first.modes[0], hidden=4, batch=4, status="ok",
                     epoch_us_median=1e3), SweepRow(backend="numpy", device="cpu", mode=first.modes[0], hidden=64,
                     batch=4, status="ok", epoch_us_median=2e4)]  # fmt: skip
    last = next(j for j in jobs if j.modes == first.modes and (j.hidden[0], j.batch[0]) == (64, 256))
    assert with_estimate(last, done).estimate_s == pytest.approx(1e-3 + (2e-2 - 1e-3) * 64)  # grown by the work
