"""Custom attributes: the columns of a leads file that no built-in field takes, kept by header.

Every column of a leads export that is not mapped to a built-in field (and not left out with
--drop) is stored as a custom attribute of the lead, under its original header, typed: number,
date, yes/no (Yes/No, true/false, 1/0) or text, inferred from the whole column
(queries/import_attribute_profile.sql); placeholders count as missing. A type can be pinned
(--type COLUMN=number, or [types] in a mapping file); an attribute already stored keeps its
type. A later import of the same leads replaces their values of the attributes the file
carries. Values that do not read as their attribute's type are left out and counted.

plan_kept checks, from the header alone, what would be kept and what is wrong (names that
collide with a built-in field, or differ from another only in case or spaces, --drop and
--type naming no column, a bad type); load stages the kept columns (importer.sql's
attribute_staging), profiles them, and writes them, inside the import's transaction. Header
names never reach SQL as identifiers: columns are staged by position and names travel as
bound parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import funnelcast.importer.attribute_sql as attribute_sql
import funnelcast.importer.sql as sql
from funnelcast.data import db
from funnelcast.definitions import fields, operators
from funnelcast.importer.mapping import Mapping, column_index
from funnelcast.importer.messages import Problem
from funnelcast.importer.progress import Progress
from funnelcast.importer.sources import read_source

TYPE_WORDS = {
    "number": operators.NUMBER,
    "numeric": operators.NUMBER,
    "date": operators.DATE,
    "datetime": operators.DATE,
    "yes/no": operators.YES_NO,
    "yesno": operators.YES_NO,
    "yes_no": operators.YES_NO,
    "boolean": operators.YES_NO,
    "bool": operators.YES_NO,
    "text": operators.TEXT,
    "string": operators.TEXT,
}
MAX_NAME_LENGTH = 255  # characters of a custom attribute's name
RESERVED = (*fields.BUILTIN_FIELDS, "lead_id")  # names a custom attribute may not take


@dataclass(frozen=True)
class Attribute:
    """A column kept as a custom attribute, and what its values are.

    how: "inferred" from the values, "pinned" by --type, or "stored" (the attribute exists,
    its type stays); filled / empty: rows with and without a value; unread: values that did
    not read as the type (left out), with one of them as an example.
    """

    name: str
    position: int
    value_type: str
    filled: int
    empty: int
    how: str
    unread: int = 0
    example: str | None = None

    def describe(self, pinned_by: str = "set by --type") -> str:
        """Return one line naming the attribute, its type (pinned_by: how a pinned type is
        said to be chosen) and how full it is."""
        how = {"pinned": f", {pinned_by}", "stored": ", as stored"}.get(self.how, "")
        line = f"{self.name}: {self.value_type}{how}, {self.empty:,} empty"
        if self.unread:
            line += f", {self.unread:,} not read as {self.value_type} (e.g. {self.example!r})"
        return line


@dataclass(frozen=True)
class Kept:
    """Which columns of a leads file become custom attributes (by position and header)."""

    lead_column: int
    columns: tuple[tuple[int, str], ...]
    pinned: dict[str, str] = field(default_factory=dict)  # column -> type
    stored: dict[str, str] = field(default_factory=dict)  # attribute -> its stored type
    decimal_comma: bool = False


def stored_types(cur) -> dict[str, str]:
    """Return the custom attributes the database holds, with their types."""
    return fields.custom_fields(cur)


def _type_word(text: str) -> str | None:
    """Return the attribute type a --type word names, or None."""
    return TYPE_WORDS.get(text.strip().lower().replace(" ", ""))


def plan_kept(
    mapping: Mapping, header: Sequence[str], used: AbcMapping[str, int], stored: dict[str, str]
) -> tuple[Kept | None, list[Problem]]:
    """Return the columns of a leads file kept as custom attributes, and what is wrong.

    used: field -> the header position feeding it. Nothing is kept for other tables; their
    unmapped columns are named by not_loaded.
    """
    problems: list[Problem] = []
    dropped: set[int] = set()
    for name in mapping.drop:
        index = column_index(header, name)
        if index is None:
            problems.append(
                Problem("drop_no_column", column=name, columns=tuple(str(c) for c in header))
            )
        else:
            dropped.add(index)
    taken = {index: f for f, index in used.items()}
    candidates = [
        (i, str(name)) for i, name in enumerate(header) if i not in taken and i not in dropped
    ]
    pinned: dict[str, str] = {}
    for name, word in mapping.types.items():
        value_type = _type_word(word)
        index = column_index(header, name)
        if value_type is None:
            problems.append(Problem("type_unknown", column=name, value=word))
        elif index is None:
            problems.append(Problem("type_no_column", column=name, value=word))
        elif index in taken:
            problems.append(Problem("type_builtin", taken[index], name, value=word))
        elif index in dropped:
            problems.append(Problem("type_dropped", column=name, value=word))
        elif header[index] in stored and stored[header[index]] != value_type:
            problems.append(
                Problem(
                    "type_stored",
                    column=name,
                    value=word,
                    other=header[index],
                    text=stored[header[index]],
                )
            )
        else:
            pinned[header[index]] = value_type
    problems += _name_problems(candidates, used, header, stored)
    lead_column = used.get("lead_id")
    if problems or lead_column is None:
        return None, problems
    return (
        Kept(lead_column, tuple(candidates), pinned, stored, mapping.decimal_comma),
        problems,
    )


def _name_problems(
    candidates: list[tuple[int, str]],
    used: AbcMapping[str, int],
    header: Sequence[str],
    stored: dict[str, str],
) -> list[Problem]:
    """Return what is wrong with the names of the columns to keep."""
    problems = []
    reserved = {fields.field_key(name): name for name in RESERVED}
    stored_keys = {fields.field_key(name): name for name in stored}
    seen: dict[str, str] = {}
    for _, name in candidates:
        shown = name if len(name) <= 60 else name[:57] + "…"
        key = fields.field_key(name)
        if not name.strip():
            problems.append(Problem("nameless_column"))
        elif len(name) > MAX_NAME_LENGTH:
            problems.append(
                Problem(
                    "name_too_long", column=shown, text=str(len(name)), other=str(MAX_NAME_LENGTH)
                )
            )
        elif key in reserved:
            builtin = reserved[key]
            fed = used.get(builtin)
            problems.append(
                Problem(
                    "name_reserved",
                    builtin,
                    shown,
                    value=name,
                    other=str(header[fed]) if fed is not None else "",
                )
            )
        elif key in seen:
            problems.append(
                Problem("names_differ_in_case", column=shown, value=name, other=seen[key])
            )
        elif key in stored_keys and stored_keys[key] != name:
            problems.append(
                Problem("name_like_stored", column=shown, value=name, other=stored_keys[key])
            )
        seen.setdefault(key, shown)
    return problems


def not_loaded(header: Sequence[str], used: AbcMapping[str, int]) -> list[str]:
    """Return the columns of a file for a table other than leads that are not loaded."""
    taken = set(used.values())
    return [str(name) for i, name in enumerate(header) if i not in taken]


@dataclass(frozen=True)
class AttributeStaging:
    """Stages a leads file's lead id and kept columns as cleaned text (import_attributes)."""

    kept: Kept
    placeholders: tuple[str, ...]
    table = sql.ATTRIBUTES

    def statement(self, header: tuple[str, ...], value: Callable[[int], str], source: str) -> str:
        """Return the staging statement (value(i): column i of source)."""
        positions = [i for i, _ in self.kept.columns]
        return attribute_sql.attribute_staging(self.kept.lead_column, positions, value, source)

    def run(self, cur, statement: str, params: AbcMapping[str, Any], progress: Progress) -> None:
        """Run the staging statement; params: the reader's."""
        cleaning = sql.placeholder_params(self.placeholders)
        progress.run(cur, statement, {**params, **sql.bind(statement, cleaning)}, "reading")


