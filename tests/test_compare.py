"""`xorbench compare A B`: per row B/A of µs per epoch with its interval over processes and a verdict;
exit 0; 1 with --fail-above when a row is slower beyond the threshold and the noise, errored in B, is
timed in A but not in B, or has too few processes to decide (one line each); 2 for a bad folder."""

from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from xorbench.bench.compare import compare, main, render
from xorbench.bench.stats import FASTER, FEW, SAME, SLOWER
from xorbench.bench.summary import write_summary
from xorbench.bench.tables import CURVES

FIXTURE = runpy.run_path(str(Path(__file__).parent / "fixtures" / "make_fixture.py"))
write_fixture = FIXTURE["write_fixture"]
NUMPY_TUNED = ("numpy", "cpu", "tuned", "matched")
TORCH_IDIOMATIC = ("torch", "cpu", "idiomatic", "matched")


@pytest.fixture(scope="module")
def run_a(tmp_path_factory) -> Path:
    """The fixture run without its error rows: a run --fail-above can pass."""
    run = write_fixture(tmp_path_factory.mktemp("a"))
    edit_runs(run, lambda runs: runs[runs.status != "error"])
    return run


def edit_runs(run: Path, change) -> Path:
    """run's runs.csv changed by change(DataFrame) -> DataFrame, and its summary.csv written anew from it."""
    runs = pd.read_csv(run / "runs.csv")
    change(runs).to_csv(run / "runs.csv", index=False)
    write_summary(run)
    return run


def copy(run: Path, to: Path) -> Path:
    to.mkdir()
    for name in ("runs.csv", "timings.csv", CURVES, "env.json", "summary.csv"):
        shutil.copy(run / name, to / name)
    return to


def scaled(run: Path, to: Path, factors: dict[tuple, float]) -> Path:
    """A copy of run whose rows' per-process µs per epoch are multiplied by their factor."""
    return FIXTURE["scaled_copy"](run, to, ("runs.csv", "timings.csv", CURVES, "env.json", "summary.csv"), factors)


def with_tight_row(run: Path, to: Path, factor: float) -> Path:
    """numpy tuned's five processes at 10.00 .. 10.04 µs (times factor): a spread of 0.4%."""
    copy(run, to)
    runs = pd.read_csv(to / "runs.csv")
    chosen = (
        (runs.backend == "numpy") & (runs["mode"] == "tuned") & (runs.role == "timing") & (runs.preset == "matched")
    )
    runs.loc[chosen, "epoch_us"] = [factor * (10.0 + 0.01 * p) for p in runs.loc[chosen, "process"]]
    runs.to_csv(to / "runs.csv", index=False)
    write_summary(to)
    return to


def test_a_run_against_itself_is_the_same_within_noise_everywhere(run_a, capsys):
    rows = compare(run_a, run_a)
    matched = [r for r in rows if r.key[3] == "matched"]
    assert {r.key for r in matched} >= {NUMPY_TUNED, TORCH_IDIOMATIC} and len(matched) == 6
    assert {r.versus.verdict for r in matched} == {SAME}
    assert all(r.versus.ratio == 1.0 and r.versus.low < 1 < r.versus.high for r in matched)
    assert {r.versus.verdict for r in rows if r.key[3] == "article"} == {FEW}  # one process each: no claim
    assert main(run_a, run_a, 0.0) == 0
    out = capsys.readouterr().out
    assert "B/A (interval)" in out and "too few processes (1 and 1): no claim" in out


def test_slower_and_faster_rows_are_called_so(run_a, tmp_path):
    run_b = scaled(run_a, tmp_path / "b", {NUMPY_TUNED: 1.5, TORCH_IDIOMATIC: 0.5})
    rows = {r.key: r for r in compare(run_a, run_b)}
    assert rows[NUMPY_TUNED].versus.verdict == SLOWER and rows[NUMPY_TUNED].versus.ratio == pytest.approx(1.5)
    assert rows[TORCH_IDIOMATIC].versus.verdict == FASTER and rows[TORCH_IDIOMATIC].versus.ratio == pytest.approx(0.5)
    assert rows["keras", "cpu", "tuned", "matched"].versus.verdict == SAME
    table = render(list(rows.values()))
    line = next(s for s in table.splitlines() if s.startswith("numpy    cpu     tuned"))
    assert line.endswith("slower") and "1.50× (" in line


