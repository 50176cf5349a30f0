"""Suggested weights: learn from history which fit values and behaviours come before SQL, and
offer them as a draft MQL definition beside the hand-made one.

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

Model: L2-regularised logistic regression fitted by Newton's method, the behaviour counts
standardised (the penalty treats fit values, 0/1 indicators, on their own scale), trained on the
older leads and judged on the newest quarter of them (a split in time, so that it is honest about
drift). Held-out AUC and lift by score decile are reported for the model, for its
draft definition (rounded points, disqualifiers) and for the current hand-made definition.

Points: the model's log-odds per unit, times points_per_doubling / ln 2 (by default 10 points
double the odds of converting), rounded and kept within [-100, 100]. A fit value no training lead
with it converted, where at the overall rate at least DISQUALIFY_EXPECTED would have, becomes a
disqualifier. The threshold makes the draft turn about as many training leads into MQLs as the
current definition does (or a target share of them): both are scored over the leads' whole
history up to as_of with funnelcast.scoring's MQL moments, on a random sample of up to
VOLUME_SAMPLE_LEADS training leads, the draft's threshold found by bisection. Where that scorer
cannot sum a history (SpanTooLong), the volume is matched at the feature moments instead.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import cast

import duckdb
import numpy as np
import polars as pl

from funnelcast.analytics import metrics
from funnelcast.data import db
from funnelcast.definitions import scoring

OUTCOMES = ("sql", "customer")
DEFAULT_WINDOW_DAYS = 30.0
DEFAULT_HORIZON_DAYS = 180.0
DEFAULT_HALF_LIFE_DAYS = 30.0
HOLD_OUT_SHARE = 0.25
# Below these counts a fitted weight or a held-out AUC says more about chance than about buyers.
MIN_KNOWN_LEADS = 200
MIN_TRAIN_POSITIVES = 30
MIN_HELD_OUT_POSITIVES = 10
MAX_POINTS = 100
# A fit value becomes a disqualifier when none of its training leads converted although at the
# overall rate this many would have: the chance of that by luck alone is about e^-5 < 1%.
DISQUALIFY_EXPECTED = 5.0
EVENT_TYPE = "event_type"
SCORES = ("model", "draft", "current")
# Rows per block when the fit walks the feature matrix: bounds the temporary copies at scale.
CHUNK_ROWS = 65_536
LEADS_PER_FEATURE_QUERY = 250_000
# Training leads the MQL volume is matched on: a share within about 1% of the whole training
# period's, scored ten times over in about a second.
VOLUME_SAMPLE_LEADS = 10_000


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
    moments = leads.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("lead_key"), "lead_id", "feature_at"
    )
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
    current = _definition_score(
        long,
        catalogue.select(
            "column_index",
            "attribute",
            pl.col("current_points").alias("points"),
            pl.col("current_cap").alias("cap"),
            pl.col("current_disqualifies").alias("disqualifies"),
        ),
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
        matched = _match_mql_volume(cur, features, n - n_test, rules, target)
    except scoring.SpanTooLong:
        matched = None
    if matched is None:
        # no training leads, or histories the scorer cannot sum: match at the feature moments
        if target is None and n > n_test:
            target = float(np.mean(features.current_score[train] >= current_threshold))
        threshold = _threshold_for_share(draft_score[train], target or 0.0)
        mql_share: dict[str, float | None] = {"current": None, "draft": None}
    else:
        threshold, mql_share = matched
    draft = {"threshold": threshold, "half_life_days": features.half_life_days, **rules}

    model_score = intercept + features.x[test] @ beta if n_test else np.zeros(0)
    scores = {"model": model_score, "draft": draft_score[test]}
    if features.definition is not None:
        scores["current"] = features.current_score[test]
    lift = pl.concat(
        [
            lift_by_decile(s, y[test]).select(pl.lit(name).alias("score"), pl.all())
            for name, s in scores.items()
        ]
    )
    thresholds = {"draft": threshold}
    if current_threshold is not None:
        thresholds["current"] = current_threshold
    operating_points = pl.DataFrame(
        [
            _operating_point(name, scores[name], y[test], t)
            for name, t in thresholds.items()
            if name in scores
        ],
        schema={
            "score": pl.String,
            "threshold": pl.Float64,
            "mqls": pl.Int64,
            "share": pl.Float64,
            "rate": pl.Float64,
            "capture": pl.Float64,
        },
        orient="row",
    )
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
        lift=lift,
        mql_share=mql_share,
        operating_points=operating_points,
        weights=weights,
        draft=draft,
    )


def score_draft(features: Features, draft: dict) -> np.ndarray:
    """Return each known lead's score at its feature moment under a draft; -inf if disqualified.

    draft: {"fit_rules": [(attribute, value, points, is_disqualifier)],
    "behaviour_rules": [(event_type, points, cap or None)]}, scored as queries/lead_scores.sql
    would score it saved as a definition with the features' half-life.
    """
    return _definition_score(
        features.long,
        _coded(features, _draft_rules(draft)),
        features.leads.height,
        features.catalogue.height,
    )


def _draft_rules(draft: dict) -> pl.DataFrame:
    """Return a draft's rules as one frame: attribute, value, points, cap, disqualifies."""
    return pl.DataFrame(
        [(a, v, float(p), None, bool(d)) for a, v, p, d in draft["fit_rules"]]
        + [(EVENT_TYPE, e, float(p), c, False) for e, p, c in draft["behaviour_rules"]],
        schema={
            "attribute": pl.String,
            "value": pl.String,
            "points": pl.Float64,
            "cap": pl.Float64,
            "disqualifies": pl.Boolean,
        },
        orient="row",
    )


