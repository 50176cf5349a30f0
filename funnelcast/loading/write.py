"""The write entry points: an import or a demo build that keeps every summary the pages read in
the same transaction as the rows, and `summarise` for a database written before (or by
another writer).

The summaries: funnelcast.analytics.rollups (the recorded funnel and ROI per quarter and
channel) and funnelcast.analytics.rollups_pages (the Handoff page's counted hand-offs, the Data
page's checks). Each is read only while its key matches the data, so a write that skipped them
costs time, never a wrong figure.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import duckdb

from funnelcast import importer
from funnelcast.analytics import handoff, rollups, rollups_pages
from funnelcast.data import db
from funnelcast.data.context import load_context


def keep_summaries(cur: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """Compute every summary and keep it in the database, in the caller's transaction if any;
    return the seconds each part took ("funnel", "pages")."""
    started = time.perf_counter()
    rollups.refresh(cur)
    funnel = time.perf_counter() - started
    ctx = load_context(cur)
    checks_as_of = rollups_pages.health_as_of(cur, ctx.as_of)
    rollups_pages.write(
        cur,
        key=rollups_pages.data_key(cur),
        fy_start_month=ctx.fy_start_month,
        as_of=ctx.as_of,
        handoffs=handoff.kept_tables(cur, ctx),
        checks=rollups_pages.compute_checks(cur, checks_as_of),
        checks_as_of=checks_as_of,
    )
    return {"funnel": funnel, "pages": time.perf_counter() - started - funnel}


def import_file(
    cur: duckdb.DuckDBPyConnection, path: str | Path, mapping: importer.Mapping, **options: Any
) -> importer.ImportResult:
    """Import a file (funnelcast.importer.import_file, the same options) and keep the summaries
    in its transaction; a dry run writes neither."""
    return importer.import_file(cur, path, mapping, before_commit=keep_summaries, **options)


def build_demo(target: Path, **options: Any) -> dict:
    """Build the demo database (funnelcast.demo.build_file, the same options) with the
    summaries kept in it before it moves into place."""
    from funnelcast import demo  # the generator: only a build's, not every writer's

    return demo.build_file(target, before_move=keep_summaries, **options)


def summarise(path: Path) -> dict[str, float]:
    """Keep the summaries of a database file in one transaction and fold them into the file;
    return keep_summaries's seconds. DuckDB may hold what a demo build may (beyond it, it
    spills): at 10M leads it took 2.4 GB unbounded, 1.4 GB so, for a few seconds more."""
    from funnelcast.demo.build import BUILD_MEMORY_LIMIT  # a constant, not the generator

    con = db.connect(path)
    try:
        con.execute(f"set memory_limit = '{BUILD_MEMORY_LIMIT}'")
        con.execute("begin transaction")
        try:
            seconds = keep_summaries(con.cursor())
        except BaseException:
            con.execute("rollback")
            raise
        con.execute("commit")
        con.execute("checkpoint")
    finally:
        con.close()
    return seconds
