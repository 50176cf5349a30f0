"""Threshold Lab: try an MQL definition on history before making it the rule."""

import streamlit as st

from funnelcast import charts, definitions, lab
from funnelcast.analytics import suggest
from funnelcast.core import formats
from funnelcast.data import db
from funnelcast.lab import page as tl
from funnelcast.ui import dashboard, lab_figures, lab_progress, rule_editor

# The per-quarter table's figures, each for the draft and the current definitions; money ones
# say their currency in the heading.
PER_QUARTER_COLUMNS = (
    ("mqls", "MQLs", "localized", False),
    ("mql_to_sql", "→ SQL", "%.1f%%", False),
    ("sql_capture", "SQL capture", "%.1f%%", False),
    ("cost_per_mql", "Cost/MQL", "%,.0f", True),
)

dashboard.require_shell()
database = dashboard.current_database()
ctx = dashboard.context(database)
cur = database.cursor

st.title("Threshold Lab")

if not ctx.extent.get("leads", {}).get("count_rows"):
    st.info("This database holds no leads yet: load a leads export to use the Threshold Lab.")
    st.stop()
current = definitions.current(cur)
if current is None:
    st.info(
        "No MQL definition is in force, so there is nothing to start from. Save one with "
        f"`funnelcast definition save --db {database.path} FILE --quarter next`."
    )
    st.stop()

for kind, text in st.session_state.pop("lab_flash", []):
    getattr(st, kind)(text)

# The draft starts as the current version; "use as draft" replaces it (see use_suggestion).
origin = (str(database.path), current.definition_id)
if st.session_state.get("lab_origin") != origin:
    st.session_state["lab_origin"] = origin
    st.session_state["lab_base"] = tl.new_version_from_current(current)
    st.session_state.update(tl.widget_values(current))
base = st.session_state["lab_base"]
# Inputs Streamlit forgot (another page was open) come back at the draft's values.
for key, value in tl.widget_values(base).items():
    st.session_state.setdefault(key, value)
draft = tl.draft_from(base, st.session_state)

intro = st.empty()  # says which versions judge which quarters: known once materialised

try:
    warnings = definitions.validate(draft, rule_editor.lead_fields(database))
    problems: list[str] = []
except definitions.DefinitionError as exc:
    warnings, problems = [], exc.problems


def set_base(new_base) -> None:
    """Make new_base the draft the inputs edit, its values in the inputs."""
    st.session_state["lab_base"] = new_base
    st.session_state.update(tl.widget_values(new_base))


def change_rules(change, *what) -> None:
    """Apply a rule change (tl.without_fit_rule, ...) to the draft as the inputs have it."""
    set_base(change(st.session_state["lab_base"], st.session_state, *what))


def add_fit_rule() -> None:
    """Add the fit rule the 'add' inputs describe, or say why not."""
    state = st.session_state
    try:
        rule = rule_editor.rule_from_state(database, state)
        set_base(tl.with_fit_rule(state["lab_base"], state, rule))
    except definitions.DefinitionError as exc:
        state["lab_flash"] = [("warning", f"Not added: {exc}.")]


def add_behaviour_rule() -> None:
    """Add the behaviour rule the 'add' inputs describe, or say why not."""
    state = st.session_state
    cap = state.get("lab_new_event_cap")
    rule = definitions.BehaviourRule(
        state.get("lab_new_event_type") or "",
        float(state["lab_new_event_points"]),
        None if cap is None else float(cap),
    )
    try:
        set_base(tl.with_behaviour_rule(state["lab_base"], state, rule))
    except definitions.DefinitionError as exc:
        state["lab_flash"] = [("warning", f"Not added: {exc}.")]


