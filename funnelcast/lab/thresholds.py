"""What a threshold move answers: a definition's scored records replayed on chosen quarters.

backtest counts a scoring's MQLs per day with two binary searches per day over the record keys
(the first threshold asked of a scoring: one pass over them as they are), and what precision and capture count of the SQL leads' records in one pass over those that
reach the threshold (lab._fast.counting); backtest_moments gives the same figures of given MQL
moments (the current definitions', say). tradeoff_curve answers every threshold of a grid at
once, by histograms of the keys and records over the grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from funnelcast.core.stats import rate, ratio
from funnelcast.lab import _fast
from funnelcast.lab._fast import BIAS, DAY_US, NEVER, SCORE_BITS
from funnelcast.lab.history import Materialised
from funnelcast.lab.quarters import Calendar
from funnelcast.lab.scores import Records, Scores
from funnelcast.lab.weights import threshold_micro

QUANTILE_SAMPLE = 100_000


@dataclass(frozen=True)
class Backtest:
    """A definition at a threshold, replayed on chosen quarters of history.

    quarters: one row per chosen quarter. By MQL cohort: mqls, mqls_reached_sql,
    mqls_reached_customer (reached so far, in any order, as funnel_by_quarter counts them),
    cost_per_mql. By the quarter the lead reached the stage: sqls, sqls_captured (MQL strictly
    before SQL) and the mean days earlier, customers likewise. weeks: whole weeks (Monday
    first) inside the chosen quarters and before the data's today. totals: the chosen quarters
    together, rates with their n and Wilson interval.
    """

    threshold: float | None  # None: replayed from given MQL moments (backtest_moments)
    quarters: pl.DataFrame
    weeks: pl.DataFrame
    totals: dict[str, Any]


def backtest(
    m: Materialised,
    scores: Scores,
    threshold: float,
    quarters: Sequence[str] | None = None,
    sales_capacity_per_week: float | None = None,
) -> Backtest:
    """Return the backtest of scored records at a threshold: a few binary searches per day
    (the first threshold asked of a quarter of the scoring: one pass over its keys)."""
    s = threshold_micro(threshold)
    cal = m.calendar
    # only the chosen quarters' days are shown, so only they are counted
    per_day = np.zeros(cal.n_days, dtype=np.int64)
    needles = (np.arange(cal.n_days) << SCORE_BITS) | (s + BIAS)
    with scores.records(m) as records:

        def count(piece: int) -> np.ndarray:
            """Return a piece's MQLs per day at s: by binary searches once it is sorted, else
            in one pass over its keys as they are."""
            day_mqls = np.zeros(cal.n_days, dtype=np.int64)
            with records.reading(piece) as (q, lo, hi, in_order):
                if not in_order:
                    _fast.day_counts(lo, hi, s + BIAS, day_mqls)
                    return day_mqls
                days = slice(cal.quarter_start_day[q], cal.quarter_start_day[q + 1])
                day_mqls[days] = np.searchsorted(lo, needles[days]) - np.searchsorted(
                    hi, needles[days]
                )
            return day_mqls

        pieces = records.threshold_pieces(cal.quarter_indices(quarters))
        if all(records.key_sorted[i] for i in pieces) or len(pieces) < 2:
            counts = [count(piece) for piece in pieces]
        else:  # the passes over the keys on two threads
            with ThreadPoolExecutor(2) as pool:
                counts = list(pool.map(count, pieces))
        for day_mqls in counts:
            per_day += day_mqls
        chosen = cal.quarter_indices(quarters)
        index = records.sql_index_for(chosen, len(cal.quarters))
        if index is not None:  # a binary search or two, and a few hundred records
            counted = _indexed_counts(index, s, chosen, len(cal.quarters))
        else:  # the first threshold asked of these quarters: the records from s's bucket on
            counted = _scanned_counts(m, records, s, quarters)
    return _summarise(m, threshold, per_day, counted, quarters, sales_capacity_per_week)


def _scanned_counts(
    m: Materialised, records: Records, s: int, quarters: Sequence[str] | None
) -> _Counted:
    """Return what precision and capture count at s from one pass over the SQL records from
    s's bucket on (less those of its bucket below s)."""
    cal = m.calendar
    bucket = min(max(s, 0) >> records.sql_shift, len(records.sql_start) - 2)
    reached, captured, lag_us, sql_lags, customer_lags = _fast.sql_counts(
        records.sql_lo,
        records.sql_hi,
        records.sql_code,
        records.sql_lag,
        int(records.sql_start[bucket]),
        int(records.sql_start[bucket + 1]),
        s,
        _is_chosen(cal, quarters),
        len(cal.quarters),
        m.sql_leads,
    )
    return _Counted(
        reached_sql=reached[0],
        reached_customer=reached[1],
        captured={"sql": captured[0], "customer": captured[1]},
        lag_us={"sql": lag_us[0], "customer": lag_us[1]},
        median={"sql": _median(sql_lags), "customer": _median(customer_lags)},
    )


