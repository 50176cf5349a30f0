"""What a quarter should win: the Target and its checks, the targets stored per quarter, the
target history suggests for a quarter without one (last year's same quarter plus growth), and
the quarter a plan is for when none is named (the first that starts after the data ends)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import duckdb
import polars as pl

from funnelcast.analytics import metrics
from funnelcast.core.periods import Quarter, quarter_of
from funnelcast.data import db
from funnelcast.data.context import load_context
from funnelcast.planner.history import History, PlanError


@dataclass(frozen=True)
class Target:
    """What a quarter should win: customers, revenue, or both (both must be reached)."""

    quarter: str
    customers: int | None = None
    revenue: float | None = None

    def check(self) -> None:
        """Raise PlanError when neither figure is given or one is not a positive number."""
        if self.customers is None and self.revenue is None:
            raise PlanError(f"no target for {self.quarter}: give target customers or revenue")
        for name, value in (("customers", self.customers), ("revenue", self.revenue)):
            if value is None:
                continue
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise PlanError(
                    f"target {name} for {self.quarter} must be a number above 0, not {value}"
                )
        if self.customers is not None and self.customers != int(self.customers):
            raise PlanError(
                f"target customers for {self.quarter} must be a whole number, not {self.customers}"
            )


def stored_targets(
    cur: duckdb.DuckDBPyConnection, since: dt.date = dt.date(1900, 1, 1)
) -> pl.DataFrame:
    """Return the stored targets of the quarters starting on or after a day."""
    return db.run(cur, "planner_targets", from_date=since)


def stored_target(cur: duckdb.DuckDBPyConnection, quarter: Quarter) -> Target | None:
    """Return the target stored for a quarter, or None."""
    rows = stored_targets(cur, quarter.start).filter(pl.col("quarter_start") == quarter.start)
    if rows.is_empty():
        return None
    customers, revenue = rows.row(0)[1:]
    return Target(quarter.label, customers, revenue)


def save_target(
    cur: duckdb.DuckDBPyConnection, quarter: Quarter, customers: int | None, revenue: float | None
) -> Target:
    """Store a quarter's target (replacing the one it had) and return it; checked first."""
    target = Target(quarter.label, customers, revenue)
    target.check()
    cur.execute(
        "insert or replace into targets values ($q, $c, $r)",
        {"q": quarter.start, "c": customers, "r": revenue},
    )
    return target


def default_quarter(history: History) -> Quarter:
    """Return the first quarter that starts after the data ends: the next one to plan."""
    fy = history.fy_start_month
    last = quarter_of(history.as_of - dt.timedelta(microseconds=1), fy)
    return last.shifted(1, fy)


GROWTH = 0.10  # the suggested target: last year's same quarter plus this share


def from_last_year(
    cur: duckdb.DuckDBPyConnection, quarter: Quarter, fy_start_month: int, growth: float = GROWTH
) -> tuple[Target, dict] | None:
    """Return the target history suggests for a quarter, with the year-ago figures it grew from.

    The suggestion is the customers won and the revenue of the same quarter a year before (the
    Overview's figures for it) plus `growth`: customers rounded up, revenue to the thousand. None
    when the data does not reach that quarter or it won nothing.
    """
    year_ago = quarter.shifted(-4, fy_start_month)
    ctx = load_context(cur)
    if year_ago not in ctx.quarters:
        return None
    won = metrics.metrics(cur, quarter=year_ago.label)
    if not won["customers"]:
        return None
    target = Target(
        quarter.label,
        math.ceil(won["customers"] * (1 + growth) - 1e-9),
        round(won["revenue"] * (1 + growth), -3) if won["revenue"] else None,
    )
    return target, {"quarter": year_ago.label, **{k: won[k] for k in ("customers", "revenue")}}
