"""The Handoff page's figures: hand-offs and sales' answers, rejection reasons, the SLA in
business days, waiting against conversion, and 'not ready' leads that bought later. SQL on the
funnel-review journeys (tests/fixtures.py) with results worked out by hand; properties; the CLI;
the page in AppTest against the CLI.

Weekdays: 2026-01-09 is a Friday, 2026-01-10 a Saturday; 2026-02-01, 2026-02-15 and 2026-03-01
are Sundays; 2025-12-01 is a Monday.
"""

from __future__ import annotations

import datetime as dt

import fixtures as fx
import polars as pl
import pytest
from apptest_support import navigation_only, release_streamlit_caches, run_app  # noqa: F401
from cli_support import assert_one_line_failure, cli_json, cli_text, run_cli
from hypothesis import HealthCheck, given, settings
from test_funnel import random_journeys

from funnelcast.analytics import handoff
from funnelcast.data import db
from funnelcast.data.context import load_context

# =====================================================================================
# queries/handoff_mqls.sql
# =====================================================================================


def test_every_mql_is_a_hand_off_with_sales_first_answer(funnel_review):
    frame = db.run(funnel_review, "handoff_mqls", fy_start_month=1, channel=None)
    got = frame.select(
        "lead_id",
        "handoff_number",
        pl.col("handed_at").dt.date(),
        "response_stage",
        "response",
        pl.col("responded_at").dt.date(),
        "response_reason",
    ).rows()
    d = dt.date
    assert got == [
        ("recycled_then_won", 1, d(2025, 12, 1), "sal", "accepted", d(2025, 12, 3), None),
        ("won_after_long_wait", 1, d(2026, 1, 7), "sal", "accepted", d(2026, 1, 19), None),
        ("not_ready_then_won", 1, d(2026, 1, 9), "rejected", "rejected", d(2026, 1, 12), "not ready"),
        ("straight_to_customer", 1, d(2026, 1, 10), "sal", "accepted", d(2026, 1, 12), None),
        ("sal_then_dropped", 1, d(2026, 1, 14), "sal", "accepted", d(2026, 1, 15), None),
        ("mql_then_rejected", 1, d(2026, 2, 1), "rejected", "rejected", d(2026, 2, 5), "wrong persona"),
        # back after recycling: the answer to the second hand-off is the SQL, not the old SAL
        ("recycled_then_won", 2, d(2026, 2, 15), "sql", "accepted", d(2026, 3, 1), None),
        ("won_in_next_quarter", 1, d(2026, 3, 1), "sql", "accepted", d(2026, 3, 15), None),
        ("not_ready_then_won", 2, d(2026, 3, 2), "sal", "accepted", d(2026, 3, 3), None),
        ("mql_awaiting_sales", 1, d(2026, 3, 25), None, None, None, None),
    ]  # fmt: skip


def test_hand_offs_carry_what_the_lead_did_afterwards(funnel_review):
    frame = db.run(funnel_review, "handoff_mqls", fy_start_month=1, channel="content")
    assert frame.select(
        "handoff_number",
        pl.col("reached_sql_at").dt.date(),
        pl.col("reached_customer_at").dt.date(),
        "revenue",
        "channel",
        "seniority",
        "company_size_band",
    ).rows() == [
        (1, dt.date(2026, 3, 10), dt.date(2026, 4, 20), 7000.0, "content", "(unknown)", "(unknown)"),
        (2, dt.date(2026, 3, 10), dt.date(2026, 4, 20), 7000.0, "content", "(unknown)", "(unknown)"),
    ]  # fmt: skip


# =====================================================================================
# business days and the SLA
# =====================================================================================


def test_business_days_skip_weekends():
    start = pl.Series(
        [dt.datetime(2026, 1, 9, 17), dt.datetime(2026, 1, 10), dt.datetime(2026, 1, 7)]
    )
    end = pl.Series([dt.datetime(2026, 1, 12, 9), dt.datetime(2026, 1, 12), None])
    # Friday to Monday: 1; Saturday to Monday: 0; no answer: -1
    assert handoff.business_days(start, end).tolist() == [1, 0, -1]


def test_the_sla_deadline_is_the_nth_weekday_after_the_hand_off():
    handed = pl.Series(
        [dt.datetime(2026, 1, 9, 17), dt.datetime(2026, 1, 10, 9), dt.datetime(2026, 1, 7)]
    )
    # Friday + 2 = Tuesday; Saturday counts from Monday: Wednesday; Wednesday + 0 = Wednesday
    assert handoff.sla_deadline(handed, 2).to_list() == [
        dt.date(2026, 1, 13),
        dt.date(2026, 1, 14),
        dt.date(2026, 1, 9),
    ]
    assert handoff.sla_deadline(handed[2:], 0).to_list() == [dt.date(2026, 1, 7)]


