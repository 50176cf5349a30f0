"""The figures of a sampled history (lab.budget's Sample), scaled back to the whole data.

A sampled history holds a share of the leads; every volume its figures count (MQLs, SQLs,
customers, captures, weekly load, movers) is scaled up by the data's leads over the sampled
leads, and what depends on a volume is worked out again from the scaled one (cost per MQL,
weeks over a sales capacity). Rates (precision, capture) and the days between stages are as
sampled: they need no scaling. A whole history's figures come back as they are.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl

from funnelcast.core.stats import ratio
from funnelcast.lab.history import Materialised
from funnelcast.lab.moving import Movers
from funnelcast.lab.thresholds import Backtest

# The counts of Backtest.quarters and of tradeoff_curve's rows a sample scales.
QUARTER_COUNTS = (
    "mqls",
    "mqls_reached_sql",
    "mqls_reached_customer",
    "sqls",
    "sqls_captured",
    "customers",
    "customers_captured",
)
CURVE_COUNTS = (
    "mqls",
    "mqls_reached_sql",
    "mqls_reached_customer",
    "sqls_captured",
    "customers_captured",
)


def factor(m: Materialised) -> float:
    """Return what a count of the history is multiplied by to stand for the whole data: the
    data's leads over the leads held (1 for a whole history)."""
    if m.sample.is_whole or m.n_leads == 0:
        return 1.0
    return m.all_leads / m.n_leads


def _scaled(column: str, f: float) -> pl.Expr:
    """Return a count column scaled by f, rounded to a whole number."""
    return (pl.col(column) * f).round(0).cast(pl.Int64)


def backtest(m: Materialised, bt: Backtest) -> Backtest:
    """Return a backtest of m's scored with its volumes scaled to the whole data."""
    f = factor(m)
    if f == 1.0:
        return bt
    quarters = bt.quarters.with_columns(
        *(_scaled(c, f) for c in QUARTER_COUNTS if c in bt.quarters.columns)
    ).with_columns(
        cost_per_mql=pl.when((pl.col("spend") > 0) & (pl.col("mqls") > 0)).then(
            pl.col("spend") / pl.col("mqls")
        )
    )
    capacity = bt.totals["sales_capacity_per_week"]
    weekly = bt.weeks["mqls"].to_numpy() * f
    weeks = bt.weeks.with_columns(_scaled("mqls", f))
    if "over_capacity" in weeks.columns:
        weeks = weeks.with_columns(over_capacity=pl.Series(weekly > capacity))
    t = dict(bt.totals)
    t["mqls"] = round(t["mqls"] * f)
    for stage in ("sqls", "customers"):
        t[stage] = round(t[stage] * f)
    t["mqls_per_week"] = None if t["mqls_per_week"] is None else t["mqls_per_week"] * f
    t["cost_per_mql"] = ratio(t["spend"], t["mqls"]) if t["spend"] > 0 else None
    t["peak_week_mqls"] = round(float(weekly.max())) if len(weekly) else None
    if capacity is not None:
        t["weeks_over_capacity"] = int(np.count_nonzero(weekly > capacity))
    return dataclasses.replace(bt, quarters=quarters, weeks=weeks, totals=t)


def curve(m: Materialised, frame: pl.DataFrame) -> pl.DataFrame:
    """Return a trade-off curve (tradeoff_curve's rows) with its counts scaled."""
    f = factor(m)
    if f == 1.0:
        return frame
    return frame.with_columns(*(_scaled(c, f) for c in CURVE_COUNTS if c in frame.columns))


def movers(m: Materialised, moves: Movers) -> Movers:
    """Return who moves with its counts scaled (the marginal leads listed stay as they are)."""
    f = factor(m)
    if f == 1.0:
        return moves
    by_group = moves.by_group.with_columns(
        _scaled("entering", f), _scaled("leaving", f)
    ).with_columns(net=pl.col("entering") - pl.col("leaving"))
    return dataclasses.replace(
        moves,
        entering=round(moves.entering * f),
        leaving=round(moves.leaving * f),
        staying=round(moves.staying * f),
        by_group=by_group,
    )
