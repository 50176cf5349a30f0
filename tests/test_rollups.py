"""The funnel summary kept in the database (funnelcast.analytics.rollups): on the hand-made
quarter-review journeys it gives exactly the raw queries' rows, it is never read once the data
it was computed from changed, a database made before it (no summary) is answered from the raw
tables, and every import, the demo and `funnelcast summarize` keep it.

Every figure here is the raw SQL's (queries/funnel_by_quarter.sql, conversion_lags.sql) or
counted by hand from fixtures.py's QUARTER_REVIEW_JOURNEYS (test_metrics.py lists them).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap

import fixtures as fx
import polars as pl
import pytest
from cli_support import cli_json
from fixtures import Journey, Spend

from funnelcast import cli
from funnelcast.analytics import metrics, rollups
from funnelcast.data import db, kept
from funnelcast.data.context import load_context


def raw_funnel(cur, channel=None, fy_start_month=1) -> pl.DataFrame:
    """Return funnel_by_quarter.sql on the recorded MQLs, from the raw tables."""
    moments = db.run(cur, "recorded_mql_moments")
    return fx.with_moments(
        cur, moments, "funnel_by_quarter", fy_start_month=fy_start_month, channel=channel
    )


def raw_mature_days(cur) -> float:
    lags = fx.with_moments(cur, db.run(cur, "recorded_mql_moments"), "conversion_lags")
    return rollups.maturity_days(lags)


@pytest.fixture
def review():
    con = fx.quarter_review()
    yield con.cursor()
    con.close()


def test_a_database_without_a_summary_is_answered_from_the_raw_tables(review):
    assert db.run(review, "kept_tables_present", names=list(rollups.TABLES))[
        "tables"
    ].to_list() == [0]
    assert rollups.read(review, 1) is None
    # metrics still counts: 6 leads over all history (test_metrics.ALL_HISTORY)
    assert metrics.metrics(review)["leads"] == 6


def test_the_kept_summary_is_exactly_the_raw_queries_rows(review):
    rollups.refresh(review)
    assert db.run(review, "kept_tables_present", names=list(rollups.TABLES))[
        "tables"
    ].to_list() == [3]
    for channel in (None, "search", "social", "display"):
        kept = rollups.read(review, 1, channel)
        assert kept is not None
        raw = raw_funnel(review, channel)
        assert not raw.is_empty()
        assert kept.frame.equals(raw), channel
    assert kept.mature_days == raw_mature_days(review)
    assert kept.mature_days > 0
    # display has spend only (500 in 2026Q1), no leads
    display = rollups.read(review, 1, "display").frame
    assert display["spend"].to_list() == [500.0]
    assert display["count_leads"].to_list() == [0]


def test_the_kept_roi_summary_is_exactly_the_raw_queries_rows(review):
    raw = rollups.compute_roi(review, 1)
    assert rollups.read_roi(review, 1) is None
    rollups.refresh(review)
    kept = rollups.read_roi(review, 1)
    assert kept is not None
    assert kept.frame.equals(db.run(review, "roi_by_channel_quarter", fy_start_month=1))
    assert kept.frame.equals(raw.frame) and not raw.frame.is_empty()
    assert (kept.mql_to_sql_days, kept.lead_to_customer_days) == (
        raw.mql_to_sql_days,
        raw.lead_to_customer_days,
    )
    # straight_to_customer: MQL 2026-01-10, SQL later in January; every lag is a real wait
    assert kept.mql_to_sql_days > 0 and kept.lead_to_customer_days > 0
    assert kept.frame["spend"].sum() == 9_500.0  # QUARTER_REVIEW_SPEND


def test_the_state_row_says_what_it_was_computed_from(review):
    rollups.refresh(review)
    [state] = db.run(review, "rollup_state").to_dicts()
    assert state == {
        "format": rollups.FORMAT,
        "data_key": rollups.data_key(review),
        "fy_start_month": 1,
        "mature_days": raw_mature_days(review),
        "mql_to_sql_days": rollups.compute_roi(review, 1).mql_to_sql_days,
        "lead_to_customer_days": rollups.compute_roi(review, 1).lead_to_customer_days,
    }


def test_metrics_read_the_summary_when_it_is_current(review, monkeypatch):
    rollups.refresh(review)
    expected = metrics.metrics(review, quarter="2026Q1")

    def no_raw_queries(*args, **kwargs):
        raise AssertionError("the raw funnel was computed although the summary is current")

    monkeypatch.setattr(metrics, "with_mql_moments", no_raw_queries)
    assert metrics.metrics(review, quarter="2026Q1") == expected
    assert metrics.metrics(review, channel="social")["leads"] == 3


def _change_a_lead_channel(cur):
    cur.execute("update leads set channel = 'search' where lead_id = 'lead_only'")


def _move_a_stage_change(cur):
    cur.execute(
        "update stage_changes set changed_at = changed_at + interval 1 day "
        "where lead_id = 'straight_to_customer' and stage = 'customer'"
    )


def _change_a_deal_amount(cur):
    cur.execute("update stage_changes set amount = amount + 1 where stage = 'customer'")


def _add_a_lead(cur):
    fx.add_journeys(cur, [Journey("late_lead", "2026-05-02", "social")])


def _add_spend(cur):
    fx.add_spend(cur, [Spend("2026-05-01", "social", 700)])


def _move_spend_to_another_channel(cur):
    cur.execute("update spend set channel = 'partner' where channel = 'social'")


def _change_a_lead_campaign(cur):
    cur.execute("update leads set campaign = 'spring' where lead_id = 'lead_only'")


def _change_the_as_of_day(cur):
    db.set_meta(cur, "as_of", "2026-06-30")


@pytest.mark.parametrize(
    "change",
    [
        _change_a_lead_channel,
        _move_a_stage_change,
        _change_a_deal_amount,
        _add_a_lead,
        _add_spend,
        _move_spend_to_another_channel,
        _change_a_lead_campaign,
        _change_the_as_of_day,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_summary_is_never_read_once_the_data_changed(review, change):
    rollups.refresh(review)
    key = rollups.data_key(review)
    change(review)
    assert rollups.data_key(review) != key
    assert rollups.read(review, 1) is None
    assert rollups.read_roi(review, 1) is None
    # and metrics answers for the data as it is now
    ctx = load_context(review)
    assert (
        metrics.funnel_by_quarter(review, ctx)
        .drop("quarter", "is_mature")
        .equals(raw_funnel(review))
    )


def test_the_currency_label_keeps_the_summary_current(review):
    rollups.refresh(review)
    db.set_meta(review, "currency", "EUR")
    assert rollups.read(review, 1) is not None


def test_a_summary_of_another_fiscal_year_or_format_is_not_read(review, monkeypatch):
    rollups.refresh(review)
    assert rollups.read(review, 4) is None
    db.set_meta(review, "fiscal_year_start_month", "4")
    assert rollups.read(review, 4) is None  # the key changed with the setting, too
    rollups.refresh(review)
    kept = rollups.read(review, 4)
    assert kept is not None and kept.frame.equals(raw_funnel(review, fy_start_month=4))
    assert kept.frame["quarter_start"].min() == dt.date(2025, 10, 1)  # FY quarters from April
    monkeypatch.setattr(rollups, "FORMAT", rollups.FORMAT + 1)
    assert rollups.read(review, 4) is None


def test_the_summary_is_not_read_from_another_engine(review):
    rollups.refresh(review)
    assert rollups.read(object(), 1) is None


def _csv(tmp_path, text: str):
    path = tmp_path / "file.csv"
    path.write_text(textwrap.dedent(text).strip() + "\n", encoding="utf-8")
    return path


def test_an_import_keeps_the_summary_in_its_transaction(tmp_path, capsys, monkeypatch):
    path = tmp_path / "review.duckdb"
    fx.quarter_review(path=path).close()
    stages = _csv(
        tmp_path,
        """
        lead_id,stage,changed_at,amount
        lead_only,mql,2026-03-31,
        lead_only,sql,2026-04-02,
        """,
    )
    assert cli.main(["import", "--db", str(path), "--table", "stage_changes", str(stages)]) == 0
    before = raw_funnel(fx.quarter_review().cursor(), "social")
    con = db.connect(path, read_only=True)
    try:
        kept = rollups.read(con.cursor(), 1)
        assert kept is not None
        assert kept.frame.equals(raw_funnel(con.cursor()))
        social = rollups.read(con.cursor(), 1, "social").frame
    finally:
        con.close()

    def count(frame, quarter, column):
        return frame.filter(pl.col("quarter_start") == quarter)[column][0]

    # lead_only (social, created 2026-03-30) is now an MQL of 2026Q1 and an SQL of 2026Q2
    q1, q2 = dt.date(2026, 1, 1), dt.date(2026, 4, 1)
    assert count(social, q1, "count_mqls") == count(before, q1, "count_mqls") + 1
    assert count(social, q2, "count_sqls") == count(before, q2, "count_sqls") + 1
    assert count(social, q1, "count_mqls_reached_sql") == (
        count(before, q1, "count_mqls_reached_sql") + 1
    )
    kept_json = cli_json(capsys, "metrics", "--db", path, "--quarter", "2026Q1")
    monkeypatch.setattr(rollups, "read", lambda *args, **kwargs: None)
    assert cli_json(capsys, "metrics", "--db", path, "--quarter", "2026Q1") == kept_json


def test_a_failed_import_leaves_the_summary_as_it_was(tmp_path):
    path = tmp_path / "review.duckdb"
    con = fx.quarter_review(path=path)
    rollups.refresh(con.cursor())
    key = db.run(con.cursor(), "rollup_state")["data_key"][0]
    con.close()
    bad = _csv(
        tmp_path,
        """
        lead_id,stage,changed_at,amount
        nobody_knows_me,mql,2026-03-01,
        """,
    )
    assert cli.main(["import", "--db", str(path), "--table", "stage_changes", str(bad)]) != 0
    con = db.connect(path, read_only=True)
    try:
        assert db.run(con.cursor(), "rollup_state")["data_key"][0] == key
        assert rollups.read(con.cursor(), 1) is not None
    finally:
        con.close()


def test_summarize_keeps_the_summary_of_an_older_database(tmp_path, capsys):
    path = tmp_path / "review.duckdb"
    fx.quarter_review(path=path).close()
    before = cli_json(capsys, "metrics", "--db", path, "--quarter", "2026Q1")
    assert cli.main(["summarize", "--db", str(path)]) == 0
    con = db.connect(path, read_only=True)
    try:
        assert rollups.read(con.cursor(), 1) is not None
    finally:
        con.close()
    assert cli_json(capsys, "metrics", "--db", path, "--quarter", "2026Q1") == before
    assert (before["leads"], before["mqls"], before["sqls"]) == (5, 3, 4)  # test_metrics


def test_the_demo_command_summarises(tmp_path):
    path = tmp_path / "demo.duckdb"
    assert cli.main(["demo", "--db", str(path), "--leads", "300"]) == 0
    con = db.connect(path, read_only=True)
    try:
        kept = rollups.read(con.cursor(), 1)
        assert kept is not None
        assert kept.frame.equals(raw_funnel(con.cursor()))
        assert kept.frame["count_leads"].sum() == 300
    finally:
        con.close()


def test_the_command_line_starts_without_the_planner_or_the_model():
    """`funnelcast metrics` (any command but plan and suggest) need not import numba, scipy or
    scikit-learn: they cost seconds of every start."""
    code = (
        "import sys, funnelcast.cli, funnelcast.analytics.metrics; "
        "print(sorted(m for m in ('numba', 'scipy', 'sklearn') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_constants_the_command_line_says_again_are_the_same():
    from funnelcast import planner
    from funnelcast.analytics import suggest
    from funnelcast.cli import plan
    from funnelcast.cli import suggest as suggest_command

    assert plan.DEFAULT_WINDOW == planner.DEFAULT_WINDOW
    assert suggest_command.OUTCOMES == suggest.OUTCOMES


def test_a_kept_state_is_read_only_whole_and_current_and_its_key_asked_last(review):
    """funnelcast.data.kept, the check every kept summary uses: all its tables, one state row,
    every field as expected; the costly data key computed only once the plain fields match."""
    asked = []

    def key():
        asked.append(1)
        return rollups.data_key(review)

    def state(**expected):
        return kept.current_state(review, rollups.TABLES, "rollup_state", expected)

    assert state(format=rollups.FORMAT, data_key=key) is None  # no summary: no table
    assert asked == []
    rollups.refresh(review)
    assert state(format=rollups.FORMAT, fy_start_month=1, data_key=key)["mature_days"] >= 0
    assert asked == [1]
    assert state(format=rollups.FORMAT + 1, data_key=key) is None  # another format
    assert state(format=rollups.FORMAT, fy_start_month=4, data_key=key) is None
    assert asked == [1]  # a plain field differed: the key was not computed
    assert state(format=rollups.FORMAT, data_key=lambda: "another") is None
    review.execute("drop table rollup_roi_by_channel_quarter")
    assert state(format=rollups.FORMAT) is None  # a table missing
