"""What a fit rule may say of a field: the field types, the operators each allows, how a rule's
value is read for its field's type, and what it matches, said once for every engine.

A field is a built-in lead column (channel, industry, company_size, ...) or a custom attribute
the importer kept (its original header as the name), of one type: text, number, date or yes/no.
A rule is (field, operator, value): `is`, `is any of`, `is none of`, `contains`, `starts with`,
`<`, `<=`, `>`, `>=`, `between` (inclusive, either end open), `before`, `after`, `within` (days
of creation, either side), `is known`, `is unknown`, and `per unit` (points per unit of a
number, up to a cap: lead-level behaviour). Every operator but `is unknown` matches only a lead
that has a value; `is none of` matches a known value not in the list.

`compile_rule` lays a rule out as the columns of definition_fit_rules (queries/schema.sql) that
the SQL macro fit_rule_matches (queries/shared.sql) reads; `matches` evaluates the same on numpy
arrays for the Threshold Lab. Dates compare as seconds since the Unix epoch (UTC), yes/no as
1/0. Text `is`/`is any of`/`is none of` match exactly; `contains` and `starts with` ignore case.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

TEXT, NUMBER, DATE, YES_NO = "text", "number", "date", "yes/no"
FIELD_TYPES = (TEXT, NUMBER, DATE, YES_NO)

IS, ANY_OF, NONE_OF = "is", "is any of", "is none of"
CONTAINS, STARTS_WITH = "contains", "starts with"
LT, LE, GT, GE, BETWEEN = "<", "<=", ">", ">=", "between"
BEFORE, AFTER, WITHIN = "before", "after", "within"
KNOWN, UNKNOWN = "is known", "is unknown"
PER_UNIT = "per unit"
OPERATORS = (
    IS,
    ANY_OF,
    NONE_OF,
    CONTAINS,
    STARTS_WITH,
    LT,
    LE,
    GT,
    GE,
    BETWEEN,
    BEFORE,
    AFTER,
    WITHIN,
    KNOWN,
    UNKNOWN,
    PER_UNIT,
)
# How people may also write an operator (files, the CLI): the symbols, words and case variants.
ALIASES = {
    "=": IS,
    "==": IS,
    "equals": IS,
    "any of": ANY_OF,
    "in": ANY_OF,
    "none of": NONE_OF,
    "not in": NONE_OF,
    "≤": LE,
    "=<": LE,
    "≥": GE,
    "=>": GE,
    "known": KNOWN,
    "unknown": UNKNOWN,
    "is empty": UNKNOWN,
    "within days of creation": WITHIN,
    "per": PER_UNIT,
}
# What each type of field allows.
ALLOWED = {
    TEXT: (IS, ANY_OF, NONE_OF, CONTAINS, STARTS_WITH, KNOWN, UNKNOWN),
    NUMBER: (IS, LT, LE, GT, GE, BETWEEN, KNOWN, UNKNOWN, PER_UNIT),
    DATE: (BEFORE, AFTER, BETWEEN, WITHIN, KNOWN, UNKNOWN),
    YES_NO: (IS, KNOWN, UNKNOWN),
}
# How the pages show an operator.
SHOWN = {LE: "≤", GE: "≥", WITHIN: "within N days of creation"}
YES_WORDS = {"yes", "true", "1", "y"}
NO_WORDS = {"no", "false", "0", "n"}
EPOCH = dt.datetime(1970, 1, 1)


class RuleValueError(ValueError):
    """A rule's operator or value that its field's type does not allow (the message says why)."""


def canonical_operator(text: Any) -> str:
    """Return the operator a text names; RuleValueError if it names none."""
    if not isinstance(text, str):
        raise RuleValueError(f"operator must be text, not {text!r}")
    key = " ".join(text.strip().lower().split())
    if key in OPERATORS:
        return key
    if key in ALIASES:
        return ALIASES[key]
    raise RuleValueError(f"unknown operator {text!r} (operators: {', '.join(OPERATORS)})")


def seconds(moment: dt.date | dt.datetime) -> float:
    """Return a date or time as seconds since the Unix epoch (a date at its midnight, UTC)."""
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime(moment.year, moment.month, moment.day)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return (moment - EPOCH).total_seconds()


def moment_of(value: float) -> dt.date | dt.datetime:
    """Return seconds since the epoch as a date (at midnight) or a time."""
    moment = EPOCH + dt.timedelta(seconds=value)
    return moment.date() if moment.time() == dt.time() else moment


def _number(value: Any, what: str) -> float:
    """Return value as a finite number; RuleValueError naming what otherwise."""
    if isinstance(value, bool):
        raise RuleValueError(f"{what} must be a number, not {value!r}")
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            value = float(text)
        except ValueError:
            raise RuleValueError(f"{what} must be a number, not {value!r}") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RuleValueError(f"{what} must be a number, not {value!r}")
    return float(value)


def _date(value: Any, what: str) -> dt.date | dt.datetime:
    """Return value as a date or time (ISO text accepted); RuleValueError otherwise."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise RuleValueError(f"{what} must be a date (YYYY-MM-DD), not {value!r}") from None
        return parsed.date() if parsed.time() == dt.time() and "T" not in value else parsed
    raise RuleValueError(f"{what} must be a date (YYYY-MM-DD), not {value!r}")


