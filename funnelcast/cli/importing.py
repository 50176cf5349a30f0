"""`funnelcast import`: load a CSV, Parquet or Excel export into one table, all or nothing (and,
with --currency, set the currency of the database's amounts once the file is in)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

import duckdb

from funnelcast import importer
from funnelcast.cli.options import currency_code
from funnelcast.data import context, db

# Files at least this large get a progress bar on stderr.
PROGRESS_BYTES = 20 * 2**20


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `funnelcast import` to the command parsers."""
    command = commands.add_parser(
        "import",
        help="load a CSV, Parquet or .xlsx export into one table (all or nothing)",
        description=(
            "Validate every row of FILE, then load it into TABLE in one transaction, or load "
            "nothing and list the problems (file, row, column). Importing the same file again "
            "adds nothing: rows are matched by key (events: by all their fields). Values "
            f"treated as missing by default: {', '.join(repr(p) for p in importer.PLACEHOLDERS)}."
        ),
    )
    command.add_argument("--db", required=True, type=Path, help="database file")
    command.add_argument(
        "--table", choices=tuple(importer.TABLES), help="table to load (may come from --mapping)"
    )
    command.add_argument(
        "file", type=Path, help="CSV (any delimiter, UTF-8/Latin-1), Parquet or .xlsx file"
    )
    command.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="SRC=DST",
        help="file column SRC feeds field DST (repeatable)",
    )
    command.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="DST=VALUE",
        help="every row gets VALUE in field DST, e.g. --set stage=customer",
    )
    command.add_argument(
        "--default",
        action="append",
        default=[],
        metavar="DST=VALUE",
        help="VALUE where a row's DST is missing or a placeholder",
    )
    command.add_argument(
        "--date-format",
        action="append",
        default=[],
        metavar="DST=FORMAT",
        help="strptime format of a date field that is not ISO, e.g. created_at=%%d/%%m/%%Y",
    )
    command.add_argument(
        "--placeholder",
        action="append",
        metavar="TEXT",
        help="a value that means missing; repeat to give the whole list "
        "(replaces the default list)",
    )
    command.add_argument(
        "--decimal-comma", action="store_true", help="numbers are written 1.234,56"
    )
    command.add_argument(
        "--type",
        action="append",
        default=[],
        metavar="COLUMN=TYPE",
        help="a leads file's column kept as a custom attribute is read as TYPE (number, date, "
        "yes/no or text) rather than the type its values suggest",
    )
    command.add_argument(
        "--drop",
        action="append",
        default=[],
        metavar="COLUMN",
        help="leave a column out (a leads file keeps every other column as a custom attribute)",
    )
    command.add_argument("--sheet", help="worksheet of an .xlsx file (default: the first)")
    command.add_argument(
        "--mapping",
        type=Path,
        metavar="FILE.toml",
        help="a saved mapping; the options above add to or override it",
    )
    command.add_argument(
        "--currency",
        type=currency_code,
        metavar="CODE",
        help="the currency of the database's amounts (spend, deal values, targets), an ISO "
        "4217 code such as EUR; stored once the import succeeds (default: as set, else USD)",
    )
    command.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and report what would change, write nothing",
    )
    command.set_defaults(handler=cmd_import)


def build_mapping(args: argparse.Namespace) -> importer.Mapping:
    """Return the mapping the command line describes (a --mapping file, then the options)."""
    base = importer.read_mapping_file(args.mapping) if args.mapping else None
    table = args.table or (base.table if base else None)
    if table is None:
        raise db.FunnelcastError(
            "which table? give --table NAME or a --mapping file with "
            f'table = "..." ({", ".join(importer.TABLES)})'
        )
    if base is not None and args.table and base.table != args.table:
        raise db.FunnelcastError(
            f"--table {args.table} but {args.mapping} maps onto {base.table}; drop one"
        )
    base = base or importer.Mapping(table)
    columns = {**base.columns, **importer.parse_pairs(args.map, "--map")}
    return importer.Mapping(
        table=table,
        columns=columns,
        constants={**base.constants, **importer.parse_pairs(args.set, "--set")},
        defaults={**base.defaults, **importer.parse_pairs(args.default, "--default")},
        formats={**base.formats, **importer.parse_pairs(args.date_format, "--date-format")},
        placeholders=tuple(args.placeholder) if args.placeholder is not None else base.placeholders,
        decimal_comma=args.decimal_comma or base.decimal_comma,
        types={**base.types, **importer.parse_pairs(args.type, "--type")},
        drop=tuple(dict.fromkeys((*base.drop, *args.drop))),
    )


class ProgressBar:
    """Draws the import's stage and progress on stderr: a bar on a terminal, lines elsewhere."""

    WIDTH = 30

    def __init__(self, stream: TextIO = sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.current: str | None = None

    def __call__(self, stage: str, fraction: float | None) -> None:
        if stage == "done":
            if self.tty and self.current:
                self.stream.write("\r" + " " * (self.WIDTH + 24) + "\r")
                self.stream.flush()
            return
        if self.tty:
            done = int((fraction or 0) * self.WIDTH)
            percent = f"{fraction:4.0%}" if fraction is not None else "    "
            self.stream.write(f"\r{stage:<10} [{'#' * done}{'.' * (self.WIDTH - done)}] {percent}")
            self.stream.flush()
        elif stage != self.current:
            print(f"funnelcast: {stage}…", file=self.stream, flush=True)
        self.current = stage


def cmd_import(args: argparse.Namespace) -> int:
    """Validate a file and load it (or, with --dry-run, say what loading would do)."""
    mapping = build_mapping(args)
    if not args.file.exists():
        raise db.FunnelcastError(f"{args.file}: no such file")
    large = args.file.is_file() and args.file.stat().st_size >= PROGRESS_BYTES
    progress = importer.Progress(ProgressBar() if large else None)
    # A first import creates the database, and says so on its first line; when it fails, the
    # new file is removed again (a mistyped --db leaves nothing behind). A dry run writes
    # nothing, so it can run beside an open dashboard; on a database not yet created it checks
    # against an empty one.
    created = False
    if args.dry_run:
        con = (
            db.connect(args.db, read_only=True)
            if args.db.exists()
            else db.connect(":memory:", create=True)
        )
    else:
        created = not args.db.exists()
        con = db.connect(args.db, create=True)
    try:
        from funnelcast import loading

        result = loading.import_file(
            con.cursor(),
            args.file,
            mapping,
            dry_run=args.dry_run,
            progress=progress,
            sheet=args.sheet,
        )
        if not args.dry_run:
            if args.currency is not None:
                context.set_currency(con.cursor(), args.currency.code)
            try:
                con.execute("checkpoint")
            except duckdb.Error as exc:
                # The commit is durable; only folding it into the file failed (disk full).
                raise db.FunnelcastError(
                    f"{args.file}: the import is committed ({result.inserted:,} new, "
                    f"{result.updated:,} updated rows) but {args.db} could not be rewritten: "
                    f"{str(exc).splitlines()[0]}; it is completed the next time the database "
                    "is opened with room on the disk"
                ) from None
    except BaseException:
        con.close()
        if created:
            _remove_database(args.db)
        raise
    con.close()
    if created:
        print(f"created new database {args.db}")
    print(result.summary())
    if args.currency is not None:
        verb = "would be" if args.dry_run else "are"
        print(f"amounts {verb} in {args.currency.label}")
    return 0


def _remove_database(path: Path) -> None:
    """Remove a database file the failed import created, with its write-ahead log."""
    for leftover in (path, path.with_name(path.name + ".wal")):
        try:
            leftover.unlink()
        except OSError:
            pass
