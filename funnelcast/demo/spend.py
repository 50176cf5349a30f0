"""The demo's money: spend per quarter and campaign following each channel's planted cost per
lead, and the targets of the history's quarters and the next two (the trend plus ambition)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from funnelcast.core.periods import Quarter
from funnelcast.demo.people import Leads
from funnelcast.demo.story import CAMPAIGN_CHANNEL, CAMPAIGNS, CHANNELS, QUARTERS, STAGES


def leads_by_quarter(people: Leads, bounds: np.ndarray) -> np.ndarray:
    """Return the leads created per quarter of the history and campaign (QUARTERS x campaigns):
    what spend follows, counted block by block and added up."""
    quarter = np.searchsorted(bounds, people.created_us, side="right") - 1
    return np.bincount(
        quarter * len(CAMPAIGNS) + people.campaign, minlength=QUARTERS * len(CAMPAIGNS)
    ).reshape(QUARTERS, len(CAMPAIGNS))


def won_by_quarter(
    stages: dict[str, np.ndarray], bounds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the customers won and their revenue per quarter of the history: what the targets
    follow, counted unit by unit and added up in unit order."""
    won = stages["stage"] == STAGES.index("customer")
    quarter = np.searchsorted(bounds, stages["changed_us"][won], side="right") - 1
    customers = np.bincount(quarter, minlength=QUARTERS)[:QUARTERS]
    revenue = np.bincount(quarter, stages["amount"][won], minlength=QUARTERS)[:QUARTERS]
    return customers, revenue


def spend_table(rng: np.random.Generator, leads: np.ndarray, quarters: list[Quarter]) -> pa.Table:
    """Return spend per quarter and campaign: its leads (leads_by_quarter) x its channel's cost
    per lead x noise."""
    campaign_channel = np.array(CAMPAIGN_CHANNEL)
    # Relative campaign costs are scaled so that a channel's expected cost per lead is its own.
    relative = np.array([c.relative_cost for c in CAMPAIGNS])
    share = np.array([c.share for c in CAMPAIGNS])
    mean_relative = np.bincount(campaign_channel, share * relative) / np.bincount(
        campaign_channel, share
    )
    cost = np.array([c.cost_per_lead for c in CHANNELS])[campaign_channel] * (
        relative / mean_relative[campaign_channel]
    )
    noise = rng.lognormal(-(0.1**2) / 2, 0.1, leads.shape)  # mean 1
    amount = np.round(leads * cost * noise, 2)
    return pa.table(
        {
            "period_start": pa.array(
                np.repeat([q.start for q in quarters[:QUARTERS]], len(CAMPAIGNS)), pa.date32()
            ),
            "channel": pa.array(np.tile([CHANNELS[c].name for c in campaign_channel], QUARTERS)),
            "campaign": pa.array(np.tile([c.name or "" for c in CAMPAIGNS], QUARTERS)),
            "amount": pa.array(amount.ravel()).cast(pa.decimal128(18, 2)),
        }
    )


def targets_table(
    rng: np.random.Generator,
    customers: np.ndarray,
    revenue: np.ndarray,
    quarters: list[Quarter],
) -> pa.Table:
    """Return targets for the 12 quarters (the growth trend of the customers and revenue won per
    quarter, won_by_quarter, plus some ambition) and the next 2 (last year's same quarter plus
    10%)."""
    # The plan follows the trend of the last 8 quarters (the first ones are still ramping up).
    index = np.arange(QUARTERS + 2)
    fit = slice(QUARTERS - 8, QUARTERS)
    trend_customers = np.exp(
        np.polyval(np.polyfit(index[fit], np.log(customers[fit] + 1), 1), index)
    )
    deal = revenue[fit].sum() / max(customers[fit].sum(), 1) or 10_000.0
    ambition = rng.normal(1.05, 0.05, len(index))
    target_customers = np.maximum(1, np.round(trend_customers * ambition)).astype(np.int32)
    target_revenue = np.round(target_customers * deal * rng.normal(1.0, 0.03, len(index)), -3)
    # The two quarters still to plan ask for last year's same quarter plus 10% (what the
    # Planner suggests), not the trend's ambition: a target the data gives a fair chance.
    ahead = index[QUARTERS:]
    target_customers[ahead] = np.maximum(1, np.ceil(customers[ahead - 4] * 1.1 - 1e-9))
    target_revenue[ahead] = np.round(revenue[ahead - 4] * 1.1, -3)
    return pa.table(
        {
            "quarter_start": pa.array([q.start for q in quarters], pa.date32()),
            "target_customers": pa.array(target_customers),
            "target_revenue": pa.array(np.maximum(target_revenue, 1000.0)).cast(
                pa.decimal128(18, 2)
            ),
        }
    )
