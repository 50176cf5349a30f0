"""The database's calendar as definitions see it: fiscal year, the data's today, quarter labels.

A version takes effect at a quarter's start; these name that quarter ("2027Q1", "next") in the
database's fiscal year and find the data's today, which says which version is in force now.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from funnelcast.core import periods
from funnelcast.data import db
from funnelcast.data.context import load_context
from funnelcast.definitions.model import DefinitionError


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
