"""Checks on a definition and their messages: validate() refuses what cannot be saved, naming
every problem, and warns about what can be saved but will not score as meant; save_warnings()
adds what only the data can tell (rules that match nothing, a quarter already started).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace as dataclass_replace
from typing import Any

import duckdb
import polars as pl

from funnelcast.core import periods
from funnelcast.data import db
from funnelcast.definitions import limits, operators
from funnelcast.definitions._numbers import is_number, number_text
from funnelcast.definitions.fields import BUILTIN_FIELDS, field_key, lead_fields
from funnelcast.definitions.model import Definition, DefinitionError, FitRule
from funnelcast.definitions.quarters import parse_quarter, today

# How many of the data's values a warning about an unknown value lists.
LISTED_VALUES = 12


def _check_range(problems: list[str], what: str, value: Any, low: float, high: float) -> None:
    """Append a problem when value is not a number within [low, high]."""
    if not is_number(value):
        problems.append(f"{what} must be a number, not {value!r}")
    elif not low <= value <= high:
        problems.append(
            f"{what} {number_text(value)} is outside [{number_text(low)}, {number_text(high)}]"
        )


def _title(definition: Definition) -> str:
    """Return how messages name a definition."""
    name = definition.name if isinstance(definition.name, str) else ""
    return f"definition {name!r}" if name.strip() else "the definition"


def _rule_name(rule: FitRule) -> str:
    """Return how messages name a fit rule, whatever it holds."""
    try:
        return rule.label
    except Exception:  # a value of a shape no operator reads
        return f"{rule.attribute} {rule.op} {rule.value!r}"


def _check_fit_rule(
    problems: list[str], where: str, rule: FitRule, fields: Mapping[str, str]
) -> None:
    """Append each problem of one fit rule: its field, operator, value, points and cap."""
    if not isinstance(rule.attribute, str) or not rule.attribute.strip():
        problems.append(f"{where}: field must be non-empty text, not {rule.attribute!r}")
        return
    if rule.attribute not in fields:
        close = [name for name in fields if field_key(name) == field_key(rule.attribute)]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(
            f"{where}: unknown attribute {rule.attribute!r}{hint} "
            f"(fields: {', '.join(list(fields)[:LISTED_VALUES * 2])})"
        )
    op = value = None
    try:
        op = operators.canonical_operator(rule.op)
        if rule.attribute in fields:
            value = operators.normalise(fields[rule.attribute], op, rule.value)
    except operators.RuleValueError as exc:
        problems.append(f"{where}: {exc}")
    if rule.attribute == "company_size_band" and op == operators.IS and value not in (
        limits.COMPANY_SIZE_BANDS
    ):
        problems.append(
            f"{where}: unknown company size band {value!r} "
            f"(bands: {', '.join(limits.COMPANY_SIZE_BANDS)})"
        )
    _check_range(problems, f"{where}: points", rule.points, limits.MIN_POINTS, limits.MAX_POINTS)
    if not isinstance(rule.is_disqualifier, bool):
        problems.append(f"{where}: is_disqualifier must be true or false")
    if rule.cap is not None:
        if op != operators.PER_UNIT:
            problems.append(f"{where}: only a 'per unit' rule takes a cap")
        elif not is_number(rule.cap) or rule.cap < 0:
            problems.append(f"{where}: cap must be a number of 0 or more, not {rule.cap!r}")
    if op == operators.PER_UNIT and rule.is_disqualifier:
        problems.append(f"{where}: a 'per unit' rule gives points; it cannot disqualify")


def normalised_rule(rule: FitRule, fields: Mapping[str, str]) -> FitRule:
    """Return the rule with its operator and value read for its field's type (as saved)."""
    op = operators.canonical_operator(rule.op)
    value = operators.normalise(fields[rule.attribute], op, rule.value)
    cap = None if rule.cap is None else float(rule.cap)
    return FitRule(rule.attribute, value, float(rule.points), rule.is_disqualifier, op, cap)


def normalised(definition: Definition, fields: Mapping[str, str] | None = None) -> Definition:
    """Return the definition with every fit rule read for its field's type; validate() first."""
    known = BUILTIN_FIELDS if fields is None else fields
    return dataclass_replace(
        definition, fit_rules=tuple(normalised_rule(r, known) for r in definition.fit_rules)
    )


