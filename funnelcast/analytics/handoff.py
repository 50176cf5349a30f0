"""The hand-off from marketing to sales: acceptance, rejection reasons, SLA breaches, whether
waiting loses buyers, and leads rejected as not ready that bought later.

queries/handoff_mqls.sql gives one row per hand-off with sales' first answer and what followed;
this module counts business days (Monday to Friday; no holidays), applies the SLA and turns
counts into rates with their n and Wilson interval. `report` is what `funnelcast handoff`
prints and the Handoff page shows.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, cast

import duckdb
import numpy as np
import polars as pl

from funnelcast.analytics.funnel import previous_label
from funnelcast.analytics.scope import DIMENSIONS, FunnelInputError, segment_of
from funnelcast.core.periods import quarter_of
from funnelcast.core.stats import MIN_N, rate
from funnelcast.data import db
from funnelcast.data.context import DataContext, load_context

if TYPE_CHECKING:
    from polars.expr.whenthen import ChainedThen, Then

# The SLA: sales acts on an MQL within this many business days, unless meta says otherwise.
DEFAULT_SLA_DAYS = 2
SLA_META_KEY = "handoff_sla_business_days"
# Business days to the first answer, bucketed: (label, lowest, highest) inclusive.
WAIT_BUCKETS = (
    ("same day", 0, 0),
    ("1 day", 1, 1),
    ("2 days", 2, 2),
    ("3–5 days", 3, 5),
    ("6–10 days", 6, 10),
    ("over 10 days", 11, None),
)
# Ages (business days since the hand-off) of MQLs still without an answer, above the SLA.
AGE_EDGES = (5, 10, 20)
# A rejection reason meaning "a fit, but too early": compared lower-case, '_' read as ' '.
NOT_READY = "not ready"

DEFINITIONS = {
    "hand-off": "each recorded MQL stage change: a lead recycled and handed over again counts "
    "twice; in a period by the moment of the hand-off",
    "response": "sales' first recorded stage change after the hand-off (and before the next "
    "one): accepted = SAL, SQL or customer; rejected = rejected or recycled; disqualified",
    "acceptance": "accepted hand-offs over those sales has answered (awaiting ones left out)",
    "business days": "Monday to Friday, no holidays; a wait of N business days means the answer "
    "came on the Nth weekday after the hand-off's day",
    "sla breach": "no answer by the end of the SLA's last business day: answered late, or still "
    "unanswered after it (as of the data's as-of day)",
    "wait_vs_conversion": "hand-offs up to the end of the period that have had time to convert "
    "(handed over at least the 90th percentile of past hand-off-to-SQL times before as-of), by "
    "business days to the first answer; reached SQL or customer at any time after the hand-off",
    "not_ready_later_won": "hand-offs rejected or recycled as 'not ready' in the period whose lead "
    "became a customer afterwards: handed over too early",
}


class HandoffInputError(FunnelInputError):
    """An SLA or breakdown the hand-off figures cannot use."""


def sla_days(cur: duckdb.DuckDBPyConnection, given: int | None = None) -> int:
    """Return the SLA in business days: the one given, the database's setting, or the default."""
    if given is None:
        stored = db.get_meta(cur, SLA_META_KEY)
        try:
            given = int(stored) if stored is not None else DEFAULT_SLA_DAYS
        except ValueError:
            raise HandoffInputError(
                f"meta {SLA_META_KEY} must be a whole number of business days, not {stored!r}"
            ) from None
    if not 0 <= given <= 60:
        raise HandoffInputError(f"the SLA must be 0 to 60 business days, not {given}")
    return given


def _dates(column: pl.Series) -> np.ndarray:
    """Return a datetime column as numpy day dates (NaT where null)."""
    return column.cast(pl.Date).to_numpy().astype("datetime64[D]")


