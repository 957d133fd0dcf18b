"""xorbench: the article's 2-4-1 sigmoid XOR network in several frameworks, benchmarked honestly.

The repository keeps two folders at its top, installed inside this package:
`backends/` as `xorbench.backends` (the trainers, framework-free until one is asked for) and
`bench/` as `xorbench.bench` (the harness: command line, workers, tables, report).
"""


def __getattr__(name: str):
    # __version__ is read from the installed metadata when asked for, not at import: importing the
    # package stays instant, which keeps the window before the CLI handles Ctrl-C as short as it can be.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("xorbench")
        except PackageNotFoundError:  # imported from a checkout that was never installed
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
