"""The demo's recorded stages: per lead with an MQL (or a demo request sales took straight to
SQL), the path it takes through SAL, rejection, recycling, SQL and a won or lost deal, drawn
with its planted chances, all within LAG_CAP_DAYS; and the planted rates as the
demo_planted_rates table holds them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from funnelcast.demo.columns import dictionary, timestamps
from funnelcast.demo.people import Leads
from funnelcast.demo.sampling import DAY_US, days_us, pick
from funnelcast.demo.story import (
    BACK_AS_MQL_SHARE,
    CHANNELS,
    DEAL_LOST_REASONS,
    DEAL_LOST_WEIGHT,
    DIRECT_SQL_FACTOR,
    LAG_CAP_DAYS,
    REASON_INDEX,
    REASONS,
    RECYCLED_SHARE,
    RECYCLED_WIN_SHARE,
    REJECT_REASONS,
    REJECT_WEIGHT,
    REJECTED_AGAIN_SHARE,
    REPS,
    SAL_LOST_REASONS,
    SAL_LOST_SHARE,
    SAL_LOST_WEIGHT,
    STAGES,
)

PLANTED_RATES_DDL = """
create table demo_planted_rates (
    metric                  varchar not null check (
        metric in ('mql_to_sql', 'sql_to_customer', 'cost_per_lead')
    ),
    channel                 varchar not null,
    value                   double not null,
    primary key (metric, channel),
)
"""


def make_stages(
    rng: np.random.Generator,
    people: Leads,
    mql_us: np.ndarray,
    first_demo_us: np.ndarray,
    end_us: int,
) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Return the recorded stage changes up to end as arrays, and the mature cohorts the
    planted rates are means over: the leads whose first MQL, and those whose SQL, was recorded
    before end - LAG_CAP_DAYS (SQLs in the order of their paths: see planted_rates).

    For a lead with a recorded MQL, P(it reaches SQL, by any path) is its planted p_sql: most
    SQLs are accepted and qualified straight away, RECYCLED_WIN_SHARE of them first go through a
    'not ready' rejection, recycling and a second MQL. Every SQL becomes a customer with its
    planted p_customer. All of it happens within LAG_CAP_DAYS of the first MQL (or direct SQL).
    """
    cap_us = LAG_CAP_DAYS * DAY_US
    rows: list[tuple[np.ndarray, str, np.ndarray, np.ndarray | None, np.ndarray | None]] = []

    def record(lead, stage, at, reason=None, amount=None):
        rows.append((lead, stage, at, reason, amount))

    def fixed_reason(lead, name):
        return np.full(len(lead), REASON_INDEX[name])

    def sales_lag(size):
        # Sales usually responds within a few days; one in ten MQLs waits, breaching the SLA.
        quick = np.minimum(rng.gamma(1.2, 1.5, size), 20)
        return np.where(rng.random(size) < 0.1, rng.uniform(5, 20, size), quick)

    def sql_lag(size):
        # From accepted to qualified: about two weeks, at most 45 days.
        return np.minimum(rng.gamma(2.0, 8.0, size), 45)

    mql = np.flatnonzero(mql_us >= 0)
    t0 = mql_us[mql]
    record(mql, "mql", t0)
    reach = rng.random(len(mql)) < people.p_sql[mql]
    via_recycle = reach & (rng.random(len(mql)) < RECYCLED_WIN_SHARE)
    accepted_win = reach & ~via_recycle
    sal_lost = ~reach & (rng.random(len(mql)) < SAL_LOST_SHARE)
    rejected = ~reach & ~sal_lost

    # Accepted, then qualified.
    lead, start = mql[accepted_win], t0[accepted_win]
    sal_at = start + days_us(sales_lag(len(lead)))
    record(lead, "sal", sal_at)
    # SQLs of all paths are gathered here and closed (won or lost) together below.
    sql_lead_parts = [lead]
    sql_at_parts = [sal_at + days_us(sql_lag(len(lead)))]
    sql_deadline_parts = [start + cap_us]

    # Accepted, then dropped at SAL.
    lead, start = mql[sal_lost], t0[sal_lost]
    sal_at = start + days_us(sales_lag(len(lead)))
    record(lead, "sal", sal_at)
    record(
        lead,
        "disqualified",
        sal_at + days_us(np.minimum(rng.gamma(2.0, 10.0, len(lead)), 60)),
        np.array([REASON_INDEX[r] for r in SAL_LOST_REASONS])[
            pick(rng, SAL_LOST_WEIGHT, len(lead))
        ],
    )

    # Rejected with a reason; wrong persona is the usual one for leads that would never buy.
    lead, start = mql[rejected], t0[rejected]
    weights = np.tile(REJECT_WEIGHT, (len(lead), 1))
    weights[people.p_sql[lead] < 0.1, REJECT_REASONS.index("wrong persona")] *= 3
    reason = np.array([REASON_INDEX[r] for r in REJECT_REASONS])[pick(rng, weights)]
    rejected_at = start + days_us(sales_lag(len(lead)))
    record(lead, "rejected", rejected_at, reason)
    # Half the 'not ready' ones go back to nurturing; a third of those come back as MQLs and
    # are rejected or dropped again (their winning siblings are the via_recycle leads).
    not_ready = reason == REASON_INDEX["not ready"]
    recycled = not_ready & (rng.random(len(lead)) < RECYCLED_SHARE)
    recycled_at = rejected_at[recycled] + days_us(rng.uniform(0, 2, recycled.sum()))
    record(lead[recycled], "recycled", recycled_at, fixed_reason(lead[recycled], "not ready"))
    back = rng.random(recycled.sum()) < BACK_AS_MQL_SHARE
    back_lead = lead[recycled][back]
    back_at = recycled_at[back] + days_us(rng.uniform(30, 75, back.sum()))
    record(back_lead, "mql", back_at)
    again = rng.random(len(back_lead)) < REJECTED_AGAIN_SHARE
    record(
        back_lead[again],
        "rejected",
        back_at[again] + days_us(sales_lag(again.sum())),
        np.array([REASON_INDEX["not ready"], REASON_INDEX["no budget"]])[
            pick(rng, [0.6, 0.4], again.sum())
        ],
    )
    sal_at = back_at[~again] + days_us(sales_lag((~again).sum()))
    record(back_lead[~again], "sal", sal_at)
    record(
        back_lead[~again],
        "disqualified",
        sal_at + days_us(rng.uniform(5, 40, len(sal_at))),
        fixed_reason(back_lead[~again], "no need"),
    )

    # Rejected as not ready, recycled, back as an MQL, and this time qualified.
    lead, start = mql[via_recycle], t0[via_recycle]
    rejected_at = start + days_us(sales_lag(len(lead)))
    record(lead, "rejected", rejected_at, fixed_reason(lead, "not ready"))
    recycled_at = rejected_at + days_us(rng.uniform(0, 2, len(lead)))
    record(lead, "recycled", recycled_at, fixed_reason(lead, "not ready"))
    back_at = recycled_at + days_us(rng.uniform(30, 75, len(lead)))
    record(lead, "mql", back_at)
    sal_at = back_at + days_us(sales_lag(len(lead)))
    record(lead, "sal", sal_at)
    sql_lead_parts.append(lead)
    sql_at_parts.append(sal_at + days_us(sql_lag(len(lead))))
    sql_deadline_parts.append(start + cap_us)

    # Demo requests sales took straight to SQL, from leads the definition never qualified.
    candidates = np.flatnonzero((first_demo_us >= 0) & (mql_us < 0))
    direct = candidates[rng.random(len(candidates)) < DIRECT_SQL_FACTOR * people.p_sql[candidates]]
    direct_at = first_demo_us[direct] + days_us(np.minimum(rng.gamma(1.5, 1.0, len(direct)), 10))
    sql_lead_parts.append(direct)
    sql_at_parts.append(direct_at)
    sql_deadline_parts.append(direct_at + cap_us)

    sql_lead, sql_at, sql_deadline = (
        np.concatenate(a) for a in (sql_lead_parts, sql_at_parts, sql_deadline_parts)
    )
    record(sql_lead, "sql", sql_at)
    won = rng.random(len(sql_lead)) < people.p_customer[sql_lead]
    closed_at = np.minimum(sql_at + days_us(rng.gamma(3.0, 15.0, len(sql_lead))), sql_deadline)
    amount = np.round(people.deal_median[sql_lead[won]] * rng.lognormal(0.0, 0.5, won.sum()), 2)
    record(sql_lead[won], "customer", closed_at[won], None, amount)
    record(
        sql_lead[~won],
        "disqualified",
        closed_at[~won],
        np.array([REASON_INDEX[r] for r in DEAL_LOST_REASONS])[
            pick(rng, DEAL_LOST_WEIGHT, (~won).sum())
        ],
    )

    stages = _collect_stages(rows, end_us)
    mature_before = end_us - cap_us
    return stages, (mql[t0 < mature_before], sql_lead[sql_at < mature_before])


