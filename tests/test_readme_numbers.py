"""README's headline table is rendered from a results folder's summary.csv, between marker comments, and
the committed README agrees with the committed results/."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pandas as pd
import pytest

from xorbench.bench.report import README_END, README_START, headline, sig, update_readme

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
write_fixture = runpy.run_path(str(Path(__file__).parent / "fixtures" / "make_fixture.py"))["write_fixture"]
BLOCK = re.compile(re.escape(README_START) + r"\n(.*?)\n" + re.escape(README_END), re.S)


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory) -> Path:
    return write_fixture(tmp_path_factory.mktemp("fixture"))


def table_of(text: str) -> list[str]:
    """The headline's table lines, below its verdict."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    return [line for line in lines[start:] if line.startswith("|")]


def test_the_headline_lists_every_timed_mode_fastest_first_with_summary_csvs_numbers(fixture_run):
    table = table_of(headline(fixture_run))
    assert table[0] == (
        "| backend (mode) | µs per epoch, matched preset (median over 5 processes; interval, its level) "
        "| start-up s (import + build + first epoch; 95% interval) | solved, 6 seeds |"
    )
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]
    summary = pd.read_csv(fixture_run / "summary.csv")
    timed = summary[(summary["preset"] == "matched") & summary["epoch_us"].notna()].sort_values("epoch_us")
    assert [r[0] for r in rows] == [f"{b} ({m})" for b, m in zip(timed["backend"], timed["mode"])]
    for row, (_, s) in zip(rows, timed.iterrows()):
        level = f"{s['epoch_us_ci_level']:.0%}"
        assert row[1] == f"{sig(s['epoch_us'])} ({sig(s['epoch_us_ci_low'])}–{sig(s['epoch_us_ci_high'])}, {level})"
        assert row[2] == f"{sig(s['startup_s'])} ({sig(s['startup_ci_low'])}–{sig(s['startup_ci_high'])})"
        lender = f" (from {s['borrowed_from']})" if isinstance(s["borrowed_from"], str) else ""
        assert row[3] == f"{int(s['solved'])}/{int(s['seeds'])}{lender}"
    assert dict((r[0], r[3]) for r in rows)["keras (idiomatic)"] == "5/6 (from tuned)"


def test_the_headline_s_verdict_is_computed_from_the_same_rows(fixture_run):
    """Three lines above the table, the report's own choices: the fastest per epoch (the table's first
    row), the quickest end to end at the matched preset's epochs (start-up + epochs × µs/epoch), and the
    epochs after which the fastest per epoch overtakes the quickest to start."""
    text = headline(fixture_run)
    verdict, rows = text.split("\n\n", 1)[0].splitlines(), table_of(text)[2:]
    summary = pd.read_csv(fixture_run / "summary.csv")
    timed = summary[(summary["preset"] == "matched") & summary["epoch_us"].notna()].sort_values("epoch_us")
    fast, first = timed.iloc[0], timed.loc[timed["startup_s"].idxmin()]
    assert verdict[0] == f"- **Fastest per epoch:** {rows[0].split('|')[1].strip()}, {sig(fast['epoch_us'])} µs."
    total = timed["startup_s"] + 2000 * timed["epoch_us"] * 1e-6
    best = timed.loc[total.idxmin()]
    assert f"{best['backend']} ({best['mode']}), {sig(total.min())} s" in verdict[1]
    payback = (fast["startup_s"] - first["startup_s"]) / ((first["epoch_us"] - fast["epoch_us"]) * 1e-6)
    assert verdict[2].endswith(f"after {sig(payback)} epochs.") and len(verdict) == 3


def test_the_headline_reads_summary_csv_and_computes_it_only_for_a_run_without_one(fixture_run, tmp_path):
    for name in ("runs.csv", "timings.csv", "summary.csv", "env.json"):
        (tmp_path / name).write_bytes((fixture_run / name).read_bytes())
    summary = pd.read_csv(tmp_path / "summary.csv")
    summary.loc[(summary["backend"] == "numpy") & (summary["mode"] == "tuned"), "epoch_us"] = 11.5
    summary.to_csv(tmp_path / "summary.csv", index=False)
    assert "| numpy (tuned) | 11.5 (" in headline(tmp_path)
    (tmp_path / "summary.csv").unlink()
    assert headline(tmp_path) == headline(fixture_run)


def test_a_run_timed_in_one_process_has_a_headline_without_intervals(fixture_run, tmp_path):
    runs = pd.read_csv(fixture_run / "runs.csv")
    runs = runs[~((runs["role"] == "timing") & (runs["preset"] == "matched") & (runs["process"] > 0))]
    runs.to_csv(tmp_path / "runs.csv", index=False)
    table = table_of(headline(tmp_path))
    assert "(median; one process: no interval)" in table[0]
    assert "–" not in "".join(table[2:])


def test_update_readme_replaces_only_the_marked_block_and_is_idempotent(fixture_run, tmp_path):
    readme = tmp_path / "README.md"
    before, after = "# xorbench\n\nIntro.\n\n", "\n\nAt 4 samples framework overhead is everything.\n"
    readme.write_text(f"{before}{README_START}\n| old | table |\n|---|---|\n{README_END}{after}", encoding="utf-8")

    assert update_readme(readme, fixture_run) is True
    text = readme.read_text(encoding="utf-8")
    assert text.startswith(before) and text.endswith(after)
    assert BLOCK.search(text).group(1) == headline(fixture_run)
    assert "| old | table |" not in text

    assert update_readme(readme, fixture_run) is False  # nothing to change the second time
    assert readme.read_text(encoding="utf-8") == text


def test_update_readme_refuses_a_readme_without_markers(fixture_run, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# xorbench\n", encoding="utf-8")
    with pytest.raises(ValueError, match="headline:start"):
        update_readme(readme, fixture_run)
    assert readme.read_text(encoding="utf-8") == "# xorbench\n"


def test_no_headline_from_a_folder_without_runs(tmp_path):
    with pytest.raises(ValueError, match="no runs.csv"):
        headline(tmp_path)


def test_readme_headline_is_the_committed_results():
    found = BLOCK.search(README.read_text(encoding="utf-8"))
    assert found, f"README.md's {README_START} has no matching {README_END}"
    assert found.group(1) == headline(ROOT / "results"), "run `xorbench report --out results --readme README.md`"
