"""summary.csv on constructed tables with known answers: a row's figures are medians over its fresh
processes with their intervals, time-to-solve cold and warm count only the processes that solved,
convergence comes from the seeds (time-to-accuracy beside time-to-solve), and older tables still summarise."""

from __future__ import annotations

import math

import pytest

from xorbench.bench.rows import SUMMARY_COLUMNS, RunRow, SummaryRow, TimingRow
from xorbench.bench.stats import median_ci
from xorbench.bench.summary import accuracy_columns, groups_of, read_summary, summary_rows, write_summary
from xorbench.bench.tables import csv_text, read_table
from xorbench.bench.text import counted

US = (10.0, 11.0, 12.0, 13.0, 50.0)  # process 4 ran on a busy machine


def process(p: int, us: float, **changes) -> RunRow:
    fields = dict(backend="numpy", device="cpu", mode="tuned", preset="matched", seed=p, status="ok", role="timing",
                  process=p, start_order=p, epoch_us=us, call_us=100.0 + p, epoch_us_median=us + 0.5, import_s=0.1,
                  first_epoch_s=0.02, startup_s=0.12 + 0.01 * p, threads=1, cpu_ratio=1.0,
                  peak_rss_mb=60.0 + p)  # fmt: skip
    return RunRow(**(fields | changes))


def seed(s: int, solved: bool, **changes) -> RunRow:
    fields = dict(backend="numpy", device="cpu", mode="tuned", preset="matched", seed=s, status="ok",
                  role="convergence", solved=solved, epoch_solved=500 + 10 * s if solved else None,
                  epochs=2000)  # fmt: skip
    return RunRow(**(fields | changes))


def write(folder, runs: list[RunRow], timings: list[TimingRow] = ()) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "runs.csv").write_text(csv_text(runs, RunRow))
    (folder / "timings.csv").write_text(csv_text(list(timings), TimingRow))


def summarised(tmp_path, runs: list[RunRow], timings: list[TimingRow] = ()) -> dict[tuple, SummaryRow]:
    write(tmp_path, runs, timings)
    runs_table = read_table(tmp_path / "runs.csv", RunRow)
    timings_table = read_table(tmp_path / "timings.csv", TimingRow) if timings else None
    return {(r.backend, r.device, r.mode, r.preset): r for r in summary_rows(runs_table, timings_table)}


def test_a_rows_figures_are_medians_over_its_processes_with_their_intervals(tmp_path):
    runs = [process(p, us) for p, us in enumerate(US)] + [seed(s, s != 2) for s in range(4)]
    row = summarised(tmp_path, runs)["numpy", "cpu", "tuned", "matched"]
    assert row.processes == 5
    assert row.epoch_us == 12.0  # the slow process moves the median nowhere
    assert (row.epoch_us_ci_low, row.epoch_us_ci_high) == median_ci(US) == (10.0, 50.0)
    assert row.call_us == 102.0
    assert math.isclose(row.startup_s, 0.14) and (row.startup_ci_low, row.startup_ci_high) == pytest.approx(
        (0.12, 0.16)
    )
    assert row.peak_rss_mb == 62.0 and row.cpu_ratio == 1.0 and row.threads == 1 and row.threads_exceeded is False


def test_only_processes_that_finished_ok_count(tmp_path):
    runs = [process(p, us) for p, us in enumerate(US[:3])]
    runs += [RunRow(backend="numpy", device="cpu", mode="tuned", preset="matched", seed=3, status="error",
                    reason="worker crashed", role="timing", process=3)]  # fmt: skip
    row = summarised(tmp_path, runs)["numpy", "cpu", "tuned", "matched"]
    assert row.processes == 3 and row.epoch_us == 11.0


def test_time_to_solve_cold_and_warm_are_medians_over_the_processes_that_solved(tmp_path):
    cold = (1.0, 2.0, None, 3.0, None)  # processes 2 and 4 never solved (or only started up)
    warm = (0.5, 0.7, None, 0.6, None)
    runs = [
        process(p, 10.0, time_to_solve_cold_s=c, time_to_solve_warm_s=w) for p, (c, w) in enumerate(zip(cold, warm))
    ]
    row = summarised(tmp_path, runs)["numpy", "cpu", "tuned", "matched"]
    assert (row.time_to_solve_cold_s, row.time_to_solve_cold_n) == (2.0, 3)
    assert (row.time_to_solve_warm_s, row.time_to_solve_warm_n) == (0.6, 3)


