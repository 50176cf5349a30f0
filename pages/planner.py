"""MQL Planner: how many MQLs, from which channels, at what cost, a quarter's target takes."""

import streamlit as st

from funnelcast import planner
from funnelcast.core import formats, stats
from funnelcast.data import db
from funnelcast.ui import dashboard, page
from funnelcast.ui import planner_page as pp

dashboard.require_shell()
database = dashboard.current_database()
ctx = dashboard.context(database)

st.title("MQL Planner")
plain = st.container()  # the plan in one sentence, written once the plan is made

if not ctx.extent.get("leads", {}).get("count_rows"):
    st.info("This database holds no leads yet: load leads and their stage history to plan.")
    st.stop()
if not ctx.extent.get("stage_changes", {}).get("count_rows"):
    st.info(
        "No stage changes are loaded: the planner learns its rates from the CRM's stage "
        "history (lead_id, stage, changed_at, amount). Load it to plan."
    )
    st.stop()

for kind, text in st.session_state.pop(pp.FLASH_KEY, []):
    getattr(st, kind)(text)

st.session_state.setdefault(pp.WINDOW_KEY, planner.DEFAULT_WINDOW)
window = int(st.session_state[pp.WINDOW_KEY])
try:
    history = pp.history(database, window)
except planner.PlanError as exc:
    st.warning(str(exc))
    st.stop()

quarters = pp.plannable_quarters(history)
labels = [q.label for q in quarters]
if st.session_state.get(pp.QUARTER_KEY) not in labels:
    st.session_state.pop(pp.QUARTER_KEY, None)

# ----- inputs: target, history window, channel mix, threshold -----
st.subheader("Target")
left, middle, right, save = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
label = left.selectbox(
    "Quarter to plan", labels, key=pp.QUARTER_KEY, help="The quarters after the data's last day."
)
quarter = quarters[labels.index(label)]
stored = pp.stored_values(pp.targets(database), quarter)
# A quarter's stored target fills the inputs when the quarter (or the database) changes.
loaded = (str(database.path), database.key, label)
if st.session_state.get(pp.LOADED_KEY) != loaded:
    st.session_state[pp.LOADED_KEY] = loaded
    suggestion = pp.suggested(database, quarter, ctx.fy_start_month)
    start = stored
    if stored == (None, None) and suggestion is not None:
        start = suggestion[0].customers, suggestion[0].revenue
    st.session_state[pp.CUSTOMERS_KEY], st.session_state[pp.REVENUE_KEY] = start
customers = middle.number_input(
    "Target customers",
    value=None,
    step=1,
    key=pp.CUSTOMERS_KEY,
    placeholder="none",
    help="New customers won in the quarter.",
)
revenue = right.number_input(
    ctx.currency.unit("Target revenue"),
    value=None,
    step=10_000.0,
    key=pp.REVENUE_KEY,
    placeholder="none",
    format="%.0f",
    help="Deal amounts won in the quarter. With customers: both count.",
)
changed = (customers, revenue) != stored
viewer = dashboard.viewer_mode()
lake_note = dashboard.spark_write_note("saving a target")
if save.button(
    "Save target",
    key=pp.SAVE_KEY,
    disabled=viewer or bool(lake_note) or not changed,
    help="Read-only viewer: targets cannot be saved."
    if viewer
    else lake_note or "Store these figures as the quarter's target.",
):
    try:
        planner.Target(label, customers, revenue).check()
        dashboard.write(
            database.path, lambda cur: planner.save_target(cur, quarter, customers, revenue)
        )
    except db.FunnelcastError as exc:
        st.error(f"Not saved: {exc}")
    else:
        st.session_state[pp.FLASH_KEY] = [("success", f"Saved the target for {label}.")]
        st.rerun()
if viewer:
    st.caption(
        f":material/visibility: Read-only viewer ({dashboard.VIEWER_ENV} is set): plan "
        "with any figures; saving a target is turned off."
    )
