"""Versioned MQL definitions: load, list, compare, validate and save them; TOML files to edit.

Every version is kept: a save always adds a new one. The version in force in a quarter is the
one with the latest effective_from on or before the quarter's start, the newest version winning
a tie (queries/definition_in_force.sql), so replacing a quarter's version adds a newer one for
the same day and leaves the old one in history.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import asdict, dataclass
from dataclasses import replace as dataclass_replace
from typing import Any

import duckdb
import polars as pl

from funnelcast.core import periods
from funnelcast.data import db
from funnelcast.data.context import load_context

# The attributes a fit rule may name: the CHECK list of definition_fit_rules in schema.sql.
FIT_ATTRIBUTES = ("channel", "industry", "company_size_band", "country", "region", "seniority")
# The bands lead_fit_attributes (schema.sql) puts company sizes in, smallest first.
COMPANY_SIZE_BANDS = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+")
MIN_POINTS, MAX_POINTS = -100.0, 100.0
MIN_THRESHOLD, MAX_THRESHOLD = 0.0, 1000.0
MAX_HALF_LIFE_DAYS = 3650.0
# How many of the data's values a warning about an unknown value lists.
LISTED_VALUES = 12


class DefinitionError(db.FunnelcastError):
    """A definition, definition file or quarter that cannot be used; .problems lists each reason."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems if problems is not None else [message]


class QuarterTakenError(DefinitionError):
    """A save into a quarter in which another version already takes effect (.existing)."""

    def __init__(self, quarter: periods.Quarter, existing: Definition):
        self.quarter = quarter
        self.existing = existing
        saved = f", saved {existing.created_at:%Y-%m-%d %H:%M}" if existing.created_at else ""
        super().__init__(
            f"{quarter.label} already has a definition: version {existing.definition_id} "
            f"{existing.name!r}{saved}. Save again with replace to make the new version the one "
            f"in force from {quarter.label} (CLI: --replace); definition "
            f"{existing.definition_id} stays in history either way"
        )


@dataclass(frozen=True)
class FitRule:
    """A lead whose attribute has this value gains points, or (a disqualifier) never qualifies."""

    attribute: str
    value: str
    points: float = 0.0
    is_disqualifier: bool = False

    @property
    def label(self) -> str:
        """Return the rule's name in messages: attribute=value."""
        return f"{self.attribute}={self.value}"


@dataclass(frozen=True)
class BehaviourRule:
    """Points per event of a type, halved every half-life; the decayed sum is capped at cap."""

    event_type: str
    points: float
    cap: float | None = None


@dataclass(frozen=True, kw_only=True)
class Definition:
    """One version of the MQL definition (a draft has no id, effective_from or created_at)."""

    name: str
    threshold: float
    half_life_days: float
    fit_rules: tuple[FitRule, ...] = ()
    behaviour_rules: tuple[BehaviourRule, ...] = ()
    note: str | None = None
    effective_from: dt.date | None = None
    definition_id: int | None = None
    created_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        # One canonical rule order (fit by attribute, then value; behaviour by event type), so
        # that definitions with the same rules compare and hash equal whatever order they came in.
        object.__setattr__(self, "fit_rules", tuple(sorted(self.fit_rules, key=_fit_order)))
        object.__setattr__(
            self,
            "behaviour_rules",
            tuple(sorted(self.behaviour_rules, key=lambda rule: str(rule.event_type))),
        )

    def effective_quarter(self, fy_start_month: int = 1) -> periods.Quarter | None:
        """Return the first quarter this version can be in force in (None for a draft)."""
        if self.effective_from is None:
            return None
        return _first_quarter(self.effective_from, fy_start_month)


def _fit_order(rule: FitRule) -> tuple:
    """Return a fit rule's place in the canonical order: schema attribute order, bands by size."""
    attribute_rank = (
        FIT_ATTRIBUTES.index(rule.attribute)
        if rule.attribute in FIT_ATTRIBUTES
        else len(FIT_ATTRIBUTES)
    )
    band_rank = (
        COMPANY_SIZE_BANDS.index(rule.value)
        if rule.value in COMPANY_SIZE_BANDS
        else len(COMPANY_SIZE_BANDS)
    )
    return attribute_rank, str(rule.attribute), band_rank, str(rule.value)


