"""The `xorbench` command line: `run` the benchmark, `sweep` the sizes, `report` on the tables, `compare` two
runs, `advise` on a workload, `list` the backends."""

from __future__ import annotations

import argparse
import codecs
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .options import Options

# Only the standard library at the top: a Ctrl-C while NumPy and the rest import is then inside main(),
# which turns it into one line and status 130 (the frameworks import later still, in workers).


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, status 2: no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


# Exit statuses, for every command (docs/USAGE.md, "Exit statuses"; epilog below)
OK = 0  # every row ok, diverged (a measured outcome: the run trained, then blew up) or skipped
FAILED = 1  # a row errored or timed out, or a table could not be written; a report that failed
BAD_INPUT = 2  # refused before any work (the checks, a folder another live run holds)
INTERRUPTED = 130  # SIGINT (Ctrl-C) or SIGTERM; the finished rows are saved
LIST_TIMEOUT_S = 120.0


def epilog() -> str:
    """--help's account of the exit statuses and the limits that bound memory, from the constants themselves."""
    from . import options as opts
    from .plan import MEMORY_FACTOR, MEMORY_SHARE

    limits = ", ".join(f"--{name} <= {limit:,}" for name, limit in opts.LIMITS.items())
    factors = ", ".join(f"{name} {k}" for name, k in MEMORY_FACTOR.items())
    return f"""exit statuses:
  0    every row ok, diverged or skipped (diverged, a run whose loss blew up, is a measured outcome)
  1    a row errored or timed out, or a table could not be written (one line says which); every
       table on disk is a complete file
  2    bad input, refused before any work in one line; or --out is held by another live run (its PID)
  130  interrupted (Ctrl-C, SIGTERM): finished rows saved; once more waits for the save, thrice quits

limits (memory stays bounded for every accepted input):
  {limits};
  run: seeds x epochs x presets x modes <= {opts.CURVE_EPOCHS:,} loss-curve epochs kept;
  sweep: at most {opts.SWEEP_VALUES} values each of --hidden and --batch;
  a network (run --hidden, each sweep cell) is estimated before it is built at
  k x 4 bytes x (hidden*batch + 3*hidden + 3*batch), k per backend: {factors};
  with its process's memory it must fit in {MEMORY_SHARE:.0%} of the memory available now, else it is
  refused (exit 2) or, in a sweep with cells that fit, a skipped row that gives the estimate"""


def with_epilog() -> dict:
    return {"epilog": epilog(), "formatter_class": argparse.RawDescriptionHelpFormatter}


def cmd_list(args: argparse.Namespace) -> int:
    """Every backend and device, each backend probed in a worker process of its own (manager.probe_backends)."""
    from .. import backends
    from . import options as opts
    from .manager import probe_backends

    names = opts.backend_names(args.backends) if args.backends is not None else backends.BACKENDS
    try:
        if not args.timeout > 0:
            raise ValueError(f"--timeout must be > 0; got {args.timeout!r}")
        opts.check_selection(opts.RunOptions(backends=names))
    except ValueError as error:
        print(f"xorbench: error: {error}", file=sys.stderr)
        return BAD_INPUT
    width = max(map(len, ["backend", *names]))
    print(f"{'backend':{width}} {'device':6} {'status':11} {'version':38} reason")
    for a in probe_backends(tuple(names), args.timeout):
        status = "available" if a.ok else "unavailable"
        print(f"{a.backend:{width}} {a.device:6} {status:11} {a.version or '-':38} {a.reason}")
    return OK


def options_from(args: argparse.Namespace) -> Options:
    """The command's options from its parsed arguments (not yet checked)."""
    from . import options as opts

    split = {"backends": opts.backend_names, "devices": opts.names, "modes": opts.mode_names}
    given = {name: (split[name](v) if name in split and v is not None else v) for name, v in vars(args).items()}
    for name in ("hidden", "batch") if args.command == "sweep" else ():  # a run's --hidden is one int
        if given.get(name) is not None:
            given[name] = opts.integers(given[name], name)
    given["timeout_s"], given["budget_s"] = given.pop("timeout", None), given.pop("budget", None)
    given["report"] = not given.pop("no_report", False) if args.command == "run" else None
    given["out"] = out_folder(given["out"])
    quick, argv = given.pop("quick"), shlex.join(["xorbench", *given.pop("argv")])
    for name in ("command", "func", "readme"):
        given.pop(name, None)
    return opts.make(args.command, quick, given, argv)


def out_folder(text: str) -> Path:
    """--out as a folder; an empty one would silently mean the current folder."""
    if not text.strip():
        raise ValueError(f"--out must name a folder; got {text!r}")
    return Path(text)


