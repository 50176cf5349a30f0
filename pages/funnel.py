"""Funnel: how far the period's leads got, where they dropped out, how cohorts mature, how long
stages take and which journeys were not straight lines."""

import streamlit as st

from funnelcast.analytics import countings, funnel, overview
from funnelcast.charts import funnel_figures as funnel_charts
from funnelcast.core import formats, stats
from funnelcast.ui import dashboard, funnel_page, page

database, ctx, quarter, channel, missing = page.start("Funnel")
PLOTLY = page.PLOTLY

if "leads" in missing:
    st.info(f"This database holds no data yet: {missing['leads']}.", icon=":material/upload_file:")
    st.stop()

labels = {name: label for name, (_, label) in funnel.DIMENSIONS.items()}
left, right = st.columns([1, 1])
by = left.selectbox("Break down by", list(labels), format_func=labels.get, key="funnel_by")
grain = right.radio(
    "MQL cohorts by",
    ["quarter", "month"],
    horizontal=True,
    key="funnel_grain",
    format_func=str.capitalize,
)
result = funnel_page.funnel_report(database, quarter, channel, by, grain)
current, previous = result["funnel"], result["previous"]

st.markdown(
    f"**{quarter or 'All history'}** · {formats.period(*overview.period_of(ctx, quarter))} · "
    f"{channel or 'all channels'}" + (f" · beside {previous['quarter']}" if previous else "")
)
st.caption(
    "Leads by **creation cohort**: of the leads created in the period, how many have reached each "
    "stage so far. A stage counts as reached when the lead entered it or a later one, so no step "
    f"is larger than the one before. ⚠ marks a rate on fewer than {stats.MIN_N} cases."
)
if "stage_changes" in missing:
    st.info(
        missing["stage_changes"] + ". Only lead counts can be shown.", icon=":material/upload_file:"
    )
if not current["is_mature"]:
    st.warning(
        f"{current['quarter'] or 'The latest'} leads are still young: 90% of past lead-to-customer "
        f"journeys took up to {result['scope']['lead_maturity_days']:.0f} days, so the later steps "
        "will still fill. A smaller count is not yet a decline.",
        icon=":material/hourglass_top:",
    )

# ----- the funnel, this period beside the previous one -----
left, right = st.columns([4, 7])
left.plotly_chart(funnel_charts.funnel_periods(current, previous), theme=None, config=PLOTLY)
with right:
    st.dataframe(
        funnel.steps_table(current, previous),
        hide_index=True,
        placeholder="—",
        column_order=None
        if previous
        else ["stage", "count", "lost", "from_previous_pct", "from_previous_basis", "from_top_pct"],
        column_config={
            "stage": st.column_config.TextColumn("Stage", width=70),
            "count": st.column_config.NumberColumn("Reached", format="localized", width=66),
            "lost": st.column_config.NumberColumn(
                "Lost", format="localized", width=55, help="Dropped out at this step"
            ),
            "from_previous_pct": st.column_config.NumberColumn(
                "Step rate", format="%.1f%%", help="Of the previous step", width=72
            ),
            "from_previous_basis": st.column_config.TextColumn(
                "n · 95% CI",
                help="The previous step's count and the step rate's interval",
                width=110,
            ),
            "from_top_pct": st.column_config.NumberColumn(
                "Of leads", format="%.1f%%", help="Of the period's leads", width=66
            ),
            "previous_count": st.column_config.NumberColumn(
                previous["quarter"] if previous else "Previous",
                format="localized",
                width=62,
                help="Reached, in the previous period",
            ),
            "previous_from_previous_pct": st.column_config.NumberColumn(
                "Step rate ", format="%.1f%%", width=72, help="Step rate in the previous period"
            ),
            "previous_from_top_pct": st.column_config.NumberColumn(
                "Of leads ", format="%.1f%%", width=66, help="Of leads in the previous period"
            ),
        },
    )
    if current["mql_skipped"]:
        st.caption(
            f"{formats.count(current['mql_skipped'])} of the MQL step never had an MQL recorded: they "
            "went to sales directly (see the journeys below)."
        )
    if previous:
        st.caption(
            f"The last three columns are {previous['quarter']}'s"
            + (", a cohort still maturing too." if not previous["is_mature"] else ".")
        )