def _collect_stages(rows: list, end_us: int) -> dict[str, np.ndarray]:
    """Return the recorded stage changes up to end as arrays, sorted by lead and time."""
    lead = np.concatenate([r[0] for r in rows])
    stage = np.concatenate([np.full(len(r[0]), STAGES.index(r[1])) for r in rows])
    at = np.concatenate([r[2] for r in rows])
    reason = np.concatenate([r[3] if r[3] is not None else np.full(len(r[0]), -1) for r in rows])
    amount = np.concatenate(
        [r[4] if r[4] is not None else np.full(len(r[0]), np.nan) for r in rows]
    )
    keep = at < end_us
    order = np.lexsort((stage[keep], at[keep], lead[keep]))
    return {
        "lead": lead[keep][order],
        "stage": stage[keep][order],
        "changed_us": at[keep][order],
        "reason": reason[keep][order],
        "amount": amount[keep][order],
    }


def planted_rates(
    mql_channel: np.ndarray,
    mql_p_sql: np.ndarray,
    sql_channel: np.ndarray,
    sql_p_customer: np.ndarray,
    leads_per_channel: np.ndarray,
) -> list[tuple[str, str, float]]:
    """Return (metric, channel, value) rows: mean planted rates over the mature cohorts (each
    lead's channel and planted chance, in the order make_stages gives them, unit by unit: the
    order fixes the float sums), and the cost per lead, overall weighted by leads per channel."""
    rows = []
    names = [c.name for c in CHANNELS]
    cost = np.array([c.cost_per_lead for c in CHANNELS])
    for metric, channel, p in (
        ("mql_to_sql", mql_channel, mql_p_sql),
        ("sql_to_customer", sql_channel, sql_p_customer),
    ):
        for c, name in enumerate(names):
            if (channel == c).any():
                rows.append((metric, name, float(p[channel == c].mean())))
        if len(p):
            rows.append((metric, "all", float(p.mean())))
    rows += [("cost_per_lead", name, float(cost[c])) for c, name in enumerate(names)]
    # Whole costs per lead: their sum is exact in any order, as a mean over the leads' costs
    total = float(np.dot(leads_per_channel, cost))
    rows.append(("cost_per_lead", "all", total / int(leads_per_channel.sum())))
    return rows


def stages_table(stages: dict[str, np.ndarray], lead_ids: pa.Array, people: Leads) -> pa.Table:
    """Return the stage changes as an Arrow table; amounts become decimals, owners reps."""
    reason = stages["reason"]
    amount = stages["amount"]
    return pa.table(
        {
            "lead_id": pc.take(lead_ids, pa.array(stages["lead"])),
            "stage": dictionary(stages["stage"], STAGES),
            "changed_at": timestamps(stages["changed_us"]),
            "reason": dictionary(np.maximum(reason, 0), REASONS, reason < 0),
            "amount": pa.array(amount, mask=np.isnan(amount)).cast(pa.decimal128(18, 2)),
            "owner": dictionary(people.rep[stages["lead"]], REPS),
        }
    )