def validate(definition: Definition, fields: Mapping[str, str] | None = None) -> list[str]:
    """Return warnings about a usable definition; raise DefinitionError naming every problem.

    fields: the fields rules may name with their types (definitions.fields.lead_fields(cur));
    None: the built-in lead fields alone.
    """
    problems: list[str] = []
    if not isinstance(definition.name, str) or not definition.name.strip():
        problems.append("name is empty")
    _check_range(
        problems, "threshold", definition.threshold, limits.MIN_THRESHOLD, limits.MAX_THRESHOLD
    )
    half_life = definition.half_life_days
    if not is_number(half_life):
        problems.append(f"half-life must be a number of days, not {half_life!r}")
    elif not 0 < half_life <= limits.MAX_HALF_LIFE_DAYS:
        problems.append(
            f"half-life {number_text(half_life)} days must be more than 0 and at most "
            f"{number_text(limits.MAX_HALF_LIFE_DAYS)}"
        )
    if definition.note is not None and not isinstance(definition.note, str):
        problems.append(f"note must be text, not {definition.note!r}")

    known_fields = BUILTIN_FIELDS if fields is None else fields
    seen_fit: set[tuple] = set()
    for rule in definition.fit_rules:
        where = f"fit rule {_rule_name(rule)}"
        _check_fit_rule(problems, where, rule, known_fields)
        try:
            key = normalised_rule(rule, known_fields).key
        except (ValueError, TypeError, KeyError):
            key = (rule.attribute, rule.op, repr(rule.value))
        if key in seen_fit:
            problems.append(f"{where} appears more than once")
        seen_fit.add(key)

    seen_behaviour: set = set()
    for behaviour in definition.behaviour_rules:
        where = f"behaviour rule {behaviour.event_type!r}"
        if not isinstance(behaviour.event_type, str) or not behaviour.event_type.strip():
            problems.append(f"{where}: event type must be non-empty text")
        _check_range(
            problems, f"{where}: points", behaviour.points, limits.MIN_POINTS, limits.MAX_POINTS
        )
        if behaviour.cap is not None:
            if not is_number(behaviour.cap):
                problems.append(f"{where}: cap must be a number or absent, not {behaviour.cap!r}")
            elif behaviour.cap < 0:
                problems.append(f"{where}: cap {number_text(behaviour.cap)} must be 0 or more")
        if behaviour.event_type in seen_behaviour:
            problems.append(f"{where} appears more than once")
        seen_behaviour.add(behaviour.event_type)

    if problems:
        raise DefinitionError(f"{_title(definition)} is not valid: {'; '.join(problems)}", problems)
    return _score_warnings(definition)


def _best_fit(rules: tuple[FitRule, ...]) -> float | None:
    """Return the most fit points a lead can have (None: no bound, an uncapped per-unit rule).

    A lead has one value per field, so of a field's `is` rules one matches at most; rules with
    other operators may all match at once, so their positive points add up.
    """
    best = 0.0
    for attribute in {r.attribute for r in rules}:
        own = [r for r in rules if r.attribute == attribute and not r.is_disqualifier]
        exclusive = [r.points for r in own if r.op == operators.IS]
        best += max(0.0, max(exclusive, default=0.0))
        for r in own:
            if r.op == operators.PER_UNIT and r.points > 0:
                if r.cap is None:
                    return None
                best += r.cap
            elif r.op != operators.IS:
                best += max(0.0, r.points)
    return best


def _score_warnings(definition: Definition) -> list[str]:
    """Return warnings about thresholds the definition's rules cannot reach."""
    title = _title(definition)
    if not definition.fit_rules and not definition.behaviour_rules:
        if definition.threshold > 0:
            return [f"{title} has no rules: every lead scores 0, so no lead becomes an MQL"]
        return [
            f"{title} has no rules: every lead scores 0, so at threshold 0 every lead "
            "becomes an MQL when it is created"
        ]
    # A lead has one value per attribute, so its best fit is the best rule of each attribute;
    # a type's decayed sum can come as close to its cap as one likes, but no further.
    if any(r.points > 0 and r.cap is None for r in definition.behaviour_rules):
        return []
    best_fit = _best_fit(definition.fit_rules)
    if best_fit is None:
        return []
    best_behaviour = sum(
        r.cap for r in definition.behaviour_rules if r.points > 0 and r.cap is not None
    )
    best = best_fit + best_behaviour
    if best < definition.threshold:
        return [
            f"no lead can reach threshold {number_text(definition.threshold)}: the most a lead can "
            f"score is {number_text(best)} (best fit {number_text(best_fit)} + every capped behaviour at its "
            f"cap {number_text(best_behaviour)})"
        ]
    return []


def save_warnings(
    cur: duckdb.DuckDBPyConnection, definition: Definition, effective_quarter: str | periods.Quarter
) -> list[str]:
    """Return validate()'s warnings, rules that match nothing in the data, and a started quarter."""
    warnings = validate(definition, lead_fields(cur))
    quarter = parse_quarter(cur, effective_quarter)
    vocabulary = db.run(cur, "scoring_vocabulary")
    known: dict[str, set[str]] = {}
    for attribute, value in vocabulary.select("attribute", "value").iter_rows():
        known.setdefault(attribute, set()).add(value)

    def listed(values: set[str]) -> str:
        shown = sorted(values)[:LISTED_VALUES]
        return ", ".join(shown) + (", …" if len(values) > LISTED_VALUES else "")

    # An empty table says nothing about typos: only check against data that is there.
    if vocabulary.filter(pl.col("kind") == "fit").height:
        for rule in definition.fit_rules:
            if rule.attribute not in limits.FIT_ATTRIBUTES or rule.op != operators.IS:
                continue  # the vocabulary holds the built-in attributes' values
            if rule.value not in known.get(rule.attribute, set()):
                in_data = known.get(rule.attribute)
                hint = (
                    f" ({rule.attribute} values in the data: {listed(in_data)})" if in_data else ""
                )
                warnings.append(f"fit rule {rule.label} matches no lead{hint}")
    if "event_type" in known:
        for behaviour in definition.behaviour_rules:
            if behaviour.event_type not in known["event_type"]:
                warnings.append(
                    f"behaviour rule {behaviour.event_type!r} matches no event (event types in the "
                    f"data: {listed(known['event_type'])})"
                )
    data_today = today(cur)
    if quarter.start <= data_today:
        warnings.append(
            f"{quarter.label} has already started (the data runs to {data_today}): saving "
            f"changes the MQLs computed for {quarter.label} and the quarters after it"
        )
    return warnings
