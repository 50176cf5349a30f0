"""Definitions as files: the commented TOML a person edits (to_toml writes it, from_toml reads
it back, naming every problem with its file and line) and JSON-ready dicts (to_dict).

A fit rule is one line of the `fit` array, e.g.
    { field = "TotalVisits", op = ">=", value = 5, points = 10 }
    { field = "Employees", op = "between", low = 50, high = 5000, points = 5 }
(the keys: TOML_FIT_HELP, the header of every file). Files written before operators, with
[[fit]] tables of attribute / value / points / is_disqualifier, still read: as `is` rules.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from funnelcast.definitions import limits, operators
from funnelcast.definitions._numbers import number_text
from funnelcast.definitions.fields import BUILTIN_FIELDS
from funnelcast.definitions.model import (
    BehaviourRule,
    Definition,
    DefinitionError,
    FitRule,
    first_quarter,
)
from funnelcast.definitions.validation import (
    behaviour_rule_problems,
    fit_rule_identity,
    fit_rule_problems,
    normalised,
    rule_name,
    short,
    validate,
)


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


def _jsonable(value: Any) -> Any:
    """Return a rule value as JSON-ready data: dates as ISO text, tuples as lists."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def to_dict(definition: Definition) -> dict[str, Any]:
    """Return the definition as JSON-ready data (dates as ISO text; a fit rule's value as
    FitRule holds it: a list for `is any of` / `is none of`, [low, high] for `between` with
    null for an open end, days for `within`, null for `is known` / `is unknown` / `per unit`)."""
    data = asdict(definition)
    for key in ("effective_from", "created_at"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    for rule in data["fit_rules"]:
        rule["value"] = _jsonable(rule["value"])
    return data


def _toml_value(value: Any) -> str:
    """Return a rule's value as TOML: text quoted, numbers plain, dates bare, lists in []."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _toml_number(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return _toml_string(str(value))


def _fit_entry(rule: FitRule) -> str:
    """Return one fit rule as the inline table of its line in the file."""
    try:
        op = operators.canonical_operator(rule.op)
    except operators.RuleValueError:
        op = str(rule.op)
    parts = [f"field = {_toml_string(str(rule.attribute))}", f"op = {_toml_string(op)}"]
    value = rule.value
    if op == operators.BETWEEN and isinstance(value, (list, tuple)) and len(value) == 2:
        parts += [
            f"{end} = {_toml_value(v)}" for end, v in zip(("low", "high"), value) if v is not None
        ]
    elif op == operators.WITHIN and value is not None:
        parts.append(f"days = {_toml_value(value)}")
    elif value is not None:
        parts.append(f"value = {_toml_value(value)}")
    if not rule.is_disqualifier or rule.points:
        parts.append(f"points = {_toml_value(rule.points)}")
    if rule.is_disqualifier:
        parts.append("disqualify = true")
    if rule.cap is not None:
        parts.append(f"cap = {_toml_value(rule.cap)}")
    return "{ " + ", ".join(parts) + " }"


TOML_HEADER = """\
# An MQL definition for Funnelcast. Edit it, then save it as a new version, e.g.:
#   funnelcast definition save --db PATH THIS_FILE --quarter next
# threshold: the score at which a lead becomes an MQL ({min_t} to {max_t}).
# half_life_days: behaviour points halve in value every this many days (up to {max_h}).
"""
TOML_FIT_HELP = """\
# Fit rules, one a line: {{ field = ..., op = ..., the operand, points = N }} gives N points
# ({min_p} to {max_p}, negative allowed) to a lead whose field meets the rule; disqualify = true
# instead means the lead never becomes an MQL. field is a lead field (below) or a custom
# attribute the import kept, named by its column header. op and its operand:
#   "is"                        value = "Software" (exact, case counts), 5, "Yes"
#   "is any of", "is none of"   value = ["Marketing", "Sales"] (exact)
#   "contains", "starts with"   value = "soft" (case does not count)
#   "<", "<=", ">", ">="        value = 5
#   "between"                   low = 50, high = 5000 (both count; leave one out: open end)
#   "before", "after"           value = 2026-01-31 (dates; "between" takes dates too)
#   "within"                    days = 30 (a date this many days of creation, either side)
#   "is known", "is unknown"    no operand; only "is unknown" matches a lead without a value
#   "per unit"                  points per unit of the number, cap = 20 (at most; optional)
# Each type of field allows:
{allowed}
# Fields: {fields}.
# company_size_band values: {bands}.
"""
TOML_BEHAVIOUR_HELP = """\
# Behaviour rules: points per event of the type ({min_p} to {max_p}), halved every half-life
# (penalties, negative points, do not fade); cap, if given (0 or more), limits the decayed sum
# of the type.
"""
# How many fields the file's header lists.
LISTED_FIELDS = 60


def _fields_help(fields: Mapping[str, str]) -> str:
    """Return the fields a rule may name, with their types, for the file's header (names
    quoted as TOML strings, so that no name can end the comment)."""
    names = [
        f"{name if name in BUILTIN_FIELDS else _toml_string(short(name, 60))} ({kind})"
        for name, kind in list(fields.items())[:LISTED_FIELDS]
    ]
    more = ", …" if len(fields) > LISTED_FIELDS else ""
    # keep the comment's lines short: wrap after a few names
    lines, line = [], ""
    for name in names:
        if line and len(line) + len(name) > 80:
            lines.append(line.rstrip())
            line = ""
        line += name + ", "
    lines.append(line.rstrip(", ") + more)
    return "\n#   ".join(lines)


def to_toml(
    definition: Definition,
    fy_start_month: int = 1,
    fields: Mapping[str, str] | None = None,
) -> str:
    """Return the definition as a commented TOML file a person can edit (from_toml reads it);
    fields: the fields its header lists with their types (default: the built-in ones)."""
    ranges = {"min_p": number_text(limits.MIN_POINTS), "max_p": number_text(limits.MAX_POINTS)}
    lines = [
        TOML_HEADER.format(
            min_t=number_text(limits.MIN_THRESHOLD),
            max_t=number_text(limits.MAX_THRESHOLD),
            max_h=number_text(limits.MAX_HALF_LIFE_DAYS),
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
        quarter = first_quarter(definition.effective_from, fy_start_month)
        lines.append(
            f"effective_from = {definition.effective_from.isoformat()}  "
            f"# in force from {quarter.label}"
        )
    if definition.created_at is not None:
        lines.append(f"created_at = {definition.created_at.isoformat()}")
    lines.append("")
    allowed = "\n".join(f"#   {kind}: {', '.join(ops)}" for kind, ops in operators.ALLOWED.items())
    lines.append(
        TOML_FIT_HELP.format(
            allowed=allowed,
            fields=_fields_help(BUILTIN_FIELDS if fields is None else fields),
            bands=", ".join(limits.COMPANY_SIZE_BANDS),
            **ranges,
        )
    )
    if definition.fit_rules:
        lines.append("fit = [")
        lines += [f"    {_fit_entry(rule)}," for rule in definition.fit_rules]
        lines.append("]")
    else:
        lines.append("fit = []")
    lines.append("")
    lines.append(TOML_BEHAVIOUR_HELP.format(**ranges))
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


# ===== reading a file back: every problem named with its file and line =====


def entry_lines(text: str, key: str) -> list[int]:
    """Return the line (1-based) each entry of the array `key` starts on: each `[[key]]` header,
    or each { inline table } of a top-level `key = [ ... ]` (strings and comments skipped)."""
    headers = re.finditer(rf"^[ \t]*\[\[[ \t]*{key}[ \t]*\]\]", text, re.M)
    found = [text.count("\n", 0, m.start()) + 1 for m in headers]
    if found:
        return found
    start = re.search(rf"^[ \t]*{key}[ \t]*=[ \t]*\[", text, re.M)
    if start is None:
        return []
    i, depth, lines = start.end(), 1, []
    while i < len(text) and depth:
        char = text[i]
        if char == "#":
            i = _end_of(text, i, "\n") - 1  # the newline itself is counted below
        elif text.startswith(('"""', "'''"), i):
            i = _end_of(text, i + 3, text[i : i + 3], escapes=text[i] == '"') - 1
        elif char in "\"'":
            i = _end_of(text, i + 1, char, escapes=char == '"') - 1
        elif char in "[{":
            if depth == 1 and char == "{":
                lines.append(text.count("\n", 0, i) + 1)
            depth += 1
        elif char in "]}":
            depth -= 1
        i += 1
    return lines


