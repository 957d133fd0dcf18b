"""The `xorbench` command line: `run` the benchmark, `sweep` the sizes, `report` on the tables, `list` the backends."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .. import backends
from . import options as opts


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, status 2: no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def cmd_list(args: argparse.Namespace) -> int:
    print(f"{'backend':8} {'device':6} {'status':11} {'version':38} reason")
    for a in backends.available():
        status = "available" if a.ok else "unavailable"
        print(f"{a.backend:8} {a.device:6} {status:11} {a.version or '-':38} {a.reason}")
    return 0


def options_from(args: argparse.Namespace) -> opts.Options:
    """The command's options from its parsed arguments (not yet checked)."""
    split = {"backends": opts.names, "devices": opts.names, "modes": opts.names}
    given = {name: (split[name](v) if name in split and v is not None else v) for name, v in vars(args).items()}
    for name in ("hidden", "batch"):
        if given.get(name) is not None:
            given[name] = opts.integers(given[name], name)
    given["timeout_s"], given["budget_s"] = given.pop("timeout", None), given.pop("budget", None)
    given["report"] = not given.pop("no_report", False) if args.command == "run" else None
    given["out"] = Path(given["out"])
    quick, argv = given.pop("quick"), shlex.join(["xorbench", *given.pop("argv")])
    for name in ("command", "func", "readme"):
        given.pop(name, None)
    return opts.make(args.command, quick, given, argv)


def checked(args: argparse.Namespace) -> opts.Options | None:
    """The command's options, checked before any work; None after one line on stderr."""
    try:
        options = options_from(args)
        opts.check(options)
        opts.check_writable(options.out)
    except ValueError as error:
        print(f"xorbench: error: {error}", file=sys.stderr)
        return None
    return options


def cmd_measure(args: argparse.Namespace) -> int:
    """`run` and `sweep`: measure, then (run only) render the report."""
    from .runner import execute

    options = checked(args)
    if options is None:
        return 2
    code = execute(options)
    if code == 0 and options.command == "run" and options.report:
        write_report(options.out)
    return code


def write_report(out: Path) -> None:
    """The report after a run is a bonus: its failure is a warning, never a failed run."""
    try:
        from .report import render_report

        written = render_report(Path(out))
    except Exception as error:  # noqa: BLE001  (any failure of the report is a warning here)
        message = str(error).strip().splitlines()
        print(f"warning: report not written ({type(error).__name__}: {message[0] if message else ''})", file=sys.stderr)
        return
    for line in written.warnings:
        print(line, file=sys.stderr)
    print(f"report written to {written.path}")


