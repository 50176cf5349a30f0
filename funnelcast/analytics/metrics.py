"""The headline funnel figures: volumes, conversion with intervals, revenue, spend, cost and ROI.

Every page and the `metrics` command get their numbers here. SQL (queries/funnel_by_quarter.sql)
counts per quarter and channel (for the recorded MQLs, read from the summary kept per data
version, funnelcast.analytics.rollups, when it is current); this module sums the quarters in scope
and turns counts into rates, costs and ROI, so that channels always add up to the total.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import duckdb
import polars as pl

from funnelcast.analytics import rollups
from funnelcast.core.periods import quarter_of
from funnelcast.core.stats import Rate, rate, ratio
from funnelcast.data import db
from funnelcast.data.context import DataContext, MetricsInputError, load_context
from funnelcast.definitions import scoring

COUNT_COLUMNS = (
    "count_leads",
    "count_mqls",
    "count_sals",
    "count_sqls",
    "count_customers",
    "count_leads_reached_mql",
    "count_mqls_reached_sal",
    "count_mqls_reached_sql",
    "count_mqls_reached_customer",
    "count_mqls_rejected",
    "count_sqls_reached_customer",
    "count_sqls_without_mql",
    "revenue",
    "spend",
)

# What each figure means, shipped with the JSON so a script reader need not guess.
DEFINITIONS = {
    "leads": "leads created in the period",
    "mqls": "leads that first became MQL in the period (recorded by the CRM, or computed by "
    "the MQL definition when a threshold is given)",
    "sals, sqls, customers": "leads that first reached the stage, or a later one, in the period",
    "lead_to_mql": "cohort: of the period's new leads, the share that became MQL so far",
    "mql_to_sal, mql_to_sql, mql_to_customer": "cohort: of the period's MQLs, the share that "
    "reached the stage so far",
    "sql_to_customer": "cohort: of the period's SQLs, the share that became customers so far",
    "revenue": "deal amounts of customer stage changes in the period",
    "spend": "marketing spend whose period starts in the period",
    "cost_per_*": "spend divided by the period's count; null without spend or count",
    "roi": "(revenue - spend) / spend; null without spend",
    "cohort_is_mature": "false when the period's MQLs have had less time than 90% of past "
    "MQL-to-customer journeys took: their cohort rates will still rise",
}


def mql_moments(
    cur: duckdb.DuckDBPyConnection, ctx: DataContext, threshold: float | None = None
) -> pl.DataFrame:
    """Return (lead_id, mql_at): recorded MQLs, or those the definition computes at a threshold."""
    if threshold is None:
        return db.run(cur, "recorded_mql_moments")
    if threshold < 0 or math.isnan(threshold):
        raise MetricsInputError(f"threshold must be a number >= 0, not {threshold}")
    if ctx.definition is None:
        raise MetricsInputError(
            "no MQL definition is in force, so there is nothing to apply a threshold to"
        )
    # funnelcast.scoring gives the same moments as queries/computed_mql_moments.sql in linear time
    return scoring.computed_mql_moments(
        cur, ctx.definition["definition_id"], float(threshold)
    ).select("lead_id", "mql_at")


def with_mql_moments(cur: duckdb.DuckDBPyConnection, moments: pl.DataFrame, name: str, **params):
    """Return queries/NAME.sql's rows, run with the given MQL moments visible as mql_moments."""
    cur.register("mql_moments", moments.select("lead_id", "mql_at"))
    try:
        return db.run(cur, name, **params)
    finally:
        cur.unregister("mql_moments")


def maturity_days(cur: duckdb.DuckDBPyConnection, moments: pl.DataFrame) -> float:
    """Return the days within which 90% of past MQL-to-customer journeys closed (0 if none)."""
    return rollups.maturity_days(with_mql_moments(cur, moments, "conversion_lags"))


def funnel_by_quarter(
    cur: duckdb.DuckDBPyConnection,
    ctx: DataContext,
    *,
    channel: str | None = None,
    threshold: float | None = None,
) -> pl.DataFrame:
    """Return the funnel counts per quarter and channel, with quarter labels and cohort maturity."""
    ctx.check_channel(channel)
    # the recorded funnel is kept, per data version, in the database (funnelcast.analytics.rollups)
    kept = rollups.read(cur, ctx.fy_start_month, channel) if threshold is None else None
    if kept is not None:
        frame, mature_days = kept
    else:
        moments = mql_moments(cur, ctx, threshold)
        frame = with_mql_moments(
            cur, moments, "funnel_by_quarter", fy_start_month=ctx.fy_start_month, channel=channel
        )
        mature_days = maturity_days(cur, moments)
    as_of = ctx.as_of or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    starts = frame["quarter_start"].unique().to_list()
    quarters = {start: quarter_of(start, ctx.fy_start_month) for start in starts}
    maturity = dt.timedelta(days=mature_days)
    return frame.with_columns(
        pl.col("quarter_start")
        .replace_strict({s: q.label for s, q in quarters.items()}, return_dtype=pl.String)
        .alias("quarter"),
        pl.col("quarter_start")
        .replace_strict(
            {
                s: dt.datetime.combine(q.end, dt.time()) + maturity <= as_of
                for s, q in quarters.items()
            },
            return_dtype=pl.Boolean,
        )
        .alias("is_mature"),
    )


