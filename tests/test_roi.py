"""ROI per channel and quarter, its changes, the scorecard and the payback on the hand-made ROI
journeys (tests/fixtures.py: ROI_JOURNEYS, ROI_SPEND), every figure worked out by hand; the
`roi` and `report` commands; and the ROI page run with AppTest against `funnelcast roi --format
json` on the demo database."""

from __future__ import annotations

import json
import re
from pathlib import Path

import fixtures as fx
import plotly.offline
import pytest
from apptest_support import APP, navigation_only, release_streamlit_caches  # noqa: F401
from streamlit.testing.v1 import AppTest

from funnelcast import cli
from funnelcast.analytics import metrics, roi, rollups
from funnelcast.core import formats
from funnelcast.core.currency import USD, Currency
from funnelcast.data import db


@pytest.fixture(scope="module", params=["raw tables", "kept summary"])
def roi_db(tmp_path_factory, request) -> Path:
    """The ROI-review database: every test runs on the raw tables, then with the funnel summary
    kept (funnelcast.analytics.rollups), which must give the same figures."""
    path = tmp_path_factory.mktemp("roi") / "roi.duckdb"
    con = fx.roi_review(path)
    if request.param == "kept summary":
        rollups.refresh(con.cursor())
        assert rollups.read_roi(con.cursor(), 1) is not None
    con.close()
    return path


def run_roi(path: Path, **kwargs) -> dict:
    con = db.connect(path, read_only=True)
    try:
        return roi.roi(con.cursor(), **kwargs)
    finally:
        con.close()


# ----- queries/roi_by_channel_quarter.sql and spend_payback.sql, by hand -----


def test_roi_by_channel_quarter_counts_by_source_and_campaign():
    con = fx.roi_review()
    frame = db.run(con.cursor(), "roi_by_channel_quarter", fy_start_month=1)
    q1 = frame.filter(frame["quarter_start"].cast(str) == "2026-01-01").drop("quarter_start")

    assert q1.rows() == [
        # channel, campaign, leads, mqls, sqls, customers, mqls reached sql, revenue, spend
        ("display", "", 0, 0, 0, 0, 0, 0.0, 100.0),  # spend that bought nothing
        ("email", "email-newsletter", 1, 1, 0, 0, 0, 0.0, 0.0),  # mql_rejected
        ("email", "email-nurture", 0, 0, 0, 0, 0, 0.0, 300.0),
        ("events", "events-webinars", 0, 0, 0, 0, 0, 0.0, 400.0),
        ("referral", "referral-partner", 1, 1, 1, 1, 1, 1000.0, 0.0),
        ("search", "", 0, 0, 0, 0, 0, 0.0, 500.0),  # the channel-wide spend
        ("search", "search-brand", 1, 1, 1, 1, 1, 3100.0, 1000.0),  # multi_touch_won
        ("search", "search-generic", 1, 1, 1, 0, 1, 0.0, 0.0),  # sql_not_won
        ("social", "social-facebook", 1, 0, 1, 1, 0, 999.99, 0.0),  # SQL without MQL
        ("social", "social-linkedin", 0, 0, 0, 0, 0, 0.0, 200.0),
    ]


def test_spend_payback_follows_each_quarter_s_leads_to_their_deals():
    con = fx.roi_review()
    frame = db.run(con.cursor(), "spend_payback", fy_start_month=1)

    assert [(str(r[0]), *r[1:]) for r in frame.rows()] == [
        # quarter, channel, spend, leads, reached mql, reached customer, revenue so far
        ("2025-01-01", "email", 250.0, 1, 1, 1, 500.0),
        ("2025-10-01", "search", 800.0, 1, 1, 1, 2000.0),
        ("2026-01-01", "display", 100.0, 0, 0, 0, 0.0),
        ("2026-01-01", "email", 300.0, 1, 1, 0, 0.0),
        ("2026-01-01", "events", 400.0, 0, 0, 0, 0.0),
        ("2026-01-01", "referral", 0.0, 1, 1, 1, 1000.0),
        ("2026-01-01", "search", 1500.0, 2, 2, 1, 3100.0),
        ("2026-01-01", "social", 200.0, 1, 0, 1, 999.99),
    ]


def test_quarter_target_reads_the_plan_of_one_quarter():
    con = fx.roi_review()
    con.execute("insert into targets values ('2026-01-01', 4, 6000)")

    assert db.run(con.cursor(), "quarter_target", quarter_start=fx.day("2026-01-01")).rows() == [
        (fx.day("2026-01-01"), 4, 6000.0)
    ]
    assert db.run(con.cursor(), "quarter_target", quarter_start=fx.day("2026-04-01")).is_empty()