def business_days(start: pl.Series, end: pl.Series) -> np.ndarray:
    """Return the weekdays from each start's day (included) to each end's day (excluded).

    A hand-off on Friday answered on Monday waited 1; one on Saturday answered on Monday, 0.
    Null ends give -1.
    """
    starts, ends = _dates(start), _dates(end)
    valid = ~np.isnat(ends)
    out = np.full(len(starts), -1, dtype=np.int64)
    out[valid] = np.busday_count(starts[valid], ends[valid])
    return out


def sla_deadline(handed: pl.Series, days: int) -> pl.Series:
    """Return the last day an answer keeps the SLA: the `days`-th weekday after the hand-off's
    day (a weekend hand-off counts from Monday)."""
    last = np.busday_offset(_dates(handed), days, roll="forward")
    return pl.Series("sla_last_day", last.astype("datetime64[D]")).cast(pl.Date)


def handoffs(
    cur: duckdb.DuckDBPyConnection,
    ctx: DataContext,
    *,
    channel: str | None = None,
    sla: int = DEFAULT_SLA_DAYS,
) -> pl.DataFrame:
    """Return every hand-off with its business-day wait, SLA verdict and quarter label."""
    ctx.check_channel(channel)
    frame = db.run(cur, "handoff_mqls", fy_start_month=ctx.fy_start_month, channel=channel)
    as_of = ctx.as_of or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    as_of_day = pl.Series([as_of] * frame.height, dtype=pl.Datetime("us"))
    wait = business_days(frame["handed_at"], frame["responded_at"])
    age = business_days(frame["handed_at"], as_of_day)
    last_day = sla_deadline(frame["handed_at"], sla)
    starts = frame["quarter_start"].unique().to_list()
    labels = {s: quarter_of(s, ctx.fy_start_month).label for s in starts}
    return frame.with_columns(
        pl.col("quarter_start").replace_strict(labels, return_dtype=pl.String).alias("quarter"),
        pl.Series("wait_business_days", wait).replace(-1, None),
        pl.Series("age_business_days", age),
        last_day,
    ).with_columns(
        is_answered=pl.col("response").is_not_null(),
        is_breached=pl.when(pl.col("response").is_not_null())
        .then(pl.col("responded_at").cast(pl.Date) > pl.col("sla_last_day"))
        .otherwise(pl.lit(as_of.date()) > pl.col("sla_last_day")),
    )


def wait_bucket_expr() -> pl.Expr:
    """Return an expression naming the WAIT_BUCKETS bucket of wait_business_days."""
    wait = pl.col("wait_business_days")
    expr: Then | ChainedThen = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
    for label, low, high in WAIT_BUCKETS:
        inside = (wait >= low) & (wait <= high) if high is not None else wait >= low
        expr = expr.when(inside).then(pl.lit(label))
    return expr.otherwise(pl.lit(None, dtype=pl.String))


def age_buckets(sla: int) -> list[tuple[str, int, int | None]]:
    """Return the age buckets of unanswered hand-offs: within the SLA, then by AGE_EDGES."""
    buckets: list[tuple[str, int, int | None]] = [(f"within SLA (0–{sla})", 0, sla)]
    low = sla + 1
    for edge in AGE_EDGES:
        if edge >= low:
            buckets.append((f"{low}–{edge} days", low, edge))
            low = edge + 1
    buckets.append((f"over {low - 1} days", low, None))
    return buckets


def _period(frame: pl.DataFrame, quarter: str | None) -> pl.DataFrame:
    """Return the hand-offs of a quarter (all of them for all history)."""
    return frame if quarter is None else frame.filter(pl.col("quarter") == quarter)


def responses(part: pl.DataFrame) -> dict[str, Any]:
    """Return a set of hand-offs' answers: counts, acceptance and the SLA's verdict."""
    n = part.height
    answered = part.filter(pl.col("is_answered"))
    accepted = answered.filter(pl.col("response") == "accepted").height
    breached = part.filter(pl.col("is_breached")).height
    waits = answered["wait_business_days"]
    return {
        "handoffs": n,
        "accepted": accepted,
        "rejected": answered.filter(pl.col("response") == "rejected").height,
        "disqualified": answered.filter(pl.col("response") == "disqualified").height,
        "awaiting": n - answered.height,
        "acceptance": rate(accepted, answered.height).as_dict(),
        "sla_breached": breached,
        "sla_breach_rate": rate(breached, n).as_dict(),
        "answered_late": answered.filter(pl.col("is_breached")).height,
        "unanswered_past_sla": part.filter(~pl.col("is_answered") & pl.col("is_breached")).height,
        "median_wait_business_days": (
            None if waits.is_empty() else float(cast(float, waits.median()))
        ),
    }


