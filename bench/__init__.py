"""The harness: the command line, its runs and workers, the tables, the statistics and the report."""