def _coded(features: Features, rules: pl.DataFrame) -> pl.DataFrame:
    """Return the rules that match a feature of the catalogue, with its column_index."""
    return features.catalogue.select("column_index", "attribute", "value").join(
        rules, on=["attribute", "value"]
    )


def _match_mql_volume(
    cur: duckdb.DuckDBPyConnection,
    features: Features,
    n_train: int,
    draft: dict,
    target_share: float | None,
) -> tuple[float, dict[str, float | None]] | None:
    """Return the draft's threshold for the current (or target) MQL share, and both shares.

    Shares are of the training leads reaching MQL by as_of; target_share None means the current
    definition's, which then must exist. None when there are no training leads; raises
    scoring.SpanTooLong where a history is too long for the scorer.
    """
    if n_train == 0:
        return None
    keys = np.arange(n_train)
    if n_train > VOLUME_SAMPLE_LEADS:
        keys = np.sort(np.random.default_rng(0).choice(n_train, VOLUME_SAMPLE_LEADS, replace=False))
    sample = features.leads.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("lead_key"), "lead_id", "created_at"
    )[keys]
    cur.register("chosen_leads", sample.select("lead_id"))
    try:
        events = db.run(cur, "lead_events")
    finally:
        cur.unregister("chosen_leads")
    long = features.long.join(sample.select("lead_key"), on="lead_key", how="semi")

    def share_of_mqls(rules: pl.DataFrame, threshold: float) -> float:
        """Return the share of the sampled leads whose score reaches threshold by as_of."""
        fit = _definition_score(
            long,
            _coded(features, rules.filter(pl.col("attribute") != EVENT_TYPE)),
            features.leads.height,
            features.catalogue.height,
        )[keys]
        behaviour = rules.filter(pl.col("attribute") == EVENT_TYPE).select(
            pl.col("value").alias("event_type"), "points", pl.col("cap").alias("cap_points")
        )
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
        current_rules = features.catalogue.filter(
            (pl.col("current_points") != 0) | pl.col("current_disqualifies")
        ).select(
            "attribute",
            "value",
            pl.col("current_points").alias("points"),
            pl.col("current_cap").alias("cap"),
            pl.col("current_disqualifies").alias("disqualifies"),
        )
        current = share_of_mqls(current_rules, features.definition["threshold"])
    wanted = current if target_share is None else target_share
    assert wanted is not None  # the caller gives a target share when there is no definition
    rules = _draft_rules(draft)
    shares: dict[int, float] = {}

    def share_at(threshold: int) -> float:
        """Return the draft's MQL share at a whole-number threshold, each computed once."""
        if threshold not in shares:
            shares[threshold] = share_of_mqls(rules, float(threshold))
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


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = 1.0,
    standardise: np.ndarray | None = None,
    max_iter: int = 50,
) -> tuple[float, np.ndarray]:
    """Return (intercept, weights per column of x) of an L2-regularised logistic regression.

    The penalty is l2/2 x the sum of squared weights, of the standardised column where
    standardise (a mask; default all) says so and of the raw column elsewhere; the intercept is not
    penalised. Weights come back in x's own units. Columns that do not vary get 0; a single class
    gets its smoothed log-odds as intercept and no weights.
    """
    y = np.asarray(y, dtype=np.float64)
    n, k = x.shape
    beta = np.zeros(k)
    positives = float(y.sum())
    if positives == 0 or positives == n:
        return math.log((positives + 0.5) / (n - positives + 0.5)), beta
    mean = x.mean(axis=0, dtype=np.float64)
    sd = np.sqrt(np.maximum(np.einsum("ij,ij->j", x, x, dtype=np.float64) / n - mean**2, 0.0))
    varies = sd > 1e-9 * np.maximum(1.0, np.abs(mean))
    # Penalising sd_j^2 * beta_j^2 on raw columns is the same problem as penalising standardised
    # weights, and Newton's method takes the same steps either way, so no standardised copy of
    # x is needed: at a million leads that copy would be the largest thing in memory. Columns
    # that do not vary stay at 0 by being left out of each step, again without a copy.
    scale = sd if standardise is None else np.where(standardise, sd, 1.0)
    penalty = np.concatenate([[0.0], l2 * scale**2])
    active = np.concatenate([[True], varies])
    theta = np.zeros(1 + k)
    theta[0] = math.log(positives / (n - positives))
    loss = _penalised_loss(x, y, theta, penalty)
    for _ in range(max_iter):
        gradient, hessian = _gradient_hessian(x, y, theta)
        gradient += penalty * theta
        hessian[np.diag_indices_from(hessian)] += penalty
        step = np.zeros(1 + k)
        step[active] = np.linalg.lstsq(
            hessian[np.ix_(active, active)], gradient[active], rcond=None
        )[0]
        # halve the step until the loss does not rise: Newton can overshoot far from the optimum
        for _ in range(30):
            candidate = theta - step
            new_loss = _penalised_loss(x, y, candidate, penalty)
            if new_loss <= loss + 1e-12 * abs(loss):
                break
            step /= 2
        else:
            break
        theta, converged = candidate, loss - new_loss < 1e-9 * max(1.0, abs(loss))
        loss = new_loss
        if converged:
            break
    beta[:] = theta[1:]
    return float(theta[0]), beta