def checked(args: argparse.Namespace) -> Options | None:
    """The command's options, checked before any work; None after one line on stderr."""
    from . import options as opts
    from .plan import check

    try:
        options = options_from(args)
        check(options)
        opts.check_writable(options.out, writes(options.command))
    except ValueError as error:
        print(f"xorbench: error: {error}", file=sys.stderr)
        return None
    return options


def writes(command: str) -> tuple[str, ...]:
    """The files the command writes into --out."""
    from .rows import TABLES

    if command == "sweep":
        return ("sweep.csv", "env.json")
    return (*(name for name in TABLES if name != "sweep.csv"), "env.json", "REPORT.md")


def cmd_measure(args: argparse.Namespace) -> int:
    """`run` and `sweep`: measure, holding --out against other runs, then (run only) render the report."""
    from . import lock
    from .runner import execute

    options = checked(args)
    if options is None:
        return BAD_INPUT
    try:
        with lock.hold(options.out, options.argv):
            if options.command == "run":  # an older run's report must not stand beside these tables
                from .report import clear

                clear(options.out)
            ended = execute(options)
            if ended.not_saved or ended.interrupted:
                return FAILED if ended.not_saved else INTERRUPTED
            if options.command == "run" and options.report and not write_report(options.out):
                return INTERRUPTED
            return FAILED if ended.errors else OK
    except (lock.Held, lock.NotALock) as refused:
        print(f"xorbench: error: {refused}", file=sys.stderr)
        return BAD_INPUT


def write_report(out: Path) -> bool:
    """The report after a run is a bonus: its failure is a warning, never a failed run. False when it
    was interrupted (one line; the tables stay complete)."""
    try:
        from .report import render_report

        written = render_report(Path(out))
    except KeyboardInterrupt:
        from .tables import update_env

        update_env(Path(out), interrupted=True)
        print(f"xorbench: interrupted while rendering the report; the tables in {out} are complete", file=sys.stderr)
        return False
    except Exception as error:  # noqa: BLE001  (any failure of the report is a warning here)
        print(f"warning: report not written ({first_line(error)})", file=sys.stderr)
        return True
    for line in written.warnings:
        print(line, file=sys.stderr)
    print(f"report written to {written.path}")
    return True


def first_line(error: BaseException) -> str:
    message = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {message}"


def cmd_report(args: argparse.Namespace) -> int:
    """REPORT.md and its figures from a run's tables, and README's headline with --readme. Everything
    that would make it fail is refused first (status 2, one line), so a good REPORT.md is never
    rewritten from tables that cannot be read whole, nor before a --readme that cannot be updated."""
    try:
        out, readme = out_folder(args.out), readme_file(args.readme)
        if not (out / "runs.csv").is_file():
            raise ValueError(f"no runs.csv in {out}/: run `xorbench run --out {out}` first")
        from .load import unreadable

        broken = unreadable(out)
        if broken:
            raise ValueError(f"cannot read the tables in {out}/ whole ({'; '.join(broken)}): rerun `xorbench run "
                             f"--out {out}`, or restore them")  # fmt: skip
    except ValueError as error:
        print(f"xorbench: error: {error}", file=sys.stderr)
        return BAD_INPUT
    from .lock import holder

    live = holder(out)
    if live:
        print(f"warning: a live xorbench run ({live}) is writing to {out}: the report shows its tables so far",
              file=sys.stderr)  # fmt: skip
    try:
        from .report import render_report

        written = render_report(out, figures=not args.no_figures)
        for line in written.warnings:
            print(line, file=sys.stderr)
        if readme is not None:
            from .report import update_readme

            changed = update_readme(readme, out)
            print(f"{args.readme}: headline table {'updated' if changed else 'already up to date'}")
    except KeyboardInterrupt:
        print("xorbench: interrupted while rendering the report", file=sys.stderr)
        return INTERRUPTED
    except Exception as error:  # noqa: BLE001  (one line, not a traceback)
        print(f"xorbench: error: report failed ({first_line(error)})", file=sys.stderr)
        return FAILED
    print(f"report written to {written.path}")
    return OK


def readme_file(text: str | None) -> Path | None:
    """--readme, checked before the report is rendered: a text file this process can rewrite, holding
    the markers its headline table goes between. None when not given."""
    if text is None:
        return None
    if not text.strip():
        raise ValueError(f"--readme must name a file; got {text!r}")
    from .report import README_END, README_START

    path = Path(text)
    try:
        body = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"--readme {text}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"--readme {text} cannot be read ({getattr(error, 'strerror', None) or error})") from None
    start = body.find(README_START)
    if start < 0 or body.find(README_END, start) < 0:
        raise ValueError(f"--readme {text} has no {README_START} … {README_END} markers for the headline table")
    # The table is written beside the file and renamed over it: both the file and its folder must be writable.
    if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)):
        raise ValueError(f"--readme {text} is not writable")
    return path


