"""One call, what the `plan` command prints and the Planner page shows: the history loaded, the
target planned, the qualified leads checked, and all of it as one JSON-ready dict."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import duckdb
import numpy as np

from funnelcast.core.periods import parse_quarter
from funnelcast.data.context import load_context
from funnelcast.planner.breakdown import budget, channel_rows, open_pipeline
from funnelcast.planner.history import DEFAULT_WINDOW, History, PlanError, load_history
from funnelcast.planner.qualified import lab_engine, qualified_leads
from funnelcast.planner.sizing import Plan, plan
from funnelcast.planner.targets import Target, default_quarter, stored_target


def make_plan(
    cur: duckdb.DuckDBPyConnection,
    *,
    quarter: str | None = None,
    customers: int | None = None,
    revenue: float | None = None,
    window: int = DEFAULT_WINDOW,
    mix: Mapping[str, float] | None = None,
    threshold: float | None = None,
    engine: Any = "load",
    history: History | None = None,
    sample: float | None = None,
) -> dict[str, Any]:
    """Return the whole plan as a JSON-ready dict: required MQLs, SQLs, budget, odds, channels,
    stage lags and open pipeline, and whether the definition yields enough MQLs.

    Without customers and revenue the quarter's stored target is used. sample: the share of
    leads the Threshold Lab engine replays (None: all that fit in memory; lab.budget).
    """
    ctx = load_context(cur)
    history = history or load_history(cur, ctx, window=window)
    fy = ctx.fy_start_month
    if quarter:
        try:
            q = parse_quarter(quarter, fy)
        except ValueError as exc:
            raise PlanError(str(exc)) from None
    else:
        q = default_quarter(history)
    if customers is None and revenue is None:
        target = stored_target(cur, q)
        if target is None:
            raise PlanError(
                f"no target stored for {q.label}: give --target-customers or --target-revenue"
            )
    else:
        target = Target(q.label, customers, revenue)
    p = plan(history, target, mix=mix)
    if engine == "load":
        engine = lab_engine(cur, sample)
    leads = qualified_leads(history, p, engine, threshold)
    return summary(p, leads)


def summary(p: Plan, leads: dict[str, Any]) -> dict[str, Any]:
    """Return a plan and its qualified-leads check as a JSON-ready dict."""
    h = p.history
    fy = h.fy_start_month
    quarter = parse_quarter(p.target.quarter, fy)
    pipeline = open_pipeline(h, quarter)
    needed = p.point["customers_needed"]
    lags = np.asarray(h.lag_counts, dtype=float)
    expected = leads["expected_mqls"]
    rows = channel_rows(p)
    return {
        "target": {
            "quarter": quarter.label,
            "customers": p.target.customers,
            "revenue": p.target.revenue,
        },
        "as_of": (h.as_of - dt.timedelta(microseconds=1)).isoformat(),
        "currency": h.currency,
        "history": {
            "rates_from": list(h.window),
            "mix_costs_and_run_rates_from": list(h.recent),
            "mean_deal": h.mean_deal,
            "deals": h.deals,
        },
        "required_mqls": p.required_mqls,
        "required_mqls_point": p.point["mqls"],
        "required_mqls_steady_state": p.required_mqls_steady_state,
        "required_mqls_steady_state_point": p.point["mqls_steady_state"],
        "required_sqls": p.point["sqls"],
        "required_sqls_by_level": {
            k: (None if v is None else v * p.point["sqls"] / p.point["mqls"])
            if p.point["mqls"]
            else 0.0
            for k, v in p.required_mqls.items()
        },
        "customers_needed": needed,
        "budget": budget(p),
        "expected_mqls_current_definition": expected,
        "probability_of_target": p.probability(expected),
        "future_quarters": [c.quarter for c in p.cohorts if c.is_future],
        "per_channel": rows,
        "waterfall": {k: v for k, v in p.point.items() if k != "by_channel"},
        "stage_lags": {
            "mql_to_customer_close_share": {
                f"{k} quarters later": float(n / lags.sum()) for k, n in enumerate(lags)
            },
            "cohorts": [
                {
                    "quarter": c.quarter,
                    "quarters_before_target": c.quarters_before,
                    "close_share": c.close_share,
                    "status": "to come"
                    if c.is_future
                    else ("so far, scaled" if c.is_partial else "in"),
                    "mqls": (p.point["mqls"] if c.is_future else float(sum(c.mqls.values()))),
                    "expected_customers_in_target": (
                        p.point["mqls"] * p.point["mql_to_customer"] * c.close_share
                        if c.is_future
                        else p.expected_customers_known.get(c.quarter, 0.0)
                    ),
                }
                for c in p.cohorts
            ],
        },
        "open_pipeline": {
            **pipeline,
            "share_of_target": pipeline["expected_customers"] / needed if needed else None,
        },
        "qualified_leads": {k: v for k, v in leads.items() if k != "curve"},
    }