def _yes_no_words() -> tuple[list[str], list[str]]:
    """Return the words yes/no values are written in, lowercase: yes and no."""
    return sorted(operators.YES_WORDS), sorted(operators.NO_WORDS)


def _inferred(profile: dict[str, Any]) -> str:
    """Return the type a column's profile (import_attribute_profile.sql) says it holds."""
    filled = profile["filled"]
    if profile["yes_no_values"] == filled:
        return operators.YES_NO
    if profile["number_values"] == filled:
        return operators.NUMBER
    if profile["date_values"] == filled:
        return operators.DATE
    return operators.TEXT


def load(
    cur,
    path: Path,
    kept: Kept,
    mapping: Mapping,
    progress: Progress,
    *,
    dry_run: bool,
    sheet: str | None = None,
) -> tuple[Attribute, ...]:
    """Stage the kept columns, type them and (unless dry_run) write them; return each kept
    column as an Attribute (empty columns with no stored type are listed, not stored)."""
    if not kept.columns:
        return ()
    source = read_source(
        cur, path, progress, sheet=sheet, staging=AttributeStaging(kept, mapping.placeholders)
    )
    yes, no = _yes_no_words()
    profile = {
        row["column_name"]: row
        for row in db.run(
            cur,
            "import_attribute_profile",
            yes_no=yes + no,
            decimal_comma=kept.decimal_comma,
        ).iter_rows(named=True)
    }
    chosen = []
    for position, name in kept.columns:
        found = profile.get(sql.staged(position).strip('"'))
        filled = int(found["filled"]) if found else 0
        if name in kept.pinned:
            value_type, how = kept.pinned[name], "pinned"
        elif name in kept.stored:
            value_type, how = kept.stored[name], "stored"
        elif found is None:
            value_type, how = operators.TEXT, "empty"
        else:
            value_type, how = _inferred(found), "inferred"
        chosen.append(Attribute(name, position, value_type, filled, source.rows - filled, how))
    written = [a for a in chosen if a.how != "empty"]
    if not written:
        return tuple(chosen)
    params = {
        "columns": [sql.staged(a.position).strip('"') for a in written],
        "attributes": [a.name for a in written],
        "value_types": [a.value_type for a in written],
        "yes_words": yes,
        "no_words": no,
        "decimal_comma": kept.decimal_comma,
    }
    # a type inferred from the values reads every value (import_attribute_profile counts as
    # import_attribute_rows reads); a pinned or stored one may not, so those are staged typed
    # first to count what did not read
    inferred = all(a.how == "inferred" for a in written)
    unread: dict[str, tuple[int, Any]] = {}
    if not inferred:
        cur.execute(attribute_sql.STAGE_ATTRIBUTE_VALUES, params)
        unread = {
            row[0]: (int(row[1]), row[2])
            for row in cur.execute(attribute_sql.ATTRIBUTES_UNREAD).fetchall()
        }
    chosen = [
        Attribute(
            a.name,
            a.position,
            a.value_type,
            a.filled,
            a.empty,
            a.how,
            *unread.get(a.name, (0, None)),
        )
        if a.how != "empty"
        else a
        for a in chosen
    ]
    if not dry_run:
        names = params["attributes"]
        progress.stage("writing", None)
        cur.execute(attribute_sql.DELETE_ATTRIBUTE_ROWS, {"attributes": names})
        if inferred:
            cur.execute(attribute_sql.INSERT_INFERRED_ATTRIBUTE_ROWS, params)
        else:
            cur.execute(attribute_sql.INSERT_ATTRIBUTE_ROWS)
        cur.execute(
            attribute_sql.UPSERT_ATTRIBUTE_TYPES,
            {"attributes": names, "value_types": params["value_types"], "file": str(path)},
        )
    return tuple(chosen)
