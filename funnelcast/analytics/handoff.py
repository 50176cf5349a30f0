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

from funnelcast.analytics import rollups_pages
from funnelcast.analytics.funnel import previous_label
from funnelcast.analytics.rollups_pages import HandoffTables
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


# ===== the hand-offs counted: what every figure below reads (the raw path and the kept summary
# both build these; funnelcast.analytics.rollups_pages keeps them per data version) =====

ANSWERED = pl.col("response").is_not_null()
REJECTED = pl.col("response") == "rejected"
CELL_KEYS = (
    "quarter_start", "channel", "response", "response_reason", "wait_business_days",
    "age_business_days", "reached_sql", "reached_customer", "sql_after_answer",
)  # fmt: skip
WON_COLUMNS = (
    "quarter_start", "lead_id", "channel", "handed_at", "responded_at", "reached_customer_at",
    "revenue",
)  # fmt: skip


def _as_of(ctx: DataContext) -> dt.datetime:
    return ctx.as_of or dt.datetime.now(dt.UTC).replace(tzinfo=None)


def mature_before(ctx: DataContext, days: float) -> dt.datetime:
    """Return the moment before which a hand-off has had time to convert (days: the p90)."""
    return _as_of(ctx) - dt.timedelta(days=days)


def _not_ready() -> pl.Expr:
    reason = pl.col("response_reason").str.to_lowercase().str.replace_all("_", " ")
    return REJECTED & reason.str.contains(NOT_READY, literal=True)


def cells_of(frame: pl.DataFrame, mature: dict[str, pl.Expr]) -> pl.DataFrame:
    """Return handoffs()'s rows counted by CELL_KEYS and one flag per mature expression (true
    for the answered hand-offs it holds for); a rejection's reason only, an unanswered one's
    age only, what followed only for the answered (as the figures read them)."""
    return (
        frame.select(
            "quarter_start",
            "channel",
            "response",
            pl.when(REJECTED).then(pl.col("response_reason")).alias("response_reason"),
            "wait_business_days",
            pl.when(~ANSWERED).then(pl.col("age_business_days")).alias("age_business_days"),
            (ANSWERED & pl.col("reached_sql_at").is_not_null()).alias("reached_sql"),
            (ANSWERED & pl.col("reached_customer_at").is_not_null()).alias("reached_customer"),
            (REJECTED & (pl.col("reached_sql_at") >= pl.col("responded_at")))
            .fill_null(False)
            .alias("sql_after_answer"),
            *[(ANSWERED & expr).alias(name) for name, expr in mature.items()],
        )
        .group_by(*CELL_KEYS, *mature)
        .agg(pl.len().cast(pl.Int64).alias("handoffs"))
    )