def _first_quarter(effective_from: dt.date, fy_start_month: int) -> periods.Quarter:
    """Return the first quarter whose start is on or after effective_from."""
    quarter = periods.quarter_of(effective_from, fy_start_month)
    return quarter if quarter.start == effective_from else quarter.shifted(1, fy_start_month)


# ===== the calendar =====


def fiscal_start_month(cur: duckdb.DuckDBPyConnection) -> int:
    """Return the database's fiscal year start month (1 = calendar quarters)."""
    return int(db.get_meta(cur, "fiscal_year_start_month", "1") or 1)


def today(cur: duckdb.DuckDBPyConnection) -> dt.date:
    """Return the data's today, as the metrics see it; today in UTC for a database without data."""
    as_of = load_context(cur).as_of
    return as_of.date() if as_of else dt.datetime.now(dt.UTC).date()


def next_quarter(cur: duckdb.DuckDBPyConnection) -> periods.Quarter:
    """Return the quarter after the one holding the data's today: where a new version goes."""
    fy = fiscal_start_month(cur)
    return periods.quarter_of(today(cur), fy).shifted(1, fy)


def parse_quarter(
    cur: duckdb.DuckDBPyConnection, quarter: str | periods.Quarter
) -> periods.Quarter:
    """Return the quarter a label like 2027Q1 (or 'next') names in the database's fiscal year."""
    if isinstance(quarter, periods.Quarter):
        return quarter
    if isinstance(quarter, str) and quarter.strip().lower() == "next":
        return next_quarter(cur)
    try:
        return periods.parse_quarter(str(quarter), fiscal_start_month(cur))
    except ValueError as exc:
        raise DefinitionError(f"effective quarter: {exc}") from None


# ===== reading versions =====


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
        fit_rules=tuple(
            FitRule(r["attribute"], r["value"], r["points"], r["is_disqualifier"])
            for r in rules
            if r["kind"] == "fit"
        ),
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
        first = _first_quarter(row["effective_from"], fy)
        following = row.pop("next_effective_from")
        last = _first_quarter(following, fy).previous(fy) if following else None
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


# ===== editing =====


def new_version_from(definition: Definition) -> Definition:
    """Return an unsaved copy of a version to edit (no id, effective date or creation time)."""
    return dataclass_replace(definition, definition_id=None, effective_from=None, created_at=None)