if "stage_changes" not in missing:
    difference = countings.funnel_vs_overview(
        dashboard.headline(database, quarter, channel), current, quarter
    )
    st.markdown(difference.summary)
    page.why_differs(difference)

# ----- breakdown -----
st.subheader(f"By {labels[by].lower()}")
segments = result["breakdown"]["segments"]
if segments:
    st.plotly_chart(funnel_charts.segment_rates(segments, labels[by]), theme=None, config=PLOTLY)
    st.dataframe(
        funnel.segments_table(segments, result["breakdown"]["previous_segments"]),
        hide_index=True,
        placeholder="—",
        column_config={
            "segment": st.column_config.TextColumn(labels[by], pinned=True),
            "leads": st.column_config.NumberColumn("Leads", format="localized", width=52),
            "mqls": st.column_config.NumberColumn("MQL", format="localized", width=46),
            "sals": st.column_config.NumberColumn("SAL", format="localized", width=46),
            "sqls": st.column_config.NumberColumn("SQL", format="localized", width=46),
            "customers": st.column_config.NumberColumn(
                "Cust.", format="localized", width=46, help="Customers"
            ),
            "lead_to_mql_pct": st.column_config.NumberColumn(
                "Lead → MQL", format="%.1f%%", width=86
            ),
            "lead_to_mql_basis": st.column_config.TextColumn("n · 95% CI", width=100),
            "mql_to_sal_pct": st.column_config.NumberColumn("MQL → SAL", format="%.1f%%", width=80),
            "sal_to_sql_pct": st.column_config.NumberColumn("SAL → SQL", format="%.1f%%", width=76),
            "sql_to_customer_pct": st.column_config.NumberColumn(
                "SQL → cust.", format="%.1f%%", width=82
            ),
            "mql_to_customer_pct": st.column_config.NumberColumn(
                "MQL → cust.", format="%.1f%%", width=86
            ),
            "mql_to_customer_basis": st.column_config.TextColumn("n · 95% CI ", width=96),
            "previous_lead_to_mql_pct": st.column_config.NumberColumn(
                f"{previous['quarter']} L→MQL" if previous else "Lead → MQL before",
                format="%.1f%%",
                width=106,
                help="Lead → MQL in the previous period",
            ),
            "previous_mql_to_customer_pct": st.column_config.NumberColumn(
                f"{previous['quarter']} MQL→cust." if previous else "MQL → cust. before",
                format="%.1f%%",
                width=126,
                help="MQL → customer in the previous period",
            ),
        },
        column_order=None
        if previous
        else [
            "segment",
            "leads",
            "mqls",
            "sals",
            "sqls",
            "customers",
            "lead_to_mql_pct",
            "lead_to_mql_basis",
            "mql_to_sal_pct",
            "sal_to_sql_pct",
            "sql_to_customer_pct",
            "mql_to_customer_pct",
            "mql_to_customer_basis",
        ],
    )
else:
    st.info("No leads in this period.")