# ----- the ROI figures of 2026Q1, by hand -----


def test_totals_scorecard_and_changes(roi_db):
    result = run_roi(roi_db, quarter="2026Q1")
    totals = result["totals"]

    # spend 1,000 + 500 + 300 + 400 + 200 + 100; deals 3,100 + 1,000 + 999.99
    assert (totals["spend"], totals["revenue"]) == (2500.0, 5099.99)
    assert (totals["leads"], totals["mqls"], totals["sqls"], totals["customers"]) == (5, 4, 4, 3)
    assert totals["roi"] == pytest.approx(2599.99 / 2500)
    assert totals["cost_per_mql"] == 625.0
    assert totals["cost_per_customer"] == pytest.approx(2500 / 3)
    # against 2025Q4 (search: 800 spent, 2,000 won) and 2025Q1 (email: 250 spent, 500 won)
    assert result["scope"]["previous_quarter"] == "2025Q4"
    assert result["scope"]["year_ago_quarter"] == "2025Q1"
    assert totals["change"]["vs_previous"]["roi"] == pytest.approx(2599.99 / 2500 - 1.5)
    assert totals["change"]["vs_year_ago"]["roi"] == pytest.approx(2599.99 / 2500 - 1.0)
    assert totals["change"]["vs_previous"]["spend"] == 1700.0
    # 4 MQLs; multi_touch_won, single_touch_won and sql_not_won reached SQL. Matured: 90% of
    # MQL-to-SQL steps took <= 17.6 days, and 1 Apr + 17.6 days is before 30 Apr.
    card = result["scorecard"]
    assert card["sentence"] == (
        "2026Q1: this quarter's budget of $2,500 produced 4 MQLs; 75.0% became SQLs."
    )
    assert (card["mql_to_sql"]["successes"], card["mql_to_sql"]["n"]) == (3, 4)
    assert card["mql_to_sql"]["is_small_sample"] is True
    assert card["is_mature"] is True


def test_per_channel_cost_and_return_under_first_touch(roi_db):
    rows = {r["channel"]: r for r in run_roi(roi_db, quarter="2026Q1")["by_channel"]}

    search = rows["search"]
    assert (search["spend"], search["revenue"], search["leads"], search["customers"]) == (
        1500.0, 3100.0, 2, 1,
    )  # fmt: skip
    assert search["roi"] == pytest.approx(1600 / 1500)
    assert [search[k] for k in ("cost_per_lead", "cost_per_mql", "cost_per_sql",
                                "cost_per_customer")] == [750.0, 750.0, 750.0, 1500.0]  # fmt: skip
    # search in 2025Q4: ROI (2,000 - 800) / 800 = 1.5
    assert search["previous"]["roi"] == 1.5
    assert search["change"]["vs_previous"]["roi"] == pytest.approx(1600 / 1500 - 1.5)
    assert search["year_ago"] is None  # no search in 2025Q1
    # email: spent 300, won nothing; a year before 250 spent, 500 won (ROI 1.0)
    assert rows["email"]["roi"] == -1.0
    assert rows["email"]["cost_per_sql"] is None  # no SQL to divide by
    assert rows["email"]["change"]["vs_year_ago"]["roi"] == -2.0
    assert rows["social"]["roi"] == pytest.approx(799.99 / 200)
    assert rows["referral"]["roi"] is None  # no spend
    assert rows["referral"]["cost_per_mql"] is None
    assert rows["display"]["roi"] == -1.0


def test_the_model_moves_revenue_and_roi_between_channels(roi_db):
    rows = {
        r["channel"]: r for r in run_roi(roi_db, quarter="2026Q1", model="w_shaped")["by_channel"]
    }

    # see test_attribution: W-shaped credits search 1,579.99, events 930, social 1,280
    assert rows["search"]["revenue"] == 1579.99
    assert rows["search"]["source_revenue"] == 3100.0
    assert rows["events"]["roi"] == pytest.approx((930 - 400) / 400)
    assert rows["social"]["roi"] == pytest.approx((1280 - 200) / 200)


def test_campaign_rows_keep_channel_wide_spend_apart(roi_db):
    campaigns = {
        (r["channel"], r["campaign"]): r for r in run_roi(roi_db, quarter="2026Q1")["by_campaign"]
    }

    assert campaigns[("search", "(none)")]["spend"] == 500.0
    assert campaigns[("search", "(none)")]["leads"] == 0
    assert campaigns[("search", "search-brand")]["roi"] == pytest.approx(2100 / 1000)
    assert campaigns[("social", "social-facebook")]["revenue"] == 999.99


