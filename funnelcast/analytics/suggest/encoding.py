"""Lead fields as the model's categories, each one a readable fit rule, and the leakage guard.

Every field a rule may name becomes a few categories, learnt on the training leads alone:
- a number: bands (scikit-learn's quantile bins, N_BINS of them, adjacent bins merged while
  their conversion rates are alike: a two-proportion z below Z_ALIKE, or a bin of fewer than
  MIN_CATEGORY_LEADS leads), each band `between` its lowest and highest training value, the
  first and last open-ended;
- a text: its values held by at least MIN_CATEGORY_LEADS training leads (the MAX_VALUES most
  common), each `is` that value; the rarer ones pooled as `is none of` the kept ones (`is
  known` when none is kept);
- a yes/no: `is Yes` and `is No`;
- any of them: `is unknown` when at least MIN_CATEGORY_LEADS training leads have no value.
Each lead falls in at most one category of a field (a value between two bands' training values
in none); the most common category is the reference: it gets no column and no rule, so the
model's weights are points relative to it. Dates are not learnt from.

The leakage guard leaves a field out, naming it "possibly filled after the outcome", when it is
filled for converted training leads FILLED_AFTER_RATIO times as often as for the others, or when
alone (each category's training conversion rate as the score) it predicts the held-out outcome
almost perfectly (AUC >= LEAK_AUC): a status a rep sets after the sale says nothing a lead's
score could have known beforehand.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import KBinsDiscretizer

from funnelcast.analytics.suggest.features import Features, FieldValues
from funnelcast.definitions import operators

N_BINS = 10
MIN_CATEGORY_LEADS = 30
MAX_VALUES = 20
Z_ALIKE = 2.0
FILLED_AFTER_RATIO = 3.0
MIN_FILLED_CONVERTED = 10
LEAK_AUC = 0.97
# Held-out leads of each class below which a field's own AUC is too noisy to judge leakage by.
MIN_LEAK_CLASS = 10
# Quantile bins are found on at most this many training values (a seeded sample).
BIN_SAMPLE = 200_000
AFTER_OUTCOME = "possibly filled after the outcome"


@dataclass(frozen=True)
class Category:
    """One category of a field: the rule that matches it (op, value as FitRule takes them)."""

    op: str
    value: Any = None


@dataclass(frozen=True)
class Encoded:
    """A field as categories: per lead the category it falls in, and the reference one."""

    field: str
    field_type: str
    kind: str  # "bands", "values" or "flag"
    categories: tuple[Category, ...]
    codes: np.ndarray  # per lead: index into categories, -1 in none
    reference: int  # the most common category among the training leads: no column, no rule
    train_leads: np.ndarray  # per category: training leads in it
    train_converted: np.ndarray  # per category: of them, converted


@dataclass(frozen=True)
class LeftOut:
    """A field the model does not learn from, and why."""

    field: str
    reason: str


def encode_fields(
    features: Features, train: slice, test: slice
) -> tuple[list[Encoded], list[LeftOut]]:
    """Return the fields the model learns from as categories, and those left out with why."""
    y = features.converted
    encoded, left_out = [], []
    for name, values in features.fields.items():
        if values.field_type == operators.DATE:
            if name != "created_at":  # every lead's creation: what the split is made on
                left_out.append(LeftOut(name, "a date: dates are not learnt from"))
            continue
        known_train = values.known[train]
        if not known_train.any():
            left_out.append(LeftOut(name, "no lead the model learns from has a value"))
            continue
        leak = _filled_after(known_train, y[train])
        if leak is not None:
            left_out.append(LeftOut(name, leak))
            continue
        field = _encode(values, train, y[train])
        if int(np.count_nonzero(field.train_leads)) < 2:
            alike = field.kind == "bands" and field.categories[0].op == operators.KNOWN
            reason = (
                "its values convert alike: no band of them differs from the rest"
                if alike
                else "the same value (or none) for nearly every lead the model learns from"
            )
            left_out.append(LeftOut(name, reason))
            continue
        leak = _alone_predicts(field, train, test, y)
        if leak is not None:
            left_out.append(LeftOut(name, leak))
            continue
        encoded.append(field)
    return encoded, left_out


def _filled_after(known: np.ndarray, converted: np.ndarray) -> str | None:
    """Return why a field looks filled after the outcome (by who has it), or None."""
    hits = int(np.count_nonzero(known & converted))
    n_converted = int(np.count_nonzero(converted))
    n_other = len(converted) - n_converted
    if hits < MIN_FILLED_CONVERTED or not n_other:
        return None
    converted_fill = hits / n_converted
    other_fill = int(np.count_nonzero(known & ~converted)) / n_other
    if converted_fill < FILLED_AFTER_RATIO * other_fill:
        return None
    return (
        f"{AFTER_OUTCOME}: filled for {converted_fill:.0%} of the converted leads against "
        f"{other_fill:.0%} of the others"
    )


def _alone_predicts(field: Encoded, train: slice, test: slice, y: np.ndarray) -> str | None:
    """Return why a field looks filled after the outcome (it alone predicts it), or None."""
    y_test = y[test]
    positives = int(np.count_nonzero(y_test))
    if positives < MIN_LEAK_CLASS or len(y_test) - positives < MIN_LEAK_CLASS:
        return None
    overall = float(np.mean(y[train]))
    rate = (field.train_converted + overall) / (field.train_leads + 1.0)
    codes = field.codes[test]
    score = np.where(codes >= 0, rate[np.maximum(codes, 0)], overall)
    auc = float(roc_auc_score(y_test, score))
    if auc < LEAK_AUC:
        return None
    return (
        f"{AFTER_OUTCOME}: alone it predicts the outcome almost perfectly (held-out AUC {auc:.3f})"
    )


def _encode(values: FieldValues, train: slice, y_train: np.ndarray) -> Encoded:
    """Return a field's categories (learnt on the training leads) and every lead's category."""
    n = len(values.known)
    codes = np.full(n, -1, dtype=np.int64)
    categories: list[Category] = []
    if values.field_type == operators.TEXT:
        kind = "values"
        categories = _text_categories(values, train, codes)
    elif values.field_type == operators.YES_NO:
        kind = "flag"
        assert values.numbers is not None
        for number, word in ((1.0, "Yes"), (0.0, "No")):
            hit = values.numbers == number
            if hit[train].any():
                codes[hit] = len(categories)
                categories.append(Category(operators.IS, word))
    else:
        kind = "bands"
        categories = _bands(values, train, y_train, codes)
    unknown = ~values.known
    if np.count_nonzero(unknown[train]) >= MIN_CATEGORY_LEADS:
        codes[unknown] = len(categories)
        categories.append(Category(operators.UNKNOWN))
    train_codes = codes[train]
    inside = train_codes >= 0
    k = len(categories)
    leads = np.bincount(train_codes[inside], minlength=k)
    converted = np.bincount(train_codes[inside & y_train], minlength=k)
    return Encoded(
        values.name,
        values.field_type,
        kind,
        tuple(categories),
        codes,
        int(np.argmax(leads)) if k else 0,
        leads,
        converted,
    )


def _text_categories(values: FieldValues, train: slice, codes: np.ndarray) -> list[Category]:
    """Set codes to the text categories (kept values, then the pool); return the categories."""
    assert values.codes is not None and values.texts is not None
    texts, value_codes = values.texts, values.codes
    in_train = value_codes[train]
    counts = np.bincount(in_train[in_train >= 0], minlength=len(texts))
    order = np.argsort(-counts, kind="stable")
    kept = [
        int(i)
        for i in order[:MAX_VALUES]
        if counts[i] >= MIN_CATEGORY_LEADS and str(texts[i]).strip()
    ]
    lookup = np.full(len(texts), len(kept), dtype=np.int64)  # not kept: the pool
    lookup[kept] = np.arange(len(kept))
    categories = [Category(operators.IS, str(texts[i])) for i in kept]
    known = values.known
    codes[known] = lookup[value_codes[known]]
    pooled = int(counts.sum()) - int(counts[kept].sum())
    if pooled:
        pool = (
            Category(operators.NONE_OF, tuple(str(texts[i]) for i in kept))
            if kept
            else Category(operators.KNOWN)
        )
        categories.append(pool)
    else:
        codes[codes == len(kept)] = -1  # values no training lead has: in no category
    return categories


def _bands(
    values: FieldValues, train: slice, y_train: np.ndarray, codes: np.ndarray
) -> list[Category]:
    """Set codes to the number's bands (learnt on the training leads); return the bands."""
    assert values.numbers is not None
    numbers = values.numbers
    known_train = values.known[train]
    v = numbers[train][known_train]
    hit = y_train[known_train]
    bins = KBinsDiscretizer(
        n_bins=N_BINS,
        encode="ordinal",
        strategy="quantile",
        subsample=BIN_SAMPLE,
        random_state=0,
    )
    with warnings.catch_warnings():
        # tied values make empty quantile bins, which scikit-learn drops with a warning
        warnings.simplefilter("ignore", UserWarning)
        b = bins.fit_transform(v[:, None])[:, 0].astype(np.int64)
    k = int(b.max()) + 1
    leads = np.bincount(b, minlength=k).astype(float)
    converted = np.bincount(b, weights=hit, minlength=k)
    low = np.full(k, np.inf)
    high = np.full(k, -np.inf)
    np.minimum.at(low, b, v)
    np.maximum.at(high, b, v)
    full = leads > 0
    groups = _merge_alike(
        list(leads[full]), list(converted[full]), list(low[full]), list(high[full])
    )
    los = np.array([g[0] for g in groups])
    his = np.array([g[1] for g in groups])
    known = values.known
    if len(groups) == 1:
        codes[known] = 0
        return [Category(operators.KNOWN)]
    x = numbers[known]
    index = np.clip(np.searchsorted(los, x, side="right") - 1, 0, len(groups) - 1)
    inside = (index == len(groups) - 1) | (x <= his[index])
    codes[known] = np.where(inside, index, -1)
    return [
        Category(
            operators.BETWEEN,
            (
                None if i == 0 else _plain(los[i]),
                None if i == len(groups) - 1 else _plain(his[i]),
            ),
        )
        for i in range(len(groups))
    ]


