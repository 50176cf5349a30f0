"""The one way a report command runs, and how any command's failure becomes an exit status.

A report is declared once (`Report`): its name, its own options, a compute function taking a
cursor and the parsed options, and how its result is shown. `add_report` makes the command (with --db,
--format, and --engine/--parquet for reports that can run on Spark); `run` opens the database
read-only (or the Spark engine on Parquet), computes, closes, then prints the JSON (`--format
json`) or the text for people. `guarded` turns the project's errors into one line on stderr and
an exit status: 2 for a refusal the user can fix, 1 for a database error.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import duckdb

from funnelcast.cli.options import refuse_existing
from funnelcast.data import db, engine

T = TypeVar("T")


def _itself(result: Any) -> Any:
    return result


@dataclass(frozen=True)
class Report(Generic[T]):
    """A read-only report command, declared once.

    arguments(command) adds the report's own options (add_report adds --db, --format and the
    engine's); compute(cursor, args) returns the result. formats: the choices of --format, as its
    help lists them: "json" prints as_json(result), the other one (the default) text(result).
    A report given `write` writes a file instead and has no --format: its --out is refused before
    the database is opened if it exists without --replace, and write(result, args) writes it
    once the database is closed and returns the line to print.
    """

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    compute: Callable[[Any, argparse.Namespace], T]
    text: Callable[[T], str] | None = None
    as_json: Callable[[T], Any] = _itself
    formats: tuple[str, ...] = ("json", "table")
    spark: bool = False
    write: Callable[[T, argparse.Namespace], str] | None = None


def add_report(
    commands: argparse._SubParsersAction, report: Report[Any]
) -> argparse.ArgumentParser:
    """Add the report's command to the command parsers; return its parser."""
    command = commands.add_parser(report.name, help=report.help)
    command.add_argument(
        "--db",
        required=not report.spark,  # the Spark engine reads --parquet instead; checked in run()
        type=Path,
        help="database file (duckdb engine)" if report.spark else "database file",
    )
    report.arguments(command)
    if report.write is None:
        default = next(name for name in report.formats if name != "json")
        command.add_argument("--format", choices=report.formats, default=default)
    if report.spark:
        command.add_argument(
            "--engine",
            choices=engine.ENGINES,
            default=None,
            help=f"where the queries run (default: ${engine.ENGINE_ENV} or duckdb)",
        )
        command.add_argument(
            "--parquet",
            default=None,  # text: a URI such as s3a://bucket/lake must reach Spark whole
            help=f"Parquet directory or URI of the tables (spark engine; default: "
            f"${engine.PARQUET_ENV})",
        )
    command.set_defaults(handler=functools.partial(run, report))
    return command


def engine_of(args: argparse.Namespace) -> tuple[str, str | None]:
    """Return the engine and Parquet location: the command line's, else the environment's."""
    if args.engine is not None:
        parquet = args.parquet or engine.configured_parquet()
        return args.engine, parquet
    env_engine, env_parquet = engine.configured()
    return env_engine, args.parquet or env_parquet


def _open(report: Report[Any], args: argparse.Namespace) -> Any:
    """Return a read-only connection on the engine the report runs on."""
    chosen, parquet = engine_of(args) if report.spark else ("duckdb", None)
    if chosen == "duckdb" and args.db is None:
        raise db.FunnelcastError(
            f"{args.command} needs --db FILE (or --engine spark --parquet DIR)"
        )
    return engine.connect(chosen, db_path=args.db, parquet=parquet)


def _from_spark(exc: Exception) -> bool:
    """Return whether an exception was raised by Spark (pyspark or its Java gateway)."""
    return type(exc).__module__.split(".")[0] in ("pyspark", "py4j")


def run(report: Report[Any], args: argparse.Namespace) -> int:
    """Run a report: open, compute, close, print; return the exit status."""
    if report.write is not None:
        refuse_existing(args.out, args.replace)
    con = _open(report, args)
    try:
        result = report.compute(con.cursor(), args)
    except Exception as exc:
        if not _from_spark(exc):
            raise
        raise db.FunnelcastError(f"spark: {str(exc).strip().splitlines()[0]}") from None
    finally:
        con.close()
    if report.write is not None:
        print(report.write(result, args))
    elif args.format == "json":
        print(json.dumps(report.as_json(result), indent=2, default=str))
    else:
        assert report.text is not None  # a report with formats has a text for people
        print(report.text(result))
    return 0


def guarded(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command's handler; a failure is one line on stderr and a non-zero exit status."""
    try:
        return handler(args)
    except BrokenPipeError:
        # the reader went away (`funnelcast ... | head`): no traceback; point stdout at nothing
        # so Python's flush at exit does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except db.FunnelcastError as exc:
        print(f"funnelcast: {exc}", file=sys.stderr)
        return 2
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        if getattr(args, "db", None) and any(
            sign in message for sign in ("Could not read", "Corrupt", "checksum")
        ):  # a damaged file opens, then fails when read
            message = (
                f"cannot read {args.db} ({message}): the file is damaged; restore it from a copy"
            )
        print(f"funnelcast: database error: {message}", file=sys.stderr)
        return 1
