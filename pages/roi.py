"""ROI & attribution: what the budget bought — cost per stage, return per channel and quarter,
the attribution models side by side, payback, and the quarterly review to download."""

import streamlit as st

from funnelcast import report
from funnelcast.analytics import attribution, overview, roi
from funnelcast.charts import roi_figures as roi_charts
from funnelcast.core import formats
from funnelcast.ui import page, roi_page

database, ctx, quarter, channel, missing = page.start("ROI & attribution")
PLOT = page.PLOTLY
currency = ctx.currency

if "leads" in missing:
    st.info(f"This database holds no data yet: {missing['leads']}.", icon=":material/upload_file:")
    st.caption(f"Or build the demo database: `funnelcast demo --db {database.path}`.")
    st.stop()

left, right = st.columns([2, 1])
model = left.selectbox(
    "Attribution model for revenue",
    attribution.MODEL_KEYS,
    format_func=attribution.MODEL_LABELS.get,
    key=roi_page.MODEL_KEY,
    help="How a deal's revenue is credited to the channels of its lead's touches. First touch "
    "credits the lead's source channel.",
)
half_life = right.slider(
    "Time-decay half-life (days)",
    min_value=1,
    max_value=120,
    value=int(attribution.DEFAULT_HALF_LIFE_DAYS),
    key=roi_page.HALF_LIFE_KEY,
    help="Time decay: a touch's share halves with every half-life it lies before the last touch.",
)
result = roi_page.result(database, quarter, model, half_life)
scope = result["scope"]
totals = result["totals"]
compare = [label for label in (scope["previous_quarter"], scope["year_ago_quarter"]) if label]
st.markdown(
    f"**{quarter or 'All history'}** · {formats.period(*overview.period_of(ctx, quarter))} · "
    f"revenue credited by **{scope['model_label']}**"
    + (f" · changes against {' and '.join(compare)}" if compare else "")
)
st.markdown(attribution.model_line(model))

card = result["scorecard"]
st.subheader(card["sentence"], anchor=False)
st.caption(
    f"MQL → SQL: {overview.rate_basis(card['mql_to_sql'])} — of the period's MQLs (as the CRM "
    f"recorded them), the share that reached SQL so far."
    + ("" if card["is_mature"] else " The cohort is young: this share will still rise.")
)

if "spend" in missing:
    st.info(
        "No spend is loaded, so there is no cost per stage and no ROI. Load a spend export "
        "(period_start, channel, campaign, amount) to see what the budget bought; revenue and "
        "volumes are shown below.",
        icon=":material/upload_file:",
    )
if "stage_changes" in missing:
    st.info(missing["stage_changes"], icon=":material/upload_file:")
if scope["attribution_basis"] == "source only":
    st.info(
        "No events are loaded: attribution uses each lead's source only, so every model "
        "credits the source channel and they all agree. Load events (lead_id, occurred_at, "
        "event_type, channel, campaign) to compare the models.",
        icon=":material/info:",
    )

previous = totals["change"]["vs_previous"] or {}
year_ago = totals["change"]["vs_year_ago"] or {}
tiles = [
    ("Spend", "spend", "money", "off"),
    ("Revenue", "revenue", "money", "normal"),
    ("ROI", "roi", "share", "normal"),
    ("Cost per lead", "cost_per_lead", "money", "inverse"),
    ("Cost per MQL", "cost_per_mql", "money", "inverse"),
    ("Cost per SQL", "cost_per_sql", "money", "inverse"),
    ("Cost per customer", "cost_per_customer", "money", "inverse"),
]
# two rows, what was spent and returned, then what each step cost: seven cards in one row wrap
# 6 + 1 on a laptop, leaving one card alone
rows = (tiles[:3], tiles[3:])
for column, (label, key, kind, colour) in (
    pair for row in rows for pair in zip(st.columns(len(row)), row)
):
    with column.container(border=True, height="stretch"):
        st.metric(
            label,
            "no spend"
            if key == "roi" and totals[key] is None
            else formats.by_kind(totals[key], kind, currency),
            formats.change(previous.get(key), kind, currency=currency) if key in previous else None,
            delta_color=colour,
        )
        if scope["year_ago_quarter"] and key in year_ago:
            st.caption(
                f"{formats.change(year_ago.get(key), kind, currency=currency) or formats.DASH} vs "
                f"{scope['year_ago_quarter']}"
            )

st.subheader("Return and cost per channel", anchor=False)
st.caption(
    "Volumes count leads by their source channel (by period); revenue is the deals won in the "
    f"period, credited by {scope['model_label']}. ROI = (revenue − spend) ÷ spend; its change "
    "is in points."
)
if scope["has_spend"]:
    left, right = st.columns(2)
    left.plotly_chart(
        roi_charts.roi_by_channel(
            result["by_channel"],
            model_label=scope["model_label"],
            currency=currency,
            previous_label=scope["previous_quarter"],
            year_ago_label=scope["year_ago_quarter"],
        ),
        theme=None,
        config=PLOT,
    )
    right.plotly_chart(
        roi_charts.cost_per_stage(result["by_channel"], currency=currency), theme=None, config=PLOT
    )

