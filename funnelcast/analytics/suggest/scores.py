"""Scoring the known leads' behaviour under a definition's rules, as queries/lead_scores.sql
scores a lead at one moment: per event type points x decayed count (x count for penalties,
which do not decay), capped.

Rules come as frames (attribute, value, points, cap, disqualifies): the current definition's
from the feature catalogue, a draft's from its behaviour rules (behaviour_rules). Fit rules on
lead fields are scored in funnelcast.analytics.suggest.draft.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

from funnelcast.definitions import BehaviourRule

EVENT_TYPE = "event_type"
# The current definition's rules in the feature catalogue, under the names rules frames use.
CURRENT_RULE_COLUMNS = (
    pl.col("current_points").alias("points"),
    pl.col("current_cap").alias("cap"),
    pl.col("current_disqualifies").alias("disqualifies"),
)


def definition_score(
    long: pl.DataFrame, rules: pl.DataFrame, n_leads: int, n_columns: int
) -> np.ndarray:
    """Return per lead the score its behaviour gets under rules (-inf where a rule disqualifies).

    long: lead_key, column_index, decayed, count_events (Features.long); rules: column_index,
    attribute, points, cap, disqualifies, for the catalogue's columns that have a rule.
    """
    index = rules["column_index"].to_numpy()
    points, cap = np.zeros(n_columns), np.full(n_columns, np.inf)
    is_behaviour, disqualifies = np.zeros(n_columns, dtype=bool), np.zeros(n_columns, dtype=bool)
    points[index] = rules["points"].to_numpy()
    cap[index] = rules["cap"].fill_null(np.inf).to_numpy()
    is_behaviour[index] = (rules["attribute"] == EVENT_TYPE).to_numpy()
    disqualifies[index] = rules["disqualifies"].to_numpy()
    # numpy on the long rows' column codes rather than a join: at a million leads they are
    # ten million rows, and every joined copy of them would cost hundreds of megabytes
    cols, keys = long["column_index"].to_numpy(), long["lead_key"].to_numpy()
    behaviour = is_behaviour[cols]
    contribution = np.where(behaviour, long["decayed"].to_numpy(), 1.0)
    penalty = behaviour & (points[cols] < 0)
    contribution[penalty] = long["count_events"].to_numpy()[penalty]
    contribution *= points[cols]
    capped = np.isfinite(cap)[cols]
    contribution[capped] = np.minimum(contribution[capped], cap[cols[capped]])
    # float even when there are no rows (bincount of nothing is integer)
    score = np.bincount(keys, weights=contribution, minlength=n_leads).astype(np.float64)
    score = np.round(score, 6)
    score[keys[disqualifies[cols]]] = -np.inf
    return score


def behaviour_rules(rules: Iterable[BehaviourRule]) -> pl.DataFrame:
    """Return behaviour rules as a rules frame: attribute, value, points, cap, disqualifies."""
    return pl.DataFrame(
        [(EVENT_TYPE, r.event_type, float(r.points), r.cap, False) for r in rules],
        schema={
            "attribute": pl.String,
            "value": pl.String,
            "points": pl.Float64,
            "cap": pl.Float64,
            "disqualifies": pl.Boolean,
        },
        orient="row",
    )


def coded(catalogue: pl.DataFrame, rules: pl.DataFrame) -> pl.DataFrame:
    """Return the rules that match a feature of the catalogue, with its column_index."""
    return catalogue.select("column_index", "attribute", "value").join(
        rules, on=["attribute", "value"]
    )
