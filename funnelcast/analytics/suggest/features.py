"""The known-outcome leads and their features: who counts, when features are taken, the matrix.

Which leads: those whose outcome is known, created at least `horizon_days` before the data's
as-of moment (by default the 90th percentile of the creation-to-outcome lag, at least the feature
window; 180 days when nobody has reached the outcome yet). A lead counts as converted when it
reached the outcome (SQL, or customer) within horizon_days of its creation, so that old and
recent leads are judged over the same span and the newest known leads are not made to look worse.

When features are taken: at each lead's feature moment, the earlier of its outcome moment and
created_at + window_days (30 by default), counting events strictly before it. That moment can
never follow the outcome, so nothing the lead did because it was already being sold to (the
demo call after qualification, the pricing page a rep sent) can explain its own outcome. A fixed
creation + 30 days for everybody would leak exactly that for the many leads that reach SQL within
a month, and dropping those leads would drop the best buyers. Converted leads are caught at their
peak while the others are looked at on day 30; the hand-made score is compared at the very same
moments, so the comparison between the two stays fair.

Features: one-hot fit attribute values (the attributes fit rules can use) and, per event type,
the events decayed to the feature moment with the current definition's half-life; penalty types
(negative points in the current definition) are counted undecayed, as scoring counts them.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from funnelcast.analytics import metrics
from funnelcast.analytics.suggest.scores import (
    CURRENT_RULE_COLUMNS,
    EVENT_TYPE,
    coded,
    definition_score,
    draft_rules,
)
from funnelcast.data import db

OUTCOMES = ("sql", "customer")
DEFAULT_WINDOW_DAYS = 30.0
DEFAULT_HORIZON_DAYS = 180.0
DEFAULT_HALF_LIFE_DAYS = 30.0
LEADS_PER_FEATURE_QUERY = 250_000
# Each lead's row number in Features.leads: the lead_key of Features.long.
LEAD_KEY = pl.int_range(pl.len(), dtype=pl.Int64).alias("lead_key")


@dataclass(frozen=True)
class Features:
    """Known-outcome leads in creation order, their feature matrix and the current definition."""

    leads: pl.DataFrame  # lead_id, created_at, recorded_mql_at, outcome_at, converted, feature_at
    # column_index, attribute, value, current_points, current_cap, current_disqualifies
    catalogue: pl.DataFrame
    long: pl.DataFrame  # lead_key (row of leads), column_index, decayed, count_events
    # leads x catalogue: 1 per fit value held; per event type, events as the definition counts them
    x: np.ndarray
    converted: np.ndarray
    current_score: np.ndarray  # the definition's score at feature_at; -inf when disqualified
    definition: dict | None  # the definition in force at as_of (None: there is none)
    as_of: dt.datetime | None
    outcome: str
    horizon_days: float
    window_days: float
    half_life_days: float

    @property
    def columns(self) -> list[tuple[str, str]]:
        """Return the (attribute, value) of each column of x; event types under 'event_type'."""
        return list(self.catalogue.select("attribute", "value").iter_rows())

    def score(self, rules: pl.DataFrame, long: pl.DataFrame | None = None) -> np.ndarray:
        """Return per lead its score under coded rules (see scores.definition_score).

        long: the feature rows to score (default all; leads without rows score 0).
        """
        return definition_score(
            self.long if long is None else long, rules, self.leads.height, self.catalogue.height
        )


def known_outcome_features(
    cur: duckdb.DuckDBPyConnection,
    *,
    outcome: str = "sql",
    horizon_days: float | None = None,
    window_days: float = DEFAULT_WINDOW_DAYS,
) -> Features:
    """Return the known-outcome leads' features, outcomes and current scores (see the docstring)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    if not window_days > 0:
        raise ValueError(f"window_days must be > 0, not {window_days}")
    ctx = metrics.load_context(cur)
    definition = ctx.definition
    half_life = definition["half_life_days"] if definition else DEFAULT_HALF_LIFE_DAYS
    if horizon_days is None:
        lag = db.run(cur, "outcome_lag", outcome=outcome)["p90_days"][0]
        horizon_days = max(window_days, math.ceil(lag)) if lag is not None else DEFAULT_HORIZON_DAYS
    elif not horizon_days >= window_days:
        raise ValueError(
            f"horizon_days ({horizon_days}) must be at least window_days ({window_days})"
        )
    if ctx.as_of is None:
        leads = pl.DataFrame(
            schema={
                "lead_id": pl.String,
                "created_at": pl.Datetime("us"),
                "recorded_mql_at": pl.Datetime("us"),
                "outcome_at": pl.Datetime("us"),
                "converted": pl.Boolean,
                "feature_at": pl.Datetime("us"),
            }
        )
    else:
        leads = db.run(
            cur,
            "known_outcome_leads",
            outcome=outcome,
            created_before=ctx.as_of - dt.timedelta(days=horizon_days),
            horizon_days=float(horizon_days),
            window_days=float(window_days),
        )
    definition_id = definition["definition_id"] if definition else None
    catalogue = (
        db.run(cur, "feature_catalogue", definition_id=definition_id)
        .with_row_index("column_index")
        .with_columns(pl.col("column_index").cast(pl.Int64))
    )
    moments = leads.select(LEAD_KEY, "lead_id", "feature_at")
    cur.register("feature_columns", catalogue.select("column_index", "attribute", "value"))
    parts = []
    try:
        # In batches of leads: DuckDB's working memory for the events join follows the batch
        # (at a million leads this takes 450 MB off the peak, at no cost in time).
        for start in range(0, max(moments.height, 1), LEADS_PER_FEATURE_QUERY):
            cur.register("feature_moments", moments.slice(start, LEADS_PER_FEATURE_QUERY))
            try:
                parts.append(db.run(cur, "lead_features", half_life_days=float(half_life)))
            finally:
                cur.unregister("feature_moments")
    finally:
        cur.unregister("feature_columns")
    # one chunk, so that its columns reach numpy without a copy each time
    long = pl.concat(parts, rechunk=True)
    # the model sees each event type as the current definition counts it: penalties undecayed
    is_penalty = (
        (catalogue["attribute"] == EVENT_TYPE) & (catalogue["current_points"] < 0)
    ).to_numpy()
    x = np.zeros((leads.height, catalogue.height), dtype=np.float32)
    keys, cols = long["lead_key"].to_numpy(), long["column_index"].to_numpy()
    x[keys, cols] = np.where(
        is_penalty[cols], long["count_events"].to_numpy(), long["decayed"].to_numpy()
    )
    current = definition_score(
        long,
        catalogue.select("column_index", "attribute", *CURRENT_RULE_COLUMNS),
        leads.height,
        catalogue.height,
    )
    return Features(
        leads=leads,
        catalogue=catalogue,
        long=long,
        x=x,
        converted=leads["converted"].to_numpy().astype(bool),
        current_score=current,
        definition=definition,
        as_of=ctx.as_of,
        outcome=outcome,
        horizon_days=float(horizon_days),
        window_days=float(window_days),
        half_life_days=float(half_life),
    )


def score_draft(features: Features, draft: dict) -> np.ndarray:
    """Return each known lead's score at its feature moment under a draft; -inf if disqualified.

    draft: {"fit_rules": [(attribute, value, points, is_disqualifier)],
    "behaviour_rules": [(event_type, points, cap or None)]}, scored as queries/lead_scores.sql
    would score it saved as a definition with the features' half-life.
    """
    return features.score(coded(features.catalogue, draft_rules(draft)))
