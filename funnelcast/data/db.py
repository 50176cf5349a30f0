"""The one door to the database: open it, create or check its schema, run a query file."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

QUERIES_DIR = Path(__file__).resolve().parents[2] / "queries"
MIGRATIONS_DIR = QUERIES_DIR / "migrations"
DEFAULT_DB = Path(__file__).resolve().parents[2] / "data" / "funnelcast.duckdb"
CANONICAL_TABLES = (
    "meta",
    "leads",
    "events",
    "stage_changes",
    "spend",
    "targets",
    "definitions",
    "definition_fit_rules",
    "definition_behaviour_rules",
    "lead_attribute_types",
    "lead_attributes",
)
# The schema version the first release wrote; each migration file steps one version up from it.
FIRST_SCHEMA_VERSION = 1


def read_migrations(folder: Path) -> dict[int, str]:
    """Return the SQL of each migration file FOLDER/NNN_what.sql by the version NNN it brings a
    database to (from NNN - 1); the versions run without a gap from FIRST_SCHEMA_VERSION + 1."""
    steps = {}
    for path in sorted(folder.glob("*.sql")):
        match = re.fullmatch(r"(\d{3})_[a-z0-9_]+\.sql", path.name)
        if match is None:
            raise ValueError(f"migration {path.name}: name it NNN_what.sql")
        steps[int(match.group(1))] = path.read_text(encoding="utf-8")
    expected = list(range(FIRST_SCHEMA_VERSION + 1, FIRST_SCHEMA_VERSION + 1 + len(steps)))
    if sorted(steps) != expected:
        raise ValueError(f"migrations in {folder}: versions {sorted(steps)}, not {expected}")
    return steps


# Migrations from version N - 1 to N, by N; the newest N is the schema version schema.sql
# (with shared.sql) creates.
MIGRATIONS = read_migrations(MIGRATIONS_DIR)
SCHEMA_VERSION = max(MIGRATIONS, default=FIRST_SCHEMA_VERSION)


class FunnelcastError(Exception):
    """An error a user can act on; its message is shown as is, without a traceback."""


class NeedsMigration(FunnelcastError):
    """A database of an older schema version was opened read-only: it cannot migrate so."""


@functools.cache
def query_text(name: str) -> str:
    """Return the SQL of queries/NAME.sql."""
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(f"not a query name: {name!r}")
    path = QUERIES_DIR / f"{name}.sql"
    return path.read_text(encoding="utf-8")


def run(cur: duckdb.DuckDBPyConnection, name: str, **params: Any) -> pl.DataFrame:
    """Return the rows of queries/NAME.sql, run with named parameters, as a polars frame."""
    return relation(cur, name, **params).pl()


def relation(cur: duckdb.DuckDBPyConnection, name: str, **params: Any) -> duckdb.DuckDBPyRelation:
    """Return queries/NAME.sql with named parameters bound, not yet fetched (to stream a large
    result in batches: .to_arrow_reader(rows))."""
    sql = query_text(name)
    used = set(re.findall(r"\$([a-z_][a-z0-9_]*)", sql))
    missing = used - params.keys()
    if missing:
        raise TypeError(f"query {name} needs parameters: {', '.join(sorted(missing))}")
    bound = {k: v for k, v in params.items() if k in used}
    return cur.sql(sql, params=bound)


def create_schema(con: duckdb.DuckDBPyConnection, fiscal_year_start_month: int = 1) -> None:
    """Create the canonical tables and the shared macros and views in an empty database, and
    record the schema version."""
    con.execute("begin transaction")
    try:
        con.execute(query_text("schema"))
        con.execute(query_text("shared"))
        con.execute(
            "insert into meta values ('schema_version', $v), ('fiscal_year_start_month', $m)",
            {"v": str(SCHEMA_VERSION), "m": str(fiscal_year_start_month)},
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def _columns(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Return (table, column, type) of the canonical tables a database holds, in order."""
    return con.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'main' and list_contains($tables, table_name) "
        "order by table_name, ordinal_position",
        {"tables": list(CANONICAL_TABLES)},
    ).fetchall()


@functools.cache
def _schema_columns() -> tuple[tuple, ...]:
    """Return _columns of a database queries/schema.sql has just made."""
    with open_duckdb() as con:
        con.execute(query_text("schema"))
        return tuple(_columns(con))


