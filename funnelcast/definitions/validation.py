"""Checks on a definition and their messages: validate() refuses what cannot be saved, naming
every problem, and warns about what can be saved but will not score as meant. Each rule's
problems come on their own too (fit_rule_problems, behaviour_rule_problems), for the definition
file to say on which line they are. What only the data can tell (rules that match no lead, a
quarter already started) is store.save_warnings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace as dataclass_replace
from typing import Any

from funnelcast.definitions import limits, operators
from funnelcast.definitions._numbers import is_number, number_text
from funnelcast.definitions.fields import BUILTIN_FIELDS, field_key
from funnelcast.definitions.model import BehaviourRule, Definition, DefinitionError, FitRule

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


def short(text: Any, limit: int = 80) -> str:
    """Return text for a one-line message: control characters escaped (a field name may hold a
    newline), cut to limit characters with an ellipsis (a 10 KB name would bury the message)."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rule_name(rule: FitRule) -> str:
    """Return how messages name a fit rule, whatever it holds: 'seniority=vp', 'TotalVisits ≥
    5' (names and values cut short)."""
    try:
        label = rule.label
    except Exception:  # a value of a shape no operator reads
        label = f"{rule.attribute} {rule.op} {rule.value!r}"
    return short(label, 120)


def fit_rule_problems(rule: FitRule, fields: Mapping[str, str]) -> list[str]:
    """Return each problem of one fit rule (its field, operator, value, points and cap), in
    words without the rule's name (the caller says which rule, and where)."""
    problems: list[str] = []
    if not isinstance(rule.attribute, str) or not rule.attribute.strip():
        return [f"field must be non-empty text, not {rule.attribute!r}"]
    if rule.attribute not in fields:
        close = [name for name in fields if field_key(name) == field_key(rule.attribute)]
        hint = f" (did you mean {short(close[0])!r}?)" if close else ""
        listed = [short(name, 40) for name in list(fields)[: LISTED_VALUES * 2]]
        more = ", …" if len(fields) > LISTED_VALUES * 2 else ""
        problems.append(
            f"unknown field {short(rule.attribute)!r}{hint} (fields: {', '.join(listed)}{more})"
        )
    op = value = None
    try:
        op = operators.canonical_operator(rule.op)
        if rule.attribute in fields:
            value = operators.normalise(fields[rule.attribute], op, rule.value)
    except operators.RuleValueError as exc:
        problems.append(short(exc, 300))
    if rule.attribute == "company_size_band" and value is not None:
        bands = value if op in (operators.ANY_OF, operators.NONE_OF) else (value,)
        for band in bands:
            if band not in limits.COMPANY_SIZE_BANDS:
                problems.append(
                    f"unknown company size band {short(band)!r} "
                    f"(bands: {', '.join(limits.COMPANY_SIZE_BANDS)})"
                )
    _check_range(problems, "points", rule.points, limits.MIN_POINTS, limits.MAX_POINTS)
    if not isinstance(rule.is_disqualifier, bool):
        problems.append("disqualify must be true or false")
    if rule.cap is not None:
        if op != operators.PER_UNIT:
            problems.append("only a 'per unit' rule takes a cap")
        elif not is_number(rule.cap) or rule.cap < 0:
            problems.append(f"cap must be a number of 0 or more, not {rule.cap!r}")
    if op == operators.PER_UNIT and rule.is_disqualifier:
        problems.append("a 'per unit' rule gives points; it cannot disqualify")
    return problems


def behaviour_rule_problems(rule: BehaviourRule) -> list[str]:
    """Return each problem of one behaviour rule (event type, points, cap), in words."""
    problems: list[str] = []
    if not isinstance(rule.event_type, str) or not rule.event_type.strip():
        problems.append("event type must be non-empty text")
    _check_range(problems, "points", rule.points, limits.MIN_POINTS, limits.MAX_POINTS)
    if rule.cap is not None:
        if not is_number(rule.cap):
            problems.append(f"cap must be a number or absent, not {rule.cap!r}")
        elif rule.cap < 0:
            problems.append(f"cap {number_text(rule.cap)} must be 0 or more")
    return problems


def fit_rule_identity(rule: FitRule, fields: Mapping[str, str]) -> tuple:
    """Return what makes two fit rules the same rule, read for the field's type when it can
    be (so 'Yes' and 'yes', [A, B] and [B, A] are one rule)."""
    try:
        return normalised_rule(rule, fields).key
    except (ValueError, TypeError, KeyError):
        return (rule.attribute, rule.op, repr(rule.value))


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
        where = f"fit rule {rule_name(rule)}"
        problems += [f"{where}: {p}" for p in fit_rule_problems(rule, known_fields)]
        key = fit_rule_identity(rule, known_fields)
        if key in seen_fit:
            problems.append(f"{where} appears more than once")
        seen_fit.add(key)

    seen_behaviour: set = set()
    for behaviour in definition.behaviour_rules:
        where = f"behaviour rule {short(behaviour.event_type)!r}"
        problems += [f"{where}: {p}" for p in behaviour_rule_problems(behaviour)]
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
