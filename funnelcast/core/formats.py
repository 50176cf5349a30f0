"""How numbers read on screen: counts, shares, money, intervals and changes, one style everywhere.

Money carries no currency sign: the data does not say which currency its amounts are in.
"""

from __future__ import annotations

import datetime as dt

DASH = "—"


def period(start: dt.date, end: dt.date) -> str:
    """Return the period from start to the day before end, as 1 Jul – 30 Sep 2026."""
    last = end - dt.timedelta(days=1)
    first = f"{start.day} {start:%b}" + (f" {start.year}" if start.year != last.year else "")
    return f"{first} – {last.day} {last:%b %Y}"


def count(value: float | None) -> str:
    """Return a whole number with thousands separators, or a dash."""
    return DASH if value is None else f"{value:,.0f}"


def share(value: float | None, digits: int = 1) -> str:
    """Return a share as a percentage such as 32.8%, or a dash."""
    return DASH if value is None else f"{value:,.{digits}%}"


def money(value: float | None) -> str:
    """Return an amount, compact from ten thousand on (48.3k, 1.25M), or a dash."""
    if value is None:
        return DASH
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:,.2f}M"
    if size >= 1e4:
        return f"{value / 1e3:,.1f}k"
    return f"{value:,.0f}"


def interval(low: float | None, high: float | None, digits: int = 1) -> str:
    """Return a 95% interval of shares such as 28.1–37.9%, or a dash."""
    if low is None or high is None:
        return DASH
    return f"{low * 100:.{digits}f}–{high:.{digits}%}"


def signed(text: str) -> str:
    """Return a formatted change with an explicit sign (+ for gains, − already present)."""
    return text if text.startswith(("-", DASH)) else f"+{text}"


def by_kind(value: float | None, kind: str) -> str:
    """Return a value formatted as a "count", "share" or "money"."""
    return {"count": count, "share": share, "money": money}[kind](value)


def change(delta: float | None, kind: str, relative: float | None = None) -> str | None:
    """Return a change from the previous period for st.metric, or None when there is none.

    kind is "count", "money" (both with the relative change when known) or "share"
    (in percentage points).
    """
    if delta is None:
        return None
    if delta == 0:
        return "0"  # st.metric shows "0" grey and without an arrow
    if kind == "share":
        return signed(f"{delta * 100:,.1f} pts")
    text = signed(count(delta) if kind == "count" else money(delta))
    if relative is not None:
        text += f" ({signed(f'{relative:.0%}')})"
    return text
