"""A run folder holding a second full run's tables in rerun/: the report's reproducibility section and
README's sentence say how far each matched row moved between the runs (max/min), whether every row is
within 10%, and whether the order of rows by speed is the same, from the tables alone."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path

import pytest

from xorbench.bench.compare import rerun_of, spread, within, worst
from xorbench.bench.report import headline, write_report
from xorbench.bench.tables import CURVES

FIXTURE = runpy.run_path(str(Path(__file__).parent / "fixtures" / "make_fixture.py"))
write_fixture = FIXTURE["write_fixture"]
COMPACT = ("runs.csv", "timings.csv", "env.json", "summary.csv")  # what rerun/ holds: no curves
NUMPY_TUNED = ("numpy", "cpu", "tuned", "matched")
TORCH_TUNED = ("torch", "cpu", "tuned", "matched")  # 12.2 µs against numpy tuned's 12.0 in the fixture
KERAS_TUNED = ("keras", "cpu", "tuned", "matched")
KERAS_IDIOMATIC = ("keras", "cpu", "idiomatic", "matched")
SECTION = "## 10. Reproducibility: a second full run"


@pytest.fixture(scope="module")
def run_a(tmp_path_factory) -> Path:
    return write_fixture(tmp_path_factory.mktemp("a"))


def copied(run: Path, to: Path, names: tuple[str, ...], factors: dict[tuple, float]) -> Path:
    """A copy of run's tables whose rows' per-process µs per epoch are multiplied by their factor."""
    return FIXTURE["scaled_copy"](run, to, names, factors)


def with_rerun(run_a: Path, to: Path, factors: dict[tuple, float]) -> Path:
    """Run B (run_a's tables scaled by factors, curves too) holding run A, a day earlier, in rerun/."""
    out = copied(run_a, to, (*COMPACT, CURVES), factors)
    rerun = copied(run_a, out / "rerun", COMPACT, {})
    env = json.loads((rerun / "env.json").read_text())
    env.update(timestamp="2024-12-31T12:00:00+00:00", git_commit="f" * 40)
    (rerun / "env.json").write_text(json.dumps(env))
    return out


def section(report: str) -> str:
    text = report[report.index(SECTION) :]
    return text.split("\n## ", 1)[0]  # up to the next section


def section_rows(report: str) -> dict[tuple, list[str]]:
    lines = [line for line in section(report).splitlines() if line.startswith("| ")][1:]
    return {
        tuple(cells[:3]): cells[3:] for cells in ([c.strip() for c in line.strip("|").split("|")] for line in lines)
    }


def test_two_agreeing_runs_meet_the_target_with_the_worst_row_named(run_a, tmp_path):
    out = with_rerun(run_a, tmp_path / "b", {NUMPY_TUNED: 0.98, KERAS_IDIOMATIC: 0.97})
    rerun = rerun_of(out)
    assert len(rerun.rows) == 6 and within(rerun) == 6 and rerun.swaps == ()
    assert worst(rerun).key == KERAS_IDIOMATIC and spread(worst(rerun)) == pytest.approx(1 / 0.97)
    assert [r.b_us for r in rerun.rows] == sorted(r.b_us for r in rerun.rows)  # fastest in B first

    sentence = (
        "A second full run on the same CPU model agreed within 3.1% per row (worst: keras (idiomatic), max/min "
        "1.031), with the same order of rows by speed."
    )
    text = headline(out)
    run_line = text.split("\n\n")[-2]  # README's table says which run it is
    assert run_line.startswith("Measured by `") and "at commit 0123456789ab, 2025-01-01, on " in run_line
    assert text.endswith(f"\n\n{sentence}")
    report = write_report(out, figures=False).read_text(encoding="utf-8")
    text = section(report)
    assert "Run A (rerun/): 2024-12-31T12:00:00+00:00, commit ffffffffff" in text
    assert "Run B (this run): 2025-01-01T12:00:00+00:00, commit 0123456789abcdef" in text
    rows = section_rows(report)
    assert list(rows)[0] == ("numpy", "cpu", "tuned") and len(rows) == 6  # fastest in B first
    a_us, b_us, ratio, _, verdict = rows["numpy", "cpu", "tuned"]
    assert a_us.endswith("(n=5)") and ratio == "1.020" and verdict == "same within noise"
    assert rows["torch", "cpu", "tuned"][2] == "1.000" and rows["torch", "cpu", "tuned"][4] == "same within noise"
    assert "- Worst row: keras (cpu, idiomatic), max/min 1.031." in text
    assert "- Within 10%: 6 of 6 rows." in text and "- Order by speed: the same in both runs." in text
    assert f"- Target: met. {sentence}" in text


def test_a_row_off_by_30_percent_and_a_swapped_pair_miss_the_target(run_a, tmp_path):
    out = with_rerun(run_a, tmp_path / "b", {KERAS_TUNED: 1.3, NUMPY_TUNED: 1.05})
    rerun = rerun_of(out)
    assert within(rerun) == 5 and worst(rerun).key == KERAS_TUNED
    assert spread(worst(rerun)) == pytest.approx(1.3)
    [swap] = rerun.swaps
    assert (swap.first, swap.second) == (NUMPY_TUNED, TORCH_TUNED)  # numpy tuned faster in A, torch tuned in B

    sentence = (
        "A second full run on the same CPU model agreed within 10% on 5 of 6 rows (worst: keras (tuned), max/min "
        "1.300), with 1 pair of rows in the other order by speed (numpy (tuned) and torch (tuned), told apart in "
        "run B only)."
    )
    assert headline(out).endswith(sentence)
    text = section(write_report(out, figures=False).read_text(encoding="utf-8"))
    assert section_rows(text)["keras", "cpu", "tuned"][2] == "1.300"
    assert "- Worst row: keras (cpu, tuned), max/min 1.300." in text and "- Within 10%: 5 of 6 rows." in text
    order = re.search(r"- Order by speed: (.*)", text).group(1)
    assert order.startswith(
        "differs for 1 pair: numpy (cpu, tuned) is faster in A, torch (cpu, tuned) in B; torch (cpu, tuned) / "
        "numpy (cpu, tuned) is 1.03× ("
    )
    assert order.endswith(" in B: told apart in run B only.")
    assert f"- Target: missed. {sentence}" in text


def test_a_swap_one_run_tells_apart_is_named_so(run_a, tmp_path):
    out = with_rerun(run_a, tmp_path / "b", {KERAS_TUNED: 0.7})  # 21 µs: now faster than numpy idiomatic's 24
    [swap] = rerun_of(out).swaps
    assert (swap.first, swap.second) == (("numpy", "cpu", "idiomatic", "matched"), KERAS_TUNED)
    assert "numpy (idiomatic) and keras (tuned), told apart in run B only" in headline(out)


def test_without_a_usable_rerun_folder_the_section_says_why_and_readme_has_no_sentence(run_a, tmp_path):
    out = copied(run_a, tmp_path / "b", (*COMPACT, CURVES), {})
    assert "second full run" not in headline(out)
    text = section(write_report(out, figures=False).read_text(encoding="utf-8"))
    assert "not measured (no rerun/ folder with a second full run's summary.csv in" in text

    rerun = copied(run_a, out / "rerun", COMPACT, {})
    (rerun / "runs.csv").unlink()
    assert "second full run" not in headline(out)
    assert "not measured (" in section(write_report(out, figures=False).read_text(encoding="utf-8"))
    assert "no runs.csv" in rerun_of(out).why
