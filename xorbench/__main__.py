"""`python -m xorbench ...`: the same command line as the `xorbench` script."""

import sys

from xorbench.bench.cli import main

sys.exit(main())
