"""How every report page opens: through app.py's shell, on this session's database, with the
sidebar's quarter and channel and a note of what the data lacks, under the page's title; the
table column every page shows amounts in (`money_column`); the "why does this differ from
Overview?" expander (`why_differs`); the sidebar's "About this data" (`about_data`); and the
layout rules that keep every page's text whole from 1024 to 1920 pixels wide (`apply_layout`,
called by app.py).
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


# Streamlit's own layout cuts text it has no room for (a card's "Cost per cust…", the fourth
# quarter chip faded out): these rules give it the room instead. tests/test_browser_clipping.py
# checks every page at 1024, 1400 and 1920 pixels.
LAYOUT_CSS = """
/* the wide layout's 5rem side padding, and below 1600 pixels the sidebar's 300, are room the
   tables and charts need */
div[data-testid="stMainBlockContainer"] { padding-left: 1rem; padding-right: 1rem; }
@media (max-width: 1599px) {
  section[data-testid="stSidebar"] { width: 14rem !important; min-width: 14rem; }
}
/* a row of cards, charts or tables wraps onto fewer per row when each would get too narrow */
div[data-testid="stColumn"]:has(div[data-testid="stMetric"]) { min-width: 10.5rem; }
div[data-testid="stColumn"]:has(.js-plotly-plot),
div[data-testid="stColumn"]:has(div[data-testid="stDataFrame"]) { min-width: min(100%, 24rem); }
/* a card's label wraps rather than end in "…"; its value shrinks with a narrow card */
div[data-testid="stMetric"] { container-type: inline-size; }
label[data-testid="stMetricLabel"] div[data-testid="stMarkdownContainer"] {
  white-space: normal; overflow: visible; text-overflow: clip; overflow-wrap: anywhere;
}
div[data-testid="stMetricValue"] { font-size: clamp(1.25rem, 15cqi, 2.25rem); }
/* a multiselect's chips wrap onto more lines rather than scroll out of sight */
div[data-testid="stMultiSelect"] div:has(> div[data-testid="stMultiSelectTagsContainer"]) {
  height: auto; max-height: none;
}
div[data-testid="stMultiSelectTagsContainer"] { flex-wrap: wrap; overflow-x: hidden; height: auto; }
div[data-testid="stMultiSelectTagsContainer"] > span[role="group"] { flex-wrap: wrap; }
"""


def apply_layout() -> None:
    """Add LAYOUT_CSS to the page (a style-only st.html takes no room on it)."""
    st.html(f"<style>{LAYOUT_CSS}</style>")


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
