"""The backtest: plan each past quarter with only the data recorded before it (its own MQLs
given), and compare the customers predicted, with their 80% and 90% ranges, with those it won.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, cast

import duckdb
import numpy as np
import polars as pl

from funnelcast.core.periods import Quarter
from funnelcast.core.stats import rate
from funnelcast.data import db
from funnelcast.data.context import DataContext, load_context
from funnelcast.planner.history import (
    DEFAULT_WINDOW,
    History,
    PlanError,
    data_today,
    is_complete,
    load_history,
)
from funnelcast.planner.model import SEED, SIMULATIONS, cohorts_for, draw, drawn_customers

MIN_HISTORY = 2  # mature quarters a backtest plan needs before the quarter it plans


def predict_customers(
    history: History,
    quarter: Quarter,
    new_mqls: Mapping[str, float],
    simulations: int = SIMULATIONS,
    seed: int = SEED,
) -> np.ndarray:
    """Return per simulation the customers closing in a quarter, given its own MQLs per
    channel (the cohorts before it as the history knows them)."""
    rng = np.random.default_rng(seed)
    d = draw(history, rng, simulations)
    ch = history.channels
    cohorts = cohorts_for(history, quarter)
    g = d.g
    ab = d.a * d.b
    total = rng.poisson(d.direct_rate).astype(float)
    for c in cohorts:
        mqls = new_mqls if c.quarters_before == 0 else c.mqls
        total += drawn_customers(rng, mqls, ch, ab * g[:, [c.quarters_before]])
    return total


def backtest(
    cur: duckdb.DuckDBPyConnection,
    ctx: DataContext | None = None,
    *,
    window: int = DEFAULT_WINDOW,
    min_history: int = MIN_HISTORY,
    simulations: int = 5_000,
) -> pl.DataFrame:
    """Return per past quarter with enough mature history before it: the customers predicted
    from the data before it (given the MQLs it then had), the 80% and 90% ranges, and what
    happened."""
    ctx = ctx or load_context(cur)
    now = data_today(ctx)
    fy = ctx.fy_start_month
    actual = db.run(cur, "planner_rates", as_of=now, fy_start_month=fy)
    rows = []
    for q in ctx.quarters:
        if not is_complete(q, now):
            continue
        start = dt.datetime.combine(q.start, dt.time())
        try:
            h = load_history(cur, ctx, as_of=start, window=window)
        except PlanError:
            continue
        if len(h.window) < min_history or sum(c.mqls_reached_customer for c in h.channels) == 0:
            continue
        here = actual.filter(pl.col("quarter_start") == q.start)
        new = {c: float(n) for c, n in here.select("channel", "count_mqls").iter_rows()}
        sims = predict_customers(h, q, new, simulations)
        lo80, hi80, lo90, hi90, median = np.quantile(sims, [0.1, 0.9, 0.05, 0.95, 0.5])
        happened = int(here["count_customers"].sum())
        rows.append(
            {
                "quarter": q.label,
                "history": f"{h.window[0]}–{h.window[-1]}",
                "mqls": int(sum(new.values())),
                "predicted": float(median),
                "mean": float(sims.mean()),
                "low_80": float(lo80),
                "high_80": float(hi80),
                "low_90": float(lo90),
                "high_90": float(hi90),
                "actual": happened,
                "in_80": bool(lo80 <= happened <= hi80),
                "in_90": bool(lo90 <= happened <= hi90),
                "error": float(median - happened),
            }
        )
    schema = {
        "quarter": pl.String,
        "history": pl.String,
        "mqls": pl.Int64,
        "predicted": pl.Float64,
        "mean": pl.Float64,
        "low_80": pl.Float64,
        "high_80": pl.Float64,
        "low_90": pl.Float64,
        "high_90": pl.Float64,
        "actual": pl.Int64,
        "in_80": pl.Boolean,
        "in_90": pl.Boolean,
        "error": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def backtest_summary(frame: pl.DataFrame) -> dict[str, Any]:
    """Return the hit rates of the 80% and 90% ranges and the point forecast's errors."""
    if frame.is_empty():
        return {
            "quarters": 0,
            "hit_rate_80": None,
            "hit_rate_90": None,
            "mean_absolute_error": None,
            "mean_absolute_percentage_error": None,
            "bias": None,
        }
    actual = frame["actual"].cast(pl.Float64)
    with_actual = frame.filter(pl.col("actual") > 0)
    return {
        "quarters": frame.height,
        "hit_rate_80": rate(int(frame["in_80"].sum()), frame.height).as_dict(),
        "hit_rate_90": rate(int(frame["in_90"].sum()), frame.height).as_dict(),
        "mean_absolute_error": float(cast(float, frame["error"].abs().mean())),
        "mean_absolute_percentage_error": (
            float(cast(float, (with_actual["error"].abs() / with_actual["actual"]).mean()))
            if not with_actual.is_empty()
            else None
        ),
        "bias": float(cast(float, frame["error"].mean())),
        "mean_actual": float(cast(float, actual.mean())),
    }
