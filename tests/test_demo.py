"""The demo data set: deterministic, consistent, and carrying the structure it promises."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import duckdb
import polars as pl
import pytest

from funnelcast import definitions, demo
from funnelcast.analytics.metrics import figures, funnel_by_quarter, sum_counts
from funnelcast.core import periods
from funnelcast.data import db
from funnelcast.data.context import load_context
from funnelcast.demo import build as demo_build

END = dt.date(2026, 9, 30)
# Cohorts before this (meta as_of's next midnight minus the lag cap) are mature: read from meta.
CUTOFF = f"cast(value as date) + interval 1 day - interval {demo.LAG_CAP_DAYS} day"
TABLES = (
    "leads",
    "events",
    "stage_changes",
    "spend",
    "targets",
    "definitions",
    "definition_fit_rules",
    "definition_behaviour_rules",
    "demo_planted_rates",
)


def one(cur, sql: str, **params):
    """Return the single value a query yields."""
    return cur.sql(sql, params=params).fetchall()[0][0]


def checksums(cur) -> dict[str, int]:
    """Return an order-independent checksum of each table the demo fills."""
    return {table: one(cur, f"select sum(hash(t)) from {table} as t") for table in TABLES}


def build(path, **kwargs):
    """Return a connection to a new database at path holding a demo built with kwargs."""
    con = db.connect(path, create=True)
    demo.build_demo(con, **kwargs)
    return con


@pytest.fixture(scope="module")
def demo20k(tmp_path_factory):
    """Return a cursor on a 20,000-lead demo and its summary: enough leads for per-channel rates,
    few enough to build in seconds."""
    con = db.connect(tmp_path_factory.mktemp("demo") / "demo.duckdb", create=True)
    summary = demo.build_demo(con, leads=20_000, seed=7, end=END)
    cur = con.cursor()
    yield cur, summary
    cur.close()
    con.close()


# ===== determinism and the transaction =====


def test_same_seed_gives_identical_tables_and_another_seed_does_not(tmp_path):
    first = build(tmp_path / "a.duckdb", leads=3_000, seed=11)
    again = build(tmp_path / "b.duckdb", leads=3_000, seed=11)
    other = build(tmp_path / "c.duckdb", leads=3_000, seed=12)
    assert checksums(first) == checksums(again)
    differing = {k for k, v in checksums(first).items() if checksums(other)[k] != v}
    assert {"leads", "events", "stage_changes", "spend", "demo_planted_rates"} <= differing


def test_a_fixed_seed_gives_the_same_demo_as_ever(tmp_path):
    # Held to what seed 7 built before the demo was split into its story and generators: a
    # change to a parameter, a generator or the order of the draws shows here.
    con = build(tmp_path / "x.duckdb", leads=3_000, seed=7, end=END, attributes=False)
    counts = {table: one(con, f"select count(*) from {table}") for table in TABLES}
    assert counts == {
        "leads": 3_000,
        "events": 37_098,
        "stage_changes": 2_318,
        "spend": 240,
        "targets": 14,
        "definitions": 1,
        "definition_fit_rules": 19,
        "definition_behaviour_rules": 10,
        "demo_planted_rates": 27,
    }
    stages = {
        stage: (n, amount)
        for stage, n, amount in con.sql(
            "select stage, count(*), sum(amount) from stage_changes group by all"
        ).fetchall()
    }
    assert {stage: n for stage, (n, _) in stages.items()} == {
        "mql": 807,
        "sal": 417,
        "sql": 216,
        "customer": 72,
        "rejected": 386,
        "recycled": 86,
        "disqualified": 334,
    }
    assert stages["customer"][1] == Decimal("2232459.37")
    assert one(con, "select sum(amount) from spend") == Decimal("534047.72")
    assert one(con, "select sum(target_customers) from targets") == 112
    # the two quarters still to plan ask for last year's same quarter + 10% (13 and 9
    # customers, 366,000 and 285,000): the sum of customers happens to stay 112
    assert one(con, "select sum(target_revenue) from targets") == Decimal("3528000.00")
    assert dict(con.sql("select channel, count(*) from leads group by all").fetchall()) == {
        "search": 721,
        "social": 437,
        "email": 341,
        "display": 279,
        "events": 232,
        "content": 536,
        "referral": 156,
        "direct": 298,
    }
    planted = dict(
        con.sql("select metric, value from demo_planted_rates where channel = 'all'").fetchall()
    )
    assert planted == pytest.approx(
        {
            "cost_per_lead": 180.52833333333334,
            "mql_to_sql": 0.29765060396039605,
            "sql_to_customer": 0.31770992000000003,
        },
        rel=1e-12,
    )


def test_the_demo_carries_custom_attributes_its_definition_scores(tmp_path):
    """The demo's lead-level fields (funnelcast.demo.attributes), from their own random
    stream: the leads, events, spend and targets of a seed are those without them; only what
    the default definition's three rules on them change (MQL moments, and the stages after
    them) differs."""
    with_them = build(tmp_path / "a.duckdb", leads=3_000, seed=7, end=END)
    without = build(tmp_path / "b.duckdb", leads=3_000, seed=7, end=END, attributes=False)
    for table in ("leads", "events", "spend"):
        query = f"select sum(hash(*columns(*))) from {table}"
        assert one(with_them, query) == one(without, query)
    types = dict(with_them.sql("select attribute, value_type from lead_attribute_types").fetchall())
    assert types == {
        "Job function": "text",
        "Website visits": "number",
        "Newsletter opt-in": "yes/no",
        "Do not contact": "yes/no",
        "Last visit": "date",
    }
    known = dict(
        with_them.sql("select attribute, count(*) from lead_attributes group by 1").fetchall()
    )
    assert known["Do not contact"] == known["Newsletter opt-in"] == 3_000
    assert 0.85 * 3_000 < known["Job function"] < 0.95 * 3_000  # a tenth unknown
    assert 0.75 * 3_000 < known["Website visits"] < 0.85 * 3_000  # a fifth unknown
    # every lead with an event has a last visit: its latest event
    assert one(
        with_them,
        "select count(*) from (select lead_id, max(occurred_at) as last from events group by 1) e "
        "join lead_attributes a on a.lead_id = e.lead_id and a.attribute = 'Last visit' "
        "where a.number_value = epoch(e.last)::bigint",
    ) == one(with_them, "select count(distinct lead_id) from events")
    rules = definitions.load(with_them, 1).fit_rules
    assert [r.label for r in rules[-3:]] == [
        "Do not contact=Yes",
        "Job function is any of Marketing, Sales",
        "Website visits ≥ 12",
    ]
    # no lead that asked not to be contacted is an MQL under the default definition
    dq = one(
        with_them,
        "select count(*) from lead_attributes a join stage_changes s using (lead_id) "
        "where a.attribute = 'Do not contact' and a.number_value = 1 and s.stage = 'mql'",
    )
    assert dq == 0
    mqls = one(with_them, "select count(*) from stage_changes where stage = 'mql'")
    assert mqls > one(without, "select count(*) from stage_changes where stage = 'mql'")


def test_summary_counts_the_rows_written(demo20k):
    cur, summary = demo20k
    for table in TABLES:
        assert summary["counts"][table] == one(cur, f"select count(*) from {table}")
    assert summary["counts"]["leads"] == 20_000
    assert summary["seconds"] > 0
    assert set(summary["phase_seconds"]) == {"generate", "insert", "scoring", "stages", "commit"}


def test_failure_leaves_the_database_empty_and_buildable(tmp_path, monkeypatch):
    con = db.connect(tmp_path / "x.duckdb", create=True)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(demo_build, "make_stages", broken)  # where build_demo looks it up
    with pytest.raises(RuntimeError, match="boom"):
        demo.build_demo(con, leads=500)
    for table in db.CANONICAL_TABLES:
        if table != "meta":
            assert one(con, f"select count(*) from {table}") == 0, table
    assert db.get_meta(con, "as_of") is None
    assert (
        one(
            con,
            "select count(*) from information_schema.tables "
            "where table_name = 'demo_planted_rates'",
        )
        == 0
    )
    monkeypatch.undo()
    assert demo.build_demo(con, leads=500)["counts"]["leads"] == 500


def test_a_database_with_data_is_refused(tmp_path):
    con = build(tmp_path / "x.duckdb", leads=200)
    with pytest.raises(db.FunnelcastError, match="not empty"):
        demo.build_demo(con, leads=200)


def test_history_ends_on_the_quarter_holding_end_even_mid_quarter(tmp_path):
    end = dt.date(2025, 8, 15)
    con = build(tmp_path / "x.duckdb", leads=2_000, end=end)
    assert db.get_meta(con, "as_of") == "2025-08-15"
    assert one(con, "select min(created_at) from leads") >= dt.datetime(2022, 10, 1)
    assert one(con, "select max(created_at) from leads") < dt.datetime(2025, 8, 16)
    assert one(con, "select max(changed_at) from stage_changes") < dt.datetime(2025, 8, 16)
    quarters = [r[0] for r in con.sql("select quarter_start from targets order by 1").fetchall()]
    assert quarters == [periods.add_months(dt.date(2022, 10, 1), 3 * i) for i in range(14)]


def test_quarters_follow_the_fiscal_year_of_the_database(tmp_path):
    con = db.open_duckdb(tmp_path / "x.duckdb")
    db.create_schema(con, fiscal_year_start_month=2)
    demo.build_demo(con, leads=500, end=END)
    months = {r[0] for r in con.sql("select distinct month(period_start) from spend").fetchall()}
    assert months == {2, 5, 8, 11}
    assert one(con, "select min(created_at) from leads") >= dt.datetime(2023, 11, 1)


# ===== invariants =====


def test_meta_records_the_data_date_and_the_seed(demo20k):
    cur, _ = demo20k
    assert db.get_meta(cur, "as_of") == "2026-09-30"
    assert db.get_meta(cur, "demo_seed") == "7"
    assert db.get_meta(cur, "demo_leads") == "20000"


def test_lead_ids_are_unique_and_zero_padded(demo20k):
    cur, _ = demo20k
    assert one(cur, "select count(distinct lead_id) from leads") == 20_000
    malformed = "select count(*) from leads where not regexp_full_match(lead_id, 'L\\d{7}')"
    assert one(cur, malformed) == 0
    # Ids follow creation order, so the newest lead has the last id.
    assert one(cur, "select arg_max(lead_id, created_at) from leads") == "L0020000"


def test_every_event_and_stage_change_has_its_lead(demo20k):
    cur, _ = demo20k
    for table in ("events", "stage_changes"):
        assert one(cur, f"select count(*) from {table} anti join leads using (lead_id)") == 0


def test_nothing_is_recorded_after_the_end_day(demo20k):
    cur, _ = demo20k
    after = dt.datetime(2026, 10, 1)
    assert one(cur, "select max(created_at) from leads") < after
    assert one(cur, "select max(occurred_at) from events") < after
    assert one(cur, "select max(changed_at) from stage_changes") < after
    assert (
        one(
            cur,
            "select count(*) from events join leads using (lead_id) where occurred_at < created_at",
        )
        == 0
    )


def test_twelve_quarters_of_leads_and_spend_with_growth(demo20k):
    cur, _ = demo20k
    per_quarter = [
        r[1]
        for r in cur.sql(
            "select date_trunc('quarter', created_at), count(*) from leads group by 1 order by 1"
        ).fetchall()
    ]
    assert len(per_quarter) == 12
    assert sum(per_quarter[-4:]) > 1.3 * sum(per_quarter[:4])
    assert one(cur, "select count(distinct period_start) from spend") == 12
    assert one(cur, "select min(period_start) from spend") == dt.date(2023, 10, 1)
    assert one(cur, "select count(*) from targets") == 14


def test_eight_channels_each_with_campaigns(demo20k):
    cur, _ = demo20k
    rows = dict(
        cur.sql("select channel, count(distinct campaign) from leads group by 1").fetchall()
    )
    assert set(rows) == {
        "search",
        "social",
        "email",
        "display",
        "events",
        "content",
        "referral",
        "direct",
    }
    assert all(n >= 2 for channel, n in rows.items() if channel != "direct")
    assert (
        one(cur, "select count(*) from leads where channel = 'direct' and campaign is not null")
        == 0
    )


def test_amounts_are_never_negative_and_only_customers_have_one(demo20k):
    cur, _ = demo20k
    assert one(cur, "select min(amount) from spend") >= 0
    assert one(cur, "select sum(amount) from spend where channel = 'direct'") == 0
    assert one(cur, "select min(amount) from stage_changes where stage = 'customer'") > 0
    assert (
        one(cur, "select count(*) from stage_changes where stage = 'customer' and amount is null")
        == 0
    )
    assert (
        one(
            cur,
            "select count(*) from stage_changes where stage <> 'customer' and amount is not null",
        )
        == 0
    )
    assert one(cur, "select min(target_revenue) from targets") > 0


def test_content_stages_follow_event_types(demo20k):
    cur, _ = demo20k
    pairs = set(cur.sql("select distinct event_type, content_stage from events").fetchall())
    assert pairs == {(name, stage) for name, stage in demo.EVENT_TYPES}


def test_about_twelve_events_per_lead(demo20k):
    cur, _ = demo20k
    assert 10 <= one(cur, "select count(*) from events") / 20_000 <= 14


# ===== the MQL definition and the recorded funnel =====


def test_recorded_mql_moments_are_exactly_the_computed_ones(demo20k):
    cur, _ = demo20k
    recorded = db.run(cur, "recorded_mql_moments")
    computed = db.run(cur, "computed_mql_moments", definition_id=1, threshold=None)
    assert recorded.height > 0
    assert recorded.equals(computed.select("lead_id", "mql_at"))


def test_a_fifth_to_a_third_of_leads_become_mqls(demo20k):
    cur, _ = demo20k
    assert 0.15 <= one(cur, "select count(recorded_mql_at) / count(*) from lead_milestones") <= 0.30


def test_interns_and_the_unserved_region_never_buy(demo20k):
    cur, _ = demo20k
    for condition in ("seniority = 'intern'", "region = 'mena'", "seniority = 'junior'"):
        assert one(cur, f"select count(*) filter (where {condition}) from leads") > 0
        assert (
            one(
                cur,
                f"""
            select count(*) from leads join lead_milestones using (lead_id)
            where {condition} and reached_customer_at is not null""",
            )
            == 0
        ), condition


def test_senior_buyers_at_mid_sized_software_and_finance_firms_convert_far_better(demo20k):
    cur, _ = demo20k
    ideal, rest = cur.sql("""
        select
            avg((reached_customer_at is not null)::int) filter (where is_ideal),
            avg((reached_customer_at is not null)::int) filter (where not is_ideal),
        from (
            select
                *,
                seniority in ('director', 'vp', 'c_level') and company_size between 201 and 5000
                    and industry in ('software', 'finance') as is_ideal,
            from leads join lead_milestones using (lead_id)
        )""").fetchall()[0]
    assert ideal > 5 * rest


def test_mqls_engage_more_deeply_and_around_their_mql_moment(demo20k):
    cur, _ = demo20k
    deep_mql, deep_other = cur.sql("""
        select
            avg(is_deep::int) filter (where recorded_mql_at is not null),
            avg(is_deep::int) filter (where recorded_mql_at is null),
        from (
            select recorded_mql_at, content_stage in ('middle', 'bottom') as is_deep,
            from events join lead_milestones using (lead_id)
        )""").fetchall()[0]
    assert deep_mql > 1.2 * deep_other
    building, faded = cur.sql("""
        select
            count(*) filter (where occurred_at between recorded_mql_at - interval 30 day
                                                    and recorded_mql_at),
            count(*) filter (where occurred_at between recorded_mql_at + interval 60 day
                                                    and recorded_mql_at + interval 90 day),
        from events join lead_milestones using (lead_id)
        where recorded_mql_at < timestamp '2026-06-01'""").fetchall()[0]
    assert building > 3 * faded


def test_milestones_come_in_funnel_order(demo20k):
    cur, _ = demo20k
    assert (
        one(
            cur,
            """
        select count(*) from lead_milestones
        where recorded_mql_at > reached_sal_at or reached_sal_at > reached_sql_at
            or reached_sql_at > reached_customer_at or created_at > recorded_mql_at""",
        )
        == 0
    )


def test_every_journey_resolves_within_the_lag_cap(demo20k):
    cur, _ = demo20k
    longest = one(
        cur,
        "select max(span) from (select max(changed_at) - min(changed_at) as span "
        "from stage_changes group by lead_id)",
    )
    assert longest <= dt.timedelta(days=demo.LAG_CAP_DAYS)
    # A mature MQL has an outcome: it reached SQL, or sales rejected or disqualified it.
    assert (
        one(
            cur,
            f"""
        select count(*) from lead_milestones, meta
        where meta.key = 'as_of' and recorded_mql_at < {CUTOFF}
            and reached_sql_at is null
            and lead_id not in (select lead_id from stage_changes
                                where stage in ('rejected', 'disqualified'))""",
        )
        == 0
    )


def test_rejections_carry_the_known_reasons(demo20k):
    cur, _ = demo20k
    reasons = dict(
        cur.sql(
            "select reason, count(*) from stage_changes where stage = 'rejected' group by 1"
        ).fetchall()
    )
    assert set(reasons) == set(demo.REJECT_REASONS)
    assert (
        one(
            cur,
            "select count(*) from stage_changes where stage in ('rejected', "
            "'recycled', 'disqualified') and reason is null",
        )
        == 0
    )


def test_recycled_leads_come_back_and_some_convert(demo20k):
    cur, _ = demo20k
    back, converted = cur.sql("""
        select count(*), count(*) filter (where has_sql)
        from (
            select lead_id, bool_or(stage = 'sql') as has_sql
            from stage_changes
            group by lead_id
            having count(*) filter (where stage = 'recycled') > 0
                and count(*) filter (where stage = 'mql') = 2
        )""").fetchall()[0]
    assert back > 20
    assert 0 < converted < back


def test_a_few_percent_of_sqls_skipped_mql_after_a_demo_request(demo20k):
    cur, _ = demo20k
    direct, sqls = cur.sql("""
        select count(*) filter (where recorded_mql_at is null), count(*)
        from lead_milestones where reached_sql_at is not null""").fetchall()[0]
    assert 0.01 <= direct / sqls <= 0.10
    assert (
        one(
            cur,
            """
        select count(*) from lead_milestones as m
        where recorded_mql_at is null and reached_sql_at is not null
            and not exists (select 1 from events as e where e.lead_id = m.lead_id
                            and e.event_type = 'demo_request' and e.occurred_at <= m.reached_sql_at)
        """,
        )
        == 0
    )


def test_sales_reps_own_every_stage_change(demo20k):
    cur, _ = demo20k
    owners = {r[0] for r in cur.sql("select distinct owner from stage_changes").fetchall()}
    assert owners <= set(demo.REPS) and len(owners) == 12


# ===== planted rates are recovered =====


@pytest.mark.parametrize(
    "metric, cohort_at, reached",
    [
        ("mql_to_sql", "recorded_mql_at", "reached_sql_at"),
        ("sql_to_customer", "reached_sql_at", "reached_customer_at"),
    ],
)
def test_planted_conversion_rates_are_recovered_on_mature_cohorts(
    demo20k, metric, cohort_at, reached
):
    """Each converted count is a sum of independent Bernoulli(p_i) draws over the cohort, so its
    variance sum p_i(1 - p_i) is at most n p(1 - p) for the mean planted p: four such standard
    errors leave a false alarm below 1 in 10,000 per rate, the seed makes it reproducible, and a
    rate planted wrong by a few points on a channel with hundreds of leads still fails."""
    cur, _ = demo20k
    rows = cur.sql(
        f"""
        with
        observed as (
            select coalesce(channel, 'all') as channel, count(*) as n,
                avg(({reached} is not null)::int) as rate,
            from lead_milestones, meta
            where meta.key = 'as_of' and {cohort_at} < {CUTOFF}
            group by rollup (channel)
        )
        select observed.channel, n, rate, planted.value
        from observed
        join demo_planted_rates as planted
            on planted.channel = observed.channel and planted.metric = $metric
        order by 1""",
        params={"metric": metric},
    ).fetchall()
    assert len(rows) == 9
    # Below 20 the normal approximation says little; the demo is sized so that few channels are.
    checked = [row for row in rows if row[1] >= 20]
    assert len(checked) >= 8
    for channel, n, rate, planted in checked:
        assert abs(rate - planted) <= 4 * math.sqrt(planted * (1 - planted) / n), (channel, n)


def test_channels_differ_in_planted_quality_and_cost(demo20k):
    cur, _ = demo20k
    planted = {(m, c): v for m, c, v in cur.sql("select * from demo_planted_rates").fetchall()}
    assert planted[("mql_to_sql", "referral")] > 2 * planted[("mql_to_sql", "display")]
    assert planted[("cost_per_lead", "events")] > 10 * planted[("cost_per_lead", "referral")]


def test_spend_follows_leads_at_the_planted_cost_per_lead(demo20k):
    cur, _ = demo20k
    rows = cur.sql("""
        select spend.channel, sum(amount) / any_value(n), any_value(value)
        from spend
        join (select channel, count(*) as n from leads group by 1) using (channel)
        join demo_planted_rates as planted
            on planted.channel = spend.channel and planted.metric = 'cost_per_lead'
        group by spend.channel""").fetchall()
    assert len(rows) == 8
    for channel, observed, planted in rows:
        assert observed == pytest.approx(planted, rel=0.1, abs=0.01), channel


def test_the_dashboards_figures_recover_the_planted_rates(demo20k):
    """What the Overview and `funnelcast metrics` show, summed over the quarters whose MQL and
    SQL cohorts are all older than the lag cap, lands within four standard errors of the rates
    the demo planted (see the test above for why four), per channel and overall; and those
    quarters are the ones metrics marks as mature, younger ones not."""
    cur, _ = demo20k
    ctx = load_context(cur)
    frame = funnel_by_quarter(cur, ctx)
    cutoff = END + dt.timedelta(days=1 - demo.LAG_CAP_DAYS)
    ends = {q.start: q.end for q in ctx.quarters}
    old = frame.filter(pl.col("quarter_start").replace_strict(ends, return_dtype=pl.Date) <= cutoff)
    assert old["quarter"].n_unique() >= 8
    assert old["is_mature"].all()
    assert not frame.filter(pl.col("quarter") == "2026Q3")["is_mature"].any()
    planted = {(m, c): v for m, c, v in cur.sql("select * from demo_planted_rates").fetchall()}
    channels = [(c, old.filter(pl.col("channel") == c)) for c in ctx.channels] + [("all", old)]
    checked = 0
    for channel, part in channels:
        shown = figures(sum_counts(part))
        for metric in ("mql_to_sql", "sql_to_customer"):
            n, p = shown["rates"][metric]["n"], planted[(metric, channel)]
            if n < 20:
                continue
            checked += 1
            assert abs(shown[metric] - p) <= 4 * math.sqrt(p * (1 - p) / n), (channel, metric, n)
    assert checked >= 16