def rejection_reasons(part: pl.DataFrame) -> list[dict[str, Any]]:
    """Return the reasons of rejected hand-offs, most frequent first, as shares of rejections."""
    rejected = part.filter(pl.col("response") == "rejected")
    counted = (
        rejected.with_columns(pl.col("response_reason").fill_null("(no reason)"))
        .group_by("response_reason")
        .len()
        .sort(["len", "response_reason"], descending=[True, False])
    )
    return [
        {
            "reason": r["response_reason"],
            "count": r["len"],
            "share": rate(r["len"], rejected.height).as_dict(),
        }
        for r in counted.to_dicts()
    ]


def reasons_by(part: pl.DataFrame, by: str) -> list[dict[str, Any]]:
    """Return, per segment of a breakdown, its hand-offs, rejection rate and ranked reasons."""
    column = segment_of(by)
    rows = []
    for (segment,), group in part.group_by(column):
        answered = group.filter(pl.col("is_answered"))
        rejected = answered.filter(pl.col("response") == "rejected").height
        rows.append(
            {
                "segment": segment,
                "handoffs": group.height,
                "rejection_rate": rate(rejected, answered.height).as_dict(),
                "reasons": rejection_reasons(group),
            }
        )
    return sorted(rows, key=lambda r: (-r["handoffs"], r["segment"]))


def unanswered_by_age(frame: pl.DataFrame, sla: int) -> list[dict[str, Any]]:
    """Return the hand-offs still without an answer, by business days since the hand-off."""
    open_ = frame.filter(~pl.col("is_answered"))
    out = []
    for label, low, high in age_buckets(sla):
        ages = pl.col("age_business_days")
        inside = (ages >= low) & (ages <= high) if high is not None else ages >= low
        out.append({"age": label, "count": open_.filter(inside).height, "is_past_sla": low > sla})
    return out