def _end_of(text: str, i: int, closer: str, escapes: bool = False) -> int:
    """Return the index just after the closer that ends what starts at i (len(text) if none)."""
    while i < len(text):
        if escapes and text[i] == "\\":
            i += 2
            continue
        if text.startswith(closer, i):
            return i + len(closer)
        i += 1
    return len(text)


class _Reader:
    """Takes typed values out of parsed TOML tables, noting each problem (prefixed with where
    it is, when where is given)."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def note(self, where: str | None, message: str) -> None:
        """Note one problem."""
        self.problems.append(f"{where}: {message}" if where else message)

    def check_keys(self, table: dict, known: tuple[str, ...], where: str | None) -> None:
        """Note every key of table that is not a known one (a typo would otherwise be lost)."""
        for key in table:
            if key not in known:
                self.note(where, f"unknown key {short(key)!r} (known: {', '.join(known)})")

    def take(
        self, table: dict, key: str, kind: str, where: str | None, *, required: bool = True
    ) -> Any:
        """Return table[key] checked to be of kind; None, noting a problem, if missing or not."""
        if key not in table:
            if required:
                self.note(where, f"missing {key}")
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
            self.note(where, f"{key} must be a {kind}, not {short(repr(value))}")
            return None
        if kind == "number":
            return float(value)
        if kind == "date and time":
            return _utc(value)
        return value

    def operand(self, table: dict, key: str, where: str | None) -> Any:
        """Return a rule's operand as FitRule holds it: whole numbers as floats, lists as
        tuples (texts sorted, once each, as a saved rule keeps them), times in UTC."""
        value = table[key]
        if isinstance(value, list):
            items = tuple(self._scalar(v, key, where) for v in value)
            if all(isinstance(v, str) for v in items):
                return tuple(sorted(dict.fromkeys(items)))
            return items
        return self._scalar(value, key, where)

    def _scalar(self, value: Any, key: str, where: str | None) -> Any:
        """Return one operand value, or note that it is of a kind no rule reads."""
        if isinstance(value, bool) or isinstance(value, (str, dt.date)):
            return _utc(value) if isinstance(value, dt.datetime) else value
        if isinstance(value, (int, float)):
            return float(value)
        self.note(
            where, f"{key} must be text, a number, a date or a list, not {short(repr(value))}"
        )
        return None

    def entries(self, data: dict, key: str, source: str, text: str) -> list[tuple[str, dict]]:
        """Return the entries of data's array `key`, each with where it is in the file."""
        items = data.get(key, [])
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            self.note(source, f"{key} must be a list of {{ ... }} rules (or [[{key}]] tables)")
            return []
        lines = entry_lines(text, key)
        if len(lines) != len(items):  # laid out in a way the scan does not follow
            return [(f"{source}, {key} entry {i}", item) for i, item in enumerate(items, 1)]
        return [(f"{source}, line {line}", item) for line, item in zip(lines, items)]