def segments_of(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """Return handoffs()'s rows counted by quarter, channel, one breakdown's segment, answer and
    rejection reason."""
    return frame.group_by(
        "quarter_start",
        "channel",
        pl.col(column).alias("segment"),
        "response",
        pl.when(REJECTED).then(pl.col("response_reason")).alias("response_reason"),
    ).agg(pl.len().cast(pl.Int64).alias("handoffs"))


def won_of(frame: pl.DataFrame) -> pl.DataFrame:
    """Return the 'not ready' rejections whose lead bought afterwards, in the frame's order."""
    won = _not_ready() & (pl.col("reached_customer_at") >= pl.col("responded_at"))
    return frame.filter(won).select(WON_COLUMNS)


def tables_of(frame: pl.DataFrame, ctx: DataContext, column: str) -> HandoffTables:
    """Return a scope's hand-offs (handoffs()'s rows) counted for the figures, with one
    breakdown's segments: the raw path."""
    days = sql_maturity_days(frame)
    mature = {"mature": pl.col("handed_at") < mature_before(ctx, days)}
    return HandoffTables(cells_of(frame, mature), segments_of(frame, column), won_of(frame), days)


def kept_tables(cur: duckdb.DuckDBPyConnection, ctx: DataContext) -> dict[str, pl.DataFrame]:
    """Return every channel's hand-offs counted as rollups_pages.write keeps them: mature_all
    by all channels' maturity cutoff, mature_own by each hand-off's channel's; every
    breakdown's segments; the days to SQL per channel.

    One channel's hand-offs are read at a time (handoffs(), channel=c), so that no more than
    the largest channel's rows are held at once (at 10M leads the whole frame took 2 GB):
    every count is by channel, so they do not mix. The maturity cutoffs, percentiles, are
    known first, from every hand-off's days to SQL (three columns of the same rows).
    """
    reached = (
        db.relation(cur, "handoff_mqls", fy_start_month=ctx.fy_start_month, channel=None)
        .filter("reached_sql_at is not null")
        .select("channel, handed_at, reached_sql_at")
        .pl()
    )
    days = {None: sql_maturity_days(reached)} | {
        c: sql_maturity_days(reached.filter(pl.col("channel") == c)) for c in ctx.channels
    }
    del reached
    cutoffs = {c: mature_before(ctx, d) for c, d in days.items() if c is not None}
    own = pl.col("channel").replace_strict(cutoffs, default=None, return_dtype=pl.Datetime("us"))
    mature = {
        "mature_all": pl.col("handed_at") < mature_before(ctx, days[None]),
        "mature_own": (pl.col("handed_at") < own).fill_null(False),
    }
    cells, segments, won = [], [], []
    scopes: list[str | None] = [*ctx.channels] or [None]  # no channel: no lead, all's (none)
    for channel in scopes:
        frame = handoffs(cur, ctx, channel=channel)
        cells.append(cells_of(frame, mature))
        segments += [
            segments_of(frame, column).with_columns(dimension=pl.lit(column))
            for column, _ in DIMENSIONS.values()
        ]
        won.append(won_of(frame))
        del frame
    return {
        "cells": pl.concat(cells),
        "segments": pl.concat(segments),
        # in handoffs()'s order, as from every channel's rows at once
        "won": pl.concat(won).sort("handed_at", "lead_id", maintain_order=True),
        "maturity": pl.DataFrame(
            {"channel": list(days), "maturity_days": list(days.values())},
            schema={"channel": pl.String, "maturity_days": pl.Float64},
        ),
    }


def _labelled(tables: HandoffTables, fy_start_month: int) -> HandoffTables:
    """Return the tables with each row's quarter label."""

    def label(frame: pl.DataFrame) -> pl.DataFrame:
        starts = frame["quarter_start"].unique().to_list()
        labels = {s: quarter_of(s, fy_start_month).label for s in starts}
        quarter = pl.col("quarter_start").replace_strict(labels, return_dtype=pl.String)
        if frame.is_empty():  # (no labels to map: a string column all the same)
            quarter = pl.lit(None, dtype=pl.String)
        return frame.with_columns(quarter.alias("quarter"))

    return tables._replace(
        cells=label(tables.cells), segments=label(tables.segments), won=label(tables.won)
    )


# ===== the figures, from the counted hand-offs =====


def _period(frame: pl.DataFrame, quarter: str | None) -> pl.DataFrame:
    """Return the rows of a quarter (all of them for all history)."""
    return frame if quarter is None else frame.filter(pl.col("quarter") == quarter)


def _total(part: pl.DataFrame) -> int:
    return int(part["handoffs"].sum())


def _breached(sla: int) -> pl.Expr:
    """Return whether a hand-off missed the SLA: answered after its last business day (waited
    more than sla business days), or still unanswered after it (waiting more than sla)."""
    return (
        pl.when(ANSWERED)
        .then(pl.col("wait_business_days") > sla)
        .otherwise(pl.col("age_business_days") > sla)
    )


def median_wait(answered: pl.DataFrame) -> float | None:
    """Return the median business days waited of counted answered hand-offs (the middle one's,
    or the mean of the two middle ones'); None when there are none."""
    counts = (
        answered.group_by("wait_business_days")
        .agg(pl.col("handoffs").sum())
        .sort("wait_business_days")
    )
    if counts.is_empty():
        return None
    values = counts["wait_business_days"].to_numpy()
    ends = np.cumsum(counts["handoffs"].to_numpy())
    n = int(ends[-1])
    low = values[np.searchsorted(ends, (n - 1) // 2, side="right")]
    high = values[np.searchsorted(ends, n // 2, side="right")]
    return (float(low) + float(high)) / 2


def responses(part: pl.DataFrame, sla: int) -> dict[str, Any]:
    """Return a set of counted hand-offs' answers: counts, acceptance and the SLA's verdict."""
    n = _total(part)
    answered = part.filter(ANSWERED)
    n_answered = _total(answered)
    accepted = _total(answered.filter(pl.col("response") == "accepted"))
    breached = part.filter(_breached(sla))
    return {
        "handoffs": n,
        "accepted": accepted,
        "rejected": _total(answered.filter(REJECTED)),
        "disqualified": _total(answered.filter(pl.col("response") == "disqualified")),
        "awaiting": n - n_answered,
        "acceptance": rate(accepted, n_answered).as_dict(),
        "sla_breached": _total(breached),
        "sla_breach_rate": rate(_total(breached), n).as_dict(),
        "answered_late": _total(breached.filter(ANSWERED)),
        "unanswered_past_sla": _total(breached.filter(~ANSWERED)),
        "median_wait_business_days": median_wait(answered),
    }


def rejection_reasons(part: pl.DataFrame) -> list[dict[str, Any]]:
    """Return the reasons of rejected hand-offs, most frequent first, as shares of rejections."""
    rejected = part.filter(REJECTED)
    counted = (
        rejected.with_columns(pl.col("response_reason").fill_null("(no reason)"))
        .group_by("response_reason")
        .agg(pl.col("handoffs").sum().alias("len"))
        .sort(["len", "response_reason"], descending=[True, False])
    )
    total = _total(rejected)
    return [
        {
            "reason": r["response_reason"],
            "count": r["len"],
            "share": rate(r["len"], total).as_dict(),
        }
        for r in counted.to_dicts()
    ]


def reasons_by(segments: pl.DataFrame) -> list[dict[str, Any]]:
    """Return, per segment of a breakdown, its hand-offs, rejection rate and ranked reasons."""
    rows = []
    for (segment,), group in segments.group_by("segment"):
        answered = group.filter(ANSWERED)
        rows.append(
            {
                "segment": segment,
                "handoffs": _total(group),
                "rejection_rate": rate(
                    _total(answered.filter(REJECTED)), _total(answered)
                ).as_dict(),
                "reasons": rejection_reasons(group),
            }
        )
    return sorted(rows, key=lambda r: (-r["handoffs"], r["segment"]))


def unanswered_by_age(part: pl.DataFrame, sla: int) -> list[dict[str, Any]]:
    """Return the hand-offs still without an answer, by business days since the hand-off."""
    open_ = part.filter(~ANSWERED)
    out = []
    for label, low, high in age_buckets(sla):
        ages = pl.col("age_business_days")
        inside = (ages >= low) & (ages <= high) if high is not None else ages >= low
        out.append({"age": label, "count": _total(open_.filter(inside)), "is_past_sla": low > sla})
    return out


def trend(cells: pl.DataFrame, sla: int) -> list[dict[str, Any]]:
    """Return the hand-off figures per quarter, oldest first."""
    return [
        {"quarter": label, **responses(part, sla)}
        for (_, label), part in sorted(
            cells.group_by("quarter_start", "quarter"), key=lambda g: g[0][0]
        )
    ]


def sql_maturity_days(frame: pl.DataFrame) -> float:
    """Return the 90th percentile of days from hand-off to SQL among hand-offs that got there."""
    lags = frame.filter(pl.col("reached_sql_at").is_not_null()).select(
        ((pl.col("reached_sql_at") - pl.col("handed_at")).dt.total_seconds() / 86400).alias("d")
    )["d"]
    return 0.0 if lags.is_empty() else float(cast(float, lags.quantile(0.9, "linear")))


def wait_vs_conversion(
    tables: HandoffTables, ctx: DataContext, quarter: str | None
) -> dict[str, Any]:
    """Return conversion after a hand-off by business days to the first answer, over mature
    hand-offs up to the period's end (one quarter alone is too few)."""
    before = mature_before(ctx, tables.maturity_days)
    pool = tables.cells.filter(ANSWERED & pl.col("mature"))
    if quarter:
        end = ctx.quarter(quarter).end
        until = dt.datetime.combine(end, dt.time())
        # handed over before the quarter's end: in it or an earlier quarter
        pool = pool.filter(pl.col("quarter_start") < end)
    else:
        until = _as_of(ctx)
    pool = pool.with_columns(wait_bucket_expr().alias("wait"))
    rows = []
    for label, _, _ in WAIT_BUCKETS:
        group = pool.filter(pl.col("wait") == label)
        n = _total(group)
        rows.append(
            {
                "wait": label,
                "handoffs": n,
                "to_sql": rate(_total(group.filter(pl.col("reached_sql"))), n).as_dict(),
                "to_customer": rate(_total(group.filter(pl.col("reached_customer"))), n).as_dict(),
            }
        )
    return {
        "handed_before": min(before, until).isoformat(),
        "maturity_days": round(tables.maturity_days, 1),
        "handoffs": _total(pool),
        "buckets": rows,
    }


TIMES = ("handed_at", "responded_at", "reached_customer_at")


def not_ready_later_won(part: pl.DataFrame, won: pl.DataFrame) -> dict[str, Any]:
    """Return the period's 'not ready' rejections (counted) and those whose lead bought
    afterwards (won: won_of's rows of the period)."""
    not_ready = part.filter(_not_ready())
    n = _total(not_ready)
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
        "rejected_not_ready": n,
        "won_later": rate(won.height, n).as_dict(),
        "reached_sql_later": rate(
            _total(not_ready.filter(pl.col("sql_after_answer"))), n
        ).as_dict(),
        "revenue": round(float(won["revenue"].sum()), 2),
        "leads": [{**row, **{k: row[k].isoformat() for k in TIMES}} for row in leads.to_dicts()],
    }


def counted(
    cur: duckdb.DuckDBPyConnection, ctx: DataContext, channel: str | None, column: str, sla: int
) -> HandoffTables:
    """Return a scope's counted hand-offs with one breakdown's segments: the kept summary's
    while current (funnelcast.analytics.rollups_pages), else from the raw tables."""
    ctx.check_channel(channel)
    kept = rollups_pages.read_handoffs(cur, ctx.fy_start_month, ctx.as_of, channel, column)
    if kept is None:
        kept = tables_of(handoffs(cur, ctx, channel=channel, sla=sla), ctx, column)
    return _labelled(kept, ctx.fy_start_month)


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
    column = cast(str, segment_of(by))
    sla = sla_days(cur, sla)
    tables = counted(cur, ctx, channel, column, sla)
    previous = previous_label(ctx, quarter)
    part = _period(tables.cells, quarter)
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
        **responses(part, sla),
        "previous": responses(_period(tables.cells, previous), sla) if previous else None,
        "rejection_reasons": rejection_reasons(part),
        "reasons_by": {
            "by": by,
            "label": DIMENSIONS[by][1],
            "segments": reasons_by(_period(tables.segments, quarter)),
        },
        "unanswered_by_age": unanswered_by_age(part, sla),
        "trend": trend(tables.cells, sla),
        "wait_vs_conversion": wait_vs_conversion(tables, ctx, quarter),
        "not_ready_later_won": not_ready_later_won(part, _period(tables.won, quarter)),
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