def test_payback_marks_quarters_younger_than_the_lead_to_customer_lag(roi_db):
    result = run_roi(roi_db)

    # lead-to-customer days: 19, 31, 35, 41, 42 -> 90th percentile 41.6
    assert result["payback"]["lead_to_customer_p90_days"] == 41.6
    assert [(r["quarter"], r["spend"], r["revenue_so_far"], r["is_mature"])
            for r in result["payback"]["by_quarter"]] == [
        ("2025Q1", 250.0, 500.0, True),
        ("2025Q4", 800.0, 2000.0, True),
        # 1 Apr + 41.6 days is after the as-of day, 30 Apr: still paying back
        ("2026Q1", 2500.0, 5099.99, False),
    ]  # fmt: skip
    assert result["payback"]["by_quarter"][1]["roi_so_far"] == 1.5


def test_all_history_has_no_comparison_quarters(roi_db):
    result = run_roi(roi_db)

    assert result["scope"]["quarter"] is None
    assert result["totals"]["change"] == {"vs_previous": None, "vs_year_ago": None}
    assert result["totals"]["revenue"] == 7599.99
    assert result["totals"]["spend"] == 3550.0


def test_roi_agrees_with_metrics_on_the_demo(demo_db):
    con = db.connect(demo_db, read_only=True)
    try:
        cur = con.cursor()
        result = roi.roi(cur, quarter="2026Q2")
        expected = metrics.metrics(cur, quarter="2026Q2")
    finally:
        con.close()

    for key in ("spend", "revenue", "leads", "mqls", "sqls", "customers", "cost_per_mql", "roi"):
        assert result["totals"][key] == pytest.approx(expected[key]), key
    by_channel = {r["channel"]: r for r in expected["by_channel"]}
    for row in result["by_channel"]:
        assert row["revenue"] == pytest.approx(by_channel[row["channel"]]["revenue"])
        assert row["mqls"] == by_channel[row["channel"]]["mqls"]


# ----- partial data -----


def test_without_spend_there_is_revenue_and_volume_but_no_cost(tmp_path):
    path = tmp_path / "no_spend.duckdb"
    fx.roi_review(path, spend=False).close()
    result = run_roi(path, quarter="2026Q1")

    assert result["scope"]["has_spend"] is False
    assert result["totals"]["revenue"] == 5099.99
    assert result["totals"]["roi"] is None and result["totals"]["cost_per_mql"] is None
    assert result["scorecard"]["budget"] is None
    assert result["scorecard"]["sentence"].startswith("2026Q1: no spend is loaded")


def test_without_events_attribution_is_source_only(tmp_path):
    path = tmp_path / "no_events.duckdb"
    fx.roi_review(path, events=False).close()
    result = run_roi(path, quarter="2026Q1", model="linear")

    assert result["scope"]["attribution_basis"] == "source only"
    assert result["attribution"]["rank_changes"] == []
    assert {r["channel"]: r["revenue"] for r in result["by_channel"] if r["revenue"]} == {
        "search": 3100.0, "referral": 1000.0, "social": 999.99,
    }  # fmt: skip


# ----- the commands -----


