"""README's headline table is rendered from a results folder, between marker comments, and the
committed README agrees with the committed results/."""

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


def test_the_headline_lists_every_timed_mode_fastest_first_with_the_tables_numbers(fixture_run):
    table = headline(fixture_run).splitlines()
    assert table[0].startswith("| backend (mode) | µs per epoch, matched preset (median; fastest window) |")
    assert table[0].endswith("| solved, 6 seeds |")
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]
    runs = pd.read_csv(fixture_run / "runs.csv")
    timing = runs[(runs["role"] == "timing") & (runs["preset"] == "matched")].sort_values("epoch_us_median")
    assert [r[0] for r in rows] == [f"{b} ({m})" for b, m in zip(timing["backend"], timing["mode"])]
    for row, (_, run) in zip(rows, timing.iterrows()):
        assert row[1] == f"{sig(run['epoch_us_median'])}; {sig(run['epoch_us_min'])}"
        assert row[2] == sig(run["import_s"] + run["first_epoch_s"])
    assert dict((r[0], r[3]) for r in rows)["keras (idiomatic)"] == "5/6 (from tuned)"


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