with st.expander("Points, caps and fit rules of the draft", icon=":material/tune:"):
    name_col, half_life_col = st.columns([3, 1])
    name_col.text_input("Draft name", key=tl.NAME_KEY)
    half_life_col.number_input(
        "Half-life (days)",
        min_value=1.0,
        max_value=definitions.MAX_HALF_LIFE_DAYS,
        step=5.0,
        format="%g",
        key=tl.HALF_LIFE_KEY,
        help="Behaviour points halve in value every this many days.",
    )
    st.markdown("**Behaviour**: points per event, and the most a type can add (empty: no cap)")
    columns = st.columns(4)
    for i, rule in enumerate(base.behaviour_rules):
        with columns[i % 4].container(border=True):
            st.number_input(
                f"{rule.event_type}: points",
                definitions.MIN_POINTS,
                definitions.MAX_POINTS,
                step=1.0,
                format="%g",
                key=tl.behaviour_key(rule.event_type, "points"),
            )
            st.number_input(
                f"{rule.event_type}: cap",
                min_value=0.0,
                step=1.0,
                format="%g",
                key=tl.behaviour_key(rule.event_type, "cap"),
            )
            st.button(
                "Remove",
                key=f"lab_remove_behaviour_{rule.event_type}",
                icon=":material/delete:",
                on_click=change_rules,
                args=(tl.without_behaviour_rule, rule.event_type),
                help=f"Stop scoring {rule.event_type} in the draft.",
            )
    st.markdown(
        "**Fit**: points for a lead whose field meets the rule; a disqualifier never qualifies"
    )
    columns = st.columns(4)
    for i, rule in enumerate(base.fit_rules):
        with columns[i % 4].container(border=True):
            st.number_input(
                rule.label,
                definitions.MIN_POINTS,
                definitions.MAX_POINTS,
                step=1.0,
                format="%g",
                key=tl.fit_key(rule, "points"),
            )
            tick, remove = st.columns([3, 2])
            tick.checkbox("disqualifier", key=tl.fit_key(rule, "dq"))
            remove.button(
                "Remove",
                key=tl.fit_key(rule, "remove"),
                icon=":material/delete:",
                on_click=change_rules,
                args=(tl.without_fit_rule, rule.key),
                help=f"Drop the rule on {rule.label} from the draft.",
            )
    choices = tl.rule_choices(dashboard.vocabulary(database), draft)
    add_fit, add_behaviour = st.columns(2)
    with add_fit.container(border=True):
        st.markdown("**Add a fit rule**")
        rule_editor.add_fit_rule_inputs(database, add_fit_rule)
    with add_behaviour.container(border=True):
        st.markdown("**Score another event type**")
        st.selectbox(
            "Event type",
            choices["event_type"],
            key="lab_new_event_type",
            help="Event types in the data that the draft does not score yet.",
        )
        points_col, cap_col = st.columns(2)
        points_col.number_input(
            "Points",
            definitions.MIN_POINTS,
            definitions.MAX_POINTS,
            value=5.0,
            step=1.0,
            format="%g",
            key="lab_new_event_points",
        )
        cap_col.number_input(
            "Cap (empty: none)",
            min_value=0.0,
            value=None,
            step=1.0,
            format="%g",
            key="lab_new_event_cap",
        )
        st.button(
            "Add behaviour rule",
            key="lab_add_behaviour",
            on_click=add_behaviour_rule,
            disabled=not choices["event_type"],
        )

for problem in problems:
    st.error(f"The draft cannot be scored: {problem}.", icon=":material/error:")
for warning in warnings:
    st.warning(warning, icon=":material/warning:")

# The engine's work (on a fresh server: compiling it, then materialising the history) shows
# its steps; everything above needs no engine and is on screen meanwhile.
try:
    scores = lab_progress.prepare(database, current, None if problems else draft)
except db.FunnelcastError as exc:  # the memory budget: not even a 1% sample fits, or no size
    st.error(str(exc), icon=":material/memory:")
    st.stop()
# Where the whole history would not fit in the memory the server may use, a sample of leads
# (lab.budget): said once here, its volumes scaled up and each section marked.
sample = dashboard.lab_materialised(database, current).sample
if sample.sentence():
    st.info(sample.sentence(), icon=":material/memory:")
intro.caption(
    f"Change the points and rules below, then the threshold under them: every figure is the "
    f"draft replayed on the "
    f"chosen quarters of history, beside the definitions in force replayed on the same "
    f"quarters ({tl.versions_text(lab_figures.lab_versions_in_force(database, current))}). "
    "MQLs count by the quarter a lead first reached the threshold."
)


