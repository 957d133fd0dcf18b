"""`python -m xorbench ...`: the same command line as the `xorbench` script."""

from xorbench.bench.cli import entry

entry()
