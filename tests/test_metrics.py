"""metrics(): the headline figures, worked out by hand on the quarter-review journeys.

The journeys, their quarters and the funnel rows they make are listed in fixtures.py and
test_queries.py (FUNNEL_FY_JANUARY). Every expected number below is counted from those.
"""

from __future__ import annotations

import math

import fixtures as fx
import pytest
from fixtures import Journey, Spend

from funnelcast.analytics import rollups
from funnelcast.analytics.metrics import metrics
from funnelcast.data import db
from funnelcast.data.context import MetricsInputError

FIGURE_KEYS = (
    "leads",
    "mqls",
    "sals",
    "sqls",
    "customers",
    "sqls_without_mql",
    "mqls_rejected",
    "lead_to_mql",
    "mql_to_sal",
    "mql_to_sql",
    "mql_to_customer",
    "sal_to_sql",
    "sql_to_customer",
    "revenue",
    "spend",
    "cost_per_lead",
    "cost_per_mql",
    "cost_per_sql",
    "cost_per_customer",
    "roi",
)
RATE_KEYS = (
    "lead_to_mql",
    "mql_to_sal",
    "mql_to_sql",
    "mql_to_customer",
    "sal_to_sql",
    "sql_to_customer",
)


def figures_of(result: dict) -> dict:
    """Return the flat headline figures of a metrics result (or of one of its channels)."""
    return {key: result[key] for key in FIGURE_KEYS}


def rate_of(successes: int, n: int, value, low, high) -> dict:
    """Return a rate as metrics() gives it: successes of n, its value and 95% Wilson interval,
    on a small sample (under 30)."""
    return {
        "successes": successes,
        "n": n,
        "value": value,
        "low": low,
        "high": high,
        "is_small_sample": True,
    }


def no_counts(**overrides) -> dict:
    """Return the figures of a scope with nothing in it, with some figures overridden."""
    figures = {key: 0 for key in FIGURE_KEYS[:7]}
    figures.update({key: None for key in RATE_KEYS})
    figures.update(
        revenue=0.0,
        spend=0.0,
        cost_per_lead=None,
        cost_per_mql=None,
        cost_per_sql=None,
        cost_per_customer=None,
        roi=None,
    )
    figures.update(overrides)
    return figures


@pytest.fixture(scope="module", params=["raw tables", "kept summary"])
def review(request):
    """A cursor on the quarter-review database (read only by these tests): every test runs on
    the raw tables, then with the funnel summary kept (funnelcast.analytics.rollups), which must
    give the same figures."""
    con = fx.quarter_review()
    if request.param == "kept summary":
        rollups.refresh(con.cursor())
        assert rollups.read(con.cursor(), 1) is not None
    yield con.cursor()
    con.close()


# =====================================================================================
# all history, overall and per channel
# =====================================================================================

