"""The report's classic section (Rumelhart, Hinton & Williams, 1986): per backend and mode the share of
seeds converged with its Wilson interval and the epochs to converge, computed from runs.csv; borrowed
rows marked; whether the backends converged alike, computed; the curve agreement by the matched
preset's code; the paper's figures beside, as quoted text; and "not measured" without classic rows."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from xorbench.bench import figures
from xorbench.bench.digest import summarise
from xorbench.bench.load import load
from xorbench.bench.report import success_text, write_report
from xorbench.bench.sections import PAPER_SWEEPS
from xorbench.bench.stats import relative_difference, wilson
from xorbench.bench.tables import read_curves

FIXTURE = runpy.run_path(str(Path(__file__).parent / "fixtures" / "make_fixture.py"))
HEADING = "## 9. The classic experiment (Rumelhart, Hinton & Williams, 1986)"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SEEDS, CONVERGED, EPOCHS, TO_CONVERGE = range(4)  # the cells after backend, device, mode


def section(report: str) -> str:
    text = report[report.index(HEADING) :]
    return text.split("\n## ", 1)[0]  # up to the next section


def classic_table(report: str) -> dict[tuple, list[str]]:
    """The section's first table: (backend, device, mode) -> the other cells."""
    text = section(report)
    start = text.index("\n|") + 1
    lines = text[start:].split("\n\n", 1)[0].splitlines()  # the first table: its lines up to a blank one
    body = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines[2:]]
    return {tuple(row[:3]): row[3:] for row in body}


def classic_seeds(runs: pd.DataFrame, key: tuple) -> pd.DataFrame:
    backend, device, mode = key
    chosen = (runs.backend == backend) & (runs.device == device) & (runs["mode"] == mode)
    return runs[chosen & (runs.preset == "classic") & (runs.role == "convergence")]


def with_runs(folder: Path, change) -> str:
    """The report of folder after `change` edited its runs.csv."""
    runs = pd.read_csv(folder / "runs.csv")
    change(runs).to_csv(folder / "runs.csv", index=False)
    return write_report(folder, figures=False).read_text(encoding="utf-8")


def test_each_mode_shows_its_share_converged_with_the_wilson_interval(fixture_run, rendered):
    runs = pd.read_csv(fixture_run / "runs.csv")
    rows = classic_table(rendered)
    assert set(rows) == {*FIXTURE["CLASSIC_KEYS"], FIXTURE["CLASSIC_SKIPPED"]}
    for key in FIXTURE["CLASSIC_KEYS"]:
        seeds = classic_seeds(runs, key)
        converged = int(seeds.epoch_accurate.notna().sum())
        assert (len(seeds), converged) == (5, 4)  # seed 3 never converges
        assert rows[key][SEEDS] == "5"
        assert rows[key][CONVERGED] == success_text(converged, len(seeds)) == "4/5 = 80% (38%–96%)"
        low, high = wilson(4, 5)
        assert (round(100 * low), round(100 * high)) == (38, 96)
        assert rows[key][EPOCHS] == f"{FIXTURE['CLASSIC_EPOCHS']:,}"  # what the unconverged seed trained


def test_epochs_to_converge_are_the_median_and_range_over_the_converged_seeds(fixture_run, rendered):
    epochs = sorted(FIXTURE["CLASSIC_CONVERGED"].values())
    expected = f"{np.median(epochs):.0f} ({epochs[0]:,}–{epochs[-1]:,})"
    assert expected == "754 (455–1,480)"
    for key in FIXTURE["CLASSIC_KEYS"]:
        assert classic_table(rendered)[key][TO_CONVERGE] == expected


def test_a_skipped_row_says_why(rendered):
    assert classic_table(rendered)[FIXTURE["CLASSIC_SKIPPED"]] == ["not measured (skipped)"] * 4


def test_a_run_whose_seeds_all_converged_says_so_instead_of_a_limit(run_copy):
    report = with_runs(run_copy, lambda runs: runs[~((runs.preset == "classic") & (runs.seed == 3))])
    cells = classic_table(report)[("numpy", "cpu", "tuned")]
    assert cells[CONVERGED].startswith("4/4 = 100% (")
    assert cells[EPOCHS] == "every seed converged; the longest run trained 1,500"


