"""Reading a file: its type, its CSV dialect and encoding, and staging it in DuckDB.

read_source reads a CSV (through DuckDB's own reader, with the options its sniffer finds
passed explicitly), a Parquet file or an Excel .xlsx sheet (through Polars) once, into a
temporary staging table. What is staged, and how, is the stager's choice: Staging puts a file's
columns as text in import_raw (all of them to preview a header, only the mapped ones, already
cleaned, to check a file); fast.TypedStaging puts the mapped fields typed in import_typed.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb
import polars as pl

import funnelcast.importer.sql as sql
from funnelcast.data import db
from funnelcast.importer.mapping import Mapping, resolve
from funnelcast.importer.progress import Progress
from funnelcast.importer.tables import ImportProblems

SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
}


@dataclass(frozen=True)
class Source:
    """A file read into the staging table import_raw: columns c0, c1, … as text."""

    path: Path
    format: str
    columns: tuple[str, ...]  # header names, in file order
    rows: int
    encoding: str | None = None
    delimiter: str | None = None
    cleaned: bool = False  # staged values already trimmed, placeholders already null


class Stager(Protocol):
    """What read_source stages a file with: the table it makes, its statement and its run."""

    @property
    def table(self) -> str:
        """Return the staging table the statement creates."""
        ...

    def statement(self, header: tuple[str, ...], value: Callable[[int], str], source: str) -> str:
        """Return the statement staging a file (value(i): column i of source)."""
        ...

    def run(self, cur, statement: str, params: AbcMapping[str, Any], progress: Progress) -> None:
        """Run a staging statement; params: the reader's."""
        ...


@dataclass(frozen=True)
class Staging:
    """Which of a file's columns are staged, and whether cleaned on the way in.

    Without a mapping every column is staged as it is (a preview of the header, the Data
    page). With one, only the columns it maps are staged, trimmed and with placeholders as
    null, in the same pass that reads the file: every later pass reads clean text.
    """

    mapping: Mapping | None = None
    table = sql.RAW  # the staging table it creates

    def columns(self, header: tuple[str, ...]) -> list[int]:
        """Return the positions of the header's columns to stage."""
        if self.mapping is None:
            return list(range(len(header)))
        used = sorted(set(resolve(self.mapping, header)[1].values()))
        return used or [0]  # a file whose every field is --set still has rows to count

    def statement(self, header: tuple[str, ...], value: Callable[[int], str], source: str) -> str:
        """Return the statement staging the chosen columns (value(i): column i of source)."""
        cleaned = self.mapping is not None
        query = sql.staging_select(self.columns(header), value, source, cleaned=cleaned)
        return sql.create_temp(sql.RAW, query)

    def run(self, cur, statement: str, params: AbcMapping[str, Any], progress: Progress) -> None:
        """Run a staging statement; params: the reader's."""
        if self.mapping is not None:
            cleaning = sql.placeholder_params(self.mapping.placeholders)
            params = {**params, **sql.bind(statement, cleaning)}
        progress.run(cur, statement, params, "reading")


def file_format(path: Path) -> str:
    """Return 'csv', 'parquet' or 'xlsx' from the file name; other suffixes are refused."""
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise db.FunnelcastError(
            f"{path}: old Excel .xls files are not read; save it as .xlsx or CSV"
        )
    if suffix not in SUFFIXES:
        raise db.FunnelcastError(
            f"{path}: unknown file type {suffix or '(no suffix)'!r}; "
            f"import CSV (.csv, .tsv, .txt), Parquet (.parquet) or Excel (.xlsx)"
        )
    return SUFFIXES[suffix]