def _utc(value: Any) -> Any:
    """Return a time with a zone as UTC without one (times are stored so); others as they are."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


# The keys of a fit rule: new files write field/op/the operand/points/disqualify/cap; files
# written before operators had attribute/value/points/is_disqualifier (an `is` rule).
FIT_KEYS = ("field", "op", "value", "low", "high", "days", "points", "disqualify", "cap")
OLD_FIT_KEYS = ("attribute", "is_disqualifier")
OPERAND_KEYS = ("value", "low", "high", "days")


def _operand_keys(op: str) -> tuple[str, ...]:
    """Return the keys an operator's operand is written with."""
    if op in (operators.KNOWN, operators.UNKNOWN, operators.PER_UNIT):
        return ()
    if op == operators.BETWEEN:
        return ("low", "high")
    if op == operators.WITHIN:
        return ("days",)
    return ("value",)


def _either(read: _Reader, entry: dict, new: str, old: str, kind: str) -> Any:
    """Return the value of a key written under its new name or its old one (not both)."""
    if new in entry and old in entry:
        read.note(None, f"give {new} or {old}, not both")
    key = old if old in entry and new not in entry else new
    return read.take(entry, key, kind, None, required=False)


def _read_fit(entry: dict) -> tuple[FitRule, list[str]]:
    """Return the fit rule one entry describes and the problems of its shape."""
    read = _Reader()
    read.check_keys(entry, FIT_KEYS + OLD_FIT_KEYS, None)
    attribute = _either(read, entry, "field", "attribute", "text")
    if attribute is None and "field" not in entry and "attribute" not in entry:
        read.note(None, "missing field")
    op = read.take(entry, "op", "text", None, required=False)
    if op is not None:
        try:
            op = operators.canonical_operator(op)
        except operators.RuleValueError as exc:
            read.note(None, short(exc, 300))
    op = operators.IS if "op" not in entry else op
    value: Any = None
    if op is not None:
        takes = _operand_keys(op)
        for key in OPERAND_KEYS:
            if key in entry and key not in takes:
                wanted = " and ".join(takes) if takes else "no operand"
                read.note(None, f"{op!r} takes {wanted}, not {key}")
        if op == operators.BETWEEN:
            if not any(key in entry for key in OPERAND_KEYS):
                read.note(None, "'between' needs low, high or both")
            value = tuple(read.operand(entry, end, None) if end in entry else None for end in takes)
        elif takes:
            if takes[0] in entry:
                value = read.operand(entry, takes[0], None)
            elif not any(key in entry for key in OPERAND_KEYS):
                read.note(None, f"{op!r} needs {takes[0]}")
    dq = _either(read, entry, "disqualify", "is_disqualifier", "boolean")
    rule = FitRule(
        attribute=attribute,
        value=value,
        points=read.take(entry, "points", "number", None, required=False) or 0.0,
        is_disqualifier=bool(dq),
        op=op if op is not None else str(entry.get("op")),
        cap=read.take(entry, "cap", "number", None, required=False),
    )
    return rule, read.problems


