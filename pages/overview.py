"""Overview: the quarter at a glance — volumes, conversion, cost and return, by channel."""

import streamlit as st

from funnelcast import charts
from funnelcast.analytics import countings, overview
from funnelcast.core import formats, stats
from funnelcast.ui import dashboard, page

database, ctx, quarter, channel, missing = page.start("Overview")

if "leads" in missing:
    st.info(f"This database holds no data yet: {missing['leads']}.", icon=":material/upload_file:")
    for table in ("stage_changes", "spend"):
        if table in missing:
            st.caption(f"Also {missing[table]}.")
    st.caption(f"Or build the demo database: `funnelcast demo --db {database.path}`.")
    st.stop()

result = dashboard.headline(database, quarter, channel)
previous_label = overview.previous_quarter(ctx, quarter)
previous = dashboard.headline(database, previous_label, channel) if previous_label else None
scope = result["scope"]

definition = scope["definition"]
mqls_meaning = (
    f"MQLs as recorded by the CRM under definition **{definition['name']}** "
    f"(threshold {definition['threshold']:g})"
    if definition
    else "MQLs as recorded by the CRM (no MQL definition is loaded)"
)
st.markdown(
    f"**{quarter or 'All history'}** · {formats.period(*overview.period_of(ctx, quarter))} · "
    f"{channel or 'all channels'}"
    + (f" · changes against {previous_label}" if previous_label else "")
)
st.caption(
    f"Volumes, revenue and spend count what happened **in the period**; conversion rates follow "
    f"the period's **cohort** (of its MQLs or SQLs, the share that got further so far). "
    f"{mqls_meaning}."
)
if scope["cohort_is_mature"] is False:
    st.warning(
        f"These conversion rates, and the funnel below, will still rise: "
        f"{f'the {quarter} cohort' if quarter else 'the latest cohorts'} had less time than most "
        f"past journeys took to close. A lower rate than {previous_label or 'older quarters'} "
        f"is not yet a decline.",
        icon=":material/hourglass_top:",
    )
for table in ("stage_changes", "spend"):
    if table in missing:
        st.info(missing[table], icon=":material/upload_file:")

kpis = overview.kpis(result, previous)
labels = countings.overview_labels(quarter)
# volumes, then the cohort's conversion, then money
for row in (kpis[:4], kpis[4:7], kpis[7:]):
    for column, kpi in zip(st.columns(len(row)), row):
        with column.container(border=True, height="stretch"):
            st.metric(
                labels.get(kpi.key, kpi.label),
                formats.by_kind(kpi.value, kpi.kind, ctx.currency),
                formats.change(kpi.delta, kpi.kind, kpi.relative, ctx.currency),
                delta_color={"up": "normal", "down": "inverse", "neutral": "off"}[kpi.better],
            )
            st.caption(
                overview.rate_basis(kpi.rate)
                if kpi.rate
                else countings.OVERVIEW_NOTES.get(kpi.key, kpi.note)
            )

colors = charts.channel_colors(ctx.channels)
partial = overview.partial_quarters(ctx)
left, right = st.columns([2, 3])
with left:
    if result["rates"]["mql_to_sal"]["n"]:
        title, note = countings.overview_funnel(result, quarter)
        st.plotly_chart(
            charts.funnel(result, title=title), theme=None, config={"displaylogo": False}
        )
        st.caption(note)
    else:
        st.info("No MQLs in this period: there is no funnel to draw.")
with right:
    st.plotly_chart(
        charts.mql_volume(
            dashboard.funnel_by_quarter(database, channel),
            colors=colors,
            partial=partial,
            selected=quarter,
        ),
        theme=None,
        config={"displaylogo": False},
    )
    st.caption(
        ("Shaded: the quarter shown. " if quarter else "")
        + ("Hatched: a quarter the data does not cover to its end." if partial else "")
    )

st.subheader("By channel")
comparison = dashboard.headline(database, quarter, None) if channel else result
st.caption(
    "Revenue is credited to the lead's source channel. ⚠ marks a rate resting on fewer than "
    f"{stats.MIN_N} cases. "
    + (f"All channels are shown for comparison; {channel} is highlighted." if channel else "")
)
if "spend" not in missing:
    left, right = st.columns(2)
    left.plotly_chart(
        charts.cost_per_mql(
            comparison["by_channel"], colors=colors, currency=ctx.currency, highlight=channel
        ),
        theme=None,
        config={"displaylogo": False},
    )
    right.plotly_chart(
        charts.roi(comparison["by_channel"], highlight=channel),
        theme=None,
        config={"displaylogo": False},
    )

# Widths in pixels keep all twelve columns in view beside the sidebar on a 1366-pixel screen
# (the money headings with their currency, "Cost/MQL (€)", whole).
st.dataframe(
    overview.channel_table(comparison),
    hide_index=True,
    placeholder="—",
    column_config={
        "channel": st.column_config.TextColumn("Channel", pinned=True, width=72),
        "leads": st.column_config.NumberColumn("Leads", format="localized", width=58),
        "mqls": st.column_config.NumberColumn("MQLs", format="localized", width=55),
        "customers": st.column_config.NumberColumn("Customers", format="localized", width=80),
        "mql_to_sql_pct": st.column_config.NumberColumn("MQL → SQL", format="%.1f%%", width=82),
        "mql_to_sql_basis": st.column_config.TextColumn(
            "n · 95% CI", help="The period's MQLs and the rate's 95% interval", width=100
        ),
        "sql_to_customer_pct": st.column_config.NumberColumn(
            "SQL → cust.", format="%.1f%%", help="SQL → customer", width=84
        ),
        "sql_to_customer_basis": st.column_config.TextColumn(
            "n · 95% CI ", help="The period's SQLs and the rate's 95% interval", width=100
        ),
        "revenue": page.money_column("Revenue", ctx.currency, compact=True, width=96),
        "spend": page.money_column("Spend", ctx.currency, compact=True, width=74),
        "cost_per_mql": page.money_column("Cost/MQL", ctx.currency, width=98),
        "roi_pct": st.column_config.NumberColumn("ROI", format="%,.0f%%", width=64),
    },
)
