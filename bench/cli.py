"""The `xorbench` command line: `run` the benchmark, `sweep` the sizes, `report` on the tables, `list` the backends."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import tempfile
from pathlib import Path

from .. import backends


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, status 2: no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def cmd_list(args: argparse.Namespace) -> int:
    print(f"{'backend':8} {'device':6} {'status':11} {'version':38} reason")
    for a in backends.available():
        status = "available" if a.ok else "unavailable"
        print(f"{a.backend:8} {a.device:6} {status:11} {a.version or '-':38} {a.reason}")
    return 0


def names(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".xorbench-probe-"):
            pass
    except OSError as error:
        raise ValueError(f"--out {out} is not writable ({error.strerror or error})") from None


def options_from(args: argparse.Namespace, argv: list[str]):
    from .runner import QUICK, Options

    given = {
        "backends": names(args.backends) if args.backends is not None else None,
        "devices": names(args.devices) if args.devices is not None else None,
        "modes": names(args.modes) if args.modes is not None else None,
        "preset": args.preset,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "epochs": args.epochs,
        "seeds": args.seeds,
        "repeats": args.repeats,
        "threads": args.threads,
        "timeout_s": args.timeout,
        "budget_s": args.budget,
        "out": Path(args.out),
        "report": not args.no_report,
    }
    if args.lr is not None and not math.isfinite(args.lr):
        raise ValueError(f"--lr must be a finite number > 0; got {args.lr!r}")
    values = {**(QUICK if args.quick else {}), **{k: v for k, v in given.items() if v is not None}}
    return Options(**values, command=shlex.join(["xorbench", *argv]))


def checked(args: argparse.Namespace, make_options, check):
    """The command's options, checked before any work; None after one line on stderr."""
    try:
        options = make_options(args, args.argv)
        check(options)
        check_writable(options.out)
    except ValueError as error:
        print(f"xorbench: error: {error}", file=sys.stderr)
        return None
    return options


def cmd_run(args: argparse.Namespace) -> int:
    from .runner import Run, check

    options = checked(args, options_from, check)
    return 2 if options is None else Run(options).execute()


def cmd_report(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if not (out / "runs.csv").is_file():
        print(f"xorbench: error: no runs.csv in {out}/: run `xorbench run --out {out}` first", file=sys.stderr)
        return 2
    try:
        from .report import write_report

        path = write_report(out)
    except Exception as error:  # noqa: BLE001  (one line, not a traceback)
        message = (str(error).strip().splitlines() or [""])[0]
        print(f"xorbench: error: report failed ({type(error).__name__}: {message})", file=sys.stderr)
        return 1
    print(f"report written to {path}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import Sweep, check, options_from

    options = checked(args, options_from, check)
    return 2 if options is None else Sweep(options).execute()


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="xorbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("list", help="every backend and device: version, available or not, and why").set_defaults(
        func=cmd_list
    )
    run = sub.add_parser("run", help="measure every backend and write the tables (and the report)")
    run.set_defaults(func=cmd_run)
    all_backends, modes = ",".join(backends.BACKENDS), ",".join(backends.MODES)
    run.add_argument("--backends", metavar="A,B", help=f"comma-separated, from {all_backends} (default: all)")
    run.add_argument("--devices", metavar="D,E", help="cpu, gpu, or auto = every device present (default: auto)")
    run.add_argument("--modes", metavar="M,N", help=f"comma-separated, from {modes} (default: all)")
    run.add_argument("--preset", help="matched, article or all (default: all)")
    run.add_argument("--optimizer", help="matched preset's optimizer: sgd or adam (default: sgd)")
    run.add_argument("--lr", type=float, help="matched preset's learning rate (default: 2.0 for sgd, 0.01 for adam)")
    run.add_argument("--epochs", type=int, help="matched preset's epochs per run (default: 2000)")
    run.add_argument("--seeds", type=int, help="seeds for the convergence statistics (default: 20)")
    run.add_argument("--repeats", type=int, help="timed windows per timing run (default: 10)")
    run.add_argument("--threads", type=int, help=f"threads per framework (default: {backends.DEFAULT_THREADS})")
    run.add_argument("--out", default="results", metavar="DIR", help="where the tables go (default: results)")
    run.add_argument("--quick", action="store_true", help="a smoke run (about a minute): 200 epochs, 3 seeds, ...")
    run.add_argument("--timeout", type=float, metavar="S", help="seconds a worker may run (default: 300)")
    run.add_argument(
        "--budget", type=float, metavar="S", help="seconds per backend and mode before runs are shortened (default: 30)"
    )
    run.add_argument("--no-report", action="store_true", help="write the tables only")
    sweep = sub.add_parser("sweep", help="per-epoch time as hidden width and batch grow (sweep.csv)")
    sweep.set_defaults(func=cmd_sweep)
    sweep.add_argument("--backends", metavar="A,B", help=f"comma-separated, from {all_backends} (default: all)")
    sweep.add_argument("--devices", metavar="D,E", help="cpu, gpu, or auto = every device present (default: auto)")
    sweep.add_argument("--modes", metavar="M,N", help=f"comma-separated, from {modes} (default: all)")
    sweep.add_argument("--hidden", metavar="H,I", help="hidden widths (default: 4,16,64,256,1024,4096)")
    sweep.add_argument("--batch", metavar="B,C", help="samples per full batch, >= 4 (default: 4,256,4096,65536)")
    sweep.add_argument("--threads", type=int, help=f"threads per framework (default: {backends.DEFAULT_THREADS})")
    sweep.add_argument("--out", default="results", metavar="DIR", help="where sweep.csv goes (default: results)")
    sweep.add_argument("--quick", action="store_true", help="a smoke sweep (about a minute): 3 widths x 2 batches")
    sweep.add_argument("--timeout", type=float, metavar="S", help="seconds a worker may run (default: 240)")
    report = sub.add_parser("report", help="render REPORT.md and figures from a run's tables")
    report.add_argument("--out", default="results", metavar="DIR", help="the run's folder (default: results)")
    report.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
