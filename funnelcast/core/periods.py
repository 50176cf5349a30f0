"""Fiscal quarters: labels like 2026Q1, their start and end dates, for any fiscal start month.

A fiscal year is named after the calendar year in which it ends: with a February start month,
the year from February 2025 to January 2026 is 2026, and 2026Q1 is February-April 2025.
With a January start, quarters are calendar quarters.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_LABEL = re.compile(r"^(\d{4})\s*-?\s*Q([1-4])$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Quarter:
    """A fiscal quarter: its start (inclusive) and end (exclusive) dates and its label."""

    start: dt.date
    end: dt.date
    label: str

    def previous(self, fy_start_month: int = 1) -> Quarter:
        """Return the quarter before this one."""
        return quarter_of(add_months(self.start, -3), fy_start_month)

    def shifted(self, quarters: int, fy_start_month: int = 1) -> Quarter:
        """Return the quarter this many quarters later (earlier when negative)."""
        return quarter_of(add_months(self.start, 3 * quarters), fy_start_month)


def add_months(day: dt.date, months: int) -> dt.date:
    """Return the first of the month that is `months` after day's month."""
    index = day.year * 12 + (day.month - 1) + months
    return dt.date(index // 12, index % 12 + 1, 1)


def quarter_of(day: dt.date | dt.datetime, fy_start_month: int = 1) -> Quarter:
    """Return the fiscal quarter that contains day."""
    if isinstance(day, dt.datetime):
        day = day.date()
    if not 1 <= fy_start_month <= 12:
        raise ValueError(f"fiscal year start month must be 1-12, not {fy_start_month}")
    months_into_year = (day.month - fy_start_month) % 12
    quarter_index = months_into_year // 3
    start = add_months(dt.date(day.year, day.month, 1), -(months_into_year % 3))
    fy_start = add_months(start, -3 * quarter_index)
    fiscal_year = fy_start.year if fy_start_month == 1 else fy_start.year + 1
    return Quarter(start, add_months(start, 3), f"{fiscal_year}Q{quarter_index + 1}")


def parse_quarter(label: str, fy_start_month: int = 1) -> Quarter:
    """Return the quarter named by a label like 2026Q1; ValueError when it is not one."""
    match = _LABEL.match(label.strip())
    if not match:
        raise ValueError(f"not a quarter: {label!r} (expected a form like 2026Q1)")
    fiscal_year, q = int(match.group(1)), int(match.group(2))
    first_year = fiscal_year if fy_start_month == 1 else fiscal_year - 1
    start = add_months(dt.date(first_year, fy_start_month, 1), 3 * (q - 1))
    return Quarter(start, add_months(start, 3), f"{fiscal_year}Q{q}")


def quarters_between(first: dt.date, last: dt.date, fy_start_month: int = 1) -> list[Quarter]:
    """Return every quarter from the one containing first to the one containing last."""
    out = [quarter_of(first, fy_start_month)]
    end = quarter_of(last, fy_start_month)
    while out[-1] < end:
        out.append(out[-1].shifted(1, fy_start_month))
    return out