def _indexed_counts(index: _fast.SqlIndex, s: int, chosen: np.ndarray, n_quarters: int) -> _Counted:
    """Return what precision and capture count at s from the index of the chosen quarters'
    SQL records (the same numbers as _scanned_counts: counts and exact sums, the median)."""
    counts, lags, medians = _fast.sql_index_at(index, max(s, 0))
    rows = np.zeros((4, n_quarters), dtype=np.int64)
    rows[:, chosen] = counts
    lag_us = np.zeros((2, n_quarters), dtype=np.int64)
    lag_us[:, chosen] = lags
    return _Counted(
        reached_sql=rows[0],
        reached_customer=rows[1],
        captured={"sql": rows[2], "customer": rows[3]},
        lag_us={"sql": lag_us[0], "customer": lag_us[1]},
        median={
            stage: float(median) if n else None
            for stage, (n, median) in zip(("sql", "customer"), medians)
        },
    )


def _median(lags: np.ndarray) -> float | None:
    """Return the median of days (None: none)."""
    return float(np.median(lags)) if len(lags) else None


def backtest_moments(
    m: Materialised,
    mql_us: np.ndarray,
    threshold: float | None,
    quarters: Sequence[str] | None = None,
    sales_capacity_per_week: float | None = None,
) -> Backtest:
    """Return the backtest of per-lead MQL moments (NEVER: no MQL), such as the current one's."""
    is_mql = mql_us != NEVER
    per_day = np.bincount(m.calendar.day_of(mql_us[is_mql]), minlength=m.calendar.n_days)
    sql_leads = np.flatnonzero(is_mql & (m.reached_sql_us != NEVER))
    facts = _sql_facts(
        m, mql_us[sql_leads], m.reached_sql_us[sql_leads], m.reached_customer_us[sql_leads]
    )
    counted = _counted(facts, _is_chosen(m.calendar, quarters), len(m.calendar.quarters))
    return _summarise(m, threshold, per_day, counted, quarters, sales_capacity_per_week)


def _sql_facts(
    m: Materialised, mql_us: np.ndarray, sql_us: np.ndarray, customer_us: np.ndarray
) -> dict[str, np.ndarray]:
    """Return, per MQL moment of a lead that reached SQL, what precision and capture count.

    sql_us, customer_us: when the lead reached those stages (NEVER: not). cohort: the MQL
    moment's quarter; won: the lead became a customer; per stage (sql, customer): the quarter
    it was reached in when that came after the MQL moment (else -1) and how many days later.
    """
    cal = m.calendar
    facts = {
        "cohort": cal.quarter_of_day[cal.day_of(mql_us)].astype(np.int16),
        "won": customer_us != NEVER,
    }
    for stage, at in (("sql", sql_us), ("customer", customer_us)):
        caught = (at != NEVER) & (at > mql_us)  # MQL strictly before the stage
        quarter = np.full(len(at), -1, dtype=np.int16)
        quarter[caught] = cal.quarter_of_day[cal.day_of(at[caught])]
        lag_us = np.zeros(len(at), dtype=np.int64)
        lag_us[caught] = at[caught] - mql_us[caught]
        facts[f"{stage}_quarter"], facts[f"{stage}_lag_us"] = quarter, lag_us
    return facts