elif lake_note:
    st.caption(f":material/cloud: {lake_note}")
suggestion = pp.suggested(database, quarter, ctx.fy_start_month)
if stored == (None, None) and suggestion is not None:
    target, year_ago = suggestion
    st.caption(
        f"No target is stored for {label}: suggested from {year_ago['quarter']}, a year "
        f"before, plus {planner.GROWTH:.0%} ({formats.count(target.customers)} customers, "
        f"{formats.money(target.revenue, ctx.currency)} revenue, from "
        f"{formats.count(year_ago['customers'])} and "
        f"{formats.money(year_ago['revenue'], ctx.currency)}). Change it to plan; save it to "
        "keep it."
    )
elif stored == (None, None):
    st.caption(f"No target is stored for {label}: enter one to plan, and save it to keep it.")
elif changed:
    st.caption(
        f"Planning with figures that differ from {label}'s stored target "
        f"({formats.count(stored[0])} customers, {formats.money(stored[1], ctx.currency)} revenue)."
    )
if revenue is not None:  # the input shows bare digits: the amount as it reads
    st.caption(f"Target revenue: {ctx.currency.around(formats.count(revenue))}.")

with st.expander("History window, channel mix and threshold"):
    col_window, col_threshold = st.columns(2)
    col_window.slider(
        "Mature quarters to learn rates from",
        1,
        pp.MAX_WINDOW,
        key=pp.WINDOW_KEY,
        help="A quarter is mature once the quarters after it held 95% of past "
        "MQL-to-customer closes.",
    )
    current = dashboard.context(database).definition
    threshold = col_threshold.number_input(
        "What-if MQL threshold",
        min_value=0.0,
        value=None,
        step=1.0,
        format="%g",
        key=pp.THRESHOLD_KEY,
        placeholder=f"current: {current['threshold']:g}" if current else "no definition",
        help="Replays the current definition at another threshold (empty: its own).",
    )
    default_mix = pp.mix_frame(history)
    edited = st.data_editor(
        default_mix,
        key=pp.MIX_KEY,
        hide_index=True,
        disabled=["channel"],
        column_config={
            "channel": "Channel",
            "share_pct": st.column_config.NumberColumn(
                "Share of new MQLs (%)", min_value=0.0, format="%.1f"
            ),
        },
    )
    st.caption(
        f"The default mix is each channel's share of MQLs in {history.recent[0]}–"
        f"{history.recent[-1]}; shares are rescaled to 100%."
    )
mix = pp.mix_from(edited, default_mix)

try:
    result, curve, lab_curve = pp.plan(database, label, customers, revenue, window, mix, threshold)
except planner.PlanError as exc:
    st.warning(str(exc))
    st.stop()

# ----- the answer -----
plain.markdown(pp.opening(result, ctx.currency))
h = result["history"]
st.caption(
    f"Data as of **{pp.as_of_text(result)}**. Rates from the MQL cohorts of "
    f"{h['rates_from'][0]}–{h['rates_from'][-1]} (mature: they have had time to close); "
    f"channel mix, cost per MQL and deal sizes from {h['mix_costs_and_run_rates_from'][0]}–"
    f"{h['mix_costs_and_run_rates_from'][-1]}. Ranges come from 10,000 simulations of the "
    f"rates' uncertainty (Beta posteriors from their counts) and of binomial outcomes."
)
required, budget = result["required_mqls"], result["budget"]
future = ", ".join(result["future_quarters"])
cards = [
    (
        "New MQLs needed (80%)",
        formats.count(required["p80"]),
        f"in {future} · 50%: {formats.count(required['p50'])} · 90%: {formats.count(required['p90'])}",
    ),
    (
        "SQLs (80%)",
        formats.count(result["required_sqls_by_level"]["p80"]),
        f"point estimate {formats.count(result['required_sqls'])}",
    ),
    (
        "Budget (80%)",
        formats.money(budget["p80"], ctx.currency),
        f"50%: {formats.money(budget['p50'], ctx.currency)} · "
        f"90%: {formats.money(budget['p90'], ctx.currency)}",
    ),
    (
        "Expected MQLs",
        formats.count(result["expected_mqls_current_definition"]),
        result["qualified_leads"]["source"],
    ),
    ("Chance of target", formats.share(result["probability_of_target"]), "with the expected MQLs"),
]
for column, (name, value, note) in zip(st.columns(len(cards)), cards):
    with column.container(border=True, height="stretch"):
        st.metric(name, value)
        st.caption(note)
