"""Issue 19: counts of one word that differ between pages carry different names, a plain note
and a "why does this differ from Overview?" expander with both figures; the Planner opens with
one plain sentence and starts a quarter without a target from last year's same quarter + 10%;
ROI names its attribution model; the sidebar's facts sit in "About this data"; the demo trips
no data-health check. Every expected figure is counted here with SQL or the planner's API."""

from __future__ import annotations

import datetime as dt
import math
import shutil
from pathlib import Path

import pytest
from apptest_support import navigation_only, release_streamlit_caches, run_app  # noqa: F401
from streamlit.testing.v1 import AppTest

from funnelcast import planner
from funnelcast.core import formats
from funnelcast.core.currency import Currency
from funnelcast.core.periods import parse_quarter
from funnelcast.data import db
from funnelcast.data.context import load_context
from funnelcast.ui import data_page, planner_page

Q = "2026Q3"  # the demo's default quarter
START, END = dt.datetime(2026, 7, 1), dt.datetime(2026, 10, 1)
AS_OF = "(select cast(value as date) + interval 1 day from meta where key = 'as_of')"


def sql(database: Path, query: str, *params) -> int | float:
    """Return the one value a query gives on a read-only copy of the demo."""
    con = db.connect(database, read_only=True)
    try:
        [(value,)] = con.execute(query, list(params)).fetchall()
    finally:
        con.close()
    return value


def first_mqls(database: Path) -> int:
    """Return the leads whose first recorded MQL falls in Q (the Overview's MQLs)."""
    return sql(
        database,
        "select count(*) from (select lead_id, min(changed_at) as first_at from stage_changes "
        "where stage = 'mql' group by lead_id) where first_at >= ? and first_at < ?",
        START,
        END,
    )


def texts(at: AppTest, *kinds: str) -> str:
    """Return the page's text of the given element kinds, one element a line."""
    return "\n".join(e.value for kind in kinds for e in getattr(at, kind))


def expander_text(at: AppTest, label: str) -> str:
    """Return the markdown inside the expander labelled label."""
    [box] = [e for e in at.expander if e.label == label]
    return "\n".join(m.value for m in box.markdown)


def test_overview_names_its_period_counts_and_tells_the_funnels_customers_apart(
    monkeypatch, demo_db
):
    mqls = first_mqls(demo_db)
    won = sql(
        demo_db,
        "select count(*) from stage_changes where stage = 'customer' "
        "and changed_at >= ? and changed_at < ?",
        START,
        END,
    )
    from_cohort = sql(
        demo_db,
        "select count(*) from (select lead_id, min(changed_at) as first_at from stage_changes "
        "where stage = 'mql' group by lead_id) as m where first_at >= ? and first_at < ? and exists "
        "(select 1 from stage_changes s where s.lead_id = m.lead_id and s.stage = 'customer')",
        START,
        END,
    )
    at = run_app(monkeypatch, demo_db)

    shown = {m.label: m.value for m in at.metric}
    assert shown[f"MQLs in {Q}"] == formats.count(mqls)
    assert shown[f"Customers won in {Q}"] == formats.count(won)
    assert shown[f"MQL → customer, MQLs in {Q}"] == formats.share(from_cohort / mqls)
    notes = texts(at, "caption")
    assert "leads whose first MQL fell in the period, whenever they were created" in notes
    assert (
        f"The funnel follows the {formats.count(mqls)} MQLs in {Q}: "
        f"{formats.count(from_cohort)} of them are customers so far. The {formats.count(won)} "
        f"customers won in {Q} on the card count every deal closed in the period"
    ) in notes
    assert from_cohort != won  # the two countings the names tell apart


def test_funnel_names_its_creation_cohort_and_explains_the_overviews_figures(monkeypatch, demo_db):
    created = "from leads where created_at >= ? and created_at < ?"
    leads = sql(demo_db, f"select count(*) {created}", START, END)
    reached_mql = sql(
        demo_db,
        f"select count(*) {created} and exists (select 1 from stage_changes s where "
        "s.lead_id = leads.lead_id and s.stage in ('mql', 'sal', 'sql', 'customer'))",
        START,
        END,
    )
    customers = sql(
        demo_db,
        f"select count(*) {created} and exists (select 1 from stage_changes s where "
        "s.lead_id = leads.lead_id and s.stage = 'customer')",
        START,
        END,
    )
    won = sql(
        demo_db,
        "select count(*) from stage_changes where stage = 'customer' "
        "and changed_at >= ? and changed_at < ?",
        START,
        END,
    )
    at = run_app(monkeypatch, demo_db)
    at.switch_page("pages/funnel.py").run()

    assert not at.exception
    assert (
        f"Of the {formats.count(leads)} leads created in {Q}, {formats.count(reached_mql)} "
        f"became MQLs and {formats.count(customers)} customers so far: **MQLs from leads "
        f"created in {Q}**, not the Overview's {formats.count(first_mqls(demo_db))} MQLs in {Q}."
    ) in texts(at, "markdown")
    why = expander_text(at, "Why does this differ from Overview?")
    assert f"| Overview: in {Q} | Funnel: from leads created in {Q} |" in why
    assert f"| MQLs | {formats.count(first_mqls(demo_db))} | {formats.count(reached_mql)} |" in why
    assert f"| Customers | {formats.count(won)} | {formats.count(customers)} |" in why


