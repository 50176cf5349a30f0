"""What the database holds that scopes every figure: its calendar, as-of moment, quarters, channels,
the definition in force and the currency of its amounts, read once per request (`load_context`)
and passed to every area; and the currency setting itself (`currency_of`, `set_currency`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb

from funnelcast.core import currency as currencies
from funnelcast.core.currency import Currency
from funnelcast.core.periods import Quarter, parse_quarter, quarters_between
from funnelcast.data import db

CURRENCY_META_KEY = "currency"  # the meta setting: an ISO 4217 code, USD when unset


class MetricsInputError(db.FunnelcastError):
    """A quarter, channel or threshold the data cannot answer for."""


def currency_of(cur: duckdb.DuckDBPyConnection) -> Currency:
    """Return the currency the database's amounts are in (USD when the setting is unset)."""
    stored = db.get_meta(cur, CURRENCY_META_KEY)
    if stored is None:
        return currencies.USD
    try:
        return currencies.parse(stored)
    except ValueError as exc:
        raise db.FunnelcastError(
            f"the database's currency setting: {exc} (set it again with "
            "`funnelcast currency --db FILE CODE`)"
        ) from None


def set_currency(cur: duckdb.DuckDBPyConnection, code: str) -> Currency:
    """Store the currency of the database's amounts and return it; FunnelcastError naming the
    value when it is no ISO 4217 code, and nothing stored."""
    try:
        chosen = currencies.parse(code)
    except ValueError as exc:
        raise db.FunnelcastError(str(exc)) from None
    db.set_meta(cur, CURRENCY_META_KEY, chosen.code)
    return chosen


@dataclass(frozen=True)
class DataContext:
    """What the database holds that scopes every figure: calendar, as-of day, channels."""

    fy_start_month: int
    as_of: dt.datetime | None
    quarters: list[Quarter]
    channels: list[str]
    definition: dict[str, Any] | None
    extent: dict[str, dict[str, Any]] = field(default_factory=dict)
    currency: Currency = currencies.USD  # of every amount: spend, deal values, targets

    def quarter(self, label: str) -> Quarter:
        """Return the quarter a label names, or MetricsInputError when it is not in the data."""
        try:
            quarter = parse_quarter(label, self.fy_start_month)
        except ValueError as exc:
            raise MetricsInputError(str(exc)) from None
        if quarter not in self.quarters:
            span = (
                f"{self.quarters[0].label} to {self.quarters[-1].label}"
                if self.quarters
                else "no quarters: the database has no leads"
            )
            raise MetricsInputError(f"quarter {quarter.label} is not in the data ({span})")
        return quarter

    def check_channel(self, channel: str | None) -> None:
        """Raise MetricsInputError when a channel is given that the data does not know."""
        if channel is not None and channel not in self.channels:
            known = ", ".join(self.channels) or "none"
            raise MetricsInputError(f"unknown channel {channel!r} (known channels: {known})")


def parse_as_of(text: str) -> dt.datetime:
    """Return the moment a stored as-of value means; a bare date means the end of that day."""
    moment = dt.datetime.fromisoformat(text)
    if len(text.strip()) == 10:
        moment += dt.timedelta(days=1, microseconds=-1)
    return moment


def load_context(cur: duckdb.DuckDBPyConnection) -> DataContext:
    """Return the database's calendar, as-of moment, quarters, channels, definition and
    currency."""
    fy_start_month = int(db.get_meta(cur, "fiscal_year_start_month", "1") or 1)
    extent = {row["table_name"]: row for row in db.run(cur, "data_extent").to_dicts()}
    stored_as_of = db.get_meta(cur, "as_of")
    activity = ("leads", "events", "stage_changes")
    last_seen = [extent[t]["last_at"] for t in activity if extent[t]["last_at"]]
    if stored_as_of:
        as_of: dt.datetime | None = parse_as_of(stored_as_of)
    else:
        as_of = max(last_seen) if last_seen else None
    # Quarters run from the first lead to the last activity, and cover spend outside that span.
    firsts = [extent[t]["first_at"] for t in ("leads", "spend") if extent[t]["first_at"]]
    lasts = [*last_seen, *([extent["spend"]["last_at"]] if extent["spend"]["last_at"] else [])]
    quarters = (
        quarters_between(min(firsts).date(), max(lasts).date(), fy_start_month)
        if extent["leads"]["first_at"] is not None
        else []
    )
    channels = db.run(cur, "channels")["channel"].to_list()
    definition = None
    if as_of is not None:
        rows = db.run(cur, "definition_in_force", on=as_of.date()).to_dicts()
        definition = rows[0] if rows else None
    return DataContext(
        fy_start_month, as_of, quarters, channels, definition, extent, currency_of(cur)
    )