def _bom_encoding(path: Path) -> str | None:
    """Return the encoding a byte-order mark announces, or None without one."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    return None


# The longest line a CSV may have, in MB (DuckDB's reader refuses longer ones): the default is
# DuckDB's own; $FUNNELCAST_CSV_MAX_LINE_MB raises it for a file with a huge cell.
MAX_LINE_ENV = "FUNNELCAST_CSV_MAX_LINE_MB"
DEFAULT_MAX_LINE_MB = 2.0


def max_line_bytes() -> int:
    """Return the longest CSV line the reader takes, in bytes ($FUNNELCAST_CSV_MAX_LINE_MB)."""
    text = os.environ.get(MAX_LINE_ENV, "").strip()
    try:
        mb = float(text) if text else DEFAULT_MAX_LINE_MB
    except ValueError:
        raise db.FunnelcastError(f"{MAX_LINE_ENV}={text!r} is not a number of MB") from None
    if not 0 < mb <= 4096:
        raise db.FunnelcastError(f"{MAX_LINE_ENV}={text!r} must be more than 0 and at most 4096")
    return int(mb * 1_000_000)


def not_text(path: Path) -> str | None:
    """Return what a file given as CSV is when it is plainly no text (a PNG image, a zip
    archive, a SQLite file, binary bytes), or None when it may be text."""
    with path.open("rb") as handle:
        head = handle.read(8192)
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return None  # a byte-order mark: UTF-8 or UTF-16 text
    for signature, kind in db.FILE_SIGNATURES:
        if head.startswith(signature):
            return kind
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    if b"\x00" in head or controls > len(head) // 20:
        return "a binary file"
    return None


def _csv_dialect(cur, path: Path, encoding: str) -> dict[str, Any]:
    """Return the delimiter, quote, escape and header DuckDB's sniffer finds in the file."""
    params = {"path": str(path), "encoding": encoding, "max_line_size": max_line_bytes()}
    row = cur.execute(sql.SNIFF_CSV, params).fetchall()[0]
    plain = lambda text: "" if text == "(empty)" else text  # noqa: E731
    return {
        "delim": plain(row[0]) or ",",
        "quote": plain(row[1]),
        "escape": plain(row[2]),
        "columns": {column["name"]: "VARCHAR" for column in row[3]},
    }


def _stage_csv(
    cur, path: Path, progress: Progress, staging: Stager
) -> tuple[tuple[str, ...], str, str]:
    """Read a CSV file into staging; return its header, encoding and delimiter.

    UTF-8 (with or without a byte-order mark) is tried first, Latin-1 when the bytes are not
    UTF-8; UTF-16 when a byte-order mark says so. Delimiter and quoting come from DuckDB's
    sniffer and are then passed explicitly; every value is read as text, parsed later.
    """
    encodings = [_bom_encoding(path) or "utf-8"]
    if encodings[0] == "utf-8":
        encodings.append("latin-1")
    last_error: Exception | None = None
    for encoding in encodings:
        try:
            dialect = _csv_dialect(cur, path, encoding)
            params = {
                "path": str(path),
                "encoding": encoding,
                "max_line_size": max_line_bytes(),
                **dialect,
            }
            header = list(dialect["columns"])
            statement = staging.statement(tuple(header), sql.by_position, sql.CSV_READER)
            staging.run(cur, statement, params, progress)
            return tuple(header), encoding, dialect["delim"]
        except duckdb.Error as exc:
            last_error = exc
            if "unicode" in str(exc).lower() and encoding != encodings[-1]:
                cur.execute(sql.drop_table(staging.table))
                continue
            raise _unreadable(path, "CSV", exc) from None
    raise _unreadable(path, "CSV", last_error)