def trend(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Return the hand-off figures per quarter, oldest first."""
    return [
        {"quarter": label, **responses(part)}
        for (_, label), part in sorted(
            frame.group_by("quarter_start", "quarter"), key=lambda g: g[0][0]
        )
    ]


def sql_maturity_days(frame: pl.DataFrame) -> float:
    """Return the 90th percentile of days from hand-off to SQL among hand-offs that got there."""
    lags = frame.filter(pl.col("reached_sql_at").is_not_null()).select(
        ((pl.col("reached_sql_at") - pl.col("handed_at")).dt.total_seconds() / 86400).alias("d")
    )["d"]
    return 0.0 if lags.is_empty() else float(cast(float, lags.quantile(0.9, "linear")))


def wait_vs_conversion(
    frame: pl.DataFrame, ctx: DataContext, quarter: str | None
) -> dict[str, Any]:
    """Return conversion after a hand-off by business days to the first answer, over mature
    hand-offs up to the period's end (one quarter alone is too few)."""
    as_of = ctx.as_of or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    mature_days = sql_maturity_days(frame)
    mature_before = as_of - dt.timedelta(days=mature_days)
    until = dt.datetime.combine(ctx.quarter(quarter).end, dt.time()) if quarter else as_of
    pool = frame.filter(
        pl.col("is_answered") & (pl.col("handed_at") < min(mature_before, until))
    ).with_columns(wait_bucket_expr().alias("wait"))
    rows = []
    for label, _, _ in WAIT_BUCKETS:
        group = pool.filter(pl.col("wait") == label)
        n = group.height
        rows.append(
            {
                "wait": label,
                "handoffs": n,
                "to_sql": rate(int(group["reached_sql_at"].is_not_null().sum()), n).as_dict(),
                "to_customer": rate(
                    int(group["reached_customer_at"].is_not_null().sum()), n
                ).as_dict(),
            }
        )
    return {
        "handed_before": min(mature_before, until).isoformat(),
        "maturity_days": round(mature_days, 1),
        "handoffs": pool.height,
        "buckets": rows,
    }


TIMES = ("handed_at", "responded_at", "reached_customer_at")


def not_ready_later_won(part: pl.DataFrame) -> dict[str, Any]:
    """Return the period's 'not ready' rejections and those whose lead bought afterwards."""
    reason = pl.col("response_reason").str.to_lowercase().str.replace_all("_", " ")
    not_ready = part.filter(
        (pl.col("response") == "rejected") & reason.str.contains(NOT_READY, literal=True)
    )
    won = not_ready.filter(pl.col("reached_customer_at") >= pl.col("responded_at"))
    leads = won.select(
        "lead_id",
        "channel",
        "handed_at",
        "responded_at",
        "reached_customer_at",
        "revenue",
        ((pl.col("reached_customer_at") - pl.col("responded_at")).dt.total_seconds() / 86400)
        .round(1)
        .alias("days_to_win"),
    ).sort("responded_at", "lead_id")
    return {
        "rejected_not_ready": not_ready.height,
        "won_later": rate(won.height, not_ready.height).as_dict(),
        "reached_sql_later": rate(
            not_ready.filter(pl.col("reached_sql_at") >= pl.col("responded_at")).height,
            not_ready.height,
        ).as_dict(),
        "revenue": round(float(won["revenue"].sum()), 2),
        "leads": [{**row, **{k: row[k].isoformat() for k in TIMES}} for row in leads.to_dicts()],
    }


def report(
    cur: duckdb.DuckDBPyConnection,
    *,
    quarter: str | None = None,
    channel: str | None = None,
    sla: int | None = None,
    by: str = "channel",
    ctx: DataContext | None = None,
) -> dict[str, Any]:
    """Return every figure of the Handoff page for a quarter (None: all history) and channel."""
    ctx = ctx or load_context(cur)
    if quarter:
        ctx.quarter(quarter)
    segment_of(by)
    sla = sla_days(cur, sla)
    frame = handoffs(cur, ctx, channel=channel, sla=sla)
    previous = previous_label(ctx, quarter)
    part = _period(frame, quarter)
    return {
        "scope": {
            "quarter": quarter,
            "previous_quarter": previous,
            "channel": channel,
            "sla_business_days": sla,
            "by": by,
            "as_of": ctx.as_of.isoformat() if ctx.as_of else None,
            "fiscal_year_start_month": ctx.fy_start_month,
            "min_n": MIN_N,
        },
        "currency": ctx.currency.code,
        **responses(part),
        "previous": responses(_period(frame, previous)) if previous else None,
        "rejection_reasons": rejection_reasons(part),
        "reasons_by": {"by": by, "label": DIMENSIONS[by][1], "segments": reasons_by(part, by)},
        "unanswered_by_age": unanswered_by_age(part, sla),
        "trend": trend(frame),
        "wait_vs_conversion": wait_vs_conversion(frame, ctx, quarter),
        "not_ready_later_won": not_ready_later_won(part),
        "definitions": DEFINITIONS,
    }


def not_ready_table(result: dict[str, Any]) -> pl.DataFrame:
    """Return the 'not ready' rejections whose lead bought later, one row per hand-off."""
    schema = {
        "lead_id": pl.String, "channel": pl.String, "handed_at": pl.String,
        "responded_at": pl.String, "reached_customer_at": pl.String, "days_to_win": pl.Float64,
        "revenue": pl.Float64,
    }  # fmt: skip
    rows = [
        {k: (row[k][:10] if k.endswith("_at") else row[k]) for k in schema}
        for row in result["not_ready_later_won"]["leads"]
    ]
    return pl.DataFrame(rows, schema=schema)
