"""Fiscal quarters (funnelcast.periods) and rates with Wilson intervals (funnelcast.stats)."""

from __future__ import annotations

import datetime as dt

import pytest

from funnelcast.core.periods import Quarter, parse_quarter, quarter_of, quarters_between
from funnelcast.core.stats import MIN_N, Rate, rate, ratio, wilson

D = dt.date


def quarter_spanning(start: str, end: str, label: str) -> Quarter:
    """Return the Quarter named label from day start up to day end (ISO dates, end excluded)."""
    return Quarter(D.fromisoformat(start), D.fromisoformat(end), label)


# =====================================================================================
# quarters
# =====================================================================================


# case id: (day, fiscal year start month, its quarter's first day, end (excluded), label)
QUARTER_OF = {
    # calendar quarters
    "jan_first_day": (D(2026, 1, 1), 1, "2026-01-01", "2026-04-01", "2026Q1"),
    "jan_last_day": (D(2026, 3, 31), 1, "2026-01-01", "2026-04-01", "2026Q1"),
    "jan_q2": (D(2026, 4, 1), 1, "2026-04-01", "2026-07-01", "2026Q2"),
    "jan_q4": (D(2025, 12, 31), 1, "2025-10-01", "2026-01-01", "2025Q4"),
    # February start: the fiscal year Feb 2025 - Jan 2026 is FY2026, named for its end
    "feb_first_day": (D(2025, 2, 1), 2, "2025-02-01", "2025-05-01", "2026Q1"),
    "feb_q1_last": (D(2025, 4, 30), 2, "2025-02-01", "2025-05-01", "2026Q1"),
    "feb_q2": (D(2025, 5, 1), 2, "2025-05-01", "2025-08-01", "2026Q2"),
    "feb_q4_dec": (D(2025, 12, 15), 2, "2025-11-01", "2026-02-01", "2026Q4"),
    "feb_q4_jan": (D(2026, 1, 31), 2, "2025-11-01", "2026-02-01", "2026Q4"),
    "feb_previous_fy": (D(2025, 1, 31), 2, "2024-11-01", "2025-02-01", "2025Q4"),
}


@pytest.mark.parametrize(
    "day, fy_start_month, start, end, label", QUARTER_OF.values(), ids=list(QUARTER_OF)
)
def test_quarter_of_a_day(day, fy_start_month, start, end, label):
    assert quarter_of(day, fy_start_month) == quarter_spanning(start, end, label)


def test_quarter_of_a_timestamp_is_the_quarter_of_its_day():
    assert quarter_of(dt.datetime(2026, 3, 31, 23, 59), 1).label == "2026Q1"


# case id: (fiscal year start month, quarter, the previous one's first day, end, label)
PREVIOUS = {
    "jan_across_years": (1, "2026Q1", "2025-10-01", "2026-01-01", "2025Q4"),
    "jan_inside_year": (1, "2026Q3", "2026-04-01", "2026-07-01", "2026Q2"),
    "feb_across_years": (2, "2026Q1", "2024-11-01", "2025-02-01", "2025Q4"),
    "feb_inside_year": (2, "2026Q2", "2025-02-01", "2025-05-01", "2026Q1"),
}


@pytest.mark.parametrize(
    "fy_start_month, text, start, end, label", PREVIOUS.values(), ids=list(PREVIOUS)
)
def test_previous_quarter(fy_start_month, text, start, end, label):
    previous = quarter_spanning(start, end, label)
    assert parse_quarter(text, fy_start_month).previous(fy_start_month) == previous


# case id: (text, fiscal year start month, the quarter's first day, end (excluded), label)
PARSED = {
    "jan_q1": ("2026Q1", 1, "2026-01-01", "2026-04-01", "2026Q1"),
    "jan_q4": ("2026Q4", 1, "2026-10-01", "2027-01-01", "2026Q4"),
    "feb_q1_starts_the_year_before": ("2026Q1", 2, "2025-02-01", "2025-05-01", "2026Q1"),
    "feb_q4": ("2026Q4", 2, "2025-11-01", "2026-02-01", "2026Q4"),
    "with_a_dash": ("2026-Q2", 1, "2026-04-01", "2026-07-01", "2026Q2"),
    "lower_case_and_spaces": (" 2026 q3 ", 1, "2026-07-01", "2026-10-01", "2026Q3"),
}


@pytest.mark.parametrize(
    "text, fy_start_month, start, end, label", PARSED.values(), ids=list(PARSED)
)
def test_parse_quarter(text, fy_start_month, start, end, label):
    assert parse_quarter(text, fy_start_month) == quarter_spanning(start, end, label)


@pytest.mark.parametrize(
    "fy_start_month, count",
    # 2023-01-01 to 2027-12-31: 20 calendar quarters; with a February (or December) start the
    # first and last days sit in quarters that straddle the year boundary, one more.
    [(1, 20), (2, 21), (7, 20), (12, 21)],
)
def test_labels_round_trip(fy_start_month, count):
    quarters = quarters_between(D(2023, 1, 1), D(2027, 12, 31), fy_start_month)
    assert len(quarters) == count
    for quarter in quarters:
        assert parse_quarter(quarter.label, fy_start_month) == quarter
        assert quarter_of(quarter.start, fy_start_month) == quarter
        assert quarter_of(quarter.end - dt.timedelta(days=1), fy_start_month) == quarter
    # consecutive, without gaps or overlaps
    for before, after in zip(quarters, quarters[1:]):
        assert before.end == after.start


