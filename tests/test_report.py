"""The report renders from a run's tables alone, prints their numbers faithfully, and never breaks on gaps."""

from __future__ import annotations

import dataclasses
import math
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from xorbench.backends import REGISTRY, floor_backends
from xorbench.bench.report import (
    FIGURES,
    Group,
    Summary,
    load,
    render_report,
    sig,
    success_text,
    summarise,
    write_report,
)
from xorbench.bench.stats import wilson
from xorbench.bench.sweep_stats import frameworks as sweep_frameworks
from xorbench.bench.tables import CURVES, SCHEMA_VERSION

write_fixture = runpy.run_path(str(Path(__file__).parent / "fixtures" / "make_fixture.py"))["write_fixture"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory) -> Path:
    return write_fixture(tmp_path_factory.mktemp("fixture"))


@pytest.fixture(scope="module")
def rendered(fixture_run) -> str:
    return write_report(fixture_run).read_text(encoding="utf-8")


@pytest.fixture
def run_copy(fixture_run, tmp_path) -> Path:
    for name in ("runs.csv", "timings.csv", CURVES, "env.json"):
        shutil.copy(fixture_run / name, tmp_path / name)
    return tmp_path


def table_rows(report: str, heading: str) -> list[list[str]]:
    """The body rows of the first Markdown table after `heading`, as lists of cells."""
    lines = report[report.index(heading) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    body = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        body.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return body


def verdict(report: str) -> dict[tuple, list[str]]:
    return {tuple(row[:3]): row[3:] for row in table_rows(report, "## 1. Verdict")}


def test_report_renders_every_section_from_the_fixture(rendered):
    for heading in ("## 1. Verdict", "### Which to choose when", "## 2. Loss curves", "## 3. The article, reproduced",
                    "## 4. Where the time goes", "## 5. Tuned modes", "## 6. Environment"):  # fmt: skip
        assert heading in rendered


def test_every_figure_is_a_small_valid_png(fixture_run, rendered):
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", rendered)
    assert sorted(linked) == sorted(FIGURES)
    for name in linked:
        path = fixture_run / name
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert path.stat().st_size < 200_000
        height, width, _ = plt.imread(path).shape
        assert width >= 400 and height >= 200


def test_verdict_prints_the_tables_numbers(fixture_run, rendered):
    runs = pd.read_csv(fixture_run / "runs.csv")
    rows = verdict(rendered)
    for (backend, device, mode), cells in rows.items():
        group = runs[
            (runs.backend == backend) & (runs.device == device) & (runs.preset == "matched") & (runs["mode"] == mode)
        ]
        timing = group[group.role == "timing"]
        if timing.empty:
            continue
        seeds = group[(group.role == "convergence") & group.status.isin(["ok", "diverged"])]
        assert cells[0] == sig(timing.epoch_us_median.iloc[0])
        assert cells[1] == sig(timing.epoch_us_min.iloc[0])
        assert cells[4] == sig(timing.import_s.iloc[0] + timing.first_epoch_s.iloc[0])
        lender = set(seeds.borrowed_from.dropna())
        mark = f" (from {lender.pop()})" if lender else ""
        assert cells[6] == success_text(int(seeds.solved.sum()), len(seeds)) + mark
    fastest = runs.loc[runs.epoch_us_median.idxmin()]
    assert rows[(fastest.backend, fastest.device, fastest["mode"])][3] == "fastest"


def test_faster_only_where_mann_whitney_says_so(rendered):
    rows = verdict(rendered)
    assert rows[("torch", "cpu", "tuned")][3].startswith("indistinguishable (p=")  # 12.1 vs 12.0 µs, 2% noise
    assert rows[("keras", "cpu", "idiomatic")][3].startswith("slower (p=")
    assert "Indistinguishable from torch (cpu, tuned)" in rendered


def test_wilson_interval_matches_the_textbook_value():
    low, high = wilson(5, 6)
    assert math.isclose(low, 0.4365, abs_tol=1e-4) and math.isclose(high, 0.9699, abs_tol=1e-4)
    assert wilson(0, 6)[0] == 0 and wilson(6, 6)[1] == 1


def test_largest_curve_difference_is_computed_from_curves_csv(fixture_run, rendered):
    curves = pd.read_csv(fixture_run / CURVES).dropna()
    wide = curves.pivot_table(index=["seed", "epoch"], columns=["backend", "device", "mode"], values="loss")
    largest = max(  # relative to series a, the first of the pair: bench/stats.py's one definition
        ((wide[a] - wide[b]).abs() / wide[a].abs()).max()
        for i, a in enumerate(wide.columns)
        for b in wide.columns[i + 1 :]
    )
    assert f"at the same seed and epoch: {largest:.3g}**" in rendered


def test_article_section_shows_outputs_and_the_claim_that_fails(rendered):
    rows = {row[0]: row for row in table_rows(rendered, "## 3. The article")}
    assert rows["keras"][4] == "0.497, 0.503, 0.488, 0.494"
    assert rows["keras"][-1].startswith("does not learn XOR")
    assert rows["torch"][-1].startswith("learns XOR")
    assert "keras.Input" in rendered


def test_skipped_and_error_rows_render_with_their_reasons_and_no_nan(fixture_run, rendered):
    assert "no CUDA device: torch.cuda.is_available() is False" in rendered
    assert "worker timed out after 120 s \\| killed" in rendered  # the reason's pipe is escaped, not a column
    assert "loss became non-finite at epoch 812 (lr=2)" in rendered
    assert verdict(rendered)[("keras", "gpu", "idiomatic")][0] == "not measured (error)"
    assert not re.search(r"\b(nan|inf|none)\b", rendered, re.IGNORECASE)
    for line in rendered.splitlines():
        if line.startswith("|"):
            assert all(cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]), line


