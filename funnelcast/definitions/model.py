"""The MQL definition as values: Definition, FitRule (a field, an operator, a value),
BehaviourRule, their errors.

A Definition holds its rules in one canonical order (fit rules by schema attribute, company size
bands smallest first; behaviour rules by event type), so that two definitions with the same rules
compare and hash equal. Nothing here reads the database: funnelcast.definitions.store does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from typing import Any

from funnelcast.core import periods
from funnelcast.data import db
from funnelcast.definitions import operators
from funnelcast.definitions.limits import COMPANY_SIZE_BANDS, FIT_ATTRIBUTES


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
    """A lead whose field meets the rule gains points, or (a disqualifier) never qualifies.

    attribute: a built-in lead field or a custom attribute (definitions.fields); op: one of
    definitions.operators.OPERATORS (default `is`, the rules before operators); value: as
    operators.normalise reads it for the field's type (None for `is known` / `is unknown` /
    `per unit`). A `per unit` rule gives points per unit of a number field, up to cap.
    """

    attribute: str
    value: Any = None
    points: float = 0.0
    is_disqualifier: bool = False
    op: str = operators.IS
    cap: float | None = None

    @property
    def label(self) -> str:
        """Return the rule's name in messages: attribute=value for `is`, else in words."""
        if self.op == operators.IS and isinstance(self.value, str):
            return f"{self.attribute}={self.value}"
        if self.op == operators.BETWEEN and isinstance(self.value, (list, tuple)):
            low, high = (operators.value_text(operators.IS, v) or "…" for v in self.value)
            return f"{self.attribute} between {low} and {high}"
        if self.op == operators.WITHIN:
            days = operators.value_text(operators.IS, self.value) or "N"
            return f"{self.attribute} within {days} days of creation"
        shown = operators.value_text(self.op, self.value)
        return f"{self.attribute} {operators.SHOWN.get(self.op, self.op)}" + (
            f" {shown}" if shown else ""
        )

    @property
    def key(self) -> tuple:
        """Return what makes two rules the same rule (a definition holds each once)."""
        return (self.attribute, self.op, self.value)


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
        object.__setattr__(self, "fit_rules", tuple(sorted(self.fit_rules, key=fit_order)))
        object.__setattr__(
            self,
            "behaviour_rules",
            tuple(sorted(self.behaviour_rules, key=lambda rule: str(rule.event_type))),
        )

    def effective_quarter(self, fy_start_month: int = 1) -> periods.Quarter | None:
        """Return the first quarter this version can be in force in (None for a draft)."""
        if self.effective_from is None:
            return None
        return first_quarter(self.effective_from, fy_start_month)


def fit_order(rule: FitRule) -> tuple:
    """Return a fit rule's place in the canonical order: the built-in attributes first, in
    schema order, then custom ones by name; by operator; bands by size, then by value."""
    op = rule.op if rule.op in operators.OPERATORS else ""
    return (
        _rank(rule.attribute, FIT_ATTRIBUTES),
        str(rule.attribute),
        _rank(op, operators.OPERATORS),
        _rank(rule.value, COMPANY_SIZE_BANDS) if isinstance(rule.value, str) else 0,
        str(rule.value),
    )


def _rank(value: Any, order: tuple[str, ...]) -> int:
    """Return value's place in order; values not in it come after all that are."""
    return order.index(value) if value in order else len(order)


def first_quarter(effective_from: dt.date, fy_start_month: int) -> periods.Quarter:
    """Return the first quarter whose start is on or after effective_from."""
    quarter = periods.quarter_of(effective_from, fy_start_month)
    return quarter if quarter.start == effective_from else quarter.shifted(1, fy_start_month)


def new_version_from(definition: Definition) -> Definition:
    """Return an unsaved copy of a version to edit (no id, effective date or creation time)."""
    return dataclass_replace(definition, definition_id=None, effective_from=None, created_at=None)
