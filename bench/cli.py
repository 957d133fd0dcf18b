"""The `xorbench` command line."""

from __future__ import annotations

import argparse
import sys

import backends


def cmd_list(args: argparse.Namespace) -> int:
    print(f"{'backend':8} {'device':6} {'status':11} {'version':38} reason")
    for a in backends.available():
        status = "available" if a.ok else "unavailable"
        print(f"{a.backend:8} {a.device:6} {status:11} {a.version or '-':38} {a.reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xorbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every backend and device: version, available or not, and why").set_defaults(
        func=cmd_list
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
