"""How every report page opens: through app.py's shell, on this session's database, with the
sidebar's quarter and channel and a note of what the data lacks, under the page's title; and the
table column every page shows amounts in (`money_column`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import streamlit as st

from funnelcast.analytics import overview
from funnelcast.core.currency import Currency
from funnelcast.data.context import DataContext
from funnelcast.ui import dashboard

# Plotly's modebar without its logo, for every chart a page draws.
PLOTLY = {"displaylogo": False}


class Page(NamedTuple):
    """What a page reads before it draws anything."""

    database: dashboard.Database
    ctx: DataContext
    quarter: str | None  # None: all history
    channel: str | None  # None: all channels
    missing: dict[str, str]  # table -> what to load (overview.missing_inputs)


def start(title: str) -> Page:
    """Open a page: send a direct visit through app.py, read the scope, show the title."""
    dashboard.require_shell()
    database = dashboard.current_database()
    ctx = dashboard.context(database)
    quarter, channel = dashboard.scope()
    st.title(title)
    return Page(database, ctx, quarter, channel, overview.missing_inputs(ctx))


def money_column(label: str, currency: Currency, *, compact: bool = False, **options: Any) -> Any:
    """Return a table column of amounts: its heading carries the currency (Spend (€)), its cells
    stay numbers (they sort, and a CSV download keeps them numeric), whole or compact (1.2M)."""
    return st.column_config.NumberColumn(
        currency.unit(label), format="compact" if compact else "%,.0f", **options
    )
