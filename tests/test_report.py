"""The report renders from a run's tables alone, prints their numbers faithfully, and never breaks on gaps."""

from __future__ import annotations

import math
import re
import runpy
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from xorbench.bench.report import FIGURES, sig, success_text, wilson, write_report

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
    for name in ("runs.csv", "timings.csv", "curves.csv", "env.json"):
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
        assert cells[6] == success_text(int(seeds.solved.sum()), len(seeds))
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
    curves = pd.read_csv(fixture_run / "curves.csv").dropna()
    wide = curves.pivot_table(index=["seed", "epoch"], columns=["backend", "device", "mode"], values="loss")
    largest = max(
        ((wide[a] - wide[b]).abs() / wide[[a, b]].max(axis=1)).max()
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
        ("curves.csv", "not measured (no curves.csv in this run)"),
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
    if missing == "curves.csv":
        assert not (run_copy / "loss_curves.png").exists()
    if missing == "timings.csv":
        assert verdict(report)[("keras", "cpu", "idiomatic")][3] == "not measured (no timings.csv in this run)"


def test_header_only_tables_render_as_not_measured(run_copy):
    for name in ("runs.csv", "timings.csv", "curves.csv"):
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
    assert "Keras tuned vs `model.fit` | ≤ 0.01× | not measured" in report


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
