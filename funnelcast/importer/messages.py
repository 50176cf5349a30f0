"""What is wrong with an import, as data, and its two wordings: the command line's and the page's.

A Problem says which kind of thing is wrong and with what (the field, the column, the value,
the file's columns, the row); the importer raises them in ImportProblems. cli_text words one
as `funnelcast import` does, with the options that fix it (--map, --set, --type, --drop…);
page_text words it for the Data page, naming the page's own controls and no option. Every
kind has both wordings (KINDS), and a problem from a place that names no option is a plain
"text" problem, worded the same in both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an import.

    kind: one of KINDS; field: the table's field concerned; column: the file's column
    concerned; value: what was given (a cell's text, a type word, a date format); other: a
    second column or field the problem names; option: the part of the mapping that says it
    (map, set, default, format); table and fields: the target table and its fields; columns:
    the file's columns; row / rows: the file row(s); check: a row rule's name (missing,
    unparsed, future, old, negative, not_positive, no_target); text: a "text" problem's words,
    or a detail some kinds carry (a date format, a limit's date, a stored type, a length).
    """

    kind: str
    field: str = ""
    column: str = ""
    value: str | None = ""
    other: str = ""
    option: str = ""
    table: str = ""
    fields: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    row: int = 0
    rows: str = ""
    check: str = ""
    text: str = ""


def plain(text: str) -> Problem:
    """Return a problem whose words name no option: the same on the command line and the page."""
    return Problem("text", text=text)


def _listed(names: tuple[str, ...]) -> str:
    """Return names quoted and joined, as the messages list a file's columns."""
    return ", ".join(repr(c) for c in names)


# ===== the command line's words =====

CLI_OPTION = {"map": "--map", "set": "--set", "default": "--default", "format": "--date-format"}


def _cli_no_such_field(p: Problem) -> str:
    lead = (
        f"--map {p.column}={p.field}"
        if p.option == "map"
        else f"{CLI_OPTION[p.option]} {p.field}=…"
    )
    return f"{lead}: {p.table} has no field {p.field!r} (its fields: {', '.join(p.fields)})"


def _cli_required_missing(p: Problem) -> str:
    return (
        f"required field {p.field} ({p.other}) is missing: the file has no column {p.field!r}; "
        f"map one with --map COLUMN={p.field} or give every row a value with "
        f"--set {p.field}=VALUE (its columns: {_listed(p.columns)})"
    )


CLI: dict[str, Callable[[Problem], str]] = {
    "text": lambda p: p.text,
    "no_such_field": _cli_no_such_field,
    "no_such_column": lambda p: (
        f"--map {p.column}={p.field}: the file has no column {p.column!r} "
        f"(its columns: {_listed(p.columns)})"
    ),
    "mapped_twice": lambda p: (
        f"--map …={p.field}: two columns are mapped to {p.field} ({p.other!r} and {p.column!r})"
    ),
    "set_and_mapped": lambda p: (
        f"--set {p.field}=…: {p.field} is also mapped from column {p.column!r}; choose one"
    ),
    "format_not_date": lambda p: f"--date-format {p.field}={p.value}: {p.field} is not a date",
    "required_missing": _cli_required_missing,
    "targets_need_one": lambda p: (
        "targets need target_customers or target_revenue: map at least one"
    ),
    "drop_no_column": lambda p: (
        f"--drop {p.column}: the file has no column {p.column!r} "
        f"(its columns: {_listed(p.columns)})"
    ),
    "type_unknown": lambda p: (
        f"--type {p.column}={p.value}: not a type; choose number, date, yes/no or text"
    ),
    "type_no_column": lambda p: f"--type {p.column}={p.value}: the file has no column {p.column!r}",
    "type_builtin": lambda p: (
        f"--type {p.column}={p.value}: {p.column!r} feeds the built-in field {p.field}; "
        "--type is for the columns kept as custom attributes"
    ),
    "type_dropped": lambda p: f"--type {p.column}={p.value}: {p.column!r} is left out by --drop",
    "type_stored": lambda p: (
        f"--type {p.column}={p.value}: the custom attribute {p.other!r} is stored as "
        f"{p.text}; its values already stored keep that type"
    ),
    "nameless_column": lambda p: (
        "a column has no name in the header: name it, or leave it out with --drop"
    ),
    "name_too_long": lambda p: (
        f"column {p.column!r} has a name of {int(p.text):,} characters; a custom attribute's "
        f"name has at most {p.other}: rename the column"
    ),
    "name_reserved": lambda p: (
        f"column {p.column!r} is not mapped, and a custom attribute cannot take the name "
        f"of the built-in field {p.field}"
        + (f" ({p.field} comes from {p.other!r})" if p.other else "")
        + f": map it (--map {p.value}={p.field}), rename it, or leave it out (--drop {p.value})"
    ),
    "names_differ_in_case": lambda p: (
        f"columns {p.other!r} and {p.column!r} differ only in case or spaces, so a rule "
        f"could not tell them apart: rename one, or leave one out (--drop {p.value})"
    ),
    "name_like_stored": lambda p: (
        f"column {p.column!r} differs only in case or spaces from the custom attribute "
        f"{p.other!r} already stored: rename the column to {p.other!r}, or leave it out "
        f"(--drop {p.value})"
    ),
    "row": lambda p: f"row {p.row}, {_cli_source(p)}: {_shown(p)}{rule_text(p, page=False)}",
    "unknown_lead": lambda p: (
        f"row {p.row}, {_cli_source(p)}: no lead {p.value!r} in the database "
        "(import the leads first)"
    ),
    "duplicate_key": lambda p: f"rows {p.rows}: duplicate key ({p.value})",
}


