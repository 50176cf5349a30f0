"""The demo's MQL moments straight from a block's generated arrays: the same numbers, bit for bit,
as funnelcast.definitions.scoring.mql_moments gives from the database's rows, without writing the
events anywhere first or joining on lead-id strings.

The arithmetic is the scorer's, operation for operation and in its order, so the floats agree:
per lead and event type a running sum of count x 2^((t - r) / h) in time order (r the type's
first event for the lead; penalties count undecayed), summed one element after another as the
scorer's cum_sum does; at each check moment (the lead's creation and every scoring moment at or
after it) each type adds min(cap, points x running x 2^(-(c - r) / h)) of its latest event at or
before the check, the types added in the order of their names; the score, rounded to 6 places,
is fit points plus that. Additions, products, quotients and minima are exact IEEE operations and
come out the same in numpy; powers and the rounding, whose results depend on the library, are
left to polars, the scorer's own kernels. The check for each type is a forward fill of "latest
event of this type" over the lead's events in time order, as the scorer's timeline does.
tests/test_demo.py holds the demo's tables to their bytes; tests/test_demo_mql.py compares this
with the scorer on demo blocks.
"""

from __future__ import annotations

import numpy as np
import polars as pl

US_PER_DAY = 86_400_000_000
MAX_EXPONENT = 1000.0  # as funnelcast.definitions.scoring: beyond it running sums overflow


def _power_of_two(exponent: np.ndarray) -> np.ndarray:
    """Return 2.0 ** exponent as polars computes `2.0 ** expr` (the scorer's own kernel)."""
    frame = pl.DataFrame({"x": exponent})
    return frame.select(2.0 ** pl.col("x")).to_series().to_numpy()


def _days(us: np.ndarray, half_life_days: float) -> np.ndarray:
    """Return microseconds as half-lives, as the scorer's days(): us / US_PER_DAY / half-life."""
    return us.astype(np.float64) / float(US_PER_DAY) / half_life_days