# All six journeys, recorded MQLs. MQLs: straight_to_customer, mql_then_rejected,
# recycled_then_won, won_in_next_quarter; three of them reached SAL, SQL and customer.
# SQLs: those three and demo_request_without_mql; three became customers.
ALL_HISTORY = {
    "leads": 6,
    "mqls": 4,
    "sals": 4,
    "sqls": 4,
    "customers": 3,
    "sqls_without_mql": 1,
    "mqls_rejected": 1,
    "lead_to_mql": 4 / 6,
    "mql_to_sal": 3 / 4,
    "mql_to_sql": 3 / 4,
    "mql_to_customer": 3 / 4,
    "sal_to_sql": 3 / 3,
    "sql_to_customer": 3 / 4,
    "revenue": 35_000.0,  # 10 000 + 20 000 + 5 000
    "spend": 9_500.0,  # search 3 000 + 3 000 + 2 000, social 1 000, display 500
    "cost_per_lead": 9_500 / 6,
    "cost_per_mql": 9_500 / 4,
    "cost_per_sql": 9_500 / 4,
    "cost_per_customer": 9_500 / 3,
    "roi": (35_000 - 9_500) / 9_500,
}
BY_CHANNEL = {
    # spend_without_leads_channel: spend, no counts; every cost is a division by zero
    "display": no_counts(spend=500.0, roi=-1.0),
    # straight_to_customer, mql_then_rejected, won_in_next_quarter
    "search": {
        "leads": 3,
        "mqls": 3,
        "sals": 2,
        "sqls": 2,
        "customers": 2,
        "sqls_without_mql": 0,
        "mqls_rejected": 1,
        "lead_to_mql": 3 / 3,
        "mql_to_sal": 2 / 3,
        "mql_to_sql": 2 / 3,
        "mql_to_customer": 2 / 3,
        "sal_to_sql": 2 / 2,
        "sql_to_customer": 2 / 2,
        "revenue": 30_000.0,
        "spend": 8_000.0,
        "cost_per_lead": 8_000 / 3,
        "cost_per_mql": 8_000 / 3,
        "cost_per_sql": 4_000.0,
        "cost_per_customer": 4_000.0,
        "roi": (30_000 - 8_000) / 8_000,
    },
    # recycled_then_won, demo_request_without_mql, lead_only
    "social": {
        "leads": 3,
        "mqls": 1,
        "sals": 2,
        "sqls": 2,
        "customers": 1,
        "sqls_without_mql": 1,
        "mqls_rejected": 0,
        "lead_to_mql": 1 / 3,
        "mql_to_sal": 1.0,
        "mql_to_sql": 1.0,
        "mql_to_customer": 1.0,
        "sal_to_sql": 1.0,
        "sql_to_customer": 1 / 2,
        "revenue": 5_000.0,
        "spend": 1_000.0,
        "cost_per_lead": 1_000 / 3,
        "cost_per_mql": 1_000.0,
        "cost_per_sql": 500.0,
        "cost_per_customer": 1_000.0,
        "roi": (5_000 - 1_000) / 1_000,
    },
}


def test_metrics_of_all_history(review):
    result = metrics(review)
    assert figures_of(result) == pytest.approx(ALL_HISTORY)
    assert result["period_ratios"] == pytest.approx(
        {"sqls_per_mql": 4 / 4, "customers_per_sql": 3 / 4}
    )


def test_metrics_has_exactly_the_documented_keys(review):
    result = metrics(review)
    assert set(result) == {
        *FIGURE_KEYS,
        "period_ratios",
        "rates",
        "by_channel",
        "scope",
        "definitions",
        "currency",
    }
    assert result["currency"] == "USD"  # the default: the fixture sets none
    assert set(result["rates"]) == set(RATE_KEYS)
    for item in result["by_channel"]:
        assert set(item) == {"channel", *FIGURE_KEYS, "period_ratios", "rates"}


def test_metrics_per_channel(review):
    by_channel = metrics(review)["by_channel"]
    assert [item["channel"] for item in by_channel] == ["display", "search", "social"]
    for item in by_channel:
        assert figures_of(item) == pytest.approx(BY_CHANNEL[item["channel"]]), item["channel"]


def test_metrics_scope_of_all_history(review):
    assert metrics(review)["scope"] == {
        "quarter": None,
        "period_start": None,
        "period_end": None,
        "channel": None,
        "threshold": None,
        "mql_source": "recorded",
        "definition": {
            "definition_id": 1,
            "name": "2026 definition",
            "threshold": 50.0,
            "half_life_days": 30.0,
        },
        # the last thing the data saw: recycled_then_won's customer stage
        "as_of": "2026-05-10T00:00:00",
        "fiscal_year_start_month": 1,
        # see test_cohort_maturity_follows_the_slowest_tenth_of_past_journeys
        "cohort_is_mature": False,
    }


def test_rates_carry_their_n_and_interval(review):
    rates = metrics(review)["rates"]
    # 3 of 4 MQLs reached SQL; Wilson 95% for 3/4 is (0.3006, 0.9544)
    assert rates["mql_to_sql"] == pytest.approx(rate_of(3, 4, 0.75, 0.3006, 0.9544), abs=1e-4)


# =====================================================================================
# quarter scoping
# =====================================================================================


