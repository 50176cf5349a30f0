"""Where the funnel leaks: the lead funnel with its breakdown, MQL cohort curves with
maturity-adjusted estimates, time in stage, and non-linear journeys.

SQL (queries/funnel_steps.sql, cohort_curves.sql, time_in_stage.sql, journeys.sql) counts; this
module turns counts into rates with their n and Wilson interval, survival curves and estimates,
and the flows of the journey diagram. `report` is what `funnelcast funnel` prints and the
Funnel page shows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import duckdb
import polars as pl

from funnelcast.core.periods import quarter_of
from funnelcast.core.stats import rate
from funnelcast.data import db
from funnelcast.data.context import DataContext, MetricsInputError, load_context

# The breakdowns a user may choose: name -> (the segment queries/funnel_steps.sql knows, label).
# The query receives only values of this table, never the user's text.
DIMENSIONS: dict[str, tuple[str, str]] = {
    "channel": ("channel", "Channel"),
    "campaign": ("campaign", "Campaign"),
    "seniority": ("seniority", "Seniority"),
    "company_size": ("company_size_band", "Company size"),
    "industry": ("industry", "Industry"),
    "region": ("region", "Region"),
}
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
COHORT_OUTCOMES = ("sql", "customer")
# Days since MQL at which the JSON reports each cohort's curve.
CURVE_MARKS = (30, 60, 90, 180, 365)
# A cohort is mature once its youngest MQL has had the time in which the pooled curve reaches
# this share of its plateau.
MATURITY_SHARE = 0.9

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


class FunnelInputError(MetricsInputError):
    """A breakdown or grain the funnel cannot use."""


def segment_of(by: str | None) -> str | None:
    """Return the segment name the funnel query knows for a breakdown name (None: no breakdown)."""
    if by is None:
        return None
    if by not in DIMENSIONS:
        raise FunnelInputError(f"unknown breakdown {by!r} (choose one of: {', '.join(DIMENSIONS)})")
    return DIMENSIONS[by][0]


def _with_quarter_labels(frame: pl.DataFrame, ctx: DataContext, column: str) -> pl.DataFrame:
    """Return frame with a quarter label column for its quarter-start dates."""
    starts = frame[column].drop_nulls().unique().to_list()
    labels = {s: quarter_of(s, ctx.fy_start_month).label for s in starts}
    return frame.with_columns(
        pl.col(column).replace_strict(labels, default=None, return_dtype=pl.String).alias("quarter")
    )


def _as_of(ctx: DataContext) -> dt.datetime:
    """Return the data's now; the wall clock only for a database without any activity."""
    return ctx.as_of or dt.datetime.now(dt.UTC).replace(tzinfo=None)


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
    return _with_quarter_labels(frame, ctx, "quarter_start")


def lead_maturity_days(cur: duckdb.DuckDBPyConnection) -> float:
    """Return the days within which 90% of past lead-to-customer journeys closed (0 if none)."""
    row = db.run(cur, "outcome_lag", outcome="customer").to_dicts()[0]
    return float(row["p90_days"] or 0.0)


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


def _in_period(frame: pl.DataFrame, quarter: str | None) -> pl.DataFrame:
    """Return the rows of one quarter (by label), or all rows for all history."""
    return frame if quarter is None else frame.filter(pl.col("quarter") == quarter)


def is_mature(ctx: DataContext, quarter: str | None, days: float) -> bool:
    """Return whether a quarter's cohort has had `days` since its end (all history: the last)."""
    if not ctx.quarters:
        return True
    end = ctx.quarter(quarter).end if quarter else ctx.quarters[-1].end
    return dt.datetime.combine(end, dt.time()) + dt.timedelta(days=days) <= _as_of(ctx)


def funnel_view(
    frame: pl.DataFrame, ctx: DataContext, quarter: str | None, mature_days: float
) -> dict[str, Any]:
    """Return one period's funnel: its steps, MQL skips and whether its cohort is mature."""
    counts = _sum(_in_period(frame, quarter))
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
    part = _in_period(frame, quarter)
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


# ===== MQL cohorts over time =====


