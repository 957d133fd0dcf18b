"""xorbench: the article's 2-4-1 sigmoid XOR network in several frameworks, benchmarked honestly.

The repository keeps two folders at its top, installed inside this package:
`backends/` as `xorbench.backends` (the trainers, framework-free until one is asked for) and
`bench/` as `xorbench.bench` (the harness: command line, workers, tables, report).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("xorbench")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"