def cmd_compare(args: argparse.Namespace) -> int:
    """Two result folders: per row, B's time per epoch over A's with its interval, and a verdict."""
    from .compare import main as compare

    return compare(Path(args.a), Path(args.b), args.fail_above, args.min_effect)


def add_common(parser: argparse.ArgumentParser, command: str) -> None:
    """The options `run` and `sweep` share."""
    from .. import backends
    from . import options as opts

    all_backends, modes = ",".join(backends.BACKENDS), ",".join(backends.MODES)
    default_backends = ",".join(opts.DEFAULT_BACKENDS)
    parser.add_argument("--backends", metavar="A,B", help=f"comma-separated, from {all_backends}, or all (default: "
                        f"{default_backends})")  # fmt: skip
    parser.add_argument("--devices", metavar="D,E", help="cpu, gpu, or auto = every device present (default: auto)")
    default = ",".join(opts.DEFAULT_MODES)
    parser.add_argument("--modes", metavar="M,N", help=f"comma-separated, from {modes}, or all (default: {default})")
    parser.add_argument("--threads", type=int, help=f"threads per framework (default: {backends.DEFAULT_THREADS})")
    what = "the tables" if command == "run" else "sweep.csv"
    parser.add_argument("--out", default="results", metavar="DIR", help=f"where {what} go(es) (default: results)")
    parser.add_argument("--momentum", type=float, help="SGD's heavy-ball momentum, in [0, 1) (default: the preset's)")
    timeout = opts.TYPES[command].timeout_s
    silence = (f"seconds a worker may go without a row or progress before it is stopped, at least "
               f"{opts.MIN_TIMEOUT_S:g} (default: {timeout:g})")  # fmt: skip
    parser.add_argument("--timeout", type=float, metavar="S", help=silence)


def add_run(sub) -> None:
    from . import options as opts

    run = sub.add_parser("run", help="measure every backend and write the tables (and the report)", **with_epilog())
    run.set_defaults(func=cmd_measure)
    add_common(run, "run")
    run.add_argument("--preset", help="matched, article, classic or all (default: all)")
    hidden, init_range = (
        "hidden units of the matched and classic presets (default: 4 and 2)",
        f"the classic preset's weights and biases: uniform in [-R, R], R <= {opts.MAX_INIT_RANGE:g} (default: 0.5)",
    )
    run.add_argument("--hidden", type=int, metavar="N", help=hidden)
    run.add_argument("--init-range", type=float, metavar="R", help=init_range)
    run.add_argument("--optimizer", help="matched preset's optimizer: sgd or adam (default: sgd)")
    run.add_argument("--lr", type=float, help="matched preset's learning rate (default: 2.0 for sgd, 0.01 for adam)")
    run.add_argument("--epochs", type=int, help="matched preset's epochs per run (default: 2000)")
    run.add_argument("--seeds", type=int, help="seeds for the convergence statistics, per preset (default: 30)")
    run.add_argument(
        "--processes",
        type=int,
        help="fresh timing processes per timed backend and mode (default: "
        "at least 3 each, more where they buy precision, within --budget)",
    )
    run.add_argument(
        "--repeats", type=int, help="timed windows per timing process, two lengths in turn: >= 2 (default: 8)"
    )
    run.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: one process per row, 200 epochs, 3 seeds, no claim of precision",
    )
    run.add_argument(
        "--budget", type=float, metavar="S", help="seconds the run plans its measuring within (default: 280)"
    )
    run.add_argument("--no-report", action="store_true", help="write the tables only")


