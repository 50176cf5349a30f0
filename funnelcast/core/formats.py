"""How numbers read on screen: counts, shares, money, intervals and changes, one style everywhere.

Counts carry thousands separators (2,120,000); other quantities (points, MQLs a week) show the
decimals they have and no more (65, 2.5). Money carries the database's currency
(funnelcast.core.currency, passed in by the caller, never held here): its symbol before the
amount (€400.2k, $710) or its code after it (1.2k PLN); compact from ten thousand on, or exact
with the currency's decimals for tables of record (the CLI's).
"""

from __future__ import annotations

import datetime as dt

from funnelcast.core.currency import Currency

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


def number(value: float | None, digits: int = 2) -> str:
    """Return a quantity with thousands separators and at most digits decimals, trailing zeros
    dropped (65, 2.5, 1,234.57), or a dash."""
    if value is None:
        return DASH
    text = f"{value:,.{digits}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "") else text


def money(value: float | None, currency: Currency, *, exact: bool = False) -> str:
    """Return an amount in a currency, or a dash: compact from ten thousand on (€48.3k,
    $1.25M, 710 PLN), or with exact=True whole, with the currency's decimals (€48,321.50)."""
    if value is None:
        return DASH
    size = abs(value)
    if exact:
        text = f"{size:,.{currency.digits}f}"
    elif size >= 1e6:
        text = f"{size / 1e6:,.2f}M"
    elif size >= 1e4:
        text = f"{size / 1e3:,.1f}k"
    else:
        text = f"{size:,.0f}"
    negative = value < 0 and any(c in "123456789" for c in text)
    return ("-" if negative else "") + currency.around(text)


def interval(low: float | None, high: float | None, digits: int = 1) -> str:
    """Return a 95% interval of shares such as 28.1–37.9%, or a dash."""
    if low is None or high is None:
        return DASH
    return f"{low * 100:.{digits}f}–{high:.{digits}%}"


def signed(text: str) -> str:
    """Return a formatted change with an explicit sign (+ for gains, − already present)."""
    return text if text.startswith(("-", DASH)) else f"+{text}"


def by_kind(value: float | None, kind: str, currency: Currency | None = None) -> str:
    """Return a value formatted as a "count", "share" or "money" (which needs the currency)."""
    if kind == "money":
        return money(value, _needed(currency))
    return {"count": count, "share": share}[kind](value)


def _needed(currency: Currency | None) -> Currency:
    """Return the currency a money figure is written in; a caller that forgot it is a bug."""
    if currency is None:
        raise ValueError("a money figure needs the database's currency")
    return currency


def change(
    delta: float | None,
    kind: str,
    relative: float | None = None,
    currency: Currency | None = None,
) -> str | None:
    """Return a change from the previous period for st.metric, or None when there is none.

    kind is "count", "money" (both with the relative change when known; money needs the
    currency) or "share" (in percentage points).
    """
    if delta is None:
        return None
    if delta == 0:
        return "0"  # st.metric shows "0" grey and without an arrow
    if kind == "share":
        return signed(f"{delta * 100:,.1f} pts")
    text = signed(count(delta) if kind == "count" else money(delta, _needed(currency)))
    if relative is not None:
        text += f" ({signed(f'{relative:.0%}')})"
    return text