def test_metrics_of_one_quarter(review):
    result = metrics(review, quarter="2026Q1")
    # the 2026Q1 rows of FUNNEL_FY_JANUARY: display, search and social
    assert figures_of(result) == pytest.approx(
        {
            "leads": 5,
            "mqls": 3,
            "sals": 3,
            "sqls": 4,
            "customers": 1,
            "sqls_without_mql": 1,
            "mqls_rejected": 1,
            "lead_to_mql": 3 / 5,
            "mql_to_sal": 2 / 3,
            "mql_to_sql": 2 / 3,
            "mql_to_customer": 2 / 3,
            "sal_to_sql": 2 / 2,
            # of 2026Q1's four SQLs, straight_to_customer, won_in_next_quarter, recycled_then_won won
            "sql_to_customer": 3 / 4,
            "revenue": 10_000.0,
            "spend": 7_500.0,
            "cost_per_lead": 1_500.0,
            "cost_per_mql": 2_500.0,
            "cost_per_sql": 1_875.0,
            "cost_per_customer": 7_500.0,
            "roi": (10_000 - 7_500) / 7_500,
        }
    )
    assert result["scope"]["quarter"] == "2026Q1"
    assert result["scope"]["period_start"] == "2026-01-01"
    assert result["scope"]["period_end"] == "2026-04-01"
    assert [item["channel"] for item in result["by_channel"]] == ["display", "search", "social"]


def test_metrics_of_a_quarter_of_late_customers(review):
    # 2026Q2 only has the customers won from earlier MQLs, and April's search spend
    result = metrics(review, quarter="2026Q2")
    assert figures_of(result) == pytest.approx(
        no_counts(
            customers=2,
            revenue=25_000.0,
            spend=2_000.0,
            cost_per_customer=1_000.0,
            roi=(25_000 - 2_000) / 2_000,
        )
    )
    search, social = result["by_channel"]
    assert search["channel"] == "search"
    assert figures_of(search) == pytest.approx(
        no_counts(customers=1, revenue=20_000.0, spend=2_000.0, cost_per_customer=2_000.0, roi=9.0)
    )
    # no social spend in 2026Q2: cost and ROI would divide by zero
    assert social["channel"] == "social"
    assert figures_of(social) == pytest.approx(no_counts(customers=1, revenue=5_000.0))


def test_a_quarter_without_spend_has_no_cost_and_no_roi(review):
    result = metrics(review, quarter="2025Q4")
    assert figures_of(result) == pytest.approx(
        no_counts(
            leads=1,
            mqls=1,
            sals=1,
            lead_to_mql=1.0,
            mql_to_sal=1.0,
            mql_to_sql=1.0,
            mql_to_customer=1.0,
            sal_to_sql=1.0,
        )
    )


def test_quarters_follow_the_fiscal_year():
    # With a February start, fiscal years are named for the year they end in: the review's
    # data sits in 2026Q4 (Nov 2025-Jan 2026), 2027Q1 (Feb-Apr 2026) and 2027Q2 (May-Jul 2026),
    # and 2026Q1 is Feb-Apr 2025, before the data.
    con = fx.quarter_review(fy_start_month=2)
    result = metrics(con.cursor(), quarter="2027Q1")
    # the 2026-02-01 rows of FUNNEL_FY_FEBRUARY
    assert result["scope"]["period_start"] == "2026-02-01"
    assert result["scope"]["fiscal_year_start_month"] == 2
    assert {k: result[k] for k in ("leads", "mqls", "sqls", "customers", "revenue", "spend")} == {
        "leads": 3,
        "mqls": 2,
        "sqls": 4,
        "customers": 2,
        "revenue": 30_000.0,
        "spend": 5_000.0,
    }
    with pytest.raises(
        MetricsInputError, match=r"quarter 2026Q1 is not in the data \(2026Q4 to 2027Q2\)"
    ):
        metrics(con.cursor(), quarter="2026Q1")


# =====================================================================================
# channel scoping
# =====================================================================================


def test_metrics_of_one_channel_equal_its_row_in_by_channel(review):
    result = metrics(review, channel="social")
    assert figures_of(result) == pytest.approx(BY_CHANNEL["social"])
    assert [item["channel"] for item in result["by_channel"]] == ["social"]
    assert result["scope"]["channel"] == "social"


