"""suggest_weights: the model fitted on the older known leads, turned into a draft definition
and compared with the current one on the newest (see the package's docstring for the method).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import cast

import duckdb
import numpy as np
import polars as pl

from funnelcast.analytics.suggest.evaluation import auc, lifts, operating_points
from funnelcast.analytics.suggest.features import (
    DEFAULT_WINDOW_DAYS,
    Features,
    known_outcome_features,
    score_draft,
)
from funnelcast.analytics.suggest.logistic import fit_logistic
from funnelcast.analytics.suggest.scores import EVENT_TYPE
from funnelcast.analytics.suggest.volume import match_mql_volume, threshold_for_share
from funnelcast.definitions import scoring

HOLD_OUT_SHARE = 0.25
# Below these counts a fitted weight or a held-out AUC says more about chance than about buyers.
MIN_KNOWN_LEADS = 200
MIN_TRAIN_POSITIVES = 30
MIN_HELD_OUT_POSITIVES = 10
MAX_POINTS = 100
# A fit value becomes a disqualifier when none of its training leads converted although at the
# overall rate this many would have: the chance of that by luck alone is about e^-5 < 1%.
DISQUALIFY_EXPECTED = 5.0
SCORES = ("model", "draft", "current")


@dataclass(frozen=True)
class Suggestion:
    """What suggest_weights found: counts, whether to trust it, scores compared, a draft."""

    outcome: str
    as_of: dt.datetime | None
    horizon_days: float
    window_days: float
    half_life_days: float
    definition_id: int | None
    known_leads: int
    train_leads: int
    held_out_leads: int
    train_converted: int
    held_out_converted: int
    held_out_from: dt.datetime | None  # creation moment of the oldest held-out lead
    too_thin: bool
    why: str  # the reasons history is too thin, as sentences; "" when it is not
    auc: dict[str, float | None]  # held-out AUC per score: model, draft, current
    lift: pl.DataFrame  # score, decile (1 = top), leads, converted, rate, lift
    # share of the training leads that reach MQL by as_of: current and draft (None: not measured)
    mql_share: dict[str, float | None]
    # score (draft, current), threshold, then over the held-out leads at or above it at their
    # feature moments: how many (mqls), their share, their conversion rate, share of conversions
    operating_points: pl.DataFrame
    # attribute, value, coefficient, points, is_disqualifier, current_points,
    # current_disqualifies, train_leads, train_rate: one row per fit value and event type
    weights: pl.DataFrame
    draft: dict  # threshold, half_life_days, fit_rules, behaviour_rules (see suggest_weights)


def suggest_weights(
    cur: duckdb.DuckDBPyConnection,
    *,
    outcome: str = "sql",
    horizon_days: float | None = None,
    window_days: float = DEFAULT_WINDOW_DAYS,
    hold_out_share: float = HOLD_OUT_SHARE,
    l2: float = 1.0,
    points_per_doubling: float = 10.0,
    target_mql_share: float | None = None,
) -> Suggestion:
    """Return the model fitted on known-outcome history, its held-out comparison and its draft.

    The draft is a plain dict: {"threshold": float, "half_life_days": float, "fit_rules":
    [(attribute, value, points, is_disqualifier)], "behaviour_rules": [(event_type, points,
    None)]}, points whole numbers within [-100, 100], rules of 0 points left out.
    """
    if not 0 < hold_out_share < 1:
        raise ValueError(f"hold_out_share must be between 0 and 1, not {hold_out_share}")
    if target_mql_share is not None and not 0 <= target_mql_share <= 1:
        raise ValueError(f"target_mql_share must be between 0 and 1, not {target_mql_share}")
    if not points_per_doubling > 0:
        raise ValueError(f"points_per_doubling must be > 0, not {points_per_doubling}")
    features = known_outcome_features(
        cur, outcome=outcome, horizon_days=horizon_days, window_days=window_days
    )
    n = features.leads.height
    n_test = math.ceil(n * hold_out_share) if n else 0
    # leads come in creation order: the newest are held out (slices, not masks: no copies)
    train, test = slice(0, n - n_test), slice(n - n_test, n)
    y = features.converted
    # Behaviour counts are standardised, each type's units being its own; fit values are 0/1
    # indicators, penalised as they are: scaled by their spread, a value only 16 leads have
    # could swing a score by 60 points on no evidence.
    is_behaviour = np.array([a == EVENT_TYPE for a, _ in features.columns], dtype=bool)
    intercept, beta = fit_logistic(features.x[train], y[train], l2=l2, standardise=is_behaviour)

    weights = _weights(features, beta, train, points_per_doubling)
    kept = weights.filter((pl.col("points") != 0) | pl.col("is_disqualifier"))
    rules = {
        "fit_rules": [
            (a, v, p, d)
            for a, v, p, d in kept.filter(pl.col("attribute") != EVENT_TYPE)
            .select("attribute", "value", "points", "is_disqualifier")
            .iter_rows()
        ],
        "behaviour_rules": [
            (v, p, None)
            for v, p in kept.filter(pl.col("attribute") == EVENT_TYPE)
            .select("value", "points")
            .iter_rows()
        ],
    }
    draft_score = score_draft(features, rules)
    current_threshold = features.definition["threshold"] if features.definition else None
    target = target_mql_share
    if target is None and features.definition is None:
        # with no definition to match, match the MQLs the CRM recorded
        recorded = features.leads["recorded_mql_at"][train].is_not_null().mean()
        target = float(cast(float, recorded) or 0.0)  # polars types mean() as any literal
    try:
        matched = match_mql_volume(cur, features, n - n_test, rules, target)
    except scoring.SpanTooLong:
        matched = None
    if matched is None:
        # no training leads, or histories the scorer cannot sum: match at the feature moments
        if target is None and n > n_test:
            target = float(np.mean(features.current_score[train] >= current_threshold))
        threshold = threshold_for_share(draft_score[train], target or 0.0)
        mql_share: dict[str, float | None] = {"current": None, "draft": None}
    else:
        threshold, mql_share = matched
    draft = {"threshold": threshold, "half_life_days": features.half_life_days, **rules}

    model_score = intercept + features.x[test] @ beta if n_test else np.zeros(0)
    scores = {"model": model_score, "draft": draft_score[test]}
    if features.definition is not None:
        scores["current"] = features.current_score[test]
    thresholds = {"draft": threshold}
    if current_threshold is not None:
        thresholds["current"] = current_threshold
    too_thin, why = _thinness(features, n - n_test, int(y[train].sum()), n_test, int(y[test].sum()))
    return Suggestion(
        outcome=outcome,
        as_of=features.as_of,
        horizon_days=features.horizon_days,
        window_days=features.window_days,
        half_life_days=features.half_life_days,
        definition_id=features.definition["definition_id"] if features.definition else None,
        known_leads=n,
        train_leads=n - n_test,
        held_out_leads=n_test,
        train_converted=int(y[train].sum()),
        held_out_converted=int(y[test].sum()),
        held_out_from=features.leads["created_at"][n - n_test] if n_test else None,
        too_thin=too_thin,
        why=why,
        auc={name: auc(scores[name], y[test]) if name in scores else None for name in SCORES},
        lift=lifts(scores, y[test]),
        mql_share=mql_share,
        operating_points=operating_points(scores, y[test], thresholds),
        weights=weights,
        draft=draft,
    )


def _weights(
    features: Features, beta: np.ndarray, train: slice, points_per_doubling: float
) -> pl.DataFrame:
    """Return per feature: log-odds per unit, points, current points, training leads and rate."""
    x_train, y_train = features.x[train], features.converted[train]
    held = np.count_nonzero(x_train, axis=0)
    hits = np.count_nonzero(x_train[y_train], axis=0)
    overall = float(y_train.mean()) if len(y_train) else 0.0
    points = np.clip(np.round(beta * points_per_doubling / math.log(2)), -MAX_POINTS, MAX_POINTS)
    is_fit = (features.catalogue["attribute"] != EVENT_TYPE).to_numpy()
    disqualifier = is_fit & (hits == 0) & (held * overall >= DISQUALIFY_EXPECTED)
    return features.catalogue.select(
        "attribute",
        "value",
        pl.Series("coefficient", beta, dtype=pl.Float64),
        # a disqualifier's points would never count: 0 says so
        pl.Series("points", np.where(disqualifier, 0, points), dtype=pl.Int64),
        pl.Series("is_disqualifier", disqualifier, dtype=pl.Boolean),
        "current_points",
        "current_disqualifies",
        pl.Series("train_leads", held, dtype=pl.Int64),
        pl.Series(
            "train_rate",
            [h / c if c else None for h, c in zip(hits, held, strict=True)],
            dtype=pl.Float64,
        ),
    )


def _thinness(
    features: Features, n_train: int, train_hits: int, n_test: int, test_hits: int
) -> tuple[bool, str]:
    """Return whether history is too thin to trust the suggestion, and why, in sentences."""
    outcome = "SQL" if features.outcome == "sql" else "customer"
    n = n_train + n_test
    reasons = []
    if n < MIN_KNOWN_LEADS:
        reasons.append(
            f"Only {n} leads were created at least {features.horizon_days:.0f} days before the "
            f"data's as-of day, so only they have a known outcome; at least {MIN_KNOWN_LEADS} "
            f"are needed."
        )
    if train_hits < MIN_TRAIN_POSITIVES:
        reasons.append(
            f"Only {train_hits} of the older leads the model learns from reached {outcome}; "
            f"weights learnt from fewer than {MIN_TRAIN_POSITIVES} are mostly chance."
        )
    if test_hits < MIN_HELD_OUT_POSITIVES:
        reasons.append(
            f"Only {test_hits} of the {n_test} newest leads held out to test it reached "
            f"{outcome}; an AUC or lift measured on fewer than {MIN_HELD_OUT_POSITIVES} says "
            f"little."
        )
    for hits, count, which in ((train_hits, n_train, "training"), (test_hits, n_test, "held-out")):
        if count and hits == count:
            reasons.append(f"Every {which} lead reached {outcome}, so nothing tells them apart.")
    return bool(reasons), " ".join(reasons)