@pytest.mark.parametrize(
    "missing, expected",
    [
        ("timings.csv", "not measured (no timings.csv in this run)"),
        (CURVES, f"not measured (no {CURVES} in this run)"),
        ("env.json", "not measured (no env.json in this run)"),
        ("runs.csv", "not measured (no runs.csv in this run)"),
    ],
)
def test_a_missing_table_renders_as_not_measured(run_copy, missing, expected):
    write_report(run_copy)  # a full render first: its figures must not outlive the data behind them
    (run_copy / missing).unlink()
    report = write_report(run_copy).read_text(encoding="utf-8")
    assert expected in report
    assert not re.search(r"\bnan\b", report, re.IGNORECASE)
    if missing == CURVES:
        assert not (run_copy / "loss_curves.png").exists()
    if missing == "timings.csv":
        assert verdict(report)[("keras", "cpu", "idiomatic")][3] == "not measured (no timings.csv in this run)"


def test_header_only_tables_render_as_not_measured(run_copy):
    for name in ("runs.csv", "timings.csv", CURVES):
        columns = pd.read_csv(run_copy / name, nrows=0).columns
        pd.DataFrame(columns=columns).to_csv(run_copy / name, index=False)
    (run_copy / "env.json").write_text("{not json")
    report = write_report(run_copy).read_text(encoding="utf-8")
    assert "not measured (runs.csv has no rows)" in report
    assert "not measured (env.json is not valid JSON (JSONDecodeError))" in report
    assert not any((run_copy / name).exists() for name in FIGURES)


def test_outputs_missing_from_runs_csv_say_so(run_copy):
    runs = pd.read_csv(run_copy / "runs.csv").drop(columns=["outputs"])
    runs.to_csv(run_copy / "runs.csv", index=False)
    report = write_report(run_copy).read_text(encoding="utf-8")
    assert "not measured (runs.csv has no outputs column)" in report


def test_targets_compare_tuned_numpy_with_the_bare_article_loop_of_the_same_run(run_copy):
    runs = pd.read_csv(run_copy / "runs.csv")
    tuned = runs[(runs["backend"] == "numpy") & (runs["mode"] == "tuned") & (runs["preset"] == "matched")]
    tuned_us = float(tuned[tuned["role"] == "timing"]["epoch_us_median"].iloc[0])
    bare = tuned.iloc[[0]].assign(mode="idiomatic", preset="article-bare", role="timing", epoch_us_median=40.0)
    pd.concat([runs, bare]).to_csv(run_copy / "runs.csv", index=False)
    report = write_report(run_copy).read_text(encoding="utf-8")
    row = next(line for line in report.splitlines() if line.startswith("| NumPy tuned vs the article's own loop"))
    ratio = tuned_us / 40.0
    assert f"= {sig(ratio)}×" in row
    assert row.rstrip().endswith("| met |" if ratio <= 0.6 else "| missed |")
    assert "| keras tuned vs keras idiomatic | ≤ 0.01× | " in report  # the registry's target for keras
    assert "| torch tuned vs torch idiomatic | ≤ 0.6× | " in report


