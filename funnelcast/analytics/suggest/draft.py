"""From the model's weights to a draft definition, and any definition scored at the known leads'
feature moments.

Points: the model's log-odds per category (relative to its field's reference) or per decayed
event, times points_per_doubling / ln 2 (by default 10 points double the odds of converting),
rounded and kept within [-MAX_POINTS, MAX_POINTS]. A category no training lead in converted,
where at the overall rate at least DISQUALIFY_EXPECTED would have, disqualifies. Rules read as a
person would write them: adjacent bands with the same points are one `between`, values with the
same points one `is any of`; a category of 0 points is no rule.

score_definition scores a Definition (fit rules with any operator, as
funnelcast.definitions.operators matches them, which agrees with the SQL; behaviour as
queries/lead_scores.sql) at each known lead's feature moment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from funnelcast import definitions
from funnelcast.analytics.suggest.encoding import Category, Encoded
from funnelcast.analytics.suggest.features import Features
from funnelcast.analytics.suggest.scores import EVENT_TYPE, behaviour_rules, coded
from funnelcast.definitions import BehaviourRule, Definition, FitRule, operators
from funnelcast.definitions.values import fit_of

MAX_POINTS = 100
# A category becomes a disqualifier when none of its training leads converted although at the
# overall rate this many would have: the chance of that by luck alone is about e^-5 < 1%.
DISQUALIFY_EXPECTED = 5.0
DRAFT_NAME = "Suggested weights"
# A category this share of the training leads hold can be its field's 0 points (weigh_fields).
REFERENCE_SHARE = 0.2
WEIGHTS_SCHEMA = {
    "attribute": pl.String,
    "op": pl.String,
    "value": pl.String,
    "rule": pl.String,
    "coefficient": pl.Float64,
    "points": pl.Int64,
    "is_disqualifier": pl.Boolean,
    "is_reference": pl.Boolean,
    "current_points": pl.Float64,
    "train_leads": pl.Int64,
    "train_rate": pl.Float64,
}


@dataclass(frozen=True)
class Weighted:
    """A field's categories with their model weight, points and whether they disqualify."""

    field: Encoded
    reference: int  # the category of 0 points (see weigh_fields)
    coefficient: np.ndarray  # per category, relative to the reference
    points: np.ndarray  # per category, whole numbers
    disqualifies: np.ndarray  # per category


def points_of(coefficient: np.ndarray, points_per_doubling: float) -> np.ndarray:
    """Return log-odds as whole points within [-MAX_POINTS, MAX_POINTS]."""
    scaled = np.round(np.asarray(coefficient) * points_per_doubling / math.log(2))
    return np.clip(scaled, -MAX_POINTS, MAX_POINTS).astype(np.int64)


def weigh_fields(
    encoded: Sequence[Encoded],
    coefficients: Sequence[np.ndarray],
    n_train: int,
    overall_rate: float,
    points_per_doubling: float,
) -> list[Weighted]:
    """Return each field's categories weighed: points, and disqualifiers (whose points are 0).

    The model's weights are relative to each field's most common category; the points are
    relative to its lowest-weighted category among those holding at least REFERENCE_SHARE of
    the training leads (not a disqualifier), so that a typical lead's points are not below 0
    and a threshold >= 0 can pick any share of them, while a small category that converts
    worse keeps its negative points.
    """
    out = []
    for field, coefficient in zip(encoded, coefficients, strict=True):
        disqualifies = (field.train_converted == 0) & (
            field.train_leads * overall_rate >= DISQUALIFY_EXPECTED
        )
        large = ~disqualifies & (field.train_leads >= REFERENCE_SHARE * n_train)
        reference = field.reference
        if large.any():
            candidates = np.flatnonzero(large)
            reference = int(candidates[np.argmin(coefficient[candidates])])
        relative = coefficient - coefficient[reference]
        points = np.where(disqualifies, 0, points_of(relative, points_per_doubling))
        out.append(Weighted(field, reference, relative, points, disqualifies))
    return out


def rule_text(field: str, category: Category) -> str:
    """Return how a category's rule reads: 'TotalVisits between 3 and 4'."""
    shown = operators.value_text(category.op, _as_floats(category))
    return f"{field} {operators.SHOWN.get(category.op, category.op)}" + (
        f" {shown}" if shown else ""
    )


def _as_floats(category: Category) -> object:
    """Return a category's value as value_text expects it (numbers as floats)."""
    if category.op == operators.BETWEEN:
        return tuple(None if v is None else float(v) for v in category.value)
    return category.value


