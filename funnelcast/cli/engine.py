"""`funnelcast export-parquet`, and `--engine spark --parquet DIR` for metrics, funnel, roi and plan.

The DuckDB handlers of those commands open the file themselves; with `--engine spark` the
command runs here instead: the same core function on a Spark cursor, printed by the same
formatter the DuckDB command uses, so the two engines' output can be compared byte for byte.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from funnelcast.data import db, engine

# The commands that take --engine; each reads only.
ENGINE_COMMANDS = ("metrics", "funnel", "roi", "plan")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `export-parquet`, and --engine/--parquet to the commands that can run on Spark."""
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
    for name in ENGINE_COMMANDS:
        sub = commands.choices[name]
        for action in sub._actions:
            if action.dest == "db":  # the Spark engine reads --parquet instead; checked in run()
                action.required = False
                action.help = f"{action.help} (duckdb engine)"
        sub.add_argument(
            "--engine",
            choices=engine.ENGINES,
            default=None,
            help=f"where the queries run (default: ${engine.ENGINE_ENV} or duckdb)",
        )
        sub.add_argument(
            "--parquet",
            default=None,  # text: a URI such as s3a://bucket/lake must reach Spark whole
            help=f"Parquet directory or URI of the tables (spark engine; default: "
            f"${engine.PARQUET_ENV})",
        )


def cmd_export_parquet(args: argparse.Namespace) -> int:
    """Write each canonical table of the database to OUT/TABLE/data.parquet."""
    from funnelcast.data import spark_engine

    started = time.perf_counter()
    counts = spark_engine.export_parquet(args.db, args.out, replace=args.replace)
    rows = ", ".join(f"{n:,} {t}" for t, n in counts.items() if t != "meta")
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f} s: {rows}")
    return 0


def _engine_of(args: argparse.Namespace) -> tuple[str, str | None]:
    """Return the engine and Parquet location: the command line's, else the environment's."""
    if args.engine is not None:
        parquet = args.parquet or engine.configured_parquet()
        return args.engine, parquet
    env_engine, env_parquet = engine.configured()
    return env_engine, args.parquet or env_parquet


def _metrics(cur, args: argparse.Namespace) -> str:
    from funnelcast import cli
    from funnelcast.analytics.metrics import metrics

    result = metrics(cur, quarter=args.quarter, channel=args.channel, threshold=args.threshold)
    return (
        json.dumps(result, indent=2, default=str) if args.format == "json" else cli._table(result)
    )


def _funnel(cur, args: argparse.Namespace) -> str:
    from funnelcast.analytics import funnel
    from funnelcast.cli import funnel as cli_funnel

    result = funnel.report(
        cur, quarter=args.quarter, channel=args.channel, by=args.by, grain=args.cohort_grain
    )
    if args.format == "json":
        return json.dumps(funnel.for_json(result), indent=2, default=str)
    return cli_funnel.funnel_table(result)


def _roi(cur, args: argparse.Namespace) -> str:
    from funnelcast.analytics.roi import roi
    from funnelcast.cli import roi as cli_roi

    result = roi(cur, quarter=args.quarter, model=args.model, half_life_days=args.half_life)
    return (
        json.dumps(result, indent=2, default=str)
        if args.format == "json"
        else cli_roi.table(result)
    )


def _plan(cur, args: argparse.Namespace) -> str:
    from funnelcast import planner
    from funnelcast.cli import plan as cli_plan

    result = planner.make_plan(
        cur,
        quarter=args.quarter,
        customers=args.target_customers,
        revenue=args.target_revenue,
        window=args.window,
        mix=args.mix,
        threshold=args.threshold,
    )
    return (
        json.dumps(result, indent=2, default=str)
        if args.format == "json"
        else cli_plan._table(result)
    )


SPARK_RUNNERS: dict[str, Callable[[Any, argparse.Namespace], str]] = {
    "metrics": _metrics,
    "funnel": _funnel,
    "roi": _roi,
    "plan": _plan,
}


def run(args: argparse.Namespace, duckdb_handler: Callable[[argparse.Namespace], int]) -> int:
    """Run an engine command: the DuckDB handler as before, or its Spark counterpart."""
    chosen, parquet = _engine_of(args)
    if chosen == "duckdb":
        if args.db is None:
            raise db.FunnelcastError(
                f"{args.command} needs --db FILE (or --engine spark --parquet DIR)"
            )
        return duckdb_handler(args)
    con = engine.connect("spark", parquet=parquet)
    try:
        text = SPARK_RUNNERS[args.command](con.cursor(), args)
    except Exception as exc:
        if type(exc).__module__.split(".")[0] not in ("pyspark", "py4j"):
            raise
        raise db.FunnelcastError(f"spark: {str(exc).strip().splitlines()[0]}") from None
    finally:
        con.close()
    print(text)
    return 0


def route(args: argparse.Namespace, handlers: dict[str, Callable[[argparse.Namespace], int]]):
    """Return the handler for the parsed command: engine commands go through `run`."""
    handler = handlers[args.command]
    if args.command in ENGINE_COMMANDS:
        return lambda parsed: run(parsed, handler)
    return handler


HANDLERS = {"export-parquet": cmd_export_parquet}