def test_handoff_says_why_its_hand_offs_outnumber_the_overviews_mqls(monkeypatch, demo_db):
    handoffs = sql(
        demo_db,
        "select count(*) from stage_changes where stage = 'mql' "
        "and changed_at >= ? and changed_at < ?",
        START,
        END,
    )
    mqls = first_mqls(demo_db)
    at = run_app(monkeypatch, demo_db)
    at.switch_page("pages/handoff.py").run()

    assert {m.label: m.value for m in at.metric}["Hand-offs"] == formats.count(handoffs)
    assert (
        f"{formats.count(handoffs)} hand-offs in {Q} against the Overview's "
        f"{formats.count(mqls)} MQLs in {Q}: {formats.count(handoffs - mqls)} hand-offs were "
        "leads handed to sales again"
    ) in texts(at, "markdown")
    why = expander_text(at, "Why does this differ from Overview?")
    assert f"| MQLs handed to sales | {formats.count(mqls)} | {formats.count(handoffs)} |" in why


def test_data_says_why_its_mql_to_customer_differs_from_the_overviews(monkeypatch, demo_db):
    all_mqls = sql(demo_db, "select count(distinct lead_id) from stage_changes where stage = 'mql'")
    all_won = sql(
        demo_db,
        "select count(distinct lead_id) from stage_changes c where stage = 'customer' and "
        "exists (select 1 from stage_changes m where m.lead_id = c.lead_id and m.stage = 'mql')",
    )
    mqls = first_mqls(demo_db)
    won = sql(
        demo_db,
        "select count(*) from (select lead_id, min(changed_at) as first_at from stage_changes "
        "where stage = 'mql' group by lead_id) as m where first_at >= ? and first_at < ? and exists "
        "(select 1 from stage_changes s where s.lead_id = m.lead_id and s.stage = 'customer')",
        START,
        END,
    )
    at = run_app(monkeypatch, demo_db)
    at.switch_page("pages/data.py").run()

    assert (
        f"MQL → customer is {formats.share(all_won / all_mqls)} over all history and "
        f"{formats.share(won / mqls)} for the MQLs in {Q}."
    ) in texts(at, "caption")
    why = expander_text(at, "Why does this differ from Overview?")
    assert (
        f"| MQL → customer | {formats.share(won / mqls)} ({formats.count(won)} of "
        f"{formats.count(mqls)} MQLs) | {formats.share(all_won / all_mqls)} "
        f"({formats.count(all_won)} of {formats.count(all_mqls)} MQLs) |"
    ) in why


def year_ago_target(database: Path, quarter_start: dt.datetime) -> tuple[int, float]:
    """Return last year's same quarter's customers won and revenue, plus 10%, by SQL."""
    start = quarter_start.replace(year=quarter_start.year - 1)
    end = (start + dt.timedelta(days=100)).replace(day=1)
    customers = sql(
        database,
        "select count(*) from stage_changes where stage = 'customer' "
        "and changed_at >= ? and changed_at < ?",
        start,
        end,
    )
    revenue = sql(
        database,
        "select sum(amount) from stage_changes where stage = 'customer' "
        "and changed_at >= ? and changed_at < ?",
        start,
        end,
    )
    return math.ceil(customers * 1.1 - 1e-9), round(float(revenue) * 1.1, -3)


def test_the_suggested_target_is_last_years_same_quarter_plus_ten_percent(demo_db):
    con = db.connect(demo_db, read_only=True)
    try:
        for label, start in (
            ("2026Q4", dt.datetime(2026, 10, 1)),
            ("2027Q1", dt.datetime(2027, 1, 1)),
        ):
            target, year_ago = planner.from_last_year(con.cursor(), parse_quarter(label), 1)
            assert (target.customers, target.revenue) == year_ago_target(demo_db, start)
            assert year_ago["quarter"] == f"{start.year - 1}Q{(start.month + 2) // 3}"
            # the demo stores the same for the quarters still to plan
            assert planner.stored_target(con.cursor(), parse_quarter(label)) == target
        # a quarter whose year-ago quarter the data does not hold has no suggestion
        assert planner.from_last_year(con.cursor(), parse_quarter("2023Q1"), 1) is None
    finally:
        con.close()


