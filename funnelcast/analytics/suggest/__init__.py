"""Suggested weights: learn from history which lead fields and behaviours come before SQL, and
offer them as a draft MQL definition beside the hand-made one.

The package's public face (`from funnelcast.analytics import suggest`; `suggest.suggest_weights`).
Inside, one job each: features (which leads, when their behaviour is taken, every field's
values), encoding (fields as categories, each a readable rule; the leakage guard), scores
(behaviour scored under a definition's rules), logistic (the model fit, scikit-learn),
evaluation (AUC, lift, operating points, the F1 share), draft (weights into points and a draft
Definition; any definition scored at the feature moments), volume (the draft's threshold) and
suggestion (suggest_weights, which ties them together).

Which leads and when: see funnelcast.analytics.suggest.features. In short, leads whose outcome
is known (created at least horizon_days before as_of), their events decayed with the current
half-life, taken at the earlier of the outcome and created_at + window_days, so that nothing done
after qualification explains the qualification; and every built-in field and custom attribute.

Fields: numbers as quantile bands merged where adjacent ones convert alike, texts as their
common values (rare ones pooled), yes/no as flags, unknown as its own category; a field filled
mostly for converted leads, or that alone predicts the outcome almost perfectly (held-out AUC >=
0.97), is left out as "possibly filled after the outcome" (funnelcast.analytics.suggest.encoding).

Model: scikit-learn's L2-regularised LogisticRegression, one 0/1 column per category but each
field's most common one (the reference), the behaviour counts standardised, trained on the older
leads and judged on the newest quarter of them (a split in time, so that it is honest about
drift). Held-out AUC and lift by score decile are reported for the model, for its draft
definition (rounded points, disqualifiers) and for the current hand-made definition.

Points: the model's log-odds, times points_per_doubling / ln 2 (by default 10 points double the
odds of converting), rounded and kept within [-100, 100]; a category no training lead in
converted, where at the overall rate at least DISQUALIFY_EXPECTED would have, disqualifies.
The threshold makes the draft turn as many training leads into MQLs as the current definition
does, or a stated share of them, or with neither the share that maximises F1 on the training
leads: scored over the leads' whole history up to as_of with funnelcast.definitions.scoring's
MQL moments, on a random sample of up to VOLUME_SAMPLE_LEADS training leads, the threshold found
by bisection. Where that scorer cannot sum a history (SpanTooLong), the volume is matched at the
feature moments instead.
"""

from funnelcast.analytics.suggest.draft import (
    DISQUALIFY_EXPECTED,
    DRAFT_NAME,
    MAX_POINTS,
    score_definition,
)
from funnelcast.analytics.suggest.encoding import (
    AFTER_OUTCOME,
    FILLED_AFTER_RATIO,
    LEAK_AUC,
    MIN_CATEGORY_LEADS,
    N_BINS,
    Category,
    Encoded,
    LeftOut,
    encode_fields,
)
from funnelcast.analytics.suggest.evaluation import auc, f1_share, lift_by_decile
from funnelcast.analytics.suggest.features import (
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_HORIZON_DAYS,
    DEFAULT_WINDOW_DAYS,
    OUTCOMES,
    Features,
    FieldValues,
    known_outcome_features,
)
from funnelcast.analytics.suggest.logistic import fit_logistic
from funnelcast.analytics.suggest.suggestion import (
    BEST_F1,
    CONVERSION_RATE,
    HOLD_OUT_SHARE,
    MATCH_CURRENT,
    MIN_HELD_OUT_POSITIVES,
    MIN_KNOWN_LEADS,
    MIN_TRAIN_POSITIVES,
    SCORES,
    STATED_SHARE,
    Suggestion,
    suggest_weights,
)
from funnelcast.analytics.suggest.volume import VOLUME_SAMPLE_LEADS

__all__ = [
    "AFTER_OUTCOME",
    "BEST_F1",
    "CONVERSION_RATE",
    "DEFAULT_HALF_LIFE_DAYS",
    "DEFAULT_HORIZON_DAYS",
    "DEFAULT_WINDOW_DAYS",
    "DISQUALIFY_EXPECTED",
    "DRAFT_NAME",
    "FILLED_AFTER_RATIO",
    "HOLD_OUT_SHARE",
    "LEAK_AUC",
    "MATCH_CURRENT",
    "MAX_POINTS",
    "MIN_CATEGORY_LEADS",
    "MIN_HELD_OUT_POSITIVES",
    "MIN_KNOWN_LEADS",
    "MIN_TRAIN_POSITIVES",
    "N_BINS",
    "OUTCOMES",
    "SCORES",
    "STATED_SHARE",
    "VOLUME_SAMPLE_LEADS",
    "Category",
    "Encoded",
    "Features",
    "FieldValues",
    "LeftOut",
    "Suggestion",
    "auc",
    "encode_fields",
    "f1_share",
    "fit_logistic",
    "known_outcome_features",
    "lift_by_decile",
    "score_definition",
    "suggest_weights",
]
