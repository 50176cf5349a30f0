"""The glue between Streamlit and the core: which database, its cached connection, a cursor per
session, the sidebar's scope, and query results cached on hashable parameters.

Only caching and session state live here. The functions it wraps (funnelcast.metrics,
funnelcast.overview) are plain and tested without Streamlit.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl
import streamlit as st

from funnelcast import definitions, lab
from funnelcast.analytics import metrics
from funnelcast.core import periods
from funnelcast.data import db, engine
from funnelcast.definitions import Definition
from funnelcast.lab import warm as lab_warm
from funnelcast.lab.stored import event_types_of, kept_history, kept_vocabulary

T = TypeVar("T")

ENV_VAR = "FUNNELCAST_DB"
DEMO_LEADS = 20_000
DEMO_SEED = 7
# Sidebar widget keys: explicit, so the choices survive moving between pages.
QUARTER_KEY = "quarter"
CHANNEL_KEY = "channel"
ALL_HISTORY = "All history"
ALL_CHANNELS = "All channels"
# Set by app.py on every run; a page run without it was opened before app.py (see require_shell).
SHELL_KEY = "_funnelcast_shell"

# Two sessions opening a fresh server at once must not both build the demo database.
_BUILD_LOCK = threading.Lock()
# One write at a time in this process: see write().
_WRITE_LOCK = threading.Lock()
# What a write clears besides the caches here: those of modules built on this one (on_write).
_ON_WRITE: list[Callable[[], None]] = []


@dataclass(frozen=True)
class Database:
    """This session's handle on the data: a DuckDB file, or a Parquet lake read through Spark."""

    path: Path  # the DuckDB file; for the Spark engine, the lake's location
    key: str  # names the data's current content; part of every cached result's key
    cursor: Any  # a duckdb cursor, or a funnelcast.spark_engine.SparkCursor
    engine: str = "duckdb"  # "duckdb" or "spark"
    location: str = ""  # the lake as $FUNNELCAST_PARQUET names it (s3a://... kept whole)

    @property
    def source(self) -> str:
        """Return which engine reads which data, for the sidebar (never a Spark Connect token)."""
        if self.engine == "spark":
            where = "Spark Connect" if os.environ.get(SPARK_REMOTE_ENV) else "local"
            return f"Engine: Spark ({where}), lake `{self.location.rstrip('/')}/`"
        return f"Engine: DuckDB, `{self.path}`"


def database_path() -> Path:
    """Return the database file to use: $FUNNELCAST_DB, or data/funnelcast.duckdb."""
    return Path(os.environ.get(ENV_VAR) or db.DEFAULT_DB)


def ensure_database(path: Path, leads: int = DEMO_LEADS, seed: int = DEMO_SEED) -> bool:
    """Build the demo database at path when there is no file yet; return whether it built one."""
    with _BUILD_LOCK:
        if path.exists():
            return False
        from funnelcast import loading  # the generator: a first start's only, not every import

        loading.build_demo(path, leads=leads, seed=seed)
        return True


def file_key(path: Path) -> str:
    """Return a key that changes when the file at path is replaced or rewritten."""
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_ino}|{stat.st_mtime_ns}|{stat.st_size}"


@st.cache_resource(show_spinner=False, on_release=lambda con: con.close())
def _connection(key: str, path: str) -> duckdb.DuckDBPyConnection:
    """Return the process's read-only connection to the file that key names.

    A database of an older schema version is migrated first, in one writable open (refused
    with the usual "in use" message while another process writes it).
    """
    try:
        return db.connect(path, read_only=True)
    except db.NeedsMigration:
        with _WRITE_LOCK:
            db.connect(path).close()
        return db.connect(path, read_only=True)


# A connection used from several threads at once gave wrong results: each session's script
# thread works through its own cursor, closed when the session ends. Per thread, not only per
# session: with runner.fastReruns (the default) a slider move starts the next run on a new
# thread while the previous one may still be inside a query on the old cursor, which DuckDB
# refuses ("connection is busy with another call"). A few per session suffice; an evicted one
# belongs to a run that has long ended.
@st.cache_resource(
    scope="session", show_spinner=False, max_entries=4, on_release=lambda cur: cur.close()
)
def _session_cursor(key: str, path: str, thread: int) -> duckdb.DuckDBPyConnection:
    """Return this session's cursor on the shared connection, for one script thread."""
    return _connection(key, path).cursor()


