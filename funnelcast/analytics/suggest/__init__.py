"""Suggested weights: learn from history which fit values and behaviours come before SQL, and
offer them as a draft MQL definition beside the hand-made one.

The package's public face (`from funnelcast.analytics import suggest`; `suggest.suggest_weights`).
Inside, one job each: features (which leads, when their features are taken, the matrix), scores
(a definition's rules applied to the features), logistic (the model fit), evaluation (AUC, lift,
operating points), volume (the draft's threshold) and suggestion (suggest_weights, which ties
them together, and its weights and warnings).

Which leads and features: see funnelcast.analytics.suggest.features. In short, leads whose
outcome is known (created at least horizon_days before as_of), their fit values one-hot and
their events decayed with the current half-life, taken at the earlier of the outcome and
created_at + window_days, so that nothing done after qualification explains the qualification.

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
history up to as_of with funnelcast.definitions.scoring's MQL moments, on a random sample of up
to VOLUME_SAMPLE_LEADS training leads, the draft's threshold found by bisection. Where that
scorer cannot sum a history (SpanTooLong), the volume is matched at the feature moments instead.
"""

from funnelcast.analytics.suggest.evaluation import auc, lift_by_decile
from funnelcast.analytics.suggest.features import (
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_HORIZON_DAYS,
    DEFAULT_WINDOW_DAYS,
    OUTCOMES,
    Features,
    known_outcome_features,
    score_draft,
)
from funnelcast.analytics.suggest.logistic import fit_logistic
from funnelcast.analytics.suggest.suggestion import (
    DISQUALIFY_EXPECTED,
    HOLD_OUT_SHARE,
    MAX_POINTS,
    MIN_HELD_OUT_POSITIVES,
    MIN_KNOWN_LEADS,
    MIN_TRAIN_POSITIVES,
    SCORES,
    Suggestion,
    suggest_weights,
)
from funnelcast.analytics.suggest.volume import VOLUME_SAMPLE_LEADS

__all__ = [
    "DEFAULT_HALF_LIFE_DAYS",
    "DEFAULT_HORIZON_DAYS",
    "DEFAULT_WINDOW_DAYS",
    "DISQUALIFY_EXPECTED",
    "HOLD_OUT_SHARE",
    "MAX_POINTS",
    "MIN_HELD_OUT_POSITIVES",
    "MIN_KNOWN_LEADS",
    "MIN_TRAIN_POSITIVES",
    "OUTCOMES",
    "SCORES",
    "VOLUME_SAMPLE_LEADS",
    "Features",
    "Suggestion",
    "auc",
    "fit_logistic",
    "known_outcome_features",
    "lift_by_decile",
    "score_draft",
    "suggest_weights",
]