def test_a_backend_timed_on_both_devices_gets_a_gpu_against_cpu_statement(run_copy):
    runs, timings = pd.read_csv(run_copy / "runs.csv"), pd.read_csv(run_copy / "timings.csv")
    torch_cpu = lambda f: (f["backend"] == "torch") & (f["device"] == "cpu") & (f["mode"] == "idiomatic")  # noqa: E731
    torch_gpu = (runs["backend"] == "torch") & (runs["device"] == "gpu") & (runs["mode"] == "idiomatic")
    gpu_runs = runs[torch_cpu(runs)].assign(device="gpu", device_name="Fixture GPU")
    gpu_runs["epoch_us_median"] /= 4
    gpu_timings = timings[torch_cpu(timings)].assign(device="gpu")
    gpu_timings["epoch_us"] /= 4
    pd.concat([runs[~torch_gpu], gpu_runs]).to_csv(run_copy / "runs.csv", index=False)
    pd.concat([timings, gpu_timings]).to_csv(run_copy / "timings.csv", index=False)

    report = write_report(run_copy).read_text(encoding="utf-8")

    line = next(s for s in report.splitlines() if "GPU vs CPU" in s)
    assert re.search(r"\*\*torch idiomatic, GPU vs CPU:\*\* the GPU takes 0\.250× the CPU's time per epoch "
                     r"\(significant, p=[\d.e-]+\)", line), line  # fmt: skip
    assert report.count("GPU vs CPU") == 1  # torch tuned has no GPU time: no statement


def methods(report: str) -> dict[tuple, list[str]]:
    """The methods table: (backend, device, mode, preset, role) -> its sentences."""
    found: dict[tuple, list[str]] = {}
    for row in table_rows(report, "### How each number was obtained"):
        found.setdefault(tuple(row[:5]), []).append(row[5])
    return found


def test_a_newer_schema_version_renders_anyway_with_one_warning_at_the_top(run_copy):
    runs = pd.read_csv(run_copy / "runs.csv")
    runs["schema_version"] = SCHEMA_VERSION + 1
    runs.to_csv(run_copy / "runs.csv", index=False)
    written = render_report(run_copy)
    assert len(written.warnings) == 1 and f"schema_version {SCHEMA_VERSION + 1}" in written.warnings[0]
    report = written.path.read_text(encoding="utf-8")
    assert report.splitlines()[2] == written.warnings[0]  # under the title, before anything else
    assert verdict(report)[("numpy", "cpu", "tuned")][3] == "fastest"  # and the numbers are still there
    assert render_report(write_fixture(run_copy)).warnings == ()  # this version's tables: no warning


def test_borrowed_convergence_is_marked_where_it_is_shown(fixture_run, rendered):
    runs = pd.read_csv(fixture_run / "runs.csv")
    lent = runs[runs["borrowed_from"].notna()]
    assert set(zip(lent["backend"], lent["device"], lent["mode"], lent["borrowed_from"])) == {
        ("keras", "cpu", "idiomatic", "tuned")
    }
    rows = verdict(rendered)
    success, epochs_to_solve, final_loss = borrowed = rows[("keras", "cpu", "idiomatic")][6:9]
    assert success.startswith("5/6 = ") and success.endswith(" (from tuned)")
    assert epochs_to_solve.endswith(" (from tuned)") and final_loss.endswith(" (from tuned)")
    assert rows[("keras", "cpu", "tuned")][6:9] == [c.removesuffix(" (from tuned)") for c in borrowed]
    assert not any("(from " in c for key, cells in rows.items() if key != ("keras", "cpu", "idiomatic") for c in cells)
    note = next(line for line in rendered.splitlines() if line.startswith("Borrowed convergence:"))
    assert "keras (cpu, idiomatic)" in note and "the tuned mode's seeds" in note


def test_how_each_number_was_obtained_is_written_from_the_columns(run_copy):
    runs = pd.read_csv(run_copy / "runs.csv")
    tuned = (runs["backend"] == "keras") & (runs["mode"] == "tuned") & (runs["role"] == "timing")
    runs.loc[tuned, ["epochs", "windows", "window_epochs", "replays"]] = [720, 24, 90, 2]
    stopped = runs[(runs["stopped_at_epoch"].notna())].iloc[0]
    lent = runs[runs["borrowed_from"].notna()].iloc[0]
    runs.to_csv(run_copy / "runs.csv", index=False)
    said = methods(write_report(run_copy).read_text(encoding="utf-8"))

    (timed,) = said[("keras", "cpu", "tuned", "matched", "timing")]
    assert timed == (
        "The whole training loop in one XLA-compiled tf.function; timed in 24 windows of 90 epochs (one fit(90) call "
        "each): 10 in the run; then on to all 720 epochs; then 14 more in 2 replays of the run (set up again from "
        "its initial weights, untimed)"
    )
    (short,) = said[("keras", "cpu", "idiomatic", "matched", "timing")]
    assert short.startswith(stopped["method"] + "; timed in 7 windows of 200 epochs")
    assert short.endswith(f"; stopped once solved at epoch {int(stopped['stopped_at_epoch'])} of 2000")
    (borrowed,) = said[("keras", "cpu", "idiomatic", "matched", "convergence")]
    assert borrowed.startswith("convergence from the tuned mode (The whole training loop in one XLA-compiled")
    assert f"whose seed-0 curve in this run matched this mode's to {lent['borrow_difference']:.1g} relative" in borrowed
    assert said[("torch", "cpu", "tuned", "matched", "convergence")] == [
        "torch.func computes the gradients and torch.compile fuses step and update; 2000 epochs"
    ]