def open_database(path: Path) -> Database:
    """Return this session's handle on the database at path; FunnelcastError when unusable."""
    if not path.exists():
        raise db.FunnelcastError(f"database {path} does not exist")
    key = file_key(path)
    return Database(path, key, _session_cursor(key, str(path), threading.get_ident()))


def current_database() -> Database:
    """Return this session's handle on the data the app uses (app.py has checked it): the
    DuckDB file, or with FUNNELCAST_ENGINE=spark the Parquet lake at FUNNELCAST_PARQUET."""
    chosen, location = engine_setting()
    if chosen == "spark":
        return open_lake(location)
    return open_database(database_path())


# ===== the Spark engine: the same pages over a Parquet lake =====
# FUNNELCAST_ENGINE=spark and FUNNELCAST_PARQUET=DIR: every figure is read through one Spark
# session per process (funnelcast.spark_engine), writes stay with the DuckDB file.
SPARK_REMOTE_ENV = "FUNNELCAST_SPARK_REMOTE"  # spark_engine.REMOTE_ENV; that module needs sqlglot
# A remote lake cannot be listed cheaply on every rerun: its key changes every few minutes.
LAKE_TTL_SECONDS = 300


def engine_setting() -> tuple[str, str | None]:
    """Return the configured engine and, for Spark, the lake's location (FunnelcastError when
    FUNNELCAST_ENGINE names no engine, or spark has no FUNNELCAST_PARQUET)."""
    chosen, _ = engine.configured()
    # read as written: a Path would fold s3a://bucket into s3a:/bucket
    location = (os.environ.get(engine.PARQUET_ENV) or "").strip() or None
    if chosen == "spark" and location is None:
        raise db.FunnelcastError(
            f"{engine.ENGINE_ENV}=spark needs {engine.PARQUET_ENV}, the directory of Parquet "
            "tables `funnelcast export-parquet` writes"
        )
    return chosen, location


def spark_mode() -> bool:
    """Return whether the dashboard reads through Spark (a bad setting reads as not)."""
    try:
        return engine_setting()[0] == "spark"
    except db.FunnelcastError:
        return False


def _remote_lake(location: str) -> bool:
    """Return whether the lake is elsewhere: a URI, or any path a Spark Connect server reads."""
    return (
        "://" in location or location.startswith("dbfs:") or bool(os.environ.get(SPARK_REMOTE_ENV))
    )