money = lambda label: page.money_column(label, currency, compact=True)  # noqa: E731
cost = lambda label: page.money_column(label, currency)  # noqa: E731
st.dataframe(
    roi.channel_table(result),
    hide_index=True,
    placeholder="—",
    column_config={
        "channel": st.column_config.TextColumn("Channel", pinned=True),
        "spend": money("Spend"),
        "leads": st.column_config.NumberColumn("Leads", format="localized"),
        "mqls": st.column_config.NumberColumn("MQLs", format="localized"),
        "sqls": st.column_config.NumberColumn("SQLs", format="localized"),
        "customers": st.column_config.NumberColumn("Customers", format="localized"),
        "revenue": money("Revenue"),
        "cost_per_lead": cost("Cost/lead"),
        "cost_per_mql": cost("Cost/MQL"),
        "cost_per_sql": cost("Cost/SQL"),
        "cost_per_customer": cost("Cost/cust."),
        "roi_pct": st.column_config.NumberColumn("ROI", format="%,.0f%%"),
        "roi_vs_previous_pts": st.column_config.NumberColumn(
            f"ROI vs {scope['previous_quarter'] or 'prev.'}", format="%+,.0f pts"
        ),
        "roi_vs_year_ago_pts": st.column_config.NumberColumn(
            f"ROI vs {scope['year_ago_quarter'] or 'year ago'}", format="%+,.0f pts"
        ),
    },
)
with st.expander("By campaign" + (f" ({channel})" if channel else "")):
    st.caption("Campaign (none): leads without a campaign, or spend on the channel as a whole.")
    st.dataframe(
        roi.campaign_table(result, channel),
        hide_index=True,
        placeholder="—",
        column_config={
            "spend": money("Spend"),
            "revenue": money("Revenue"),
            "cost_per_mql": cost("Cost/MQL"),
            "cost_per_customer": cost("Cost/cust."),
            "roi_pct": st.column_config.NumberColumn("ROI", format="%,.0f%%"),
        },
    )

st.subheader("Attribution: the models side by side", anchor=False)
for note in report.attribution_notes(result):
    st.caption(note)
st.plotly_chart(
    roi_charts.attribution_comparison(
        result["attribution"]["by_channel"],
        half_life_days=scope["half_life_days"],
        currency=currency,
    ),
    theme=None,
    config=PLOT,
)
shown = (
    st.segmented_control(
        "Show per model",
        ["revenue", "roi", "rank"],
        default="revenue",
        format_func={"revenue": "Revenue credited", "roi": "ROI %", "rank": "Rank"}.get,
        key="roi_attribution_value",
    )
    or "revenue"
)


def model_column(m: attribution.Model) -> object:
    """Return the column of one model's revenue (money), ROI or rank."""
    if shown == "revenue":
        return page.money_column(m.label, currency, compact=True, help=m.rule)
    number_format = {"roi": "%,.0f%%", "rank": "%d"}[shown]
    return st.column_config.NumberColumn(m.label, format=number_format, help=m.rule)


st.dataframe(
    roi.attribution_table(result, shown),
    hide_index=True,
    placeholder="no spend" if shown == "roi" else "—",
    column_config={
        "channel": st.column_config.TextColumn("Channel", pinned=True),
        **{m.key: model_column(m) for m in attribution.MODELS},
        "rank_changes": st.column_config.TextColumn(
            "Rank changes", help="⚑ the channel's revenue rank differs between models"
        ),
    },
)

st.subheader("Payback: spend pays back later", anchor=False)
payback_rows = (
    roi.payback(ctx, roi_page.inputs(database, half_life), channel)
    if channel
    else result["payback"]["by_quarter"]
)
st.caption(
    f"Per quarter of spend{f' on {channel}' if channel else ''}, the revenue its new leads have "
    "won so far, whenever it closed. Hatched quarters are still maturing: younger than the "
    f"{result['payback']['lead_to_customer_p90_days']:.0f} days 90% of past lead-to-customer "
    "journeys took, so their return will still grow."
)
st.plotly_chart(
    roi_charts.payback(
        payback_rows,
        p90_days=result["payback"]["lead_to_customer_p90_days"],
        currency=currency,
    ),
    theme=None,
    config=PLOT,
)

st.subheader("Quarterly review", anchor=False)
if quarter is None:
    st.caption("Choose a quarter in the sidebar to download its review.")
else:
    data = roi_page.review(database, quarter, model, half_life)
    st.download_button(
        f"Download the {quarter} review (HTML)",
        data=lambda: report.render(data),
        file_name=f"funnelcast-review-{quarter}.html",
        mime="text/html",
        icon=":material/download:",
        key="roi_review_download",
        on_click="ignore",
    )
    st.caption(
        "One self-contained file (charts included, opens offline): KPIs, funnel, ROI per "
        "channel, the attribution comparison and the plan against actuals."
    )