def test_metrics_of_one_channel_in_one_quarter(review):
    result = metrics(review, quarter="2026Q1", channel="social")
    # demo_request_without_mql and lead_only are new; recycled_then_won's SQL is here too
    assert figures_of(result) == pytest.approx(
        no_counts(
            leads=2,
            sals=1,
            sqls=2,
            sqls_without_mql=1,
            lead_to_mql=0.0,
            sql_to_customer=1 / 2,
            spend=1_000.0,
            cost_per_lead=500.0,
            cost_per_sql=500.0,
            roi=-1.0,
        )
    )


def test_metrics_of_a_channel_with_spend_only(review):
    assert figures_of(metrics(review, channel="display")) == pytest.approx(BY_CHANNEL["display"])


# =====================================================================================
# threshold scoping: computed MQLs
# =====================================================================================


def test_metrics_at_the_definitions_threshold(review):
    # Computed at 50: straight_to_customer (2026-01-08) and demo_request_without_mql
    # (2026-02-10) are the MQLs; both reached SQL, one became a customer. The SQLs without an
    # MQL are now won_in_next_quarter and recycled_then_won. Stages and money do not change.
    result = metrics(review, threshold=50)
    assert figures_of(result) == pytest.approx(
        {
            **ALL_HISTORY,
            "mqls": 2,
            "sqls_without_mql": 2,
            "mqls_rejected": 0,
            "lead_to_mql": 2 / 6,
            "mql_to_sal": 2 / 2,
            "mql_to_sql": 2 / 2,
            "mql_to_customer": 1 / 2,
            "sal_to_sql": 2 / 2,
            "cost_per_mql": 9_500 / 2,
        }
    )
    assert result["scope"]["mql_source"] == "computed"
    assert result["scope"]["threshold"] == 50


@pytest.mark.parametrize(
    "threshold, mqls",
    [
        pytest.param(0, 6, id="zero_every_lead"),
        pytest.param(55, 1, id="above_straight_to_customer_50"),
        pytest.param(80, 1, id="demo_request_exactly_80"),
        pytest.param(80.5, 0, id="above_everyone"),
    ],
)
def test_the_threshold_changes_the_mql_count(review, threshold, mqls):
    result = metrics(review, threshold=threshold)
    assert result["mqls"] == mqls
    assert result["cost_per_mql"] == (pytest.approx(9_500 / mqls) if mqls else None)
    assert result["leads"] == 6 and result["sqls"] == 4  # what the CRM recorded stays


# =====================================================================================
# rates with their n and interval, on a cohort of ten MQLs
# =====================================================================================

# Ten MQLs in 2026Q1 from email, five of which reached SQL, none won yet: the textbook
# numbers 5 of 10 and 0 of 10.
TEN_MQLS = [
    Journey(
        f"mql_{i:02d}",
        f"2026-01-{i + 1:02d}",
        "email",
        stages=[("mql", f"2026-01-{i + 2:02d}")] + ([("sql", "2026-02-01")] if i < 5 else []),
    )
    for i in range(10)
]


def test_rates_with_wilson_intervals_on_ten_mqls():
    con = fx.build(TEN_MQLS, spend=[Spend("2026-01-01", "email", 2_000)])
    result = metrics(con.cursor())
    rates = result["rates"]
    assert rates["mql_to_sql"] == pytest.approx(rate_of(5, 10, 0.5, 0.2366, 0.7634), abs=1e-4)
    assert rates["mql_to_customer"] == pytest.approx(rate_of(0, 10, 0.0, 0.0, 0.2775), abs=1e-4)
    # 0 of 5: upper bound z^2 / (n + z^2) = 3.8415 / 8.8415
    assert rates["sql_to_customer"] == pytest.approx(rate_of(0, 5, 0.0, 0.0, 0.4345), abs=1e-4)
    assert rates["lead_to_mql"] == pytest.approx(rate_of(10, 10, 1.0, 0.7225, 1.0), abs=1e-4)
    assert result["cost_per_mql"] == 200.0
    assert result["cost_per_sql"] == 400.0
    assert result["cost_per_customer"] is None  # no customers
    assert result["roi"] == -1.0  # spent 2 000, won nothing