def test_roi_json_and_table(roi_db, capsys):
    assert cli.main(["roi", "--db", str(roi_db), "--quarter", "2026Q1", "--format", "json",
                     "--model", "time_decay", "--half-life", "7"]) == 0  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert result["scope"]["model"] == "time_decay"
    assert {r["channel"]: r["revenue"] for r in result["by_channel"]}["social"] == 2050.65

    assert cli.main(["roi", "--db", str(roi_db), "--quarter", "2026Q1"]) == 0
    text = capsys.readouterr().out
    assert "2026Q1: this quarter's budget of $2,500 produced 4 MQLs; 75.0% became SQLs." in text
    assert re.search(r"^TOTAL\s+\$2,500\.00\s+5\s+4\s+4\s+3\s+\$5,099\.99", text, re.M)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--quarter", "2030Q1"], "quarter 2030Q1 is not in the data (2025Q1 to 2026Q1)"),
        (["--quarter", "spring"], "not a quarter: 'spring'"),
    ],
)
def test_roi_bad_input_is_one_line_and_non_zero(roi_db, capsys, args, message):
    assert cli.main(["roi", "--db", str(roi_db), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize("args", [["--model", "last"], ["--half-life", "0"]])
def test_roi_refuses_unknown_models_and_half_lives(roi_db, capsys, args):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["roi", "--db", str(roi_db), *args])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_report_writes_a_self_contained_review(tmp_path, capsys):
    roi_db = tmp_path / "planned.duckdb"
    con = fx.roi_review(roi_db)
    con.execute("insert into targets values ('2026-01-01', 4, 6000)")
    con.close()
    out = tmp_path / "review.html"

    assert cli.main(["report", "--db", str(roi_db), "--quarter", "2026Q1", "--out", str(out)]) == 0
    html = out.read_text()
    # plotly.js inline, once; no script from the network
    assert html.count(plotly.offline.get_plotlyjs()) == 1
    rest = html.replace(plotly.offline.get_plotlyjs(), "")
    assert not re.search(r"<script[^>]+src=", rest)
    assert "cdn.plot.ly" not in rest
    assert html.count('class="plotly-graph-div"') == 5
    assert "this quarter&#x27;s budget of $2,500 produced 4 MQLs; 75.0% became SQLs." in html
    # the plan: 3 of 4 customers (75%), 5,099.99 of 6,000 revenue (85%)
    assert (
        '<tr><td>Customers</td><td>4</td><td>3</td><td class="bad">75%</td><td>-1</td></tr>' in html
    )
    assert '<td>Revenue</td><td>$6,000</td><td>$5,100</td><td class="bad">85%</td>' in html
    # an existing file is kept unless --replace
    assert cli.main(["report", "--db", str(roi_db), "--quarter", "2026Q1", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_report_without_a_plan_says_so(roi_db, tmp_path):
    out = tmp_path / "review.html"
    assert cli.main(["report", "--db", str(roi_db), "--quarter", "2026Q1", "--out", str(out)]) == 0
    assert "No plan for this quarter: no targets are loaded" in out.read_text()


# ----- the page -----


def run_page(monkeypatch, database: Path) -> AppTest:
    """Return the app switched to the ROI page, after one run on the database file."""
    monkeypatch.setenv("FUNNELCAST_DB", str(database))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    return at.switch_page("pages/roi.py").run()


def cli_roi(capsys, database: Path, *args: str) -> dict:
    capsys.readouterr()
    assert cli.main(["roi", "--db", str(database), *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_page_shows_what_the_cli_computes(monkeypatch, demo_db, capsys):
    at = run_page(monkeypatch, demo_db)
    expected = cli_roi(capsys, demo_db, "--quarter", "2026Q3")

    assert not at.exception and not at.error
    assert expected["scorecard"]["sentence"] in [h.value for h in at.subheader]
    shown = {m.label: m.value for m in at.metric}
    totals = expected["totals"]
    currency = Currency(expected["currency"])
    assert shown["Spend"] == formats.money(totals["spend"], currency)
    assert shown["Revenue"] == formats.money(totals["revenue"], currency)
    assert shown["ROI"] == formats.share(totals["roi"])
    assert shown["Cost per MQL"] == formats.money(totals["cost_per_mql"], currency)
    assert shown["Cost per customer"] == formats.money(totals["cost_per_customer"], currency)
    table = at.dataframe[0].value
    assert table["channel"].tolist()[:-1] == [r["channel"] for r in expected["by_channel"]]
    assert table["roi_pct"].tolist()[-1] == pytest.approx(totals["roi"] * 100)
    assert table["mqls"].tolist()[:-1] == [r["mqls"] for r in expected["by_channel"]]
    assert len(at.get("download_button")) == 1

    # another model and half-life: the page follows the CLI
    at.selectbox(key="roi_model").set_value("time_decay")
    at.slider(key="roi_half_life").set_value(30).run()
    expected = cli_roi(capsys, demo_db, "--quarter", "2026Q3", "--model", "time_decay",
                       "--half-life", "30")  # fmt: skip
    table = at.dataframe[0].value
    assert table["revenue"].tolist()[:-1] == pytest.approx(
        [r["revenue"] for r in expected["by_channel"]]
    )
    assert not at.exception


def test_the_page_without_spend_or_events_says_what_to_load(monkeypatch, tmp_path):
    path = tmp_path / "partial.duckdb"
    fx.roi_review(path, spend=False, events=False).close()
    at = run_page(monkeypatch, path)

    assert not at.exception and not at.error
    infos = "\n".join(i.value for i in at.info)
    assert "No spend is loaded" in infos and "period_start, channel, campaign, amount" in infos
    assert "No events are loaded: attribution uses each lead's source only" in infos
    shown = {m.label: m.value for m in at.metric}
    assert shown["Revenue"] == formats.money(5099.99, USD)  # the sidebar opens on 2026Q1
    assert shown["ROI"] == "no spend"