def weights_frame(
    weighted: Sequence[Weighted],
    features: Features,
    behaviour_coefficient: np.ndarray,
    behaviour_points: np.ndarray,
    train: slice,
) -> pl.DataFrame:
    """Return one row per category of each field and per event type: its rule, coefficient,
    points, whether it disqualifies or is its field's reference, and its training leads and
    conversion rate (event types: the leads with such an event before their feature moment)."""
    rows: list[tuple[Any, ...]] = []
    for w in weighted:
        f = w.field
        for i, category in enumerate(f.categories):
            leads = int(f.train_leads[i])
            rows.append(
                (
                    f.field,
                    category.op,
                    operators.value_text(category.op, _as_floats(category)),
                    rule_text(f.field, category),
                    float(w.coefficient[i]),
                    int(w.points[i]),
                    bool(w.disqualifies[i]),
                    i == w.reference,
                    None,
                    leads,
                    float(f.train_converted[i]) / leads if leads else None,
                )
            )
    x_train, y_train = features.x[train], features.converted[train]
    held = np.count_nonzero(x_train, axis=0)
    hits = np.count_nonzero(x_train[y_train], axis=0)
    catalogue = features.catalogue
    for j, (event_type, current) in enumerate(
        catalogue.select("value", "current_points").iter_rows()
    ):
        rows.append(
            (
                EVENT_TYPE,
                "per event",
                event_type,
                f"each {event_type} event",
                float(behaviour_coefficient[j]),
                int(behaviour_points[j]),
                False,
                False,
                float(current),
                int(held[j]),
                float(hits[j]) / held[j] if held[j] else None,
            )
        )
    return pl.DataFrame(rows, schema=WEIGHTS_SCHEMA, orient="row")


def draft_definition(
    weighted: Sequence[Weighted],
    catalogue: pl.DataFrame,
    behaviour_points: np.ndarray,
    *,
    threshold: float,
    half_life_days: float,
    note: str,
) -> Definition:
    """Return the weighed categories and event types as a definition's rules."""
    fit: list[FitRule] = []
    for w in weighted:
        fit.extend(_field_rules(w))
    behaviour = tuple(
        BehaviourRule(event_type, float(points), None)
        for event_type, points in zip(catalogue["value"].to_list(), behaviour_points, strict=True)
        if points != 0
    )
    return Definition(
        name=DRAFT_NAME,
        threshold=float(threshold),
        half_life_days=float(half_life_days),
        fit_rules=tuple(fit),
        behaviour_rules=behaviour,
        note=note,
    )


def _field_rules(w: Weighted) -> list[FitRule]:
    """Return one field's rules: bands with the same points merged, values with the same
    points as one `is any of`, every other category with points or a disqualifier its own."""
    f = w.field
    name = f.field
    cats = f.categories

    def rule(op: str, value: object, i: int) -> FitRule:
        return FitRule(name, value, float(w.points[i]), bool(w.disqualifies[i]), op=op)

    scored = [i for i in range(len(cats)) if w.points[i] != 0 or w.disqualifies[i]]
    rules: list[FitRule] = []
    bands = [i for i in scored if cats[i].op == operators.BETWEEN]
    # runs of adjacent bands with the same points (and disqualifier flag) become one band
    run: list[int] = []
    for i in [*bands, None]:
        if run and (
            i is None
            or i != run[-1] + 1
            or (w.points[i], w.disqualifies[i]) != (w.points[run[0]], w.disqualifies[run[0]])
        ):
            low, high = cats[run[0]].value[0], cats[run[-1]].value[1]
            rules.append(rule(operators.BETWEEN, (low, high), run[0]))
            run = []
        if i is not None:
            run.append(i)
    values: dict[tuple, list[int]] = {}
    for i in scored:
        if cats[i].op == operators.IS and f.kind == "values":
            values.setdefault((int(w.points[i]), bool(w.disqualifies[i])), []).append(i)
        elif cats[i].op != operators.BETWEEN:
            rules.append(rule(cats[i].op, cats[i].value, i))
    for group in values.values():
        if len(group) == 1:
            rules.append(rule(operators.IS, cats[group[0]].value, group[0]))
        else:
            texts = tuple(sorted(str(cats[i].value) for i in group))
            rules.append(rule(operators.ANY_OF, texts, group[0]))
    return rules


def score_definition(
    features: Features, definition: Definition, *, behaviour: bool = True
) -> np.ndarray:
    """Return each known lead's score at its feature moment under a definition; -inf where a
    fit rule disqualifies it (behaviour=False: its fit points alone)."""
    fields = {name: v.field_type for name, v in features.fields.items()}
    n = features.leads.height
    created_s = features.leads["created_at"].dt.epoch("us").to_numpy() / 1e6
    fit, disqualified = fit_of(
        definitions.normalised(definition, fields).fit_rules, features.fields, created_s, n
    )
    score = fit
    if behaviour:
        rules = coded(features.catalogue, behaviour_rules(definition.behaviour_rules))
        score = fit + features.score(rules)
    score = np.round(score, 6)
    score[disqualified] = -np.inf
    return score