def add_sweep(sub) -> None:
    from . import options as opts

    sweep = sub.add_parser("sweep", help="per-epoch time as hidden width and batch grow (sweep.csv)", **with_epilog())
    sweep.set_defaults(func=cmd_measure)
    add_common(sweep, "sweep")
    hidden, batch = (",".join(map(str, getattr(opts, f"SWEEP_{n}"))) for n in ("HIDDEN", "BATCH"))
    sweep.add_argument("--hidden", metavar="H,I", help=f"hidden widths (default: {hidden})")
    sweep.add_argument("--batch", metavar="B,C", help=f"samples per full batch, >= 4 (default: {batch})")
    sweep.add_argument("--quick", action="store_true", help="a smoke sweep (about a minute): 3 widths x 2 batches")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="xorbench", description=__doc__, **with_epilog())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    listing = sub.add_parser("list", help="every backend and device: version, available or not, and why")
    probe = f"seconds each backend's probe (a process of its own) may take (default: {LIST_TIMEOUT_S:g})"
    listing.add_argument("--timeout", type=float, default=LIST_TIMEOUT_S, metavar="S", help=probe)
    listing.add_argument("--backends", metavar="A,B", help="comma-separated backends to probe (default: all)")
    listing.set_defaults(func=cmd_list)
    add_run(sub)
    add_sweep(sub)
    from .advise import add_advise

    add_advise(sub)
    report = sub.add_parser("report", help="render REPORT.md and figures from a run's tables")
    report.add_argument("--out", default="results", metavar="DIR", help="the run's folder (default: results)")
    report.add_argument("--readme", metavar="FILE", help="also rewrite FILE's headline table from the run's tables")
    report.add_argument(
        "--no-figures", action="store_true", help="REPORT.md's text alone, without its figures (faster)"
    )
    report.set_defaults(func=cmd_report)
    compare = sub.add_parser("compare", help="two runs' results side by side: B/A per row, faster, slower or same")
    compare.add_argument("a", metavar="A", help="the baseline results folder")
    compare.add_argument("b", metavar="B", help="the results folder compared with it")
    compare.add_argument("--fail-above", type=float, metavar="PCT",
                         help="exit 1, one line per row, when a row is slower by more than PCT percent beyond the "
                              "noise, errored in B, is timed in A but not in B, or has too few processes to "
                              "decide")  # fmt: skip
    compare.add_argument("--min-effect", type=float, default=5.0, metavar="PCT",
                         help="call a row faster or slower only beyond PCT percent (default: 5)")  # fmt: skip
    compare.set_defaults(func=cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command's exit status (OK, FAILED, BAD_INPUT, INTERRUPTED); whatever happens, no traceback:
    one line on stderr (XORBENCH_DEBUG=1 shows the traceback of an unexpected error)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    codecs.register_error("xorbench-escape", escaped)
    for stream in (sys.stdout, sys.stderr):  # a path that is not UTF-8 prints as its escapes
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="xorbench-escape")
    # SIGTERM is handled as Ctrl-C in every phase (start-up, report, list): one line, status 130, the lock
    # released on the way out. While a run measures, manager.Interrupts takes both over.
    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        args = build_parser().parse_args(argv)
        args.argv = [recorded(arg) for arg in argv]
        return args.func(args)
    except KeyboardInterrupt:
        print("xorbench: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # stdout closed early (`xorbench list | head -1`): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return FAILED
    except Exception as error:
        if interrupted_by(error):  # NumPy, interrupted while it imports, raises an ImportError from it
            print("xorbench: interrupted", file=sys.stderr)
            return INTERRUPTED
        if os.environ.get("XORBENCH_DEBUG"):
            raise
        print(f"xorbench: internal error ({first_line(error)}); XORBENCH_DEBUG=1 shows where", file=sys.stderr)
        return FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted_by(error: BaseException | None) -> bool:
    """Whether a KeyboardInterrupt (Ctrl-C, or SIGTERM: terminated) stands behind this error."""
    while error is not None:
        if isinstance(error, KeyboardInterrupt):
            return True
        error = error.__cause__ or error.__context__
    return False


def terminated(signum, frame) -> None:
    raise KeyboardInterrupt


def entry() -> None:
    """The `xorbench` program: main(), then exit with its status. Once main has returned there is nothing
    left to stop, so SIGINT and SIGTERM are ignored while the interpreter shuts down: a Ctrl-C then (the
    second of an interrupted run, say) would otherwise kill it by the signal, not with main's status."""
    code = main()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    if code == INTERRUPTED:  # Python would exit by SIGINT, not 130, if it still counted a KeyboardInterrupt
        sys.stdout.flush()  # as unhandled (seen: SIGTERM early in start-up, 1 time in 14); nothing is left to
        sys.stderr.flush()  # clean up that a `with` has not already (the worker caches, the lock)
        os._exit(code)
    sys.exit(code)


def escaped(error: UnicodeEncodeError) -> tuple[str, int]:
    """What a stream cannot encode, as escapes: a byte of a non-UTF-8 path (which Python decodes to a
    lone surrogate) as \\xff, as env.json and the report write it; anything else as \\u...."""
    bad = error.object[error.start : error.end]
    text = "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else ascii(c)[1:-1] for c in bad)
    return text, error.end


def recorded(arg: str) -> str:
    """A command-line argument as env.json and the report record it: bytes that are not UTF-8 as escapes."""
    return os.fsencode(arg).decode("utf-8", "backslashreplace")


if __name__ == "__main__":
    sys.exit(main())
