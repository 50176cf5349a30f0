"""Plain-text tables for people: the one column aligner every command's table goes through, and
the currency a report's amounts are written in (the report's own "currency" field).
"""

from __future__ import annotations

from typing import Any

from funnelcast.core import currency
from funnelcast.core.currency import Currency


def currency_of(result: dict[str, Any]) -> Currency:
    """Return the currency of a report's amounts: its "currency" field (USD without one)."""
    return currency.parse(result.get("currency") or currency.DEFAULT_CODE)


def align(rows: list[list[str]], *, figures: bool = True) -> list[str]:
    """Return rows (the first one the header) as lines, columns two spaces apart.

    figures=True: the first column (the labels) left-aligned, the others (the figures) right.
    figures=False: every column left-aligned, each line without trailing spaces.
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    if not figures:
        return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in rows
    ]
