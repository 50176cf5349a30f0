"""What the history says: the counts a plan learns from the data recorded before a moment.

Rates come from the last mature MQL and SQL cohorts (a cohort is mature once the quarters after
it have held MATURE_SHARE of past MQL-to-customer closes), the channel mix, costs, run rate of
customers without an MQL and deal sizes from the last RECENT_QUARTERS complete quarters; the
lag shares from the mature window; the MQLs of every cohort and the SQLs still open as known.
Everything is plain counts in frozen dataclasses, so the model and the tests can build one by
hand.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import duckdb
import numpy as np
import polars as pl

from funnelcast.core.periods import Quarter, quarter_of
from funnelcast.data import db
from funnelcast.data.context import DataContext

DEFAULT_WINDOW = 4  # mature quarters the rates are learnt from
RECENT_QUARTERS = 4  # complete quarters the channel mix, costs and run rates come from
# A cohort is mature once the quarters after it have held this share of past MQL-to-customer
# closes (stricter than the dashboard's 90% of days: an unfinished cohort biases rates down).
MATURE_SHARE = 0.95


class PlanError(db.FunnelcastError):
    """A target, quarter or history the planner cannot plan from; the message says which."""


@dataclass(frozen=True)
class ChannelHistory:
    """One channel's counts: rates from the mature window, mix and cost from recent quarters."""

    channel: str
    mqls: int  # mature MQL cohorts in the window
    mqls_reached_sql: int
    mqls_reached_customer: int
    sqls: int  # mature SQL cohorts in the window
    sqls_reached_customer: int
    recent_mqls: int  # MQLs in the recent complete quarters: the channel mix
    recent_spend: float
    recent_has_spend: bool

    @property
    def cost_per_mql(self) -> float | None:
        """Return recent spend per recent MQL; None without spend rows or without MQLs."""
        if not self.recent_has_spend or not self.recent_mqls:
            return None
        return self.recent_spend / self.recent_mqls


@dataclass(frozen=True)
class History:
    """What the data knew at as_of that a plan needs, as plain counts."""

    as_of: dt.datetime
    fy_start_month: int
    window: tuple[str, ...]  # mature cohort quarters the rates come from
    recent: tuple[str, ...]  # complete quarters the mix, costs and run rates come from
    channels: tuple[ChannelHistory, ...]
    lag_counts: tuple[int, ...]  # MQL-to-customer closes by quarters later (window cohorts)
    sql_lag_counts: tuple[int, ...]  # SQL-to-customer closes by quarters later
    direct_customers: int  # customers without an MQL in the recent quarters
    deals: int  # deals with an amount in the recent quarters
    revenue: float
    revenue_squares: float
    cohort_mqls: dict[str, dict[str, int]]  # quarter label -> channel -> MQLs (as known)
    open_sqls: dict[str, dict[str, int]]  # channel -> SQL quarter label -> open SQLs
    currency: str = "USD"  # the ISO code of the amounts (revenue, the budget's costs)

    @property
    def channel_names(self) -> list[str]:
        """Return the channels in order."""
        return [c.channel for c in self.channels]

    @property
    def mean_deal(self) -> float | None:
        """Return the mean deal amount of the recent quarters, None without deals."""
        return self.revenue / self.deals if self.deals else None

    @property
    def deal_sd(self) -> float:
        """Return the standard deviation of recent deal amounts (0 with fewer than two)."""
        if self.deals < 2:
            return 0.0
        mean = self.revenue / self.deals
        return math.sqrt(max(0.0, (self.revenue_squares - self.deals * mean**2) / (self.deals - 1)))


def _label(start: dt.date, fy: int) -> str:
    """Return the label of the quarter starting on a day."""
    return quarter_of(start, fy).label


def is_complete(quarter: Quarter, as_of: dt.datetime) -> bool:
    """Return whether the data at as_of (exclusive) covers the quarter to its end."""
    return dt.datetime.combine(quarter.end, dt.time()) <= as_of


def data_today(ctx: DataContext) -> dt.datetime:
    """Return the moment just after the data ends (as_of is the last moment it covers)."""
    if ctx.as_of is None:
        raise PlanError(
            "the database has no leads or stage changes: there is no history to plan from"
        )
    return ctx.as_of + dt.timedelta(microseconds=1)


def quarters_to_mature(lag_counts: Sequence[int]) -> int:
    """Return the whole quarters after an MQL cohort by which MATURE_SHARE of past
    MQL-to-customer closes had happened (1 without any)."""
    counts = np.asarray(lag_counts, dtype=float)
    if counts.sum() == 0:
        return 1
    covered = np.cumsum(counts) / counts.sum()
    return int(np.argmax(covered >= MATURE_SHARE - 1e-12))


def _lags(
    cur: duckdb.DuckDBPyConnection, as_of: dt.datetime, fy: int, start: dt.date, end: dt.date
) -> dict[str, tuple[int, ...]]:
    """Return per step the number of closes by quarters later, for starts in [start, end)."""
    frame = db.run(
        cur, "planner_lags", as_of=as_of, fy_start_month=fy, cohort_from=start, cohort_to=end
    )
    out = {}
    for step in ("mql_to_sql", "sql_to_customer", "mql_to_customer"):
        part = frame.filter(pl.col("step") == step)
        longest = cast(int, part["quarters_later"].max())  # polars types max() as any literal
        counts = [0] * (int(longest) + 1 if not part.is_empty() else 0)
        for k, n in part.select("quarters_later", "count_leads").iter_rows():
            counts[k] = int(n)
        out[step] = tuple(counts)
    return out


