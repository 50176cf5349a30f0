"""How every report page opens: through app.py's shell, on this session's database, with the
sidebar's quarter and channel and a note of what the data lacks, under the page's title; the
table column every page shows amounts in (`money_column`); the "why does this differ from
Overview?" expander (`why_differs`); and the sidebar's "About this data" (`about_data`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import streamlit as st

from funnelcast.analytics import countings, overview
from funnelcast.core import formats
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


def why_differs(difference: countings.Difference) -> None:
    """Show why this page's count differs from the Overview's, both figures side by side, in a
    collapsed expander (the page shows difference.summary beside its number)."""
    with st.expander("Why does this differ from Overview?", icon=":material/help:"):
        st.markdown(countings.markdown_table(difference))
        st.markdown("\n".join(f"- {line}" for line in difference.meanings))


def about_data(database: dashboard.Database, ctx: DataContext) -> None:
    """Show, in a collapsed sidebar expander, where the data comes from (engine and file), the
    demo's seed, the as-of day and every table's row count."""
    with st.expander("About this data", icon=":material/database:"):
        st.caption(database.source)
        demo = dashboard.meta(database, "demo_seed", "demo_leads")
        if demo["demo_seed"] is not None:
            st.caption(
                f"Demo data: {int(demo['demo_leads'] or 0):,} invented leads, "
                f"seed {demo['demo_seed']}."
            )
        as_of = ctx.as_of.date().isoformat() if ctx.as_of else "no data yet"
        rows = [
            f"{table.replace('_', ' ')}: {formats.count(ctx.extent[table]['count_rows'])} rows"
            for table in ("leads", "events", "stage_changes", "spend", "targets")
        ]
        st.caption("  \n".join([f"As of **{as_of}**", *rows]))
