"""Handoff: what sales does with marketing's MQLs — acceptance, rejection reasons, the SLA,
whether waiting loses buyers, and 'not ready' leads that bought later."""

import streamlit as st

from funnelcast.analytics import countings, funnel, handoff, overview
from funnelcast.charts import funnel_figures as funnel_charts
from funnelcast.core import formats, stats
from funnelcast.ui import dashboard, funnel_page, page

database, ctx, quarter, channel, missing = page.start("Handoff")
PLOTLY = page.PLOTLY

if "leads" in missing or "stage_changes" in missing:
    st.info(
        "Hand-offs need the CRM's stage history: "
        + (missing.get("stage_changes") or missing["leads"])
        + ".",
        icon=":material/upload_file:",
    )
    st.stop()

labels = {name: label for name, (_, label) in funnel.DIMENSIONS.items()}
left, right = st.columns([1, 1])
sla = left.number_input(
    "SLA (business days)",
    min_value=0,
    max_value=60,
    value=funnel_page.sla_setting(database),
    step=1,
    key="handoff_sla",
    help="Sales should answer an MQL within this many business days (Mon–Fri).",
)
by = right.selectbox(
    "Rejection reasons by",
    list(labels),
    format_func=labels.get,
    index=list(labels).index("seniority"),
    key="handoff_by",
)
result = funnel_page.handoff_report(database, quarter, channel, int(sla), by)
previous = result["previous"]

st.markdown(
    f"**{quarter or 'All history'}** · {formats.period(*overview.period_of(ctx, quarter))} · "
    f"{channel or 'all channels'}"
    + (f" · changes against {result['scope']['previous_quarter']}" if previous else "")
)
st.caption(
    "A **hand-off** is each recorded MQL (a recycled lead handed over again counts twice); sales' "
    "**answer** is its first stage change after it. Acceptance counts answered hand-offs only. "
    f"⚠ marks a rate on fewer than {stats.MIN_N} cases."
)
if not result["handoffs"]:
    st.info("No MQLs were handed to sales in this period.")
    st.stop()


def change(key: str) -> str | None:
    """Return the change of a rate against the previous period, in points."""
    if previous is None or previous[key]["value"] is None or result[key]["value"] is None:
        return None
    return formats.change(result[key]["value"] - previous[key]["value"], "share")


cells = [
    (
        "Hand-offs",
        formats.count(result["handoffs"]),
        formats.change(result["handoffs"] - previous["handoffs"], "count") if previous else None,
        "off",
        f"{formats.count(result['awaiting'])} awaiting an answer",
    ),
    (
        "Acceptance",
        formats.share(result["acceptance"]["value"]),
        change("acceptance"),
        "normal",
        overview.rate_basis(result["acceptance"]),
    ),
    (
        "Rejected",
        formats.count(result["rejected"]),
        None,
        "off",
        f"{formats.count(result['disqualified'])} disqualified",
    ),
    (
        "SLA breached",
        formats.share(result["sla_breach_rate"]["value"]),
        change("sla_breach_rate"),
        "inverse",
        f"{formats.count(result['sla_breached'])} hand-offs · "
        + overview.rate_basis(result["sla_breach_rate"], short=True),
    ),
    (
        "Median wait",
        f"{result['median_wait_business_days']:g} d"
        if result["median_wait_business_days"] is not None
        else formats.DASH,
        None,
        "off",
        "business days to sales' first answer",
    ),
]
for column, (label, value, delta, colour, note) in zip(st.columns(len(cells)), cells):
    with column.container(border=True, height="stretch"):
        st.metric(label, value, delta, delta_color=colour)
        st.caption(note)
difference = countings.handoff_vs_overview(
    dashboard.headline(database, quarter, channel), result, quarter
)
st.markdown(difference.summary)
page.why_differs(difference)

# ----- rejection reasons -----
st.subheader("Why sales rejects MQLs")
if result["rejection_reasons"]:
    left, right = st.columns([2, 3])
    left.plotly_chart(
        funnel_charts.reason_bars(result["rejection_reasons"]), theme=None, config=PLOTLY
    )
    right.plotly_chart(
        funnel_charts.reasons_heatmap(result["reasons_by"]["segments"], labels[by]),
        theme=None,
        config=PLOTLY,
    )
    st.caption(
        "In brackets: the segment's rejections; ⚠ fewer than "
        f"{stats.MIN_N}. 'Not ready' is highlighted: a fit, handed over too early."
    )
else:
    st.info("Sales rejected no MQL in this period.")

# ----- SLA -----
st.subheader(f"Answered within {int(sla)} business days?")
left, right = st.columns([2, 3])
left.plotly_chart(
    funnel_charts.unanswered_ages(result["unanswered_by_age"]), theme=None, config=PLOTLY
)
right.plotly_chart(funnel_charts.sla_trend(result["trend"], int(sla)), theme=None, config=PLOTLY)
st.caption(
    f"{formats.count(result['answered_late'])} answered late and "
    f"{formats.count(result['unanswered_past_sla'])} still unanswered past the SLA in the period. "
    "Business days are Monday to Friday; holidays are not known."
)

# ----- waiting -----
st.subheader("Does waiting lose buyers?")
wait = result["wait_vs_conversion"]
st.plotly_chart(funnel_charts.wait_conversion(wait["buckets"]), theme=None, config=PLOTLY)
st.caption(
    f"{formats.count(wait['handoffs'])} answered hand-offs made before {wait['handed_before'][:10]} "
    f"(pooled over history up to the period's end, and at least {wait['maturity_days']:.0f} days "
    "old, so that they had time to convert). Hollow markers: fewer than "
    f"{stats.MIN_N} hand-offs; bars: 95% intervals."
)

# ----- handed over too early -----
st.subheader("Rejected as 'not ready', bought later")
not_ready = result["not_ready_later_won"]
cells = [
    ("Rejected as not ready", formats.count(not_ready["rejected_not_ready"]), "in the period"),
    (
        "Became customers later",
        formats.share(not_ready["won_later"]["value"]),
        overview.rate_basis(not_ready["won_later"], short=True),
    ),
    (
        "Reached SQL later",
        formats.share(not_ready["reached_sql_later"]["value"]),
        overview.rate_basis(not_ready["reached_sql_later"], short=True),
    ),
    (
        "Their revenue",
        formats.money(not_ready["revenue"], ctx.currency),
        "deals won after the rejection",
    ),
]
for column, (label, value, note) in zip(st.columns(len(cells)), cells):
    with column.container(border=True, height="stretch"):
        st.metric(label, value)
        st.caption(note)
st.caption(
    "Hand-offs rejected or recycled as 'not ready' in the period, and what their leads did after. "
    "Recent rejections have had little time to come back: a low share there is not yet final."
)
if not_ready["leads"]:
    st.dataframe(
        handoff.not_ready_table(result),
        hide_index=True,
        column_config={
            "lead_id": st.column_config.TextColumn("Lead"),
            "channel": st.column_config.TextColumn("Channel"),
            "handed_at": st.column_config.TextColumn("Handed over"),
            "responded_at": st.column_config.TextColumn("Rejected"),
            "reached_customer_at": st.column_config.TextColumn("Won"),
            "days_to_win": st.column_config.NumberColumn("Days to win", format="%.0f"),
            "revenue": page.money_column("Revenue", ctx.currency),
        },
    )
