"""The Handoff and Data pages' summary kept in the database, per data version, so that their first
open need not read every stage change and event (at 10M leads: 4M hand-offs, 200M events).

What is kept (queries/rollup_pages_write.sql):
- the hand-offs counted by every value the Handoff page's figures group or filter them by
  (`HandoffTables`, which funnelcast.analytics.handoff builds from handoff_mqls.sql's rows the
  same way for the raw path, so both give the same figures): quarter, channel, sales' answer,
  rejection reason, business days waited or since the hand-off (any SLA is answered from them:
  a hand-off breaches an SLA of N business days exactly when it waited, or has been waiting,
  more than N), what followed, whether it is mature; per breakdown segment; the 'not ready'
  rejections won later, one row each; the days to SQL of all channels and of each;
- the Data page's checks: the rows of column_nulls.sql, unmatched_ids.sql and data_health.sql;
- one state row: this module's FORMAT, the data's key (a hash of rollup_data_version.sql's and
  rollup_pages_version.sql's figures, which each import changes), the fiscal year start month,
  the as-of moment the hand-offs' ages were counted to and data_health.sql's as-of parameter.

Who writes it: `keep` (funnelcast.loading.keep_summaries, inside every import's transaction,
the demo build and `funnelcast summarize`). Who reads it: funnelcast.analytics.handoff.report and
funnelcast.ui.data_page, only on DuckDB, and only while the key, format, fiscal year and as-of
are the data's now; otherwise (none kept, stale, Spark) they compute from the raw tables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any, NamedTuple

import duckdb
import polars as pl

from funnelcast.data import db
from funnelcast.data.kept import current_state

# Bump when what rollup_pages_write.sql keeps, or what the queries it keeps count, changes: a
# summary of another format is never read.
FORMAT = 1
CHECK_QUERIES = ("column_nulls", "unmatched_ids", "data_health")
# The summary's tables (queries/rollup_pages_write.sql writes them).
TABLES = (
    "rollup_pages_state",
    "rollup_handoff_cells",
    "rollup_handoff_segments",
    "rollup_handoff_won",
    "rollup_handoff_maturity",
    "rollup_column_nulls",
    "rollup_unmatched_ids",
    "rollup_data_health",
)


class HandoffTables(NamedTuple):
    """The hand-offs of a scope (one channel or all), counted as the Handoff page reads them.

    cells: handoffs per quarter_start, channel, response, response_reason (rejections only),
      wait_business_days (answered), age_business_days (unanswered), reached_sql,
      reached_customer, sql_after_answer (a rejection whose lead reached SQL afterwards) and
      mature (handed over before the scope's maturity cutoff; answered only);
    segments: handoffs per quarter_start, channel, segment (of one breakdown), response and
      response_reason;
    won: the 'not ready' rejections whose lead bought afterwards, one row each, in
      handoff_mqls.sql's order;
    maturity_days: the p90 days from hand-off to SQL of the scope's hand-offs.
    """

    cells: pl.DataFrame
    segments: pl.DataFrame
    won: pl.DataFrame
    maturity_days: float


def data_key(cur: duckdb.DuckDBPyConnection) -> str:
    """Return the hash of what the pages' summary is computed from."""
    rows = [db.run(cur, "rollup_data_version").rows(), db.run(cur, "rollup_pages_version").rows()]
    return hashlib.sha256(json.dumps([FORMAT, rows], default=str).encode()).hexdigest()


def _fy_start_month(cur: duckdb.DuckDBPyConnection) -> int:
    return int(db.get_meta(cur, "fiscal_year_start_month", "1") or 1)


def health_as_of(
    cur: duckdb.DuckDBPyConnection, ctx_as_of: dt.datetime | None
) -> dt.datetime | None:
    """Return data_health.sql's as-of parameter: the data's as-of moment when the database sets
    one (the moment its stored value means), None when it sets none."""
    return ctx_as_of if db.get_meta(cur, "as_of") else None


def compute_checks(
    cur: duckdb.DuckDBPyConnection, as_of: dt.datetime | None
) -> dict[str, pl.DataFrame]:
    """Return the Data page's check queries' rows from the raw tables."""
    return {
        "column_nulls": db.run(cur, "column_nulls"),
        "unmatched_ids": db.run(cur, "unmatched_ids"),
        "data_health": db.run(cur, "data_health", as_of=as_of),
    }


def write(
    cur: duckdb.DuckDBPyConnection,
    *,
    key: str,
    fy_start_month: int,
    as_of: dt.datetime | None,
    handoffs: dict[str, pl.DataFrame],
    checks: dict[str, pl.DataFrame],
    checks_as_of: dt.datetime | None,
) -> None:
    """Keep the summary (in the caller's transaction, if any).

    handoffs: "cells" (with mature_all and mature_own), "segments" (with dimension), "won" and
    "maturity" (channel, maturity_days; channel null for all), built from every channel's
    hand-offs; checks: compute_checks's frames.
    """
    state = pl.DataFrame(
        {
            "format": [FORMAT],
            "data_key": [key],
            "fy_start_month": [fy_start_month],
            "as_of": [as_of],
            "health_as_of": [checks_as_of],
        },
        schema={
            "format": pl.Int64,
            "data_key": pl.String,
            "fy_start_month": pl.Int64,
            "as_of": pl.Datetime("us"),
            "health_as_of": pl.Datetime("us"),
        },
    )
    frames = {
        "rollup_pages_state_frame": state,
        "rollup_handoff_cells_frame": handoffs["cells"],
        "rollup_handoff_segments_frame": handoffs["segments"],
        "rollup_handoff_won_frame": handoffs["won"].with_row_index("row_order"),
        "rollup_handoff_maturity_frame": handoffs["maturity"],
        **{
            f"rollup_{name}_frame": checks[name].with_row_index("row_order")
            for name in CHECK_QUERIES
        },
    }
    for name, frame in frames.items():
        cur.register(name, frame)
    try:
        cur.execute(db.query_text("rollup_pages_write"))
    finally:
        for name in frames:
            cur.unregister(name)


def _current(cur: Any, fy_start_month: int) -> dict[str, Any] | None:
    """Return the kept state row when the summary is current for this fiscal year, else None."""
    return current_state(
        cur,
        TABLES,
        "rollup_pages_state",
        {"format": FORMAT, "fy_start_month": fy_start_month, "data_key": lambda: data_key(cur)},
    )


def read_handoffs(
    cur: Any, fy_start_month: int, as_of: dt.datetime | None, channel: str | None, dimension: str
) -> HandoffTables | None:
    """Return the kept hand-offs of one channel (None: all) with one breakdown's segments, or
    None when there is no current summary counted to this as-of moment."""
    kept = _current(cur, fy_start_month)
    if kept is None or as_of is None or kept["as_of"] != as_of:
        return None
    maturity = db.run(cur, "rollup_handoff_maturity", channel=channel)
    if maturity.height != 1:  # a channel without hand-offs: its tables are empty
        return None
    return HandoffTables(
        db.run(cur, "rollup_handoff_cells", channel=channel),
        db.run(cur, "rollup_handoff_segments", channel=channel, dimension=dimension),
        db.run(cur, "rollup_handoff_won", channel=channel),
        float(maturity["maturity_days"][0]),
    )


def checks(cur: duckdb.DuckDBPyConnection, as_of: dt.datetime | None) -> dict[str, pl.DataFrame]:
    """Return the Data page's check queries' rows (data_health.sql's run with as_of): the kept
    ones while current and counted with that as-of, else from the raw tables."""
    kept = _current(cur, _fy_start_month(cur))
    if kept is None or kept["health_as_of"] != as_of:
        return compute_checks(cur, as_of)
    return {name: db.run(cur, f"rollup_{name}") for name in CHECK_QUERIES}


def is_current(cur: Any) -> bool:
    """Return whether the database holds a summary that is current (any as-of)."""
    return (
        _current(cur, _fy_start_month(cur)) is not None
        if isinstance(cur, duckdb.DuckDBPyConnection)
        else False
    )