def test_without_classic_rows_the_section_is_not_measured(run_copy):
    write_report(run_copy)  # a full render first: its classic figure must not outlive the rows behind it
    report = with_runs(run_copy, lambda runs: runs[runs.preset != "classic"])
    assert section(report).splitlines()[2] == (
        "not measured (no classic-preset runs in runs.csv; run `xorbench run --preset classic`)"
    )
    assert (run_copy / figures.CLASSIC).exists()  # a text-only render keeps the figures (--no-figures)
    write_report(run_copy)  # one that draws deletes the figure its rows no longer back
    assert not (run_copy / figures.CLASSIC).exists()
    rest = report.replace(HEADING, "").replace("no classic-preset runs", "").replace("--preset classic", "")
    assert "classic" not in rest.replace(str(run_copy), "")  # the folder's own name may say classic


def test_the_figure_is_a_small_valid_png_linked_from_the_section(fixture_run, rendered):
    assert f"![Epochs to converge per seed]({figures.CLASSIC})" in section(rendered)
    path = fixture_run / figures.CLASSIC
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size < 200_000
    height, width, _ = plt.imread(path).shape
    assert width >= 400 and height >= 200


def test_ecdfs_that_coincide_are_said_to_coincide(rendered):
    said = next(line for line in section(rendered).splitlines() if "ECDF" in line)
    assert said.startswith("**The ECDFs coincide:** on each of the 5 seeds that all 4 backends and modes trained")


def test_ecdfs_that_differ_say_by_how_much(run_copy):
    def shift(runs: pd.DataFrame) -> pd.DataFrame:
        torch = (runs.backend == "torch") & (runs["mode"] == "tuned") & (runs.preset == "classic")
        runs.loc[torch & (runs.seed == 0), "epoch_accurate"] += 3
        runs.loc[torch & (runs.seed == 3), "epoch_accurate"] = 4000  # converges where the others do not
        return runs

    said = next(line for line in section(with_runs(run_copy, shift)).splitlines() if "ECDF" in line)
    assert said.startswith("**The ECDFs differ:** on 2 of the 5 seeds that all 4 backends and modes trained")
    assert "by up to 3 epochs (seed 0)" in said
    assert "(Kolmogorov–Smirnov D) is 0.2, between " in said and "torch (cpu, tuned)" in said


def test_the_classic_curve_agreement_is_computed_from_the_classic_curves_only(fixture_run, rendered):
    curves = read_curves(fixture_run).query("preset == 'classic'")
    wide = curves.pivot_table(index=["seed", "epoch"], columns=["backend", "device", "mode"], values="loss")
    largest = max(
        np.nanmax(relative_difference(wide[a].to_numpy(), wide[b].to_numpy()))
        for i, a in enumerate(wide.columns)
        for b in wide.columns[i + 1 :]
    )
    classic = summarise(load(fixture_run)).classic
    assert classic.curves.pairs[0].difference == pytest.approx(largest)
    assert f"at the same seed and epoch: {largest:.3g}**" in section(rendered)
    assert len(classic.curves.pairs) == 6  # four modes of their own: the borrower has no classic curve


def test_the_paper_is_quoted_beside_the_measured_figures_with_the_deviation(rendered):
    text = section(rendered)
    row = next(line for line in text.splitlines() if line.startswith("| epochs to converge |"))
    assert "median 754 (range 455–1,480), every backend and mode" in row
    assert f"{PAPER_SWEEPS} sweeps at η = 0.5 (p. 331)" in row and "one hidden unit plus direct" in row
    assert "| step size | lr 0.5 on ½·MSE, the step of η = 0.125 on the paper's E |" in text  # from runs.csv's lr
    assert (
        "| seeds not converged | 1 of 5 within 5,000 epochs, every backend and mode |" in text
        and "(pp. 331–332)" in text
    )
    assert "(p. 330)" in text and "280 − 33·log2(H)" in text and "(p. 333)" in text
    assert "a step 4× shorter than the 558-sweep run's (whose η = 0.5 is lr 2.0 here)" in text
    assert "Source: D. E. Rumelhart, G. E. Hinton and R. J. Williams" in text and "pp. 318–362" in text


def test_the_methods_table_has_one_line_per_classic_mode(rendered):
    lines = [line for line in rendered.splitlines() if "| classic | convergence |" in line]
    assert len(lines) == 4  # one per mode that trained seeds; the skipped row has no method
    own = next(line for line in lines if line.startswith("| numpy | cpu | tuned |"))
    assert own.endswith("; each seed trained until every output lay on the right side of 0.5, 500–5,000 epochs |")
