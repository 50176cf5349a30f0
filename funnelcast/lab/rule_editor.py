"""The Threshold Lab's fit-rule editor, apart from its widgets: which operators a field's type
allows, which value input each operator takes, the rule the inputs make, and what the field
holds in words (its top values, or its range and quartiles), so a user picks a value the data
has.

funnelcast.ui.rule_editor draws the inputs; this decides what they mean (tested without a
page). A rule made here is read for its field's type (definitions.validation.normalised_rule):
a value that does not parse, an operator the type does not allow or `between` with low > high
raises DefinitionError naming the rule.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import polars as pl

from funnelcast import definitions
from funnelcast.core import formats
from funnelcast.definitions import Definition, FitRule, operators
from funnelcast.definitions.validation import normalised_rule

# What the value input of each operator is.
NO_VALUE, ONE_TEXT, SOME_TEXTS, ONE_NUMBER, TWO_NUMBERS = (
    "none",
    "text",
    "texts",
    "number",
    "numbers",
)
ONE_DATE, TWO_DATES, DAYS, YES_OR_NO, PER_UNIT = "date", "dates", "days", "yes/no", "per unit"
TYPE_SHOWN = {
    operators.TEXT: "text",
    operators.NUMBER: "number",
    operators.DATE: "date",
    operators.YES_NO: "yes/no",
}


def operator_label(op: str) -> str:
    """Return how the editor shows an operator (≤, ≥, 'within N days of creation', …)."""
    return operators.SHOWN.get(op, op)


def operator_choices(field_type: str) -> tuple[str, ...]:
    """Return the operators a field of this type allows, in the editor's order."""
    return operators.ALLOWED[field_type]


def value_input(field_type: str, op: str) -> str:
    """Return which value input an operator on a field of this type takes."""
    if op in (operators.KNOWN, operators.UNKNOWN):
        return NO_VALUE
    if op == operators.PER_UNIT:
        return PER_UNIT
    if field_type == operators.YES_NO:
        return YES_OR_NO
    if field_type == operators.TEXT:
        return SOME_TEXTS if op in (operators.ANY_OF, operators.NONE_OF) else ONE_TEXT
    if field_type == operators.DATE:
        return {operators.BETWEEN: TWO_DATES, operators.WITHIN: DAYS}.get(op, ONE_DATE)
    return TWO_NUMBERS if op == operators.BETWEEN else ONE_NUMBER


def rule_from_inputs(
    field: str, field_type: str, op: str, inputs: Mapping[str, Any], fields: Mapping[str, str]
) -> FitRule:
    """Return the fit rule the editor's inputs describe, read for its field's type.

    inputs: value (one text, number, date, days or Yes/No), values (several texts), low and
    high (between; None: open), points, cap (per unit; None: none), disqualify.
    """
    kind = value_input(field_type, op)
    value: Any = None
    if kind in (ONE_TEXT, ONE_NUMBER, ONE_DATE, DAYS, YES_OR_NO):
        value = inputs.get("value")
        if value is None or (isinstance(value, str) and not value.strip()):
            raise definitions.DefinitionError(f"{field} {operator_label(op)}: give a value")
    elif kind == SOME_TEXTS:
        value = tuple(inputs.get("values") or ())
        if not value:
            raise definitions.DefinitionError(
                f"{field} {operator_label(op)}: choose at least one value"
            )
    elif kind in (TWO_NUMBERS, TWO_DATES):
        value = (inputs.get("low"), inputs.get("high"))
        if value == (None, None):
            raise definitions.DefinitionError(f"{field} between: give a low or a high bound")
    points = float(inputs.get("points") or 0.0)
    cap = inputs.get("cap") if kind == PER_UNIT else None
    rule = FitRule(
        field,
        value,
        points,
        bool(inputs.get("disqualify")),
        op=op,
        cap=None if cap is None else float(cap),
    )
    try:
        return normalised_rule(rule, fields)
    except (operators.RuleValueError, KeyError) as exc:
        raise definitions.DefinitionError(f"{rule.label}: {exc}") from None


def with_rule(draft: Definition, rule: FitRule) -> Definition:
    """Return the draft with one more fit rule; DefinitionError when it has that rule."""
    if any(r.key == rule.key for r in draft.fit_rules):
        raise definitions.DefinitionError(
            f"{rule.label} already has a rule: change its points instead"
        )
    return replace(draft, fit_rules=(*draft.fit_rules, rule))


def without_rule(draft: Definition, key: tuple) -> Definition:
    """Return the draft without the fit rule whose key (FitRule.key) is given."""
    return replace(draft, fit_rules=tuple(r for r in draft.fit_rules if r.key != key))


def _number(field_type: str, value: float) -> str:
    """Return a number of a field's range in words (dates as days, yes/no as Yes/No)."""
    if field_type == operators.DATE:
        return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=value)).date().isoformat()
    if math.isfinite(value) and value == round(value):
        return formats.count(int(value))
    return formats.number(value)


def holds_text(field_type: str, top: pl.DataFrame | None, summary: Mapping[str, Any] | None) -> str:
    """Return what a field holds, in one line: a text field's most common values with their
    leads; a number's or date's range and quartiles; how many leads have a value."""
    if field_type == operators.TEXT:
        if top is None or top.is_empty():
            return "No lead has a value yet."
        shown = ", ".join(
            f"{value} ({formats.count(int(leads))})"
            for value, leads in top.head(6).select("value", "leads").iter_rows()
        )
        more = " …" if top.height > 6 else ""
        return f"Most common: {shown}{more}"
    if not summary or not summary.get("known_leads"):
        return "No lead has a value yet."
    known = (
        f"{formats.count(int(summary['known_leads']))} of "
        f"{formats.count(int(summary['leads']))} leads have a value"
    )
    if field_type == operators.YES_NO:
        return f"{known}."
    parts = [_number(field_type, float(summary[k])) for k in ("low", "q1", "median", "q3", "high")]
    return (
        f"{known}: from {parts[0]} to {parts[4]}; quartiles {parts[1]} / {parts[2]} / {parts[3]}."
    )


def default_number(summary: Mapping[str, Any] | None) -> float:
    """Return the number a new numeric rule starts at: the field's median (else 0)."""
    if summary and summary.get("median") is not None:
        median = float(summary["median"])
        return float(round(median)) if abs(median) >= 10 else median
    return 0.0
