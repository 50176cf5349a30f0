"""MQL moments in linear time: the same answer as queries/computed_mql_moments.sql, faster.

The SQL checks a lead's score at each of its moments against every earlier event, which costs
events² per lead. Here each lead and event type keeps one running sum instead, using
    sum_i 2^(-(c - t_i) / h)  =  2^(-(c - r) / h) * sum_i 2^((t_i - r) / h)
with r the type's first event for that lead, and an as-of join finds each type's running sum at
every check moment. Penalties (negative points) do not decay, as in the SQL. Tests hold the two
paths equal on random data and on the demo history.
"""

from __future__ import annotations

import duckdb
import polars as pl

from funnelcast.data import db

US_PER_DAY = 86_400_000_000
# 2^1000 is close to the largest double: a lead whose events of one type span more half-lives
# than this cannot be summed this way.
MAX_EXPONENT = 1000.0


class SpanTooLong(ValueError):
    """A lead's events of one type span more half-lives than running sums can hold."""


def mql_moments(
    fit: pl.DataFrame, events: pl.DataFrame, *, threshold: float, half_life_days: float
) -> pl.DataFrame:
    """Return (lead_id, mql_at, score_at_mql) for each lead whose score reaches the threshold.

    fit: lead_id, created_at, fit_points, is_disqualified (queries/lead_fit_points.sql);
    events: lead_id, event_type, occurred_at, points, cap_points, count_events
    (queries/scoring_events.sql).
    """
    eligible = (
        fit.filter(~pl.col("is_disqualified"))
        .select("lead_id", pl.col("created_at").cast(pl.Int64).alias("created_us"), "fit_points")
        .with_row_index("lead_key")
    )
    rules = (
        events.select("event_type", "points", "cap_points")
        .unique("event_type")
        .sort("event_type")
        .with_row_index("type")
        .with_columns(pl.col("type").cast(pl.Int64))
    )
    days = lambda us: us.cast(pl.Float64) / US_PER_DAY / half_life_days  # noqa: E731

    # one running sum per lead and event type, kept on integer keys for speed
    scored = (
        events.join(eligible.select("lead_id", "lead_key", "created_us"), on="lead_id")
        .join(rules.select("event_type", "type"), on="event_type")
        .select(
            "lead_key",
            "created_us",
            "type",
            pl.col("occurred_at").cast(pl.Int64).alias("t_us"),
            "points",
            "count_events",
        )
        .with_columns(
            (pl.col("lead_key").cast(pl.Int64) * rules.height + pl.col("type")).alias("group")
        )
        .sort("group", "t_us")
        .with_columns(pl.col("t_us").first().over("group").alias("ref_us"))
    )
    span = scored.select(days(pl.col("t_us") - pl.col("ref_us")).max()).item()
    if span is not None and span > MAX_EXPONENT:
        raise SpanTooLong(
            f"a lead's events of one type span {span:.0f} half-lives, more than the in-memory "
            f"scorer can sum ({MAX_EXPONENT:.0f}); use queries/computed_mql_moments.sql"
        )
    scored = scored.with_columns(
        pl.when(pl.col("points") < 0)
        .then(pl.col("count_events").cast(pl.Float64))
        .otherwise(pl.col("count_events") * (2.0 ** days(pl.col("t_us") - pl.col("ref_us"))))
        .cum_sum()
        .over("group")
        .alias("running")
    )

    # The check moments are creation and every scoring event at or after it (a moment shared by
    # two event types is checked twice, to the same score: cheaper than removing it). Laid out on one
    # timeline per lead with the events (an event sorts before a check at the same moment, so
    # the check counts it), a forward fill carries each type's latest running sum to the checks.
    checks = pl.concat(
        [
            eligible.select("lead_key", pl.col("created_us").alias("t_us")),
            scored.filter(pl.col("t_us") >= pl.col("created_us")).select("lead_key", "t_us"),
        ]
    )
    timeline = pl.concat(
        [
            scored.select(
                "lead_key", "t_us", "type", "ref_us", "running", pl.lit(False).alias("is_check")
            ),
            checks.with_columns(
                pl.lit(None, pl.Int64).alias("type"),
                pl.lit(None, pl.Int64).alias("ref_us"),
                pl.lit(None, pl.Float64).alias("running"),
                pl.lit(True).alias("is_check"),
            ),
        ]
    ).sort("lead_key", "t_us", "is_check")
    # one event type at a time, so only a few timeline-long columns exist at once
    timeline = timeline.with_columns(pl.lit(0.0).alias("behaviour"))
    for code, _, points, cap_points in rules.rows():
        of_type = pl.col("type") == code
        # the latest event of this type so far, if it belongs to the same lead
        owner = pl.when(of_type).then(pl.col("lead_key")).forward_fill()
        running = pl.when(of_type).then(pl.col("running")).forward_fill()
        ref_us = pl.when(of_type).then(pl.col("ref_us")).forward_fill()
        decay = pl.lit(1.0) if points < 0 else 2.0 ** -days(pl.col("t_us") - ref_us)
        value = pl.when(owner == pl.col("lead_key")).then(points * running * decay).otherwise(0.0)
        if cap_points is not None:
            value = pl.min_horizontal(value, pl.lit(cap_points))
        timeline = timeline.with_columns(pl.col("behaviour") + value)
    scores = (
        timeline.filter("is_check")
        .join(eligible.select("lead_key", "lead_id", "fit_points"), on="lead_key")
        .select(
            "lead_id",
            "lead_key",
            "t_us",
            (pl.col("fit_points") + pl.col("behaviour"))
            .round(6, mode="half_away_from_zero")
            .alias("score"),
        )
    )
    return (
        scores.filter(pl.col("score") >= threshold)
        .sort("lead_key", "t_us")
        .group_by("lead_key", maintain_order=True)
        .first()
        .sort("lead_id")
        .select(
            "lead_id",
            pl.col("t_us").cast(pl.Datetime("us")).alias("mql_at"),
            pl.col("score").alias("score_at_mql"),
        )
    )


def computed_mql_moments(
    cur: duckdb.DuckDBPyConnection, definition_id: int, threshold: float | None = None
) -> pl.DataFrame:
    """Return the MQL moments a stored definition computes (at its own threshold by default)."""
    rows = cur.execute(
        "select threshold, half_life_days from definitions where definition_id = $id",
        {"id": definition_id},
    ).fetchall()
    if not rows:
        raise db.FunnelcastError(f"no MQL definition with id {definition_id}")
    own_threshold, half_life_days = rows[0]
    try:
        return mql_moments(
            db.run(cur, "lead_fit_points", definition_id=definition_id),
            db.run(cur, "scoring_events", definition_id=definition_id),
            threshold=own_threshold if threshold is None else threshold,
            half_life_days=half_life_days,
        )
    except SpanTooLong:
        # years of events under a short half-life: the pairwise SQL is slower but always sums
        return db.run(cur, "computed_mql_moments", definition_id=definition_id, threshold=threshold)