def auc(score: np.ndarray, converted: np.ndarray) -> float | None:
    """Return the area under the ROC curve (ties count half), or None with only one class."""
    score = np.asarray(score, dtype=np.float64)
    converted = np.asarray(converted, dtype=bool)
    positives = int(converted.sum())
    negatives = len(converted) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = _mid_ranks(score)
    wins = ranks[converted].sum() - positives * (positives + 1) / 2
    return float(wins / (positives * negatives))


def lift_by_decile(score: np.ndarray, converted: np.ndarray, deciles: int = 10) -> pl.DataFrame:
    """Return per score decile (1 = highest scores): leads, converted, rate and rate / overall.

    Leads with the same score share a decile (the one their middle rank falls in), so deciles
    can differ in size and some can be empty (rate and lift null).
    """
    score = np.asarray(score, dtype=np.float64)
    converted = np.asarray(converted, dtype=bool)
    n = len(score)
    if n:
        from_top = n + 1 - _mid_ranks(score)  # 1 = highest score, ties averaged
        decile = np.minimum((deciles * (from_top - 0.5) / n).astype(np.int64), deciles - 1)
    else:
        decile = np.zeros(0, dtype=np.int64)
    leads = np.bincount(decile, minlength=deciles)
    hits = np.bincount(decile, weights=converted, minlength=deciles).astype(np.int64)
    overall = converted.mean() if n else 0.0
    rate = [h / c if c else None for h, c in zip(hits, leads, strict=True)]
    return pl.DataFrame(
        {
            "decile": np.arange(1, deciles + 1),
            "leads": leads,
            "converted": hits,
            "rate": rate,
            "lift": [r / overall if r is not None and overall > 0 else None for r in rate],
        },
        schema={
            "decile": pl.Int64,
            "leads": pl.Int64,
            "converted": pl.Int64,
            "rate": pl.Float64,
            "lift": pl.Float64,
        },
    )