def test_hand_offs_get_their_wait_and_sla_verdict(funnel_review):
    ctx = load_context(funnel_review)
    frame = handoff.handoffs(funnel_review, ctx, sla=2).sort("handed_at")
    assert frame.select("lead_id", "wait_business_days", "is_breached").rows() == [
        ("recycled_then_won", 2, False),  # Mon -> Wed
        ("won_after_long_wait", 8, True),  # Wed 7 Jan -> Mon 19 Jan
        ("not_ready_then_won", 1, False),  # Fri -> Mon
        ("straight_to_customer", 0, False),  # Sat -> Mon
        ("sal_then_dropped", 1, False),
        ("mql_then_rejected", 3, True),  # Sun -> Thu: deadline Wed
        ("recycled_then_won", 10, True),
        ("won_in_next_quarter", 10, True),
        ("not_ready_then_won", 1, False),
        ("mql_awaiting_sales", None, True),  # no answer by 30 June
    ]
    # with a 10-day SLA only the unanswered one breaches it
    loose = handoff.handoffs(funnel_review, ctx, sla=10)
    assert loose.filter(pl.col("is_breached"))["lead_id"].to_list() == ["mql_awaiting_sales"]


def test_the_sla_setting_comes_from_the_database_unless_given():
    con = fx.funnel_review()
    assert handoff.sla_days(con) == 2
    db.set_meta(con, handoff.SLA_META_KEY, "3")
    assert handoff.sla_days(con) == 3
    assert handoff.sla_days(con, 5) == 5
    with pytest.raises(handoff.HandoffInputError, match="0 to 60 business days"):
        handoff.sla_days(con, 61)
    db.set_meta(con, handoff.SLA_META_KEY, "two")
    with pytest.raises(handoff.HandoffInputError, match="must be a whole number"):
        handoff.sla_days(con)


# =====================================================================================
# the report
# =====================================================================================


def test_a_quarter_of_hand_offs(funnel_review):
    result = handoff.report(funnel_review, quarter="2026Q1", sla=2, by="channel")
    # nine hand-offs in 2026Q1: six accepted, two rejected, one awaiting
    assert (result["handoffs"], result["accepted"], result["rejected"], result["awaiting"]) == (
        9,
        6,
        2,
        1,
    )
    assert (result["acceptance"]["successes"], result["acceptance"]["n"]) == (6, 8)
    assert (result["sla_breached"], result["answered_late"], result["unanswered_past_sla"]) == (
        5,
        4,
        1,
    )
    assert result["sla_breach_rate"]["value"] == pytest.approx(5 / 9)
    # waits of the answered: 8, 1, 0, 1, 3, 10, 10, 1
    assert result["median_wait_business_days"] == 2.0
    assert [(r["reason"], r["count"]) for r in result["rejection_reasons"]] == [
        ("not ready", 1),
        ("wrong persona", 1),
    ]
    assert result["previous"]["handoffs"] == 1  # recycled_then_won's first hand-off in 2025Q4
    # mql_awaiting_sales: 69 business days from Wed 25 March to Tue 30 June
    assert [(a["age"], a["count"]) for a in result["unanswered_by_age"]] == [
        ("within SLA (0–2)", 0),
        ("3–5 days", 0),
        ("6–10 days", 0),
        ("11–20 days", 0),
        ("over 20 days", 1),
    ]


def test_rejection_reasons_by_segment(funnel_review):
    result = handoff.report(funnel_review, quarter="2026Q1", by="channel")
    by = {s["segment"]: s for s in result["reasons_by"]["segments"]}
    assert by["search"]["handoffs"] == 4
    assert (by["search"]["rejection_rate"]["successes"], by["search"]["rejection_rate"]["n"]) == (
        1,
        3,
    )
    assert [r["reason"] for r in by["search"]["reasons"]] == ["wrong persona"]
    assert [r["reason"] for r in by["content"]["reasons"]] == ["not ready"]


def test_not_ready_rejections_that_bought_later(funnel_review):
    result = handoff.report(funnel_review, quarter="2026Q1")["not_ready_later_won"]
    assert result["rejected_not_ready"] == 1
    assert (result["won_later"]["successes"], result["won_later"]["n"]) == (1, 1)
    assert result["revenue"] == 7000.0
    assert [(r["lead_id"], r["days_to_win"]) for r in result["leads"]] == [
        ("not_ready_then_won", 98.0)
    ]


