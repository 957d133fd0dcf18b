"""`xorbench advise`: the composition and the log-space interpolation on constructed tables with known
answers (a known break-even among them), the extrapolation flag, bad input, no framework imported, and
--check end to end on NumPy."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pandas as pd
import pytest

from xorbench.bench.cli import main
from xorbench.bench.predict import Workload, at, grid_of, load, predict, verdict
from xorbench.bench.rows import AdviceRow, SummaryRow, SweepRow
from xorbench.bench.tables import csv_text

# Two made-up rows: "slow" starts in 0.1 s and takes 10 µs an epoch; "quick" starts in 1.1 s and takes
# 1 µs. Their totals meet where 0.1 + 10e-6 N = 1.1 + 1e-6 N: N = 1 / 9e-6 = 111,111 epochs.
ROWS = {"slow": (0.1, 10.0), "quick": (1.1, 1.0)}
FLIP = 1.0 / 9e-6
HIDDEN, BATCH = (4, 16, 64), (4, 64)


def write_folder(folder, per_work: float = 0.5) -> None:
    """summary.csv with ROWS (intervals ±10%), and a sweep whose epochs grow by per_work µs per unit of
    hidden x batch above the 4 x 4 cell's (the run's level), and whose setup grows likewise in ms."""
    summary = [SummaryRow(backend="numpy", device="cpu", mode=mode, preset="matched", processes=3, epoch_us=us,
                          epoch_us_ci_low=0.9 * us, epoch_us_ci_high=1.1 * us, call_us=0.0, startup_s=s,
                          startup_ci_low=0.9 * s, startup_ci_high=1.1 * s)
               for mode, (s, us) in ROWS.items()]  # fmt: skip
    cells = [SweepRow(backend="numpy", device="cpu", mode=mode, hidden=h, batch=b, status="ok", import_s=0.1,
                      setup_s=1e-3 * h * b, first_epoch_s=0.0, epoch_us_median=us + per_work * (h * b - 16))
             for mode, (_, us) in ROWS.items() for h in HIDDEN for b in BATCH]  # fmt: skip
    (folder / "summary.csv").write_text(csv_text(summary, SummaryRow))
    (folder / "sweep.csv").write_text(csv_text(cells, SweepRow))


@pytest.fixture
def folder(tmp_path):
    write_folder(tmp_path)
    return tmp_path


def predicted(folder, hidden=4, batch=4, epochs=1000):
    return {p.mode: p for p in predict(*load(folder, "cpu"), Workload(hidden, batch, epochs))}


def test_a_total_is_start_up_plus_epochs_times_the_epoch_and_the_order_flips_at_the_break_even(folder):
    for epochs, first in ((int(FLIP / 2), "slow"), (int(FLIP * 2), "quick")):
        found = predicted(folder, epochs=epochs)
        for mode, (startup, us) in ROWS.items():
            assert found[mode].total_s == pytest.approx(startup + epochs * us * 1e-6)
            assert found[mode].low_s == pytest.approx(0.9 * found[mode].total_s)  # both ends of the run's interval
        assert verdict(sorted(found.values(), key=lambda p: p.total_s)).winner.mode == first
    assert verdict(list(found.values())).flips_at == pytest.approx(FLIP)


def test_growth_comes_from_the_sweep_interpolated_in_log_space(folder):
    cells = pd.read_csv(folder / "sweep.csv").assign(epoch_us_median=lambda f: 3.0 * f["hidden"] * f["batch"])
    grid = grid_of(cells[cells["mode"] == "slow"], "epoch_us_median")
    assert at(grid, 8, 16, growth=1.0) == (pytest.approx(3.0 * 8 * 16), 1.0)  # exact on a power law
    found = predicted(folder, hidden=16, batch=64)["slow"]  # a measured cell: the run's 10 µs + 0.5 µs x (1024 - 16)
    assert found.epoch_us == pytest.approx(10.0 + 0.5 * (16 * 64 - 16)) and not found.extrapolated
    assert found.startup_s == pytest.approx(0.1 + 1e-3 * (16 * 64 - 16))  # the build grows as the sweep's did


def test_beyond_the_grid_the_epoch_grows_with_the_work_and_says_how_far(folder, capsys):
    found = predicted(folder, hidden=256, batch=64)["slow"]  # 4x the largest hidden measured
    largest = 10.0 + 0.5 * (64 * 64 - 16)
    assert found.beyond == pytest.approx(4.0) and found.epoch_us == pytest.approx(4 * largest)
    assert main(["advise", "--hidden", "256", "--batch", "64", "--epochs", "10", "--from", str(folder)]) == 0
    assert "extrapolated ×4 in work" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--hidden", "0"], "--hidden must be >= 1"),
        (["--batch", "2"], "--batch must be >= 4"),
        (["--device", "gpu"], "no timed gpu rows"),
        (["--save", "x.csv"], "--save needs --check"),
        (["--from", "nowhere"], "summary.csv"),
    ],
)
def test_bad_input_is_one_line_and_status_2(folder, capsys, argv, says):
    given = {"--hidden": "4", "--batch": "4", "--epochs": "10", "--from": str(folder)}
    given.update(dict(zip(argv[::2], argv[1::2])))
    assert main(["advise", *[x for pair in given.items() for x in pair]]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


def test_advise_without_check_imports_no_framework(folder):
    code = f"""if True:
        import json, sys
        from xorbench.bench.cli import main
        assert main(["advise", "--hidden", "8", "--batch", "8", "--epochs", "100", "--from", {str(folder)!r}]) == 0
        print(json.dumps(sorted(m for m in ("tensorflow", "torch", "jax", "keras", "numba") if m in sys.modules)))
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_check_measures_the_candidates_in_fresh_processes_and_saves_them(tmp_path, capsys):
    """Rows named after NumPy's real modes, so that the check trains them."""
    write_folder(tmp_path)
    for name in ("summary.csv", "sweep.csv"):
        path = tmp_path / name
        path.write_text(path.read_text().replace(",slow,", ",idiomatic,").replace(",quick,", ",tuned,"))
    saved = tmp_path / "advice.csv"
    argv = ["advise", "--hidden", "8", "--batch", "8", "--epochs", "50", "--from", str(tmp_path), "--check"]
    assert main([*argv, "--save", str(saved)]) == 0
    assert "The predicted winner" in capsys.readouterr().out
    rows = pd.read_csv(saved)
    assert list(rows.columns) == [f.name for f in dataclasses.fields(AdviceRow)]
    assert len(rows) == 2 and (rows["processes"] == 3).all() and (rows["measured_s"] > 0).all()
    assert (rows["measured_low_s"] <= rows["measured_s"]).all() and sorted(rows["measured_rank"]) == [1, 2]