@dataclass(frozen=True)
class _Counted:
    """What precision and capture count of the MQLs that reached SQL (see _sql_facts)."""

    reached_sql: np.ndarray  # per quarter of the MQL moment: MQLs that reached SQL
    reached_customer: np.ndarray  # and customer
    captured: dict[str, np.ndarray]  # per stage, per quarter it was reached: MQL first
    lag_us: dict[str, np.ndarray]  # their microseconds from MQL to the stage, summed exactly
    median: dict[str, float | None]  # the median days earlier of the captures in the chosen
    # quarters (None: none)


def _is_chosen(cal: Calendar, quarters: Sequence[str] | None) -> np.ndarray:
    """Return is_chosen[q + 1]: whether quarter q is chosen; -1 (a stage never reached) is not."""
    is_chosen = np.zeros(len(cal.quarters) + 1, dtype=bool)
    is_chosen[cal.quarter_indices(quarters) + 1] = True
    return is_chosen


def _counted(facts: dict[str, np.ndarray], is_chosen: np.ndarray, n_quarters: int) -> _Counted:
    """Return the counts of the facts of MQL moments (the numbers lab._fast.sql_counts and
    lab._fast.sql_index_at give of scored records: the same counts, the same exact sums)."""
    cohort = facts["cohort"]
    captured, lag_us, median = {}, {}, {}
    low = (1 << _fast.LAG_SPLIT) - 1
    for stage in ("sql", "customer"):
        quarter, us = facts[f"{stage}_quarter"], facts[f"{stage}_lag_us"]
        caught = quarter >= 0
        captured[stage] = np.bincount(quarter[caught], minlength=n_quarters)
        # exact: each part's sums stay below 2**53, where float64 counts every integer
        parts = [
            np.bincount(quarter[caught], weights=part, minlength=n_quarters).astype(np.int64)
            for part in (us[caught] >> _fast.LAG_SPLIT, us[caught] & low)
        ]
        lag_us[stage] = (parts[0] << _fast.LAG_SPLIT) + parts[1]
        median[stage] = _median(us[is_chosen[quarter + 1]] / DAY_US)
    return _Counted(
        reached_sql=np.bincount(cohort, minlength=n_quarters),
        reached_customer=np.bincount(cohort[facts["won"]], minlength=n_quarters),
        captured=captured,
        lag_us=lag_us,
        median=median,
    )


