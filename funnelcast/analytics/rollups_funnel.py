"""The Funnel page's summary kept in the database: the counts, curves, stage times and journeys
funnelcast.analytics.funnel.report reads, computed once per data version in forms that answer
every choice the page offers (any channel or all, any breakdown, quarter or month cohorts, any
quarter), so that a first visit of a choice need not scan the whole history of stage changes.

What is kept (queries/rollup_funnel_write.sql), each the raw query's rows in a form that sums or
filters back to them exactly:
- funnel_steps.sql's counts per breakdown, creation quarter, lead channel and segment
  (rollup_funnel_steps_source.sql): one breakdown's rows summed over the channels in scope are
  funnel_steps.sql's rows for that channel and breakdown (counts add);
- cohort_curves.sql's own rows (per cohort, lead channel, outcome and day) for both grains,
  at the as-of moment kept in the state row: summed likewise (cohorts.over_channels);
- time_in_stage.sql's rows for all channels (percentiles do not add, but its grouping sets hold
  every channel's own rows, and over one channel's leads the all-channels roll-up is that
  channel's row: rollup_funnel_stage_times.sql gives any channel's rows from them exactly);
- journeys.sql's pattern counts per creation quarter and lead channel
  (journeys.sql's own rows, which carry the lead channel): summed likewise;
- one state row: FORMAT, the data's key (a hash of FORMAT, rollup_data_version.sql's rows, which
  key the Overview's summary, rollup_funnel_version.sql's: the breakdown attributes, and the
  events' count and time span), the fiscal year start month, the as-of moment and the lead
  maturity days (outcome_lag.sql).

Who writes it: funnelcast.analytics.rollups.refresh (every import's transaction, the demo
builder, `funnelcast summarize`) calls `refresh`. Who reads it: funnel.report, through `read`,
only on DuckDB and only when the format, key, fiscal year and as-of moment are the data's now;
otherwise (no summary, a stale one, Spark) the report is computed from the raw tables, as before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import duckdb
import polars as pl

from funnelcast.analytics.scope import FunnelInputError, as_of_moment
from funnelcast.data import db
from funnelcast.data.context import DataContext, load_context
from funnelcast.data.kept import current_state

# Bump when what rollup_funnel_write.sql keeps, or what the Funnel queries count, changes: a
# summary of another format is never read.
FORMAT = 2
GRAINS = ("quarter", "month")
# The summary's tables (queries/rollup_funnel_write.sql writes them).
TABLES = (
    "rollup_funnel_state",
    "rollup_funnel_steps",
    "rollup_funnel_cohorts",
    "rollup_funnel_stage_times",
    "rollup_funnel_journeys",
)


def data_key(cur: duckdb.DuckDBPyConnection, ctx: DataContext) -> str:
    """Return the hash of what the Funnel page's figures are computed from: the Overview's
    summary's figures (rollup_data_version.sql), the leads' breakdown attributes
    (rollup_funnel_version.sql) and the events' count and time span (the context's, which
    load_context counted already: journeys.sql reads the demo requests)."""
    rows = [db.run(cur, name).rows() for name in ("rollup_data_version", "rollup_funnel_version")]
    events = ctx.extent["events"]
    figures = [FORMAT, rows, [events["count_rows"], events["first_at"], events["last_at"]]]
    return hashlib.sha256(json.dumps(figures, default=str).encode()).hexdigest()


def lead_maturity_days(cur: duckdb.DuckDBPyConnection) -> float:
    """Return the days within which 90% of past lead-to-customer journeys closed (0 if none)."""
    row = db.run(cur, "outcome_lag", outcome="customer").to_dicts()[0]
    return float(row["p90_days"] or 0.0)


def compute(cur: duckdb.DuckDBPyConnection, ctx: DataContext) -> dict[str, pl.DataFrame]:
    """Return the summary's frames from the raw tables, by the name rollup_funnel_write.sql
    reads each under."""
    fy = ctx.fy_start_month
    as_of = as_of_moment(ctx)
    cohorts = [
        db.run(cur, "cohort_curves", as_of=as_of, grain=g, fy_start_month=fy, channel=None)
        .with_columns(grain=pl.lit(g))
        .select("grain", pl.exclude("grain"))
        for g in GRAINS
    ]
    state = {
        "format": [FORMAT],
        "data_key": [data_key(cur, ctx)],
        "fy_start_month": [fy],
        "as_of": [ctx.as_of],
        "lead_maturity_days": [lead_maturity_days(cur)],
    }
    return {
        "rollup_funnel_steps_frame": db.run(cur, "rollup_funnel_steps_source", fy_start_month=fy),
        "rollup_funnel_cohorts_frame": pl.concat(cohorts),
        "rollup_funnel_stage_times_frame": db.run(
            cur, "time_in_stage", fy_start_month=fy, channel=None
        ),
        "rollup_funnel_journeys_frame": db.run(cur, "journeys", fy_start_month=fy, channel=None),
        "rollup_funnel_state_frame": pl.DataFrame(
            state, schema_overrides={"as_of": pl.Datetime("us")}
        ),
    }


def refresh(cur: duckdb.DuckDBPyConnection) -> None:
    """Compute the summary and keep it in the database (in the caller's transaction, if any)."""
    frames = compute(cur, load_context(cur))
    for name, frame in frames.items():
        cur.register(name, frame)
    try:
        cur.execute(db.query_text("rollup_funnel_write"))
    finally:
        for name in frames:
            cur.unregister(name)


class Kept:
    """The current summary of one database: the Funnel queries' rows for any choice."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, state: dict[str, Any]) -> None:
        self.cur = cur
        self.lead_maturity_days = float(state["lead_maturity_days"])

    def funnel_steps(self, channel: str | None, dimension: str | None) -> pl.DataFrame:
        """Return funnel_steps.sql's rows for a channel (None: all) and segment column."""
        return db.run(self.cur, "rollup_funnel_steps", channel=channel, dimension=dimension)

    def cohort_curves(self, channel: str | None, grain: str) -> pl.DataFrame:
        """Return cohort_curves.sql's rows (per channel: cohorts.over_channels sums them) for a
        channel and grain at the data's as-of moment."""
        if grain not in GRAINS:
            raise FunnelInputError(f"cohort grain must be 'quarter' or 'month', not {grain!r}")
        return db.run(self.cur, "rollup_funnel_cohorts", channel=channel, grain=grain)

    def time_in_stage(self, channel: str | None) -> pl.DataFrame:
        """Return time_in_stage.sql's rows for a channel."""
        return db.run(self.cur, "rollup_funnel_stage_times", channel=channel)

    def journeys(self, channel: str | None) -> pl.DataFrame:
        """Return journeys.sql's rows for a channel."""
        return db.run(self.cur, "rollup_funnel_journeys", channel=channel)


def read(cur: Any, ctx: DataContext) -> Kept | None:
    """Return the kept summary when it is current, else None: no summary, another format,
    fiscal year, as-of moment or data key, data without an as-of moment, or not DuckDB."""
    if ctx.as_of is None:
        return None
    state = current_state(
        cur,
        TABLES,
        "rollup_funnel_state",
        {
            "format": FORMAT,
            "fy_start_month": ctx.fy_start_month,
            "as_of": _naive(ctx.as_of),
            "data_key": lambda: data_key(cur, ctx),
        },
    )
    if state is None:
        return None
    return Kept(cur, state)


def _naive(moment: dt.datetime) -> dt.datetime:
    """Return a moment without its time zone, as DuckDB's timestamp column gives it back."""
    return moment.replace(tzinfo=None)