def test_a_rate_on_thirty_or_more_is_not_a_small_sample():
    journeys = [
        Journey(f"mql_{i:02d}", "2026-01-05", "email", stages=[("mql", "2026-01-06")])
        for i in range(30)
    ]
    rates = metrics(fx.build(journeys).cursor())["rates"]
    assert (rates["mql_to_sql"]["n"], rates["mql_to_sql"]["is_small_sample"]) == (30, False)


# =====================================================================================
# cohort maturity
# =====================================================================================

# Past MQL-to-customer journeys took 50 (straight_to_customer), 40 (won_in_next_quarter) and
# 160 days (recycled_then_won): their 90th percentile is 50 + 0.8 x 110 = 138 days. 2025Q4
# ended on 2026-01-01; 138 days later is 2026-05-19.


@pytest.mark.parametrize(
    "as_of, quarter, is_mature",
    [
        pytest.param(None, "2025Q4", False, id="data_ends_2026-05-10"),
        pytest.param("2026-05-18T23:59:00", "2025Q4", False, id="a_minute_short"),
        pytest.param("2026-05-19T00:00:00", "2025Q4", True, id="on_the_day"),
        pytest.param("2026-05-19T00:00:00", "2026Q1", False, id="next_quarter_not_yet"),
        pytest.param("2027-01-01T00:00:00", None, True, id="all_quarters_later"),
    ],
)
def test_cohort_maturity_follows_the_slowest_tenth_of_past_journeys(as_of, quarter, is_mature):
    con = fx.quarter_review()
    if as_of:
        db.set_meta(con, "as_of", as_of)
    assert metrics(con.cursor(), quarter=quarter)["scope"]["cohort_is_mature"] is is_mature


# =====================================================================================
# partial data and bad input
# =====================================================================================


def test_metrics_of_an_empty_database():
    result = metrics(fx.build().cursor())
    assert figures_of(result) == no_counts()
    assert result["by_channel"] == []
    assert result["scope"]["as_of"] is None
    assert result["scope"]["cohort_is_mature"] is None
    assert result["rates"]["mql_to_sql"] == rate_of(0, 0, None, None, None)


@pytest.mark.parametrize(
    "arguments, message",
    [
        pytest.param(
            {"quarter": "2024Q1"},
            r"^quarter 2024Q1 is not in the data \(2025Q4 to 2026Q2\)$",
            id="unknown_quarter",
        ),
        pytest.param({"quarter": "2026Q5"}, r"^not a quarter: '2026Q5'", id="quarter_five"),
        pytest.param({"quarter": "last"}, r"^not a quarter: 'last'", id="quarter_in_words"),
        pytest.param(
            {"channel": "tiktok"},
            r"^unknown channel 'tiktok' \(known channels: display, search, social\)$",
            id="unknown_channel",
        ),
        pytest.param(
            {"channel": "Search"}, r"^unknown channel 'Search'", id="channel_case_matters"
        ),
        pytest.param(
            {"threshold": -1}, r"^threshold must be a number >= 0, not -1$", id="negative_threshold"
        ),
        pytest.param(
            {"threshold": math.nan},
            r"^threshold must be a number >= 0, not nan$",
            id="nan_threshold",
        ),
    ],
)
def test_metrics_refuses_what_the_data_cannot_answer(review, arguments, message):
    with pytest.raises(MetricsInputError, match=message):
        metrics(review, **arguments)


def test_a_threshold_needs_a_definition_in_force():
    con = fx.build(fx.QUARTER_REVIEW_JOURNEYS)  # no definitions at all
    with pytest.raises(MetricsInputError, match="no MQL definition is in force"):
        metrics(con.cursor(), threshold=50)


def test_a_definition_taking_effect_after_the_data_is_not_in_force():
    planned = fx.Definition(7, "2026-07-01", 50, 30)  # the data ends 2026-05-10
    con = fx.build(fx.QUARTER_REVIEW_JOURNEYS, definitions=[planned])
    assert metrics(con.cursor())["scope"]["definition"] is None
    with pytest.raises(MetricsInputError, match="no MQL definition is in force"):
        metrics(con.cursor(), threshold=50)