def _yes_no(value: Any, what: str) -> str:
    """Return 'Yes' or 'No' for the ways people write them; RuleValueError otherwise."""
    key = str(value).strip().lower() if not isinstance(value, bool) else str(value).lower()
    if key in YES_WORDS:
        return "Yes"
    if key in NO_WORDS:
        return "No"
    raise RuleValueError(f"{what} must be Yes or No, not {value!r}")


def _text(value: Any, what: str) -> str:
    """Return value as non-empty text; RuleValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RuleValueError(f"{what} must be text, not {value!r}")
    text = value if isinstance(value, str) else _plain(value)
    if not text.strip():
        raise RuleValueError(f"{what} must be non-empty text")
    return text


def _plain(value: float) -> str:
    """Return a number as text without a spurious fraction: 5, 2.5."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def normalise(field_type: str, op: str, value: Any) -> Any:
    """Return a rule's value read for its field's type and operator (RuleValueError if it
    cannot be): text, a number, a date, 'Yes'/'No', a tuple of texts (any of / none of), a
    (low, high) pair with None for an open end (between), days (within) or None."""
    if field_type not in FIELD_TYPES:
        raise RuleValueError(f"unknown field type {field_type!r}")
    if op not in ALLOWED[field_type]:
        raise RuleValueError(
            f"operator {op!r} does not apply to a {field_type} field "
            f"(it allows: {', '.join(ALLOWED[field_type])})"
        )
    if op in (KNOWN, UNKNOWN, PER_UNIT):
        if value not in (None, "", ()):
            raise RuleValueError(f"{op!r} takes no value, not {value!r}")
        return None
    if op in (ANY_OF, NONE_OF):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not items:
            raise RuleValueError(f"{op!r} needs a list of values, not {value!r}")
        texts = tuple(dict.fromkeys(_text(item, f"{op!r} value") for item in items))
        return tuple(sorted(texts))
    if op == BETWEEN:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise RuleValueError(f"'between' needs two bounds [low, high], not {value!r}")
        read = _date if field_type == DATE else _number
        low, high = (None if v in (None, "") else read(v, "'between' bound") for v in value)
        if low is None and high is None:
            raise RuleValueError("'between' needs at least one bound")
        if low is not None and high is not None and _order(low) > _order(high):
            raise RuleValueError(
                f"'between' low {value_text(IS, low)} is above high {value_text(IS, high)}"
            )
        return (low, high)
    if op == WITHIN:
        days = _number(value, "'within' days")
        if days < 0:
            raise RuleValueError(f"'within' days must be 0 or more, not {value!r}")
        return days
    if field_type == DATE:
        return _date(value, f"{op!r} value")
    if field_type == NUMBER:
        return _number(value, f"{op!r} value")
    if field_type == YES_NO:
        return _yes_no(value, f"{op!r} value")
    return _text(value, f"{op!r} value")


def _order(bound: Any) -> float:
    """Return a bound as a number to compare (dates as epoch seconds)."""
    return seconds(bound) if isinstance(bound, (dt.date, dt.datetime)) else float(bound)


@dataclass(frozen=True)
class Compiled:
    """A rule as definition_fit_rules stores it: what queries/shared.sql's fit_rule_matches
    reads. text: the text `is` / `contains` / `starts with` compare with (as written: the last
    two lowercase both sides when they compare, so that a saved rule reads back as written); texts: `is any of` / `is none of`; low/high: bounds on the number (dates as epoch
    seconds; yes/no as 1/0), None for an open end; `within`: high holds the days in seconds."""

    operator: str
    field_type: str
    text: str | None = None
    texts: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True