if budget["channels_without_cost"]:
    st.caption(
        f"No spend is recorded for {', '.join(budget['channels_without_cost'])}: "
        f"their MQLs are not in the budget."
    )

w = result["waterfall"]
steady = result["required_mqls_steady_state"]
left, right = st.columns([3, 2])
with left:
    st.plotly_chart(pp.chance_figure(curve, result), theme=None, config={"displaylogo": False})
with right:
    st.markdown("**The waterfall** (observed rates, no uncertainty)")
    st.markdown(
        f"- customers needed: **{w['customers_needed']:,.1f}**\n"
        f"- from leads without an MQL (run rate): {w['customers_without_mql']:,.1f}\n"
        f"- from MQLs already in the funnel: {w['customers_from_known_mqls']:,.1f}\n"
        f"- from new MQLs: **{w['customers_from_new_mqls']:,.1f}**\n"
        f"- one new MQL becomes a customer {formats.share(w['mql_to_customer'])} of the time, "
        f"and {formats.share(w['future_close_share'], 0)} of those close by the quarter's end\n"
        f"- so **{formats.count(w['mqls'])} new MQLs** and {formats.count(w['sqls'])} SQLs"
    )
    st.caption(
        f"At a steady state (every quarter alike, every deal counted whenever it closes) the "
        f"target takes {formats.count(steady['p80'])} MQLs a quarter for an 80% chance "
        f"(50%: {formats.count(steady['p50'])}, 90%: {formats.count(steady['p90'])})."
    )

# ----- stage lags and open pipeline -----
st.subheader("Which quarter's MQLs close the target")
pipeline = result["open_pipeline"]
share = pipeline["share_of_target"]
st.caption(
    f"Customers closing in {result['target']['quarter']} come from MQLs of that quarter and "
    f"the ones before it, in the shares past MQLs closed. The open pipeline — "
    f"{pipeline['open_sqls']:,} SQLs not yet won or lost — is expected to bring "
    f"**{pipeline['expected_customers']:,.1f}** of them "
    f"({formats.share(share, 0) if share is not None else '—'} of the target)"
    + (
        f"; {pipeline['stale_open_sqls']:,} open SQLs are older than any past deal took and are "
        f"not counted"
        if pipeline["stale_open_sqls"]
        else ""
    )
    + "."
)
st.dataframe(
    pp.cohort_table(result),
    hide_index=True,
    placeholder="—",
    column_config={
        "quarter": "MQL cohort",
        "status": "MQLs",
        "mqls": st.column_config.NumberColumn("Count", format="%,.0f"),
        "close_share_pct": st.column_config.NumberColumn(
            "Deals closing in target quarter", format="%.0f%%"
        ),
        "expected_customers": st.column_config.NumberColumn("Expected customers", format="%.1f"),
    },
)

# ----- channels -----
st.subheader("By channel")
st.caption(
    f"Rates with their n and 95% interval; ⚠ marks fewer than {stats.MIN_N} cases. "
    "MQL → SQL follows MQL cohorts, SQL → customer SQL cohorts (demo requests included)."
)
st.dataframe(
    pp.channel_table(result),
    hide_index=True,
    placeholder="—",
    column_config={
        "channel": st.column_config.TextColumn("Channel", pinned=True),
        "share_pct": st.column_config.NumberColumn("Mix", format="%.0f%%"),
        "mql_to_sql": "MQL → SQL (n, 95% CI)",
        "sql_to_customer": "SQL → customer (n, 95% CI)",
        "cost_per_mql": page.money_column("Cost/MQL", ctx.currency),
        "mqls_p80": st.column_config.NumberColumn("MQLs (80%)", format="%,.0f"),
        "sqls_point": st.column_config.NumberColumn("SQLs (point)", format="%,.0f"),
        "budget_p80": page.money_column("Budget, 80%", ctx.currency, compact=True),
    },
)

