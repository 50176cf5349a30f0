"""Each query in queries/ on a hand-made database, against rows worked out by hand.

Given a few named journeys, expect literal rows: the dbt unit-test shape. The comment above each
journey says why it is there; the comment above each expected row says how it was counted.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import fixtures as fx
import polars as pl
import pytest
from fixtures import Definition, Journey, at, day
from polars.testing import assert_frame_equal

from funnelcast.data import db


def expected(columns: dict[str, pl.DataType], rows: list[tuple]) -> pl.DataFrame:
    """Return a literal frame: column names with their types, then one tuple per row."""
    return pl.DataFrame(rows, schema=columns, orient="row")


# =====================================================================================
# schema.sql: constraints refuse bad rows
# =====================================================================================


@pytest.fixture
def known_lead_db():
    """A database with one lead, known_lead, for constraint checks to collide with."""
    con = fx.build([Journey("known_lead", "2026-01-01", "search")])
    yield con
    con.close()


@pytest.mark.parametrize(
    "statement, message",
    [
        pytest.param(
            "insert into stage_changes (lead_id, stage, changed_at) "
            "values ('known_lead', 'won', '2026-02-01')",
            r'CHECK constraint failed on table "stage_changes".*stage IN',
            id="unknown_stage",
        ),
        pytest.param(
            "insert into stage_changes (lead_id, stage, changed_at, amount) "
            "values ('known_lead', 'customer', '2026-02-01', -1)",
            r'CHECK constraint failed on table "stage_changes".*amount >= 0',
            id="negative_deal_amount",
        ),
        pytest.param(
            "insert into stage_changes (lead_id, stage, changed_at) "
            "values ('ghost', 'mql', '2026-02-01')",
            r'foreign key constraint because key "lead_id: ghost" does not exist',
            id="stage_change_of_unknown_lead",
        ),
        pytest.param(
            "insert into leads (lead_id, created_at, channel) "
            "values ('known_lead', '2026-03-01', 'social')",
            r'Duplicate key "lead_id: known_lead" violates primary key constraint',
            id="duplicate_lead_id",
        ),
        pytest.param(
            "insert into spend values ('2026-01-01', 'search', '', -0.01)",
            r'CHECK constraint failed on table "spend".*amount >= 0',
            id="negative_spend",
        ),
        pytest.param(
            "insert into leads (lead_id, created_at, channel, company_size) "
            "values ('tiny', '2026-01-01', 'search', -3)",
            r'CHECK constraint failed on table "leads".*company_size >= 0',
            id="negative_company_size",
        ),
        pytest.param(
            "insert into events (lead_id, occurred_at, event_type, content_stage) "
            "values ('known_lead', '2026-02-01', 'content_download', 'upper')",
            r'CHECK constraint failed on table "events".*content_stage IN',
            id="unknown_content_stage",
        ),
        pytest.param(
            "insert into definitions values (9, 'bad', '2026-01-01', -1, 30, '2026-01-01', null)",
            r'CHECK constraint failed on table "definitions".*threshold >= 0',
            id="negative_threshold",
        ),
        pytest.param(
            "insert into definitions values (9, 'bad', '2026-01-01', 50, 0, '2026-01-01', null)",
            r'CHECK constraint failed on table "definitions".*half_life_days > 0',
            id="zero_half_life",
        ),
    ],
)
def test_schema_refuses_bad_rows(known_lead_db, statement, message):
    tables = ("leads", "events", "stage_changes", "spend", "definitions")
    before = {t: fx.rows(known_lead_db, f"select count(*) from {t}")[0][0] for t in tables}
    with pytest.raises(duckdb.ConstraintException, match=message):
        known_lead_db.execute(statement)
    after = {t: fx.rows(known_lead_db, f"select count(*) from {t}")[0][0] for t in tables}
    assert after == before


def test_schema_records_version_and_fiscal_year():
    con = fx.new_database(fy_start_month=2)
    assert fx.rows(con, "select key, value from meta order by key") == [
        ("fiscal_year_start_month", "2"),
        ("schema_version", str(db.SCHEMA_VERSION)),
    ]


# =====================================================================================
# schema.sql: view lead_fit_attributes
# =====================================================================================


def test_company_size_bands_at_their_edges():
    # One lead per head count on either side of each band edge; a lead without a head count
    # has no band (no row), so no size rule can match it.
    sizes = [1, 10, 11, 50, 51, 200, 201, 1000, 1001, 5000, 5001, None]
    con = fx.build(
        [Journey(f"size_{size}", "2026-01-01", attributes={"company_size": size}) for size in sizes]
    )
    bands = fx.rows(
        con,
        "select leads.company_size, lead_fit_attributes.value "
        "from lead_fit_attributes join leads using (lead_id) "
        "where attribute = 'company_size_band' order by leads.company_size",
    )
    assert bands == [
        (1, "1-10"),
        (10, "1-10"),
        (11, "11-50"),
        (50, "11-50"),
        (51, "51-200"),
        (200, "51-200"),
        (201, "201-1000"),
        (1000, "201-1000"),
        (1001, "1001-5000"),
        (5000, "1001-5000"),
        (5001, "5000+"),
    ]


def test_fit_attributes_are_the_lead_values_that_are_set():
    # full_profile has every fit attribute; bare_lead only its channel, so it gets one row.
    con = fx.build(
        [
            Journey(
                "full_profile",
                "2026-01-01",
                "events",
                attributes={
                    "industry": "software",
                    "company_size": 300,
                    "country": "DE",
                    "region": "emea",
                    "seniority": "vp",
                    "job_title": "VP Marketing",  # not a fit attribute: no row
                },
            ),
            Journey("bare_lead", "2026-01-02", "direct"),
        ]
    )
    assert fx.rows(
        con, "select lead_id, attribute, value from lead_fit_attributes order by lead_id, attribute"
    ) == [
        ("bare_lead", "channel", "direct"),
        ("full_profile", "channel", "events"),
        ("full_profile", "company_size_band", "201-1000"),
        ("full_profile", "country", "DE"),
        ("full_profile", "industry", "software"),
        ("full_profile", "region", "emea"),
        ("full_profile", "seniority", "vp"),
    ]


# =====================================================================================
# schema.sql: view lead_milestones ("reached this stage or a later one")
# =====================================================================================

# A deal imported without its history: reaching customer means it reached SAL and SQL too.
CLOSED_WON_WITHOUT_HISTORY = Journey(
    "closed_won_without_history",
    "2026-01-02",
    "referral",
    stages=[("customer", "2026-03-03", 700)],
)
# The CRM got the SAL entered after the SQL: SAL was reached when SQL was.
SQL_RECORDED_BEFORE_SAL = Journey(
    "sql_recorded_before_sal",
    "2026-01-03",
    "email",
    stages=[("mql", "2026-01-20"), ("sql", "2026-02-01"), ("sal", "2026-02-05")],
)
# Won, then an upsell: revenue adds both deals; the customer stage was reached at the first.
UPSOLD_CUSTOMER = Journey(
    "upsold_customer",
    "2026-01-04",
    "search",
    stages=[
        ("mql", "2026-01-05"),
        ("sql", "2026-01-06"),
        ("customer", "2026-02-01", 1_000),
        ("customer", "2026-05-01", 500),
    ],
)


def test_lead_milestones_count_a_stage_reached_by_a_later_one():
    con = fx.build(
        [
            fx.STRAIGHT_TO_CUSTOMER,
            fx.MQL_THEN_REJECTED,
            fx.DEMO_REQUEST_WITHOUT_MQL,
            fx.RECYCLED_THEN_WON,
            fx.LEAD_ONLY,
            CLOSED_WON_WITHOUT_HISTORY,
            SQL_RECORDED_BEFORE_SAL,
            UPSOLD_CUSTOMER,
        ]
    )
    got = fx.rows(
        con,
        "select lead_id, recorded_mql_at, reached_sal_at, reached_sql_at, reached_customer_at, "
        "first_rejected_at, revenue from lead_milestones order by lead_id",
    )
    D = Decimal
    assert got == [
        # lead_id, recorded_mql_at, reached_sal_at, reached_sql_at, reached_customer_at,
        # first_rejected_at, revenue
        (
            "closed_won_without_history",
            None,
            at("2026-03-03"),
            at("2026-03-03"),
            at("2026-03-03"),
            None,
            D("700.00"),
        ),
        # SQL without any MQL record: SAL reached at the SQL; recorded_mql_at stays empty
        (
            "demo_request_without_mql",
            None,
            at("2026-02-11"),
            at("2026-02-11"),
            None,
            None,
            D("0.00"),
        ),
        ("lead_only", None, None, None, None, None, D("0.00")),
        ("mql_then_rejected", at("2026-02-01"), None, None, None, at("2026-02-05"), D("0.00")),
        # the first of its two MQL records
        (
            "recycled_then_won",
            at("2025-12-01"),
            at("2025-12-03"),
            at("2026-03-01"),
            at("2026-05-10"),
            None,
            D("5000.00"),
        ),
        (
            "sql_recorded_before_sal",
            at("2026-01-20"),
            at("2026-02-01"),
            at("2026-02-01"),
            None,
            None,
            D("0.00"),
        ),
        (
            "straight_to_customer",
            at("2026-01-10"),
            at("2026-01-12"),
            at("2026-02-01"),
            at("2026-03-01"),
            None,
            D("10000.00"),
        ),
        (
            "upsold_customer",
            at("2026-01-05"),
            at("2026-01-06"),
            at("2026-01-06"),
            at("2026-02-01"),
            None,
            D("1500.00"),
        ),
    ]


# =====================================================================================
# lead_scores.sql
# =====================================================================================

AS_OF_MARCH = "2026-03-01"  # 2026-01-30 is 30 days before, one half-life of SCORING_2026

LEAD_SCORE_JOURNEYS = [
    # 40 points 30 days before as_of with a 30-day half-life count 20; its second webinar
    # comes after as_of and must not count.
    Journey(
        "webinar_a_month_ago",
        "2026-01-01",
        events=[("webinar_attended", "2026-01-30"), ("webinar_attended", "2026-03-31")],
    ),
    # three downloads worth 60 are capped at 30; the cap is per event type, so the webinar's 40
    # adds on top; 300 employees is the 201-1000 band, +10.
    Journey(
        "many_downloads_capped",
        "2026-01-01",
        attributes={"company_size": 300},
        events=[("content_download", AS_OF_MARCH)] * 3 + [("webinar_attended", AS_OF_MARCH)],
    ),
    # an unsubscribe counts against, and a penalty does not fade: still -20 a half-life later
    Journey(
        "unsubscribed",
        "2026-01-01",
        attributes={"seniority": "vp"},
        events=[("unsubscribe", "2026-01-30")],
    ),
    # a VP in a region the company does not sell to: scored, but never above the threshold
    Journey(
        "disqualified_vp_in_apac",
        "2026-01-01",
        attributes={"seniority": "vp", "region": "apac"},
        events=[("demo_request", AS_OF_MARCH)],
    ),
    # created after as_of: not yet a lead on that day
    Journey("created_after_as_of", "2026-03-02", attributes={"seniority": "c_level"}),
    # events of a type no rule scores add nothing
    Journey(
        "opens_only_unscored",
        "2026-02-01",
        events=[("email_open", "2026-02-10"), ("email_open", "2026-02-11")],
    ),
    # fit alone: a C-level lead is above the threshold without doing anything
    Journey("c_level_cold", "2026-01-01", attributes={"seniority": "c_level"}),
]


def test_lead_scores_are_decayed_capped_sums_as_of_a_moment():
    con = fx.build(LEAD_SCORE_JOURNEYS, definitions=[fx.SCORING_2026])
    got = db.run(con, "lead_scores", definition_id=1, as_of=at(AS_OF_MARCH))
    assert_frame_equal(
        got,
        expected(
            {
                "lead_id": pl.String,
                "fit_points": pl.Float64,
                "behaviour_points": pl.Float64,
                "score": pl.Float64,
                "is_disqualified": pl.Boolean,
                "is_above_threshold": pl.Boolean,
            },
            [
                ("c_level_cold", 60.0, 0.0, 60.0, False, True),
                ("disqualified_vp_in_apac", 30.0, 80.0, 110.0, True, False),
                ("many_downloads_capped", 10.0, 70.0, 80.0, False, True),
                ("opens_only_unscored", 0.0, 0.0, 0.0, False, False),
                ("unsubscribed", 30.0, -20.0, 10.0, False, False),
                ("webinar_a_month_ago", 0.0, 20.0, 20.0, False, False),
            ],
        ),
    )


def test_lead_scores_of_an_unknown_definition_are_empty():
    con = fx.build(LEAD_SCORE_JOURNEYS, definitions=[fx.SCORING_2026])
    assert db.run(con, "lead_scores", definition_id=99, as_of=at(AS_OF_MARCH)).height == 0


def test_lead_scores_decay_a_quarter_after_two_half_lives():
    # the same webinar (40 points on 2026-01-30) seen 60 days later, on 2026-03-31
    con = fx.build([LEAD_SCORE_JOURNEYS[0]], definitions=[fx.SCORING_2026])
    got = db.run(con, "lead_scores", definition_id=1, as_of=at("2026-03-31"))
    # 40 x 0.25 from the first webinar + 40 from the second, on the day
    assert got.select("lead_id", "score").rows() == [("webinar_a_month_ago", 50.0)]
    assert got["is_above_threshold"].to_list() == [True]


# =====================================================================================
# computed_mql_moments.sql
# =====================================================================================

MQL_MOMENT_JOURNEYS = [
    # 20 on day one, then a webinar 30 days later: 20 x 0.5 + 40 = 50, exactly the threshold.
    # The moment is the webinar, not the lead's creation, nor the later download.
    Journey(
        "builds_up_to_mql",
        "2026-01-01",
        events=[
            ("content_download", "2026-01-01"),
            ("webinar_attended", "2026-01-31"),
            ("content_download", "2026-03-01"),
        ],
    ),
    # fit alone (C-level, 60) reaches the threshold: an MQL the moment it is created
    Journey("fit_alone_qualifies", "2026-01-05", attributes={"seniority": "c_level"}),
    # asked for a demo 30 days before the lead was created (an anonymous visitor who signed up
    # later): at creation 30 (vp) + 80 x 0.5 = 70, so an MQL at created_at with score 70.
    Journey(
        "demo_request_before_signup",
        "2026-02-01",
        attributes={"seniority": "vp"},
        events=[("demo_request", "2026-01-02")],
    ),
    # the same demo request 60 days before creation has faded to 20 when the lead is created,
    # and nothing follows: never an MQL, although the score was 80 on the day of the request.
    Journey("interest_faded_before_signup", "2026-03-01", events=[("demo_request", "2025-12-31")]),
    # 30 + 80 would be far above, but the region disqualifies
    Journey(
        "disqualified_vp_in_apac",
        "2026-01-01",
        attributes={"seniority": "vp", "region": "apac"},
        events=[("demo_request", "2026-01-10")],
    ),
    # five downloads at once are worth 100 but capped at 30: 10 (size) + 30 = 40 stays below
    Journey(
        "capped_downloads_stay_below",
        "2026-01-01",
        attributes={"company_size": 500},
        events=[("content_download", "2026-01-10 10:00")] * 5,
    ),
]

MOMENT_COLUMNS = {"lead_id": pl.String, "mql_at": pl.Datetime("us"), "score_at_mql": pl.Float64}


@pytest.fixture
def mql_moment_db():
    con = fx.build(MQL_MOMENT_JOURNEYS, definitions=[fx.SCORING_2026])
    yield con
    con.close()


def test_computed_mql_moment_is_when_the_score_first_reaches_the_threshold(mql_moment_db):
    got = db.run(mql_moment_db, "computed_mql_moments", definition_id=1, threshold=None)
    assert_frame_equal(
        got,
        expected(
            MOMENT_COLUMNS,
            [
                ("builds_up_to_mql", at("2026-01-31"), 50.0),
                ("demo_request_before_signup", at("2026-02-01"), 70.0),
                ("fit_alone_qualifies", at("2026-01-05"), 60.0),
            ],
        ),
    )


def test_null_threshold_means_the_definitions_own(mql_moment_db):
    own = db.run(mql_moment_db, "computed_mql_moments", definition_id=1, threshold=None)
    explicit = db.run(mql_moment_db, "computed_mql_moments", definition_id=1, threshold=50.0)
    assert_frame_equal(own, explicit)


def test_a_higher_threshold_keeps_only_the_stronger_leads(mql_moment_db):
    got = db.run(mql_moment_db, "computed_mql_moments", definition_id=1, threshold=60.0)
    # builds_up_to_mql peaks at 50; the 40 of capped downloads stays below 60 as below 50
    assert_frame_equal(
        got,
        expected(
            MOMENT_COLUMNS,
            [
                ("demo_request_before_signup", at("2026-02-01"), 70.0),
                ("fit_alone_qualifies", at("2026-01-05"), 60.0),
            ],
        ),
    )


def test_threshold_zero_makes_every_lead_not_disqualified_an_mql_at_creation(mql_moment_db):
    got = db.run(mql_moment_db, "computed_mql_moments", definition_id=1, threshold=0.0)
    # scores at creation: builds_up_to_mql 20 (the download is on that instant), the demo
    # request 60 days before creation 80 x 0.25 = 20, capped downloads 10 (size band).
    assert_frame_equal(
        got,
        expected(
            MOMENT_COLUMNS,
            [
                ("builds_up_to_mql", at("2026-01-01"), 20.0),
                ("capped_downloads_stay_below", at("2026-01-01"), 10.0),
                ("demo_request_before_signup", at("2026-02-01"), 70.0),
                ("fit_alone_qualifies", at("2026-01-05"), 60.0),
                ("interest_faded_before_signup", at("2026-03-01"), 20.0),
            ],
        ),
    )


def test_regression_score_at_mql_is_the_score_at_mql_at_not_before_creation(mql_moment_db):
    # Regression: an event before the lead existed used to make the lead an MQL "at creation"
    # with the score of the earlier moment (110 here), and made interest_faded_before_signup an
    # MQL although its score at creation was 20. The score at mql_at must agree with lead_scores.
    moments = db.run(mql_moment_db, "computed_mql_moments", definition_id=1, threshold=None)
    for lead_id, mql_at, score_at_mql in moments.rows():
        scores = db.run(mql_moment_db, "lead_scores", definition_id=1, as_of=mql_at)
        score = scores.filter(pl.col("lead_id") == lead_id)["score"].item()
        assert score == pytest.approx(score_at_mql) and score >= 50, lead_id


def test_computed_mql_moments_of_an_unknown_definition_are_empty(mql_moment_db):
    assert (
        db.run(mql_moment_db, "computed_mql_moments", definition_id=99, threshold=None).height == 0
    )


# An unsubscribe counts against the score and, unlike positive points, does not fade: if it did,
# the score could climb over the threshold between events with nothing happening. A VP (40) who
# unsubscribed on the day of creation scores 20 until the next event; a download (+20) on
# 2026-04-01 lifts the score to 40, over the threshold of 35, and that is the MQL moment.
UNSUBSCRIBE_STANDS = Journey(
    "unsubscribe_stands",
    "2026-01-01",
    attributes={"seniority": "vp"},
    events=[("unsubscribe", "2026-01-01"), ("content_download", "2026-04-01")],
)
PENALTY_DEFINITION = Definition(
    definition_id=1,
    effective_from="2025-01-01",
    threshold=35,
    half_life_days=30,
    fit_rules=[("seniority", "vp", 40)],
    behaviour_rules=[("unsubscribe", -20), ("content_download", 20)],
)


def test_regression_a_penalty_does_not_fade_so_the_score_cannot_rise_between_events():
    con = fx.build([UNSUBSCRIBE_STANDS], definitions=[PENALTY_DEFINITION])
    scores = db.run(con, "lead_scores", definition_id=1, as_of=at("2026-03-31"))
    assert scores.select("score", "is_above_threshold").rows() == [(20.0, False)]
    moments = db.run(con, "computed_mql_moments", definition_id=1, threshold=None)
    assert moments.select("lead_id", "mql_at", "score_at_mql").rows() == [
        ("unsubscribe_stands", at("2026-04-01"), 40.0)
    ]


# =====================================================================================
# recorded_mql_moments.sql
# =====================================================================================


def test_recorded_mql_moment_is_the_first_mql_record():
    con = fx.build(fx.QUARTER_REVIEW_JOURNEYS)
    assert_frame_equal(
        db.run(con, "recorded_mql_moments"),
        expected(
            {"lead_id": pl.String, "mql_at": pl.Datetime("us")},
            [
                ("mql_then_rejected", at("2026-02-01")),
                # two MQL records: 2025-12-01 and 2026-02-15; the first counts
                ("recycled_then_won", at("2025-12-01")),
                ("straight_to_customer", at("2026-01-10")),
                ("won_in_next_quarter", at("2026-03-01")),
                # demo_request_without_mql and lead_only have no MQL record: no row
            ],
        ),
    )


# =====================================================================================
# funnel_by_quarter.sql
# =====================================================================================

FUNNEL_COLUMNS = {
    "quarter_start": pl.Date,
    "channel": pl.String,
    "count_leads": pl.Int64,
    "count_mqls": pl.Int64,
    "count_sals": pl.Int64,
    "count_sqls": pl.Int64,
    "count_customers": pl.Int64,
    "count_leads_reached_mql": pl.Int64,
    "count_mqls_reached_sal": pl.Int64,
    "count_mqls_reached_sql": pl.Int64,
    "count_mqls_reached_customer": pl.Int64,
    "count_mqls_rejected": pl.Int64,
    "count_sqls_reached_customer": pl.Int64,
    "count_sqls_without_mql": pl.Int64,
    "revenue": pl.Float64,
    "spend": pl.Float64,
}
# Column order of the rows below:
#                              by period           | by cohort                   | money
#   quarter, channel, leads mqls sals sqls cust, lead>mql mql>sal mql>sql mql>cust
#   mql_rejected sql>cust sql_without_mql, revenue spend

# Calendar quarters. Hand count, journey by journey (see fixtures.quarter_review):
#   recycled_then_won  social lead/mql/sal 2025Q4, sql 2026Q1, customer 2026Q2 (5000)
#   straight_to_customer search lead/mql/sal/sql/customer all 2026Q1 (10000)
#   mql_then_rejected  search lead/mql 2026Q1, rejected
#   demo_request_without_mql social lead/sal/sql 2026Q1, no MQL
#   won_in_next_quarter search lead/mql/sal/sql 2026Q1, customer 2026Q2 (20000)
#   lead_only          social lead 2026Q1
FUNNEL_FY_JANUARY = [
    (day("2025-10-01"), "social", 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0.0, 0.0),
    # spend_without_leads_channel: a row of its own with only spend
    (day("2026-01-01"), "display", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0, 500.0),
    # won_in_next_quarter is a 2026Q1 MQL that reached customer (cohort), though its customer
    # and revenue count in 2026Q2 (period)
    (day("2026-01-01"), "search", 3, 3, 2, 2, 1, 3, 2, 2, 2, 1, 2, 0, 10_000.0, 6_000.0),
    # recycled_then_won's second MQL record does not make it a 2026Q1 MQL; its SQL is here,
    # beside demo_request_without_mql's, the SQL without MQL
    (day("2026-01-01"), "social", 2, 0, 1, 2, 0, 0, 0, 0, 0, 0, 1, 1, 0.0, 1_000.0),
    (day("2026-04-01"), "search", 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20_000.0, 2_000.0),
    (day("2026-04-01"), "social", 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5_000.0, 0.0),
]

# A fiscal year starting in February: quarters Nov-Jan, Feb-Apr, May-Jul, Aug-Oct.
# straight_to_customer's lead/mql/sal (January) fall in the Nov-Jan quarter, its SQL and customer
# (Feb, Mar) in Feb-Apr; won_in_next_quarter's April customer is now in the same quarter as its
# SQL; the January spend moves to the Nov-Jan quarter, April's search spend to Feb-Apr.
FUNNEL_FY_FEBRUARY = [
    (day("2025-11-01"), "display", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0, 500.0),
    (day("2025-11-01"), "search", 2, 1, 1, 0, 0, 2, 1, 1, 1, 0, 0, 0, 0.0, 3_000.0),
    (day("2025-11-01"), "social", 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0.0, 1_000.0),
    (day("2026-02-01"), "search", 1, 2, 1, 2, 2, 1, 1, 1, 1, 1, 2, 0, 30_000.0, 5_000.0),
    (day("2026-02-01"), "social", 2, 0, 1, 2, 0, 0, 0, 0, 0, 0, 1, 1, 0.0, 0.0),
    (day("2026-05-01"), "social", 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5_000.0, 0.0),
]


@pytest.fixture
def quarter_review_db():
    con = fx.quarter_review()
    yield con
    con.close()


def recorded_funnel(con, fy_start_month=1, channel=None):
    moments = db.run(con, "recorded_mql_moments")
    return fx.with_moments(
        con, moments, "funnel_by_quarter", fy_start_month=fy_start_month, channel=channel
    )


def test_funnel_by_quarter_on_calendar_quarters(quarter_review_db):
    assert_frame_equal(
        recorded_funnel(quarter_review_db), expected(FUNNEL_COLUMNS, FUNNEL_FY_JANUARY)
    )


def test_funnel_by_quarter_with_a_fiscal_year_starting_in_february(quarter_review_db):
    assert_frame_equal(
        recorded_funnel(quarter_review_db, fy_start_month=2),
        expected(FUNNEL_COLUMNS, FUNNEL_FY_FEBRUARY),
    )


def test_funnel_by_quarter_for_one_channel(quarter_review_db):
    social = [row for row in FUNNEL_FY_JANUARY if row[1] == "social"]
    assert_frame_equal(
        recorded_funnel(quarter_review_db, channel="social"), expected(FUNNEL_COLUMNS, social)
    )


def test_funnel_by_quarter_for_a_spend_only_channel(quarter_review_db):
    display = [row for row in FUNNEL_FY_JANUARY if row[1] == "display"]
    assert_frame_equal(
        recorded_funnel(quarter_review_db, channel="display"), expected(FUNNEL_COLUMNS, display)
    )


def test_funnel_by_quarter_with_computed_mqls(quarter_review_db):
    # At the definition's threshold (50) only two leads are MQLs: straight_to_customer on
    # 2026-01-08 (vp 30 + download 20) and demo_request_without_mql on 2026-02-10 (80).
    # won_in_next_quarter and recycled_then_won become SQLs without an MQL.
    moments = db.run(quarter_review_db, "computed_mql_moments", definition_id=1, threshold=None)
    got = fx.with_moments(
        quarter_review_db, moments, "funnel_by_quarter", fy_start_month=1, channel=None
    )
    assert_frame_equal(
        got,
        expected(
            FUNNEL_COLUMNS,
            [
                (day("2025-10-01"), "social", 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0, 0.0),
                (day("2026-01-01"), "display", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0, 500.0),
                (
                    day("2026-01-01"),
                    "search",
                    3,
                    1,
                    2,
                    2,
                    1,
                    1,
                    1,
                    1,
                    1,
                    0,
                    2,
                    1,
                    10_000.0,
                    6_000.0,
                ),
                (day("2026-01-01"), "social", 2, 1, 1, 2, 0, 1, 1, 1, 0, 0, 1, 1, 0.0, 1_000.0),
                (
                    day("2026-04-01"),
                    "search",
                    0,
                    0,
                    0,
                    0,
                    1,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    20_000.0,
                    2_000.0,
                ),
                (day("2026-04-01"), "social", 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5_000.0, 0.0),
            ],
        ),
    )


def test_funnel_by_quarter_counts_an_upsell_as_revenue_not_as_a_second_customer():
    con = fx.build([UPSOLD_CUSTOMER])
    got = recorded_funnel(con).select("quarter_start", "count_customers", "revenue")
    assert got.rows() == [(day("2026-01-01"), 1, 1_000.0), (day("2026-04-01"), 0, 500.0)]


def test_funnel_by_quarter_of_an_empty_database_is_empty():
    con = fx.build()
    assert_frame_equal(recorded_funnel(con), expected(FUNNEL_COLUMNS, []))


# =====================================================================================
# conversion_lags.sql
# =====================================================================================


def test_conversion_lags_in_days():
    journeys = [
        # mql->sql 10 days, sql->customer 20, mql->customer 30
        Journey(
            "fast_deal",
            "2025-12-20",
            stages=[("mql", "2026-01-01"), ("sql", "2026-01-11"), ("customer", "2026-01-31", 1)],
        ),
        # mql->sql 20 days, no customer yet
        Journey(
            "open_opportunity", "2025-12-20", stages=[("mql", "2026-01-01"), ("sql", "2026-01-21")]
        ),
        # mql->sql 40 days, sql->customer 30 (Feb 10 -> Mar 12), mql->customer 70
        Journey(
            "slow_deal",
            "2025-12-20",
            stages=[("mql", "2026-01-01"), ("sql", "2026-02-10"), ("customer", "2026-03-12", 1)],
        ),
        # no MQL: only its sql->customer step (10 days) counts
        Journey(
            "demo_request_without_mql",
            "2026-01-01",
            stages=[("sql", "2026-01-05"), ("customer", "2026-01-15", 1)],
        ),
        # the MQL was recorded after the SQL: a negative lag is not a step taken
        Journey(
            "mql_recorded_after_sql",
            "2026-01-01",
            stages=[("sql", "2026-01-20"), ("mql", "2026-02-01")],
        ),
        Journey("mql_only", "2026-01-01", stages=[("mql", "2026-01-02")]),
    ]
    con = fx.build(journeys)
    got = fx.with_moments(con, db.run(con, "recorded_mql_moments"), "conversion_lags")
    # quantile_cont interpolates: p90 of [a, b, c] sits at 1.8, of [a, b] at 0.9
    assert_frame_equal(
        got,
        expected(
            {
                "step": pl.String,
                "count_leads": pl.Int64,
                "median_days": pl.Float64,
                "p90_days": pl.Float64,
            },
            [
                ("mql_to_customer", 2, 50.0, 30 + 0.9 * 40),  # [30, 70]
                ("mql_to_sql", 3, 20.0, 20 + 0.8 * 20),  # [10, 20, 40]
                ("sql_to_customer", 3, 20.0, 20 + 0.8 * 10),  # [10, 20, 30]
            ],
        ),
    )


# =====================================================================================
# data_extent.sql, channels.sql
# =====================================================================================


def test_data_extent_counts_rows_and_spans_per_table(quarter_review_db):
    quarter_review_db.execute("insert into targets values ('2026-04-01', 5, null)")
    assert_frame_equal(
        db.run(quarter_review_db, "data_extent"),
        expected(
            {
                "table_name": pl.String,
                "count_rows": pl.Int64,
                "first_at": pl.Datetime("us"),
                "last_at": pl.Datetime("us"),
            },
            [
                ("events", 2, at("2026-01-08"), at("2026-02-10 10:00")),
                ("leads", 6, at("2025-11-15"), at("2026-03-30")),
                ("spend", 5, at("2026-01-01"), at("2026-04-01")),
                # 4 + 2 + 1 + 6 + 3 stage changes
                ("stage_changes", 16, at("2025-12-01"), at("2026-05-10")),
                ("targets", 1, at("2026-04-01"), at("2026-04-01")),
            ],
        ),
    )


def test_data_extent_of_an_empty_database_has_a_row_per_table():
    got = db.run(fx.build(), "data_extent")
    assert got.rows() == [
        ("events", 0, None, None),
        ("leads", 0, None, None),
        ("spend", 0, None, None),
        ("stage_changes", 0, None, None),
        ("targets", 0, None, None),
    ]


def test_channels_come_from_leads_and_spend(quarter_review_db):
    # display has spend but no leads; search and social have both; each appears once
    assert db.run(quarter_review_db, "channels")["channel"].to_list() == [
        "display",
        "search",
        "social",
    ]


def test_channels_of_an_empty_database():
    assert db.run(fx.build(), "channels").height == 0


# =====================================================================================
# definition_in_force.sql
# =====================================================================================


@pytest.fixture
def definition_history_db():
    history = [
        Definition(1, "2025-01-01", 40, 30),
        Definition(2, "2026-01-01", 50, 30),
        # takes effect the same day as 2: the newer version wins
        Definition(3, "2026-01-01", 55, 45),
        # planned for next quarter
        Definition(4, "2026-07-01", 60, 30),
    ]
    con = fx.build(definitions=history)
    yield con
    con.close()


@pytest.mark.parametrize(
    "on, definition_id",
    [
        pytest.param("2024-12-31", None, id="before_the_first"),
        pytest.param("2025-01-01", 1, id="on_its_first_day"),
        pytest.param("2025-12-31", 1, id="the_day_before_the_next"),
        pytest.param("2026-01-01", 3, id="tie_goes_to_the_newest_id"),
        pytest.param("2026-06-30", 3, id="until_the_next_takes_effect"),
        pytest.param("2026-07-01", 4, id="the_planned_one_once_effective"),
    ],
)
def test_definition_in_force_on_a_day(definition_history_db, on, definition_id):
    got = db.run(definition_history_db, "definition_in_force", on=day(on))
    assert got["definition_id"].to_list() == ([] if definition_id is None else [definition_id])


def test_definition_in_force_returns_the_whole_definition(definition_history_db):
    got = db.run(definition_history_db, "definition_in_force", on=day("2026-03-01"))
    assert got.rows() == [
        (3, "definition 3", day("2026-01-01"), 55.0, 45.0, at("2024-12-01"), None)
    ]