def test_the_report_states_the_checks_with_their_tally_and_commit(run_copy):
    """Section 8: how many checked workloads the winner held on, how many in-grid totals fell within 25%,
    and the commit the checks were measured at (a dirty tree said so)."""
    from xorbench.bench.report import write_report

    common = dict(hidden=8, batch=16, epochs=1000, device="cpu", backend="numpy", startup_s=0.1, epoch_us=10.0,
                  beyond=1.0, processes=3, measured_level=0.75, git_commit="0123456789abcdef-dirty")  # fmt: skip
    rows = [AdviceRow(**common, mode="tuned", predicted_rank=1, predicted_s=1.0, predicted_low_s=0.9,
                      predicted_high_s=1.1, measured_s=1.1, measured_low_s=1.0, measured_high_s=1.2, measured_rank=1),
            AdviceRow(**common, mode="idiomatic", predicted_rank=2, predicted_s=2.0, predicted_low_s=1.8,
                      predicted_high_s=2.2, measured_s=3.0, measured_low_s=2.9, measured_high_s=3.1,
                      measured_rank=2)]  # fmt: skip
    (run_copy / "advice.csv").write_text(csv_text(rows, AdviceRow))
    report = write_report(run_copy, figures=False).read_text(encoding="utf-8")
    section = report[report.index("## 8. Which one for your size") : report.index("## 9.")]
    assert "The predicted winner held (measured quickest, or within the measured quickest's interval) on 1 of 1;" in (
        " ".join(section.split())
    )
    assert "1 of the 2 predictions inside the grid were within 25% of the measured total (worst: +50%)" in section
    assert "Checked at commit 0123456789ab (with uncommitted changes), as advice.csv records it." in section
