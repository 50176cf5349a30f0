"""The Funnel page's summary kept in the database (funnelcast.analytics.rollups_funnel): for every
choice the page offers (each channel and all, each breakdown and none, quarter and month
cohorts) it gives exactly the raw queries' rows, so funnel.report gives exactly the raw figures,
on the hand-made funnel-review journeys and on a small demo; it is never read once the data it
was computed from changed; a database without it is answered from the raw tables; and every
import, the demo and `funnelcast summarize` keep it.

The raw rows are the queries' own (funnel_steps.sql, cohort_curves.sql, time_in_stage.sql,
journeys.sql, run with the channel asked for), whose figures test_funnel.py works out by hand.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import textwrap

import fixtures as fx
import pytest
from cli_support import cli_json
from fixtures import Journey

from funnelcast import cli
from funnelcast.analytics import funnel, rollups, rollups_funnel
from funnelcast.analytics.scope import DIMENSIONS, as_of_moment
from funnelcast.data import db
from funnelcast.data.context import load_context

DIMENSION_CHOICES = (None, *(segment for segment, _ in DIMENSIONS.values()))


def raw_rows(cur, ctx, channel, dimension, grain) -> dict:
    """Return the four Funnel queries' rows from the raw tables for one choice."""
    fy = ctx.fy_start_month
    return {
        "funnel_steps": db.run(
            cur, "funnel_steps", fy_start_month=fy, channel=channel, dimension=dimension
        ),
        "cohort_curves": db.run(
            cur,
            "cohort_curves",
            as_of=as_of_moment(ctx),
            grain=grain,
            fy_start_month=fy,
            channel=channel,
        ),
        "time_in_stage": db.run(cur, "time_in_stage", fy_start_month=fy, channel=channel),
        "journeys": db.run(cur, "journeys", fy_start_month=fy, channel=channel),
    }


def kept_rows(kept: rollups_funnel.Kept, channel, dimension, grain) -> dict:
    return {
        "funnel_steps": kept.funnel_steps(channel, dimension),
        "cohort_curves": kept.cohort_curves(channel, grain),
        "time_in_stage": kept.time_in_stage(channel),
        "journeys": kept.journeys(channel),
    }


def raw_report(cur, monkeypatch, **scope) -> dict:
    """Return funnel.report computed from the raw tables (the summary not read)."""
    with monkeypatch.context() as patch:
        patch.setattr(rollups_funnel, "read", lambda *args: None)
        return funnel.report(cur, **scope)


def as_text(result: dict) -> str:
    return json.dumps(funnel.for_json(result), default=str, sort_keys=True)


def assert_every_choice_is_the_raw_one(cur, monkeypatch, quarters, bys=tuple(DIMENSIONS)) -> int:
    """Assert the kept rows equal the raw ones for every choice, and the reports for every
    channel, breakdown of bys, grain and quarter of quarters; return how many rows the kept
    path gave (so that equal empties cannot pass alone)."""
    ctx = load_context(cur)
    kept = rollups_funnel.read(cur, ctx)
    assert kept is not None
    rows = 0
    for channel in (None, *ctx.channels):
        for dimension in DIMENSION_CHOICES:
            for grain in rollups_funnel.GRAINS:
                raw = raw_rows(cur, ctx, channel, dimension, grain)
                mine = kept_rows(kept, channel, dimension, grain)
                for name, frame in raw.items():
                    assert mine[name].equals(frame), (name, channel, dimension, grain)
                    rows += mine[name].height
        for by in bys:
            for grain in rollups_funnel.GRAINS:
                for quarter in quarters:
                    scope = dict(quarter=quarter, channel=channel, by=by, grain=grain)
                    got = funnel.report(cur, **scope)
                    expected = raw_report(cur, monkeypatch, **scope)
                    assert as_text(got) == as_text(expected), scope
                    # the curves too (for_json leaves them out)
                    for outcome, part in got["cohorts"]["outcomes"].items():
                        raw = expected["cohorts"]["outcomes"][outcome]["cohorts"]
                        assert len(raw) == len(part["cohorts"])
                        for mine_c, raw_c in zip(part["cohorts"], raw):
                            assert mine_c["curve"].equals(raw_c["curve"])
    return rows


@pytest.fixture
def review():
    con = fx.funnel_review()
    # a lead without attributes, and an empty campaign: the '(unknown)' segments
    fx.add_journeys(
        con,
        [
            Journey("no_attributes", "2026-02-03", "email", stages=[("mql", "2026-02-04")]),
            Journey("empty_campaign", "2026-02-05", "search", attributes={"campaign": ""}),
        ],
    )
    yield con.cursor()
    con.close()


def test_a_database_without_the_summary_is_answered_from_the_raw_tables(review, monkeypatch):
    assert db.run(review, "kept_tables_present", names=list(rollups_funnel.TABLES))[
        "tables"
    ].to_list() == [0]
    assert rollups_funnel.read(review, load_context(review)) is None
    result = funnel.report(review, quarter="2026Q1")
    assert result["funnel"]["steps"][0]["count"] == 12  # test_funnel's ten, and two added here


def test_every_choice_of_the_kept_summary_is_exactly_the_raw_one(review, monkeypatch):
    rollups.refresh(review)
    assert db.run(review, "kept_tables_present", names=list(rollups_funnel.TABLES))[
        "tables"
    ].to_list() == [5]
    choices = (None, "2026Q1"), ("channel", "seniority")
    rows = assert_every_choice_is_the_raw_one(review, monkeypatch, *choices)
    assert rows > 1000
    ctx = load_context(review)
    kept = rollups_funnel.read(review, ctx)
    assert kept is not None
    # both added leads read '(unknown)' where they have no value
    campaigns = kept.funnel_steps("search", "campaign")
    assert "(unknown)" in campaigns["segment"].to_list()
    industries = kept.funnel_steps("email", "industry")
    assert "(unknown)" in industries["segment"].to_list()
    assert kept.lead_maturity_days == rollups_funnel.lead_maturity_days(review) > 0


