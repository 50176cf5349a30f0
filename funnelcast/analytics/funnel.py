"""Where the funnel leaks: the lead funnel with its breakdown, MQL cohort curves with
maturity-adjusted estimates, time in stage, and non-linear journeys.

SQL (queries/funnel_steps.sql, cohort_curves.sql, time_in_stage.sql, journeys.sql) counts; this
module turns counts into rates with their n and Wilson interval, survival curves and estimates,
and the flows of the journey diagram. `report` is what `funnelcast funnel` prints and the
Funnel page shows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import polars as pl

from funnelcast.analytics import rollups_funnel
from funnelcast.analytics.cohorts import cohort_frame, cohorts
from funnelcast.analytics.cohorts import over_channels as cohorts_over_channels
from funnelcast.analytics.journeys import journeys, journeys_frame, over_channels
from funnelcast.analytics.scope import (
    DIMENSIONS,
    as_of_moment,
    in_period,
    segment_of,
    with_quarter_labels,
)
from funnelcast.core.stats import rate
from funnelcast.data import db
from funnelcast.data.context import DataContext, load_context

STAGES = ("leads", "mql", "sal", "sql", "customer")
STAGE_LABELS = {"leads": "Leads", "mql": "MQL", "sal": "SAL", "sql": "SQL", "customer": "Customer"}
STEP_COUNTS = {
    "leads": "count_leads",
    "mql": "count_reached_mql",
    "sal": "count_reached_sal",
    "sql": "count_reached_sql",
    "customer": "count_reached_customer",
}
STEPS_IN_STAGE = {
    "mql_to_sal": "MQL → SAL",
    "sal_to_sql": "SAL → SQL",
    "sql_to_customer": "SQL → customer",
}

DEFINITIONS = {
    "funnel": "cohort of lead creation: of the leads created in the period, those that have "
    "reached each stage so far; a stage counts as reached when the lead entered it or a later "
    "one, so counts never grow down the funnel",
    "mql_skipped": "leads counted at MQL that never had an MQL recorded (they went to sales "
    "directly, e.g. by a demo request)",
    "from_previous": "the step's count over the previous step's count",
    "from_top": "the step's count over the period's leads",
    "is_mature": "false when the period's leads have had less time than 90% of past "
    "lead-to-customer journeys took: its later steps will still fill",
    "cohorts": "MQL cohorts by the quarter (or month) of the lead's first recorded MQL; curves "
    "are Kaplan-Meier estimates of the share converted by each day since MQL",
    "estimate": "maturity-adjusted eventual conversion: conversions so far plus, for each lead "
    "not yet converted, the chance that a lead still unconverted at its age converts later, "
    "read from the curve pooled over all cohorts; an estimate, with an approximate interval",
    "time_in_stage": "days from entering a stage to reaching a later one, for completed steps; "
    "by the quarter in which the step began",
    "journeys": "leads created in the period, by the path they took; SQLs without an MQL came "
    "by a demo request (one before they reached sales) or direct contact",
}


# ===== the lead funnel =====


def funnel_steps(
    cur: duckdb.DuckDBPyConnection,
    ctx: DataContext,
    *,
    channel: str | None = None,
    by: str | None = None,
) -> pl.DataFrame:
    """Return the lead funnel counts per creation quarter and segment, with quarter labels."""
    ctx.check_channel(channel)
    frame = db.run(
        cur,
        "funnel_steps",
        fy_start_month=ctx.fy_start_month,
        channel=channel,
        dimension=segment_of(by),
    )
    return with_quarter_labels(frame, ctx, "quarter_start")


def steps(counts: dict[str, int]) -> list[dict[str, Any]]:
    """Return the funnel's steps from summed counts: count, lost, rate from the previous step
    and from the top, each rate with its n and interval."""
    out = []
    top = int(counts.get("count_leads", 0))
    previous = None
    for stage in STAGES:
        count = int(counts.get(STEP_COUNTS[stage], 0))
        out.append(
            {
                "stage": stage,
                "label": STAGE_LABELS[stage],
                "count": count,
                "lost": None if previous is None else previous - count,
                "from_previous": None if previous is None else rate(count, previous).as_dict(),
                "from_top": rate(count, top).as_dict(),
            }
        )
        previous = count
    return out


def _sum(frame: pl.DataFrame) -> dict[str, int]:
    """Return the sum of every count column of a funnel_steps frame."""
    columns = [c for c in frame.columns if c.startswith("count_")]
    if frame.is_empty():
        return {c: 0 for c in columns}
    return {k: int(v) for k, v in frame.select(pl.col(columns).sum()).to_dicts()[0].items()}


def is_mature(ctx: DataContext, quarter: str | None, days: float) -> bool:
    """Return whether a quarter's cohort has had `days` since its end (all history: the last)."""
    if not ctx.quarters:
        return True
    end = ctx.quarter(quarter).end if quarter else ctx.quarters[-1].end
    return dt.datetime.combine(end, dt.time()) + dt.timedelta(days=days) <= as_of_moment(ctx)