def figures(totals: dict[str, float]) -> dict[str, Any]:
    """Return the headline figures from summed counts: volumes, rates, costs and ROI."""
    t = {k: totals.get(k, 0) or 0 for k in COUNT_COLUMNS}
    n = {k: int(v) for k, v in t.items() if k.startswith("count_")}
    rates: dict[str, Rate] = {
        "lead_to_mql": rate(n["count_leads_reached_mql"], n["count_leads"]),
        "mql_to_sal": rate(n["count_mqls_reached_sal"], n["count_mqls"]),
        "mql_to_sql": rate(n["count_mqls_reached_sql"], n["count_mqls"]),
        "mql_to_customer": rate(n["count_mqls_reached_customer"], n["count_mqls"]),
        "sal_to_sql": rate(n["count_mqls_reached_sql"], n["count_mqls_reached_sal"]),
        "sql_to_customer": rate(n["count_sqls_reached_customer"], n["count_sqls"]),
    }
    spend, revenue = float(t["spend"]), float(t["revenue"])
    cost = lambda count: ratio(spend, count) if spend > 0 else None  # noqa: E731
    return {
        "leads": int(t["count_leads"]),
        "mqls": int(t["count_mqls"]),
        "sals": int(t["count_sals"]),
        "sqls": int(t["count_sqls"]),
        "customers": int(t["count_customers"]),
        "sqls_without_mql": int(t["count_sqls_without_mql"]),
        "mqls_rejected": int(t["count_mqls_rejected"]),
        **{name: r.value for name, r in rates.items()},
        "revenue": round(revenue, 2),
        "spend": round(spend, 2),
        "cost_per_lead": cost(t["count_leads"]),
        "cost_per_mql": cost(t["count_mqls"]),
        "cost_per_sql": cost(t["count_sqls"]),
        "cost_per_customer": cost(t["count_customers"]),
        "roi": ratio(revenue - spend, spend),
        "period_ratios": {
            "sqls_per_mql": ratio(t["count_sqls"], t["count_mqls"]),
            "customers_per_sql": ratio(t["count_customers"], t["count_sqls"]),
        },
        "rates": {name: r.as_dict() for name, r in rates.items()},
    }


def sum_counts(frame: pl.DataFrame) -> dict[str, float]:
    """Return the sum of each count column of a funnel frame."""
    if frame.is_empty():
        return {k: 0 for k in COUNT_COLUMNS}
    return frame.select(pl.col(c).sum() for c in COUNT_COLUMNS).to_dicts()[0]


def metrics(
    cur: duckdb.DuckDBPyConnection,
    *,
    quarter: str | None = None,
    channel: str | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Return the headline figures for a quarter (or all history), overall and per channel."""
    ctx = load_context(cur)
    if quarter:
        ctx.quarter(quarter)
    frame = funnel_by_quarter(cur, ctx, channel=channel, threshold=threshold)
    return summarize(ctx, frame, quarter=quarter, channel=channel, threshold=threshold)


def summarize(
    ctx: DataContext,
    frame: pl.DataFrame,
    *,
    quarter: str | None = None,
    channel: str | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Return the headline figures of a funnel_by_quarter frame for one quarter or all of it.

    The frame must have been computed for the same channel and threshold; they are only
    reported back in the scope.
    """
    scope_quarter = ctx.quarter(quarter) if quarter else None
    if scope_quarter is not None:
        frame = frame.filter(pl.col("quarter_start") == scope_quarter.start)
    by_channel = [
        {"channel": ch, **figures(sum_counts(part))}
        for (ch,), part in sorted(frame.group_by("channel"), key=lambda g: g[0][0])
    ]
    definition = ctx.definition
    return {
        "scope": {
            "quarter": scope_quarter.label if scope_quarter else None,
            "period_start": scope_quarter.start.isoformat() if scope_quarter else None,
            "period_end": scope_quarter.end.isoformat() if scope_quarter else None,
            "channel": channel,
            "threshold": threshold,
            "mql_source": "recorded" if threshold is None else "computed",
            "definition": (
                {k: definition[k] for k in ("definition_id", "name", "threshold", "half_life_days")}
                if definition
                else None
            ),
            "as_of": ctx.as_of.isoformat() if ctx.as_of else None,
            "fiscal_year_start_month": ctx.fy_start_month,
            "cohort_is_mature": bool(frame["is_mature"].all()) if not frame.is_empty() else None,
        },
        "currency": ctx.currency.code,
        **figures(sum_counts(frame)),
        "by_channel": by_channel,
        "definitions": DEFINITIONS,
    }
