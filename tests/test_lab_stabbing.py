"""The indexes a threshold move reads instead of a scan: the SQL records' (lab._fast.stabbing:
precision and capture counts, median days earlier) and who moves' (lab.moving).

By hand on records whose answer is known, against a brute-force count on random records
(hypothesis), and on the demo: a backtest that reads the index equals, bit for bit, the one that
scans the records (the first threshold asked of a scoring) at every threshold tried.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_lab import assert_same, demo  # noqa: F401  (demo: test_lab's fixture)

from funnelcast import definitions, lab
from funnelcast.lab import moving
from funnelcast.lab._fast import BIAS, DAY_US, stabbing
from funnelcast.lab.weights import threshold_micro


def index_of(records: list[tuple], n_quarters: int, chosen: list[int]) -> stabbing.SqlIndex:
    """Return the index of records given as (lo, hi, cohort, won, sql_q, customer_q, sql_days,
    customer_days) for the chosen quarters."""
    lo = np.array([r[0] for r in records], dtype=np.int64)
    hi = np.array([r[1] for r in records], dtype=np.int64)
    code = np.array([r[2:6] for r in records], dtype=np.int16).reshape(-1, 4).T.copy()
    lag = np.array([r[6:8] for r in records], dtype=np.float64).reshape(-1, 2).T.copy()
    place = np.full(n_quarters + 1, -1, dtype=np.int64)
    place[np.array(chosen) + 1] = np.arange(len(chosen))
    return stabbing.sql_index(lo, hi, code, lag, place)


def brute(records: list[tuple], chosen: list[int], s: int) -> tuple:
    """Return what sql_index_at should answer at s, counting every record."""
    held = [r for r in records if r[0] < s <= r[1]]
    counts = np.zeros((4, len(chosen)), dtype=np.int64)
    lags: list[list[int]] = [[0] * len(chosen), [0] * len(chosen)]
    days: list[list[float]] = [[], []]
    for r in held:
        lo, hi, cohort, won, sql_q, customer_q, *lag = r
        for row, q in enumerate((cohort, cohort if won else -1, sql_q, customer_q)):
            if q in chosen:
                counts[row, chosen.index(q)] += 1
        for stage, q in enumerate((sql_q, customer_q)):
            if q in chosen:
                lags[stage][chosen.index(q)] += round(lag[stage] * DAY_US)
                days[stage].append(lag[stage])
    medians = [(len(d), float(np.median(d)) if d else None) for d in days]
    return counts, lags, medians


def answered(index: stabbing.SqlIndex, s: int) -> tuple:
    """Return sql_index_at's answer with a median of nothing as None."""
    counts, lags, medians = stabbing.sql_index_at(index, s)
    return counts, lags, [(int(n), float(v) if n else None) for n, v in medians]


def test_the_index_counts_a_few_records_by_hand():
    # three leads: a's records hold (-BIAS, 10] and (10, 30]; b's (-BIAS, 20]; c's (5, 50]
    records = [
        (-BIAS, 10_000_000, 0, 1, 1, 2, 3.0, 40.0),  # a, early: SQL 3 days later, won
        (10_000_000, 30_000_000, 1, 1, 1, 2, 1.5, 38.5),  # a, later
        (-BIAS, 20_000_000, 1, 0, 1, -1, 7.0, 0.0),  # b: never won
        (5_000_000, 50_000_000, 2, 0, -1, -1, 0.0, 0.0),  # c: SQL before its MQL
    ]
    index = index_of(records, n_quarters=3, chosen=[1, 2])
    # at 8 points: a's early record (cohort 0, not chosen), b's and c's (from 5)
    counts, lags, medians = answered(index, 8_000_000)
    assert counts.tolist() == [[1, 1], [0, 0], [2, 0], [0, 1]]  # cohort, won, SQL q, customer q
    assert lags == [[round(10.0 * DAY_US), 0], [0, round(40.0 * DAY_US)]]
    assert medians == [(2, 5.0), (1, 40.0)]  # (3 + 7) / 2 days to SQL; 40 to customer
    # at 15 points: a's later record, b's, c's
    counts, lags, medians = answered(index, 15_000_000)
    assert counts.tolist() == [[2, 1], [1, 0], [2, 0], [0, 1]]
    assert medians == [(2, 4.25), (1, 38.5)]
    # at 10 points exactly: a's early record holds it (lo < 10 <= hi), not its later one
    assert answered(index, 10_000_000)[2] == [(2, 5.0), (1, 40.0)]
    # at 0: the records from -BIAS (a's early, b's), not c's; above every hi: nothing
    assert answered(index, 0)[0].tolist() == [[1, 0], [0, 0], [2, 0], [0, 1]]
    counts, lags, medians = answered(index, 50_000_001)
    assert not counts.any() and lags == [[0, 0], [0, 0]] and medians == [(0, None), (0, None)]


