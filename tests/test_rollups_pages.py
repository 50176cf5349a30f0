"""The Handoff and Data pages' summary kept in the database (funnelcast.analytics.rollups_pages,
written by funnelcast.loading): every choice of the Handoff page (quarter, channel, SLA,
breakdown) gives exactly the raw path's figures from it, on the hand-made funnel review and on
a small demo; the Data page's checks are the raw queries' rows; a stale summary is never read;
and every write path (the CLI's import, the Data page's, the demo build, `summarize`) keeps it.

The raw path is the reference: handoff.report with the kept summary out of reach
(rollups_pages.read_handoffs patched to None), which test_handoff.py checks against hand-counted
figures; the SLA rule the counted path uses is checked here against the row-by-row verdict.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil

import fixtures as fx
import polars as pl
import pytest

from funnelcast import cli, loading
from funnelcast.analytics import handoff, rollups, rollups_pages
from funnelcast.data import db
from funnelcast.data.context import load_context
from funnelcast.ui import data_page


def raw_report(cur, monkeypatch, **scope) -> dict:
    """Return handoff.report from the raw tables (the kept summary out of reach)."""
    with monkeypatch.context() as m:
        m.setattr(rollups_pages, "read_handoffs", lambda *a, **k: None)
        return handoff.report(cur, **scope)


@pytest.fixture
def review():
    con = fx.funnel_review()
    yield con.cursor()
    con.close()


@pytest.fixture(scope="module")
def demo(demo_db, tmp_path_factory):
    """A writable copy of the session's small demo, with the summaries kept."""
    path = tmp_path_factory.mktemp("pages_summary") / "demo.duckdb"
    shutil.copy(demo_db, path)
    loading.summarise(path)
    with contextlib.closing(db.connect(path)) as con:
        yield con