def _mid_ranks(values: np.ndarray) -> np.ndarray:
    """Return 1-based ranks of values in ascending order, tied values sharing their mean rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)  # rank of the last of each group of equal values
    return (upper - (counts - 1) / 2.0)[inverse]


def _definition_score(
    long: pl.DataFrame, rules: pl.DataFrame, n_leads: int, n_columns: int
) -> np.ndarray:
    """Return per lead the score its features get under rules; -inf where a rule disqualifies.

    rules: column_index, attribute, points, cap, disqualifies, for the catalogue's columns that
    have a rule. As queries/lead_scores.sql scores: fit points, plus per event type points x
    decayed count (x count when the points are negative: penalties do not decay), capped.
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


def _threshold_for_share(score: np.ndarray, share: float) -> float:
    """Return the whole-number threshold (>= 0) putting about share of the scores at or above it."""
    eligible = np.sort(score[np.isfinite(score)])[::-1]
    wanted = round(share * len(score))
    if not len(eligible):
        return 0.0
    if wanted == 0:
        return float(max(0, math.floor(eligible[0]) + 1))
    return float(max(0, math.floor(eligible[min(wanted, len(eligible)) - 1])))


def _operating_point(
    name: str, score: np.ndarray, converted: np.ndarray, threshold: float
) -> tuple:
    """Return (score, threshold, MQLs, their share, their conversion rate, share of conversions)."""
    above = score >= threshold
    mqls = int(above.sum())
    hits = int(converted[above].sum())
    total = int(converted.sum())
    return (
        name,
        float(threshold),
        mqls,
        mqls / len(score) if len(score) else None,
        hits / mqls if mqls else None,
        hits / total if total else None,
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


def _penalised_loss(x: np.ndarray, y: np.ndarray, theta: np.ndarray, penalty: np.ndarray) -> float:
    """Return the negative log-likelihood of theta (intercept, weights) plus its L2 penalty."""
    total = 0.0
    for start in range(0, len(y), CHUNK_ROWS):
        eta = theta[0] + x[start : start + CHUNK_ROWS] @ theta[1:]
        total += float(np.sum(np.logaddexp(0.0, eta) - y[start : start + CHUNK_ROWS] * eta))
    return total + 0.5 * float(np.sum(penalty * theta * theta))


def _gradient_hessian(
    x: np.ndarray, y: np.ndarray, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the negative log-likelihood's gradient and Hessian in (intercept, weights)."""
    k = len(theta)
    gradient = np.zeros(k)
    hessian = np.zeros((k, k))
    for start in range(0, len(y), CHUNK_ROWS):
        block = x[start : start + CHUNK_ROWS]
        p = 0.5 * (1.0 + np.tanh(0.5 * (theta[0] + block @ theta[1:])))  # logistic, stable
        residual = p - y[start : start + CHUNK_ROWS]
        w = p * (1.0 - p)
        gradient[0] += residual.sum()
        gradient[1:] += block.T @ residual
        # The Hessian's product is the fit's largest cost; in single precision it takes half
        # the time, and it only steers the steps: the gradient and the loss that judge them
        # stay in double precision.
        single = block.astype(np.float32, copy=False)
        weighted = single * w.astype(np.float32)[:, None]
        column_sums = weighted.sum(axis=0, dtype=np.float64)
        hessian[0, 0] += w.sum()
        hessian[0, 1:] += column_sums
        hessian[1:, 0] += column_sums
        hessian[1:, 1:] += single.T @ weighted
    return gradient, hessian
