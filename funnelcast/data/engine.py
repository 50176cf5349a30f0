"""Which engine runs the queries: DuckDB on a file (the default), or Spark on Parquet tables.

Both give a connection whose `cursor()` the core (funnelcast.metrics, funnel, roi, planner, the
Threshold Lab's materialisation) reads through `db.run`; the queries are the same files, the
Spark engine translates them (funnelcast.spark_sql). The choice comes from the command line
(`--engine spark --parquet DIR`) or from the environment:

    FUNNELCAST_ENGINE=spark         duckdb (default) or spark
    FUNNELCAST_PARQUET=DIR          the Parquet directory the Spark engine reads
    FUNNELCAST_SPARK_REMOTE=sc://…  a Spark Connect server (a cluster, Databricks); else local[2]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from funnelcast.data import db

ENGINES = ("duckdb", "spark")
ENGINE_ENV = "FUNNELCAST_ENGINE"
PARQUET_ENV = "FUNNELCAST_PARQUET"


def configured() -> tuple[str, str | None]:
    """Return the engine and Parquet location the environment names (duckdb, None by default)."""
    engine = (os.environ.get(ENGINE_ENV) or "duckdb").strip().lower()
    if engine not in ENGINES:
        raise db.FunnelcastError(
            f"{ENGINE_ENV}={engine!r} is not an engine (choose one of: {', '.join(ENGINES)})"
        )
    return engine, configured_parquet()


def configured_parquet() -> str | None:
    """Return the Parquet location the environment names, or None: as written, since a Path
    would fold a URI's s3a://bucket into s3a:/bucket."""
    parquet = (os.environ.get(PARQUET_ENV) or "").strip()
    return parquet or None


def connect(
    engine: str = "duckdb", *, db_path: str | Path | None = None, parquet: str | Path | None = None
) -> Any:
    """Return a read-only connection on the chosen engine: a DuckDB file or a Parquet directory."""
    if engine == "duckdb":
        if db_path is None:
            raise db.FunnelcastError("the duckdb engine needs a database file (--db FILE)")
        return db.connect(db_path, read_only=True)
    if engine == "spark":
        if parquet is None:
            raise db.FunnelcastError(
                f"the spark engine needs a Parquet directory (--parquet DIR or {PARQUET_ENV})"
            )
        try:
            from funnelcast.data import spark_engine
        except ImportError as exc:  # sqlglot or pyspark: the optional `spark` extra
            raise db.FunnelcastError(
                f"the spark engine needs the optional spark extra (missing: {exc.name}): "
                "install it with `uv sync --extra spark`"
            ) from None
        return spark_engine.SparkConnection(parquet)
    raise db.FunnelcastError(f"unknown engine {engine!r} (choose one of: {', '.join(ENGINES)})")
