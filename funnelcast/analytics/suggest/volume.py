"""The draft's threshold: as many MQLs as the current definition makes, or a target share (the
one stated, else the share that maximises F1 on the training leads).

Both are scored over the training leads' whole history up to as_of with
funnelcast.definitions.scoring's MQL moments, on a random sample of up to VOLUME_SAMPLE_LEADS
training leads, the draft's threshold found by bisection. Where that scorer cannot sum a history
(SpanTooLong), threshold_for_share matches the volume at the feature moments instead.
"""

from __future__ import annotations

import math

import duckdb
import numpy as np
import polars as pl

from funnelcast.analytics.suggest.features import LEAD_KEY, Features
from funnelcast.data import db
from funnelcast.definitions import Definition, scoring

# Training leads the MQL volume is matched on: a share within about 1% of the whole training
# period's, scored ten times over in about a second.
VOLUME_SAMPLE_LEADS = 10_000


def match_mql_volume(
    cur: duckdb.DuckDBPyConnection,
    features: Features,
    n_train: int,
    draft: Definition,
    draft_fit: np.ndarray,
    target_share: float | None,
) -> tuple[float, dict[str, float | None]] | None:
    """Return the draft's threshold for the current (or target) MQL share, and both shares.

    draft_fit: each known lead's fit points under the draft (-inf: disqualified). Shares are of
    the training leads reaching MQL by as_of; target_share None means the current definition's,
    which then must exist. None when there are no training leads; raises scoring.SpanTooLong
    where a history is too long for the scorer.
    """
    if n_train == 0:
        return None
    keys = np.arange(n_train)
    if n_train > VOLUME_SAMPLE_LEADS:
        keys = np.sort(np.random.default_rng(0).choice(n_train, VOLUME_SAMPLE_LEADS, replace=False))
    sample = features.leads.select(LEAD_KEY, "lead_id", "created_at")[keys]
    cur.register("chosen_leads", sample.select("lead_id"))
    try:
        events = db.run(cur, "lead_events")
    finally:
        cur.unregister("chosen_leads")

    def share_of_mqls(fit: np.ndarray, behaviour: pl.DataFrame, threshold: float) -> float:
        """Return the share of the sampled leads whose score reaches threshold by as_of."""
        moments = scoring.mql_moments(
            sample.select(
                "lead_id",
                "created_at",
                pl.Series("fit_points", np.where(np.isinf(fit), 0.0, fit)),
                pl.Series("is_disqualified", np.isinf(fit)),
            ),
            events.join(behaviour, on="event_type"),
            threshold=threshold,
            half_life_days=features.half_life_days,
        )
        return moments.height / len(keys)

    current = None
    if features.definition is not None:
        current_behaviour = features.catalogue.filter(pl.col("current_points") != 0).select(
            pl.col("value").alias("event_type"),
            pl.col("current_points").alias("points"),
            pl.col("current_cap").alias("cap_points"),
        )
        current = share_of_mqls(
            features.current_fit[keys], current_behaviour, features.definition["threshold"]
        )
    wanted = current if target_share is None else target_share
    assert wanted is not None  # the caller gives a target share when there is no definition
    draft_behaviour = pl.DataFrame(
        [(r.event_type, float(r.points), r.cap) for r in draft.behaviour_rules],
        schema={"event_type": pl.String, "points": pl.Float64, "cap_points": pl.Float64},
        orient="row",
    )
    fit = draft_fit[keys]
    shares: dict[int, float] = {}

    def share_at(threshold: int) -> float:
        """Return the draft's MQL share at a whole-number threshold, each computed once."""
        if threshold not in shares:
            shares[threshold] = share_of_mqls(fit, draft_behaviour, float(threshold))
        return shares[threshold]

    # the share falls as the threshold rises: bracket the wanted share, then bisect
    low, high = 0, 64
    if share_at(low) <= wanted:
        high = low
    while share_at(high) > wanted and high < 2**20:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if share_at(middle) > wanted:
            low = middle
        else:
            high = middle
    best = min((low, high), key=lambda t: (abs(share_at(t) - wanted), t))
    return float(best), {"current": current, "draft": share_at(best)}


def threshold_for_share(score: np.ndarray, share: float) -> float:
    """Return the whole-number threshold (>= 0) putting about share of the scores at or above it."""
    eligible = np.sort(score[np.isfinite(score)])[::-1]
    wanted = round(share * len(score))
    if not len(eligible):
        return 0.0
    if wanted == 0:
        return float(max(0, math.floor(eligible[0]) + 1))
    return float(max(0, math.floor(eligible[min(wanted, len(eligible)) - 1])))