def survival_curve(days: pl.DataFrame) -> pl.DataFrame:
    """Return a Kaplan-Meier curve of the share converted by each day from per-day counts.

    days has columns day, count_converted, count_censored (one cohort, one outcome). A lead
    leaves the risk set on the day it converts or is last observed; the share converted by day
    d is 1 - prod over days <= d of (1 - converted / at risk).
    """
    if days.is_empty():
        return pl.DataFrame(
            schema={
                "day": pl.Int64,
                "at_risk": pl.Int64,
                "converted": pl.Int64,
                "share": pl.Float64,
            }
        )
    per_day = (
        days.group_by("day")
        .agg(pl.col("count_converted").sum(), pl.col("count_censored").sum())
        .sort("day")
    )
    total = int(per_day["count_converted"].sum()) + int(per_day["count_censored"].sum())
    exits = per_day["count_converted"] + per_day["count_censored"]
    at_risk = total - exits.cum_sum() + exits
    remaining = (1 - per_day["count_converted"] / at_risk).cum_prod()
    return pl.DataFrame(
        {
            "day": per_day["day"].cast(pl.Int64),
            "at_risk": at_risk.cast(pl.Int64),
            "converted": per_day["count_converted"].cast(pl.Int64),
            "share": 1 - remaining,
        }
    )


def share_by(curve: pl.DataFrame, day: float) -> float:
    """Return the curve's share converted by a day (0 before its first day)."""
    before = curve.filter(pl.col("day") <= day)
    return 0.0 if before.is_empty() else float(before["share"][-1])


class Reference(NamedTuple):
    """The curve pooled over every cohort: its plateau and the day it is mostly reached."""

    curve: pl.DataFrame
    plateau: float
    horizon_days: float


def reference_curve(days: pl.DataFrame, min_at_risk: int = 30) -> Reference:
    """Return the pooled curve, its plateau (the share where at least min_at_risk leads are
    still observed) and the day it reaches MATURITY_SHARE of that plateau."""
    curve = survival_curve(days)
    if curve.is_empty():
        return Reference(curve, 0.0, 0.0)
    trusted = curve.filter(pl.col("at_risk") >= min_at_risk)
    plateau = float((trusted if not trusted.is_empty() else curve)["share"][-1])
    reached = curve.filter(pl.col("share") >= MATURITY_SHARE * plateau)
    horizon = float(reached["day"][0]) if plateau > 0 and not reached.is_empty() else 0.0
    return Reference(curve, plateau, horizon)


def eventual_estimate(days: pl.DataFrame, reference: Reference) -> float:
    """Return the expected number of conversions a cohort ends with: those so far, plus for
    each lead observed e days without converting, P(converts later | not by day e)."""
    converted = float(days["count_converted"].sum())
    censored = days.filter(pl.col("count_censored") > 0)
    expected = 0.0
    for day, count in zip(censored["day"], censored["count_censored"]):
        so_far = share_by(reference.curve, day)
        if so_far < 1:
            expected += count * max(0.0, (reference.plateau - so_far) / (1 - so_far))
    return converted + expected


def cohort_frame(
    cur: duckdb.DuckDBPyConnection,
    ctx: DataContext,
    *,
    channel: str | None = None,
    grain: str = "quarter",
) -> pl.DataFrame:
    """Return queries/cohort_curves.sql's per-day counts for MQL cohorts."""
    if grain not in ("quarter", "month"):
        raise FunnelInputError(f"cohort grain must be 'quarter' or 'month', not {grain!r}")
    ctx.check_channel(channel)
    return db.run(
        cur,
        "cohort_curves",
        as_of=_as_of(ctx),
        grain=grain,
        fy_start_month=ctx.fy_start_month,
        channel=channel,
    )


def _cohort_label(start: dt.date, ctx: DataContext, grain: str) -> str:
    """Return a cohort's name: its fiscal quarter label or its month (2026-03)."""
    return quarter_of(start, ctx.fy_start_month).label if grain == "quarter" else f"{start:%Y-%m}"


