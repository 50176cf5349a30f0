"""`funnelcast demo`, `funnelcast summarize` and `funnelcast export-parquet`: the commands that
build data files, a demo database (funnelcast.demo.build_file), the funnel summary kept in a
database (funnelcast.analytics.rollups) and the Parquet copy of a database the Spark engine reads."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from funnelcast.cli.options import positive_float, positive_int


class BlockBar:
    """Draws the demo build's blocks done on stderr: a bar on a terminal, a line a block
    elsewhere; a build of one block draws nothing."""

    WIDTH = 30

    def __init__(self, stream: TextIO | None = None):
        self.stream = sys.stderr if stream is None else stream  # sys.stderr as the command finds it
        self.tty = self.stream.isatty()

    def __call__(self, done: int, blocks: int) -> None:
        if blocks == 1:
            return
        if not self.tty:
            print(f"funnelcast: demo block {done} of {blocks} done", file=self.stream, flush=True)
            return
        filled = done * self.WIDTH // blocks
        bar = f"demo [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{blocks} blocks"
        self.stream.write("\r" + bar)
        if done == blocks:
            self.stream.write("\r" + " " * len(bar) + "\r")
        self.stream.flush()


def cmd_demo(args: argparse.Namespace) -> int:
    """Build the demo database (funnelcast.demo.build_file) and say what it holds."""
    from funnelcast import loading

    summary = loading.build_demo(
        args.db,
        leads=args.leads,
        seed=args.seed,
        engagement=args.engagement,
        replace=args.replace,
        progress=BlockBar(),
        **({} if args.block_leads is None else {"block_leads": args.block_leads}),
    )
    counts = ", ".join(f"{v:,} {k}" for k, v in summary["counts"].items())
    print(f"built {args.db} in {summary['seconds']:.1f} s: {counts}")
    return 0


def cmd_summarize(args: argparse.Namespace) -> int:
    """Compute and keep the funnel summary of a database made before it existed."""
    from funnelcast import loading

    started = time.perf_counter()
    parts = loading.summarise(args.db)
    print(
        f"kept the summaries of {args.db} in {time.perf_counter() - started:.1f} s "
        f"(funnel {parts['funnel']:.1f} s, Handoff and Data pages {parts['pages']:.1f} s)"
    )
    return 0


def add_summarize(commands: argparse._SubParsersAction) -> None:
    """Add `funnelcast summarize` to the command parsers."""
    command = commands.add_parser(
        "summarize",
        help="keep the funnel summary metrics and the pages read (imports and demo do it)",
    )
    command.add_argument("--db", required=True, type=Path, help="database file to summarise")
    command.set_defaults(handler=cmd_summarize)


def add_demo(commands: argparse._SubParsersAction) -> None:
    """Add `funnelcast demo` to the command parsers."""
    demo = commands.add_parser("demo", help="build a realistic demo database")
    demo.add_argument("--db", required=True, type=Path, help="database file to create")
    demo.add_argument("--leads", type=positive_int, default=20_000, help="number of leads")
    demo.add_argument("--seed", type=int, default=7, help="random seed (same seed, same data)")
    demo.add_argument(
        "--engagement",
        type=positive_float,
        default=1.0,
        help="scale the events per lead (1: about 12; benchmarks use more)",
    )
    demo.add_argument(
        "--block-leads",
        type=positive_int,
        help="leads made and written at a time (default: the builder's, for a bounded memory; "
        "it never changes the data)",
    )
    demo.add_argument(
        "--replace", action="store_true", help="replace the file if it exists (default: refuse)"
    )
    demo.set_defaults(handler=cmd_demo)


def cmd_export_parquet(args: argparse.Namespace) -> int:
    """Write each canonical table of the database to OUT/TABLE/data.parquet."""
    from funnelcast.data import parquet_export

    started = time.perf_counter()
    counts = parquet_export.export_parquet(args.db, args.out, replace=args.replace)
    rows = ", ".join(f"{n:,} {t}" for t, n in counts.items() if t != "meta")
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f} s: {rows}")
    return 0


def add_export_parquet(commands: argparse._SubParsersAction) -> None:
    """Add `funnelcast export-parquet` to the command parsers."""
    export = commands.add_parser(
        "export-parquet", help="write the canonical tables as Parquet, for the Spark engine"
    )
    export.add_argument("--db", required=True, type=Path, help="database file to read")
    export.add_argument(
        "--out",
        required=True,
        type=Path,
        help="directory to write (one sub-directory of Parquet per table)",
    )
    export.add_argument(
        "--replace",
        action="store_true",
        help="replace the directory if it exists (default: refuse)",
    )
    export.set_defaults(handler=cmd_export_parquet)