def test_fail_above_exits_1_only_beyond_both_the_threshold_and_the_noise(run_a, tmp_path, capsys):
    run_b = scaled(run_a, tmp_path / "b", {NUMPY_TUNED: 1.5, TORCH_IDIOMATIC: 0.5})
    assert main(run_a, run_b, None) == 0  # no threshold: report only
    assert main(run_a, run_b, 10.0) == 1  # 50% slower, beyond the noise
    assert capsys.readouterr().err == (
        "xorbench: --fail-above 10: numpy/cpu/tuned/matched: 1.50× slower than A, beyond the noise and 10%\n"
    )
    assert main(run_a, run_b, 60.0) == 0  # 50% < 60%
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("numpy    cpu     tuned"))
    assert line.endswith("slower")  # the verdict says what the noise allows, whatever the threshold
    assert main(run_b, run_a, 10.0) == 1  # the other way round numpy is faster, torch slower ...
    assert main(run_b, run_a, 150.0) == 0  # ... by 2×: within a 150% threshold


def test_a_slowdown_is_called_only_beyond_the_minimum_effect_and_fails_only_a_smaller_threshold(run_a, tmp_path):
    tight_a = with_tight_row(run_a, tmp_path / "a", 1.0)
    small, tight_b = with_tight_row(run_a, tmp_path / "s", 1.03), with_tight_row(run_a, tmp_path / "b", 1.08)
    assert next(r for r in compare(tight_a, small) if r.key == NUMPY_TUNED).versus.verdict == SAME  # under 5%
    assert next(r for r in compare(tight_a, small, 0.02) if r.key == NUMPY_TUNED).versus.verdict == SLOWER
    row = next(r for r in compare(tight_a, tight_b) if r.key == NUMPY_TUNED)
    assert row.versus.verdict == SLOWER and row.versus.low > 1.05
    assert main(tight_a, tight_b, 10.0) == 0  # 8% is beyond the noise and the minimum effect, but under 10%
    assert main(tight_a, tight_b, 2.0) == 1


def test_noise_alone_never_fails(run_a, tmp_path):
    run_b = scaled(run_a, tmp_path / "b", {("torch", "cpu", "tuned", "matched"): 1.01})  # within its 2% noise
    assert main(run_a, run_b, 0.0) == 0


def test_rows_only_one_run_has_are_listed_not_compared(run_a, tmp_path, capsys):
    run_b = copy(run_a, tmp_path / "b")
    runs = pd.read_csv(run_b / "runs.csv")
    runs[runs.backend != "keras"].to_csv(run_b / "runs.csv", index=False)
    write_summary(run_b)
    assert main(run_a, run_b, None) == 0
    out = capsys.readouterr().out
    assert "only in A: keras/cpu/idiomatic/article, keras/cpu/idiomatic/matched, keras/cpu/tuned/matched" in out


def test_fail_above_fails_on_each_row_that_errored_in_b_in_one_line(run_a, tmp_path, capsys):
    def crash(runs):
        chosen = (runs.backend == "numpy") & (runs["mode"] == "tuned") & (runs.role == "timing") & (runs.process == 0)
        runs.loc[chosen, ["status", "reason"]] = ["error", "worker crashed (exit code -9)"]
        chosen = (
            (runs.backend == "torch")
            & (runs.device == "cpu")
            & (runs["mode"] == "idiomatic")
            & (runs.role == "convergence")
        )
        runs.loc[chosen, ["status", "reason"]] = ["error", "worker timed out after 300 s"]
        return runs

    run_b = edit_runs(copy(run_a, tmp_path / "b"), crash)
    assert main(run_a, run_b, None) == 0  # no threshold: report only
    capsys.readouterr()
    assert main(run_a, run_b, 50.0) == 1
    assert capsys.readouterr().err.splitlines() == [
        "xorbench: --fail-above 50: numpy/cpu/tuned/matched: 1 row errored in B (worker crashed (exit code -9))",
        "xorbench: --fail-above 50: torch/cpu/idiomatic/matched: 6 rows errored in B (worker timed out after 300 s)",
    ]


