"""suggest_weights: the model fitted on the older known leads, turned into a draft definition
and compared with the current one on the newest (see the package's docstring for the method).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl
import scipy.sparse as sp

from funnelcast.analytics.suggest.draft import (
    draft_definition,
    points_of,
    score_definition,
    weigh_fields,
    weights_frame,
)
from funnelcast.analytics.suggest.encoding import Encoded, encode_fields
from funnelcast.analytics.suggest.evaluation import auc, f1_share, lifts, operating_points
from funnelcast.analytics.suggest.features import (
    DEFAULT_WINDOW_DAYS,
    Features,
    known_outcome_features,
)
from funnelcast.analytics.suggest.logistic import fit_logistic
from funnelcast.analytics.suggest.volume import match_mql_volume, threshold_for_share
from funnelcast.definitions import Definition, limits, scoring

HOLD_OUT_SHARE = 0.25
# Below these counts a fitted weight or a held-out AUC says more about chance than about buyers.
MIN_KNOWN_LEADS = 200
MIN_TRAIN_POSITIVES = 30
MIN_HELD_OUT_POSITIVES = 10
SCORES = ("model", "draft", "current")
# How the draft's threshold was chosen (Suggestion.threshold_basis).
MATCH_CURRENT, STATED_SHARE, BEST_F1, CONVERSION_RATE = (
    "current",
    "stated",
    "f1",
    "conversion rate",
)
LEFT_OUT_SCHEMA = {"field": pl.String, "reason": pl.String}


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
    # share of the training leads that reach MQL by as_of: current and draft (None: not
    # measured), and the share the draft's threshold aimed at (target)
    mql_share: dict[str, float | None]
    threshold_basis: str  # MATCH_CURRENT, STATED_SHARE, BEST_F1 or CONVERSION_RATE
    threshold_why: str  # the same in a sentence, for the page and the JSON
    # score (draft, current), threshold, then over the held-out leads at or above it at their
    # feature moments: how many (mqls), their share, their conversion rate, share of conversions
    operating_points: pl.DataFrame
    # one row per category of each field learnt from and per event type: attribute, op,
    # value, rule, coefficient, points, is_disqualifier, is_reference, current_points (event
    # types), train_leads, train_rate (see draft.weights_frame)
    weights: pl.DataFrame
    left_out: pl.DataFrame  # field, reason: the fields the model did not learn from
    draft: Definition  # an unsaved definition: threshold, half-life, fit and behaviour rules
    fields: dict[str, str]  # every lead field and its type: what the draft validates against


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

    The draft is an unsaved Definition (definitions.validate(draft, suggestion.fields) accepts
    it): fit rules on any lead field (`between` bands, `is` / `is any of` / `is none of` values,
    `is` Yes/No flags, `is unknown`), behaviour rules per event type, points whole numbers
    within [-100, 100], rules of 0 points left out. Its threshold matches the current
    definition's MQL share of the training leads; with target_mql_share, that share; with
    neither, the share that maximises F1 on the training leads (never 0 or 1).
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
    encoded, left_out = encode_fields(features, train, test)
    x, is_behaviour = _design(encoded, features)
    # Behaviour counts are standardised, each type's units being its own; categories are 0/1
    # indicators, penalised as they are: scaled by their spread, a value only 30 leads have
    # could swing a score by 60 points on no evidence.
    intercept, beta = fit_logistic(x[train], y[train], l2=l2, standardise=is_behaviour)
    overall = float(np.mean(y[train])) if n > n_test else 0.0
    weighted = weigh_fields(
        encoded, _per_field(encoded, beta), n - n_test, overall, points_per_doubling
    )
    behaviour_beta = beta[is_behaviour]
    behaviour_points = points_of(behaviour_beta, points_per_doubling)
    rules = draft_definition(
        weighted,
        features.catalogue,
        behaviour_points,
        threshold=0.0,
        half_life_days=features.half_life_days,
        note=_note(features, n - n_test),
    )
    draft_score = score_definition(features, rules)
    draft_fit = score_definition(features, rules, behaviour=False)

    basis = MATCH_CURRENT if features.definition is not None else BEST_F1
    target = target_mql_share
    if target is not None:
        basis = STATED_SHARE
    elif features.definition is None:
        target = f1_share(draft_score[train], y[train])
        if target is None:  # no threshold splits the training leads: their conversion rate
            basis, target = CONVERSION_RATE, min(max(overall, 1.0 / max(n, 1)), 0.5)
    current_threshold = features.definition["threshold"] if features.definition else None
    try:
        matched = match_mql_volume(cur, features, n - n_test, rules, draft_fit, target)
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
    threshold = min(threshold, limits.MAX_THRESHOLD)
    mql_share["target"] = target if basis != MATCH_CURRENT else mql_share.get("current")
    draft = Definition(
        name=rules.name,
        threshold=threshold,
        half_life_days=rules.half_life_days,
        fit_rules=rules.fit_rules,
        behaviour_rules=rules.behaviour_rules,
        note=rules.note,
    )

    model_score = intercept + x[test] @ beta if n_test else np.zeros(0)
    scores = {"model": np.asarray(model_score).ravel(), "draft": draft_score[test]}
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
        threshold_basis=basis,
        threshold_why=_threshold_why(basis, mql_share, outcome),
        operating_points=operating_points(scores, y[test], thresholds),
        weights=weights_frame(weighted, features, behaviour_beta, behaviour_points, train),
        left_out=pl.DataFrame(
            [(o.field, o.reason) for o in left_out], schema=LEFT_OUT_SCHEMA, orient="row"
        ),
        draft=draft,
        fields={name: v.field_type for name, v in features.fields.items()},
    )


def _design(encoded: list[Encoded], features: Features) -> tuple[sp.csr_matrix, np.ndarray]:
    """Return the model's matrix over every known lead (a column per non-reference category of
    each field, then one per event type) and which columns are behaviour."""
    n = features.leads.height
    rows, cols = [], []
    offset = 0
    for field in encoded:
        k = len(field.categories)
        column = np.full(k + 1, -1, dtype=np.int64)  # the last: leads in no category
        others = [i for i in range(k) if i != field.reference]
        column[others] = offset + np.arange(len(others))
        col = column[field.codes]
        inside = np.flatnonzero(col >= 0)
        rows.append(inside)
        cols.append(col[inside])
        offset += len(others)
    fit_columns = offset
    behaviour_rows, behaviour_cols = np.nonzero(features.x)
    rows.append(behaviour_rows)
    cols.append(behaviour_cols + fit_columns)
    data = np.ones(sum(len(r) for r in rows[:-1]), dtype=np.float64)
    data = np.concatenate([data, features.x[behaviour_rows, behaviour_cols].astype(np.float64)])
    width = fit_columns + features.catalogue.height
    x = sp.csr_matrix((data, (np.concatenate(rows), np.concatenate(cols))), shape=(n, width))
    is_behaviour = np.zeros(width, dtype=bool)
    is_behaviour[fit_columns:] = True
    return x, is_behaviour


def _per_field(encoded: list[Encoded], beta: np.ndarray) -> list[np.ndarray]:
    """Return each field's weight per category (its reference 0) from the model's weights."""
    out, offset = [], 0
    for field in encoded:
        k = len(field.categories)
        coefficient = np.zeros(k)
        others = [i for i in range(k) if i != field.reference]
        coefficient[others] = beta[offset : offset + len(others)]
        out.append(coefficient)
        offset += len(others)
    return out


def _note(features: Features, n_train: int) -> str:
    """Return the draft's note: where it came from."""
    outcome = "SQL" if features.outcome == "sql" else "customer"
    return (
        f"Suggested weights (funnelcast suggest): a logistic regression on {n_train} leads "
        f"whose outcome ({outcome}) is known"
    )


def _threshold_why(basis: str, share: dict[str, float | None], outcome: str) -> str:
    """Return how the draft's threshold was chosen, in a sentence."""
    target = share.get("target")
    shown = "an unmeasured share" if target is None else f"{target:.1%}"
    if basis == MATCH_CURRENT:
        return (
            f"The threshold makes about as many of the training leads MQLs as the current "
            f"definition does ({shown})."
        )
    if basis == STATED_SHARE:
        return f"The threshold makes the stated share of the training leads MQLs ({shown})."
    if basis == BEST_F1:
        reached = "reached SQL" if outcome == "sql" else "became customers"
        return (
            f"There is no current definition: the threshold makes {shown} of the training "
            f"leads MQLs, the share that maximises F1 (the balance of how many MQLs {reached} "
            f"and how many of those who {reached} were MQLs)."
        )
    return (
        f"There is no current definition and no threshold tells the training leads apart: "
        f"it makes their conversion rate of MQLs ({shown})."
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
