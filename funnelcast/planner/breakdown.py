"""What the page and the CLI show around a plan: per channel its share, rates, cost and needs;
the budget per level; the open pipeline's expected customers in the target quarter; and the
posterior credible intervals of each channel's rates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from funnelcast.core.periods import Quarter, parse_quarter, quarter_of
from funnelcast.core.stats import rate
from funnelcast.planner.history import History, is_complete
from funnelcast.planner.model import SEED, SIMULATIONS, borrowed_rates, draw, observed_rates
from funnelcast.planner.sizing import Plan


def channel_rows(p: Plan) -> list[dict[str, Any]]:
    """Return per channel its share, rates (n, Wilson interval), cost per MQL and needs."""
    rows = []
    borrowed = borrowed_rates(p.history)
    for c in p.history.channels:
        share = p.mix[c.channel]
        cpm = c.cost_per_mql
        # a level no number of MQLs reaches (None) has no MQLs or budget to share out
        mqls = {k: v * share if v is not None else None for k, v in p.required_mqls.items()}
        rows.append(
            {
                "channel": c.channel,
                "rates_borrowed_from_all_channels": c.channel in borrowed,
                "mix_share": share,
                "mql_to_sql": rate(c.mqls_reached_sql, c.mqls).as_dict(),
                "sql_to_customer": rate(c.sqls_reached_customer, c.sqls).as_dict(),
                "cost_per_mql": cpm,
                "mqls": mqls,
                "mqls_point": p.point["by_channel"][c.channel]["mqls"],
                "sqls_point": p.point["by_channel"][c.channel]["sqls"],
                "budget": {
                    k: (v * cpm if cpm is not None and v is not None else None)
                    for k, v in mqls.items()
                },
            }
        )
    return rows


def budget(p: Plan) -> dict[str, Any]:
    """Return the budget per level: each channel's MQLs at its cost per MQL, summed.

    Channels without spend rows cannot be costed: they are listed, and left out of the sum.
    """
    rows = channel_rows(p)
    costed = [r for r in rows if r["cost_per_mql"] is not None]
    out: dict[str, Any] = {
        k: float(sum(r["budget"][k] for r in costed)) if v is not None else None
        for k, v in p.required_mqls.items()
    }
    out["point"] = float(
        sum(p.point["by_channel"][r["channel"]]["mqls"] * r["cost_per_mql"] for r in costed)
    )
    out["channels_without_cost"] = [
        r["channel"] for r in rows if r["cost_per_mql"] is None and r["mix_share"] > 0
    ]
    return out


def open_pipeline(history: History, quarter: Quarter) -> dict[str, Any]:
    """Return the SQLs still open at as_of and the customers they are expected to bring in the
    target quarter.

    An open SQL of quarter s is won with its channel's SQL-to-customer rate; wins and losses
    are taken to take equally long, so it closes k quarters after s with the share of past wins
    closing k quarters later among those that closed no earlier than now.
    """
    fy = history.fy_start_month
    lags = np.asarray(history.sql_lag_counts, dtype=float)
    now = quarter_of(history.as_of - dt.timedelta(microseconds=1), fy)
    now_done = is_complete(now, history.as_of)
    b_of = dict(zip(history.channel_names, observed_rates(history)[1]))
    total_open, expected, stale = 0, 0.0, 0
    for channel, quarters in history.open_sqls.items():
        b = b_of.get(channel, 0.0)
        for label, n in quarters.items():
            s = parse_quarter(label, fy)
            total_open += n
            k_target = _quarters_between(s, quarter, fy)
            k_now = _quarters_between(s, now, fy) + (1 if now_done else 0)
            tail = lags[k_now:].sum() if k_now < len(lags) else 0.0
            if tail == 0:
                stale += n
                continue
            share = lags[k_target] / tail if k_target < len(lags) else 0.0
            expected += n * b * share
    return {"open_sqls": total_open, "expected_customers": expected, "stale_open_sqls": stale}


def _quarters_between(a: Quarter, b: Quarter, fy: int) -> int:
    """Return how many quarters b is after a."""
    return ((b.start.year - a.start.year) * 12 + b.start.month - a.start.month) // 3


def rate_posteriors(
    history: History,
    levels: Sequence[float] = (0.8, 0.9),
    simulations: int = SIMULATIONS,
    seed: int = SEED,
) -> pl.DataFrame:
    """Return per channel and rate (mql_to_sql, sql_to_customer) the posterior mean and the
    central credible interval for each level (low_80, high_80, ...)."""
    d = draw(history, np.random.default_rng(seed), simulations)
    rows = []
    for i, c in enumerate(history.channels):
        for name, samples, s, n in (
            ("mql_to_sql", d.a[:, i], c.mqls_reached_sql, c.mqls),
            ("sql_to_customer", d.b[:, i], c.sqls_reached_customer, c.sqls),
        ):
            row = {
                "channel": c.channel,
                "rate": name,
                "successes": s,
                "n": n,
                "mean": float(samples.mean()),
            }
            for level in levels:
                lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
                row[f"low_{round(level * 100)}"] = float(lo)
                row[f"high_{round(level * 100)}"] = float(hi)
            rows.append(row)
    return pl.DataFrame(rows)