def _merge_alike(
    leads: list[float], converted: list[float], low: list[float], high: list[float]
) -> list[tuple[float, float]]:
    """Return the (lowest, highest) value of each band once adjacent bins that convert alike
    (or are too small to tell) are merged, the most alike pair first."""
    while len(leads) > 1:
        z = [
            _z(converted[i], leads[i], converted[i + 1], leads[i + 1])
            for i in range(len(leads) - 1)
        ]
        small = [i for i in range(len(z)) if min(leads[i], leads[i + 1]) < MIN_CATEGORY_LEADS]
        candidates = small or [i for i in range(len(z)) if z[i] < Z_ALIKE]
        if not candidates:
            break
        i = min(candidates, key=lambda j: z[j])
        leads[i : i + 2] = [leads[i] + leads[i + 1]]
        converted[i : i + 2] = [converted[i] + converted[i + 1]]
        low[i : i + 2] = [low[i]]
        high[i : i + 2] = [high[i + 1]]
    return list(zip(low, high, strict=True))


def _z(hits_a: float, n_a: float, hits_b: float, n_b: float) -> float:
    """Return the two-proportion z statistic's size (0 when both rates are 0 or 1)."""
    pooled = (hits_a + hits_b) / (n_a + n_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    return abs(hits_a / n_a - hits_b / n_b) / spread if spread > 0 else 0.0


def _plain(value: float) -> float | int:
    """Return a band's bound as an int when it is whole (5, not 5.0), else the float."""
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)