def _num(value: Any) -> str:
    """Return a number as people write it: 40, 12.5."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return str(int(value)) if float(value).is_integer() else f"{value:.6g}"
    return repr(value)


def _cap_text(cap: float | None) -> str:
    """Return a cap for people: 'cap 15' or 'no cap'."""
    return "no cap" if cap is None else f"cap {_num(cap)}"


def _fit_effect(rule: FitRule) -> str:
    """Return what a fit rule does: 'disqualifier' or '5 points'."""
    return "disqualifier" if rule.is_disqualifier else f"{_num(rule.points)} points"


def diff(a: Definition, b: Definition) -> list[str]:
    """Return the changes from a to b as readable lines (empty when they score the same way)."""
    changes = []
    if a.name != b.name:
        changes.append(f"name {a.name!r} → {b.name!r}")
    if a.effective_from and b.effective_from and a.effective_from != b.effective_from:
        changes.append(f"effective from {a.effective_from} → {b.effective_from}")
    if a.threshold != b.threshold:
        changes.append(f"threshold {_num(a.threshold)} → {_num(b.threshold)}")
    if a.half_life_days != b.half_life_days:
        changes.append(f"half-life {_num(a.half_life_days)} → {_num(b.half_life_days)} days")

    old_fit = {(r.attribute, r.value): r for r in a.fit_rules}
    new_fit = {(r.attribute, r.value): r for r in b.fit_rules}
    for key in sorted(old_fit.keys() | new_fit.keys(), key=lambda k: _fit_order(FitRule(*k))):
        old, new = old_fit.get(key), new_fit.get(key)
        label = f"fit rule {key[0]}={key[1]}"
        if old is None and new is not None:
            added = "as disqualifier" if new.is_disqualifier else f"with {_num(new.points)} points"
            changes.append(f"{label} added {added}")
        elif new is None and old is not None:
            changes.append(f"{label} removed (was {_fit_effect(old)})")
        elif old is not None and new is not None:
            if old.is_disqualifier != new.is_disqualifier:
                now = "now a disqualifier" if new.is_disqualifier else "no longer a disqualifier"
                changes.append(f"{label} {now}")
            if old.points != new.points:
                changes.append(f"{label} points {_num(old.points)} → {_num(new.points)}")

    old_behaviour = {r.event_type: r for r in a.behaviour_rules}
    new_behaviour = {r.event_type: r for r in b.behaviour_rules}
    for event_type in sorted(old_behaviour.keys() | new_behaviour.keys()):
        before, after = old_behaviour.get(event_type), new_behaviour.get(event_type)
        label = f"behaviour {event_type!r}"
        if before is None and after is not None:
            changes.append(
                f"{label} added with {_num(after.points)} points, {_cap_text(after.cap)}"
            )
        elif after is None and before is not None:
            changes.append(
                f"{label} removed (was {_num(before.points)} points, {_cap_text(before.cap)})"
            )
        elif before is not None and after is not None:
            if before.points != after.points:
                changes.append(f"{label} points {_num(before.points)} → {_num(after.points)}")
            if before.cap != after.cap:
                changes.append(
                    f"{label} cap {_num(before.cap) if before.cap is not None else 'none'} → "
                    f"{_num(after.cap) if after.cap is not None else 'none'}"
                )

    if a.note != b.note:
        changes.append(f"note {a.note!r} → {b.note!r}")
    return changes


# ===== validation =====


def _is_number(value: Any) -> bool:
    """Return whether value is a finite int or float (booleans are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_range(problems: list[str], what: str, value: Any, low: float, high: float) -> None:
    """Append a problem when value is not a number within [low, high]."""
    if not _is_number(value):
        problems.append(f"{what} must be a number, not {value!r}")
    elif not low <= value <= high:
        problems.append(f"{what} {_num(value)} is outside [{_num(low)}, {_num(high)}]")


def _title(definition: Definition) -> str:
    """Return how messages name a definition."""
    name = definition.name if isinstance(definition.name, str) else ""
    return f"definition {name!r}" if name.strip() else "the definition"


def validate(definition: Definition) -> list[str]:
    """Return warnings about a usable definition; raise DefinitionError naming every problem."""
    problems: list[str] = []
    if not isinstance(definition.name, str) or not definition.name.strip():
        problems.append("name is empty")
    _check_range(problems, "threshold", definition.threshold, MIN_THRESHOLD, MAX_THRESHOLD)
    half_life = definition.half_life_days
    if not _is_number(half_life):
        problems.append(f"half-life must be a number of days, not {half_life!r}")
    elif not 0 < half_life <= MAX_HALF_LIFE_DAYS:
        problems.append(
            f"half-life {_num(half_life)} days must be more than 0 and at most "
            f"{_num(MAX_HALF_LIFE_DAYS)}"
        )
    if definition.note is not None and not isinstance(definition.note, str):
        problems.append(f"note must be text, not {definition.note!r}")

    seen_fit: set[tuple] = set()
    for rule in definition.fit_rules:
        where = f"fit rule {rule.label}"
        if rule.attribute not in FIT_ATTRIBUTES:
            problems.append(
                f"{where}: unknown attribute {rule.attribute!r} "
                f"(allowed: {', '.join(FIT_ATTRIBUTES)})"
            )
        if not isinstance(rule.value, str) or not rule.value.strip():
            problems.append(f"{where}: value must be non-empty text, not {rule.value!r}")
        elif rule.attribute == "company_size_band" and rule.value not in COMPANY_SIZE_BANDS:
            problems.append(
                f"{where}: unknown company size band {rule.value!r} "
                f"(bands: {', '.join(COMPANY_SIZE_BANDS)})"
            )
        _check_range(problems, f"{where}: points", rule.points, MIN_POINTS, MAX_POINTS)
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
        _check_range(problems, f"{where}: points", behaviour.points, MIN_POINTS, MAX_POINTS)
        if behaviour.cap is not None:
            if not _is_number(behaviour.cap):
                problems.append(f"{where}: cap must be a number or absent, not {behaviour.cap!r}")
            elif behaviour.cap < 0:
                problems.append(f"{where}: cap {_num(behaviour.cap)} must be 0 or more")
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
            f"no lead can reach threshold {_num(definition.threshold)}: the most a lead can "
            f"score is {_num(best)} (best fit {_num(best_fit)} + every capped behaviour at its "
            f"cap {_num(best_behaviour)})"
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


# ===== saving =====


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
    validate(definition)
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
        if definition.fit_rules:
            cur.executemany(
                "insert into definition_fit_rules (definition_id, attribute, value, points, "
                "is_disqualifier) values (?, ?, ?, ?, ?)",
                [
                    (new_id, r.attribute, r.value, float(r.points), r.is_disqualifier)
                    for r in definition.fit_rules
                ],
            )
        if definition.behaviour_rules:
            cur.executemany(
                "insert into definition_behaviour_rules (definition_id, event_type, points, "
                "cap_points) values (?, ?, ?, ?)",
                [
                    (new_id, r.event_type, float(r.points), None if r.cap is None else float(r.cap))
                    for r in definition.behaviour_rules
                ],
            )
        cur.execute("commit")
    except BaseException:
        cur.execute("rollback")
        raise
    return load(cur, new_id)


# ===== files: JSON-ready dicts and TOML =====


def to_dict(definition: Definition) -> dict[str, Any]:
    """Return the definition as JSON-ready data (dates as ISO text)."""
    data = asdict(definition)
    for key in ("effective_from", "created_at"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    return data


def _toml_string(text: str) -> str:
    """Return text as a TOML basic string, escaping what TOML requires."""
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_number(value: float) -> str:
    """Return a number as TOML: whole numbers without a fraction, others exactly (repr)."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


TOML_HEADER = """\
# An MQL definition for Funnelcast. Edit it, then save it as a new version, e.g.:
#   funnelcast definition save --db PATH THIS_FILE --quarter next
# threshold: the score at which a lead becomes an MQL ({min_t} to {max_t}).
# half_life_days: behaviour points halve in value every this many days (up to {max_h}).
"""
TOML_FIT_HELP = """\
# Fit rules: a lead whose attribute has the value gains points ({min_p} to {max_p}); with
# is_disqualifier = true it never becomes an MQL.
# attribute is one of: {attributes}.
# company_size_band values: {bands}.
"""
TOML_BEHAVIOUR_HELP = """\
# Behaviour rules: points per event of the type ({min_p} to {max_p}), halved every half-life
# (penalties, negative points, do not fade); cap, if given (0 or more), limits the decayed sum
# of the type.
"""


def to_toml(definition: Definition, fy_start_month: int = 1) -> str:
    """Return the definition as a commented TOML file a person can edit (from_toml reads it)."""
    limits = {"min_p": _num(MIN_POINTS), "max_p": _num(MAX_POINTS)}
    lines = [
        TOML_HEADER.format(
            min_t=_num(MIN_THRESHOLD), max_t=_num(MAX_THRESHOLD), max_h=_num(MAX_HALF_LIFE_DAYS)
        )
    ]
    lines.append(f"name = {_toml_string(definition.name)}")
    if definition.note is not None:
        lines.append(f"note = {_toml_string(definition.note)}")
    lines.append(f"threshold = {_toml_number(definition.threshold)}")
    lines.append(f"half_life_days = {_toml_number(definition.half_life_days)}")
    if definition.definition_id is not None or definition.effective_from is not None:
        lines.append("")
        lines.append(
            "# The stored version this file came from; a save ignores these and "
            "always adds a new version."
        )
    if definition.definition_id is not None:
        lines.append(f"definition_id = {definition.definition_id}")
    if definition.effective_from is not None:
        quarter = _first_quarter(definition.effective_from, fy_start_month)
        lines.append(
            f"effective_from = {definition.effective_from.isoformat()}  "
            f"# in force from {quarter.label}"
        )
    if definition.created_at is not None:
        lines.append(f"created_at = {definition.created_at.isoformat()}")
    lines.append("")
    lines.append(
        TOML_FIT_HELP.format(
            attributes=", ".join(FIT_ATTRIBUTES), bands=", ".join(COMPANY_SIZE_BANDS), **limits
        )
    )
    for rule in definition.fit_rules:
        lines += [
            "[[fit]]",
            f"attribute = {_toml_string(rule.attribute)}",
            f"value = {_toml_string(rule.value)}",
            f"points = {_toml_number(rule.points)}",
        ]
        if rule.is_disqualifier:
            lines.append("is_disqualifier = true")
        lines.append("")
    lines.append(TOML_BEHAVIOUR_HELP.format(**limits))
    for behaviour in definition.behaviour_rules:
        lines += [
            "[[behaviour]]",
            f"event_type = {_toml_string(behaviour.event_type)}",
            f"points = {_toml_number(behaviour.points)}",
        ]
        if behaviour.cap is not None:
            lines.append(f"cap = {_toml_number(behaviour.cap)}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


class _Reader:
    """Takes typed values out of parsed TOML tables, noting each problem with where it is."""

    def __init__(self, source: str):
        self.source = source
        self.problems: list[str] = []

    def check_keys(self, table: dict, known: tuple[str, ...], where: str) -> None:
        """Note every key of table that is not a known one (a typo would otherwise be lost)."""
        for key in table:
            if key not in known:
                self.problems.append(f"{where}: unknown key {key!r} (known: {', '.join(known)})")

    def take(self, table: dict, key: str, kind: str, where: str, *, required: bool = True) -> Any:
        """Return table[key] checked to be of kind; None, noting a problem, if missing or not."""
        if key not in table:
            if required:
                self.problems.append(f"{where}: missing {key}")
            return None
        value = table[key]
        ok = {
            "text": isinstance(value, str),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "whole number": isinstance(value, int) and not isinstance(value, bool),
            "date": isinstance(value, dt.date) and not isinstance(value, dt.datetime),
            "date and time": isinstance(value, dt.datetime),
        }[kind]
        if not ok:
            self.problems.append(f"{where}: {key} must be a {kind}, not {value!r}")
            return None
        if kind == "number":
            return float(value)
        if kind == "date and time" and value.tzinfo is not None:
            # Times are stored in UTC without a zone.
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def entries(self, data: dict, key: str) -> list[tuple[str, dict]]:
        """Return the [[key]] tables of data, each with where it is in the file."""
        items = data.get(key, [])
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            self.problems.append(f"{self.source}: {key} must be a list of [[{key}]] tables")
            return []
        return [(f"{self.source}, [[{key}]] entry {i}", item) for i, item in enumerate(items, 1)]


def from_toml(text: str, source: str = "TOML") -> Definition:
    """Return the definition a TOML text (as to_toml writes it) describes."""
    # This checks the file's shape (keys, types), naming the source and the [[fit]] or
    # [[behaviour]] entry; validate() checks the values.
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"{source}: not valid TOML: {exc}") from None
    read = _Reader(source)
    read.check_keys(
        data,
        (
            "name",
            "note",
            "threshold",
            "half_life_days",
            "definition_id",
            "effective_from",
            "created_at",
            "fit",
            "behaviour",
        ),
        source,
    )
    fit_rules = []
    for where, entry in read.entries(data, "fit"):
        read.check_keys(entry, ("attribute", "value", "points", "is_disqualifier"), where)
        fit_rules.append(
            FitRule(
                attribute=read.take(entry, "attribute", "text", where),
                value=read.take(entry, "value", "text", where),
                points=read.take(entry, "points", "number", where, required=False) or 0.0,
                is_disqualifier=bool(
                    read.take(entry, "is_disqualifier", "boolean", where, required=False)
                ),
            )
        )
    behaviour_rules = []
    for where, entry in read.entries(data, "behaviour"):
        read.check_keys(entry, ("event_type", "points", "cap"), where)
        behaviour_rules.append(
            BehaviourRule(
                event_type=read.take(entry, "event_type", "text", where),
                points=read.take(entry, "points", "number", where),
                cap=read.take(entry, "cap", "number", where, required=False),
            )
        )
    definition = Definition(
        name=read.take(data, "name", "text", source),
        note=read.take(data, "note", "text", source, required=False),
        threshold=read.take(data, "threshold", "number", source),
        half_life_days=read.take(data, "half_life_days", "number", source),
        definition_id=read.take(data, "definition_id", "whole number", source, required=False),
        effective_from=read.take(data, "effective_from", "date", source, required=False),
        created_at=read.take(data, "created_at", "date and time", source, required=False),
        fit_rules=tuple(fit_rules),
        behaviour_rules=tuple(behaviour_rules),
    )
    if read.problems:
        raise DefinitionError("; ".join(read.problems), read.problems)
    return definition