@pytest.mark.parametrize(
    "label",
    ["2026Q5", "2026Q0", "last", "", "26Q1", "Q1 2026", "2026Q1x", "2026/Q1", "2026 Q 1"],
)
def test_parse_quarter_refuses_what_is_not_a_quarter(label):
    with pytest.raises(ValueError, match=r"^not a quarter: .* \(expected a form like 2026Q1\)$"):
        parse_quarter(label)


@pytest.mark.parametrize("fy_start_month", [0, 13])
def test_fiscal_start_month_must_be_a_month(fy_start_month):
    with pytest.raises(
        ValueError, match=f"fiscal year start month must be 1-12, not {fy_start_month}"
    ):
        quarter_of(D(2026, 1, 1), fy_start_month)


def test_quarters_between():
    assert [q.label for q in quarters_between(D(2025, 11, 15), D(2026, 5, 10), 1)] == [
        "2025Q4",
        "2026Q1",
        "2026Q2",
    ]
    assert [q.label for q in quarters_between(D(2025, 11, 15), D(2026, 5, 10), 2)] == [
        "2026Q4",
        "2027Q1",
        "2027Q2",
    ]
    assert [q.label for q in quarters_between(D(2026, 2, 1), D(2026, 2, 1), 1)] == ["2026Q1"]


def test_shifted_moves_whole_quarters():
    q = parse_quarter("2026Q1", 2)
    assert q.shifted(4, 2).label == "2027Q1"
    assert q.shifted(-5, 2).label == "2024Q4"
    assert q.shifted(0, 2) == q


# =====================================================================================
# Wilson intervals and rates
# =====================================================================================


@pytest.mark.parametrize(
    "successes, n, low, high",
    [
        # published 95% Wilson score intervals
        pytest.param(0, 10, 0.0, 0.2775, id="0_of_10"),
        pytest.param(1, 10, 0.0179, 0.4042, id="1_of_10"),
        pytest.param(5, 10, 0.2366, 0.7634, id="5_of_10"),
        pytest.param(10, 10, 0.7225, 1.0, id="10_of_10"),
        pytest.param(3, 4, 0.3006, 0.9544, id="3_of_4"),
        # 0 of n: the upper bound is z^2 / (n + z^2)
        pytest.param(0, 5, 0.0, 0.4345, id="0_of_5"),
        pytest.param(50, 100, 0.4038, 0.5962, id="50_of_100"),
    ],
)
def test_wilson_against_known_values(successes, n, low, high):
    assert tuple(round(bound, 4) for bound in wilson(successes, n)) == (low, high)


def test_regression_wilson_of_none_starts_at_exactly_zero():
    # The interval of 0 of n must contain the observed 0. Computed as centre - half_width, two
    # terms equal in exact arithmetic can differ in the last bit: 0 of 3 gave a low bound of
    # 5.6e-17, an interval that excludes the rate itself.
    assert [n for n in range(1, 201) if wilson(0, n)[0] != 0.0] == []


def test_regression_wilson_of_all_ends_at_exactly_one():
    # The same rounding at the top: 10 of 10 gave a high bound of 0.9999999999999999 < 1.
    assert [n for n in range(1, 201) if wilson(n, n)[1] != 1.0] == []


def test_rate_of_five_in_ten():
    assert rate(5, 10) == Rate(
        successes=5,
        n=10,
        value=0.5,
        low=pytest.approx(0.2366, abs=5e-5),
        high=pytest.approx(0.7634, abs=5e-5),
        is_small_sample=True,
    )


def test_rate_of_nothing_has_no_value_and_no_interval():
    assert rate(0, 0) == Rate(0, 0, None, None, None, True)
    assert rate(0, 0).as_dict() == {
        "successes": 0,
        "n": 0,
        "value": None,
        "low": None,
        "high": None,
        "is_small_sample": True,
    }


@pytest.mark.parametrize(
    "n, is_small", [(1, True), (MIN_N - 1, True), (MIN_N, False), (1000, False)]
)
def test_small_sample_flag(n, is_small):
    assert MIN_N == 30
    assert rate(0, n).is_small_sample is is_small


def test_rate_accepts_whole_floats_from_sums():
    # polars sums of count columns may arrive as floats
    assert rate(3.0, 4.0) == rate(3, 4)


@pytest.mark.parametrize(
    "successes, n",
    [
        pytest.param(5, 4, id="more_successes_than_trials"),
        pytest.param(-1, 4, id="negative_successes"),
        pytest.param(0, -1, id="negative_n"),
    ],
)
def test_rate_refuses_impossible_counts(successes, n):
    with pytest.raises(
        ValueError, match=rf"a rate needs 0 <= successes <= n, got {successes} of {n}"
    ):
        rate(successes, n)


def test_ratio_is_none_when_it_would_divide_by_zero():
    assert ratio(10, 4) == 2.5
    assert ratio(-5, 10) == -0.5
    assert ratio(10, 0) is None
    assert ratio(0, 0) is None
