"""The Threshold Lab's calendar: the days and fiscal quarters a history covers, with each
quarter's spend and whether its MQL cohort is mature.

Day 0 is the first quarter's first day; moments are microseconds since the epoch (UTC, no time
zone, as the database stores them), and a day index is (moment - day 0) // DAY_US.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np

from funnelcast.analytics import metrics
from funnelcast.core import periods
from funnelcast.data import db
from funnelcast.lab._fast import DAY_US, NEVER


@dataclass(frozen=True)
class Calendar:
    """Days and fiscal quarters of the data: day 0 is the first quarter's first day."""

    quarters: list[periods.Quarter]
    day0: dt.date
    as_of: dt.datetime | None
    quarter_start_day: np.ndarray  # day index where each quarter starts, plus the end
    quarter_of_day: np.ndarray  # quarter index of each day
    is_mature: np.ndarray  # per quarter: its MQL cohort has had time to convert
    spend: np.ndarray  # per quarter
    # what it was made from (calendar_parts): a kept history keeps these (lab.stored)
    parts: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_days(self) -> int:
        """Return the number of days the quarters cover."""
        return len(self.quarter_of_day)

    def day_of(self, us: np.ndarray) -> np.ndarray:
        """Return the day index of moments in microseconds since the epoch."""
        return (us - day_us(self.day0)) // DAY_US

    def quarter_indices(self, labels: Sequence[str] | None) -> np.ndarray:
        """Return the indices of quarters by label (all quarters for None)."""
        if labels is None:
            return np.arange(len(self.quarters))
        index = {q.label: i for i, q in enumerate(self.quarters)}
        unknown = [label for label in labels if label not in index]
        if unknown:
            span = f"{self.quarters[0].label} to {self.quarters[-1].label}"
            raise metrics.MetricsInputError(
                f"quarter {', '.join(unknown)} is not in the data ({span})"
            )
        return np.array(sorted({index[label] for label in labels}), dtype=np.int64)


def calendar_of(cur: duckdb.DuckDBPyConnection, moments: Iterable[np.ndarray]) -> Calendar:
    """Return the data's quarters, stretched to hold these moments (us; NEVER: none), with
    spend and cohort maturity per quarter."""
    return calendar_from(calendar_parts(cur, moments))


def calendar_parts(cur: duckdb.DuckDBPyConnection, moments: Iterable[np.ndarray]) -> dict:
    """Return what a Calendar is made from that depends on the data alone (JSON, so that a
    kept history keeps it under the data's version: lab.stored): the first and last days the
    quarters hold, the fiscal year's first month, spend per quarter, the days within which a
    cohort matures and the data's as-of moment. Today, which moves maturity, is not in it."""
    ctx = metrics.load_context(cur)
    if not ctx.quarters:
        raise db.FunnelcastError("the database has no leads: load leads to use the Threshold Lab")
    # a stage change may come before the first lead or after the last activity
    known = np.concatenate([us[us != NEVER] for us in moments])
    first, last = (
        (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(f(known)))).date()
        for f in (np.min, np.max)
    )
    first = min(first, ctx.quarters[0].start)
    last = max(last, ctx.quarters[-1].end - dt.timedelta(days=1))
    quarters = periods.quarters_between(first, last, ctx.fy_start_month)
    spend_rows = db.run(cur, "spend_by_quarter", fy_start_month=ctx.fy_start_month)
    by_start = dict(spend_rows.select("quarter_start", "spend").rows())
    return {
        "first": first.isoformat(),
        "last": last.isoformat(),
        "fy_start_month": ctx.fy_start_month,
        "spend": [float(by_start.get(q.start, 0.0)) for q in quarters],
        # as metrics.funnel_by_quarter: a quarter is mature once 90% of past MQL-to-customer
        # journeys would have closed after its end
        "mature_days": metrics.maturity_days(cur, db.run(cur, "recorded_mql_moments")),
        "as_of": None if ctx.as_of is None else ctx.as_of.isoformat(),
    }


def calendar_from(parts: dict, now: dt.datetime | None = None) -> Calendar:
    """Return the Calendar calendar_parts' parts make, its cohorts' maturity judged at the
    data's as-of moment or, where it has none, at now (default: the current moment)."""
    quarters = periods.quarters_between(
        dt.date.fromisoformat(parts["first"]),
        dt.date.fromisoformat(parts["last"]),
        int(parts["fy_start_month"]),
    )
    day0 = quarters[0].start
    starts = np.array([(q.start - day0).days for q in quarters] + [(quarters[-1].end - day0).days])
    quarter_of_day = np.repeat(np.arange(len(quarters)), np.diff(starts))
    stored_as_of = parts["as_of"]
    as_of = None if stored_as_of is None else dt.datetime.fromisoformat(stored_as_of)
    judged_at = as_of or now or utc_now()
    mature_days = float(parts["mature_days"])
    return Calendar(
        quarters=quarters,
        day0=day0,
        as_of=as_of,
        quarter_start_day=starts,
        quarter_of_day=quarter_of_day,
        is_mature=np.array(
            [
                dt.datetime.combine(q.end, dt.time()) + dt.timedelta(days=mature_days) <= judged_at
                for q in quarters
            ]
        ),
        spend=np.array([float(x) for x in parts["spend"]]),
        parts=parts,
    )


def utc_now() -> dt.datetime:
    """Return the current moment in UTC, without a time zone, as the database stores times."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def day_us(day: dt.date) -> int:
    """Return microseconds since the epoch at midnight UTC starting day."""
    return (day - dt.date(1970, 1, 1)).days * DAY_US
