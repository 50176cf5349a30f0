"""MQL cohorts over time: Kaplan-Meier curves of the share of each cohort that reached SQL or
customer by each day since MQL, the curve pooled over all cohorts, and the maturity-adjusted
estimate of where a young cohort will end (queries/cohort_curves.sql counts the days).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import duckdb
import polars as pl

from funnelcast.analytics.scope import FunnelInputError, as_of_moment, summed_over_channels
from funnelcast.core.periods import quarter_of
from funnelcast.core.stats import rate
from funnelcast.data import db
from funnelcast.data.context import DataContext

COHORT_OUTCOMES = ("sql", "customer")
# Days since MQL at which the JSON reports each cohort's curve.
CURVE_MARKS = (30, 60, 90, 180, 365)
# A cohort is mature once its youngest MQL has had the time in which the pooled curve reaches
# this share of its plateau.
MATURITY_SHARE = 0.9


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
    """Return queries/cohort_curves.sql's per-day counts for MQL cohorts, summed over the
    channels in scope (over_channels)."""
    if grain not in ("quarter", "month"):
        raise FunnelInputError(f"cohort grain must be 'quarter' or 'month', not {grain!r}")
    ctx.check_channel(channel)
    frame = db.run(
        cur,
        "cohort_curves",
        as_of=as_of_moment(ctx),
        grain=grain,
        fy_start_month=ctx.fy_start_month,
        channel=channel,
    )
    return over_channels(frame)


def over_channels(frame: pl.DataFrame) -> pl.DataFrame:
    """Return cohort_curves.sql's rows (per cohort, channel, outcome and day) summed over
    their channels, in its order: the counts of the leads in scope."""
    return summed_over_channels(frame, ["cohort_start", "outcome", "day"])


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
    as_of = as_of_moment(ctx)
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