def test_a_run_stopped_for_its_budget_says_so(run_copy):
    runs = pd.read_csv(run_copy / "runs.csv")
    runs.loc[runs["stopped_at_epoch"].notna(), "stop_reason"] = "budget"
    runs.to_csv(run_copy / "runs.csv", index=False)
    said = methods(write_report(run_copy).read_text(encoding="utf-8"))
    (short,) = said[("keras", "cpu", "idiomatic", "matched", "timing")]
    assert "; stopped at its time budget, unsolved, at epoch 800 of 2000" in short


def test_summarise_returns_plain_data_and_writes_nothing(run_copy):
    before = sorted(p.name for p in run_copy.iterdir())
    summary = summarise(load(run_copy))
    assert sorted(p.name for p in run_copy.iterdir()) == before
    assert isinstance(summary, Summary) and summary.preset == "matched"
    groups = {g.key: g for g in summary.groups}
    assert isinstance(groups[("numpy", "cpu", "tuned")], Group) and summary.fastest.key == ("numpy", "cpu", "tuned")
    stopped = groups[("keras", "cpu", "idiomatic")]
    assert stopped.epochs == 800 and stopped.borrowed_from == "tuned" and (stopped.solved, stopped.seeds) == (5, 6)
    assert stopped.success == wilson(5, 6) and stopped.versus.significant
    assert summary.curves.pairs[0].difference == max(p.difference for p in summary.curves.pairs)
    assert {t.what for t in summary.targets} >= {"keras tuned vs keras idiomatic", "torch tuned vs torch idiomatic"}
    assert summary.floor is None and summary.floor_names == floor_backends()


def test_an_older_run_with_an_uncompressed_curves_csv_still_renders(run_copy):
    pd.read_csv(run_copy / CURVES).to_csv(run_copy / "curves.csv", index=False)
    (run_copy / CURVES).unlink()
    report = write_report(run_copy).read_text(encoding="utf-8")
    assert "(runs.csv, timings.csv, curves.csv, env.json)" in report
    assert "![Loss curves](loss_curves.png)" in report and (run_copy / "loss_curves.png").exists()


def test_the_floor_and_the_tuned_targets_come_from_the_registry(run_copy, monkeypatch):
    extra = dataclasses.replace(REGISTRY["torch"], name="fake", tuned_target=0.5)
    floor = dataclasses.replace(REGISTRY["numba"], name="torch", floor=True, tuned_target=None)
    monkeypatch.setitem(REGISTRY, "fake", extra)
    monkeypatch.setitem(REGISTRY, "torch", floor)  # torch plays the floor: it has a time per epoch here
    report = write_report(run_copy).read_text(encoding="utf-8")
    assert "| fake tuned vs fake idiomatic | ≤ 0.5× | not measured (fake/cpu/tuned and fake/cpu/idiomatic" in report
    assert "torch tuned vs torch idiomatic" not in report
    runs = pd.read_csv(run_copy / "runs.csv")
    fastest_torch = runs.loc[(runs["backend"] == "torch") & (runs["role"] == "timing"), "epoch_us_median"].min()
    assert f"Compiled floor (torch, {sig(fastest_torch)} µs/epoch" in report  # the floor's fastest mode
    floor_rows = {tuple(r[:3]) for r in table_rows(report, "Compiled floor (torch")}
    assert ("numpy", "cpu", "tuned") in floor_rows and not any(k[0] == "torch" for k in floor_rows)
    assert "fake" in sweep_frameworks() and "torch" not in sweep_frameworks()


def test_importing_the_report_loads_no_plotting_or_statistics_library():
    code = (
        "import sys, xorbench.bench.report\n"
        "print(sorted(m for m in ('matplotlib', 'scipy', 'torch', 'tensorflow', 'numba') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