def _summarise(
    m: Materialised,
    threshold: float | None,
    per_day: np.ndarray,
    counted: _Counted,
    quarters: Sequence[str] | None,
    capacity: float | None,
) -> Backtest:
    """Return the backtest from MQLs per day and the counts of the MQLs that reached SQL."""
    cal = m.calendar
    chosen = cal.quarter_indices(quarters)
    mqls = np.add.reduceat(per_day, cal.quarter_start_day[:-1])
    reached_sql, reached_customer = counted.reached_sql, counted.reached_customer
    captured = counted.captured
    mean_lag = {
        stage: np.array(
            [_mean_days(us, n) for us, n in zip(counted.lag_us[stage], captured[stage])]
        )
        for stage in ("sql", "customer")
    }

    # whole weeks (Monday first) inside the chosen quarters, before the data's today
    days = _chosen_days(cal, chosen)
    mondays = np.flatnonzero((np.arange(cal.n_days - 6) + cal.day0.weekday()) % 7 == 0)
    days_so_far = np.concatenate([[0], np.cumsum(days)])
    whole = mondays[days_so_far[mondays + 7] - days_so_far[mondays] == 7]
    mqls_so_far = np.concatenate([[0], np.cumsum(per_day)])
    weekly = mqls_so_far[whole + 7] - mqls_so_far[whole]

    with np.errstate(invalid="ignore", divide="ignore"):
        cost_per_mql = np.where((cal.spend > 0) & (mqls > 0), cal.spend / mqls, np.nan)
    frame = pl.DataFrame(
        {
            "quarter": [cal.quarters[i].label for i in chosen],
            "quarter_start": [cal.quarters[i].start for i in chosen],
            "is_mature": cal.is_mature[chosen],
            "mqls": mqls[chosen].astype(np.int64),
            "mqls_reached_sql": reached_sql[chosen],
            "mqls_reached_customer": reached_customer[chosen],
            "sqls": m.stage_totals["sql"][chosen],
            "sqls_captured": captured["sql"][chosen],
            "sql_days_earlier_mean": mean_lag["sql"][chosen],
            "customers": m.stage_totals["customer"][chosen],
            "customers_captured": captured["customer"][chosen],
            "customer_days_earlier_mean": mean_lag["customer"][chosen],
            "spend": cal.spend[chosen],
            "cost_per_mql": cost_per_mql[chosen],
        },
        nan_to_null=True,
    )
    over = {} if capacity is None else {"over_capacity": weekly > capacity}
    weeks = pl.DataFrame(
        {
            "week_start": (np.datetime64(cal.day0, "D") + whole).astype("datetime64[D]"),
            "mqls": weekly.astype(np.int64),
            **over,
        }
    )
    total_mqls = int(mqls[chosen].sum())
    spend = float(cal.spend[chosen].sum())
    totals: dict[str, Any] = {
        "threshold": threshold,
        "quarters": [cal.quarters[i].label for i in chosen],
        "all_mature": bool(cal.is_mature[chosen].all()),
        "mqls": total_mqls,
        "mql_to_sql": rate(int(reached_sql[chosen].sum()), total_mqls).as_dict(),
        "mql_to_customer": rate(int(reached_customer[chosen].sum()), total_mqls).as_dict(),
        "spend": spend,
        "cost_per_mql": ratio(spend, total_mqls) if spend > 0 else None,
        "mqls_per_week": ratio(total_mqls, days.sum() / 7),
        "sales_capacity_per_week": capacity,
        "weeks": len(whole),
        "peak_week_mqls": int(weekly.max()) if len(weekly) else None,
        "weeks_over_capacity": int((weekly > capacity).sum()) if capacity is not None else None,
    }
    for stage in ("sql", "customer"):
        reached = int(m.stage_totals[stage][chosen].sum())
        totals[f"{stage}s"] = reached
        n_captured = int(captured[stage][chosen].sum())
        totals[f"{stage}_capture"] = rate(n_captured, reached).as_dict()
        totals[f"{stage}_days_earlier_median"] = counted.median[stage]
        lag_us = sum(int(us) for us in counted.lag_us[stage][chosen])
        mean = _mean_days(lag_us, n_captured)
        totals[f"{stage}_days_earlier_mean"] = None if math.isnan(mean) else mean
    return Backtest(threshold, frame, weeks, totals)


def _mean_days(lag_us: int, n: int) -> float:
    """Return the mean days of n lags summing to lag_us microseconds (NaN: none), rounded once
    from the exact quotient."""
    return int(lag_us) / (int(n) * DAY_US) if n else math.nan


def _chosen_days(cal: Calendar, chosen: np.ndarray) -> np.ndarray:
    """Return per day whether it lies in a chosen quarter and on or before the data's today."""
    days = np.isin(cal.quarter_of_day, chosen)
    if cal.as_of is not None:
        days[max(0, (cal.as_of.date() - cal.day0).days + 1) :] = False
    return days


