"""Checks on a definition and their messages: validate() refuses what cannot be saved, naming
every problem, and warns about what can be saved but will not score as meant; save_warnings()
adds what only the data can tell (rules that match nothing, a quarter already started).
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from funnelcast.core import periods
from funnelcast.data import db
from funnelcast.definitions import limits
from funnelcast.definitions._numbers import is_number, number_text
from funnelcast.definitions.model import Definition, DefinitionError
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


def validate(definition: Definition) -> list[str]:
    """Return warnings about a usable definition; raise DefinitionError naming every problem."""
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

    seen_fit: set[tuple] = set()
    for rule in definition.fit_rules:
        where = f"fit rule {rule.label}"
        if rule.attribute not in limits.FIT_ATTRIBUTES:
            problems.append(
                f"{where}: unknown attribute {rule.attribute!r} "
                f"(allowed: {', '.join(limits.FIT_ATTRIBUTES)})"
            )
        if not isinstance(rule.value, str) or not rule.value.strip():
            problems.append(f"{where}: value must be non-empty text, not {rule.value!r}")
        elif rule.attribute == "company_size_band" and rule.value not in limits.COMPANY_SIZE_BANDS:
            problems.append(
                f"{where}: unknown company size band {rule.value!r} "
                f"(bands: {', '.join(limits.COMPANY_SIZE_BANDS)})"
            )
        _check_range(
            problems, f"{where}: points", rule.points, limits.MIN_POINTS, limits.MAX_POINTS
        )
        if not isinstance(rule.is_disqualifier, bool):
            problems.append(f"{where}: is_disqualifier must be true or false")
        key = (rule.attribute, rule.value)
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
    best_fit = sum(
        max(
            0.0,
            max(
                (
                    r.points
                    for r in definition.fit_rules
                    if r.attribute == attribute and not r.is_disqualifier
                ),
                default=0.0,
            ),
        )
        for attribute in {r.attribute for r in definition.fit_rules}
    )
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
    warnings = validate(definition)
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
