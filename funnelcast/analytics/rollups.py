"""The funnel summary kept in the database: the recorded funnel per quarter and channel, computed
once per data version, so that `metrics` and the pages need not read the whole history on every
first open.

What is kept (queries/rollup_write.sql): funnel_by_quarter.sql's rows on the recorded MQLs for
every channel (a few hundred rows at any size), roi_by_channel_quarter.sql's rows (per campaign
too), and, in one state row, the days within which 90% of past journeys made a step (MQL to
customer, the cohort maturity; MQL to SQL and lead to customer, which the ROI page reads), the
fiscal year start month they were counted with, and the data's key: a hash of this module's FORMAT and queries/rollup_data_version.sql
(the row counts, time spans and amount totals of leads, stage changes and spend, and every meta
setting, which each import changes). One channel's funnel is the whole funnel's rows of that
channel (every part of funnel_by_quarter.sql is grouped by the lead's or the spend's channel), so
one summary answers every channel.

Who writes it: every import, inside its own transaction (`refresh` is the importer's
before_commit), the demo builder's command, and `funnelcast summarize` for a database made before.
Who reads it (`read`, `read_roi`): funnelcast.analytics.metrics and .roi, only on DuckDB, only when the recorded MQLs
are asked for, and only when its key, format and fiscal year are the data's now; otherwise (no
summary yet, a stale one, Spark) the caller computes from the raw tables, as before.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

import duckdb
import polars as pl

from funnelcast.analytics import attribution_kept, rollups_funnel
from funnelcast.data import db
from funnelcast.data.kept import current_state

# Bump when what rollup_write.sql keeps, or what funnel_by_quarter.sql counts, changes: a summary
# of another format is never read.
FORMAT = 2


class Summary(NamedTuple):
    """The kept funnel rows (one channel's or all) and the cohort maturity days."""

    frame: pl.DataFrame
    mature_days: float


class RoiSummary(NamedTuple):
    """The kept ROI rows and the two lags the ROI page reads (p90 days, 0 when none)."""

    frame: pl.DataFrame
    mql_to_sql_days: float
    lead_to_customer_days: float


def data_key(cur: duckdb.DuckDBPyConnection) -> str:
    """Return the hash of what the recorded funnel is computed from (rollup_data_version.sql)."""
    rows = db.run(cur, "rollup_data_version").rows()
    text = json.dumps([FORMAT, rows], default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _fy_start_month(cur: duckdb.DuckDBPyConnection) -> int:
    return int(db.get_meta(cur, "fiscal_year_start_month", "1") or 1)


def _with_moments(cur: duckdb.DuckDBPyConnection, moments: pl.DataFrame, name: str, **params):
    cur.register("mql_moments", moments)
    try:
        return db.run(cur, name, **params)
    finally:
        cur.unregister("mql_moments")


def compute(cur: duckdb.DuckDBPyConnection, fy_start_month: int) -> Summary:
    """Return the summary from the raw tables: the recorded funnel of every channel and the
    maturity days (what funnelcast.analytics.metrics computes when there is no summary)."""
    moments = db.run(cur, "recorded_mql_moments")
    frame = _with_moments(
        cur, moments, "funnel_by_quarter", fy_start_month=fy_start_month, channel=None
    )
    return Summary(frame, maturity_days(_with_moments(cur, moments, "conversion_lags")))


def maturity_days(lags: pl.DataFrame, step: str = "mql_to_customer") -> float:
    """Return the p90 days of a step of conversion_lags.sql's rows (0: none made it)."""
    row = lags.filter(pl.col("step") == step)
    if row.is_empty() or row["p90_days"][0] is None:
        return 0.0
    return float(row["p90_days"][0])


def compute_roi(cur: duckdb.DuckDBPyConnection, fy_start_month: int) -> RoiSummary:
    """Return the ROI summary from the raw tables (what funnelcast.analytics.roi computes when
    there is no summary)."""
    lags = _with_moments(cur, db.run(cur, "recorded_mql_moments"), "conversion_lags")
    outcome = db.run(cur, "outcome_lag", outcome="customer")
    return RoiSummary(
        db.run(cur, "roi_by_channel_quarter", fy_start_month=fy_start_month),
        maturity_days(lags, "mql_to_sql"),
        float(outcome["p90_days"][0] or 0) if outcome.height else 0.0,
    )


def refresh(cur: duckdb.DuckDBPyConnection) -> Summary:
    """Compute the summary and keep it in the database (in the caller's transaction, if any);
    return it."""
    fy_start_month = _fy_start_month(cur)
    key = data_key(cur)
    summary = compute(cur, fy_start_month)
    roi = compute_roi(cur, fy_start_month)
    state = pl.DataFrame(
        {
            "format": [FORMAT],
            "data_key": [key],
            "fy_start_month": [fy_start_month],
            "mature_days": [summary.mature_days],
            "mql_to_sql_days": [roi.mql_to_sql_days],
            "lead_to_customer_days": [roi.lead_to_customer_days],
        }
    )
    frames = {
        "rollup_funnel_frame": summary.frame,
        "rollup_roi_frame": roi.frame,
        "rollup_state_frame": state,
    }
    for name, frame in frames.items():
        cur.register(name, frame)
    try:
        cur.execute(db.query_text("rollup_write"))
    finally:
        for name in frames:
            cur.unregister(name)
    rollups_funnel.refresh(cur)  # the Funnel page's summary, kept beside this one
    attribution_kept.refresh(cur, key, fy_start_month)  # the ROI page's credits, kept alike
    return summary


# The funnel summary's tables (queries/rollup_write.sql writes them).
TABLES = ("rollup_state", "rollup_funnel_by_quarter", "rollup_roi_by_channel_quarter")


def _current(cur: Any, fy_start_month: int) -> dict[str, Any] | None:
    """Return the kept state row when the summary is current for this fiscal year, else None."""
    return current_state(
        cur,
        TABLES,
        "rollup_state",
        {"format": FORMAT, "fy_start_month": fy_start_month, "data_key": lambda: data_key(cur)},
    )


def read(cur: Any, fy_start_month: int, channel: str | None = None) -> Summary | None:
    """Return the kept summary of one channel (None: all), or None when there is none that is
    current: no summary, another format, fiscal year or data key, or not a DuckDB cursor."""
    kept = _current(cur, fy_start_month)
    if kept is None:
        return None
    frame = db.run(cur, "rollup_funnel", channel=channel)
    return Summary(frame, float(kept["mature_days"]))


def read_roi(cur: Any, fy_start_month: int) -> RoiSummary | None:
    """Return the kept ROI summary, or None when there is none that is current (as read)."""
    kept = _current(cur, fy_start_month)
    if kept is None:
        return None
    return RoiSummary(
        db.run(cur, "rollup_roi"),
        float(kept["mql_to_sql_days"]),
        float(kept["lead_to_customer_days"]),
    )