def tradeoff_curve(
    m: Materialised,
    scores: Scores,
    quarters: Sequence[str] | None = None,
    thresholds: Sequence[float] | None = None,
) -> pl.DataFrame:
    """Return per threshold the chosen quarters' MQLs, SQL and customer rates, and capture."""
    cal = m.calendar
    chosen = cal.quarter_indices(quarters)
    grid = default_thresholds(scores) if thresholds is None else thresholds
    s = np.array([threshold_micro(t) for t in grid], dtype=np.int64)
    mqls = np.zeros(len(s), dtype=np.int64)
    # a record run is an MQL moment at s when lo < s <= hi: count, per threshold, the runs in
    # the chosen days with lo < s and take those with hi < s (their lo is lower still)
    order = np.argsort(s, kind="stable")
    ranked = s[order]
    # the SQL leads' records, by the selections precision and capture count
    is_chosen = np.zeros(len(cal.quarters) + 1, dtype=bool)  # [q + 1]: quarter q chosen
    is_chosen[chosen + 1] = True
    hist = np.zeros((2, len(ranked) + 1), dtype=np.int64)  # key_lo's, key_hi's
    sql_hist = np.zeros((4, len(ranked) + 1), dtype=np.int64)

    with scores.records(m) as records:

        def keys_histogram(piece: int) -> np.ndarray:
            """Return the histogram of a piece's key_lo (row 0) and key_hi (row 1), in
            whatever order they are (held so no sort moves them meanwhile)."""
            counts = np.zeros((2, len(ranked) + 1), dtype=np.int64)
            with records.reading(piece) as (_, lo, hi, _):
                _fast.key_histogram(lo, ranked, counts[0])
                _fast.key_histogram(hi, ranked, counts[1])
            return counts

        with ThreadPoolExecutor(2) as pool:  # the SQL records and the pieces, on two threads
            sql_done = pool.submit(
                _fast.sql_histograms,
                records.sql_lo,
                records.sql_hi,
                records.sql_code,
                is_chosen,
                ranked,
                sql_hist,
            )
            for counts in pool.map(keys_histogram, records.pieces_of(chosen)):
                hist += counts
            sql_done.result()
    mqls[order] = np.cumsum(hist[0] - hist[1])[: len(ranked)]
    active = np.empty((4, len(s)), dtype=np.int64)
    active[:, order] = np.cumsum(sql_hist, axis=1)[:, : len(ranked)]
    columns = {
        "threshold": np.asarray(grid, dtype=np.float64),
        "mqls": mqls,
        "mqls_reached_sql": active[0],
        "mqls_reached_customer": active[1],
    }
    for row, stage in ((2, "sql"), (3, "customer")):
        total = m.stage_totals[stage][chosen].sum()
        captured = active[row]
        columns[f"{stage}s_captured"] = captured
        columns[f"{stage}_capture"] = captured / total if total else np.full(len(s), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        columns["mql_to_sql"] = columns["mqls_reached_sql"] / mqls
        columns["mql_to_customer"] = columns["mqls_reached_customer"] / mqls
    return pl.DataFrame(columns, nan_to_null=True)


def default_thresholds(scores: Scores, steps: int = 200) -> np.ndarray:
    """Return thresholds from 0 to about the 99.9th percentile of leads' best scores."""
    # every k-th lead tells the percentile closely enough (taken before the test for >= 0,
    # which over every lead took longer than the percentile)
    best = scores.lead_max[:: max(1, len(scores.lead_max) // QUANTILE_SAMPLE)]
    best = best[best >= 0]
    top = float(np.quantile(best, 0.999)) / 1e6 if len(best) else 0.0
    raw = max(top, 1.0) / steps
    step = min(m * 10**e for e in range(-2, 6) for m in (1, 2, 5) if m * 10**e >= raw)
    return np.round(np.arange(0, math.ceil(top / step) * step + step / 2, step), 6)
