"""The `funnelcast` command: build the demo database, print the headline figures."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from funnelcast import db


def _threshold(text: str) -> float:
    """Return a threshold parsed from the command line; negative or non-numbers are refused."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold must be a number, not {text!r}") from None
    if value < 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"threshold must be a number >= 0, not {text}")
    return value


def _positive_int(text: str) -> int:
    """Return a whole number >= 1 parsed from the command line."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, not {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, pointing at --help."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    top = _Parser(prog="funnelcast", description="Funnel analytics and marketing ROI on DuckDB.")
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = commands.add_parser("demo", help="build a realistic demo database")
    demo.add_argument("--db", required=True, type=Path, help="database file to create")
    demo.add_argument("--leads", type=_positive_int, default=20_000, help="number of leads")
    demo.add_argument("--seed", type=int, default=7, help="random seed (same seed, same data)")
    demo.add_argument(
        "--replace", action="store_true", help="replace the file if it exists (default: refuse)"
    )

    metrics = commands.add_parser("metrics", help="print the headline funnel figures")
    metrics.add_argument("--db", required=True, type=Path, help="database file")
    metrics.add_argument("--quarter", help="fiscal quarter such as 2026Q1 (default: all history)")
    metrics.add_argument("--channel", help="only leads and spend of this channel")
    metrics.add_argument(
        "--threshold",
        type=_threshold,
        help="compute MQLs with the current definition at this threshold "
        "(default: the MQLs the CRM recorded)",
    )
    metrics.add_argument("--format", choices=("json", "table"), default="table")
    return top


def cmd_demo(args: argparse.Namespace) -> int:
    """Build the demo database in a temporary file, then move it into place."""
    from funnelcast.demo import build_demo

    target: Path = args.db
    if target.exists() and not args.replace:
        raise db.FunnelcastError(
            f"{target} already exists; choose another path or pass --replace to overwrite it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    fd, tmp_name = tempfile.mkstemp(prefix=".demo-", suffix=".duckdb", dir=target.parent)
    os.close(fd)
    os.unlink(tmp_name)
    try:
        con = db.connect(tmp_name, create=True)
        try:
            summary = build_demo(con, leads=args.leads, seed=args.seed)
            con.execute("checkpoint")
        finally:
            con.close()
        os.replace(tmp_name, target)
    finally:
        for leftover in (tmp_name, tmp_name + ".wal"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    seconds = time.perf_counter() - started
    counts = ", ".join(f"{v:,} {k}" for k, v in summary["counts"].items())
    print(f"built {target} in {seconds:.1f} s: {counts}")
    return 0


def _table(result: dict[str, Any]) -> str:
    """Return the metrics as a plain-text table for people."""

    def show(value: Any, kind: str = "count") -> str:
        if value is None:
            return "—"
        if kind == "rate":
            return f"{value:.1%}"
        if kind == "money":
            return f"{value:,.2f}"
        return f"{value:,}"

    columns = [
        ("leads", "count"),
        ("mqls", "count"),
        ("sqls", "count"),
        ("customers", "count"),
        ("mql_to_sql", "rate"),
        ("sql_to_customer", "rate"),
        ("revenue", "money"),
        ("spend", "money"),
        ("cost_per_mql", "money"),
        ("roi", "rate"),
    ]
    rows = [["channel"] + [name for name, _ in columns]]
    for item in [*result["by_channel"], {"channel": "TOTAL", **result}]:
        rows.append([item["channel"]] + [show(item[name], kind) for name, kind in columns])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in rows
    ]
    scope = result["scope"]
    title = (
        f"{scope['quarter'] or 'all history'}"
        f"{' · channel ' + scope['channel'] if scope['channel'] else ''}"
        f" · MQLs {scope['mql_source']}"
        f"{' at threshold ' + format(scope['threshold'], 'g') if scope['threshold'] is not None else ''}"
    )
    note = "" if scope["cohort_is_mature"] in (True, None) else (
        "\nnote: this cohort is still maturing; its conversion rates will rise."
    )
    return "\n".join([title, *lines]) + note


def cmd_metrics(args: argparse.Namespace) -> int:
    """Print the headline figures as JSON or as a table."""
    from funnelcast.metrics import metrics

    con = db.connect(args.db, read_only=True)
    try:
        result = metrics(
            con.cursor(), quarter=args.quarter, channel=args.channel, threshold=args.threshold
        )
    finally:
        con.close()
    if args.format == "json":
        print(json.dumps(result, indent=2, default=str))
    else:
        print(_table(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = parser().parse_args(argv)
    handlers = {"demo": cmd_demo, "metrics": cmd_metrics}
    try:
        return handlers[args.command](args)
    except db.FunnelcastError as exc:
        print(f"funnelcast: {exc}", file=sys.stderr)
        return 2
    except duckdb.Error as exc:
        print(f"funnelcast: database error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