def compile_rule(field_type: str, op: str, value: Any) -> Compiled:
    """Return the stored form of a rule whose value normalise() has read."""
    c = lambda **kw: Compiled(operator=op, field_type=field_type, **kw)  # noqa: E731
    as_number = (lambda v: seconds(v)) if field_type == DATE else float
    if op in (KNOWN, UNKNOWN, PER_UNIT):
        return c()
    if op in (ANY_OF, NONE_OF):
        return c(texts=tuple(value))
    if op in (CONTAINS, STARTS_WITH):
        return c(text=str(value))
    if op == IS:
        if field_type == TEXT:
            return c(text=value)
        number = 1.0 if value == "Yes" else 0.0 if value == "No" else float(value)
        return c(low=number, high=number)
    if op == BETWEEN:
        low, high = value
        return c(
            low=None if low is None else as_number(low),
            high=None if high is None else as_number(high),
        )
    if op == WITHIN:
        return c(high=float(value) * 86400.0)
    bound = as_number(value)
    if op in (LT, BEFORE):
        return c(high=bound, high_inclusive=False)
    if op == LE:
        return c(high=bound)
    if op in (GT, AFTER):
        return c(low=bound, low_inclusive=False)
    return c(low=bound)  # >=


def value_from_stored(compiled: Compiled) -> Any:
    """Return the value a stored rule was compiled from (compile_rule's inverse)."""
    op, field_type = compiled.operator, compiled.field_type
    back = moment_of if field_type == DATE else (lambda v: v)
    if op in (KNOWN, UNKNOWN, PER_UNIT):
        return None
    if op in (ANY_OF, NONE_OF):
        return tuple(compiled.texts or ())
    if op in (CONTAINS, STARTS_WITH):
        return compiled.text
    if op == IS:
        if field_type == TEXT:
            return compiled.text
        if field_type == YES_NO:
            return "Yes" if compiled.low == 1.0 else "No"
        return compiled.low
    if op == BETWEEN:
        return (
            None if compiled.low is None else back(compiled.low),
            None if compiled.high is None else back(compiled.high),
        )
    if op == WITHIN:
        return (compiled.high or 0.0) / 86400.0
    bound = compiled.high if op in (LT, LE, BEFORE) else compiled.low
    return None if bound is None else back(bound)


def value_text(op: str, value: Any) -> str:
    """Return a rule's value as people read it: 'Software', 'A, B', '50 to 5000', '≥ 5'."""

    def one(v: Any) -> str:
        if isinstance(v, float):
            return _plain(v)
        if isinstance(v, (dt.date, dt.datetime)):
            return v.isoformat()
        return str(v)

    if value is None:
        return ""
    if op in (ANY_OF, NONE_OF):
        return ", ".join(one(v) for v in value)
    if op == BETWEEN:
        low, high = value
        return f"{'…' if low is None else one(low)} to {'…' if high is None else one(high)}"
    if op == WITHIN:
        return f"{one(value)} days"
    return one(value)


def matches(
    compiled: Compiled,
    *,
    numbers: np.ndarray | None = None,
    texts: np.ndarray | None = None,
    known: np.ndarray,
    created_s: np.ndarray | None = None,
) -> np.ndarray:
    """Return per lead whether the rule matches, as fit_rule_matches does in SQL.

    numbers: the field as float (NaN where unknown; dates as epoch seconds, yes/no as 1/0);
    texts: the field as an object array of str (text fields); known: whether the lead has a
    value; created_s: creation in epoch seconds (for `within`).
    """
    op = compiled.operator
    if op == UNKNOWN:
        return ~known
    if op in (KNOWN, PER_UNIT):
        return known.copy()
    if texts is not None and op in (IS, ANY_OF, NONE_OF, CONTAINS, STARTS_WITH):
        return known & text_matches(compiled, texts)
    if numbers is None:
        return np.zeros(len(known), dtype=bool)
    with np.errstate(invalid="ignore"):
        if op == WITHIN:
            assert created_s is not None
            hit = np.abs(numbers - created_s) <= compiled.high
        else:
            hit = np.ones(len(numbers), dtype=bool)
            if compiled.low is not None:
                hit &= (
                    (numbers >= compiled.low)
                    if compiled.low_inclusive
                    else (numbers > compiled.low)
                )
            if compiled.high is not None:
                hit &= (
                    (numbers <= compiled.high)
                    if compiled.high_inclusive
                    else (numbers < compiled.high)
                )
    return known & hit


def text_matches(compiled: Compiled, texts: np.ndarray) -> np.ndarray:
    """Return per text whether a text rule matches it (texts: a field's distinct values, to
    look up by code, or one per lead); the caller ands it with whether the value is known."""
    op = compiled.operator
    if op == IS:
        return np.array([t == compiled.text for t in texts], dtype=bool)
    if op in (ANY_OF, NONE_OF):
        wanted = set(compiled.texts or ())
        hit = np.array([t in wanted for t in texts], dtype=bool)
        return hit if op == ANY_OF else ~hit
    needle = (compiled.text or "").lower()
    if op == CONTAINS:
        return np.array([needle in str(t).lower() for t in texts], dtype=bool)
    return np.array([str(t).lower().startswith(needle) for t in texts], dtype=bool)
