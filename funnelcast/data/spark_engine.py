"""The Spark engine: the same queries/*.sql, translated (funnelcast.spark_sql), over Parquet tables.

`SparkConnection(parquet_dir)` reads one Parquet directory per canonical table (DIR/leads/,
DIR/events/, ...; `export_parquet` writes them from a DuckDB file) and defines the schema's
views on them. Its cursors answer the part of DuckDB's cursor API that Funnelcast's read paths
use (`sql(...).pl()`, `execute(...).fetchall()`, `register`/`unregister`), so
`db.run(cursor, name, **params)`, funnelcast.metrics, funnel, roi, planner and the Threshold Lab's
materialisation run unchanged on Spark. Writes stay with DuckDB.

The session is local (`local[2]`) unless FUNNELCAST_SPARK_REMOTE names a Spark Connect server
(a cluster, or Databricks); either way its time zone is UTC and its timestamps are without
time zone, as DuckDB's are: Funnelcast stores UTC wall-clock times.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import itertools
import os
import re
from pathlib import Path
from typing import Any

import polars as pl

from funnelcast.data import db, spark_sql
from funnelcast.data.parquet_export import export_parquet  # noqa: F401  (its old home)

REMOTE_ENV = "FUNNELCAST_SPARK_REMOTE"
# The local session's driver heap (the JVM's -Xmx form: 4g, 12g, 8192m); exact percentiles over a
# whole 10M-lead history need more than the default.
DRIVER_MEMORY_ENV = "FUNNELCAST_SPARK_DRIVER_MEMORY"
# What Funnelcast's SQL needs of any Spark session, local or remote.
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
}
# A local session shares a small machine: two cores, few shuffle partitions, no web UI.
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "4g",
    # the JVM's own zone too, so that nothing falls back to the machine's local time
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def local_conf() -> dict[str, str]:
    """Return LOCAL_CONF with the driver heap of $FUNNELCAST_SPARK_DRIVER_MEMORY, when set."""
    conf = dict(LOCAL_CONF)
    memory = os.environ.get(DRIVER_MEMORY_ENV, "").strip().lower()
    if memory:
        if not re.fullmatch(r"[1-9][0-9]*[kmgt]?", memory):
            raise db.FunnelcastError(
                f"{DRIVER_MEMORY_ENV}={memory!r} is not a heap size: give a number with k, m, g "
                "or t, e.g. 12g"
            )
        conf["spark.driver.memory"] = memory
    return conf


def _pyspark():
    """Return the pyspark.sql module, or a FunnelcastError saying how to install it."""
    try:
        import pyspark.sql
    except ImportError:
        raise db.FunnelcastError(
            "the spark engine needs the optional spark extra (missing: pyspark) and Java 17+: "
            "install it with `uv sync --extra spark`"
        ) from None
    return pyspark.sql


def session(master: str = "local[2]"):
    """Return a Spark session: Spark Connect at $FUNNELCAST_SPARK_REMOTE, else a new session
    (own views and settings) on the process's local Spark."""
    sql = _pyspark()
    builder = sql.SparkSession.builder.appName("funnelcast")
    remote = os.environ.get(REMOTE_ENV)
    if remote:
        builder = builder.remote(remote)
    else:
        builder = builder.master(master)
        for key, value in local_conf().items():
            builder = builder.config(key, value)
    for key, value in SESSION_CONF.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # Java missing, a port taken, a remote refusing: say which
        raise db.FunnelcastError(f"cannot start Spark: {str(exc).splitlines()[0]}") from None
    if not remote:
        spark.sparkContext.setLogLevel("ERROR")
        # its own temporary views: two connections (two lakes) in one process do not mix
        spark = spark.newSession()
    for key, value in SESSION_CONF.items():  # a session that already existed keeps its own
        spark.conf.set(key, value)
    return spark


class _Result:
    """A query's rows, with the DuckDB result methods the code calls."""

    def __init__(self, frame: pl.DataFrame):
        self._frame = frame

    def pl(self) -> pl.DataFrame:
        return self._frame

    def fetchall(self) -> list[tuple]:
        return self._frame.rows()

    def fetchone(self) -> tuple | None:
        return self._frame.row(0) if self._frame.height else None


_CURSOR_NUMBERS = itertools.count(1)


def _bindable(value: Any) -> Any:
    """Return a parameter value as Spark binds it (numpy scalars as Python ones)."""
    if value is None or isinstance(value, (str, bool, int, float, dt.date, decimal.Decimal)):
        return value
    if isinstance(value, (list, tuple)):
        return [_bindable(v) for v in value]
    if hasattr(value, "item"):  # a numpy scalar
        return value.item()
    raise TypeError(f"cannot bind a {type(value).__name__} as a Spark parameter")


