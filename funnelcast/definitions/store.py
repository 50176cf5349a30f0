"""Versions in the database: load one, the one in force on a day or in a quarter, the history
of every version, save a new one, and what the data says about a draft before it is saved
(save_warnings: rules that match no lead, event types that never occur, a started quarter).

Every version is kept: a save always adds a new one. The version in force in a quarter is the
one with the latest effective_from on or before the quarter's start, the newest version winning
a tie (queries/definition_in_force.sql), so replacing a quarter's version adds a newer one for
the same day and leaves the old one in history.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from funnelcast.core import periods
from funnelcast.data import db
from funnelcast.definitions import operators
from funnelcast.definitions._numbers import number_text
from funnelcast.definitions.fields import lead_fields
from funnelcast.definitions.model import (
    BehaviourRule,
    Definition,
    DefinitionError,
    FitRule,
    QuarterTakenError,
    first_quarter,
)
from funnelcast.definitions.quarters import fiscal_start_month, parse_quarter, today
from funnelcast.definitions.validation import (
    LISTED_VALUES,
    normalised,
    rule_name,
    short,
    validate,
)


def load(cur: duckdb.DuckDBPyConnection, definition_id: int) -> Definition:
    """Return the stored version with this id, with its rules."""
    rows = db.run(cur, "definition_by_id", definition_id=definition_id).to_dicts()
    if not rows:
        raise DefinitionError(f"no MQL definition with id {definition_id}")
    head = rows[0]
    rules = db.run(cur, "definition_rules", definition_id=definition_id).to_dicts()
    return Definition(
        name=head["name"],
        threshold=head["threshold"],
        half_life_days=head["half_life_days"],
        fit_rules=tuple(_fit_rule(r) for r in rules if r["kind"] == "fit"),
        behaviour_rules=tuple(
            BehaviourRule(r["event_type"], r["points"], r["cap_points"])
            for r in rules
            if r["kind"] == "behaviour"
        ),
        note=head["note"],
        effective_from=head["effective_from"],
        definition_id=head["definition_id"],
        created_at=head["created_at"],
    )


def _fit_rule(row: dict) -> FitRule:
    """Return the fit rule a definition_rules.sql row stores."""
    compiled = operators.Compiled(
        operator=row["operator"],
        field_type=row["field_type"],
        text=row["value"],
        texts=tuple(row["value_list"]) if row["value_list"] is not None else None,
        low=row["low"],
        high=row["high"],
        low_inclusive=row["low_inclusive"],
        high_inclusive=row["high_inclusive"],
    )
    return FitRule(
        row["attribute"],
        operators.value_from_stored(compiled),
        row["points"],
        row["is_disqualifier"],
        op=row["operator"],
        cap=row["cap_points"],
    )


# The columns of definition_fit_rules a rule compiles to, in order (after definition_id).
FIT_RULE_COLUMNS = (
    "rule_no",
    "attribute",
    "operator",
    "field_type",
    "value",
    "value_list",
    "low",
    "high",
    "low_inclusive",
    "high_inclusive",
    "points",
    "is_disqualifier",
    "cap_points",
)


def fit_rule_rows(definition: Definition, field_types: dict[str, str]) -> list[tuple]:
    """Return a definition's fit rules as definition_fit_rules rows (FIT_RULE_COLUMNS), numbered
    in the canonical order (field_types: each field's type; a field it lacks is text)."""
    rows = []
    for number, r in enumerate(definition.fit_rules, 1):
        field_type = field_types.get(r.attribute, operators.TEXT)
        c = operators.compile_rule(field_type, r.op, r.value)
        rows.append(
            (
                number,
                r.attribute,
                r.op,
                field_type,
                c.text,
                list(c.texts) if c.texts is not None else None,
                c.low,
                c.high,
                c.low_inclusive,
                c.high_inclusive,
                float(r.points),
                bool(r.is_disqualifier),
                None if r.cap is None else float(r.cap),
            )
        )
    return rows


def fit_rule_lists(definition: Definition, field_types: dict[str, str]) -> dict[str, list]:
    """Return a draft's fit rules as one list per column, named fit_<column> (the parameters
    a query that scores an unsaved definition unnests: see lead_score_explained.sql)."""
    rows = fit_rule_rows(definition, field_types)
    return {f"fit_{name}": [row[i] for row in rows] for i, name in enumerate(FIT_RULE_COLUMNS)}


def insert_rules(
    cur: duckdb.DuckDBPyConnection,
    definition_id: int,
    definition: Definition,
    field_types: dict[str, str],
) -> None:
    """Insert a definition's fit and behaviour rules under definition_id (field_types: each
    field's type, definitions.fields.lead_fields; a field it lacks is text)."""
    rows = fit_rule_rows(definition, field_types)
    if rows:
        cur.executemany(
            f"insert into definition_fit_rules (definition_id, {', '.join(FIT_RULE_COLUMNS)}) "
            f"values ({', '.join('?' * (len(FIT_RULE_COLUMNS) + 1))})",
            [(definition_id, *row) for row in rows],
        )
    if definition.behaviour_rules:
        cur.executemany(
            "insert into definition_behaviour_rules (definition_id, event_type, points, "
            "cap_points) values (?, ?, ?, ?)",
            [
                (
                    definition_id,
                    r.event_type,
                    float(r.points),
                    None if r.cap is None else float(r.cap),
                )
                for r in definition.behaviour_rules
            ],
        )


def current(cur: duckdb.DuckDBPyConnection, on: dt.date | None = None) -> Definition | None:
    """Return the version in force on a day (default: the data's today), or None if none is."""
    rows = db.run(cur, "definition_in_force", on=on or today(cur)).to_dicts()
    return load(cur, rows[0]["definition_id"]) if rows else None


def in_force_for_quarter(
    cur: duckdb.DuckDBPyConnection, quarter: str | periods.Quarter
) -> Definition | None:
    """Return the version in force in a quarter (latest effective_from on or before its start)."""
    return current(cur, on=parse_quarter(cur, quarter).start)


def version_taking_effect(
    cur: duckdb.DuckDBPyConnection, quarter: str | periods.Quarter
) -> Definition | None:
    """Return the version first in force in this quarter (None: it keeps the previous one's)."""
    fy = fiscal_start_month(cur)
    quarter = parse_quarter(cur, quarter)
    in_force = in_force_for_quarter(cur, quarter)
    if in_force is None or in_force.effective_quarter(fy) != quarter:
        return None
    return in_force


VERSION_SCHEMA = {
    "definition_id": pl.Int64,
    "name": pl.String,
    "effective_from": pl.Date,
    "first_quarter": pl.String,
    "last_quarter": pl.String,
    "in_force": pl.String,
    "status": pl.String,
    "threshold": pl.Float64,
    "half_life_days": pl.Float64,
    "fit_rules": pl.Int64,
    "disqualifiers": pl.Int64,
    "behaviour_rules": pl.Int64,
    "created_at": pl.Datetime,  # microseconds, polars' default unit
    "note": pl.String,
    "next_definition_id": pl.Int64,
}


def list_versions(cur: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Return every kept version, oldest first, with the quarters it is in force in."""
    # first_quarter / last_quarter: its span in force (last null: still open, or never in force).
    # status: 'in force' (on the data's today), 'scheduled' (from a later quarter), 'superseded',
    # or 'replaced' (a newer version took its quarter before it took effect: never in force).
    fy = fiscal_start_month(cur)
    now = periods.quarter_of(today(cur), fy)
    out = []
    for row in db.run(cur, "definition_versions").to_dicts():
        first = first_quarter(row["effective_from"], fy)
        following = row.pop("next_effective_from")
        last = first_quarter(following, fy).previous(fy) if following else None
        if last is not None and last < first:
            status = "replaced"
            in_force = f"never (replaced by {row['next_definition_id']} for {first.label})"
        else:
            if first > now:
                status = "scheduled"
            elif last is None or last >= now:
                status = "in force"
            else:
                status = "superseded"
            in_force = (
                f"{first.label} onward"
                if last is None
                else first.label
                if last == first
                else f"{first.label}–{last.label}"
            )
        out.append(
            {
                **row,
                "first_quarter": first.label,
                "last_quarter": last.label if last is not None and status != "replaced" else None,
                "in_force": in_force,
                "status": status,
            }
        )
    return pl.DataFrame(out, schema=VERSION_SCHEMA)


def save(
    cur: duckdb.DuckDBPyConnection,
    definition: Definition,
    effective_quarter: str | periods.Quarter,
    *,
    replace: bool = False,
) -> Definition:
    """Return the definition saved as a new version, in force from the quarter's start."""
    # A quarter where another version already takes effect raises QuarterTakenError unless
    # replace=True: then the new version wins the quarter by being newer (definition_in_force's
    # tie-break) and the old one stays in history. One transaction: on any error, no change.
    quarter = parse_quarter(cur, effective_quarter)
    field_types = lead_fields(cur)
    validate(definition, field_types)
    definition = normalised(definition, field_types)
    cur.execute("begin transaction")
    try:
        existing = version_taking_effect(cur, quarter)
        if existing is not None and not replace:
            raise QuarterTakenError(quarter, existing)
        new_id = cur.execute(
            "select coalesce(max(definition_id), 0) + 1 from definitions"
        ).fetchall()[0][0]
        cur.execute(
            "insert into definitions (definition_id, name, effective_from, threshold, "
            "half_life_days, created_at, note) values ($id, $name, $from, $threshold, "
            "$half_life, $created, $note)",
            {
                "id": new_id,
                "name": definition.name,
                "from": quarter.start,
                "threshold": float(definition.threshold),
                "half_life": float(definition.half_life_days),
                "created": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                "note": definition.note,
            },
        )
        insert_rules(cur, new_id, definition, field_types)
        cur.execute("commit")
    except BaseException:
        cur.execute("rollback")
        raise
    return load(cur, new_id)


# ===== warnings before a save: what only the data can tell =====


def _listed(values: list[str], total: int) -> str:
    """Return up to LISTED_VALUES values for a message, with … when there are more."""
    shown = [short(v, 40) for v in sorted(values)[:LISTED_VALUES]]
    return ", ".join(shown) + (", …" if total > len(shown) else "")


def _what_the_field_holds(rule: FitRule, field_type: str, row: dict) -> str:
    """Return a hint saying what a field holds in the data, for a rule that matches no lead."""
    name = short(rule.attribute, 60)
    if row["known_leads"] == 0:
        return f" (no lead has a value for {name})"
    if field_type == operators.TEXT:
        return f" ({name} values in the data: {_listed(row['text_values'], row['distinct_texts'])})"
    low, high = row["min_number"], row["max_number"]
    if field_type == operators.YES_NO:
        held = sorted({"Yes" if v == 1.0 else "No" for v in (low, high)}, reverse=True)
        return f" ({name} in the data: {', '.join(held)})"
    shown = (
        (lambda v: operators.value_text(operators.IS, operators.moment_of(v)))
        if field_type == operators.DATE
        else (lambda v: number_text(v))
    )
    return f" ({name} in the data: {shown(low)} to {shown(high)})"


def fit_rule_warnings(cur: duckdb.DuckDBPyConnection, definition: Definition) -> list[str]:
    """Return a warning for each fit rule that matches no lead in the data (none when there is
    no lead: an empty table says nothing about typos) and each disqualifier that matches them
    all. The definition must be valid for the database's fields (validate)."""
    field_types = lead_fields(cur)
    draft = normalised(definition, field_types)
    if not draft.fit_rules:
        return []
    counts = db.run(cur, "rule_match_counts", **fit_rule_lists(draft, field_types)).to_dicts()
    warnings = []
    for rule, row in zip(draft.fit_rules, counts, strict=True):
        if row["leads"] == 0:
            return []
        if row["matched_leads"] == 0:
            hint = (
                ""
                if rule.op == operators.UNKNOWN
                else _what_the_field_holds(rule, field_types[rule.attribute], row)
            )
            warnings.append(f"fit rule {rule_name(rule)} matches no lead{hint}")
        elif rule.is_disqualifier and row["matched_leads"] == row["leads"]:
            warnings.append(
                f"fit rule {rule_name(rule)} disqualifies every lead: no lead can become an MQL"
            )
    return warnings


def save_warnings(
    cur: duckdb.DuckDBPyConnection, definition: Definition, effective_quarter: str | periods.Quarter
) -> list[str]:
    """Return validate()'s warnings, rules that match nothing in the data, and a started quarter."""
    warnings = validate(definition, lead_fields(cur))
    quarter = parse_quarter(cur, effective_quarter)
    warnings += fit_rule_warnings(cur, definition)
    vocabulary = db.run(cur, "scoring_vocabulary").filter(pl.col("kind") == "behaviour")
    event_types = vocabulary["value"].to_list()
    if event_types:
        for behaviour in definition.behaviour_rules:
            if behaviour.event_type not in event_types:
                warnings.append(
                    f"behaviour rule {short(behaviour.event_type)!r} matches no event (event "
                    f"types in the data: {_listed(event_types, len(event_types))})"
                )
    data_today = today(cur)
    if quarter.start <= data_today:
        warnings.append(
            f"{quarter.label} has already started (the data runs to {data_today}): saving "
            f"changes the MQLs computed for {quarter.label} and the quarters after it"
        )
    return warnings