def cmd_report(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if not (out / "runs.csv").is_file():
        print(f"xorbench: error: no runs.csv in {out}/: run `xorbench run --out {out}` first", file=sys.stderr)
        return 2
    try:
        from .report import render_report

        written = render_report(out)
        for line in written.warnings:
            print(line, file=sys.stderr)
        if args.readme:
            from .report import update_readme

            changed = update_readme(Path(args.readme), out)
            print(f"{args.readme}: headline table {'updated' if changed else 'already up to date'}")
    except Exception as error:  # noqa: BLE001  (one line, not a traceback)
        message = (str(error).strip().splitlines() or [""])[0]
        print(f"xorbench: error: report failed ({type(error).__name__}: {message})", file=sys.stderr)
        return 1
    print(f"report written to {written.path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Two result folders: per row, B's time per epoch over A's with its interval, and a verdict."""
    from .compare import main as compare

    return compare(Path(args.a), Path(args.b), args.fail_above)


def add_common(parser: argparse.ArgumentParser, command: str) -> None:
    """The options `run` and `sweep` share."""
    all_backends, modes = ",".join(backends.BACKENDS), ",".join(backends.MODES)
    parser.add_argument("--backends", metavar="A,B", help=f"comma-separated, from {all_backends} (default: all)")
    parser.add_argument("--devices", metavar="D,E", help="cpu, gpu, or auto = every device present (default: auto)")
    parser.add_argument("--modes", metavar="M,N", help=f"comma-separated, from {modes} (default: all)")
    parser.add_argument("--threads", type=int, help=f"threads per framework (default: {backends.DEFAULT_THREADS})")
    what = "the tables" if command == "run" else "sweep.csv"
    parser.add_argument("--out", default="results", metavar="DIR", help=f"where {what} go(es) (default: results)")
    parser.add_argument("--momentum", type=float, help="SGD's heavy-ball momentum, in [0, 1) (default: the preset's)")
    timeout = opts.DEFAULTS[command]["timeout_s"]
    parser.add_argument("--timeout", type=float, metavar="S", help=f"seconds a worker may run (default: {timeout:g})")


def add_run(sub) -> None:
    run = sub.add_parser("run", help="measure every backend and write the tables (and the report)")
    run.set_defaults(func=cmd_measure)
    add_common(run, "run")
    run.add_argument("--preset", help="matched, article, classic or all (default: all)")
    hidden, init_range = (
        "hidden units of the matched and classic presets (default: 4 and 2)",
        ("the classic preset's initial weights and biases: uniform in [-R, R] (default: 0.5)"),
    )
    run.add_argument("--hidden", type=int, dest="run_hidden", metavar="N", help=hidden)
    run.add_argument("--init-range", type=float, metavar="R", help=init_range)
    run.add_argument("--optimizer", help="matched preset's optimizer: sgd or adam (default: sgd)")
    run.add_argument("--lr", type=float, help="matched preset's learning rate (default: 2.0 for sgd, 0.01 for adam)")
    run.add_argument("--epochs", type=int, help="matched preset's epochs per run (default: 2000)")
    run.add_argument("--seeds", type=int, help="seeds for the convergence statistics, per preset (default: 30)")
    run.add_argument("--processes", type=int, help="fresh worker processes per timed backend and mode (default: 5)")
    run.add_argument("--repeats", type=int, help="timed windows per timing process, two lengths in turn (default: 8)")
    run.add_argument("--quick", action="store_true", help="a smoke run (about a minute): 200 epochs, 3 seeds, ...")
    run.add_argument(
        "--budget", type=float, metavar="S", help="seconds per backend and mode before runs are shortened (default: 30)"
    )
    run.add_argument("--no-report", action="store_true", help="write the tables only")


def add_sweep(sub) -> None:
    sweep = sub.add_parser("sweep", help="per-epoch time as hidden width and batch grow (sweep.csv)")
    sweep.set_defaults(func=cmd_measure)
    add_common(sweep, "sweep")
    hidden, batch = (",".join(map(str, getattr(opts, f"SWEEP_{n}"))) for n in ("HIDDEN", "BATCH"))
    sweep.add_argument("--hidden", metavar="H,I", help=f"hidden widths (default: {hidden})")
    sweep.add_argument("--batch", metavar="B,C", help=f"samples per full batch, >= 4 (default: {batch})")
    sweep.add_argument("--quick", action="store_true", help="a smoke sweep (about a minute): 3 widths x 2 batches")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="xorbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    listing = sub.add_parser("list", help="every backend and device: version, available or not, and why")
    listing.set_defaults(func=cmd_list)
    add_run(sub)
    add_sweep(sub)
    report = sub.add_parser("report", help="render REPORT.md and figures from a run's tables")
    report.add_argument("--out", default="results", metavar="DIR", help="the run's folder (default: results)")
    report.add_argument("--readme", metavar="FILE", help="also rewrite FILE's headline table from the run's tables")
    report.set_defaults(func=cmd_report)
    compare = sub.add_parser("compare", help="two runs' results side by side: B/A per row, faster, slower or same")
    compare.add_argument("a", metavar="A", help="the baseline results folder")
    compare.add_argument("b", metavar="B", help="the results folder compared with it")
    compare.add_argument("--fail-above", type=float, metavar="PCT",
                         help="exit 1 when a row is slower by more than PCT percent, beyond the noise")  # fmt: skip
    compare.set_defaults(func=cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
