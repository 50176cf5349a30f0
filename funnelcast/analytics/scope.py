"""What every funnel figure is scoped by: the breakdowns a user may choose (a fixed list, so a
query only ever receives one of its values), the data's as-of moment, quarter labels for
quarter-start dates and the one-quarter filter. The funnel, cohorts, journeys and hand-off use it.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from funnelcast.core.periods import quarter_of
from funnelcast.data.context import DataContext, MetricsInputError

# The breakdowns a user may choose: name -> (the segment queries/funnel_steps.sql knows, label).
# The query receives only values of this table, never the user's text.
DIMENSIONS: dict[str, tuple[str, str]] = {
    "channel": ("channel", "Channel"),
    "campaign": ("campaign", "Campaign"),
    "seniority": ("seniority", "Seniority"),
    "company_size": ("company_size_band", "Company size"),
    "industry": ("industry", "Industry"),
    "region": ("region", "Region"),
}


class FunnelInputError(MetricsInputError):
    """A breakdown or grain the funnel cannot use."""


def segment_of(by: str | None) -> str | None:
    """Return the segment name the funnel query knows for a breakdown name (None: no breakdown)."""
    if by is None:
        return None
    if by not in DIMENSIONS:
        raise FunnelInputError(f"unknown breakdown {by!r} (choose one of: {', '.join(DIMENSIONS)})")
    return DIMENSIONS[by][0]


def summed_over_channels(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Return a query's rows that carry the lead's channel (its counts add over channels)
    summed over their channels, by keys, in the keys' order: the counts of the leads in scope
    (the raw rows of one channel or all, or a kept summary's rows of the channels in scope)."""
    return (
        frame.group_by(keys).agg(pl.exclude([*keys, "channel"]).sum()).sort(keys, nulls_last=True)
    )


def with_quarter_labels(frame: pl.DataFrame, ctx: DataContext, column: str) -> pl.DataFrame:
    """Return frame with a quarter label column for its quarter-start dates."""
    starts = frame[column].drop_nulls().unique().to_list()
    labels = {s: quarter_of(s, ctx.fy_start_month).label for s in starts}
    return frame.with_columns(
        pl.col(column).replace_strict(labels, default=None, return_dtype=pl.String).alias("quarter")
    )


def as_of_moment(ctx: DataContext) -> dt.datetime:
    """Return the data's now; the wall clock only for a database without any activity."""
    return ctx.as_of or dt.datetime.now(dt.UTC).replace(tzinfo=None)


def in_period(frame: pl.DataFrame, quarter: str | None) -> pl.DataFrame:
    """Return the rows of one quarter (by label), or all rows for all history."""
    return frame if quarter is None else frame.filter(pl.col("quarter") == quarter)