@st.composite
def record_sets(draw):
    """Random leads' records: each lead's intervals follow each other from -BIAS or above."""
    n_quarters = draw(st.integers(1, 5))
    records = []
    for _ in range(draw(st.integers(0, 60))):
        bound = draw(st.sampled_from([-BIAS, 0, 3, 100]))
        won = draw(st.booleans())
        for _ in range(draw(st.integers(1, 4))):
            top = bound + draw(st.integers(1, 400)) if bound >= 0 else draw(st.integers(0, 400))
            quarter = st.integers(-1, n_quarters - 1)
            sql_q, customer_q = draw(quarter), draw(quarter) if won else -1
            days = st.integers(0, 10**9).map(lambda us: us * 1_000 / DAY_US)
            records.append(
                (
                    bound,
                    top,
                    draw(st.integers(0, n_quarters - 1)),
                    int(won),
                    sql_q,
                    customer_q,
                    draw(days) if sql_q >= 0 else 0.0,
                    draw(days) if customer_q >= 0 else 0.0,
                )
            )
            bound = top
    chosen = draw(st.lists(st.integers(0, n_quarters - 1), min_size=1, unique=True))
    return records, n_quarters, chosen


@settings(max_examples=150, deadline=None)
@given(record_sets(), st.lists(st.integers(0, 1_700), min_size=1, max_size=8))
def test_the_index_answers_as_counting_every_record(data, thresholds):
    records, n_quarters, chosen = data
    index = index_of(records, n_quarters, chosen)
    edges = [r[k] + d for r in records[:5] for k in (0, 1) for d in (-1, 0, 1) if r[k] + d >= 0]
    for s in [*thresholds, *edges]:
        counts, lags, medians = answered(index, s)
        want = brute(records, chosen, s)
        assert counts.tolist() == want[0].tolist(), s
        assert lags == want[1], s
        assert medians == want[2], s  # the median bit for bit as np.median takes it


def days(rng: np.random.Generator) -> float:
    """Return up to 90 days as the kernel writes a lag: whole microseconds over DAY_US."""
    return int(rng.integers(0, 90 * DAY_US)) / DAY_US


def test_many_records_fill_every_bin_and_checkpoint():
    rng = np.random.default_rng(3)
    records = []
    for _ in range(4_000):  # leads of one to five records, lags with ties
        bound = -BIAS
        for _ in range(int(rng.integers(1, 6))):
            top = max(bound, 0) + int(rng.integers(1, 2_000))
            records.append(
                (bound, top, int(rng.integers(0, 4)), 1, int(rng.integers(-1, 4)))
                + (int(rng.integers(-1, 4)), float(rng.integers(0, 50)), days(rng))
            )
            bound = top
    chosen = [3, 1]
    index = index_of(records, 4, chosen)
    assert len(index.arrays[-1]) > 4 * stabbing.BINS  # more captures than bins
    for s in rng.integers(0, 8_000, 40):
        counts, lags, medians = answered(index, int(s))
        want = brute(records, chosen, int(s))
        assert counts.tolist() == want[0].tolist() and lags == want[1] and medians == want[2]