def funnel_view(
    frame: pl.DataFrame, ctx: DataContext, quarter: str | None, mature_days: float
) -> dict[str, Any]:
    """Return one period's funnel: its steps, MQL skips and whether its cohort is mature."""
    counts = _sum(in_period(frame, quarter))
    period = ctx.quarter(quarter) if quarter else None
    return {
        "quarter": quarter,
        "period_start": period.start.isoformat() if period else None,
        "period_end": period.end.isoformat() if period else None,
        "is_mature": is_mature(ctx, quarter, mature_days),
        "mql_skipped": counts.get("count_mql_skipped", 0),
        "steps": steps(counts),
    }


def breakdown(frame: pl.DataFrame, quarter: str | None) -> list[dict[str, Any]]:
    """Return the funnel of each segment in a period, largest first."""
    part = in_period(frame, quarter)
    rows = []
    for (segment,), group in part.group_by("segment"):
        counts = _sum(group)
        rows.append(
            {
                "segment": segment,
                "leads": counts["count_leads"],
                "mql_skipped": counts["count_mql_skipped"],
                "steps": steps(counts),
            }
        )
    return sorted(rows, key=lambda r: (-r["leads"], r["segment"]))


# ===== time in stage =====


def time_in_stage(
    cur: duckdb.DuckDBPyConnection, ctx: DataContext, *, channel: str | None = None
) -> pl.DataFrame:
    """Return the days spent per step by quarter and channel, with their roll-ups."""
    ctx.check_channel(channel)
    frame = db.run(cur, "time_in_stage", fy_start_month=ctx.fy_start_month, channel=channel)
    return with_quarter_labels(frame, ctx, "quarter_start")


def _stage_row(row: dict[str, Any]) -> dict[str, Any]:
    """Return one time-in-stage row for the report: step, n and the quantiles in days."""
    keys = ("p10_days", "p25_days", "median_days", "p75_days", "p90_days", "mean_days")
    return {
        "step": row["step"],
        "label": STEPS_IN_STAGE[row["step"]],
        "n": int(row["count_leads"]),
        "is_small_sample": int(row["count_leads"]) < 30,
        **{k: None if row[k] is None else round(float(row[k]), 2) for k in keys},
    }


def stage_times(frame: pl.DataFrame, quarter: str | None) -> dict[str, Any]:
    """Return time in stage for a period: overall and by channel per step, and the trend."""
    in_period = (
        frame.filter(pl.col("is_all_quarters"))
        if quarter is None
        else frame.filter(~pl.col("is_all_quarters") & (pl.col("quarter") == quarter))
    )
    overall = in_period.filter(pl.col("is_all_channels")).sort("step")
    by_channel = in_period.filter(~pl.col("is_all_channels")).sort("step", "channel")
    trend = frame.filter(~pl.col("is_all_quarters") & pl.col("is_all_channels")).sort(
        "step", "quarter_start"
    )
    return {
        "overall": [_stage_row(r) for r in overall.to_dicts()],
        "by_channel": [{"channel": r["channel"], **_stage_row(r)} for r in by_channel.to_dicts()],
        "trend": [{"quarter": r["quarter"], **_stage_row(r)} for r in trend.to_dicts()],
    }


# ===== everything, for the CLI and the page =====


def previous_label(ctx: DataContext, quarter: str | None) -> str | None:
    """Return the quarter before `quarter` when the data has it."""
    if quarter is None:
        return None
    previous = ctx.quarter(quarter).previous(ctx.fy_start_month)
    return previous.label if previous in ctx.quarters else None