def _fit_name(rule: FitRule, number: int) -> str:
    """Return how a file's messages name a fit rule: its label, or its place without a field."""
    return (
        f"fit rule {rule_name(rule)}" if isinstance(rule.attribute, str) else f"fit rule {number}"
    )


TOP_KEYS = (
    "name",
    "note",
    "threshold",
    "half_life_days",
    "definition_id",
    "effective_from",
    "created_at",
    "fit",
    "behaviour",
)


def from_toml(
    text: str, source: str = "TOML", fields: Mapping[str, str] | None = None
) -> Definition:
    """Return the definition a TOML text (as to_toml writes it, or an older file) describes.

    Problems are refused at once, each named with the file and the line of its rule: the file's
    shape (keys, types, operators and their operands) always; with fields (a database's fields
    and their types, definitions.fields.lead_fields) every rule's field, value and points as
    validate() checks them, and the definition comes back normalised (values read for their
    field's type, as a save stores them).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"{source}: not valid TOML: {exc}") from None
    read = _Reader()
    read.check_keys(data, TOP_KEYS, source)
    fit_rules: list[FitRule] = []
    seen: dict[tuple, str] = {}
    known = fields if fields is not None else {}
    for number, (where, entry) in enumerate(read.entries(data, "fit", source, text), 1):
        rule, problems = _read_fit(entry)
        if not problems and fields is not None:
            problems = fit_rule_problems(rule, fields)
        named = f"{where}: {_fit_name(rule, number)}"
        read.problems += [f"{named}: {problem}" for problem in problems]
        if not problems:
            key = fit_rule_identity(rule, known)
            if key in seen:
                read.note(named, f"appears more than once (also at {seen[key]})")
            seen.setdefault(key, where.removeprefix(f"{source}, "))
        fit_rules.append(rule)
    behaviour_rules = []
    events: dict[str, str] = {}
    for where, entry in read.entries(data, "behaviour", source, text):
        named = f"{where}: behaviour rule"
        if isinstance(entry.get("event_type"), str):
            named += f" {short(entry['event_type'])!r}"
        before = len(read.problems)
        read.check_keys(entry, ("event_type", "points", "cap"), named)
        behaviour = BehaviourRule(
            event_type=read.take(entry, "event_type", "text", named),
            points=read.take(entry, "points", "number", named),
            cap=read.take(entry, "cap", "number", named, required=False),
        )
        if len(read.problems) == before:
            read.problems += [f"{named}: {p}" for p in behaviour_rule_problems(behaviour)]
            if behaviour.event_type in events:
                read.note(named, f"appears more than once (also at {events[behaviour.event_type]})")
            events.setdefault(behaviour.event_type, where.removeprefix(f"{source}, "))
        behaviour_rules.append(behaviour)
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
    if fields is None:
        return definition
    try:
        validate(definition, fields)  # what is left: the name, threshold, half-life, note
    except DefinitionError as exc:
        problems = [f"{source}: {problem}" for problem in exc.problems]
        raise DefinitionError("; ".join(problems), problems) from None
    return normalised(definition, fields)
