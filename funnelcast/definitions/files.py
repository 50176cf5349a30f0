"""Definitions as files: the commented TOML a person edits (to_toml writes it, from_toml reads
it back, naming every problem with where it is) and JSON-ready dicts (to_dict).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import asdict
from typing import Any

from funnelcast.definitions import limits
from funnelcast.definitions._numbers import number_text
from funnelcast.definitions.model import (
    BehaviourRule,
    Definition,
    DefinitionError,
    FitRule,
    first_quarter,
)


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
    lines.append(
        TOML_FIT_HELP.format(
            attributes=", ".join(limits.FIT_ATTRIBUTES),
            bands=", ".join(limits.COMPANY_SIZE_BANDS),
            **ranges,
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
