"""Domain invariants, checked on small random databases that hypothesis generates.

Each property is something a reader of the dashboard relies on without thinking: the funnel
narrows, rates are shares with an interval around them, a stricter definition never finds more
MQLs, channels add up to the total, and the tables refuse rows that would break all of this.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import fixtures as fx
import polars as pl
import pytest
from fixtures import Definition, Journey, Spend
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from funnelcast import importer
from funnelcast.analytics.metrics import metrics
from funnelcast.core.periods import quarter_of
from funnelcast.core.stats import wilson
from funnelcast.data import db
from funnelcast.data.context import load_context
from funnelcast.definitions import scoring

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE = dt.datetime(2025, 1, 1)
CHANNELS = ("search", "social", "email")
SPEND_CHANNELS = (*CHANNELS, "display")
EVENT_TYPES = ("demo_request", "content_download", "webinar_attended", "email_open", "unsubscribe")
STAGES = ("mql", "sal", "sql", "customer", "rejected", "recycled", "disqualified")


def moment(hours: int) -> str:
    """Return the ISO text of BASE plus some hours."""
    return (BASE + dt.timedelta(hours=hours)).isoformat(sep=" ")


# ===== strategies =====

hours_in_data = st.integers(min_value=0, max_value=540 * 24)


@st.composite
def journeys(draw) -> list[Journey]:
    """Return 1-8 leads with random fit, events (some before creation) and stage histories."""
    out = []
    for i in range(draw(st.integers(min_value=1, max_value=8))):
        created = draw(st.integers(min_value=0, max_value=450 * 24))
        events = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(EVENT_TYPES),
                    st.integers(min_value=created - 60 * 24, max_value=created + 120 * 24),
                ),
                max_size=6,
            )
        )
        stages = draw(
            st.lists(
                st.tuples(st.sampled_from(STAGES), hours_in_data, st.integers(0, 50_000)),
                max_size=6,
                unique_by=lambda s: (s[0], s[1]),
            )
        )
        out.append(
            Journey(
                f"lead_{i}",
                moment(created),
                draw(st.sampled_from(CHANNELS)),
                events=[(event_type, moment(h)) for event_type, h in events],
                stages=[
                    (stage, moment(h), amount if stage == "customer" else None)
                    for stage, h, amount in stages
                ],
                attributes={
                    "seniority": draw(st.sampled_from([None, "vp", "c_level", "manager"])),
                    "region": draw(st.sampled_from([None, "apac", "emea"])),
                    "company_size": draw(st.sampled_from([None, 5, 30, 300, 3000])),
                },
            )
        )
    return out


spends = st.lists(
    st.builds(
        lambda month, channel, amount: Spend(
            f"{2025 + month // 12}-{month % 12 + 1:02d}-01", channel, amount
        ),
        st.integers(min_value=0, max_value=17),
        st.sampled_from(SPEND_CHANNELS),
        st.integers(min_value=0, max_value=10_000),
    ),
    max_size=6,
    unique_by=lambda s: (s.period_start, s.channel),
)


@st.composite
def definitions(draw, *, allow_negative: bool = True) -> Definition:
    """Return an MQL definition in force from before the data, with random points and caps."""
    points = st.integers(min_value=-30 if allow_negative else 0, max_value=60)
    caps = st.one_of(st.none(), st.integers(min_value=0, max_value=60))
    return Definition(
        definition_id=1,
        effective_from="2024-01-01",
        threshold=draw(st.integers(min_value=0, max_value=120)),
        half_life_days=draw(st.sampled_from([7, 30, 45.5, 90])),
        fit_rules=[
            ("seniority", "vp", draw(points)),
            ("seniority", "c_level", draw(points)),
            ("company_size_band", "201-1000", draw(points)),
            ("region", "apac", 0, draw(st.booleans())),
        ],
        behaviour_rules=[
            ("demo_request", draw(points)),
            ("content_download", draw(points), draw(caps)),
            ("webinar_attended", draw(points), draw(caps)),
            ("unsubscribe", -draw(st.integers(min_value=0, max_value=30)) if allow_negative else 0),
        ],
    )


@dataclass(frozen=True)
class Dataset:
    """What a random database holds; hypothesis prints it when a property fails."""

    journeys: list[Journey]
    spend: list[Spend]
    definition: Definition
    fy_start_month: int

    def build(self) -> duckdb.DuckDBPyConnection:
        """Return an in-memory Funnelcast database holding this data."""
        return fx.build(
            self.journeys,
            spend=self.spend,
            definitions=[self.definition],
            fy_start_month=self.fy_start_month,
        )


def datasets(*, allow_negative: bool = True):
    """Return a strategy for random data sets."""
    return st.builds(
        Dataset,
        journeys(),
        spends,
        definitions(allow_negative=allow_negative),
        st.integers(min_value=1, max_value=12),
    )


def mql_moment_sets(con, threshold):
    """Return the recorded MQL moments and those computed at a threshold."""
    return {
        "recorded": db.run(con, "recorded_mql_moments"),
        "computed": db.run(
            con, "computed_mql_moments", definition_id=1, threshold=float(threshold)
        ),
    }


# =====================================================================================
# the funnel narrows
# =====================================================================================


@SETTINGS
@given(data=datasets(), threshold=st.integers(min_value=0, max_value=120))
def test_stage_counts_never_grow_down_a_cohorts_funnel(data, threshold):
    con, fy_start_month = data.build(), data.fy_start_month
    for source, moments in mql_moment_sets(con, threshold).items():
        funnel = fx.with_moments(
            con, moments, "funnel_by_quarter", fy_start_month=fy_start_month, channel=None
        )
        for row in funnel.iter_rows(named=True):
            where = f"{source} {row['quarter_start']} {row['channel']}"
            assert row["count_mqls"] >= row["count_mqls_reached_sal"], where
            assert row["count_mqls_reached_sal"] >= row["count_mqls_reached_sql"], where
            assert row["count_mqls_reached_sql"] >= row["count_mqls_reached_customer"], where
            assert row["count_mqls"] >= row["count_mqls_rejected"], where
            assert row["count_leads"] >= row["count_leads_reached_mql"], where
            assert row["count_sqls"] >= row["count_sqls_reached_customer"], where
            assert row["count_sqls"] >= row["count_sqls_without_mql"], where
        # by period, every lead that reached a stage also reached the ones before it, though
        # maybe in another quarter: over all history the counts narrow too
        totals = funnel.select(pl.col("count_sals", "count_sqls", "count_customers").sum()).row(0)
        assert totals[0] >= totals[1] >= totals[2], source


# =====================================================================================
# rates are shares with an interval around them
# =====================================================================================


def check_rates(result: dict, where: str) -> None:
    for name, r in result["rates"].items():
        if r["n"] == 0:
            assert (r["value"], r["low"], r["high"]) == (None, None, None), (where, name)
            continue
        assert 0 <= r["successes"] <= r["n"], (where, name, r)
        assert r["value"] == result[name] == r["successes"] / r["n"], (where, name, r)
        assert 0.0 <= r["low"] <= r["value"] <= r["high"] <= 1.0, (where, name, r)


@SETTINGS
@given(data=datasets(), threshold=st.one_of(st.none(), st.integers(min_value=0, max_value=120)))
def test_every_rate_is_a_share_inside_its_interval(data, threshold):
    con = data.build()
    result = metrics(con.cursor(), threshold=threshold)
    check_rates(result, "total")
    for item in result["by_channel"]:
        check_rates(item, item["channel"])


@settings(max_examples=300, deadline=None)
@given(n=st.integers(min_value=1, max_value=10_000), share=st.floats(min_value=0, max_value=1))
def test_wilson_interval_contains_p_and_lies_in_0_1(n, share):
    successes = round(share * n)
    low, high = wilson(successes, n)
    assert 0.0 <= low <= successes / n <= high <= 1.0


# =====================================================================================
# a stricter definition never finds more MQLs, nor finds them sooner
# =====================================================================================


@SETTINGS
@given(
    data=datasets(),
    thresholds=st.tuples(
        st.integers(min_value=0, max_value=120), st.integers(min_value=1, max_value=60)
    ),
)
def test_a_higher_threshold_never_yields_more_mqls(data, thresholds):
    con = data.build()
    low, high = thresholds[0], thresholds[0] + thresholds[1]
    at_low = dict(
        db.run(con, "computed_mql_moments", definition_id=1, threshold=float(low))
        .select("lead_id", "mql_at")
        .rows()
    )
    at_high = dict(
        db.run(con, "computed_mql_moments", definition_id=1, threshold=float(high))
        .select("lead_id", "mql_at")
        .rows()
    )
    assert set(at_high) <= set(at_low)
    for lead_id, mql_at in at_high.items():
        assert mql_at >= at_low[lead_id], lead_id


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=datasets(allow_negative=True), probes=st.lists(hours_in_data, min_size=1, max_size=4))
def test_computed_mql_moments_agree_with_lead_scores(data, probes):
    # Positive points fade and penalties stand, so a score only falls between events: the
    # computed moment is exactly when lead_scores first says "above the threshold".
    con = data.build()
    moments = dict(
        db.run(con, "computed_mql_moments", definition_id=1, threshold=None)
        .select("lead_id", "mql_at")
        .rows()
    )
    for lead_id, mql_at in moments.items():
        scores = db.run(con, "lead_scores", definition_id=1, as_of=mql_at)
        row = scores.filter(pl.col("lead_id") == lead_id).row(0, named=True)
        assert row["is_above_threshold"], (lead_id, mql_at, row)
    for hours in probes:
        as_of = dt.datetime.fromisoformat(moment(hours))
        scores = db.run(con, "lead_scores", definition_id=1, as_of=as_of)
        for lead_id in scores.filter("is_above_threshold")["lead_id"]:
            assert lead_id in moments and moments[lead_id] <= as_of, (lead_id, as_of)


# =====================================================================================
# channels add up to the total
# =====================================================================================

ADDITIVE = ("leads", "mqls", "sals", "sqls", "customers", "sqls_without_mql", "mqls_rejected")


@SETTINGS
@given(
    data=datasets(),
    threshold=st.one_of(st.none(), st.integers(min_value=0, max_value=120)),
    pick_quarter=st.one_of(st.none(), st.integers(min_value=0, max_value=10)),
)
def test_channels_add_up_to_the_total(data, threshold, pick_quarter):
    con = data.build()
    cur = con.cursor()
    quarters = load_context(cur).quarters
    quarter = quarters[pick_quarter % len(quarters)].label if pick_quarter is not None else None
    result = metrics(cur, quarter=quarter, threshold=threshold)
    for key in ADDITIVE:
        assert sum(item[key] for item in result["by_channel"]) == result[key], key
    for key in ("revenue", "spend"):
        assert sum(item[key] for item in result["by_channel"]) == pytest.approx(result[key]), key
    for name, r in result["rates"].items():
        assert sum(item["rates"][name]["n"] for item in result["by_channel"]) == r["n"], name
        assert (
            sum(item["rates"][name]["successes"] for item in result["by_channel"]) == r["successes"]
        )
    # the spend in scope is every spend row whose period starts in the quarter
    expected_spend = sum(
        amount
        for start, amount in fx.rows(cur, "select period_start, amount from spend")
        if quarter is None or quarter_label(start, result) == quarter
    )
    assert result["spend"] == pytest.approx(float(expected_spend))


def quarter_label(day: dt.date, result: dict) -> str:
    """Return the label of the fiscal quarter of a day, in the calendar of a metrics result."""
    return quarter_of(day, result["scope"]["fiscal_year_start_month"]).label


# =====================================================================================
# the tables refuse rows that would break the invariants
# =====================================================================================

lead_ids = st.sampled_from(["ada", "bob", "cyd", "dee"])


@SETTINGS
@given(
    lead_rows=st.lists(lead_ids, max_size=6),
    event_rows=st.lists(st.one_of(lead_ids, st.just("ghost")), max_size=6),
    spend_rows=st.lists(st.integers(min_value=-5_000, max_value=5_000), max_size=6),
)
def test_the_schema_and_the_importer_refuse_rows_that_break_the_invariants(
    lead_rows, event_rows, spend_rows
):
    con = fx.build()
    inserted = set()
    for i, lead_id in enumerate(lead_rows):
        try:
            con.execute(
                "insert into leads (lead_id, created_at, channel) values ($l, $t, 'search')",
                {"l": lead_id, "t": BASE + dt.timedelta(days=i)},
            )
            assert lead_id not in inserted, f"duplicate lead id {lead_id} accepted"
            inserted.add(lead_id)
        except duckdb.ConstraintException as exc:
            assert lead_id in inserted and "Duplicate key" in str(exc)
    # Events have no foreign key (it cost most of a large import): funnelcast import is what
    # keeps events of unknown leads out, refusing the whole file and naming every such row.
    unknown_rows = [i + 2 for i, lead_id in enumerate(event_rows) if lead_id not in inserted]
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "events.csv"
        file.write_text(
            "lead_id,occurred_at,event_type\n"
            + "".join(f"{lead_id},{moment(i)},email_open\n" for i, lead_id in enumerate(event_rows))
        )
        before = importer.content_checksum(con)
        try:
            done = importer.import_file(
                con, file, importer.Mapping("events"), now=BASE + dt.timedelta(days=30)
            )
            assert not unknown_rows, f"events of unknown leads accepted: rows {unknown_rows}"
            assert done.inserted == len(event_rows)
        except importer.ImportProblems as exc:
            if not event_rows:
                assert exc.problems == ["the file has a header but no data rows"]
            else:
                assert unknown_rows, exc
                assert exc.total == len(exc.problems) == len(unknown_rows)
                for row, problem in zip(unknown_rows, exc.problems):
                    assert problem.startswith(f"row {row}, column 'lead_id': no lead ")
            assert importer.content_checksum(con) == before
    for month, amount in enumerate(spend_rows):
        try:
            con.execute(
                "insert into spend values ($p, 'search', '', $a)",
                {"p": dt.date(2025, 1 + month, 1), "a": amount},
            )
            assert amount >= 0, f"negative spend {amount} accepted"
        except duckdb.ConstraintException as exc:
            assert amount < 0 and "CHECK constraint" in str(exc)
    # the jaffle-shop tests, on whatever got in: unique, relationships, expression_is_true
    assert fx.rows(con, "select count(*) - count(distinct lead_id) from leads") == [(0,)]
    assert fx.rows(con, "select count(*) from events anti join leads using (lead_id)") == [(0,)]
    assert fx.rows(con, "select count(*) from events")[0][0] == (
        0 if unknown_rows else len(event_rows)
    )
    assert fx.rows(con, "select count(*) from spend where amount < 0") == [(0,)]
    assert fx.rows(con, "select count(*) from leads")[0][0] == len(inserted)
    assert math.isclose(
        fx.rows(con, "select coalesce(sum(amount), 0) from spend")[0][0],
        sum(a for a in spend_rows if a >= 0),
    )


# =====================================================================================
# the in-memory scorer equals the SQL definition of an MQL moment
# =====================================================================================


@SETTINGS
@given(data=datasets(allow_negative=True), threshold=st.one_of(st.none(), st.integers(0, 150)))
def test_the_linear_time_scorer_finds_the_same_mql_moments_as_the_sql(data, threshold):
    # funnelcast.scoring keeps running sums instead of pairing every check with every earlier
    # event; both must name the same leads, moments and scores, penalties and caps included.
    con = data.build()
    threshold = None if threshold is None else float(threshold)
    by_sql = db.run(con, "computed_mql_moments", definition_id=1, threshold=threshold)
    fast = scoring.computed_mql_moments(con, 1, threshold)
    assert_frame_equal(fast, by_sql, check_exact=False, abs_tol=1e-6)


def two_downloads(
    lead_id: str, first: str, second: str, points: float, half_life_days: float
) -> duckdb.DuckDBPyConnection:
    """Return a database of one lead, created 2025-01-01, that downloads content on the days
    first and second, under definition 1 (threshold 50, no fit rules) giving a download points
    that halve every half_life_days."""
    return fx.build(
        [
            Journey(
                lead_id,
                "2025-01-01",
                events=[("content_download", first), ("content_download", second)],
            )
        ],
        definitions=[
            Definition(
                definition_id=1,
                effective_from="2024-01-01",
                threshold=50,
                half_life_days=half_life_days,
                fit_rules=[],
                behaviour_rules=[("content_download", points)],
            )
        ],
    )


def test_the_linear_time_scorer_counts_events_at_one_moment_together():
    # Two downloads in the same second, worth 30 each with the threshold at 50: the check at that
    # moment sees both (60), not one at a time.
    con = two_downloads("double_download", "2025-01-05", "2025-01-05", 30, half_life_days=30)
    fast = scoring.computed_mql_moments(con, 1)
    assert fast.rows() == [("double_download", dt.datetime(2025, 1, 5), 60.0)]
    assert_frame_equal(fast, db.run(con, "computed_mql_moments", definition_id=1, threshold=None))


def test_a_history_too_long_for_running_sums_falls_back_to_the_sql(monkeypatch):
    # Two downloads 30 days apart under a 1-day half-life span 30 half-lives; with the limit
    # lowered to 10, the running sums would overflow in spirit, so the SQL answers instead.
    monkeypatch.setattr(scoring, "MAX_EXPONENT", 10.0)
    con = two_downloads("long_history", "2025-01-01", "2025-01-31", 60, half_life_days=1)
    fit = db.run(con, "lead_fit_points", definition_id=1)
    events = db.run(con, "scoring_events", definition_id=1)
    with pytest.raises(scoring.SpanTooLong, match="span 30 half-lives"):
        scoring.mql_moments(fit, events, threshold=50, half_life_days=1)
    assert scoring.computed_mql_moments(con, 1).rows() == [
        ("long_history", dt.datetime(2025, 1, 1), 60.0)
    ]
