"""The report renders from a run's tables alone, prints their numbers faithfully, decides its claims on
per-process values, never breaks on gaps, and refuses the tables of an older xorbench in one line."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from xorbench.backends import REGISTRY, floor_backends
from xorbench.bench import cli
from xorbench.bench.digest import summarise
from xorbench.bench.findings import Summary
from xorbench.bench.load import load
from xorbench.bench.report import FIGURES, render_report, sig, success_text, write_report
from xorbench.bench.stats import FEW, SAME, SLOWER, median_interval, per_call, wilson
from xorbench.bench.summary import KEY, Group
from xorbench.bench.sweep_stats import frameworks as sweep_frameworks
from xorbench.bench.tables import CURVES, SCHEMA_VERSION, curve_columns, curves_parquet, read_curves

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = runpy.run_path(str(Path(__file__).parent / "fixtures" / "make_fixture.py"))
write_fixture = FIXTURE["write_fixture"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The verdict's cells after backend, device, mode
US, RATIO, VERSUS, CALL, STARTUP, TO_ACCURACY_S, COLD, WARM, SUCCESS, TO_ACCURACY, TO_SOLVE, FINAL, MB = range(13)


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
    return {tuple(row[:3]): row[3:] for row in table_rows(report, "## Appendix B. Every measurement")}


def processes(runs: pd.DataFrame, key: tuple, preset: str = "matched") -> pd.DataFrame:
    backend, device, mode = key
    chosen = (runs.backend == backend) & (runs.device == device) & (runs["mode"] == mode) & (runs.preset == preset)
    return runs[chosen & (runs.role == "timing") & (runs.status == "ok")]


def test_report_renders_every_section_from_the_fixture(rendered):
    for heading in ("## 1. Verdict", "### More comparisons", "## 2. Loss curves", "## 3. The article, reproduced",
                    "## 4. Where the time goes", "### Memory", "### Threads", "## 5. Tuned modes",
                    "## 6. Environment", "## Appendix B. Every measurement",
                    "## Appendix C. How each number was obtained"):  # fmt: skip
        assert heading in rendered


def test_the_environment_says_how_long_the_run_took_and_where_the_time_went(rendered, run_copy):
    assert "| run took | 754 s (12.6 min) |" in rendered  # env.json's duration_s
    assert ("| time spent | timing processes 65 s; convergence and article jobs 331 s; costliest: keras/cpu "
            "(convergence and article jobs) 301 s, keras/cpu/tuned (timing processes) 60 s, numpy/cpu (convergence "
            "and article jobs) 30 s |") in rendered  # env.json's job_seconds, added up per kind  # fmt: skip
    env = json.loads((run_copy / "env.json").read_text())
    older = {k: v for k, v in env.items() if k not in ("duration_s", "job_seconds")}
    (run_copy / "env.json").write_text(json.dumps(older))
    text = write_report(run_copy, figures=False).read_text(encoding="utf-8")
    assert "| run took | not measured (not in env.json) |" in text
    assert "| time spent | not measured (not in env.json) |" in text


def test_every_figure_is_a_small_valid_png(fixture_run, rendered):
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", rendered)
    assert sorted(linked) == sorted(FIGURES)
    for name in linked:
        path = fixture_run / name
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert path.stat().st_size < 200_000
        height, width, _ = plt.imread(path).shape
        assert width >= 400 and height >= 200


def test_the_verdict_is_computed_as_medians_over_processes_with_their_intervals(fixture_run):
    runs = pd.read_csv(fixture_run / "runs.csv")
    table = pd.read_csv(fixture_run / "summary.csv").query("preset == 'matched'").set_index(KEY)
    summary = summarise(load(fixture_run))
    timed = [g for g in summary.groups if not processes(runs, g.key).empty]
    assert len(timed) >= 4
    for g in timed:
        timing = processes(runs, g.key)
        us = timing.epoch_us.to_numpy()
        assert g.us == pytest.approx(np.median(us)) and len(g.values) == len(us)
        inside = median_interval(us)
        assert g.us_ci == pytest.approx((inside.low, inside.high)) and g.us_ci_level == inside.coverage
        assert g.call_us == per_call(timing.call_us.to_numpy())[0]  # None: its interval holds 0
        assert g.startup_s == pytest.approx(timing.startup_s.median())
        assert g.peak_rss_mb == pytest.approx(timing.peak_rss_mb.median())
        solved, accurate = timing.time_to_solve_cold_s.dropna(), timing.time_to_accuracy_s.dropna()
        assert (g.tts_cold_s, g.tts_cold_n) == (pytest.approx(solved.median()), len(solved))
        assert (g.tta_cold_s, g.tta_cold_n) == (pytest.approx(accurate.median()), len(accurate))
        assert g.tta_cold_s < g.tts_cold_s  # every output on the right side of 0.5 comes first
        assert table.loc[g.key, "epoch_us"] == pytest.approx(g.us)  # summary.csv says the same
        seeds = runs[(runs.backend == g.key[0]) & (runs.device == g.key[1]) & (runs.role == "convergence")]
        seeds = seeds[seeds.status.isin(["ok", "diverged"]) & (seeds.preset == "matched")]
        own = seeds[seeds["mode"] == g.key[2]]  # else its backend's, trained on another mode
        shown, lender = (own, "") if not own.empty else (seeds, "/".join(sorted(set(seeds["mode"]))))
        assert (g.solved, g.seeds) == (int(shown.solved.sum()), len(shown)) and g.borrowed_from == lender
        epochs = shown.epoch_accurate.dropna()
        assert (g.epochs_to_accuracy, g.accurate) == (pytest.approx(epochs.median()), len(epochs))


def test_the_verdict_prints_the_computed_values(rendered, fixture_run):
    summary = summarise(load(fixture_run))
    rows = verdict(rendered)
    for g in (g for g in summary.groups if g.us_ci is not None):
        cells = rows[g.key]
        level = f", {g.us_ci_level:.0%}"  # the order-statistic interval's own level
        assert cells[US] == f"{sig(g.us)} ({sig(g.us_ci[0])}–{sig(g.us_ci[1])}{level}), {len(g.values)} processes"
        assert cells[CALL] == (sig(g.call_us) if g.call_us is not None else "not measured (below resolution)")
        assert cells[MB] == sig(g.peak_rss_mb)
        assert cells[STARTUP] == f"{sig(g.startup_s)} ({sig(g.startup_ci[0])}–{sig(g.startup_ci[1])})"
        cache = f", {g.tts_cold_cache} compile cache" if g.tts_cold_cache else ""
        assert cells[COLD] == f"{sig(g.tts_cold_s)} (n={g.tts_cold_n}{cache})"
        assert cells[TO_ACCURACY_S] == f"{sig(g.tta_cold_s)} (n={g.tta_cold_n})"
        mark = f" (from {g.borrowed_from})" if g.borrowed_from else ""
        assert cells[SUCCESS] == success_text(g.solved, g.seeds) + mark
        assert cells[TO_ACCURACY] == f"{g.epochs_to_accuracy:.0f} ({g.accurate}/{g.seeds} seeds){mark}"
    assert rows[("numpy", "cpu", "tuned")][VERSUS] == "fastest"


def test_claims_are_decided_on_the_interval_of_the_ratio_over_processes(rendered):
    rows = verdict(rendered)
    assert rows[("torch", "cpu", "tuned")][VERSUS] == "same within noise"  # 12.1 vs 12.0 µs, 2% noise
    assert rows[("keras", "cpu", "idiomatic")][VERSUS] == "slower"
    assert re.fullmatch(r"[\d,.]+× \([\d,.]+–[\d,.]+\)", rows[("keras", "cpu", "tuned")][RATIO])
    assert "Same as numpy (cpu, tuned) within noise (the ratio's interval holds 1): torch (cpu, tuned)" in rendered
    assert "p=" not in rendered and "Mann-Whitney" not in rendered  # windows are not independent repeats


def test_a_fake_slow_process_is_recovered_by_the_median_of_processes(fixture_run, rendered):
    group, slow, factor = FIXTURE["SLOW"]
    us = processes(pd.read_csv(fixture_run / "runs.csv"), group).set_index("process").epoch_us
    others = us.drop(slow)
    assert us[slow] > 4 * others.max()  # the fixture's busy-machine process
    cells = verdict(rendered)[group]
    median = float(cells[US].split(" ")[0])
    assert others.min() <= median <= others.max()  # where the four honest processes put it
    assert cells[US].split("–")[1].startswith(sig(us[slow]))  # and the interval owns up to the odd one
    assert cells[VERSUS] == "slower"  # still 2× the fastest, whatever one process did


def test_too_few_processes_make_no_claim(run_copy):
    runs = pd.read_csv(run_copy / "runs.csv")
    runs = runs[~((runs.role == "timing") & (runs.preset == "matched") & (runs.process >= 2))]
    runs.to_csv(run_copy / "runs.csv", index=False)
    rows = verdict(write_report(run_copy, figures=False).read_text(encoding="utf-8"))
    assert rows[("keras", "cpu", "idiomatic")][VERSUS] == "too few processes to tell (2 and 2; 3 each needed)"
    assert rows[("keras", "cpu", "idiomatic")][US].endswith(", 2 processes")


def test_a_run_from_before_time_to_accuracy_says_so_rather_than_never(run_copy):
    runs = pd.read_csv(run_copy / "runs.csv").drop(columns=["epoch_accurate", "time_to_accuracy_s"])
    runs[runs.preset != "classic"].to_csv(run_copy / "runs.csv", index=False)
    cells = verdict(write_report(run_copy, figures=False).read_text(encoding="utf-8"))[("numpy", "cpu", "tuned")]
    assert cells[TO_ACCURACY_S] == "not measured (runs.csv from before time_to_accuracy_s)"
    assert cells[TO_ACCURACY] == "not measured (runs.csv from before epoch_accurate)"


def test_wilson_interval_matches_the_textbook_value():
    low, high = wilson(5, 6)
    assert math.isclose(low, 0.4365, abs_tol=1e-4) and math.isclose(high, 0.9699, abs_tol=1e-4)
    assert wilson(0, 6)[0] == 0 and wilson(6, 6)[1] == 1


def test_largest_curve_difference_is_computed_from_the_curves_table(fixture_run, rendered):
    curves = read_curves(fixture_run).dropna().query("preset == 'matched'")
    wide = curves.pivot_table(index=["seed", "epoch"], columns=["backend", "device", "mode"], values="loss")
    largest = max(  # relative to series a, the first of the pair: bench/stats.py's one definition
        ((wide[a] - wide[b]).abs() / wide[a].abs()).max()
        for i, a in enumerate(wide.columns)
        for b in wide.columns[i + 1 :]
    )
    assert f"at the same seed and epoch: {largest:.3g}**" in rendered


def test_the_loss_figure_draws_only_the_seeds_every_series_has(run_copy):
    curves = read_curves(run_copy)
    torch_tuned = (curves["backend"] == "torch") & (curves["mode"] == "tuned")
    cut = curves[~torch_tuned | ((curves["seed"] < 3) & (curves["epoch"] < 400))]  # 3 seeds, 400 epochs
    (run_copy / CURVES).write_bytes(curves_parquet({column: cut[column].tolist() for column in cut.columns}))
    summary = summarise(load(run_copy))
    assert summary.curves.shared_seeds == (0, 1, 2)
    report = write_report(run_copy).read_text(encoding="utf-8")  # the sentence goes with the figure
    line = next(s for s in report.splitlines() if s.startswith("Drawn:"))
    assert line.startswith("Drawn: seeds 0, 1, 2, the seeds every series has")
    assert "torch (cpu, tuned) is drawn to epoch 380 only." in line


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


def test_memory_and_threads_are_shown_and_a_row_over_its_threads_is_flagged(fixture_run, rendered):
    runs = pd.read_csv(fixture_run / "runs.csv")
    memory = {tuple(r[:3]): r[3:] for r in table_rows(rendered, "### Memory")}
    torch = processes(runs, ("torch", "cpu", "idiomatic"))
    assert memory[("torch", "cpu", "idiomatic")] == [sig(torch[c].median()) for c in
                                                     ("rss_import_mb", "rss_build_mb", "peak_rss_mb")]  # fmt: skip
    threads = {tuple(r[:3]): r[3:] for r in table_rows(rendered, "### Threads")}
    assert threads[("torch", "cpu", "idiomatic")] == ["1", sig(torch.cpu_ratio.median()), "exceeds its 1 thread"]
    assert threads[("numpy", "cpu", "tuned")][2] == "within its threads"
    assert "**Threads:** CPU time exceeded wall time × threads by more than 0.25 for torch (cpu, idiomatic)" in rendered


def test_a_gpu_rows_device_memory_is_shown_beside_its_resident_memory(run_copy):
    runs = pd.read_csv(run_copy / "runs.csv")
    tuned = (runs.backend == "torch") & (runs["mode"] == "tuned") & (runs.role == "timing")
    runs.loc[tuned, "device_peak_mb"] = 12.5
    runs.to_csv(run_copy / "runs.csv", index=False)
    report = write_report(run_copy, figures=False).read_text(encoding="utf-8")
    peak = sig(processes(runs, ("torch", "cpu", "tuned")).peak_rss_mb.median())
    assert verdict(report)[("torch", "cpu", "tuned")][MB] == f"{peak} + 12.5 on the device"
    memory = {tuple(r[:3]): r[3:] for r in table_rows(report, "### Memory")}
    assert memory[("torch", "cpu", "tuned")][-1] == "12.5"
    assert memory[("numpy", "cpu", "tuned")][-1] == "not measured (not on a GPU)"


def test_torch_start_up_is_shown_with_a_cold_and_a_warm_compile_cache(fixture_run, rendered):
    runs = pd.read_csv(fixture_run / "runs.csv")
    tuned = processes(runs, ("torch", "cpu", "tuned"))
    rows = {tuple(r[:3]): r[3:] for r in table_rows(rendered, "### Start-up with a cold and a warm compile cache")}
    assert set(rows) == {("torch", "cpu", "idiomatic"), ("torch", "cpu", "tuned")}
    cold, warm = (tuned[tuned.compile_cache == c].startup_s.median() for c in ("cold", "warm"))
    assert rows[("torch", "cpu", "tuned")] == [sig(cold), sig(warm)] and cold > warm


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
    figures = missing == CURVES  # a full render first: the loss figure must not outlive the curves behind it
    write_report(run_copy, figures)
    (run_copy / missing).unlink()
    report = write_report(run_copy, figures).read_text(encoding="utf-8")
    assert expected in report
    assert not re.search(r"\bnan\b", report, re.IGNORECASE)
    if missing == CURVES:
        assert not (run_copy / "loss_curves.png").exists()
    if missing == "timings.csv":  # the claims need only runs.csv's per-process values
        assert verdict(report)[("keras", "cpu", "idiomatic")][VERSUS] == "slower"


def test_report_no_figures_writes_the_text_alone_and_keeps_the_figures_drawn_before(run_copy):
    write_report(run_copy)
    before = {p.name: p.read_bytes() for p in run_copy.glob("*.png")}
    assert before
    assert cli.main(["report", "--out", str(run_copy), "--no-figures"]) == 0
    assert {p.name: p.read_bytes() for p in run_copy.glob("*.png")} == before
    assert "![" not in (run_copy / "REPORT.md").read_text(encoding="utf-8")


def test_an_interrupted_render_leaves_the_old_report_and_every_figure_it_links(run_copy, monkeypatch):
    from xorbench.bench import report

    write_report(run_copy)
    before = {p.name: p.read_bytes() for p in run_copy.iterdir() if p.suffix in (".png", ".md")}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "render", interrupted)  # after the figures are drawn, before REPORT.md
    with pytest.raises(KeyboardInterrupt):
        render_report(run_copy)
    assert {p.name: p.read_bytes() for p in run_copy.iterdir() if p.suffix in (".png", ".md")}.keys() == before.keys()
    assert (run_copy / "REPORT.md").read_bytes() == before["REPORT.md"]


def test_a_figure_replaces_a_link_at_its_path_and_a_stale_figure_goes_once_the_report_is_written(run_copy, tmp_path):
    target = tmp_path / "elsewhere.png"
    target.write_bytes(b"precious")
    (run_copy / "loss_curves.png").symlink_to(target)
    (run_copy / "sweep.png").write_bytes(b"an older run's")  # the fixture has no sweep: not drawn now
    write_report(run_copy)
    assert target.read_bytes() == b"precious"
    drawn = run_copy / "loss_curves.png"
    assert not drawn.is_symlink() and drawn.read_bytes()[:8] == PNG_MAGIC
    assert not (run_copy / "sweep.png").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs to fill needs root (CI runs as root)")
def test_a_figure_written_on_a_full_disk_leaves_the_old_figure_whole(tmp_path):
    from xorbench.bench import figures

    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], check=True)
    try:
        old = disk / "epoch_time.png"
        old.write_bytes(PNG_MAGIC + b"old figure")
        (disk / "filler").write_bytes(b"x" * (64 * 1024 - 8192))  # a few KB left: less than a figure
        fig, axes = plt.subplots(figsize=(6, 4))
        axes.plot(np.random.default_rng(0).random(1000))
        with pytest.raises(OSError):
            figures.save(fig, old)
        assert old.read_bytes() == PNG_MAGIC + b"old figure"
        assert sorted(p.name for p in disk.iterdir()) == ["epoch_time.png", "filler"]
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_header_only_tables_render_as_not_measured(run_copy):
    for name in ("runs.csv", "timings.csv"):
        columns = pd.read_csv(run_copy / name, nrows=0).columns
        pd.DataFrame(columns=columns).to_csv(run_copy / name, index=False)
    (run_copy / CURVES).write_bytes(curves_parquet(curve_columns({})))  # a run's first save: no curve yet
    (run_copy / "env.json").write_text("{not json")
    report = write_report(run_copy, figures=False).read_text(encoding="utf-8")
    assert "not measured (runs.csv has no rows)" in report
    assert "not measured (env.json is not valid JSON (JSONDecodeError))" in report
    assert not any((run_copy / name).exists() for name in FIGURES)


def test_outputs_missing_from_runs_csv_say_so(run_copy):
    runs = pd.read_csv(run_copy / "runs.csv").drop(columns=["outputs"])
    runs.to_csv(run_copy / "runs.csv", index=False)
    report = write_report(run_copy, figures=False).read_text(encoding="utf-8")
    assert "not measured (runs.csv has no outputs column)" in report


def target_line(report: str, what: str) -> str:
    return next(line for line in report.splitlines() if line.startswith(f"| {what} |"))


def test_targets_are_decided_on_the_ratio_interval_and_one_process_only_on_the_medians(run_copy):
    runs = pd.read_csv(run_copy / "runs.csv")
    tuned = processes(runs, ("numpy", "cpu", "tuned"))
    bare = tuned.iloc[[0]].assign(mode="idiomatic", preset="article-bare", epoch_us=np.nan, epoch_us_median=40.0)
    pd.concat([runs, bare]).to_csv(run_copy / "runs.csv", index=False)
    report = write_report(run_copy, figures=False).read_text(encoding="utf-8")
    row = target_line(report, "NumPy tuned vs the article's own loop")
    ratio = tuned.epoch_us.median() / 40.0
    assert f"= {sig(ratio)}× |" in row  # the bare loop is one process: no interval
    assert row.endswith("| met on the medians (too few processes to decide on the interval) |")
    torch = target_line(report, "torch tuned vs torch idiomatic")
    assert torch.startswith(f"| torch tuned vs torch idiomatic | ≤ {REGISTRY['torch'].tuned_target:g}× | ")
    assert re.search(r"= [\d.]+× \([\d.]+–[\d.]+\) \| (met|missed) \|$", torch)  # decided on the interval
    assert target_line(report, "keras tuned vs keras idiomatic").startswith(
        "| keras tuned vs keras idiomatic | ≤ 0.01× |"
    )


def test_a_target_inside_the_interval_is_undecided(run_copy, monkeypatch):
    summary = summarise(load(run_copy))
    torch = next(t for t in summary.targets if t.what == "torch tuned vs torch idiomatic")
    inside = (torch.versus.low + torch.versus.high) / 2
    monkeypatch.setitem(REGISTRY, "torch", dataclasses.replace(REGISTRY["torch"], tuned_target=inside))
    report = write_report(run_copy, figures=False).read_text(encoding="utf-8")
    assert target_line(report, "torch tuned vs torch idiomatic").endswith(
        "| undecided (the 95% interval spans the target) |"
    )


def test_a_backend_timed_on_both_devices_gets_a_gpu_against_cpu_statement(run_copy):
    runs, timings = pd.read_csv(run_copy / "runs.csv"), pd.read_csv(run_copy / "timings.csv")
    torch_cpu = lambda f: (f["backend"] == "torch") & (f["device"] == "cpu") & (f["mode"] == "idiomatic")  # noqa: E731
    torch_gpu = (runs["backend"] == "torch") & (runs["device"] == "gpu") & (runs["mode"] == "idiomatic")
    gpu_runs = runs[torch_cpu(runs)].assign(device="gpu", device_name="Fixture GPU")
    gpu_runs[["epoch_us", "epoch_us_median"]] /= 4
    gpu_timings = timings[torch_cpu(timings)].assign(device="gpu")
    gpu_timings["epoch_us"] /= 4
    pd.concat([runs[~torch_gpu], gpu_runs]).to_csv(run_copy / "runs.csv", index=False)
    pd.concat([timings, gpu_timings]).to_csv(run_copy / "timings.csv", index=False)

    report = write_report(run_copy, figures=False).read_text(encoding="utf-8")

    line = next(s for s in report.splitlines() if "GPU vs CPU" in s)
    assert re.search(r"\*\*torch idiomatic, GPU vs CPU:\*\* the GPU is 4\.00× faster \([34]\.\d+–4\.\d+\) than the CPU "
                     r"per epoch \(faster\)\.", line), line  # fmt: skip
    assert report.count("GPU vs CPU") == 1  # torch tuned has no GPU time: no statement


def methods(report: str) -> dict[tuple, list[str]]:
    """The methods table: (backend, device, mode, preset, role) -> its sentences."""
    found: dict[tuple, list[str]] = {}
    for row in table_rows(report, "## Appendix C. How each number was obtained"):
        found.setdefault(tuple(row[:5]), []).append(row[5])
    return found


def test_a_newer_schema_version_renders_anyway_with_one_warning_at_the_top(run_copy):
    runs = pd.read_csv(run_copy / "runs.csv")
    runs["schema_version"] = SCHEMA_VERSION + 1
    runs.to_csv(run_copy / "runs.csv", index=False)
    written = render_report(run_copy, figures=False)
    assert len(written.warnings) == 1 and f"schema_version {SCHEMA_VERSION + 1}" in written.warnings[0]
    report = written.path.read_text(encoding="utf-8")
    assert report.splitlines()[2] == written.warnings[0]  # under the title, before anything else
    assert verdict(report)[("numpy", "cpu", "tuned")][VERSUS] == "fastest"  # and the numbers are still there
    assert render_report(write_fixture(run_copy), figures=False).warnings == ()  # this version's tables: no warning


def test_a_mode_without_seeds_of_its_own_shows_its_backends_marked_from_the_mode_that_trained_them(fixture_run,
                                                                                                rendered):  # fmt: skip
    seeds = pd.read_csv(fixture_run / "runs.csv").query("preset == 'matched' and role == 'convergence'")
    assert set(seeds.query("backend == 'keras' and device == 'cpu'")["mode"]) == {"tuned"}  # once per backend
    rows = verdict(rendered)
    success, to_accuracy, to_solve, final_loss = borrowed = rows[("keras", "cpu", "idiomatic")][SUCCESS : FINAL + 1]
    assert success.startswith("5/6 = ") and success.endswith(" (from tuned)")
    assert all(c.endswith(" (from tuned)") for c in (to_accuracy, to_solve, final_loss))
    assert rows[("keras", "cpu", "tuned")][SUCCESS : FINAL + 1] == [c.removesuffix(" (from tuned)") for c in borrowed]
    assert not any("(from " in c for key, cells in rows.items() if key != ("keras", "cpu", "idiomatic") for c in cells)
    text = " ".join(rendered.split())
    assert "Convergence is trained once per backend, on the mode that trains its seeds fastest" in text
    assert "Rows marked “from M” show mode M's seeds: keras (cpu, idiomatic) from tuned." in text


def test_how_each_number_was_obtained_is_written_from_the_columns(fixture_run, rendered):
    said = methods(rendered)
    (timed,) = said[("keras", "cpu", "tuned", "matched", "timing")]
    assert timed == (
        "The whole training loop in one XLA-compiled tf.function; timed in 5 fresh worker processes, started "
        "round-robin with the other rows'; each trained its seed until solved, from cold and then warm (4 of 5 "
        "solved within the epochs and the budget); then 6 windows per process of 50 and 400 epochs (one fit(W) call "
        "each), fitted with seconds = a + b·W"
    )
    (fit,) = said[("keras", "cpu", "idiomatic", "matched", "timing")]
    assert "; 2 of them trained their seed until solved, from cold and then warm (the others only started up" in fit
    assert ("keras", "cpu", "idiomatic", "matched", "convergence") not in said  # keras trains its seeds on tuned
    assert said[("torch", "cpu", "tuned", "matched", "convergence")] == [
        "torch.func computes the gradients and torch.compile fuses step and update; 2000 epochs"
    ]


def test_an_older_folder_is_refused_with_one_line_that_says_how_to_regenerate_it(run_copy, capsys):
    runs = pd.read_csv(run_copy / "runs.csv")
    runs.assign(schema_version=SCHEMA_VERSION - 1).to_csv(run_copy / "runs.csv", index=False)
    before = (run_copy / "REPORT.md").read_bytes() if (run_copy / "REPORT.md").exists() else None
    assert cli.main(["report", "--out", str(run_copy)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"runs.csv is from an older xorbench (schema_version {SCHEMA_VERSION - 1}; this one reads" in line
    assert f"rerun `xorbench run --out {run_copy}`" in line
    assert ((run_copy / "REPORT.md").read_bytes() if (run_copy / "REPORT.md").exists() else None) == before
    assert cli.main(["compare", str(run_copy), str(run_copy)]) == 2
    assert "older xorbench" in capsys.readouterr().err


def test_the_committed_results_render(tmp_path):
    results = ROOT / "results"
    for path in results.iterdir():
        if path.suffix in (".csv", ".gz", ".json"):
            shutil.copy(path, tmp_path / path.name)
    report = write_report(tmp_path, figures=False).read_text(encoding="utf-8")
    assert "## 1. Verdict" in report and not re.search(r"\b(nan|none)\b", report, re.IGNORECASE)


def test_summarise_returns_plain_data_and_writes_nothing(run_copy):
    before = sorted(p.name for p in run_copy.iterdir())
    summary = summarise(load(run_copy))
    assert sorted(p.name for p in run_copy.iterdir()) == before
    assert isinstance(summary, Summary) and summary.preset == "matched"
    groups = {g.key: g for g in summary.groups}
    assert isinstance(groups[("numpy", "cpu", "tuned")], Group) and summary.fastest.key == ("numpy", "cpu", "tuned")
    borrower = groups[("keras", "cpu", "idiomatic")]
    assert borrower.processes == 5 and borrower.borrowed_from == "tuned" and (borrower.solved, borrower.seeds) == (5, 6)
    assert (borrower.tts_cold_n, borrower.tts_warm_n) == (2, 2)  # model.fit solved in two processes only
    assert borrower.success == wilson(5, 6) and borrower.versus.verdict == SLOWER
    assert groups[("torch", "cpu", "tuned")].versus.verdict == SAME
    assert FEW not in {g.versus.verdict for g in summary.groups if g.versus}
    assert summary.curves.pairs[0].difference == max(p.difference for p in summary.curves.pairs)
    assert {t.what for t in summary.targets} >= {"keras tuned vs keras idiomatic", "torch tuned vs torch idiomatic"}
    assert summary.floor is None and summary.floor_names == floor_backends()


def test_the_floor_and_the_tuned_targets_come_from_the_registry(run_copy, monkeypatch):
    extra = dataclasses.replace(REGISTRY["torch"], name="fake", tuned_target=0.5)
    floor = dataclasses.replace(REGISTRY["numba"], name="torch", floor=True, tuned_target=None)
    monkeypatch.setitem(REGISTRY, "fake", extra)
    monkeypatch.setitem(REGISTRY, "torch", floor)  # torch plays the floor: it has a time per epoch here
    report = write_report(run_copy, figures=False).read_text(encoding="utf-8")
    assert "| fake tuned vs fake idiomatic | ≤ 0.5× | not measured (fake/cpu/tuned and fake/cpu/idiomatic" in report
    assert "torch tuned vs torch idiomatic" not in report
    runs = pd.read_csv(run_copy / "runs.csv")
    fastest_torch = min(processes(runs, ("torch", "cpu", m)).epoch_us.median() for m in ("idiomatic", "tuned"))
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


def test_a_process_whose_windows_resolved_no_per_epoch_cost_is_left_out_and_counted(run_copy):
    """b = 0 in a + b·W (longer windows no slower) is no measurement: not a 0 µs/epoch in the median."""
    runs = pd.read_csv(run_copy / "runs.csv")
    tuned = processes(runs, ("torch", "cpu", "tuned"))
    runs.loc[tuned.index[0], "epoch_us"] = 0.0
    runs.to_csv(run_copy / "runs.csv", index=False)
    group = next(g for g in summarise(load(run_copy)).groups if g.key == ("torch", "cpu", "tuned"))
    assert group.unresolved == 1 and len(group.values) == len(tuned) - 1 == group.processes - 1
    assert group.us == pytest.approx(tuned.epoch_us.iloc[1:].median())
    assert (
        f"{len(tuned) - 1} processes (1 more resolved no per-epoch cost)"
        in write_report(run_copy, figures=False).read_text()
    )
    from xorbench.bench.report import headline
    from xorbench.bench.summary import write_summary

    write_summary(run_copy)
    summary = pd.read_csv(run_copy / "summary.csv")
    assert summary.query("backend == 'torch' and mode == 'tuned'")["unresolved"].max() == 1
    row = next(line for line in headline(run_copy).splitlines() if line.startswith("| torch (tuned) |"))
    assert f"; {len(tuned) - 1} of {len(tuned)} processes resolved a per-epoch cost |" in row


def test_each_framework_s_modes_are_compared_with_its_idiomatic_mode(run_copy):
    runs = pd.read_csv(run_copy / "runs.csv")
    ladders = {ladder[0].group.key[:2]: ladder for ladder in summarise(load(run_copy)).ladders}
    torch = ladders["torch", "cpu"]
    assert [s.group.key[2] for s in torch] == [m for m in ("idiomatic", "compiled", "tuned") if m in
                                                {s.group.key[2] for s in torch}]  # fmt: skip
    assert torch[0].group.key[2] == "idiomatic" and torch[0].versus is None
    tuned = next(s for s in torch if s.group.key[2] == "tuned")
    ratio = (
        processes(runs, ("torch", "cpu", "tuned")).epoch_us.median()
        / processes(runs, ("torch", "cpu", "idiomatic")).epoch_us.median()
    )
    assert tuned.versus.ratio == pytest.approx(ratio) and tuned.versus.low <= ratio <= tuned.versus.high
    report = write_report(run_copy, figures=False).read_text(encoding="utf-8")
    expected = f"| {sig(tuned.versus.ratio)}× ({sig(tuned.versus.low)}–{sig(tuned.versus.high)}): faster |"
    assert any(line.startswith("| torch | cpu | tuned | ") and line.endswith(expected) for line in report.splitlines())


def test_model_fit_on_each_keras_backend_is_compared_with_keras_on_tensorflow(run_copy):
    runs = pd.read_csv(run_copy / "runs.csv")
    fit = runs[(runs.backend == "keras") & (runs["mode"] == "idiomatic")]
    on_jax = fit.assign(backend="keras-jax", epoch_us=fit.epoch_us * 0.03, epoch_us_median=fit.epoch_us_median * 0.03)
    pd.concat([runs, on_jax]).to_csv(run_copy / "runs.csv", index=False)
    fits = {s.group.key[:2]: s for s in summarise(load(run_copy)).keras_fits}
    assert set(fits) == {("keras", "cpu"), ("keras-jax", "cpu")} and fits["keras", "cpu"].versus is None
    versus = fits["keras-jax", "cpu"].versus
    assert versus.ratio == pytest.approx(0.03) and versus.verdict == "faster"
    report = write_report(run_copy, figures=False).read_text(encoding="utf-8")
    assert re.search(r"^\| keras-jax \(jax\) \| cpu \| idiomatic \| .* \| 0\.0300× \(", report, re.M)


def test_the_first_screen_holds_the_choice_and_a_compact_table_fastest_first(rendered):
    """Issue 25: REPORT.md's first 40 lines answer "which framework?": the statements, then a table of at
    most 8 columns, one row per timed backend and mode, fastest per epoch first."""
    first = rendered.splitlines()[:40]
    assert "## 1. Verdict (matched preset)" in first
    assert any(line.startswith("- **Fastest per epoch:**") for line in first)
    header = next(line for line in first if line.startswith("| backend (mode) |"))
    assert len(header.strip("|").split("|")) <= 8
    rows = table_rows(rendered, "## 1. Verdict")
    us = [float(row[1].split(" ")[0].replace(",", "")) for row in rows]
    timed = [cells for cells in verdict(rendered).values() if not cells[0].startswith("not measured")]
    assert us == sorted(us) and len(rows) == len(timed)
    assert ("solved seeds" in header) is not ("Every row solved " in rendered)  # a constant column is said once
    assert rows[0][2] == "fastest" and all(re.match(r"[\d,.]+× (slower|faster) \(", row[2]) for row in rows[1:])