def lake_key(location: str, now: float | None = None) -> str:
    """Return a key that changes when the lake's files change: a hash of every file's path,
    modification time and size under a local directory; for a remote lake, its location and
    the current LAKE_TTL_SECONDS window."""
    if _remote_lake(location):
        window = int((time.time() if now is None else now) // LAKE_TTL_SECONDS)
        return f"spark|{location}|ttl{window}"
    root = Path(location)
    if not root.is_dir():
        raise db.FunnelcastError(
            f"{location} is not a directory of Parquet tables (write one with: "
            f"funnelcast export-parquet --db FILE --out {location})"
        )
    digest = hashlib.sha256()
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in sorted(files):
            file = Path(folder, name)
            stat = file.stat()
            digest.update(f"{file.relative_to(root)}|{stat.st_mtime_ns}|{stat.st_size}\n".encode())
    return f"spark|{root.resolve()}|{digest.hexdigest()[:20]}"


@st.cache_resource(show_spinner="Starting Spark…")
def _spark_session() -> Any:
    """Return the process's Spark session (local[2], or Spark Connect): starting one is the
    slow part, so it outlives every lake connection and is never stopped by a cache clear."""
    from funnelcast.data import spark_engine

    return spark_engine.session()


@st.cache_resource(show_spinner="Reading the lake's tables…", on_release=lambda con: con.close())
def _lake_connection(key: str, location: str) -> Any:
    """Return the Spark engine's connection to the lake that key names (its tables as views)."""
    from funnelcast.data import spark_engine

    return spark_engine.SparkConnection(location, spark=_spark_session())


@st.cache_resource(
    scope="session", show_spinner=False, max_entries=4, on_release=lambda cur: cur.close()
)
def _lake_session_cursor(key: str, location: str, thread: int) -> Any:
    """Return this session's Spark cursor on the lake, for one script thread (see above)."""
    return _lake_connection(key, location).cursor()


def open_lake(location: str | None) -> Database:
    """Return this session's handle on the Parquet lake at location; FunnelcastError when unusable."""
    if not location:
        raise db.FunnelcastError(f"the spark engine needs {engine.PARQUET_ENV}")
    key = lake_key(location)
    cursor = _lake_session_cursor(key, location, threading.get_ident())
    return Database(Path(location), key, cursor, engine="spark", location=location)


def spark_write_note(action: str) -> str | None:
    """Return why ACTION is not offered when the dashboard reads through Spark, else None."""
    if not spark_mode():
        return None
    return (
        f"This dashboard reads the lake through Spark ({engine.ENGINE_ENV}=spark), which it "
        f"never writes: {action} goes through the DuckDB file (the same page without "
        f"{engine.ENGINE_ENV}, or the `funnelcast` command) and then `funnelcast export-parquet`,"
        " or through the lake's own pipeline."
    )


def engine_failure(exc: Exception) -> str | None:
    """Return the one line to show when Spark fails while a page reads, or None when exc is
    not Spark's (let it surface)."""
    if type(exc).__module__.split(".")[0] not in ("pyspark", "py4j"):
        return None
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    location = os.environ.get(engine.PARQUET_ENV, "")
    return (
        f"Reading the lake {location} through Spark failed: {first}. If this repeats after a "
        f"refresh, check the lake's Parquet tables, or unset {engine.ENGINE_ENV} to read the "
        "DuckDB file."
    )


def write(path: Path, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
    """Return fn(cursor) run on the file at path opened for writing; FunnelcastError when busy.

    DuckDB lets one process write a file or many read it, and this process holds it read-only
    (and a read-only and a writable handle cannot share one process). So, one writer at a time,
    close the cached connection (which closes every session's cursor on it), write, close, and
    let the next run reopen read-only: the file's key has changed, so every cached result and
    cursor keyed on the old key is left behind and nothing stale is read. A session running at
    that very moment fails once and is right again on its next run.
    """
    if spark_mode():  # the lake is written by its pipeline, never by the dashboard
        raise db.FunnelcastError(spark_write_note("writing") or "")
    with _WRITE_LOCK:
        _connection.clear()
        _session_cursor.clear()
        for clear in _ON_WRITE:
            clear()
        _lab_scores.clear()
        _lab_materialised.clear()
        _lab_history.clear()
        con = db.connect(path)
        try:
            return fn(con.cursor())
        finally:
            con.close()


def on_write(clear: Callable[[], None]) -> None:
    """Have every write call clear first (a cache of a module built on this one, such as
    funnelcast.ui.lab_figures: what it holds of the old data is then let go at once)."""
    _ON_WRITE.append(clear)


def require_shell() -> None:
    """Send a session that opened a page directly, without app.py's sidebar, through app.py.

    Until the first st.navigation call in a server process, Streamlit serves the pages/ folder
    on its own, so a first request for /overview would run the page without the shell.
    """
    if not st.session_state.get(SHELL_KEY):
        st.switch_page("app.py")


def scope() -> tuple[str | None, str | None]:
    """Return the sidebar's (quarter label, channel); None stands for all history / channels."""
    quarter = st.session_state.get(QUARTER_KEY, ALL_HISTORY)
    channel = st.session_state.get(CHANNEL_KEY, ALL_CHANNELS)
    return (
        None if quarter == ALL_HISTORY else quarter,
        None if channel == ALL_CHANNELS else channel,
    )


# The cached functions below take the cursor as _cur (not hashed) and the file key, so a
# result is shared between sessions and recomputed when the file changes.


@st.cache_data(show_spinner=False)
def _context(_cur: duckdb.DuckDBPyConnection, key: str) -> metrics.DataContext:
    """Return funnelcast.metrics.load_context, cached."""
    return metrics.load_context(_cur)


@st.cache_data(show_spinner=False)
def _meta(
    _cur: duckdb.DuckDBPyConnection, key: str, names: tuple[str, ...]
) -> dict[str, str | None]:
    """Return the named meta settings, cached."""
    return {name: db.get_meta(_cur, name) for name in names}


@st.cache_data(show_spinner="Computing the funnel…")
def _funnel_by_quarter(
    _cur: duckdb.DuckDBPyConnection, key: str, channel: str | None
) -> pl.DataFrame:
    """Return funnelcast.metrics.funnel_by_quarter, cached."""
    return metrics.funnel_by_quarter(_cur, metrics.load_context(_cur), channel=channel)


def context(database: Database) -> metrics.DataContext:
    """Return the database's calendar, as-of moment, quarters, channels and row counts."""
    return _context(database.cursor, database.key)


def meta(database: Database, *names: str) -> dict[str, str | None]:
    """Return the named meta settings of the database (None where a setting is absent)."""
    return _meta(database.cursor, database.key, names)


def headline(database: Database, quarter: str | None, channel: str | None) -> dict[str, Any]:
    """Return funnelcast.metrics.metrics for a quarter and channel: what the CLI prints.

    Summarised from the cached per-quarter frame, so moving between quarters reruns no query.
    """
    frame = funnel_by_quarter(database, channel)
    return metrics.summarize(context(database), frame, quarter=quarter, channel=channel)


def funnel_by_quarter(database: Database, channel: str | None) -> pl.DataFrame:
    """Return funnelcast.metrics.funnel_by_quarter for a channel (None: all channels)."""
    return _funnel_by_quarter(database.cursor, database.key, channel)


@st.cache_data(show_spinner=False)
def _definition_versions(_cur: duckdb.DuckDBPyConnection, key: str) -> pl.DataFrame:
    """Return funnelcast.definitions.list_versions, cached."""
    return definitions.list_versions(_cur)


def definition_versions(database: Database) -> pl.DataFrame:
    """Return every kept version of the MQL definition, with the quarters it is in force in."""
    return _definition_versions(database.cursor, database.key)


@st.cache_data(show_spinner=False)
def _next_quarter(_cur: duckdb.DuckDBPyConnection, key: str) -> periods.Quarter:
    """Return funnelcast.definitions.next_quarter, cached."""
    return definitions.next_quarter(_cur)


def next_quarter(database: Database) -> periods.Quarter:
    """Return the quarter after the data's today, where a newly saved version takes effect."""
    return _next_quarter(database.cursor, database.key)


# ===== the Threshold Lab engine, kept in memory between reruns =====
# The history is the one slow step (lab.stored keeps it beside the file): sliders only read it.


@st.cache_data(show_spinner=False)
def _vocabulary(_database: Database, key: str) -> pl.DataFrame:
    """Return queries/scoring_vocabulary.sql, cached (for a DuckDB file, kept beside it
    under the data's version: lab.stored.kept_vocabulary, so a restart does not query it)."""
    path = _database.path if _database.engine == "duckdb" else None
    return kept_vocabulary(_database.cursor, path)


def vocabulary(database: Database) -> pl.DataFrame:
    """Return the values fit rules can match and the event types behaviour rules can score."""
    return _vocabulary(database, database.key)


@st.cache_data(show_spinner=False)
def _data_event_types(_database: Database, key: str) -> tuple[str, ...]:
    """Return the event types the data holds (cached apart from the vocabulary: every
    threshold move asks, and a few names come back faster than the vocabulary's frame)."""
    return event_types_of(_vocabulary(_database, key))


@st.cache_data(show_spinner=False)
def _versions(_cur: duckdb.DuckDBPyConnection, key: str) -> tuple[Definition, ...]:
    """Return every kept version of the definition."""
    ids = definitions.list_versions(_cur)["definition_id"].to_list()
    return tuple(definitions.load(_cur, i) for i in ids)


def kept_versions(database: Database) -> tuple[Definition, ...]:
    """Return every kept version of the definition, oldest first (cached)."""
    return _versions(database.cursor, database.key)


def _event_types(database: Database, definition: Definition) -> tuple[str, ...]:
    """Return every event type the data holds or any version scores, and the definition's:
    materialising them all lets a weight be given to any type, and every kept version be
    replayed, without reading the events again."""
    scored = {r.event_type for r in definition.behaviour_rules}
    for version in _versions(database.cursor, database.key):
        scored.update(r.event_type for r in version.behaviour_rules)
    return tuple(sorted(scored.union(_data_event_types(database, database.key))))


@st.cache_resource(show_spinner="Materialising the history for the Threshold Lab…", max_entries=2)
def _lab_history(
    _database: Database,
    key: str,
    event_types: tuple[str, ...],
    _half_life_days: float,
    _progress: lab.Progress | None = None,
) -> lab.Materialised:
    """Return the history (of the leads that fit in the memory free: lab.budget), cached on the
    file key and event types only: decayed by whichever half-life asked first; kept: lab.stored."""
    cur, path = _database.cursor, _database.path if _database.engine == "duckdb" else None
    sample = lab.budget.plan(cur, event_types, lab.named_fields(_versions(cur, key)))
    return kept_history(cur, path, _half_life_days, event_types, _progress, sample).history


@st.cache_resource(show_spinner="Decaying the history by the half-life…", max_entries=3)
def _lab_materialised(
    _database: Database,
    key: str,
    event_types: tuple[str, ...],
    half_life_days: float,
    _progress: lab.Progress | None = None,
) -> lab.Materialised:
    """Return the materialised history decayed by a half-life: the events are read once per
    data load, a half-life change only recomputes the decay between checks."""
    history = _lab_history(_database, key, event_types, half_life_days, _progress)
    if history.half_life_days == half_life_days:
        return history
    return lab.with_half_life(history, half_life_days)


def lab_materialised(
    database: Database, definition: Definition, progress: lab.Progress | None = None
) -> lab.Materialised:
    """Return the history materialised for scoring a definition (shared; the lead fields its
    fit rules and the kept versions' name are read into it once, when first named); progress
    hears a materialisation's steps (lab.materialise; funnelcast.ui.lab_progress shows them).

    Any page using the engine (the Planner too) first stops a background warm-up still
    running: compiling here at once is quicker than sharing the cores with a niced process
    compiling the same loops (lab.warm.ready)."""
    lab_warm.stop_background()
    m = _lab_materialised(
        database,
        database.key,
        _event_types(database, definition),
        float(definition.half_life_days),
        progress,
    )
    lab.read_fields_for(m, database.cursor, definition, *_versions(database.cursor, database.key))
    return m


def scoring_key(definition: Definition) -> str:
    """Return what a definition's scores depend on (not its threshold, name or note)."""
    return repr((definition.half_life_days, definition.fit_rules, definition.behaviour_rules))


# Each entry is 100-200 MB at 1M leads: the current and the draft's, and one before. An entry
# evicted is released: its arrays go back to the history's pool for the next scoring to write
# over (a session still holding it is scored again when it asks; see funnelcast.lab.scores).
@st.cache_resource(
    show_spinner="Scoring the history…", max_entries=3, on_release=lab.Scores.release
)
def _lab_scores(
    _database: Database, key: str, scoring_key: str, _definition: Definition
) -> lab.Scores:
    """Return funnelcast.lab.score for a definition, cached on what the scores depend on."""
    return lab.score(lab_materialised(_database, _definition), _definition)


def lab_scores(database: Database, definition: Definition) -> lab.Scores:
    """Return a definition's record highs over the history: a threshold move reuses them."""
    return _lab_scores(database, database.key, scoring_key(definition), definition)


# ===== read-only viewer mode =====
VIEWER_ENV = "FUNNELCAST_VIEWER"


def viewer_mode() -> bool:
    """Return whether the dashboard is a read-only viewer: $FUNNELCAST_VIEWER set to anything
    but empty, 0, false, no or off. Pages then offer no saving and no importing."""
    value = os.environ.get(VIEWER_ENV, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def read_error(path: Path, exc: Exception) -> str:
    """Return the one line the dashboard shows when reading the database fails mid-run."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return (
        f"Reading the database {path} failed: {first}. If this repeats after a refresh, "
        "the file is damaged: restore it from a copy, or set "
        f"{ENV_VAR} to another database."
    )