def _cohort_end(start: dt.date, grain: str, ctx: DataContext) -> dt.date:
    """Return the day after a cohort's period."""
    if grain == "quarter":
        return quarter_of(start, ctx.fy_start_month).end
    return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def cohorts(frame: pl.DataFrame, ctx: DataContext, grain: str = "quarter") -> dict[str, Any]:
    """Return, per outcome, every cohort's observed rate, curve and maturity-adjusted estimate."""
    as_of = _as_of(ctx)
    result: dict[str, Any] = {"grain": grain, "outcomes": {}}
    for outcome in COHORT_OUTCOMES:
        part = frame.filter(pl.col("outcome") == outcome)
        reference = reference_curve(part)
        rows = []
        for (start,), days in sorted(part.group_by("cohort_start"), key=lambda g: g[0][0]):
            n = int(days["count_converted"].sum()) + int(days["count_censored"].sum())
            converted = int(days["count_converted"].sum())
            curve = survival_curve(days)
            end = dt.datetime.combine(_cohort_end(start, grain, ctx), dt.time())
            youngest_days = max(0.0, (as_of - end).total_seconds() / 86400)
            begun = dt.datetime.combine(start, dt.time())
            oldest_days = max(0.0, (as_of - begun).total_seconds() / 86400)
            mature = youngest_days >= reference.horizon_days
            expected = eventual_estimate(days, reference)
            low_high = rate(min(n, round(expected)), n) if n else None
            rows.append(
                {
                    "cohort": _cohort_label(start, ctx, grain),
                    "cohort_start": start.isoformat(),
                    "mqls": n,
                    "observed": rate(converted, n).as_dict(),
                    "is_mature": mature,
                    "youngest_days": round(youngest_days, 1),
                    "oldest_days": round(oldest_days, 1),
                    "estimate": {
                        "value": expected / n if n else None,
                        "low": low_high.low if low_high else None,
                        "high": low_high.high if low_high else None,
                        "is_estimate": True,
                    },
                    "by_day": {
                        str(mark): (
                            round(share_by(curve, mark), 4) if mark <= oldest_days else None
                        )
                        for mark in CURVE_MARKS
                    },
                    "curve": curve.select("day", "share"),
                }
            )
        result["outcomes"][outcome] = {
            "plateau": reference.plateau,
            "horizon_days": reference.horizon_days,
            "cohorts": rows,
        }
    return result


# ===== time in stage =====


def time_in_stage(
    cur: duckdb.DuckDBPyConnection, ctx: DataContext, *, channel: str | None = None
) -> pl.DataFrame:
    """Return the days spent per step by quarter and channel, with their roll-ups."""
    ctx.check_channel(channel)
    frame = db.run(cur, "time_in_stage", fy_start_month=ctx.fy_start_month, channel=channel)
    return _with_quarter_labels(frame, ctx, "quarter_start")


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


# ===== non-linear journeys =====

ENTRY_NODES = {"mql": "MQL", "demo_request": "Demo request, no MQL", "direct": "Direct, no MQL"}
FIRST_RESPONSE_NODES = {
    "accepted": "Accepted (SAL)",
    "rejected": "Rejected",
    "disqualified": "Disqualified",
    "awaiting": "Awaiting sales",
}
SECOND_RESPONSE_NODES = {
    "accepted": "Accepted on return",
    "rejected": "Rejected again",
    "disqualified": "Disqualified on return",
    "awaiting": "Awaiting sales on return",
}
OUTCOME_TAILS = {
    "customer": ("SQL", "Customer"),
    "lost": ("SQL", "Lost"),
    "open_sql": ("SQL", "Open opportunity"),
    "dropped_at_sal": ("Dropped at SAL",),
    "open_sal": ("Open at SAL",),
}


def journeys_frame(
    cur: duckdb.DuckDBPyConnection, ctx: DataContext, *, channel: str | None = None
) -> pl.DataFrame:
    """Return the journey patterns per lead creation quarter, with quarter labels."""
    ctx.check_channel(channel)
    frame = db.run(cur, "journeys", fy_start_month=ctx.fy_start_month, channel=channel)
    return _with_quarter_labels(frame, ctx, "quarter_start")