def test_many_chosen_quarters_take_fewer_buckets_and_answer_alike():
    rng = np.random.default_rng(5)
    n_quarters = 120
    records = [
        (int(lo), int(lo) + int(rng.integers(1, 10**9)), int(rng.integers(0, n_quarters)), 0)
        + (int(rng.integers(-1, n_quarters)), -1, days(rng), 0.0)
        for lo in rng.integers(-1, 10**9, 3_000)
    ]
    chosen = list(range(n_quarters))
    index = index_of(records, n_quarters, chosen)
    shift, starts, sums = index.arrays[:3]
    assert sums.nbytes <= stabbing.SUMS_BYTES and starts.shape[1] < (1 << stabbing.BUCKET_BITS)
    for s in [0, *rng.integers(0, 2 * 10**9, 30)]:
        counts, lags, medians = answered(index, int(s))
        want = brute(records, chosen, int(s))
        assert counts.tolist() == want[0].tolist() and lags == want[1] and medians == want[2]


def test_a_backtest_from_the_index_is_the_one_from_the_scan_bit_for_bit(demo):
    """The first threshold asked of a scoring scans its SQL records; from the second on the
    index answers: the same Backtest, every float bit for bit, at every threshold tried."""
    cur = demo.cursor()
    definition = definitions.load(cur, 1)
    m = lab.materialise_for(cur, definition)
    scores = lab.score(m, definition)
    hi = scores.sql_hi
    tried = [0.0, 1e-6, 20.0, 40.5, definition.threshold, 65.0, 90.0, 130.0]
    tried += [float(v) / 1e6 for v in np.unique(hi)[:: max(1, len(np.unique(hi)) // 12)]]
    labels = [q.label for q in m.calendar.quarters]
    for quarters in (None, labels[-3:-1], labels[-2:-1]):
        lab.backtest(m, scores, 1.0, quarters)  # the first ask: a scan; the index next
        with scores.records(m) as records:
            assert records.sql_index_for(
                m.calendar.quarter_indices(quarters), len(m.calendar.quarters)
            )
        for threshold in tried:
            assert threshold_micro(threshold) >= 0
            fresh = lab.score(m, definition)  # its first ask scans
            scanned = lab.backtest(m, fresh, threshold, quarters, sales_capacity_per_week=3)
            fresh.release()
            indexed = lab.backtest(m, scores, threshold, quarters, sales_capacity_per_week=3)
            assert_same(indexed, scanned, f"{quarters} at {threshold}")
            assert scanned.totals["sql_capture"]["successes"] >= 0
    with scores.records(m) as records:
        assert len(records.sql_indexes) == 2  # the last two choices of quarters kept
    scores.release()


def test_who_moves_from_its_index_is_the_pass_over_every_lead(demo):
    """The first who moves of a scoring against read-only moments passes over every lead; from
    the second on a binary search per side answers: the same Movers at every threshold tried,
    at leads' best scores and a micro-point either side (ties, the sample's order)."""
    cur = demo.cursor()
    current, candidate = definitions.load(cur, 1), definitions.load(cur, 2)
    m = lab.materialise_for(cur, current)
    moments = lab.mql_moments(m, current)
    assert not moments.flags.writeable
    scores = lab.score(lab.with_half_life(m, candidate.half_life_days), candidate)
    best = np.unique(scores.lead_max[scores.lead_max >= 0])
    tried = [0, 1, 40_000_000, 10**12] + [
        int(v) + d for v in best[:: max(1, len(best) // 25)] for d in (-1, 0, 1) if v + d >= 0
    ]
    lab.who_moves(m, moments, scores, 50.0)  # the first: a pass; the index next
    for s in tried:
        threshold = s / 1e6
        assert threshold_micro(threshold) == s
        fresh = dataclasses.replace(scores)  # the same scores, asked for the first time
        passed = lab.who_moves(m, moments, fresh, threshold, sample=7)
        indexed = lab.who_moves(m, moments, scores, threshold, sample=7)
        assert_same(indexed, passed, f"at {s}")
    assert moving._MOVER_INDEX[scores][id(moving._is_mql(moments))][1] is not None
    writeable = moments.copy()  # moments that may change keep no index
    for _ in range(2):
        assert_same(
            lab.who_moves(m, writeable, scores, 45.0), lab.who_moves(m, moments, fresh, 45.0)
        )