# ----- cohorts -----
st.subheader("MQL cohorts over time")
st.caption(
    "Share of each cohort's MQLs converted by each day since MQL (Kaplan–Meier: a lead counts only "
    "for the days it has been observed). Dashed: **immature** cohorts, still converting; the hollow "
    "marker is their **estimated** eventual rate, from the curve pooled over all cohorts — an "
    "estimate, not an observation."
)
for tab, outcome, name in zip(
    st.tabs(["MQL → SQL", "MQL → customer"]), ("sql", "customer"), ("SQL", "customer")
):
    part = result["cohorts"]["outcomes"][outcome]
    with tab:
        if not part["cohorts"]:
            st.info("No recorded MQLs: there are no cohorts to follow.")
            continue
        st.plotly_chart(
            funnel_charts.cohort_curves(
                part, title=f"MQL cohorts reaching {name}", selected=quarter
            ),
            theme=None,
            config=PLOTLY,
            key=f"cohorts_{outcome}",
        )
        st.dataframe(
            funnel.cohorts_table(part),
            hide_index=True,
            placeholder="—",
            key=f"cohort_table_{outcome}",
            column_config={
                "cohort": st.column_config.TextColumn("Cohort"),
                "mqls": st.column_config.NumberColumn("MQLs", format="localized"),
                "observed_pct": st.column_config.NumberColumn(f"→ {name} so far", format="%.1f%%"),
                "observed_basis": st.column_config.TextColumn("n · 95% CI"),
                "estimate_pct": st.column_config.NumberColumn(
                    "Estimated eventual",
                    format="%.1f%%",
                    help="Maturity-adjusted estimate: conversions so far plus those expected later",
                ),
                "estimate_range": st.column_config.TextColumn("≈ range"),
                "status": st.column_config.TextColumn("Status"),
            },
        )

# ----- time in stage -----
st.subheader("Time in stage")
times = result["time_in_stage"]
if times["overall"]:
    for column, row in zip(st.columns(len(times["overall"])), times["overall"]):
        with column.container(border=True):
            st.metric(f"{row['label']}: median", f"{row['median_days']:.1f} days")
            st.caption(
                f"90% within {row['p90_days']:.1f} days · n {formats.count(row['n'])}"
                + (" · ⚠ small sample" if row["is_small_sample"] else "")
            )
    st.caption("Completed steps that began in the period; a lead still in a stage is not counted.")
    left, right = st.columns(2)
    left.plotly_chart(funnel_charts.stage_boxes(times["by_channel"]), theme=None, config=PLOTLY)
    right.plotly_chart(funnel_charts.stage_trend(times["trend"]), theme=None, config=PLOTLY)
else:
    st.info("No completed stage steps began in this period.")

# ----- journeys -----
st.subheader("Non-linear journeys")
journeys = result["journeys"]
recycled = journeys["recycled"]
cells = [
    (
        "SQLs without an MQL",
        formats.count(sum(journeys["sqls_without_mql"].values())),
        f"{formats.count(journeys['sqls_without_mql']['demo_request'])} by demo request · "
        f"{formats.count(journeys['sqls_without_mql']['direct'])} direct · of {formats.count(journeys['sqls'])} SQLs",
    ),
    (
        "Customers, no MQL",
        formats.count(journeys["customers_without_mql"]),
        f"of {formats.count(journeys['customers'])} customers",
    ),
    ("Skipped SAL", formats.count(journeys["sal_skipped"]), "reached SQL with no SAL recorded"),
    (
        "Recycled",
        formats.count(recycled["leads"]),
        f"{formats.count(recycled['back_as_mql'])} came back as MQL",
    ),
    (
        "Recycled → SQL",
        formats.share(recycled["reached_sql_later"]["value"]),
        overview.rate_basis(recycled["reached_sql_later"], short=True),
    ),
    (
        "Recycled → won",
        formats.share(recycled["won_later"]["value"]),
        overview.rate_basis(recycled["won_later"], short=True),
    ),
]
for column, (label, value, note) in zip(st.columns(len(cells)), cells):
    with column.container(border=True, height="stretch"):
        st.metric(label, value)
        st.caption(note)
if journeys["sankey"]["links"]:
    st.plotly_chart(
        funnel_charts.journeys_sankey(
            journeys["sankey"],
            title=f"Paths through sales of the period's leads "
            f"({formats.count(journeys['never_reached_sales'])} of "
            f"{formats.count(journeys['leads'])} never reached sales)",
        ),
        theme=None,
        config=PLOTLY,
    )
else:
    st.info("No lead of this period has reached sales yet.")