def scopes(ctx):
    """Every channel, a spread of quarters and SLAs, every breakdown."""
    quarters = [None, *[q.label for q in ctx.quarters[:: max(1, len(ctx.quarters) // 4)]]]
    for channel in (None, *ctx.channels):
        for quarter in quarters:
            yield {"quarter": quarter, "channel": channel, "sla": 2, "by": "channel"}
    for sla in (0, 1, 3, 7, 15):
        yield {"quarter": quarters[-1], "channel": None, "sla": sla, "by": "seniority"}
    for by in handoff.DIMENSIONS:
        yield {"quarter": quarters[1], "channel": ctx.channels[0], "sla": 5, "by": by}


def assert_kept_is_raw(cur, monkeypatch):
    ctx = load_context(cur)
    assert rollups_pages.is_current(cur)
    for scope in scopes(ctx):
        column = handoff.DIMENSIONS[scope["by"]][0]
        assert rollups_pages.read_handoffs(
            cur, ctx.fy_start_month, ctx.as_of, scope["channel"], column
        ), scope
        assert handoff.report(cur, **scope) == raw_report(cur, monkeypatch, **scope), scope


def test_the_kept_hand_offs_give_the_raw_figures_on_the_funnel_review(review, monkeypatch):
    assert not rollups_pages.is_current(review)
    loading.keep_summaries(review)
    assert_kept_is_raw(review, monkeypatch)
    # the hand-counted figures of test_handoff.test_a_quarter_of_hand_offs, now from the summary
    result = handoff.report(review, quarter="2026Q1", sla=2)
    assert (result["handoffs"], result["accepted"], result["rejected"]) == (9, 6, 2)
    assert (result["sla_breached"], result["median_wait_business_days"]) == (5, 2.0)


def test_a_channel_with_spend_and_no_leads_is_kept_as_none(review, monkeypatch):
    # the summary reads one channel's hand-offs at a time: a channel only spend names has
    # none, and every choice (that channel's too) still gives the raw figures
    review.execute(
        "insert into spend (period_start, channel, campaign, amount) values (?, ?, ?, ?)",
        [dt.date(2026, 1, 1), "podcasts", "", 500.0],
    )
    ctx = load_context(review)
    assert "podcasts" in ctx.channels
    assert handoff.handoffs(review, ctx, channel="podcasts").is_empty()
    loading.keep_summaries(review)
    tables = handoff.kept_tables(review, ctx)
    maturity = dict(tables["maturity"].iter_rows())
    assert maturity["podcasts"] == 0.0 and maturity[None] > 0
    assert "podcasts" not in tables["cells"]["channel"].to_list()
    assert_kept_is_raw(review, monkeypatch)


def test_the_kept_hand_offs_give_the_raw_figures_on_a_demo(demo, monkeypatch):
    assert_kept_is_raw(demo.cursor(), monkeypatch)
    assert handoff.report(demo.cursor())["handoffs"] > 1000


def test_a_breach_is_waiting_more_business_days_than_the_sla(demo):
    """The counted path's rule (waited or waiting more than N business days) against the row by
    row verdict (handoffs(): answered after the SLA's last day, or unanswered past it)."""
    cur = demo.cursor()
    ctx = load_context(cur)
    for sla in range(0, 12):
        rows = handoff.handoffs(cur, ctx, sla=sla)
        counted = handoff.tables_of(rows, ctx, "channel").cells
        got = handoff.responses(counted, sla)
        assert got["sla_breached"] == rows["is_breached"].sum()
        assert (
            got["answered_late"]
            == rows.filter(pl.col("is_answered") & pl.col("is_breached")).height
        )
        waits = rows.filter(pl.col("is_answered"))["wait_business_days"]
        assert got["median_wait_business_days"] == waits.median()


@pytest.mark.parametrize("waits", [[3], [1, 4], [0, 0, 5, 9], [2, 2, 2, 7, 8, 30], list(range(11))])
def test_the_median_of_counted_waits_is_the_rows_median(waits):
    rows = pl.DataFrame({"wait_business_days": waits})
    counted = rows.group_by("wait_business_days").agg(pl.len().cast(pl.Int64).alias("handoffs"))
    assert handoff.median_wait(counted) == rows["wait_business_days"].median()


def test_the_kept_checks_are_the_raw_queries_rows(demo):
    cur = demo.cursor()
    ctx = load_context(cur)
    as_of = rollups_pages.health_as_of(cur, ctx.as_of)
    kept = rollups_pages.checks(cur, as_of)
    raw = rollups_pages.compute_checks(cur, as_of)
    for name in rollups_pages.CHECK_QUERIES:
        assert db.run(cur, f"rollup_{name}").equals(raw[name]), name
        assert kept[name].equals(raw[name]), name
    assert raw["column_nulls"]["count_rows"].max() > 0
    # the Data page's notes from the kept rows are those from the raw queries
    assert data_page.health(cur, ctx, kept["data_health"]) == data_page.health(cur, ctx)
    assert data_page.unmatched_ids(cur, ctx, kept["unmatched_ids"]) == data_page.unmatched_ids(
        cur, ctx
    )


def test_a_stale_summary_is_never_read(review, monkeypatch):
    loading.keep_summaries(review)
    ctx = load_context(review)
    assert rollups_pages.read_handoffs(review, ctx.fy_start_month, ctx.as_of, None, "seniority")
    before = handoff.report(review, by="seniority")
    # a lead's seniority alone changes (no count, time or channel does): the key sees it
    lead = review.sql("select lead_id from leads where seniority is not null limit 1").fetchall()
    review.execute("update leads set seniority = 'intern' where lead_id = $l", {"l": lead[0][0]})
    assert not rollups_pages.is_current(review)
    ctx = load_context(review)
    assert (
        rollups_pages.read_handoffs(review, ctx.fy_start_month, ctx.as_of, None, "seniority")
        is None
    )
    after = handoff.report(review, by="seniority")
    assert after == raw_report(review, monkeypatch, by="seniority") != before
    assert "intern" in [s["segment"] for s in after["reasons_by"]["segments"]]
    # a rejection's reason alone changes
    loading.keep_summaries(review)
    review.execute("update stage_changes set reason = 'budget' where stage = 'rejected'")
    assert not rollups_pages.is_current(review)
    # another fiscal year, format or as-of: not read either
    loading.keep_summaries(review)
    assert rollups_pages.read_handoffs(review, 4, ctx.as_of, None, "channel") is None
    assert rollups_pages.read_handoffs(review, ctx.fy_start_month, None, None, "channel") is None
    monkeypatch.setattr(rollups_pages, "FORMAT", rollups_pages.FORMAT + 1)
    assert not rollups_pages.is_current(review)


def test_the_data_checks_of_an_older_summary_come_from_the_raw_tables(review):
    loading.keep_summaries(review)
    review.execute(
        "insert into leads (lead_id, created_at, channel) values ('new', '2026-02-01', 'unknown')"
    )
    ctx = load_context(review)
    as_of = rollups_pages.health_as_of(review, ctx.as_of)
    got = rollups_pages.checks(review, as_of)["data_health"]
    assert got.equals(db.run(review, "data_health", as_of=as_of))
    unknown = got.filter(pl.col("check_name") == "leads_in_unknown_channel")
    assert "new" in unknown["examples"][0]


def _current(path) -> bool:
    with contextlib.closing(db.connect(path, read_only=True)) as con:
        return rollups_pages.is_current(con.cursor()) and rollups.read(con.cursor(), 1) is not None


def test_every_write_path_keeps_the_summaries(tmp_path, monkeypatch):
    # the demo command and the dashboard's first start
    built = tmp_path / "demo.duckdb"
    assert cli.main(["demo", "--db", str(built), "--leads", "300"]) == 0
    assert _current(built)
    from funnelcast.ui import dashboard

    started = tmp_path / "first_start.duckdb"
    assert dashboard.ensure_database(started, leads=300, seed=3)
    assert _current(started)
    # the command line's import, on a database the summaries then no longer match
    path = tmp_path / "review.duckdb"
    fx.funnel_review(path).close()
    assert not _current(path)
    stages = tmp_path / "stages.csv"
    stages.write_text("lead_id,stage,changed_at,reason\n" + _a_rejection(path) + "\n")
    assert cli.main(["import", "--db", str(path), "--table", "stage_changes", str(stages)]) == 0
    assert _current(path)
    with contextlib.closing(db.connect(path, read_only=True)) as con:
        assert handoff.report(con.cursor()) == raw_report(con.cursor(), monkeypatch)
    # `summarize` on a database written by someone else
    with contextlib.closing(db.connect(path)) as con:
        con.execute("update leads set region = 'Mars'")
    assert not _current(path)
    assert cli.main(["summarize", "--db", str(path)]) == 0
    assert _current(path)
    # the Data page's import: tests/test_import_page_words.py (the page's own upload and button)


def _a_rejection(path) -> str:
    """Return a CSV row: a rejection of the review's first MQL a day after it."""
    with contextlib.closing(db.connect(path, read_only=True)) as con:
        lead, at = con.sql(
            "select lead_id, changed_at from stage_changes where stage = 'mql' order by 2 limit 1"
        ).fetchall()[0]
    return f"{lead},disqualified,{(at.replace(hour=23, minute=59))},spam"
