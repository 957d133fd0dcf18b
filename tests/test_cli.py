"""The command line: bad input is one line and status 2 before any work, checked in-process through
cli.main (one end-to-end refusal runs the console script); `report` refuses tables it cannot read
whole and a --readme it cannot update before rendering; the run's report call degrades to a warning;
`list` names every backend and device."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pandas as pd
import pytest

from xorbench import backends
from xorbench.bench import cli
from xorbench.bench.rows import RunRow
from xorbench.bench.tables import CURVES, csv_text

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "args, says",
    [
        (["--backends", "tensorflow"], "backend must be one of"),
        (["--backends", ","], "--backends needs at least one name"),
        (["--devices", "tpu"], "device must be one of"),
        (["--modes", "fast"], "mode must be one of"),
        (["--preset", "paper"], "preset must be one of"),
        (["--optimizer", "rmsprop"], "optimizer must be one of"),
        (["--epochs", "-5"], "epochs must be an integer >= 1; got -5"),
        (["--epochs", "0"], "epochs must be an integer >= 1; got 0"),
        (["--epochs", "ten"], "argument --epochs: invalid int value"),
        (["--lr", "0"], "--lr must be a finite number > 0; got 0.0"),
        (["--lr", "nan"], "--lr must be a finite number > 0"),
        (["--seeds", "0"], "--seeds must be an integer >= 1"),
        (["--repeats", "-1"], "--repeats must be an integer >= 1"),
        (["--threads", "0"], "--threads must be an integer >= 1"),
        (["--processes", "0"], "--processes must be an integer >= 1; got 0"),
        (["--momentum", "-0.1"], "--momentum must be a number in [0, 1); got -0.1"),
        (["--momentum", "1"], "--momentum must be a number in [0, 1); got 1.0"),
        (["--optimizer", "adam", "--momentum", "0.9"], "momentum applies to sgd only"),
        (["--hidden", "0"], "--hidden must be an integer >= 1; got 0"),
        (["--init-range", "-0.5"], "--init-range must be a finite number > 0; got -0.5"),
        (["--preset", "classic", "--modes", "fast"], "mode must be one of"),
        (["--processes", "2.5"], "argument --processes: invalid int value"),
        (["--timeout", "0"], "--timeout must be > 0"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["--preset", "article", "--modes", "tuned"], "nothing to run"),
        # values that were accepted and then made every row fail (issue 28)
        (["--repeats", "1"], "--repeats must be at least 2: each timing process fits a + b * W to windows of two"),
        (["--timeout", "0.001"], "--timeout must be at least 1 s"),
        (["--init-range", "1e308"], "--init-range must be at most 100"),
        (["--init-range", "inf"], "--init-range must be at most 100"),
        # options no chosen preset uses, which ran without them
        (["--preset", "classic", "--momentum", "0.5", "--lr", "0.05"],
         "--lr sets the matched preset's config only, and --preset classic does not run it: add --preset matched"),
        (["--preset", "classic", "--momentum", "0.5"], "--momentum sets the matched preset's config only"),
        (["--preset", "article", "--optimizer", "adam"], "--optimizer sets the matched preset's config only"),
        (["--preset", "classic", "--epochs", "100"], "--epochs sets the matched preset's config only"),
        (["--preset", "matched", "--init-range", "0.3"],
         "--init-range sets the classic preset's config only, and --preset matched does not run it"),
        (["--preset", "article", "--hidden", "8"],
         "--hidden sets the matched and classic presets' config only, and --preset article does not run them"),
        (["--modes", "compiled", "--backends", "numpy"],
         "nothing to run: no chosen backend offers --modes compiled (numpy has idiomatic, tuned)"),
        (["--preset", "classic", "--processes", "3"],
         "--processes sets how the matched preset is measured, and --preset classic does not run it"),
        (["--preset", "classic", "--repeats", "4"], "--repeats sets how the matched and article presets are measured"),
        (["--preset", "article", "--seeds", "4"], "--seeds sets how the matched and classic presets are measured"),
        # bounded memory: refused before any work (a missing check would grow memory here, not refuse)
        (["--backends", "numpy", "--quick", "--seeds", "100000000"], "--seeds must be at most 10,000"),
        (["--backends", "numpy", "--seeds", "5000"], "loss-curve epochs in memory"),
        (["--backends", "numpy", "--epochs", "1000000000"], "--epochs must be at most 1,000,000"),
        (["--backends", "numpy", "--repeats", "1000"], "--repeats must be at most 100"),
        (["--backends", "numpy", "--processes", "1000"], "--processes must be at most 100"),
        (["--backends", "numpy", "--hidden", "1000000000000"], "over the memory limit"),
    ],
)  # fmt: skip
@pytest.mark.timeout(60)
def test_bad_input_is_one_line_and_status_2_before_any_work(args, says, tmp_path, capsys):
    out = tmp_path / "out"
    assert exit_code(["run", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()  # nothing started


@pytest.mark.parametrize(
    "args, says",
    [
        (["--hidden", "1000000000000", "--batch", "4"], "nothing to sweep: the cell is over the memory limit"),
        (["--hidden", "4", "--batch", "1000000000000"], "nothing to sweep: the cell is over the memory limit"),
        (["--hidden", ",".join(map(str, range(1, 70)))], "--hidden takes at most 64 values"),
        (["--timeout", "0.5"], "--timeout must be at least 1 s"),
        (["--modes", "compiled", "--backends", "numpy"], "nothing to sweep: no chosen backend offers --modes compiled"),
    ],
)  # fmt: skip
@pytest.mark.timeout(60)
def test_bad_sweep_input_is_one_line_and_status_2_before_any_work(args, says, tmp_path, capsys):
    out = tmp_path / "out"
    assert exit_code(["sweep", "--backends", "numpy", "--modes", "tuned", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_the_compiled_mode_message_names_the_modes_not_the_article(tmp_path, capsys):
    assert exit_code(["run", "--modes", "compiled", "--backends", "numpy", "--out", str(tmp_path / "o")]) == 2
    assert "article" not in capsys.readouterr().err


def exit_code(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exit:  # argparse's own errors
        return exit.code


def test_unwritable_out_is_one_line_and_status_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert cli.main(["run", "--backends", "numpy", "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert "is not writable" in err and err.count("\n") == 1


def test_bad_input_through_the_console_script_has_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "xorbench", "run", "--lr", "0", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == "xorbench: error: --lr must be a finite number > 0; got 0.0"
    assert done.stdout == ""


def test_report_without_tables_is_one_line_and_status_2(tmp_path, capsys):
    assert cli.main(["report", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no runs.csv" in err and err.count("\n") == 1


def fake_report(monkeypatch, render):
    module = types.ModuleType("xorbench.bench.report")
    module.render_report = lambda out, **figures: types.SimpleNamespace(path=render(out, **figures), warnings=())
    module.README_START, module.README_END = "<!-- headline:start -->", "<!-- headline:end -->"
    module.clear = lambda out, keep=frozenset(): None
    monkeypatch.setitem(sys.modules, "xorbench.bench.report", module)


def test_modes_default_to_idiomatic_and_tuned_and_all_means_every_mode():
    from xorbench.bench.options import DEFAULT_MODES

    def modes(*argv: str) -> tuple[str, ...]:
        args = cli.build_parser().parse_args(["run", *argv])
        args.argv = list(argv)
        return cli.options_from(args).modes

    default, everything, two = modes(), modes("--modes", "all"), modes("--modes", "tuned,compiled")
    assert default == DEFAULT_MODES == ("idiomatic", "tuned") and everything == backends.MODES
    assert two == ("tuned", "compiled")


def test_backends_default_to_the_frameworks_a_person_chooses_between_and_all_means_every_one():
    from xorbench.bench.options import DEFAULT_BACKENDS

    def names(*argv: str) -> tuple[str, ...]:
        args = cli.build_parser().parse_args(["run", *argv])
        args.argv = list(argv)
        return cli.options_from(args).names

    assert names() == DEFAULT_BACKENDS == ("numpy", "keras", "torch", "jax", "numba")
    assert names("--backends", "all") == backends.BACKENDS and {"keras-jax", "keras-torch"} < set(backends.BACKENDS)
    assert names("--backends", "jax,numpy") == ("jax", "numpy")


def test_report_subcommand_calls_write_report_with_the_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "runs.csv").write_text(csv_text([], RunRow))  # a run interrupted before its first row
    seen = []
    fake_report(monkeypatch, lambda out, figures=True: seen.append((out, figures)) or out / "REPORT.md")
    assert cli.main(["report", "--out", str(tmp_path)]) == 0
    assert cli.main(["report", "--out", str(tmp_path), "--no-figures"]) == 0
    assert seen == [(tmp_path, True), (tmp_path, False)] and "REPORT.md" in capsys.readouterr().out


def whole_runs(tmp_path: Path) -> str:
    """A runs.csv of three finished seeds (none solved), as a run writes it."""
    rows = [RunRow(backend="numpy", device="cpu", mode="idiomatic", preset="matched", seed=seed, status="ok",
                   role="convergence", epochs=20, solved=False) for seed in range(3)]  # fmt: skip
    return csv_text(rows, RunRow)


@pytest.mark.parametrize(
    "damage, says",
    [
        (lambda text: b"\xff\xfe\x00garbage\x00\n\xff\n", "runs.csv is not a readable table (UnicodeDecodeError)"),
        (lambda text: "a,b\n1,2\n", "runs.csv lacks columns backend, device, mode, preset, seed, status, role"),
        (lambda text: "", "runs.csv is empty"),
        (lambda text: text[: text.rindex("\n", 0, -1) + 12], "runs.csv is cut mid-row (its last line has no end)"),
    ],
    ids=["garbage", "wrong-columns", "empty", "cut-mid-row"],
)
def test_report_on_a_table_it_cannot_read_whole_is_one_line_and_status_2_before_rendering(
    damage, says, tmp_path, monkeypatch, capsys
):
    damaged = damage(whole_runs(tmp_path))
    (tmp_path / "runs.csv").write_bytes(damaged if isinstance(damaged, bytes) else damaged.encode())
    rendered = []
    fake_report(monkeypatch, lambda out, figures=True: rendered.append(out) or out / "REPORT.md")
    assert cli.main(["report", "--out", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and says in err and not rendered


def test_a_cut_row_is_never_counted_as_a_seed(tmp_path):
    from xorbench.bench.load import load
    from xorbench.bench.summary import summary_rows

    text = whole_runs(tmp_path)
    (tmp_path / "runs.csv").write_text(text)
    assert [row.seeds for row in summary_rows(load(tmp_path).runs)] == [3]
    (tmp_path / "runs.csv").write_text(text[: text.rindex("\n", 0, -1) + 12])  # seeds 0 and 1, and a half of 2
    loaded = load(tmp_path)
    assert loaded.runs is None and loaded.missing["runs.csv"].startswith("runs.csv is cut mid-row")


README = "# xorbench\n\n<!-- headline:start -->\nold table\n<!-- headline:end -->\n"


@pytest.mark.parametrize(
    "readme, says",
    [
        ("missing.md", "--readme missing.md: no such file"),
        ("", "--readme must name a file; got ''"),
        ("no-markers.md", "--readme no-markers.md has no <!-- headline:start --> … <!-- headline:end --> markers"),
        ("folder", "--readme folder cannot be read"),
        ("read-only.md", "--readme read-only.md is not writable"),
    ],
)
def test_a_readme_report_cannot_update_is_refused_before_rendering(readme, says, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs.csv").write_text(whole_runs(tmp_path))
    (tmp_path / "no-markers.md").write_text("# xorbench\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "read-only.md").write_text(README)
    real_access = os.access  # root may write anything: stand in for a file this user cannot write
    monkeypatch.setattr(os, "access", lambda path, mode: "read-only" not in str(path) and real_access(path, mode))
    rendered = []
    fake_report(monkeypatch, lambda out, figures=True: rendered.append(out) or out / "REPORT.md")
    assert cli.main(["report", "--out", str(tmp_path), "--readme", readme]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(f"xorbench: error: {says}")
    assert not rendered and not (tmp_path / "REPORT.md").exists()


def test_run_still_succeeds_with_a_warning_when_the_report_fails(tmp_path, monkeypatch, capsys):
    def broken(out, figures=True):
        raise RuntimeError("no figures today\nsecond line")

    fake_report(monkeypatch, broken)
    argv = ["run", "--backends", "numpy", "--modes", "idiomatic", "--preset", "matched"]
    code = cli.main([*argv, "--epochs", "20", "--seeds", "2", "--repeats", "2", "--processes", "1", "--out",
                     str(tmp_path)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0
    assert "warning: report not written (RuntimeError: no figures today)" in err
    assert (tmp_path / "runs.csv").is_file() and set(pd.read_parquet(tmp_path / CURVES)["seed"]) == {0, 1}


def test_a_run_clears_an_older_runs_report_and_figures_before_its_tables(tmp_path):
    for name in ("REPORT.md", "epoch_time.png", "sweep.png"):
        (tmp_path / name).write_text("an older run's")
    argv = ["run", "--backends", "numpy", "--modes", "idiomatic", "--preset", "matched", "--epochs", "20"]
    assert cli.main([*argv, "--seeds", "1", "--repeats", "2", "--processes", "1", "--no-report", "--out",
                     str(tmp_path)]) == 0  # fmt: skip
    assert (tmp_path / "runs.csv").is_file() and not list(tmp_path.glob("*.png"))
    assert not (tmp_path / "REPORT.md").exists()


def test_report_warns_when_a_live_run_holds_the_folder(tmp_path, monkeypatch, capsys):
    from xorbench.bench import lock

    (tmp_path / "runs.csv").write_text(csv_text([], RunRow))
    fake_report(monkeypatch, lambda out, figures=True: out / "REPORT.md")
    with lock.hold(tmp_path, "xorbench run --out live"):  # another open file: flock sees it as another holder
        assert cli.main(["report", "--out", str(tmp_path)]) == 0
    assert f"warning: a live xorbench run (PID {os.getpid()}: xorbench run --out live) is writing to" in (
        capsys.readouterr().err)  # fmt: skip
    assert cli.main(["report", "--out", str(tmp_path)]) == 0 and "warning" not in capsys.readouterr().err


def terminate_self(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    raise AssertionError("SIGTERM did not interrupt")


def test_sigterm_in_the_report_phase_is_one_line_status_130_and_marks_the_run_interrupted(tmp_path, monkeypatch,
                                                                                           capsys):  # fmt: skip
    fake_report(monkeypatch, terminate_self)
    argv = ["run", "--backends", "numpy", "--modes", "idiomatic", "--preset", "matched", "--epochs", "20"]
    assert cli.main([*argv, "--seeds", "1", "--repeats", "2", "--processes", "1", "--out", str(tmp_path)]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("xorbench: interrupted while rendering")
    assert json.loads((tmp_path / "env.json").read_text())["interrupted"] is True
    assert not (tmp_path / ".xorbench.lock").exists()
    assert cli.main(["report", "--out", str(tmp_path)]) == 130  # `report` alone, likewise
    assert capsys.readouterr().err == "xorbench: interrupted while rendering the report\n"


def test_sigterm_at_start_up_is_one_line_status_130_and_leaves_no_lock(tmp_path):
    started = subprocess.Popen([sys.executable, "-m", "xorbench", "run", "--backends", "numpy", "--out",
                                str(tmp_path)], stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while not (tmp_path / ".xorbench.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.01)  # the lock is taken: a signal now must not leave it behind
    started.send_signal(signal.SIGTERM)
    _, err = started.communicate(timeout=60)
    assert started.returncode == 130 and err.strip().splitlines()[-1].startswith("xorbench: interrupted")
    assert "Traceback" not in err and not (tmp_path / ".xorbench.lock").exists()


def test_an_import_that_a_signal_cut_short_is_an_interrupt_not_an_internal_error(monkeypatch, capsys):
    def importing(args):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as signal_:
            raise ImportError("IMPORTANT: PLEASE READ THIS FOR ADVICE") from signal_  # as NumPy's __init__ does

    monkeypatch.setattr(cli, "cmd_list", importing)
    assert cli.main(["list"]) == 130 and capsys.readouterr().err == "xorbench: interrupted\n"


# `list` probes every backend in a fresh worker (25-70 s here). CI lists three of them, in tests/test_reliability.py's
# test_list_keeps_framework_noise_out_and_lists_the_others_when_one_crashes, which checks these lines too.
@pytest.mark.slow
def test_list_names_every_backend_and_device_with_a_status():
    done = subprocess.run(
        [sys.executable, "-m", "xorbench", "list"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()[1:]
    for name in backends.BACKENDS:
        for device in backends.DEVICES:
            assert any(line.split()[:2] == [name, device] for line in lines), (name, device)
    assert all(line.split()[2] in ("available", "unavailable") for line in lines)


def test_list_probes_only_the_backends_named_and_refuses_an_unknown_one(capsys):
    assert cli.main(["list", "--backends", "numpy"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert sorted(line.split()[:2] for line in lines) == [["numpy", device] for device in sorted(backends.DEVICES)]
    assert cli.main(["list", "--backends", "numpy,nope"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "'nope'" in err


def test_the_gpu_check_script_uses_only_commands_the_cli_accepts(tmp_path):
    """bench/gpu_check.sh runs on a lent GPU machine for a few minutes at most: a renamed option
    must fail here, not there. Each of its `xorbench` lines parses and passes the CLI's checks."""
    import shlex

    script = (ROOT / "bench" / "gpu_check.sh").read_text()
    assert subprocess.run(["bash", "-n", str(ROOT / "bench" / "gpu_check.sh")]).returncode == 0
    commands = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    lines = [line.split("-m xorbench", 1)[1] for line in commands if "-m xorbench" in line]
    assert [shlex.split(line)[0] for line in lines] == ["run", "sweep", "report"]
    for line in lines:
        argv = shlex.split(line.replace('"$out"', str(tmp_path)))
        args = cli.build_parser().parse_args(argv)  # an unknown option exits with status 2
        args.argv = argv
        if argv[0] in ("run", "sweep"):
            assert cli.checked(args) is not None, argv