def test_the_page_reads_the_summary_when_it_is_current(review, monkeypatch):
    rollups.refresh(review)
    expected = funnel.report(review, quarter="2026Q1", channel="search", by="seniority")

    def no_raw_queries(*args, **kwargs):
        raise AssertionError("a raw Funnel query ran although the summary is current")

    for name in ("funnel_steps", "cohort_frame", "time_in_stage", "journeys_frame"):
        monkeypatch.setattr(funnel, name, no_raw_queries)
    monkeypatch.setattr(rollups_funnel, "lead_maturity_days", no_raw_queries)
    got = funnel.report(review, quarter="2026Q1", channel="search", by="seniority")
    assert as_text(got) == as_text(expected)
    assert got["funnel"]["steps"][0]["count"] == 5  # four search leads + empty_campaign


def test_every_choice_on_a_small_demo_is_exactly_the_raw_one(demo_db, tmp_path, monkeypatch):
    path = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, path)
    con = db.connect(path)
    try:
        cur = con.cursor()
        rollups.refresh(cur)
        rows = assert_every_choice_is_the_raw_one(cur, monkeypatch, (None,), ("industry",))
        assert rows > 10_000
    finally:
        con.close()


def _change_an_industry(cur):
    cur.execute("update leads set industry = 'mining' where lead_id = 'won_after_long_wait'")


def _add_a_demo_request(cur):
    cur.execute(
        "insert into events (lead_id, occurred_at, event_type) "
        "values ('direct_sql_without_mql', '2026-03-03 09:00', 'demo_request')"
    )


def _move_a_stage_change(cur):
    cur.execute(
        "update stage_changes set changed_at = changed_at + interval 3 day "
        "where lead_id = 'won_after_long_wait' and stage = 'sal'"
    )


def _add_a_lead(cur):
    fx.add_journeys(
        cur, [Journey("late_lead", "2026-05-02", "social", stages=[("mql", "2026-05-03")])]
    )


def _change_the_as_of_day(cur):
    db.set_meta(cur, "as_of", "2026-06-15")


def _change_the_fiscal_year(cur):
    db.set_meta(cur, "fiscal_year_start_month", "4")


@pytest.mark.parametrize(
    "change",
    [
        _change_an_industry,
        _add_a_demo_request,
        _move_a_stage_change,
        _add_a_lead,
        _change_the_as_of_day,
        _change_the_fiscal_year,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_summary_is_never_read_once_the_data_changed(review, monkeypatch, change):
    rollups.refresh(review)
    before = as_text(funnel.report(review, by="industry"))
    change(review)
    assert rollups_funnel.read(review, load_context(review)) is None
    after = funnel.report(review, by="industry")
    assert as_text(after) == as_text(raw_report(review, monkeypatch, by="industry"))
    assert as_text(after) != before  # each change shows on the page


def test_a_summary_of_another_format_or_engine_is_not_read(review, monkeypatch):
    rollups.refresh(review)
    ctx = load_context(review)
    assert rollups_funnel.read(object(), ctx) is None
    monkeypatch.setattr(rollups_funnel, "FORMAT", rollups_funnel.FORMAT + 1)
    assert rollups_funnel.read(review, ctx) is None


def _csv(tmp_path, text: str):
    path = tmp_path / "file.csv"
    path.write_text(textwrap.dedent(text).strip() + "\n", encoding="utf-8")
    return path


@contextlib.contextmanager
def _read_only(path):
    con = db.connect(path, read_only=True)
    try:
        yield con.cursor()
    finally:
        con.close()


def test_summarize_then_an_import_keeps_the_page_current(tmp_path, capsys, monkeypatch):
    path = tmp_path / "review.duckdb"
    fx.funnel_review(path=path).close()
    args = ("funnel", "--db", path, "--quarter", "2026Q1", "--by", "seniority")
    raw_before = cli_json(capsys, *args)
    assert cli.main(["summarize", "--db", str(path)]) == 0
    with _read_only(path) as cur:
        assert rollups_funnel.read(cur, load_context(cur)) is not None
    assert cli_json(capsys, *args) == raw_before
    # mql_awaiting_sales (search, 2026Q1) is accepted and becomes an SQL
    stages = _csv(
        tmp_path,
        """
        lead_id,stage,changed_at,amount
        mql_awaiting_sales,sal,2026-04-01,
        mql_awaiting_sales,sql,2026-04-03,
        """,
    )
    assert cli.main(["import", "--db", str(path), "--table", "stage_changes", str(stages)]) == 0
    with _read_only(path) as cur:
        assert rollups_funnel.read(cur, load_context(cur)) is not None  # the import kept it
    after = cli_json(capsys, *args)
    counts = [[s["count"] for s in view["funnel"]["steps"]] for view in (raw_before, after)]
    assert counts[1][2] == counts[0][2] + 1 and counts[1][3] == counts[0][3] + 1  # SAL, SQL
    monkeypatch.setattr(rollups_funnel, "read", lambda *a: None)
    assert cli_json(capsys, *args) == after


def test_the_demo_command_keeps_the_funnel_summary(tmp_path):
    path = tmp_path / "demo.duckdb"
    assert cli.main(["demo", "--db", str(path), "--leads", "300"]) == 0
    with _read_only(path) as cur:
        kept = rollups_funnel.read(cur, load_context(cur))
        assert kept is not None
        assert kept.funnel_steps(None, None)["count_leads"].sum() == 300
