"""The `funnelcast` command's public face: `parser()` gathers the commands its modules declare,
`main()` parses the command line and runs one (funnelcast.cli.runner maps failures to exit codes).

The modules: runner (how a report runs, on DuckDB or Spark), options (the parser and its checked
values), tables (the column aligner), metrics, funnel (and handoff), roi (and report), plan,
definition, suggest, importing (import), settings (currency), build (demo, summarize, export-parquet).
"""

from __future__ import annotations

import argparse
import os
import sys

import funnelcast

# Before DuckDB loads (the commands below import it): its allocator gives back what queries
# freed within a quarter second, as the dashboard's does (app.py). A writer (import, demo,
# summarize) runs query after query under DuckDB's memory limit and holds frames between
# them: with jemalloc's defaults the freed memory stayed, and `summarize` at 10M leads peaked
# at 2.25 GB instead of 1.80.
os.environ.setdefault(funnelcast.DUCKDB_ALLOCATOR_ENV, funnelcast.DUCKDB_ALLOCATOR_PROMPT)

from funnelcast.cli import (  # noqa: E402  (after the allocator's setting)
    build,
    definition,
    funnel,
    importing,
    metrics,
    plan,
    roi,
    runner,
    settings,
    suggest,
)
from funnelcast.cli.options import Parser

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    top = Parser(prog="funnelcast", description="Funnel analytics and marketing ROI on DuckDB.")
    commands = top.add_subparsers(dest="command", required=True, parser_class=Parser)
    build.add_demo(commands)
    runner.add_report(commands, metrics.REPORT)
    definition.add_commands(commands)
    suggest.add_command(commands)
    for report in (funnel.FUNNEL, funnel.HANDOFF, roi.ROI, roi.REVIEW, plan.REPORT):
        runner.add_report(commands, report)
    importing.add_commands(commands)
    settings.add_commands(commands)
    build.add_summarize(commands)
    build.add_export_parquet(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = parser().parse_args(argv)
    return runner.guarded(args.handler, args)


if __name__ == "__main__":
    sys.exit(main())
