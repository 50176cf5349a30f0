"""The MQL planner: from a quarter's target (customers and/or revenue) back to the MQLs, SQLs and
budget it takes, with the uncertainty a small history carries, the lag between an MQL and the
deal it brings, and a backtest of how well such plans came true.

Its modules, in the order a plan uses them:
- history: what the data recorded before a moment says, as plain counts (`load_history`);
- targets: what a quarter should win, the targets stored per quarter, and the one history
  suggests (last year's same quarter plus 10%);
- model: the cohorts feeding a quarter, posterior draws, binomial odds (the model is told there);
- sizing: the point waterfall and the MQLs for a 50/80/90% chance (`plan`);
- breakdown: per channel rows, budget, open pipeline and rate posteriors around a plan;
- qualified: whether the definition in force brings enough MQLs (the Threshold Lab engine);
- summary: one call, what the CLI prints and the page shows (`make_plan`);
- backtest: past quarters planned with the data before them, against what happened.
"""

from funnelcast.planner.backtest import MIN_HISTORY, backtest, backtest_summary, predict_customers
from funnelcast.planner.breakdown import budget, channel_rows, open_pipeline, rate_posteriors
from funnelcast.planner.history import (
    DEFAULT_WINDOW,
    ChannelHistory,
    History,
    PlanError,
    data_today,
    load_history,
)
from funnelcast.planner.model import (
    SEED,
    SIMULATIONS,
    Odds,
    binomial_at_least,
    borrowed_rates,
    draw,
    rate_counts,
)
from funnelcast.planner.qualified import lab_engine, qualified_leads
from funnelcast.planner.sizing import Plan, channel_mix, plan
from funnelcast.planner.summary import make_plan, summary
from funnelcast.planner.targets import (
    GROWTH,
    Target,
    default_quarter,
    from_last_year,
    save_target,
    stored_target,
    stored_targets,
)

__all__ = [
    "GROWTH",
    "DEFAULT_WINDOW",
    "MIN_HISTORY",
    "SEED",
    "SIMULATIONS",
    "ChannelHistory",
    "History",
    "Odds",
    "Plan",
    "PlanError",
    "Target",
    "backtest",
    "backtest_summary",
    "binomial_at_least",
    "borrowed_rates",
    "budget",
    "channel_mix",
    "channel_rows",
    "data_today",
    "default_quarter",
    "draw",
    "lab_engine",
    "load_history",
    "make_plan",
    "open_pipeline",
    "plan",
    "predict_customers",
    "qualified_leads",
    "rate_counts",
    "rate_posteriors",
    "save_target",
    "stored_target",
    "from_last_year",
    "stored_targets",
    "summary",
]