def test_fail_above_fails_on_a_row_timed_in_a_and_missing_or_untimed_in_b(run_a, tmp_path, capsys):
    def untimed(runs):
        chosen = (runs.backend == "torch") & (runs["mode"] == "tuned") & (runs.role == "timing")
        runs.loc[chosen, ["status", "reason"]] = ["skipped", "not timed today"]
        return runs[runs.backend != "keras"]

    run_b = edit_runs(copy(run_a, tmp_path / "b"), untimed)
    assert main(run_a, run_b, 50.0) == 1
    lines = capsys.readouterr().err.splitlines()
    assert "xorbench: --fail-above 50: keras/cpu/tuned/matched: timed in A, missing from B" in lines
    assert "xorbench: --fail-above 50: torch/cpu/tuned/matched: timed in A, not timed in B" in lines
    assert len(lines) == 4  # keras idiomatic (matched and article) and tuned; torch tuned: one line each


def test_fail_above_fails_when_too_few_processes_leave_a_slowdown_undecided(run_a, tmp_path, capsys):
    """Two --quick runs (2 processes each) and a 3× slowdown: no verdict, so the gate fails, saying why."""
    few_a = edit_runs(copy(run_a, tmp_path / "a"), lambda runs: runs[~(runs.process >= 2)])
    few_b = edit_runs(scaled(run_a, tmp_path / "b", {NUMPY_TUNED: 3.0}), lambda runs: runs[~(runs.process >= 2)])
    said = {r.key: r.versus.verdict for r in compare(few_a, few_b) if r.key[3] == "matched"}
    assert said.pop(NUMPY_TUNED) == FEW and set(said.values()) == {SAME}  # apart, but 2 v 2 cannot say so
    assert main(few_a, few_b, 20.0) == 1
    (line,) = capsys.readouterr().err.splitlines()  # the one-process article rows do not gate
    assert "numpy/cpu/tuned/matched: cannot decide: too few processes to tell (2 and 2)" in line


def broken(folder: Path, name: str, text: str | bytes) -> None:
    path = folder / name
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)


@pytest.mark.parametrize(
    "damage, expected",
    [
        (lambda b: shutil.rmtree(b), "no such folder"),
        (lambda b: (b / "runs.csv").unlink(), "no runs.csv in this run"),
        (lambda b: (b / "summary.csv").unlink(), "no summary.csv in this run"),
        (lambda b: broken(b, "summary.csv", "not,a\nsummary,table\n"), "summary.csv lacks columns"),
        (lambda b: broken(b, "runs.csv", ""), "runs.csv is empty"),
        (lambda b: broken(b, "runs.csv", b"\xff\xfe\x00garbage\x00\n\xff"), "runs.csv"),
    ],
)
def test_a_missing_or_malformed_folder_is_one_line_and_status_2(run_a, tmp_path, capsys, damage, expected):
    run_b = copy(run_a, tmp_path / "b")
    damage(run_b)
    assert main(run_a, run_b, 10.0) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("xorbench: error: ") and expected in line


def test_a_negative_threshold_is_refused_with_status_2(run_a, capsys):
    assert main(run_a, run_a, -5.0) == 2
    assert capsys.readouterr().err.startswith("xorbench: error: --fail-above must be a percentage >= 0")


def test_importing_compare_loads_no_plotting_or_statistics_library():
    code = (
        "import sys, xorbench.bench.compare\n"
        "print(sorted(m for m in ('matplotlib', 'scipy', 'torch', 'tensorflow') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