# A threshold, quarter or capacity change reruns only this part: the draft's scores (from the
# last full run, which any change of points or rules starts) answer it without rescoring.
@st.fragment
def replay(scores: lab.Scores | None) -> None:
    """Draw the threshold slider and everything that follows from the draft at a threshold."""
    database = dashboard.current_database()  # this run's own cursor
    cur = database.cursor
    # the draft as the inputs have it now: only the threshold can differ from the full run's
    draft = tl.draft_from(st.session_state["lab_base"], st.session_state)
    quarters = [q.label for q in ctx.quarters]
    if not set(st.session_state.get(tl.QUARTERS_KEY) or ()) <= set(quarters):
        st.session_state.pop(tl.QUARTERS_KEY, None)
    st.session_state.setdefault(tl.QUARTERS_KEY, tl.default_quarters(ctx))
    st.session_state.setdefault(tl.CAPACITY_KEY, tl.DEFAULT_CAPACITY)

    left, middle, right = st.columns([3, 3, 2])
    # The range follows the draft's scores only: a range that moved with the value would make
    # Streamlit treat the slider as a new widget and reset it.
    top = tl.slider_max(scores, current.threshold) if scores else definitions.MAX_THRESHOLD
    if st.session_state[tl.THRESHOLD_KEY] > top:
        st.session_state[tl.THRESHOLD_KEY] = top
    left.slider(
        "MQL threshold (points)",
        0.0,
        top,
        step=1.0,
        format="%g",
        key=tl.THRESHOLD_KEY,
        help="A lead becomes an MQL the first time its score reaches this.",
    )
    middle.multiselect(
        "Quarters of history",
        quarters,
        key=tl.QUARTERS_KEY,
        help="The backtest replays these quarters. Default: the last four complete ones.",
    )
    right.number_input(
        "Sales capacity (MQLs / week)",
        min_value=0.0,
        step=5.0,
        format="%g",
        key=tl.CAPACITY_KEY,
        help="How many MQLs a week sales can follow up.",
    )

    chosen = st.session_state[tl.QUARTERS_KEY]
    threshold = float(st.session_state[tl.THRESHOLD_KEY])
    capacity = st.session_state[tl.CAPACITY_KEY]
    if scores is not None and not chosen:
        st.info("Choose at least one quarter of history to replay.")
    elif scores is not None:
        m = dashboard.lab_materialised(database, draft)
        # every figure below comes scaled to the whole data where m is a sample (lab_figures)
        candidate = lab_figures.lab_backtest(
            database, draft, scores, threshold, tuple(chosen), capacity
        )
        baseline = lab_figures.lab_baseline(database, current, tuple(chosen), capacity)
        st.subheader(
            f"The draft at threshold {threshold:g}, against the current definition{m.sample.mark}"
        )
        best = tl.top_score(scores)
        if tl.no_lead_reaches(scores, threshold):
            st.warning(
                f"No lead's score ever reaches {threshold:g}: the highest any lead scored is "
                f"{formats.number(best)}. Under this draft nobody "
                "becomes an MQL, so its figures are zero.",
                icon=":material/block:",
            )
        if not candidate.totals["all_mature"]:
            st.caption(
                ":material/hourglass_top: Some chosen quarters are recent: their MQLs have not all "
                "had time to reach SQL or customer, so their precision will still rise."
            )
        for column, card in zip(st.columns(5), tl.headline(candidate, baseline, ctx.currency)):
            with column.container(border=True, height="stretch"):
                st.metric(card.label, card.value, card.delta, delta_color=card.delta_color)
                st.caption(card.note)

        left, right = st.columns([1, 1])
        with left:
            table = tl.comparison_rows(candidate, baseline, ctx.currency)
            st.dataframe(
                table,
                hide_index=True,
                height=(table.height + 1) * 35 + 3,
                column_config={
                    "figure": st.column_config.TextColumn("Chosen quarters together", width=250),
                    "candidate": st.column_config.TextColumn("Draft", width=150),
                    "current": st.column_config.TextColumn("Current", width=150),
                },
            )
        with right:
            st.plotly_chart(
                charts.tradeoff(
                    lab_figures.lab_curve(database, draft, tuple(chosen)),
                    threshold=threshold,
                    current_threshold=current.threshold,
                    title="Over all thresholds: volume, SQL rate, customers caught" + m.sample.mark,
                ),
                theme=None,
                config={"displaylogo": False},
            )
        st.dataframe(
            tl.per_quarter(candidate, baseline),
            hide_index=True,
            placeholder="—",
            column_config={
                "quarter": st.column_config.TextColumn("Quarter", pinned=True),
                **{
                    f"{figure}_{side}": st.column_config.NumberColumn(
                        f"{label} ({who}{f', {ctx.currency.sign}' if money else ''})",
                        format=number_format,
                    )
                    for side, who in (("candidate", "draft"), ("current", "current"))
                    for figure, label, number_format, money in PER_QUARTER_COLUMNS
                },
                "is_mature": st.column_config.CheckboxColumn("Mature", help="Had time to convert"),
            },
        )

        st.subheader(f"Who moves{m.sample.mark}")
        moves = lab_figures.lab_who_moves(database, current, draft, scores, threshold)
        st.markdown(
            f"Over all history, **{moves.entering:,}** leads would become MQLs that the current "
            f"definition never made MQLs, **{moves.leaving:,}** would no longer become one, and "
            f"{moves.staying:,} are MQLs under both."
        )
        if moves.entering or moves.leaving:
            columns = st.columns(3)
            for column, dimension in zip(columns, ("channel", "seniority", "company_size_band")):
                column.dataframe(
                    tl.moves_by_group(moves.by_group, dimension),
                    hide_index=True,
                    column_config={
                        "value": st.column_config.TextColumn(dimension.replace("_", " "))
                    },
                )
            st.caption(
                "The leads closest to the threshold on either side"
                + ("" if m.sample.is_whole else " (of the sample)")
                + ":"
            )
            st.dataframe(moves.sample, hide_index=True, placeholder="—")
            # Made on click: a file made on every rerun is dropped by the next one, and a browser
            # still fetching it gets a 404 when the slider moves fast.
            st.download_button(
                "Download every lead that moves (CSV)"
                + ("" if m.sample.is_whole else f", of the {m.sample.percent} sample"),
                lambda: tl.movers_csv(
                    lab.movers(
                        m, lab_figures.lab_current_moments(database, current), scores, threshold
                    )
                ),
                file_name=f"movers_threshold_{threshold:g}.csv",
                mime="text/csv",
                key="lab_movers_csv",
                icon=":material/download:",
                on_click="ignore",
            )

        st.subheader("Explain a score")
        lead_id = st.text_input(
            "Lead id",
            key=tl.LEAD_KEY,
            placeholder="e.g. " + str(m.lead_id[0]),
            help="Its score under the draft, rule by rule, at its MQL moment (else its last event).",
        ).strip()
        if lead_id:
            try:
                at, engine_score, reached = tl.explain_moment(m, scores, lead_id, threshold)
            except db.FunnelcastError as exc:
                st.warning(
                    str(exc)
                    + ("" if m.sample.is_whole else f" in the {m.sample.percent} sample of leads")
                )
            else:
                rows = lab.explain_score(cur, draft, lead_id, at)
                total = tl.explanation_total(rows)
                st.metric(f"Score of {lead_id}", formats.number(total))
                st.caption(
                    f"At {at:%Y-%m-%d %H:%M}: "
                    + (
                        "the moment it became an MQL under the draft."
                        if reached
                        else f"its latest activity; it never reached {threshold:g}."
                    )
                    + " Event points decay by half every "
                    f"{draft.half_life_days:g} days; a cap row takes back what a type's cap cuts."
                )
                st.dataframe(
                    rows,
                    hide_index=True,
                    placeholder="—",
                    column_config={"lead_value": "lead's value"},
                )

    st.subheader("Definition versions")
    versions = dashboard.definition_versions(database)
    st.dataframe(
        versions.select(
            "definition_id",
            "name",
            "in_force",
            "status",
            "threshold",
            "half_life_days",
            "fit_rules",
            "disqualifiers",
            "behaviour_rules",
            "created_at",
        ),
        hide_index=True,
        column_config={
            "definition_id": st.column_config.NumberColumn("Version", width=60, pinned=True),
            "name": st.column_config.TextColumn("Name"),
            "in_force": st.column_config.TextColumn("In force"),
            "status": st.column_config.TextColumn("Status"),
            "threshold": st.column_config.NumberColumn("Threshold"),
            "half_life_days": st.column_config.NumberColumn("Half-life (days)"),
            "fit_rules": st.column_config.NumberColumn("Fit rules"),
            "disqualifiers": st.column_config.NumberColumn("Disqualifiers"),
            "behaviour_rules": st.column_config.NumberColumn("Behaviour rules"),
            "created_at": st.column_config.DatetimeColumn("Saved", format="YYYY-MM-DD HH:mm"),
        },
    )
    changes = tl.diff_lines(current, draft)
    if changes:
        st.markdown(
            f"**The draft against version {current.definition_id}:**\n"
            + "\n".join(f"- {line}" for line in changes)
        )
    else:
        st.caption(f"{tl.UNCHANGED}.")

    next_quarter = dashboard.next_quarter(database)

    def save(replace: bool) -> None:
        """Save the draft from the next quarter, through the one writer; rerun to show the outcome."""
        try:
            saved = dashboard.write(
                database.path,
                lambda write_cur: definitions.save(write_cur, draft, next_quarter, replace=replace),
            )
        except definitions.QuarterTakenError as exc:
            st.session_state["lab_confirm"] = str(exc)
        except db.FunnelcastError as exc:
            st.session_state["lab_flash"] = [("error", f"Not saved: {exc}")]
        else:
            st.session_state.pop("lab_confirm", None)
            st.session_state["lab_flash"] = [
                (
                    "success",
                    f"Saved as version {saved.definition_id} {saved.name!r}, in force from "
                    f"{next_quarter.label}.",
                )
            ]
        # The write closed this run's cursor: start again on the file as it is now.
        st.rerun()

    confirm = st.session_state.get("lab_confirm")
    if dashboard.viewer_mode():
        st.info(
            f"Read-only viewer ({dashboard.VIEWER_ENV} is set): drafts can be tried here but not "
            "saved as the definition.",
            icon=":material/visibility:",
        )
    elif lake_note := dashboard.spark_write_note("saving the draft as the definition"):
        st.info(lake_note, icon=":material/cloud:")
    elif confirm:
        st.warning(confirm, icon=":material/help:")
        yes, no, _ = st.columns([2, 1, 3])
        if yes.button(f"Replace: the draft takes {next_quarter.label}", key="lab_replace"):
            save(replace=True)
        if no.button("Cancel", key="lab_cancel"):
            st.session_state.pop("lab_confirm")
            st.rerun()
    elif st.button(
        f"Save the draft to take effect from {next_quarter.label}",
        key="lab_save",
        disabled=bool(problems) or not changes,
        help=None if changes else f"{tl.UNCHANGED}.",
        type="primary",
    ):
        save(replace=False)


