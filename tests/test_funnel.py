"""The Funnel page's figures: the lead funnel and its breakdown, MQL cohort curves, time in stage
and non-linear journeys. SQL on the funnel-review journeys (tests/fixtures.py) with results
worked out by hand; properties with hypothesis; the CLI; the page in AppTest against the CLI.

Weekdays used below: 2026-01-01 is a Thursday; 2026-02-01 and 2026-03-01 are Sundays.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import fixtures as fx
import polars as pl
import pytest
from apptest_support import navigation_only, release_streamlit_caches, run_app  # noqa: F401
from cli_support import assert_one_line_failure, cli_json, cli_text, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from streamlit.testing.v1 import AppTest

from funnelcast.analytics import cohorts, funnel, scope
from funnelcast.analytics import journeys as journey_flows
from funnelcast.data import db
from funnelcast.data.context import load_context

Q4_2025, Q1_2026 = dt.date(2025, 10, 1), dt.date(2026, 1, 1)


# =====================================================================================
# queries/funnel_steps.sql
# =====================================================================================


STEP_COLUMNS = (
    "quarter_start", "segment", "count_leads", "count_reached_mql", "count_reached_sal",
    "count_reached_sql", "count_reached_customer", "count_mql_skipped",
)  # fmt: skip


@pytest.mark.parametrize(
    "channel, dimension, rows",
    [
        # 2026Q1 created ten leads (recycled_then_won is 2025Q4's). Reached MQL: all but
        # lead_only, two of them without a recorded MQL (demo_request_without_mql,
        # direct_sql_without_mql). Reached SAL: all but lead_only, mql_then_rejected,
        # mql_awaiting_sales. SQL: less sal_then_dropped. Customers: straight_to_customer,
        # won_in_next_quarter, won_after_long_wait, not_ready_then_won (counted in their
        # creation quarter).
        pytest.param(
            None,
            None,
            [(Q4_2025, "all", 1, 1, 1, 1, 1, 0), (Q1_2026, "all", 10, 9, 7, 6, 4, 2)],
            id="each-creation-quarter-with-stages-reached-or-passed",
        ),
        # search in 2026Q1: straight_to_customer (vp), mql_then_rejected, won_in_next_quarter,
        # mql_awaiting_sales (no seniority).
        pytest.param(
            "search",
            "seniority",
            [(Q1_2026, "(unknown)", 3, 3, 1, 1, 1, 0), (Q1_2026, "vp", 1, 1, 1, 1, 1, 0)],
            id="by-an-allowed-dimension-with-unknowns-named",
        ),
    ],
)
def test_lead_funnel_counts(funnel_review, channel, dimension, rows):
    frame = db.run(
        funnel_review, "funnel_steps", fy_start_month=1, channel=channel, dimension=dimension
    )
    expected = pl.DataFrame(rows, schema=STEP_COLUMNS, orient="row")
    assert_frame_equal(frame, expected, check_dtypes=False)


def test_funnel_steps_give_step_and_top_rates_with_their_n(funnel_review):
    ctx = load_context(funnel_review)
    view = funnel.funnel_view(funnel.funnel_steps(funnel_review, ctx), ctx, "2026Q1", 0.0)
    counts = [(s["stage"], s["count"], s["lost"]) for s in view["steps"]]
    assert counts == [
        ("leads", 10, None),
        ("mql", 9, 1),
        ("sal", 7, 2),
        ("sql", 6, 1),
        ("customer", 4, 2),
    ]
    sal = view["steps"][2]
    assert (sal["from_previous"]["successes"], sal["from_previous"]["n"]) == (7, 9)
    assert (sal["from_top"]["successes"], sal["from_top"]["n"]) == (7, 10)
    assert sal["from_previous"]["is_small_sample"]
    assert view["mql_skipped"] == 2


def test_breakdown_names_come_from_the_allow_list_only(funnel_review):
    ctx = load_context(funnel_review)
    with pytest.raises(scope.FunnelInputError, match="unknown breakdown 'job_title'"):
        funnel.funnel_steps(funnel_review, ctx, by="job_title")
    with pytest.raises(scope.FunnelInputError, match="unknown breakdown"):
        funnel.funnel_steps(funnel_review, ctx, by="channel; drop table leads")


def test_a_young_creation_cohort_is_immature():
    ctx = load_context(fx.funnel_review())
    assert not funnel.is_mature(ctx, "2026Q1", days=120)  # 2026-04-01 + 120 days > 2026-06-30
    assert funnel.is_mature(ctx, "2026Q1", days=60)


# =====================================================================================
# queries/cohort_curves.sql and the survival estimate
# =====================================================================================


def cohort_curves(con, grain: str = "quarter", channel: str | None = None) -> pl.DataFrame:
    """Return queries/cohort_curves.sql's rows as of 2026-07-01, the year starting in January,
    summed over the channels in scope as the page sums them."""
    frame = db.run(
        con,
        "cohort_curves",
        as_of=dt.datetime(2026, 7, 1),
        grain=grain,
        fy_start_month=1,
        channel=channel,
    )
    return cohorts.over_channels(frame)


def test_cohort_curves_count_conversions_and_censoring_by_day_since_the_first_mql(funnel_review):
    frame = cohort_curves(funnel_review)
    sql_q1 = frame.filter((pl.col("cohort_start") == Q1_2026) & (pl.col("outcome") == "sql"))
    # converted: won_in_next_quarter 14 d, straight_to_customer 22, won_after_long_wait 44,
    # not_ready_then_won 60 (from its first MQL); still without SQL on 2026-07-01:
    # mql_awaiting_sales 98 d, mql_then_rejected 150, sal_then_dropped 168.
    assert sql_q1.select("day", "count_converted", "count_censored").rows() == [
        (14, 1, 0),
        (22, 1, 0),
        (44, 1, 0),
        (60, 1, 0),
        (98, 0, 1),
        (150, 0, 1),
        (168, 0, 1),
    ]
    # recycled_then_won's cohort is its first MQL's (2025-12-01): SQL on day 90, customer 160.
    q4 = frame.filter(pl.col("cohort_start") == Q4_2025)
    assert q4.select("outcome", "day", "count_converted").rows() == [
        ("customer", 160, 1),
        ("sql", 90, 1),
    ]


def test_cohort_curves_carry_the_lead_channel_and_add_over_channels(funnel_review):
    # one channel's rows are its own, and the channels' rows sum to the cohorts of all
    def raw(channel):
        return db.run(
            funnel_review,
            "cohort_curves",
            as_of=dt.datetime(2026, 7, 1),
            grain="quarter",
            fy_start_month=1,
            channel=channel,
        )

    every = raw(None)
    channels = every["channel"].unique().sort().to_list()
    assert len(channels) > 1
    each = [raw(channel) for channel in channels]
    assert all(part["channel"].unique().to_list() == [c] for part, c in zip(each, channels))
    assert (
        pl.concat(each)
        .sort("channel", maintain_order=True)
        .equals(every.sort("channel", maintain_order=True))
    )
    summed = cohorts.over_channels(every)
    assert summed.columns == ["cohort_start", "outcome", "day", "count_converted", "count_censored"]
    assert summed["count_converted"].sum() == every["count_converted"].sum() > 0


def test_cohort_curves_by_month_and_channel(funnel_review):
    frame = cohort_curves(funnel_review, grain="month", channel="search")
    # search MQLs: straight_to_customer (January), mql_then_rejected (February),
    # won_in_next_quarter and mql_awaiting_sales (March)
    sizes = (
        frame.filter(pl.col("outcome") == "sql")
        .group_by("cohort_start")
        .agg((pl.col("count_converted") + pl.col("count_censored")).sum().alias("n"))
        .sort("cohort_start")
    )
    assert sizes.rows() == [
        (dt.date(2026, 1, 1), 1),
        (dt.date(2026, 2, 1), 1),
        (dt.date(2026, 3, 1), 2),
    ]


def test_the_survival_curve_drops_the_censored_from_those_at_risk():
    days = pl.DataFrame(
        {"day": [10, 20, 30], "count_converted": [1, 0, 1], "count_censored": [0, 2, 0]}
    )
    curve = cohorts.survival_curve(days)
    # day 10: 1 of 4 converts (3/4 left); day 20: two leave unconverted; day 30: 1 of 1 converts
    assert curve["at_risk"].to_list() == [4, 3, 1]
    assert curve["share"].to_list() == pytest.approx([0.25, 0.25, 1.0])


def test_the_eventual_estimate_adds_the_expected_late_conversions_of_the_unconverted():
    # Reference: a quarter convert by day 10, half eventually.
    reference = cohorts.Reference(
        pl.DataFrame(
            {"day": [10, 40], "at_risk": [100, 50], "converted": [25, 25], "share": [0.25, 0.5]}
        ),
        plateau=0.5,
        horizon_days=40.0,
    )
    young = pl.DataFrame({"day": [5, 10], "count_converted": [1, 0], "count_censored": [0, 2]})
    # two leads unconverted at day 10 each convert later with (0.5 - 0.25) / (1 - 0.25) = 1/3
    assert cohorts.eventual_estimate(young, reference) == pytest.approx(1 + 2 / 3)
    old = pl.DataFrame({"day": [5, 60], "count_converted": [1, 0], "count_censored": [0, 2]})
    assert cohorts.eventual_estimate(old, reference) == pytest.approx(1.0)


def test_the_reference_curve_finds_its_plateau_and_horizon(funnel_review):
    frame = cohort_curves(funnel_review)
    reference = cohorts.reference_curve(frame.filter(pl.col("outcome") == "sql"))
    # pooled: conversions on days 14, 22, 44, 60, 90 among 8, three censored after day 90:
    # 1 - 7/8 * 6/7 * 5/6 * 4/5 * 3/4 = 5/8; 90% of it (0.5625) is first reached on day 90
    assert reference.plateau == pytest.approx(5 / 8)
    assert reference.horizon_days == 90


def test_cohort_report_marks_young_cohorts_immature_and_their_estimate_as_such(funnel_review):
    ctx = load_context(funnel_review)
    result = cohorts.cohorts(cohorts.cohort_frame(funnel_review, ctx), ctx)
    by_label = {c["cohort"]: c for c in result["outcomes"]["sql"]["cohorts"]}
    q1 = by_label["2026Q1"]
    assert q1["mqls"] == 7
    assert (q1["observed"]["successes"], q1["observed"]["n"]) == (4, 7)
    assert q1["estimate"]["is_estimate"] is True
    assert 4 / 7 <= q1["estimate"]["value"] <= 1
    # its youngest MQL (2026-03-31) has had 90 days, the pooled horizon is 90 (as above,
    # with as-of at the end of 2026-06-30 the censored ages are one day shorter)
    assert q1["youngest_days"] == pytest.approx(91.0, abs=0.01)


# =====================================================================================
# queries/time_in_stage.sql
# =====================================================================================


def test_time_in_stage_over_all_quarters_and_channels(funnel_review):
    frame = db.run(funnel_review, "time_in_stage", fy_start_month=1, channel=None)
    overall = frame.filter(pl.col("is_all_quarters") & pl.col("is_all_channels")).sort("step")
    # mql_to_sal: 2 (straight), 2 (recycled_then_won), 14 (won_in_next_quarter: SQL first),
    # 12 (won_after_long_wait), 1 (sal_then_dropped), 53 (not_ready_then_won, from its first MQL)
    # sal_to_sql: 20, 88, 32, 7; sql_to_customer: 28, 70, 26, 101, 41
    assert overall.select("step", "count_leads", "median_days", "p90_days").rows() == [
        ("mql_to_sal", 6, 7.0, pytest.approx(33.5)),
        ("sal_to_sql", 4, 26.0, pytest.approx(71.2)),
        ("sql_to_customer", 5, 41.0, pytest.approx(88.6)),
    ]


def test_time_in_stage_per_quarter_the_step_began_and_channel(funnel_review):
    frame = db.run(funnel_review, "time_in_stage", fy_start_month=1, channel=None)
    q4 = frame.filter(pl.col("quarter_start") == Q4_2025).sort("step", "is_all_channels")
    assert q4.select("step", "channel", "is_all_channels", "count_leads", "median_days").rows() == [
        ("mql_to_sal", "social", False, 1, 2.0),
        ("mql_to_sal", None, True, 1, 2.0),
        ("sal_to_sql", "social", False, 1, 88.0),
        ("sal_to_sql", None, True, 1, 88.0),
    ]
    search = frame.filter(
        (pl.col("quarter_start") == Q1_2026)
        & (pl.col("channel") == "search")
        & (pl.col("step") == "sql_to_customer")
    )
    assert search.select("count_leads", "p10_days", "median_days").rows() == [
        (2, pytest.approx(26.2), 27.0)
    ]


# =====================================================================================
# queries/journeys.sql and the flows
# =====================================================================================


PATTERN_COLUMNS = (*journey_flows.PATTERN, "count_leads")


def test_journey_patterns_of_a_quarter(funnel_review):
    rows = db.run(funnel_review, "journeys", fy_start_month=1, channel=None)
    frame = journey_flows.over_channels(rows)
    # the rows carry the lead's channel: one channel's rows are its own, and the channels'
    # rows sum to the patterns of all
    channels = rows["channel"].unique().to_list()
    assert len(channels) > 1
    each = [
        db.run(funnel_review, "journeys", fy_start_month=1, channel=channel) for channel in channels
    ]
    assert all(part["channel"].unique().to_list() == [c] for part, c in zip(each, channels))
    assert journey_flows.over_channels(pl.concat(each)).equals(frame)
    q1 = frame.filter(pl.col("quarter_start") == Q1_2026).select(PATTERN_COLUMNS)
    assert sorted(q1.rows(), key=str) == sorted(
        [
            ("demo_request", None, False, False, None, "open_sql", True, None, 1),
            ("direct", None, False, False, None, "open_sql", True, None, 1),
            # straight_to_customer, won_after_long_wait (SAL recorded)
            ("mql", "accepted", False, False, None, "customer", False, None, 2),
            # won_in_next_quarter: SQL without a SAL record
            ("mql", "accepted", False, False, None, "customer", True, None, 1),
            ("mql", "accepted", False, False, None, "dropped_at_sal", False, None, 1),
            ("mql", "awaiting", False, False, None, None, False, None, 1),
            ("mql", "rejected", False, False, None, None, False, None, 1),
            ("mql", "rejected", True, True, "accepted", "customer", False, "customer", 1),
            ("none", None, False, False, None, None, False, None, 1),
        ],
        key=str,
    )
    # recycled_then_won: accepted, recycled, back, accepted again (SQL) and won
    q4 = frame.filter(pl.col("quarter_start") == Q4_2025).select(PATTERN_COLUMNS)
    assert q4.rows() == [
        ("mql", "accepted", True, True, "accepted", "customer", False, "customer", 1)
    ]


def test_journeys_summarise_skips_recycling_and_the_flows(funnel_review):
    ctx = load_context(funnel_review)
    result = journey_flows.journeys(journey_flows.journeys_frame(funnel_review, ctx), "2026Q1")
    assert result["leads"] == 10
    assert result["entered_sales"] == {"mql": 7, "demo_request": 1, "direct": 1}
    assert result["never_reached_sales"] == 1  # lead_only
    assert result["sqls_without_mql"] == {"demo_request": 1, "direct": 1}
    assert (result["sqls"], result["customers"], result["customers_without_mql"]) == (6, 4, 0)
    assert result["sal_skipped"] == 3
    assert result["recycled"]["leads"] == 1
    assert result["recycled"]["won_later"]["successes"] == 1
    links = {(link["source"], link["target"]): link["count"] for link in result["sankey"]["links"]}
    assert links == {
        ("MQL", "Accepted (SAL)"): 4,
        ("Accepted (SAL)", "SQL"): 3,
        ("SQL", "Customer"): 4,
        ("Accepted (SAL)", "Dropped at SAL"): 1,
        ("MQL", "Rejected"): 2,
        ("Rejected", "Recycled"): 1,
        ("Recycled", "Back as MQL"): 1,
        ("Back as MQL", "Accepted on return"): 1,
        ("Accepted on return", "SQL"): 1,
        ("MQL", "Awaiting sales"): 1,
        ("Demo request, no MQL", "SQL"): 1,
        ("Direct, no MQL", "SQL"): 1,
        ("SQL", "Open opportunity"): 2,
    }


def test_a_recycled_lead_that_never_came_back_ends_in_nurturing():
    pattern = {
        "entry": "mql",
        "first_response": "rejected",
        "is_recycled": True,
        "is_back": False,
        "second_response": None,
        "outcome": None,
    }
    assert journey_flows.journey_path(pattern) == ["MQL", "Rejected", "Recycled", "Nurturing"]


# =====================================================================================
# properties
# =====================================================================================

STAGE_NAMES = ("mql", "sal", "sql", "customer", "rejected", "recycled", "disqualified")


@st.composite
def random_journeys(draw) -> list[fx.Journey]:
    """Return up to eight leads with any stages, in any order, at any days after creation."""
    journeys = []
    for i in range(draw(st.integers(1, 8))):
        created = dt.date(2025, 10, 1) + dt.timedelta(days=draw(st.integers(0, 200)))
        stages = draw(st.lists(st.sampled_from(STAGE_NAMES), unique=True, max_size=5))
        journeys.append(
            fx.Journey(
                f"L{i}",
                created.isoformat(),
                draw(st.sampled_from(["search", "social"])),
                stages=[
                    (s, (created + dt.timedelta(days=draw(st.integers(0, 120)))).isoformat())
                    for s in stages
                ],
            )
        )
    return journeys


@given(random_journeys())
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_stage_counts_never_grow_down_the_funnel_and_rates_stay_in_0_1(journeys):
    con = fx.build(journeys)
    try:
        ctx = load_context(con)
        frame = funnel.funnel_steps(con, ctx, by="channel")
        for row in frame.to_dicts():
            counts = [row[funnel.STEP_COUNTS[s]] for s in funnel.STAGES]
            assert counts == sorted(counts, reverse=True), row
        for quarter in [None, *frame["quarter"].unique().to_list()]:
            for step in funnel.funnel_view(frame, ctx, quarter, 0.0)["steps"]:
                for r in (step["from_previous"], step["from_top"]):
                    assert (
                        r is None
                        or r["value"] is None
                        or 0 <= r["low"] <= r["value"] <= r["high"] <= 1
                    )
        journeys_result = journey_flows.journeys(journey_flows.journeys_frame(con, ctx), None)
        inflow: dict[str, int] = {}
        outflow: dict[str, int] = {}
        for link in journeys_result["sankey"]["links"]:
            outflow[link["source"]] = outflow.get(link["source"], 0) + link["count"]
            inflow[link["target"]] = inflow.get(link["target"], 0) + link["count"]
        # nobody appears from nowhere: a node passes on at most what reached it
        for node, out in outflow.items():
            if node not in journey_flows.ENTRY_NODES.values():
                assert out <= inflow.get(node, 0), node
        assert outflow.get("MQL", 0) == journeys_result["entered_sales"]["mql"]
        for outcome in cohorts.cohorts(cohorts.cohort_frame(con, ctx), ctx)["outcomes"].values():
            for c in outcome["cohorts"]:
                assert 0 <= c["observed"]["value"] <= c["estimate"]["value"] <= 1
    finally:
        con.close()


# =====================================================================================
# the command line
# =====================================================================================


def test_cli_funnel_json_has_the_period_and_the_previous_one(capsys, funnel_review_file):
    result = cli_json(
        capsys, "funnel", "--db", funnel_review_file, "--quarter", "2026Q1", "--by", "seniority"
    )
    assert [s["count"] for s in result["funnel"]["steps"]] == [10, 9, 7, 6, 4]
    assert result["previous"]["quarter"] == "2025Q4"
    assert [s["count"] for s in result["previous"]["steps"]] == [1, 1, 1, 1, 1]
    segments = {s["segment"]: s["leads"] for s in result["breakdown"]["segments"]}
    assert segments == {"(unknown)": 8, "vp": 1, "director": 1}
    assert result["journeys"]["sqls_without_mql"] == {"demo_request": 1, "direct": 1}


def test_cli_funnel_channel_scope(capsys, funnel_review_file):
    result = cli_json(
        capsys, "funnel", "--db", funnel_review_file, "--quarter", "2026Q1", "--channel", "social"
    )
    # social 2026Q1: demo_request_without_mql and lead_only
    assert [s["count"] for s in result["funnel"]["steps"]] == [2, 1, 1, 1, 0]


def test_cli_funnel_table_is_for_people(capsys, funnel_review_file):
    out = cli_text(capsys, "funnel", "--db", funnel_review_file, "--quarter", "2026Q1")
    assert "2026Q1 · all channels" in out
    assert "SAL" in out and "77.8% (n 9" in out  # 7 of 9 reached SAL


@pytest.mark.parametrize(
    "args, message",
    [
        (["--quarter", "2031Q1"], "quarter 2031Q1 is not in the data"),
        (["--channel", "fax"], "unknown channel 'fax'"),
        (["--by", "job_title"], "invalid choice: 'job_title'"),
    ],
)
def test_cli_funnel_bad_input_is_one_line_and_non_zero(funnel_review_file, args, message):
    done = run_cli("funnel", "--db", funnel_review_file, *args, "--format", "json")
    assert_one_line_failure(done, message)
    assert done.stdout == ""


# =====================================================================================
# the page, against the command line, on the demo database
# =====================================================================================


def run_page(
    demo_db: Path, monkeypatch, quarter: str | None = None, by: str | None = None
) -> AppTest:
    """Return the Funnel page run in AppTest on the demo database."""
    at = run_app(monkeypatch, demo_db)
    if quarter:
        at.selectbox(key="quarter").set_value(quarter).run()
    at.switch_page("pages/funnel.py").run()
    if by:
        at.selectbox(key="funnel_by").set_value(by).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_funnel_page_shows_the_cli_figures(demo_db, monkeypatch, capsys):
    at = run_page(demo_db, monkeypatch, quarter="2026Q2", by="company_size")
    expected = cli_json(
        capsys, "funnel", "--db", demo_db, "--quarter", "2026Q2", "--by", "company_size"
    )
    assert at.title[0].value == "Funnel"
    steps = at.dataframe[0].value
    assert steps["count"].tolist() == [s["count"] for s in expected["funnel"]["steps"]]
    assert steps["previous_count"].tolist() == [s["count"] for s in expected["previous"]["steps"]]
    assert steps["from_previous_pct"].tolist()[1:] == pytest.approx(
        [s["from_previous"]["value"] * 100 for s in expected["funnel"]["steps"][1:]]
    )
    segments = at.dataframe[1].value
    assert segments["segment"].tolist() == [s["segment"] for s in expected["breakdown"]["segments"]]
    assert segments["leads"].tolist() == [s["leads"] for s in expected["breakdown"]["segments"]]
    cohorts = at.dataframe[2].value
    shown = dict(zip(cohorts["cohort"], cohorts["estimate_pct"]))
    for c in expected["cohorts"]["outcomes"]["sql"]["cohorts"]:
        assert shown[c["cohort"]] == pytest.approx(c["estimate"]["value"] * 100)
    metrics = {m.label: m.value for m in at.metric}
    journeys = expected["journeys"]
    assert metrics["SQLs without an MQL"] == str(sum(journeys["sqls_without_mql"].values()))
    assert metrics["Recycled"] == str(journeys["recycled"]["leads"])
    median = expected["time_in_stage"]["overall"][0]
    assert metrics[f"{median['label']}: median"] == f"{median['median_days']:.1f} days"


def test_funnel_page_warns_about_an_immature_quarter(demo_db, monkeypatch):
    at = run_page(demo_db, monkeypatch, quarter="2026Q3")
    assert any("still young" in w.value for w in at.warning)


def test_funnel_page_on_a_database_without_stage_changes_says_what_is_missing(
    tmp_path, monkeypatch
):
    path = tmp_path / "leads_only.duckdb"
    con = fx.build([fx.LEAD_ONLY, fx.Journey("another", "2026-02-01", "search")], path=path)
    con.close()
    at = run_app(monkeypatch, path)
    at.switch_page("pages/funnel.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("no stage changes loaded" in i.value for i in at.info)
    assert at.dataframe[0].value["count"].tolist() == [2, 0, 0, 0, 0]


def test_the_breakdown_table_puts_the_previous_period_beside(funnel_review):
    ctx = load_context(funnel_review)
    frame = funnel.funnel_steps(funnel_review, ctx, by="channel")
    table = funnel.segments_table(
        funnel.breakdown(frame, "2026Q1"), funnel.breakdown(frame, "2025Q4")
    )
    social = table.filter(pl.col("segment") == "social").to_dicts()[0]
    # 2026Q1 social: 2 leads, 1 reached MQL (the demo request), no customer;
    # 2025Q4 social: recycled_then_won, an MQL and a customer
    assert (social["leads"], social["lead_to_mql_pct"], social["mql_to_customer_pct"]) == (
        2,
        50.0,
        0.0,
    )
    assert (social["previous_lead_to_mql_pct"], social["previous_mql_to_customer_pct"]) == (
        100.0,
        100.0,
    )
    search = table.filter(pl.col("segment") == "search").to_dicts()[0]
    assert search["previous_lead_to_mql_pct"] is None  # no search leads in 2025Q4
