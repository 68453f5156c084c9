"""pgbilling's benchmark harness (`pgbilling bench`): bulk data in set-based SQL, pgbench scripts, five comparisons
measured as ratios within one run, a Markdown table and PNG plots. See docs/benchmarks.md."""

from pgbilling.bench.runner import Options, Results, run

__all__ = ["Options", "Results", "run"]