def load_history(
    cur: duckdb.DuckDBPyConnection,
    ctx: DataContext,
    *,
    as_of: dt.datetime | None = None,
    window: int = DEFAULT_WINDOW,
) -> History:
    """Return what a plan learns from the data recorded before as_of (default: all of it).

    Rates come from the last `window` mature quarters; the channel mix, cost per MQL, the run
    rate of customers without an MQL and deal sizes from the last RECENT_QUARTERS complete ones.
    """
    fy = ctx.fy_start_month
    as_of = as_of or data_today(ctx)
    if window < 1:
        raise PlanError(f"the history window must be at least 1 quarter, not {window}")
    rates = db.run(cur, "planner_rates", as_of=as_of, fy_start_month=fy)
    quarters = [q for q in ctx.quarters if dt.datetime.combine(q.start, dt.time()) < as_of]
    complete = [q for q in quarters if is_complete(q, as_of)]
    if not complete or rates.is_empty() or rates["count_mqls"].sum() == 0:
        raise PlanError(
            f"no history to plan from: no MQLs recorded in a complete quarter before "
            f"{as_of:%Y-%m-%d}"
        )
    # Recent cohorts have only had time for their quick deals, which makes lags look short:
    # once a first estimate says how long cohorts take, learn it again from the cohorts that
    # have had longer than that, until it holds.
    need = quarters_to_mature(
        _lags(cur, as_of, fy, complete[0].start, as_of.date() + dt.timedelta(days=1))[
            "mql_to_customer"
        ]
    )
    for _ in range(4):
        older = [q for q in complete if is_complete(q.shifted(need + 1, fy), as_of)]
        if not older:
            break
        again = quarters_to_mature(
            _lags(cur, as_of, fy, complete[0].start, older[-1].end)["mql_to_customer"]
        )
        if again <= need:
            break
        need = again
    mature = [q for q in complete if is_complete(q.shifted(need, fy), as_of)]
    with_mqls = set(rates.filter(pl.col("count_mqls") > 0)["quarter_start"].to_list())
    mature = [q for q in mature if q.start in with_mqls][-window:]
    if not mature:
        raise PlanError(
            f"no mature history before {as_of:%Y-%m-%d}: no quarter's MQLs have yet had the "
            f"time past MQLs took to close (load older history, or wait)"
        )
    recent = complete[-RECENT_QUARTERS:]
    lags = _lags(cur, as_of, fy, mature[0].start, mature[-1].end)

    def totals(chosen: list[Quarter]) -> pl.DataFrame:
        starts = [q.start for q in chosen]
        return (
            rates.filter(pl.col("quarter_start").is_in(starts))
            .group_by("channel", maintain_order=True)
            .agg(pl.exclude("quarter_start", "has_spend").sum(), pl.col("has_spend").any())
        )

    in_window = {r["channel"]: r for r in totals(mature).to_dicts()}
    in_recent = {r["channel"]: r for r in totals(recent).to_dicts()}
    names = sorted(set(in_window) | set(in_recent))
    channels = []
    for name in names:
        w, r = in_window.get(name, {}), in_recent.get(name, {})
        channels.append(
            ChannelHistory(
                channel=name,
                mqls=int(w.get("count_mqls", 0)),
                mqls_reached_sql=int(w.get("count_mqls_reached_sql", 0)),
                mqls_reached_customer=int(w.get("count_mqls_reached_customer", 0)),
                sqls=int(w.get("count_sqls", 0)),
                sqls_reached_customer=int(w.get("count_sqls_reached_customer", 0)),
                recent_mqls=int(r.get("count_mqls", 0)),
                recent_spend=float(r.get("spend", 0.0)),
                recent_has_spend=bool(r.get("has_spend", False)),
            )
        )
    recent_rows = totals(recent)
    cohort_mqls: dict[str, dict[str, int]] = {}
    for start, channel, n in rates.select("quarter_start", "channel", "count_mqls").iter_rows():
        if n:
            cohort_mqls.setdefault(_label(start, fy), {})[channel] = int(n)
    open_sqls: dict[str, dict[str, int]] = {}
    pipeline = db.run(cur, "open_pipeline", as_of=as_of, fy_start_month=fy)
    for channel, start, n in pipeline.iter_rows():
        open_sqls.setdefault(channel, {})[_label(start, fy)] = int(n)
    return History(
        as_of=as_of,
        fy_start_month=fy,
        window=tuple(q.label for q in mature),
        recent=tuple(q.label for q in recent),
        channels=tuple(channels),
        lag_counts=lags["mql_to_customer"],
        sql_lag_counts=lags["sql_to_customer"],
        direct_customers=int(recent_rows["count_customers_without_mql"].sum()),
        deals=int(recent_rows["count_deals"].sum()),
        revenue=float(recent_rows["revenue"].sum()),
        revenue_squares=float(recent_rows["revenue_squares"].sum()),
        cohort_mqls=cohort_mqls,
        open_sqls=open_sqls,
        currency=ctx.currency.code,
    )