def test_start_up_is_split_by_the_compile_cache_each_process_started_with(tmp_path):
    startup = {0: 5.0, 1: 2.0, 2: 2.2, 3: 1.9, 4: 2.1}
    runs = [process(p, 10.0, backend="torch", startup_s=s, compile_cache="cold" if p == 0 else "warm")
            for p, s in startup.items()]  # fmt: skip
    runs += [process(p, 10.0) for p in range(3)]  # numpy: no compile cache
    rows = summarised(tmp_path, runs)
    torch, numpy = rows["torch", "cpu", "tuned", "matched"], rows["numpy", "cpu", "tuned", "matched"]
    assert torch.startup_cold_cache_s == 5.0 and torch.startup_warm_cache_s == pytest.approx(2.05)
    assert torch.startup_s == 2.1  # over every process, cold and warm
    assert numpy.startup_cold_cache_s is None and numpy.startup_warm_cache_s is None


def test_a_cold_time_to_solve_names_the_compile_cache_its_processes_started_with(tmp_path):
    runs = [process(p, 10.0, backend="torch", compile_cache="cold" if p == 0 else "warm",
                    time_to_solve_cold_s=30.0 if p == 0 else None) for p in range(3)]  # fmt: skip
    write(tmp_path, runs)
    (group,) = groups_of(read_table(tmp_path / "runs.csv", RunRow), None, "matched")
    assert (group.tts_cold_s, group.tts_cold_n, group.tts_cold_cache) == (30.0, 1, "cold")
    text = counted(group.tts_cold_s, group.tts_cold_n, "never solved", group.tts_cold_cache)
    assert text == "30.0 (n=1, cold compile cache)"


def test_success_and_epochs_to_solve_come_from_the_convergence_seeds(tmp_path):
    runs = [process(p, 10.0, solved=False) for p in range(3)]  # the timing processes' solve runs do not count
    runs += [seed(s, s != 2) for s in range(4)]
    row = summarised(tmp_path, runs)["numpy", "cpu", "tuned", "matched"]
    assert (row.solved, row.seeds, row.epochs_to_solve) == (3, 4, 510.0)
    assert row.borrowed_from == ""


def test_a_mode_without_seeds_of_its_own_has_its_backends_named_by_the_mode_that_trained_them(tmp_path):
    runs = [process(p, 900.0, mode="idiomatic") for p in range(3)] + [process(p, 10.0) for p in range(3)]
    runs += [seed(s, s != 1) for s in range(4)]  # convergence once per backend, on tuned
    summary = summarised(tmp_path, runs)
    idiomatic, tuned = summary["numpy", "cpu", "idiomatic", "matched"], summary["numpy", "cpu", "tuned", "matched"]
    assert idiomatic.borrowed_from == "tuned" and (idiomatic.solved, idiomatic.seeds) == (3, 4)
    assert tuned.borrowed_from == "" and (tuned.solved, tuned.seeds) == (3, 4)


def test_seeds_that_stop_once_converged_leave_solved_empty_and_count_as_accurate(tmp_path):
    """The classic preset stops a seed once every output is on the right side of 0.5; whether its loss
    also fell below the target by then is a by-product of the fit() call length, not a measure."""
    runs = [seed(s, s == 0, preset="classic", stop_reason="converged", epoch_accurate=400 + s) for s in range(3)]
    row = summarised(tmp_path, runs)["numpy", "cpu", "tuned", "classic"]
    assert (row.solved, row.epochs_to_solve) == (None, None)
    assert (row.accurate, row.seeds, row.epochs_to_accuracy) == (3, 3, 401.0)


@pytest.mark.parametrize("ratio, threads, exceeded", [(1.3, 1, True), (1.2, 1, False), (2.2, 2, False), (2.3, 2, True)])
def test_a_row_is_flagged_when_cpu_time_exceeds_its_threads_by_more_than_a_quarter(tmp_path, ratio, threads, exceeded):
    runs = [process(p, 10.0, cpu_ratio=ratio, threads=threads) for p in range(3)]
    assert summarised(tmp_path, runs)["numpy", "cpu", "tuned", "matched"].threads_exceeded is exceeded


def test_a_single_process_preset_gives_its_numbers_without_an_interval(tmp_path):
    article = process(0, 24.0, preset="article", mode="idiomatic", solved=True, epochs=10000)
    bare = RunRow(backend="numpy", device="cpu", mode="idiomatic", preset="article-bare", seed=0, status="ok",
                  role="timing", epoch_us_median=21.8, windows=10)  # fmt: skip
    rows = summarised(tmp_path, [article, bare])
    row = rows["numpy", "cpu", "idiomatic", "article"]
    assert row.processes == 1 and row.epoch_us == 24.0 and row.epoch_us_ci_low is None and row.startup_ci_low is None
    assert (row.solved, row.seeds) == (1, 1)
    assert rows["numpy", "cpu", "idiomatic", "article-bare"].epoch_us == 21.8  # its median window, the one figure