def _cli_source(p: Problem) -> str:
    """Return where a row's field came from, as the command line says it."""
    if p.option == "set":
        return f"--set {p.field}"
    return _column_source(p)


def _column_source(p: Problem) -> str:
    """Return 'column NAME (field)', or the field alone when no column feeds it."""
    if not p.column:
        return p.field
    return f"column {p.column!r}" + (f" ({p.field})" if p.column != p.field else "")


def _shown(p: Problem) -> str:
    """Return a row's value as a message shows it, before the rule it breaks (none: empty)."""
    return f"{p.value!r} " if p.value is not None else ""


# ===== what a row breaks =====

_UNPARSED_CLI = {
    "integer": "is not a whole number (for 1.234,56 use --decimal-comma)",
    "amount": "is not a number (for 1.234,56 use --decimal-comma)",
}
_UNPARSED_PAGE = {
    "integer": "is not a whole number (for 1.234,56 tick 'Numbers are written 1.234,56')",
    "amount": "is not a number (for 1.234,56 tick 'Numbers are written 1.234,56')",
}


def rule_text(p: Problem, *, page: bool) -> str:
    """Return what a row's value breaks (p.check; p.other: the field's kind; p.text: the date
    format given, for future / old the limit's date, for a stage the stages)."""
    check, kind = p.check, p.other
    if check == "missing":
        return "is empty (a value is required)"
    if check == "no_target":
        return "is empty, and so is target_revenue (a target needs one of them)"
    if check == "future":
        return f"is in the future (after {p.text})"
    if check == "old":
        return f"is implausibly old (before {p.text})"
    if check == "negative":
        return "is negative"
    if check == "not_positive":
        return "must be greater than 0"
    if kind in ("timestamp", "date"):
        if p.text:
            return f"does not match the format {p.text}"
        how = (
            f"give its format under 'Date format of {p.field}'"
            if page
            else f"give its format: --date-format {p.field}=%d/%m/%Y"
        )
        return f"is not a date (write it as 2024-01-31 or 2024-01-31 14:05:00, or {how})"
    if kind in _UNPARSED_CLI:
        return (_UNPARSED_PAGE if page else _UNPARSED_CLI)[kind]
    if kind == "stage":
        return f"is not a stage (stages: {p.text})"
    return "is not a content stage (top, middle, bottom)"


# ===== the page's words =====

# How the page names a field in a sentence (the rest read as their names with spaces).
FIELD_WORDS = {
    "lead_id": "lead id",
    "created_at": "creation date",
    "occurred_at": "date of the event",
    "changed_at": "date of the stage change",
    "period_start": "first day of the period",
    "quarter_start": "first day of the quarter",
    "event_type": "event type",
}
PAGE_OPTION = {
    "map": "column",
    "set": "value for every row",
    "default": "value where a row has none",
    "format": "date format",
}


def field_words(field: str) -> str:
    """Return how the page names a field in a sentence."""
    return FIELD_WORDS.get(field, field.replace("_", " "))


