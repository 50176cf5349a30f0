"""The Overview's plain logic: which quarter opens, KPI changes, what is missing, the channel
table, and how numbers read. Hand-made inputs, literal expectations; no Streamlit."""

from __future__ import annotations

import datetime as dt

import pytest

from funnelcast.analytics import overview
from funnelcast.analytics.metrics import figures
from funnelcast.core import formats
from funnelcast.core.currency import USD, Currency
from funnelcast.core.periods import quarters_between
from funnelcast.data.context import DataContext


def context(as_of: dt.datetime | None, *, first=dt.date(2025, 1, 15), rows: dict | None = None):
    """Return a DataContext with calendar quarters from `first` to as_of."""
    quarters = quarters_between(first, as_of.date()) if as_of else []
    extent = {t: {"count_rows": n} for t, n in (rows or {}).items()}
    return DataContext(1, as_of, quarters, ["email", "search"], None, extent)


# ----- which quarter the page opens on -----


def test_data_through_the_last_day_of_a_quarter_completes_it():
    ctx = context(dt.datetime(2026, 9, 30))  # the demo's as-of: a date, meaning that whole day

    assert overview.default_quarter(ctx) == "2026Q3"
    assert overview.partial_quarters(ctx) == []


def test_a_quarter_the_data_stops_inside_is_partial_and_not_the_default():
    ctx = context(dt.datetime(2026, 8, 14, 17, 5))

    assert overview.default_quarter(ctx) == "2026Q2"
    assert overview.partial_quarters(ctx) == ["2026Q3"]


def test_with_only_a_partial_quarter_it_is_the_default():
    ctx = context(dt.datetime(2026, 2, 3), first=dt.date(2026, 1, 5))

    assert overview.default_quarter(ctx) == "2026Q1"


def test_without_data_there_is_no_default_quarter():
    assert overview.default_quarter(context(None)) is None


def test_the_previous_quarter_is_given_only_when_the_data_has_it():
    ctx = context(dt.datetime(2026, 9, 30))

    assert overview.previous_quarter(ctx, "2026Q1") == "2025Q4"
    assert overview.previous_quarter(ctx, "2025Q1") is None
    assert overview.previous_quarter(ctx, None) is None


def test_all_history_runs_from_the_first_quarter_through_the_as_of_day():
    ctx = context(dt.datetime(2026, 8, 14, 9, 0))

    assert overview.period_of(ctx, None) == (dt.date(2025, 1, 1), dt.date(2026, 8, 15))
    assert overview.period_of(ctx, "2025Q2") == (dt.date(2025, 4, 1), dt.date(2025, 7, 1))


# ----- KPIs and their change -----


def counts(**overrides) -> dict:
    """Return funnel counts for figures(): 200 leads, 50 MQLs, 20 SQLs, 5 customers."""
    base = dict(
        count_leads=200, count_mqls=50, count_sals=30, count_sqls=20, count_customers=5,
        count_leads_reached_mql=50, count_mqls_reached_sal=30, count_mqls_reached_sql=20,
        count_mqls_reached_customer=5, count_mqls_rejected=4, count_sqls_reached_customer=5,
        count_sqls_without_mql=1, revenue=100_000.0, spend=20_000.0,
    )  # fmt: skip
    return {**base, **overrides}


def test_kpis_carry_the_change_from_the_previous_quarter():
    current = figures(counts())
    previous = figures(counts(count_mqls=40, count_mqls_reached_sql=12, spend=25_000.0))

    kpis = {k.key: k for k in overview.kpis(current, previous)}

    assert (kpis["mqls"].value, kpis["mqls"].delta, kpis["mqls"].relative) == (50, 10, 0.25)
    assert kpis["mql_to_sql"].delta == pytest.approx(0.4 - 0.3)
    assert kpis["mql_to_sql"].relative is None  # shares change in points, not in percent
    assert kpis["mql_to_sql"].rate["n"] == 50
    assert kpis["cost_per_mql"].better == "down"
    assert [k.key for k in overview.kpis(current, previous)] == [s[0] for s in overview.KPI_SPECS]


def test_without_a_previous_quarter_kpis_have_no_change():
    kpis = overview.kpis(figures(counts()), None)

    assert all(k.delta is None and k.previous is None for k in kpis)


def test_without_spend_cost_and_roi_have_no_value_and_no_change():
    kpis = {k.key: k for k in overview.kpis(figures(counts(spend=0.0)), figures(counts()))}

    assert kpis["cost_per_mql"].value is None and kpis["cost_per_mql"].delta is None
    assert kpis["roi"].value is None and kpis["roi"].delta is None


# ----- what is missing -----


def test_missing_inputs_names_each_empty_table_the_overview_reads():
    ctx = context(dt.datetime(2026, 9, 30), rows={"leads": 10, "stage_changes": 0, "spend": 0})

    missing = overview.missing_inputs(ctx)

    assert set(missing) == {"stage_changes", "spend"}
    assert missing["spend"].startswith("no spend loaded: cost and ROI need a spend export")


# ----- the channel table -----


def test_channel_table_shows_shares_in_percent_with_their_basis():
    result = {"by_channel": [{"channel": "email", **figures(counts(count_sqls=8))}]}

    row = overview.channel_table(result).to_dicts()[0]

    assert row["mql_to_sql_pct"] == pytest.approx(40.0)
    assert row["mql_to_sql_basis"] == "n 50 · 28–54%"  # Wilson interval of 20 out of 50
    assert row["sql_to_customer_basis"].startswith("⚠ n 8 · ")  # 8 SQLs: a small sample
    assert row["roi_pct"] == pytest.approx(400.0)


def test_channel_table_of_no_channels_is_empty_with_its_columns():
    table = overview.channel_table({"by_channel": []})

    assert table.is_empty()
    assert "roi_pct" in table.columns


# ----- how numbers read -----


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "—"), (0, "$0"), (9_999.4, "$9,999"), (48_321.0, "$48.3k"), (-1_250_000, "-$1.25M")],
)
def test_money_is_compact_from_ten_thousand_on(value, text):
    assert formats.money(value, USD) == text


def test_changes_read_with_a_sign_and_shares_change_in_points():
    assert formats.change(12, "count", 0.25) == "+12 (+25%)"
    assert formats.change(-3, "count", -0.1) == "-3 (-10%)"
    assert formats.change(-0.123, "share") == "-12.3 pts"
    assert formats.change(None, "money") is None
    assert formats.change(0, "share") == "0"  # no change: no arrow
    assert formats.change(-1_234, "money", -0.1, Currency("EUR")) == "-€1,234 (-10%)"
    assert formats.change(40_000, "money", None, Currency("PLN")) == "+40.0k PLN"


def test_a_period_reads_as_first_and_last_day():
    assert formats.period(dt.date(2026, 7, 1), dt.date(2026, 10, 1)) == "1 Jul – 30 Sep 2026"
    assert formats.period(dt.date(2025, 12, 1), dt.date(2026, 3, 1)) == "1 Dec 2025 – 28 Feb 2026"