def test_a_row_that_never_ran_has_no_processes(tmp_path):
    runs = [RunRow(backend="torch", device="gpu", mode="tuned", preset="matched", seed=p, status="skipped",
                   reason="no CUDA device", role="timing", process=p) for p in range(3)]  # fmt: skip
    row = summarised(tmp_path, runs)["torch", "gpu", "tuned", "matched"]
    assert row.processes == 0 and row.epoch_us is None and row.seeds is None


def test_older_tables_summarise_from_the_columns_they_have(tmp_path):
    old = RunRow(backend="numpy", device="cpu", mode="tuned", preset="matched", seed=0, status="ok", role="timing",
                 epoch_us_median=12.0, import_s=0.1, first_epoch_s=0.05, time_to_solve_s=0.3)  # fmt: skip
    windows = [TimingRow(backend="numpy", device="cpu", mode="tuned", preset="matched", repeat=i, window_epochs=180,
                         epoch_us=12.0, cpu_ratio=r) for i, r in enumerate((1.0, 1.1, 1.2))]  # fmt: skip
    row = summarised(tmp_path, [old], windows)["numpy", "cpu", "tuned", "matched"]
    assert (row.processes, row.epoch_us, row.epoch_us_ci_low) == (1, 12.0, None)
    assert row.startup_s == pytest.approx(0.15)  # import + build and first epoch
    assert (row.time_to_solve_cold_s, row.time_to_solve_cold_n) == (0.3, 1)  # the old time-to-solve was cold
    assert row.cpu_ratio == 1.1  # from the windows, where runs.csv has none


def test_write_summary_writes_one_row_per_backend_device_mode_and_preset(tmp_path):
    runs = [process(p, us) for p, us in enumerate(US)] + [process(p, 20.0, mode="idiomatic") for p in range(5)]
    runs += [process(0, 24.0, preset="article", mode="idiomatic")]
    write(tmp_path, runs)
    path = write_summary(tmp_path)
    assert path == tmp_path / "summary.csv" and sorted(p.name for p in tmp_path.iterdir()) == [
        "runs.csv", "summary.csv", "timings.csv"]  # fmt: skip
    table = read_table(path, SummaryRow)
    assert list(table.columns) == SUMMARY_COLUMNS
    assert list(zip(table["mode"], table["preset"])) == [("idiomatic", "matched"), ("tuned", "matched"),
                                                         ("idiomatic", "article")]  # fmt: skip
    assert table["epoch_us"].tolist() == [20.0, 12.0, 24.0]
    assert table["schema_version"].eq(3).all()


def test_read_summary_computes_it_for_a_run_without_one(tmp_path):
    write(tmp_path, [process(p, us) for p, us in enumerate(US)])
    computed, why = read_summary(tmp_path)
    assert why is None and computed["epoch_us"].tolist() == [12.0]
    write_summary(tmp_path)
    written, _ = read_summary(tmp_path)
    assert written["epoch_us"].tolist() == [12.0]
    assert read_summary(tmp_path / "absent") == (None, "no runs.csv in this run")


def test_write_summary_refuses_a_folder_without_runs(tmp_path):
    with pytest.raises(ValueError, match="no runs.csv"):
        write_summary(tmp_path)
    assert not (tmp_path / "summary.csv").exists()


def test_time_to_accuracy_is_over_the_processes_and_epochs_to_accuracy_over_the_seeds(tmp_path, monkeypatch):
    accurate_s = (0.4, None, 0.2, 0.3, None)  # processes 1 and 4 never had every output right
    runs = [process(p, 10.0, time_to_accuracy_s=t) for p, t in enumerate(accurate_s)]
    runs += [seed(s, s != 2, epoch_accurate=e) for s, e in enumerate((300, 250, None, 410))]
    write(tmp_path, runs)
    table = read_table(tmp_path / "runs.csv", RunRow)
    (group,) = groups_of(table, None, "matched")
    assert (group.tta_cold_s, group.tta_cold_n) == (0.3, 3)
    assert (group.accurate, group.seeds, group.epochs_to_accuracy) == (3, 4, 300.0)
    assert accuracy_columns(group) == dict(
        accurate=3, epochs_to_accuracy=300.0, time_to_accuracy_cold_s=0.3, time_to_accuracy_cold_n=3
    )