def test_a_quarter_without_a_stored_target_starts_from_last_year(monkeypatch, tmp_path, demo_db):
    database = tmp_path / "no_target.duckdb"
    shutil.copy(demo_db, database)
    con = db.connect(database)
    con.execute("delete from targets where quarter_start >= date '2026-10-01'")
    con.close()
    customers, revenue = year_ago_target(database, dt.datetime(2026, 10, 1))

    monkeypatch.setenv("FUNNELCAST_DB", str(database))
    at = run_app(monkeypatch, database)
    at.switch_page("pages/planner.py").run()

    assert not at.exception
    assert at.number_input(key=planner_page.CUSTOMERS_KEY).value == customers
    assert at.number_input(key=planner_page.REVENUE_KEY).value == revenue
    usd = Currency("USD")
    assert (
        f"No target is stored for 2026Q4: suggested from 2025Q4, a year before, plus 10% "
        f"({formats.count(customers)} customers, {formats.money(revenue, usd)} revenue"
    ) in texts(at, "caption")


def test_the_planner_opens_with_one_plain_sentence_of_the_plans_figures(monkeypatch, demo_db):
    con = db.connect(demo_db, read_only=True)
    try:
        plan = planner.make_plan(con.cursor(), quarter="2026Q4")
    finally:
        con.close()
    customers, revenue = year_ago_target(demo_db, dt.datetime(2026, 10, 1))
    needed, expected = plan["required_mqls"]["p80"], plan["expected_mqls_current_definition"]
    at = run_app(monkeypatch, demo_db)
    at.switch_page("pages/planner.py").run()

    sentence = at.markdown[0].value
    assert sentence == (
        f"To be 80% sure of {customers} customers and {formats.money(revenue, Currency('USD'))} "
        f"revenue in 2026Q4 you need about **{formats.count(round(needed, -1))} new MQLs** in "
        f"2026Q4; at today's definition you will get about **{formats.count(round(expected, -1))}"
        f"** a quarter, a {formats.share(plan['probability_of_target'], 0)} chance of the target."
    )


def test_roi_names_the_model_behind_its_roi(monkeypatch, demo_db):
    at = run_app(monkeypatch, demo_db)
    at.switch_page("pages/roi.py").run()

    assert any(
        m.value.startswith(
            "ROI here credits each deal's revenue by **First touch**: all credit "
            "to the first touch (the lead's source). The models differ"
        )
        for m in at.markdown
    )


def test_the_sidebar_keeps_every_fact_in_a_collapsed_about_this_data(monkeypatch, demo_db):
    at = run_app(monkeypatch, demo_db)

    [box] = [e for e in at.sidebar.expander if e.label == "About this data"]
    assert box.proto.expanded is False
    lines = "\n".join(c.value for c in box.caption)
    assert f"Engine: DuckDB, `{demo_db}`" in lines
    assert "Demo data: 6,000 invented leads, seed 7." in lines
    assert "As of **2026-09-30**" in lines
    for table in ("leads", "events", "stage_changes", "spend", "targets"):
        rows = sql(demo_db, f"select count(*) from {table}")
        assert f"{table.replace('_', ' ')}: {formats.count(rows)} rows" in lines


def test_the_demo_trips_no_data_health_check(monkeypatch, demo_db):
    con = db.connect(demo_db, read_only=True)
    try:
        cur = con.cursor()
        assert data_page.health(cur, load_context(cur)) == []
        # the demo records its last day, 2026-09-30, and nothing after it
        assert sql(demo_db, "select max(occurred_at) from events").date() == dt.date(2026, 9, 30)
        assert sql(demo_db, f"select count(*) from events where occurred_at >= {AS_OF}") == 0
    finally:
        con.close()
    at = run_app(monkeypatch, demo_db)
    at.switch_page("pages/data.py").run()
    assert not at.warning, [w.value for w in at.warning]  # no data-health warning at all
    # what every funnel has is said as a fact, with the demo's own counts
    never_mql = sql(
        demo_db,
        "select count(*) from leads l where not exists "
        "(select 1 from stage_changes s where s.lead_id = l.lead_id)",
    )
    assert never_mql > 0
    facts = [i.value for i in at.info]
    assert any(f.startswith(f"{never_mql:,} leads with no stage change") for f in facts), facts


def test_a_bare_date_as_of_flags_only_rows_after_that_whole_day(tmp_path):
    import fixtures as fx

    con = fx.new_database()
    fx.add_journeys(
        con,
        [
            fx.Journey("A", "2026-01-01", "events", events=[("demo_request", "2026-09-30 15:00")]),
            fx.Journey("B", "2026-01-01", "events", events=[("demo_request", "2026-10-01 09:00")]),
        ],
    )
    db.set_meta(con, "as_of", "2026-09-30")
    cur = con.cursor()
    [note] = [n for n in data_page.health(cur, load_context(cur)) if "as-of" in n.text]
    assert note.text.startswith("1 row dated after the data's as-of moment")
    assert "event B" in note.text
    con.close()


@pytest.mark.parametrize("quarter", ["2025Q2"])
def test_labels_follow_the_chosen_quarter(monkeypatch, demo_db, quarter):
    at = run_app(monkeypatch, demo_db)
    at.selectbox(key="quarter").set_value(quarter).run()
    assert {f"MQLs in {quarter}", f"Customers won in {quarter}"} <= {m.label for m in at.metric}