# ----- enough qualified leads? -----
st.subheader("Enough qualified leads?")
q = result["qualified_leads"]
if q.get("sample"):  # the Lab engine's history would not fit in memory (funnelcast.lab.budget)
    st.caption(
        f"From a {q['sample']:.0%} random sample of leads, as the Threshold Lab's history did not "
        "fit in the memory this server may use: volumes are scaled up, rates are as sampled."
    )
if q["threshold"] is None:
    st.info(
        "No MQL definition is in force, so the expected MQLs are the recorded run rate and "
        "there is no threshold to move."
    )
else:
    enough = q["enough"]["p80"]
    st.markdown(
        f"At threshold **{q['threshold']:g}** definition **{q['definition']['name']}** would "
        f"have produced **{formats.count(q['expected_mqls'])} MQLs a quarter** on "
        f"{', '.join(q['mqls_per_quarter'])} (MQL → SQL {formats.share(q['mql_to_sql'])} on the "
        f"mature quarters): "
        + (
            "enough for an 80% chance."
            if enough
            else f"short of the {formats.count(required['p80'])} an 80% chance takes."
        )
    )
    left, right = st.columns([1, 1])
    with left:
        if lab_curve is not None:
            st.plotly_chart(
                pp.threshold_figure(lab_curve, result), theme=None, config={"displaylogo": False}
            )
    with right:
        st.caption(
            "Per requirement: the highest threshold that gives that many MQLs a "
            "quarter, and its MQL → SQL rate; then the highest whose MQLs still meet "
            "the requirement once their lower conversion is counted."
        )
        st.dataframe(
            pp.threshold_rows(result),
            hide_index=True,
            placeholder="—",
            column_config={
                "need": "Chance · for",
                "required_mqls": st.column_config.NumberColumn("MQLs needed", format="%,.0f"),
                "threshold": st.column_config.NumberColumn("Threshold", format="%g"),
                "mql_to_sql_pct": st.column_config.NumberColumn("Its MQL → SQL", format="%.1f%%"),
                "threshold_at_its_rates": st.column_config.NumberColumn(
                    "At its rates",
                    format="%g",
                    help="Highest threshold whose MQLs meet the requirement rescaled to that "
                    "threshold's MQL-to-customer rate on the mature quarters.",
                ),
            },
        )
        st.caption(
            "— in the last column: no threshold gets there; a looser definition adds "
            "MQLs that rarely buy, so more (or better) leads are needed."
        )

# ----- backtest -----
st.subheader("How well past plans came true")
frame = pp.backtest(database, window)
summary = planner.backtest_summary(frame)
if frame.is_empty():
    st.info("No past quarter has enough mature history before it to backtest a plan.")
else:
    hit80, hit90 = summary["hit_rate_80"], summary["hit_rate_90"]
    st.caption(
        f"Each quarter planned with only the data before it (its own MQLs given), against the "
        f"customers it won: the 80% range held the outcome in **{hit80['successes']} of "
        f"{hit80['n']}** quarters, the 90% range in **{hit90['successes']} of {hit90['n']}**; "
        f"the point forecast was off by {summary['mean_absolute_error']:.1f} customers on "
        f"average ({formats.share(summary['mean_absolute_percentage_error'], 0)}), "
        f"{summary['bias']:+.1f} on balance."
        + (" ⚠ Few quarters: these hit rates are rough." if hit80["is_small_sample"] else "")
    )
    st.plotly_chart(pp.backtest_figure(frame), theme=None, config={"displaylogo": False})