def journey_path(pattern: dict[str, Any]) -> list[str]:
    """Return the nodes a journey pattern passes through, from how it reached sales on.

    Second hand-offs get nodes of their own, so the diagram never loops; leads that never
    reached sales have no path.
    """
    entry = pattern["entry"]
    if entry not in ENTRY_NODES:
        return []
    tail = list(OUTCOME_TAILS.get(pattern["outcome"], ()))
    if entry != "mql":
        # Straight to SQL skips SAL; a lead accepted without MQL passes through SAL.
        if tail and tail[0] != "SQL":
            tail = ["Accepted (SAL)", *tail]
        return [ENTRY_NODES[entry], *tail]
    path = ["MQL", FIRST_RESPONSE_NODES[pattern["first_response"]]]
    if pattern["is_recycled"] or pattern["is_back"]:
        if pattern["is_recycled"]:
            path.append("Recycled")
        if not pattern["is_back"]:
            return [*path, "Nurturing"]
        second = pattern["second_response"]
        path += ["Back as MQL", SECOND_RESPONSE_NODES[second]]
        return path + tail if second == "accepted" else path
    return path + tail if pattern["first_response"] == "accepted" else path


def sankey(patterns: pl.DataFrame) -> dict[str, Any]:
    """Return the journey diagram: nodes, and links (source, target, count) between them."""
    flows: dict[tuple[str, str], int] = {}
    for pattern in patterns.to_dicts():
        path = journey_path(pattern)
        for source, target in zip(path, path[1:]):
            flows[(source, target)] = flows.get((source, target), 0) + int(pattern["count_leads"])
    nodes: list[str] = []
    for source, target in flows:
        for node in (source, target):
            if node not in nodes:
                nodes.append(node)
    links = [{"source": s, "target": t, "count": c} for (s, t), c in flows.items()]
    return {"nodes": nodes, "links": links}


def journeys(frame: pl.DataFrame, quarter: str | None) -> dict[str, Any]:
    """Return a period's non-linear journeys: skips, recycling and how often it pays, the flows."""
    part = _in_period(frame, quarter)

    def count(condition: pl.Expr) -> int:
        return int(part.filter(condition)["count_leads"].sum())

    skipped_mql = pl.col("entry").is_in(["demo_request", "direct"])
    reached_sql = pl.col("outcome").is_in(["customer", "lost", "open_sql"])
    recycled = pl.col("is_recycled")
    n_recycled = count(recycled)
    return {
        "leads": count(pl.lit(True)),
        "never_reached_sales": count(pl.col("entry") == "none"),
        "entered_sales": {
            entry: count(pl.col("entry") == entry) for entry in ("mql", "demo_request", "direct")
        },
        "sqls_without_mql": {
            "demo_request": count(skipped_mql & reached_sql & (pl.col("entry") == "demo_request")),
            "direct": count(skipped_mql & reached_sql & (pl.col("entry") == "direct")),
        },
        "customers_without_mql": count(skipped_mql & (pl.col("outcome") == "customer")),
        "sqls": count(reached_sql),
        "customers": count(pl.col("outcome") == "customer"),
        "sal_skipped": count(pl.col("is_sal_skipped")),
        "recycled": {
            "leads": n_recycled,
            "back_as_mql": count(recycled & pl.col("is_back")),
            "reached_sql_later": rate(
                count(recycled & pl.col("recycled_outcome").is_in(["sql", "customer"])), n_recycled
            ).as_dict(),
            "won_later": rate(
                count(recycled & (pl.col("recycled_outcome") == "customer")), n_recycled
            ).as_dict(),
        },
        "sankey": sankey(part),
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
    """Return every figure of the Funnel page for a quarter (None: all history) and channel."""
    ctx = ctx or load_context(cur)
    if quarter:
        ctx.quarter(quarter)
    segment_of(by)
    previous = previous_label(ctx, quarter)
    mature_days = lead_maturity_days(cur)
    totals = funnel_steps(cur, ctx, channel=channel)
    by_segment = funnel_steps(cur, ctx, channel=channel, by=by)
    cohort_result = cohorts(cohort_frame(cur, ctx, channel=channel, grain=grain), ctx, grain)
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
        "cohorts": cohort_result,
        "time_in_stage": stage_times(time_in_stage(cur, ctx, channel=channel), quarter),
        "journeys": journeys(journeys_frame(cur, ctx, channel=channel), quarter),
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