class SparkCursor:
    """DuckDB's cursor API, as far as Funnelcast reads with it, on a Spark session.

    Every dashboard session has its own cursor on one shared Spark session, whose temporary
    views all cursors see. So a frame a cursor registers as NAME becomes the view
    NAME__cN, N this cursor's own number, and this cursor's queries read NAME as that view:
    two users registering the same name at once each read their own frame.
    """

    def __init__(self, connection: SparkConnection):
        self._connection = connection
        self._spark = connection.spark
        self._suffix = f"__c{next(_CURSOR_NUMBERS)}"
        self._registered: dict[str, str] = {}  # the name the queries use: the view's own name
        self._last: _Result | None = None

    def query(self, spark_sql_text: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """Return the rows of a Spark SQL statement, run with its :name parameters bound (as
        written: it reads no registered view under its short name)."""
        args = {k: _bindable(v) for k, v in (params or {}).items()}
        lists = {k: v for k, v in args.items() if isinstance(v, list)}
        if lists:
            spark_sql_text = spark_sql.expand_lists(
                spark_sql_text, tuple(sorted((k, len(v)) for k, v in lists.items()))
            )
            for name, values in lists.items():
                del args[name]
                args.update(spark_sql.list_args(name, values))
        frame = self._spark.sql(spark_sql_text, args=args or None)
        return to_polars(frame)

    def sql(self, sql: str, params: dict[str, Any] | None = None) -> _Result:
        """Return the result of a DuckDB SQL statement, translated and run on Spark."""
        name = db_query_name(sql)
        # the views this cursor registered under a name the statement may read
        views = tuple((n, v) for n, v in sorted(self._registered.items()) if n in sql)
        text = spark_sql.query(name, views) if name else spark_sql.cached(sql, views)
        return _Result(self.query(text, params))

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> _Result:
        """Run a reading statement (writes go to DuckDB: FunnelcastError)."""
        head = sql.lstrip().split(None, 1)[0].lower() if sql.strip() else ""
        if head not in ("select", "with", "from"):
            raise db.FunnelcastError(
                "the Spark engine reads the lake's tables; write with DuckDB (this needs: "
                f"{head or 'an empty statement'})"
            )
        self._last = self.sql(sql, params)
        return self._last

    def fetchall(self) -> list[tuple]:
        return self._last.fetchall() if self._last else []

    def register(self, name: str, frame: pl.DataFrame) -> None:
        """Make a polars frame visible to this cursor's queries as a view NAME."""
        view = f"{name}{self._suffix}"
        self._spark.createDataFrame(frame.to_arrow()).createOrReplaceTempView(view)
        self._registered[name] = view

    def unregister(self, name: str) -> None:
        view = self._registered.pop(name, None)
        if view is not None:
            self._spark.catalog.dropTempView(view)

    def cursor(self) -> SparkCursor:
        return self._connection.cursor()

    def close(self) -> None:
        for name in list(self._registered):
            self.unregister(name)


@functools.cache
def _query_names() -> dict[str, str]:
    """Return the name of each query file, by its text."""
    return {db.query_text(path.stem): path.stem for path in db.QUERIES_DIR.glob("*.sql")}


def db_query_name(sql: str) -> str | None:
    """Return the query file a SQL text is (db.run passes files' texts), or None."""
    return _query_names().get(sql)


def to_polars(frame) -> pl.DataFrame:
    """Return a Spark DataFrame's rows as a polars frame, timestamps without time zone."""
    table = frame.toArrow()
    out = pl.from_arrow(table)
    if isinstance(out, pl.Series):
        out = out.to_frame()
    zoned = [c for c, t in out.schema.items() if isinstance(t, pl.Datetime) and t.time_zone]
    if zoned:
        out = out.with_columns(
            pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None) for c in zoned
        )
    return out


class SparkConnection:
    """A Spark session reading Funnelcast's canonical tables from a Parquet directory."""

    def __init__(self, parquet_dir: str | Path, spark=None):
        # a local directory, or a location the cluster reads (s3a://, abfss://, dbfs:/, /Volumes/)
        self.location = str(parquet_dir).rstrip("/")
        is_uri = "://" in self.location or self.location.startswith("dbfs:")
        if not is_uri and os.environ.get(REMOTE_ENV) is None and not Path(self.location).is_dir():
            raise db.FunnelcastError(
                f"{self.location} is not a directory of Parquet tables (write one with: "
                f"funnelcast export-parquet --db FILE --out {self.location})"
            )
        self.spark = spark or session()
        self._define_tables()

    def _read(self, table: str):
        """Return the Parquet files of one table as a DataFrame, or None when there are none."""
        try:
            return self.spark.read.parquet(f"{self.location}/{table}")
        except Exception as exc:  # pyspark's AnalysisException: the path is not there
            if "PATH_NOT_FOUND" in str(exc) or "UNABLE_TO_INFER_SCHEMA" in str(exc):
                return None
            raise

    def _define_tables(self) -> None:
        """Define each canonical table (empty when the lake lacks it) and the schema's views.

        Each is a SQL view, analysed afresh wherever a query names it: a view over a
        DataFrame keeps one set of column ids, which a query reading a table twice (a self-join,
        a correlated subquery) trips over.
        """
        columns_of = spark_sql.schema_tables()
        for table in db.CANONICAL_TABLES:
            columns = columns_of[table]
            raw = self._read(table)
            if raw is None and table in ("leads", "meta"):
                raise db.FunnelcastError(
                    f"{self.location} has no {table} table (expected Parquet files under "
                    f"{self.location}/{table}/)"
                )
            if raw is not None:
                missing = [c for c, _ in columns if c not in raw.columns]
                if missing:
                    raise db.FunnelcastError(
                        f"{self.location}/{table}: missing column(s) {', '.join(missing)}"
                    )
                raw.createOrReplaceTempView(f"parquet_{table}")
            # the canonical columns in the canonical types, from queries/schema.sql (a lake's
            # UTC timestamps may carry a zone: with the session in UTC the cast keeps the clock)
            if raw is not None:
                fields = ", ".join(f"cast(`{c}` as {t}) as `{c}`" for c, t in columns)
                body = f"select {fields} from parquet_{table}"
            else:  # partial data: the table is there, empty
                fields = ", ".join(f"cast(null as {t}) as `{c}`" for c, t in columns)
                body = f"select {fields} where false"
            self.spark.sql(f"create or replace temporary view {table} as {body}")
        for name, body in spark_sql.schema_views():
            self.spark.sql(f"create or replace temporary view {name} as {body}")

    def cursor(self) -> SparkCursor:
        return SparkCursor(self)

    def close(self) -> None:
        """Leave the session running: starting Spark is the slow part, and it is shared."""