replay(scores)

st.subheader("Suggested weights")
st.caption(
    "A logistic regression on leads whose outcome is known, judged on the newest of them; its "
    "weights as points, with a threshold that keeps the MQL volume."
)


def use_suggestion() -> None:
    """Load the suggestion's draft into the inputs (a callback: it runs before the widgets)."""
    suggested = tl.definition_from_suggestion(st.session_state["lab_suggestion"].draft, current)
    st.session_state["lab_base"] = suggested
    st.session_state.update(tl.widget_values(suggested))


if st.button("Suggest weights from history", key="lab_suggest"):
    with st.spinner("Fitting…"):
        st.session_state["lab_suggestion"] = suggest.suggest_weights(cur)
suggestion = st.session_state.get("lab_suggestion")
if suggestion is not None:
    if suggestion.too_thin:
        st.warning(
            f"History is too thin to trust these weights. {suggestion.why}",
            icon=":material/warning:",
        )
    for column, (label, auc, lift) in zip(st.columns(3), tl.suggestion_scores(suggestion)):
        column.metric(f"{label}: held-out AUC", auc)
        column.caption(f"top-decile lift {lift}")
    st.button(
        "Use as draft",
        key="lab_use_draft",
        on_click=use_suggestion,
        help="Replace the inputs above with the suggested points and threshold.",
    )