def report(
    cur: duckdb.DuckDBPyConnection,
    *,
    quarter: str | None = None,
    channel: str | None = None,
    by: str = "channel",
    grain: str = "quarter",
    ctx: DataContext | None = None,
) -> dict[str, Any]:
    """Return every figure of the Funnel page for a quarter (None: all history) and channel:
    from the summary kept in the database when it is current (funnelcast.analytics.
    rollups_funnel: the same rows), else from the raw tables."""
    ctx = ctx or load_context(cur)
    if quarter:
        ctx.quarter(quarter)
    dimension = segment_of(by)
    ctx.check_channel(channel)
    previous = previous_label(ctx, quarter)
    kept = rollups_funnel.read(cur, ctx)
    if kept is None:
        mature_days = rollups_funnel.lead_maturity_days(cur)
        totals = funnel_steps(cur, ctx, channel=channel)
        by_segment = funnel_steps(cur, ctx, channel=channel, by=by)
        cohort_rows = cohort_frame(cur, ctx, channel=channel, grain=grain)
        stage_rows = time_in_stage(cur, ctx, channel=channel)
        journey_rows = journeys_frame(cur, ctx, channel=channel)
    else:
        mature_days = kept.lead_maturity_days
        totals = with_quarter_labels(kept.funnel_steps(channel, None), ctx, "quarter_start")
        by_segment = with_quarter_labels(
            kept.funnel_steps(channel, dimension), ctx, "quarter_start"
        )
        cohort_rows = cohorts_over_channels(kept.cohort_curves(channel, grain))
        stage_rows = with_quarter_labels(kept.time_in_stage(channel), ctx, "quarter_start")
        journey_rows = with_quarter_labels(
            over_channels(kept.journeys(channel)), ctx, "quarter_start"
        )
    return {
        "scope": {
            "quarter": quarter,
            "previous_quarter": previous,
            "channel": channel,
            "by": by,
            "cohort_grain": grain,
            "as_of": ctx.as_of.isoformat() if ctx.as_of else None,
            "fiscal_year_start_month": ctx.fy_start_month,
            "lead_maturity_days": round(mature_days, 1),
        },
        "funnel": funnel_view(totals, ctx, quarter, mature_days),
        "previous": funnel_view(totals, ctx, previous, mature_days) if previous else None,
        "breakdown": {
            "by": by,
            "label": DIMENSIONS[by][1],
            "segments": breakdown(by_segment, quarter),
            "previous_segments": breakdown(by_segment, previous) if previous else None,
        },
        "cohorts": cohorts(cohort_rows, ctx, grain),
        "time_in_stage": stage_times(stage_rows, quarter),
        "journeys": journeys(journey_rows, quarter),
        "definitions": DEFINITIONS,
    }


def for_json(result: dict[str, Any]) -> dict[str, Any]:
    """Return a report without its frames (cohort curves), ready for json.dumps."""
    out = {**result, "cohorts": {**result["cohorts"], "outcomes": {}}}
    for outcome, part in result["cohorts"]["outcomes"].items():
        out["cohorts"]["outcomes"][outcome] = {
            **part,
            "cohorts": [{k: v for k, v in c.items() if k != "curve"} for c in part["cohorts"]],
        }
    return out


# ===== tables the page shows (shares in percent, for % column formats) =====


def _pct(r: dict[str, Any] | None) -> float | None:
    """Return a rate's value in percent, or None."""
    return None if r is None or r["value"] is None else r["value"] * 100


def basis(r: dict[str, Any] | None) -> str:
    """Return what a rate rests on, short: '⚠ n 22 · 14–52%'."""
    if r is None or r["n"] == 0:
        return "—"
    flag = "⚠ " if r["is_small_sample"] else ""
    return f"{flag}n {r['n']:,} · {r['low'] * 100:.0f}–{r['high'] * 100:.0f}%"