def missing_field_text(field: str, is_date: bool) -> str:
    """Return what the page says beside a required field no column feeds."""
    if is_date:
        return f"This file has no {field_words(field)}: pick one date for every row, or a column."
    return f"Choose which column holds the {field_words(field)}, or give every row one value."


def _page_required_missing(p: Problem) -> str:
    return missing_field_text(p.field, p.value in ("timestamp", "date"))


def _page_source(p: Problem) -> str:
    """Return where a row's field came from, as the page says it."""
    if p.option == "set":
        return f"the value for every row of {p.field}"
    return _column_source(p)


PAGE: dict[str, Callable[[Problem], str]] = {
    "text": lambda p: p.text,
    "no_such_field": lambda p: (
        f"The {PAGE_OPTION[p.option]} given for {p.field!r} has nowhere to go: "
        f"{p.table} has no field {p.field!r}."
    ),
    "no_such_column": lambda p: (
        f"The mapping reads {p.field} from the column {p.column!r}, which this file lacks: "
        f"choose the column that holds the {field_words(p.field)}."
    ),
    "mapped_twice": lambda p: (
        f"Two columns are chosen for {p.field} ({p.other!r} and {p.column!r}): keep one."
    ),
    "set_and_mapped": lambda p: (
        f"{p.field} has both a column ({p.column!r}) and one value for every row: choose one."
    ),
    "format_not_date": lambda p: f"{p.field} is not a date: it takes no date format.",
    "required_missing": _page_required_missing,
    "targets_need_one": lambda p: (
        "Targets need a column for target customers or target revenue: choose at least one."
    ),
    "drop_no_column": lambda p: (
        f"The mapping leaves out the column {p.column!r}, which this file lacks."
    ),
    "type_unknown": lambda p: (
        f"{p.value!r} is not a type for {p.column!r}: choose number, date, yes/no or text."
    ),
    "type_no_column": lambda p: (
        f"The mapping gives the column {p.column!r} a type, but this file lacks it."
    ),
    "type_builtin": lambda p: (
        f"{p.column!r} feeds the built-in field {p.field}: only the other columns take a type."
    ),
    "type_dropped": lambda p: f"{p.column!r} is left out, so it takes no type.",
    "type_stored": lambda p: (
        f"The custom attribute {p.other!r} is stored as {p.text}: its values already stored "
        "keep that type; set its type back to it."
    ),
    "nameless_column": lambda p: (
        "A column has no name in the header: name it in the file, or untick it under Other columns."
    ),
    "name_too_long": lambda p: (
        f"The column {p.column!r} has a name of {int(p.text):,} characters; a custom "
        f"attribute's name has at most {p.other}: rename the column in the file."
    ),
    "name_reserved": lambda p: (
        f"The column {p.column!r} is not chosen for any field, and a custom attribute cannot "
        f"take the name of the built-in field {p.field}"
        + (f" ({p.field} comes from {p.other!r})" if p.other else "")
        + f": choose it for {p.field}, rename it in the file, or untick it under Other columns."
    ),
    "names_differ_in_case": lambda p: (
        f"The columns {p.other!r} and {p.column!r} differ only in case or spaces, so a rule "
        "could not tell them apart: rename one in the file, or untick one under Other columns."
    ),
    "name_like_stored": lambda p: (
        f"The column {p.column!r} differs only in case or spaces from the custom attribute "
        f"{p.other!r} already stored: rename the column to {p.other!r} in the file, or untick "
        "it under Other columns."
    ),
    "row": lambda p: f"Row {p.row}, {_page_source(p)}: {_shown(p)}{rule_text(p, page=True)}",
    "unknown_lead": lambda p: (
        f"Row {p.row}, {_page_source(p)}: no lead {p.value!r} in the database "
        "(import the leads first)"
    ),
    "duplicate_key": lambda p: f"Rows {p.rows}: the same key twice ({p.value})",
}

KINDS = tuple(CLI)
assert set(PAGE) == set(CLI), "every kind of problem has both wordings"


def cli_text(problem: Problem) -> str:
    """Return a problem as `funnelcast import` says it, with the options that fix it."""
    return CLI[problem.kind](problem)


def page_text(problem: Problem) -> str:
    """Return a problem as the Data page says it, naming its controls and no option."""
    return PAGE[problem.kind](problem)