def test_waiting_against_conversion_on_mature_hand_offs(funnel_review):
    ctx = load_context(funnel_review)
    frame = handoff.handoffs(funnel_review, ctx)
    result = handoff.wait_vs_conversion(handoff.tables_of(frame, ctx, "channel"), ctx, None)
    # hand-off to SQL days: 22, 90, 14, 14, 44, 60, 8: 90th percentile 72, so hand-offs before
    # 19 April are mature: all nine answered ones
    assert result["maturity_days"] == 72.0
    assert result["handoffs"] == 9
    got = {
        b["wait"]: (b["handoffs"], b["to_sql"]["successes"], b["to_customer"]["successes"])
        for b in result["buckets"]
    }
    assert got == {
        "same day": (1, 1, 1),
        "1 day": (3, 2, 2),
        "2 days": (1, 1, 1),
        "3–5 days": (1, 0, 0),
        "6–10 days": (3, 3, 3),
        "over 10 days": (0, 0, 0),
    }


def test_age_buckets_start_above_the_sla():
    assert [b[0] for b in handoff.age_buckets(7)] == [
        "within SLA (0–7)",
        "8–10 days",
        "11–20 days",
        "over 20 days",
    ]
    assert [b[0] for b in handoff.age_buckets(30)] == ["within SLA (0–30)", "over 30 days"]


@given(random_journeys())
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hand_off_rates_stay_in_0_1_and_answers_add_up(journeys):
    con = fx.build(journeys)
    try:
        result = handoff.report(con, sla=2)
        assert (
            result["accepted"] + result["rejected"] + result["disqualified"] + result["awaiting"]
            == result["handoffs"]
        )
        for r in (result["acceptance"], result["sla_breach_rate"]):
            assert r["value"] is None or 0 <= r["low"] <= r["value"] <= r["high"] <= 1
        assert sum(a["count"] for a in result["unanswered_by_age"]) == result["awaiting"]
        assert sum(t["handoffs"] for t in result["trend"]) == result["handoffs"]
        for bucket in result["wait_vs_conversion"]["buckets"]:
            assert (
                bucket["to_customer"]["successes"]
                <= bucket["to_sql"]["successes"]
                <= bucket["handoffs"]
            )
    finally:
        con.close()


# =====================================================================================
# the command line
# =====================================================================================


def test_cli_handoff_json(capsys, funnel_review_file):
    result = cli_json(
        capsys, "handoff", "--db", funnel_review_file, "--quarter", "2026Q1", "--sla-days", "10"
    )
    assert result["scope"]["sla_business_days"] == 10
    assert result["sla_breached"] == 1
    assert result["acceptance"]["value"] == pytest.approx(6 / 8)


def test_cli_handoff_table(capsys, funnel_review_file):
    out = cli_text(capsys, "handoff", "--db", funnel_review_file, "--quarter", "2026Q1")
    assert "SLA 2 business days" in out
    assert "75.0% (n 8" in out
    assert "not ready" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sla-days", "-1"], "the SLA must be 0 to 60 business days"),
        (["--sla-days", "two"], "expected a whole number of business days"),
        (["--quarter", "2026Q9"], "not a quarter"),
    ],
)
def test_cli_handoff_bad_input_is_one_line_and_non_zero(funnel_review_file, args, message):
    assert_one_line_failure(run_cli("handoff", "--db", funnel_review_file, *args), message)


# =====================================================================================
# the page, against the command line, on the demo database
# =====================================================================================


def test_handoff_page_shows_the_cli_figures(demo_db, monkeypatch, capsys):
    at = run_app(monkeypatch, demo_db)
    at.selectbox(key="quarter").set_value("2026Q2").run()
    at.switch_page("pages/handoff.py").run()
    at.number_input(key="handoff_sla").set_value(3).run()
    assert not at.exception, [e.value for e in at.exception]
    expected = cli_json(
        capsys,
        "handoff",
        "--db",
        demo_db,
        "--quarter",
        "2026Q2",
        "--sla-days",
        "3",
        "--by",
        "seniority",
    )
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Hand-offs"] == f"{expected['handoffs']:,}"
    assert metrics["Acceptance"] == f"{expected['acceptance']['value']:.1%}"
    assert metrics["SLA breached"] == f"{expected['sla_breach_rate']['value']:.1%}"
    assert metrics["Rejected as not ready"] == str(
        expected["not_ready_later_won"]["rejected_not_ready"]
    )
    assert any(f"{expected['answered_late']} answered late" in c.value for c in at.caption)
    # the SLA moves the breaches: a looser SLA never breaches more
    looser = cli_json(capsys, "handoff", "--db", demo_db, "--quarter", "2026Q2", "--sla-days", "10")
    assert looser["sla_breached"] <= expected["sla_breached"]


def test_handoff_page_without_stage_changes_says_what_to_load(tmp_path, monkeypatch):
    path = tmp_path / "leads_only.duckdb"
    con = fx.build([fx.LEAD_ONLY], path=path)
    con.close()
    at = run_app(monkeypatch, path)
    at.switch_page("pages/handoff.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("stage history" in i.value for i in at.info)