def steps_table(current: dict[str, Any], previous: dict[str, Any] | None) -> pl.DataFrame:
    """Return one row per funnel stage: this period's count and rates, and the previous one's."""
    rows = []
    before = {s["stage"]: s for s in previous["steps"]} if previous else {}
    for s in current["steps"]:
        p = before.get(s["stage"])
        rows.append(
            {
                "stage": s["label"],
                "count": s["count"],
                "lost": s["lost"],
                "from_previous_pct": _pct(s["from_previous"]),
                "from_previous_basis": basis(s["from_previous"]),
                "from_top_pct": _pct(s["from_top"]),
                "previous_count": p["count"] if p else None,
                "previous_from_previous_pct": _pct(p["from_previous"]) if p else None,
                "previous_from_top_pct": _pct(p["from_top"]) if p else None,
            }
        )
    schema = {
        "stage": pl.String, "count": pl.Int64, "lost": pl.Int64, "from_previous_pct": pl.Float64,
        "from_previous_basis": pl.String, "from_top_pct": pl.Float64,
        "previous_count": pl.Int64, "previous_from_previous_pct": pl.Float64,
        "previous_from_top_pct": pl.Float64,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def segments_table(
    segments: list[dict[str, Any]], previous: list[dict[str, Any]] | None = None
) -> pl.DataFrame:
    """Return one row per segment: counts per stage, each step's rate with its basis, and the
    previous period's lead → MQL and MQL → customer rates."""
    before = {seg["segment"]: {s["stage"]: s for s in seg["steps"]} for seg in previous or []}
    rows = []
    for seg in segments:
        p = before.get(seg["segment"])
        s = {step["stage"]: step for step in seg["steps"]}
        mql_to_customer = rate(s["customer"]["count"], s["mql"]["count"]).as_dict()
        rows.append(
            {
                "segment": seg["segment"],
                "leads": s["leads"]["count"],
                "mqls": s["mql"]["count"],
                "sals": s["sal"]["count"],
                "sqls": s["sql"]["count"],
                "customers": s["customer"]["count"],
                "lead_to_mql_pct": _pct(s["mql"]["from_previous"]),
                "lead_to_mql_basis": basis(s["mql"]["from_previous"]),
                "mql_to_sal_pct": _pct(s["sal"]["from_previous"]),
                "sal_to_sql_pct": _pct(s["sql"]["from_previous"]),
                "sql_to_customer_pct": _pct(s["customer"]["from_previous"]),
                "mql_to_customer_pct": _pct(mql_to_customer),
                "mql_to_customer_basis": basis(mql_to_customer),
                "previous_lead_to_mql_pct": _pct(p["mql"]["from_previous"]) if p else None,
                "previous_mql_to_customer_pct": _pct(
                    rate(p["customer"]["count"], p["mql"]["count"]).as_dict()
                )
                if p
                else None,
            }
        )
    schema = {
        "segment": pl.String, "leads": pl.Int64, "mqls": pl.Int64, "sals": pl.Int64,
        "sqls": pl.Int64, "customers": pl.Int64, "lead_to_mql_pct": pl.Float64,
        "lead_to_mql_basis": pl.String, "mql_to_sal_pct": pl.Float64,
        "sal_to_sql_pct": pl.Float64, "sql_to_customer_pct": pl.Float64,
        "mql_to_customer_pct": pl.Float64, "mql_to_customer_basis": pl.String,
        "previous_lead_to_mql_pct": pl.Float64, "previous_mql_to_customer_pct": pl.Float64,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def cohorts_table(outcome: dict[str, Any]) -> pl.DataFrame:
    """Return one row per MQL cohort: observed rate with its basis, the estimate, maturity."""
    rows = [
        {
            "cohort": c["cohort"],
            "mqls": c["mqls"],
            "observed_pct": _pct(c["observed"]),
            "observed_basis": basis(c["observed"]),
            "estimate_pct": None
            if c["estimate"]["value"] is None
            else c["estimate"]["value"] * 100,
            "estimate_range": "—"
            if c["estimate"]["low"] is None
            else f"≈{c['estimate']['low'] * 100:.0f}–{c['estimate']['high'] * 100:.0f}%",
            "status": "mature" if c["is_mature"] else "immature",
        }
        for c in reversed(outcome["cohorts"])
    ]
    schema = {
        "cohort": pl.String, "mqls": pl.Int64, "observed_pct": pl.Float64,
        "observed_basis": pl.String, "estimate_pct": pl.Float64, "estimate_range": pl.String,
        "status": pl.String,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)
