"""Sizing a target: the channel mix, the point waterfall (observed rates, no uncertainty) from
the customers a quarter needs back to the new MQLs and SQLs, and the MQLs for a 50/80/90%
chance from the model's odds, for the quarter as its cohorts stand and for the steady state.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from funnelcast.core.periods import parse_quarter, quarter_of
from funnelcast.planner.history import History, PlanError
from funnelcast.planner.model import (
    SEED,
    SIMULATIONS,
    Cohort,
    Odds,
    cohorts_for,
    observed_rates,
    simulate_odds,
)
from funnelcast.planner.targets import Target

# Below this share of a new MQL's deals closing in time, new MQLs cannot carry a target.
MIN_FUTURE_SHARE = 0.02


def channel_mix(history: History, mix: Mapping[str, float] | None = None) -> dict[str, float]:
    """Return each channel's share of new MQLs: the recent one, or an edited mix normalised."""
    if mix is None:
        total = sum(c.recent_mqls for c in history.channels)
        if total == 0:
            total = sum(c.mqls for c in history.channels)
            return {c.channel: c.mqls / total for c in history.channels}
        return {c.channel: c.recent_mqls / total for c in history.channels}
    unknown = [name for name in mix if name not in history.channel_names]
    if unknown:
        raise PlanError(
            f"channel mix: unknown channel {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(history.channel_names)})"
        )
    bad = [f"{k}={v}" for k, v in mix.items() if not math.isfinite(v) or v < 0]
    if bad:
        raise PlanError(f"channel mix: shares must be numbers of 0 or more, not {', '.join(bad)}")
    mix_total = float(sum(mix.values()))
    if mix_total <= 0:
        raise PlanError("channel mix: at least one channel needs a share above 0")
    return {c.channel: float(mix.get(c.channel, 0.0)) / mix_total for c in history.channels}


@dataclass
class Plan:
    """A plan for one quarter's target: required MQLs, SQLs and budget, per channel, with odds."""

    target: Target
    history: History
    mix: dict[str, float]
    cohorts: list[Cohort]
    point: dict[str, Any]
    required_mqls: dict[str, int | None]  # per level "p50"...: new MQLs per future quarter
    odds: Odds = field(repr=False)
    expected_customers_known: dict[str, float] = field(default_factory=dict)
    required_mqls_steady_state: dict[str, int | None] = field(default_factory=dict)
    steady_odds: Odds | None = field(default=None, repr=False)

    def probability(self, mqls: float) -> float:
        """Return the chance of reaching the target with this many new MQLs per future quarter."""
        return self.odds.probability(mqls)


def plan(
    history: History,
    target: Target,
    *,
    mix: Mapping[str, float] | None = None,
    simulations: int = SIMULATIONS,
    seed: int = SEED,
) -> Plan:
    """Return the plan for a target: point waterfall, and MQLs for a 50/80/90% chance."""
    target.check()
    fy = history.fy_start_month
    try:
        quarter = parse_quarter(target.quarter, fy)
    except ValueError as exc:
        raise PlanError(str(exc)) from None
    if dt.datetime.combine(quarter.start, dt.time()) < history.as_of:
        nxt = quarter_of(history.as_of - dt.timedelta(microseconds=1), fy).shifted(1, fy)
        raise PlanError(
            f"{quarter.label} has begun (the data runs to {history.as_of - dt.timedelta(microseconds=1):%Y-%m-%d}): "
            f"plan a quarter that starts later, such as {nxt.label}"
        )
    ch = history.channels
    if (
        sum(c.mqls_reached_customer for c in ch) == 0
        or sum(c.sqls_reached_customer for c in ch) == 0
    ):
        raise PlanError(
            f"no conversions in the history window ({history.window[0]}–{history.window[-1]}): "
            f"no MQL or SQL of those quarters became a customer, so there is no rate to plan with"
        )
    mean_deal = history.mean_deal
    if target.revenue is not None and mean_deal is None:
        raise PlanError(
            f"a revenue target needs deal amounts, and no deal in {history.recent[0]}–"
            f"{history.recent[-1]} has one: give a customer target instead"
        )
    shares = channel_mix(history, mix)
    w = np.array([shares[c.channel] for c in ch])
    cohorts = cohorts_for(history, quarter)
    future = [c for c in cohorts if c.is_future]
    known = [c for c in cohorts if not c.is_future]

    # ----- the point waterfall: observed rates, no uncertainty -----
    a_hat, b_hat = observed_rates(history)
    lag = np.asarray(history.lag_counts, dtype=float)
    g_hat = lag / lag.sum()
    future_share = float(sum(g_hat[c.quarters_before] for c in future))
    if future_share < MIN_FUTURE_SHARE:
        raise PlanError(
            f"MQLs still to come cannot carry {quarter.label}'s target: only "
            f"{future_share:.0%} of past MQLs' deals closed by then; its customers come from "
            f"MQLs already in (plan a later quarter)"
        )
    per_mql = w * a_hat * b_hat  # customers per new MQL, per channel, whenever they close
    known_customers = {
        c.quarter: float(
            sum(c.mqls.get(x.channel, 0.0) * a_hat[i] * b_hat[i] for i, x in enumerate(ch))
            * g_hat[c.quarters_before]
        )
        for c in known
    }
    direct = history.direct_customers / max(1, len(history.recent))
    customers_needed = float(target.customers or 0)
    if target.revenue is not None and mean_deal is not None:  # (None refused above)
        customers_needed = max(customers_needed, target.revenue / mean_deal)
    from_new = max(0.0, customers_needed - direct - sum(known_customers.values()))
    mqls_point = from_new / (per_mql.sum() * future_share) if per_mql.sum() > 0 else math.inf
    point = {
        "customers_needed": customers_needed,
        "customers_without_mql": direct,
        "customers_from_known_mqls": sum(known_customers.values()),
        "customers_from_new_mqls": from_new,
        "mql_to_customer": float(per_mql.sum()),
        "future_close_share": future_share,
        "mqls": mqls_point,
        "sqls": mqls_point * float((w * a_hat).sum()),
        "by_channel": {
            c.channel: {"mqls": mqls_point * w[i], "sqls": mqls_point * w[i] * a_hat[i]}
            for i, c in enumerate(ch)
        },
    }

    # ----- the same with uncertainty -----
    odds = simulate_odds(history, target, w, cohorts, simulations, seed)
    steady = simulate_odds(history, target, w, None, simulations, seed)
    point["mqls_steady_state"] = (
        max(0.0, customers_needed - direct) / per_mql.sum() if per_mql.sum() > 0 else math.inf
    )
    return Plan(
        target,
        history,
        shares,
        cohorts,
        point,
        odds.levels(),
        odds,
        known_customers,
        steady.levels(),
        steady,
    )