def _has_canonical_tables(con: duckdb.DuckDBPyConnection) -> bool:
    """Return whether a database holds every canonical table exactly as schema.sql makes it."""
    return tuple(_columns(con)) == _schema_columns()


def _adopt(con: duckdb.DuckDBPyConnection) -> None:
    """Complete a database made from schema.sql alone: its meta rows and shared.sql."""
    con.execute("begin transaction")
    try:
        con.execute(query_text("shared"))
        con.execute(
            "insert or replace into meta values ('schema_version', $v)", {"v": str(SCHEMA_VERSION)}
        )
        con.execute(
            "insert into meta select 'fiscal_year_start_month', '1' "
            "where not exists (select 1 from meta where key = 'fiscal_year_start_month')"
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """Return the database's schema version, or None when it is not a Funnelcast database."""
    has_meta = con.execute(
        "select count(*) from information_schema.tables where table_name = 'meta'"
    ).fetchall()
    if has_meta[0][0] == 0:
        return None
    rows = con.execute("select value from meta where key = 'schema_version'").fetchall()
    return int(rows[0][0]) if rows else None


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Bring an older Funnelcast database up to SCHEMA_VERSION: its migration files in order,
    then shared.sql re-created, in one transaction (a failing step leaves the file as it was)."""
    version = schema_version(con)
    if version is None:
        raise FunnelcastError("not a Funnelcast database (no schema version)")
    if version > SCHEMA_VERSION:
        raise FunnelcastError(
            f"database schema version {version} is newer than this Funnelcast "
            f"(knows up to {SCHEMA_VERSION}); upgrade Funnelcast"
        )
    con.execute("begin transaction")
    try:
        for step in range(version + 1, SCHEMA_VERSION + 1):
            con.execute(MIGRATIONS[step])
        con.execute(query_text("shared"))
        con.execute(
            "update meta set value = $v where key = 'schema_version'", {"v": str(SCHEMA_VERSION)}
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


# Every connection the project opens says so: DuckDB never downloads or loads an extension of
# its own accord (a SQLite file given as a database would otherwise fetch the sqlite extension
# over the network and run it). Funnelcast needs only what the core wheel carries.
SAFE_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}

# What a file that is not a DuckDB database starts with, and what to call it.
FILE_SIGNATURES = (
    (b"SQLite format 3\x00", "a SQLite file"),
    (b"PAR1", "a Parquet file"),
    (b"PK\x03\x04", "a zip archive (or an Excel/Office file)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x89PNG", "a PNG image"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old Office file"),
)
# A DuckDB file holds its magic bytes "DUCK" after an 8-byte checksum.
DUCKDB_MAGIC = (8, b"DUCK")


def open_duckdb(database: str | Path = ":memory:", *, read_only: bool = False) -> Any:
    """Return a raw DuckDB connection with SAFE_CONFIG (no schema checks: see connect)."""
    return duckdb.connect(str(database), read_only=read_only, config=dict(SAFE_CONFIG))


def file_kind(path: Path) -> str | None:
    """Return what a file is when it is plainly not a DuckDB database ('a SQLite file', 'an
    empty file', 'a text file (CSV?)'), or None when it may be one."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head:
        return "an empty file"
    offset, magic = DUCKDB_MAGIC
    if head[offset : offset + len(magic)] == magic:
        return None
    for signature, kind in FILE_SIGNATURES:
        if head.startswith(signature):
            return kind
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "a binary file of another kind"
    if "," in text or ";" in text or "\t" in text:
        return "a text file (CSV or similar: import it with funnelcast import)"
    return "a text file"


def connect(
    path: str | Path, *, read_only: bool = False, create: bool = False
) -> duckdb.DuckDBPyConnection:
    """Return a connection to a Funnelcast database file, checked and migrated.

    With create=True a missing file becomes a new, empty Funnelcast database; otherwise a
    missing file, another program's database or a file that is busy is a FunnelcastError.
    """
    path = Path(path)
    if str(path) != ":memory:":
        if path.is_dir():
            raise FunnelcastError(f"{path} is a directory, not a database file")
        if not path.exists() and not create:
            raise FunnelcastError(
                f"database {path} does not exist (create one with: funnelcast demo --db {path})"
            )
        if not read_only and path.exists() and not os.access(path, os.W_OK):
            raise FunnelcastError(
                f"database {path} is read-only (no permission to write the file): change its "
                "permissions to write to it; reading it works as it is"
            )
        if path.exists():
            kind = file_kind(path)
            if kind is not None and not (create and kind == "an empty file"):
                raise FunnelcastError(f"{path} is {kind}, not a DuckDB database")
    try:
        con = open_duckdb(path, read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise FunnelcastError(
                f"database {path} is in use by another process (close the dashboard or "
                f"the other command, or open it read-only)"
            ) from exc
        raise FunnelcastError(
            f"cannot open {path} as a DuckDB database: {text.splitlines()[0]}"
        ) from exc
    except duckdb.Error as exc:
        text = str(exc).splitlines()[0]
        if "Corrupt" in text or "checksum" in text:
            raise FunnelcastError(
                f"database {path} is damaged ({text}): restore it from a copy"
            ) from exc
        raise FunnelcastError(f"cannot open {path}: {text}") from exc
    version = schema_version(con)
    if version is None:
        tables = con.execute("select count(*) from information_schema.tables").fetchall()
        if tables[0][0] == 0 and not read_only and create:
            create_schema(con)
            return con
        if _has_canonical_tables(con):
            # made from queries/schema.sql alone: the tables are right, the meta row is missing
            if not read_only:
                _adopt(con)
                return con
            con.close()
            raise NeedsMigration(
                f"{path} has Funnelcast's tables but no schema version in its meta table "
                "(made from queries/schema.sql alone?): open it once for writing to complete it, e.g. "
                "with the dashboard or a `funnelcast import`"
            )
        con.close()
        raise FunnelcastError(f"{path} is not a Funnelcast database (it has no Funnelcast schema)")
    if version != SCHEMA_VERSION:
        if read_only:
            con.close()
            raise NeedsMigration(
                f"{path} has schema version {version}; open it once for writing to migrate it"
            )
        migrate(con)
    return con


# what DuckDB may keep of a scanned table's blocks after release_cached_blocks
CACHE_KEPT_BYTES = 64 << 20


@functools.cache
def _default_memory_limit() -> str:
    """Return DuckDB's memory limit on this machine when nobody sets one, as it shows it."""
    with open_duckdb() as con:
        return con.sql("select current_setting('memory_limit')").fetchall()[0][0]


def release_cached_blocks(cur: Any, keep: int = CACHE_KEPT_BYTES) -> int:
    """Drop the table blocks DuckDB keeps in memory after a scan; return the bytes dropped.

    DuckDB keeps every block it has read until its memory limit (80% of the machine) presses:
    after the Threshold Lab streams 20M events that is about 200 MB held for nothing, read
    again from the file when a query needs it. Lowering the limit for a moment to what
    queries hold now (plus keep bytes, room for a query running meanwhile) makes DuckDB evict
    down to it; RESET then gives back the default. A limit someone set is left alone
    (DuckDB shows it rounded, so it could not be set back exactly), and so is Spark.
    """
    if not isinstance(cur, duckdb.DuckDBPyConnection):
        return 0
    if cur.sql("select current_setting('memory_limit')").fetchall()[0][0] != (
        _default_memory_limit()
    ):
        return 0
    usage = dict(cur.sql("select tag, memory_usage_bytes from duckdb_memory()").fetchall())
    cached = int(usage.get("BASE_TABLE", 0))
    if cached <= keep:
        return 0
    held = int(sum(usage.values())) - cached
    try:
        # a size computed here, not a user's value: DuckDB's SET takes no parameters
        cur.execute(f"SET memory_limit = '{held + keep}B'")
    except duckdb.Error:  # a query running meanwhile holds more: keep the cache this time
        return 0
    finally:
        cur.execute("RESET memory_limit")
    after = dict(cur.sql("select tag, memory_usage_bytes from duckdb_memory()").fetchall())
    return max(0, cached - int(after.get("BASE_TABLE", 0)))


def get_meta(cur: duckdb.DuckDBPyConnection, key: str, default: str | None = None) -> str | None:
    """Return a meta setting, or the default when it is not set."""
    rows = cur.execute("select value from meta where key = $k", {"k": key}).fetchall()
    return rows[0][0] if rows else default


def set_meta(cur: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    """Set a meta setting."""
    cur.execute("insert or replace into meta values ($k, $v)", {"k": key, "v": value})