def first_line(exc: Exception | None) -> str:
    """Return the first informative line of a DuckDB error."""
    text = str(exc or "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[:2])[:300] if lines else text


LONG_LINE = re.compile(r"Maximum line size of \d+ bytes exceeded")


def _first_long_line(path: Path, limit: int) -> tuple[int, int] | None:
    """Return the number and length of the file's first line longer than limit bytes (DuckDB's
    own line numbers count from its reading blocks, not the file)."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if len(line) > limit:
                return number, len(line)
    return None


def _unreadable(path: Path, kind: str, exc: Exception | None) -> db.FunnelcastError:
    """Return the error saying a file cannot be read as its kind, and why (a line longer than
    the reader takes: which line, how long, and how to raise the limit)."""
    limit = max_line_bytes()
    found = _first_long_line(path, limit) if LONG_LINE.search(str(exc or "")) else None
    if found:
        line, size = found
        need = max(math.ceil(size / 1_000_000) + 1, 3)
        return db.FunnelcastError(
            f"{path}: line {line} is {size / 1_000_000:.1f} MB long, more than the "
            f"{limit / 1_000_000:g} MB a line may be (a huge cell?): shorten it, or set "
            f"{MAX_LINE_ENV}={need} and import again"
        )
    return db.FunnelcastError(f"{path}: cannot read it as {kind}: {first_line(exc)}")


def _text_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Return a frame with every column as text: whole floats without '.0', times in ISO."""
    out = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if dtype.is_float():
            column = (
                pl.when(column.is_finite() & (column == column.round(0)) & (column.abs() < 1e15))
                .then(column.cast(pl.Int64).cast(pl.String))
                .otherwise(column.cast(pl.String))
            )
        elif dtype == pl.Datetime or dtype == pl.Date:
            column = (
                column.dt.to_string("iso")
                if dtype == pl.Date
                else column.dt.strftime("%Y-%m-%d %H:%M:%S%.f")
            )
        else:
            column = column.cast(pl.String)
        out.append(column.alias(name))
    return frame.select(out)


def _stage_parquet(cur, path: Path, progress: Progress, staging: Stager) -> tuple[str, ...]:
    """Read a Parquet file into staging, every column cast to text; return its header."""
    try:
        described = cur.execute(sql.PARQUET_COLUMNS, {"path": str(path)}).fetchall()
        header = tuple(r[0] for r in described)
        statement = staging.statement(header, sql.by_position_as_text, sql.PARQUET_READER)
        staging.run(cur, statement, {"path": str(path)}, progress)
    except duckdb.Error as exc:
        raise _unreadable(path, "Parquet", exc) from None
    return header


def _stage_excel(
    cur, path: Path, progress: Progress, staging: Stager, sheet: str | None
) -> tuple[str, ...]:
    """Read an .xlsx sheet (the first when none is named) into staging; return its header."""
    try:
        frame = (
            pl.read_excel(path, sheet_name=sheet, engine="calamine")
            if sheet
            else pl.read_excel(path, engine="calamine")
        )
    except Exception as exc:  # fastexcel raises its own types for broken files and sheets
        raise _unreadable(path, "Excel", exc) from None
    header = tuple(frame.columns)
    staged = _text_frame(frame).rename({name: f"c{i}" for i, name in enumerate(header)})
    cur.register(sql.FRAME, staged)
    try:
        statement = staging.statement(header, sql.staged, sql.FRAME_READER)
        staging.run(cur, statement, {}, progress)
    finally:
        cur.unregister(sql.FRAME)
    return header


def read_source(
    cur,
    path: Path,
    progress: Progress | None = None,
    sheet: str | None = None,
    mapping: Mapping | None = None,
    staging: Stager | None = None,
) -> Source:
    """Read a CSV, Parquet or .xlsx file into the temporary table import_raw; return its shape.

    With a mapping, only the columns it maps are staged, already cleaned (see Staging). With
    a TypedStaging, the mapped fields are staged typed into import_typed instead.
    """
    progress = progress or Progress()
    staging = staging or Staging(mapping)
    path = Path(path)
    kind = file_format(path)
    if not path.exists():
        raise db.FunnelcastError(f"{path}: no such file")
    if path.is_dir():
        raise db.FunnelcastError(f"{path}: is a directory, not a file")
    if path.stat().st_size == 0:
        raise ImportProblems(str(path), ["the file is empty (0 bytes)"])
    if kind == "csv" and (what := not_text(path)):
        raise db.FunnelcastError(
            f"{path}: not a text file: it looks like {what}; import a CSV, Parquet or .xlsx export"
        )
    cur.execute(sql.drop_table(staging.table))
    encoding = delimiter = None
    if kind == "csv":
        header, encoding, delimiter = _stage_csv(cur, path, progress, staging)
    elif kind == "parquet":
        header = _stage_parquet(cur, path, progress, staging)
    else:
        header = _stage_excel(cur, path, progress, staging, sheet)
    rows = cur.execute(sql.count_rows(staging.table)).fetchall()[0][0]
    cleaned = isinstance(staging, Staging) and staging.mapping is not None
    return Source(path, kind, header, rows, encoding, delimiter, cleaned=cleaned)


def drop_staging(cur) -> None:
    """Drop the importer's temporary tables."""
    for name in (sql.RAW, sql.TYPED, sql.NEW, sql.ATTRIBUTES, sql.ATTRIBUTE_VALUES):
        cur.execute(sql.drop_table(name))