def mql_moments_us(
    *,
    created_us: np.ndarray,
    fit_points: np.ndarray,
    disqualified: np.ndarray,
    lead: np.ndarray,
    occurred_us: np.ndarray,
    event_type: np.ndarray,
    rules: list[tuple[float, float | None]],
    threshold: float,
    half_life_days: float,
) -> np.ndarray:
    """Return each lead's MQL moment (us), or -1 where its score never reaches the threshold.

    Leads are 0..n-1 (created_us, fit_points as float64 and disqualified hold one value each);
    events are lead (an index), occurred_us and event_type, which indexes rules: (points,
    cap_points or None) per event type, listed in the order of the types' names. Every event's
    type has a rule (the demo's definition scores them all).
    """
    n = len(created_us)
    mql_us = np.full(n, -1, dtype=np.int64)
    eligible = ~disqualified[lead]
    lead, t, kind = lead[eligible], occurred_us[eligible], event_type[eligible]

    # one row per lead, event type and moment, with how many events it holds, sorted by lead,
    # moment and type
    order = _by_lead_moment_type(lead, t, kind)
    lead, t, kind = lead[order], t[order], kind[order]
    new = np.ones(len(lead), dtype=bool)
    new[1:] = (lead[1:] != lead[:-1]) | (t[1:] != t[:-1]) | (kind[1:] != kind[:-1])
    starts = np.flatnonzero(new)
    count = np.diff(np.append(starts, len(lead))).astype(np.float64)
    lead, t, kind = lead[starts], t[starts], kind[starts]
    rows = len(lead)

    # the running sums, per lead and type in time order (a stable sort keeps the time order)
    points = np.array([p for p, _ in rules], dtype=np.float64)
    by_group = np.argsort(lead * len(rules) + kind, kind="stable")
    g_lead, g_kind, g_t = lead[by_group], kind[by_group], t[by_group]
    first = np.ones(rows, dtype=bool)
    first[1:] = (g_lead[1:] != g_lead[:-1]) | (g_kind[1:] != g_kind[:-1])
    group_start = np.maximum.accumulate(np.where(first, np.arange(rows), 0))
    g_ref = g_t[group_start]
    exponent = _days(g_t - g_ref, half_life_days)
    if rows and exponent.max() > MAX_EXPONENT:
        raise ValueError("a lead's events of one type span more half-lives than sums can hold")
    contribution = np.where(
        points[g_kind] < 0, count[by_group], count[by_group] * _power_of_two(exponent)
    )
    g_running = _sequential_group_sums(contribution, np.arange(rows) - group_start)
    running, ref = np.empty(rows), np.empty(rows, dtype=np.int64)
    running[by_group], ref[by_group] = g_running, g_ref

    # the checks: each lead's creation, and each of its rows at or after it; a check sees the
    # rows up to the last one of its lead at its moment
    eligible_leads = np.flatnonzero(~disqualified)
    at_or_after = t >= created_us[lead]
    lead_start = np.searchsorted(lead, eligible_leads, side="left")
    by_creation = np.bincount(lead, weights=t <= created_us[lead], minlength=n)[eligible_leads]
    same_moment_end = np.ones(rows, dtype=bool)
    same_moment_end[:-1] = (lead[1:] != lead[:-1]) | (t[1:] != t[:-1])
    last_at_moment = np.minimum.accumulate(np.where(same_moment_end, np.arange(rows), rows)[::-1])[
        ::-1
    ]
    check_lead = np.concatenate([eligible_leads, lead[at_or_after]])
    check_us = np.concatenate([created_us[eligible_leads], t[at_or_after]])
    seen = np.concatenate(
        [lead_start + by_creation.astype(np.int64) - 1, last_at_moment[at_or_after]]
    )

    behaviour = np.zeros(len(check_lead))
    positions = np.arange(rows)
    for code, (rule_points, cap_points) in enumerate(rules):
        latest = np.maximum.accumulate(np.where(kind == code, positions, -1))
        event = np.where(seen >= 0, latest[np.maximum(seen, 0)], -1)
        has = (event >= 0) & (lead[np.maximum(event, 0)] == check_lead)
        value = np.zeros(len(check_lead))
        own = event[has]
        value[has] = rule_points * running[own]
        if rule_points >= 0:
            value[has] = value[has] * _power_of_two(
                -_days(check_us[has] - ref[own], half_life_days)
            )
        if cap_points is not None:
            value = np.minimum(value, cap_points)
        behaviour = behaviour + value

    total = fit_points[check_lead] + behaviour
    score = pl.Series(total).round(6, mode="half_away_from_zero").to_numpy()
    reached = score >= threshold
    best = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(best, check_lead[reached], check_us[reached])
    hit = best != np.iinfo(np.int64).max
    mql_us[hit] = best[hit]
    return mql_us


def _sequential_group_sums(values: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Return the running sum of values within each group, added one element after another (as
    a cum_sum does; rank: each element's place in its group, groups laid out consecutively)."""
    sums = values.copy()
    by_rank = np.argsort(rank, kind="stable")
    ends = np.searchsorted(rank[by_rank], np.arange(1, rank.max() + 2 if len(rank) else 1))
    for start, stop in zip(ends[:-1], ends[1:], strict=True):
        at = by_rank[start:stop]
        sums[at] = sums[at - 1] + values[at]
    return sums


def _by_lead_moment_type(lead: np.ndarray, t: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Return the order that sorts events by lead, moment and type. Events already sorted by
    lead and whole second (as the demo generates them) sort on one integer key, their run of
    lead and second, then microseconds and type; others by a lexsort."""
    if len(lead) == 0:
        return np.arange(0)
    second = t // 1_000_000
    step = (lead[1:] != lead[:-1]) | (second[1:] != second[:-1])
    in_order = (lead[1:] > lead[:-1]) | ((lead[1:] == lead[:-1]) & (second[1:] >= second[:-1]))
    types = int(kind.max()) + 1
    if not in_order.all() or len(lead) * 1_000_000 * types >= 2**62:
        return np.lexsort((kind, t, lead))
    run = np.concatenate([[0], np.cumsum(step)])
    key = (run * 1_000_000 + (t - second * 1_000_000)) * types + kind
    return np.argsort(key, kind="stable")
