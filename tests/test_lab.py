"""The Threshold Lab engine (funnelcast.lab): its fast answers equal the SQL definition of an MQL.

queries/computed_mql_moments.sql is the reference. The Lab materialises decayed sums once, keeps
each lead's record highs as sorted keys and answers a threshold with binary searches; every
figure it gives must be what the SQL's MQL moments give, on random data (hypothesis) and on the
demo history. The named journeys below check precision, capture and days earlier by hand.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import os

import fixtures as fx
import numpy as np
import polars as pl
import pytest
from fixtures import Definition as StoredDefinition
from fixtures import Journey, Spend
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from test_properties import SETTINGS, datasets

from funnelcast import definitions, lab
from funnelcast.data import db
from funnelcast.definitions import BehaviourRule, Definition
from funnelcast.demo import build_demo
from funnelcast.lab import moving
from funnelcast.lab._fast import counting, layout
from funnelcast.lab._fast import kernels as lab_kernels
from funnelcast.lab._fast.switch import ENV as FAST_ENV

EPOCH = dt.datetime(1970, 1, 1)


def sql_moments(cur, definition_id: int, threshold: float | None = None) -> pl.DataFrame:
    """Return (lead_id, mql_at) as the reference SQL computes them."""
    return db.run(
        cur, "computed_mql_moments", definition_id=definition_id, threshold=threshold
    ).select("lead_id", "mql_at")


def moments_array(m: lab.Materialised, moments: pl.DataFrame) -> np.ndarray:
    """Return per-lead MQL moments (us; NEVER for none) from a (lead_id, mql_at) frame."""
    out = np.full(m.n_leads, lab.NEVER, dtype=np.int64)
    for lead_id, mql_at in moments.iter_rows():
        out[m.lead_index(lead_id)] = (mql_at - EPOCH) // dt.timedelta(microseconds=1)
    return out


def assert_same_backtest(fast: lab.Backtest, reference: lab.Backtest) -> None:
    """Assert two backtests give the same figures (means and medians up to rounding)."""
    assert_frame_equal(fast.quarters, reference.quarters, check_exact=False, rel_tol=1e-9)
    assert_frame_equal(fast.weeks, reference.weeks)
    for key, value in reference.totals.items():
        if isinstance(value, float):
            assert fast.totals[key] == pytest.approx(value, rel=1e-9), key
        else:
            assert fast.totals[key] == value, key


@contextlib.contextmanager
def fast_path(on: bool):
    """Run the block with the Lab's fast path on (vector loop, reused buffers) or off
    (FUNNELCAST_LAB_FAST=0: the generic loop, fresh arrays every scoring)."""
    before = os.environ.get(FAST_ENV)
    os.environ[FAST_ENV] = "1" if on else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(FAST_ENV, None)
        else:
            os.environ[FAST_ENV] = before


def check_against_sql(
    cur, m: lab.Materialised, definition: Definition, definition_id: int, thresholds
) -> None:
    """Assert the Lab's moments and backtests equal those of the SQL at each threshold, with
    the fast path on and off."""
    references = {t: sql_moments(cur, definition_id, float(t)) for t in thresholds}
    for on in (True, False):
        with fast_path(on):
            scores = lab.score(m, definition)
            volumes = []
            for threshold, reference in references.items():
                straight = lab.moments_frame(m, lab.mql_moments(m, definition, threshold))
                assert_frame_equal(straight, reference, check_dtypes=False)
                fast = lab.backtest(m, scores, threshold)
                replayed = lab.backtest_moments(m, moments_array(m, reference), threshold)
                assert_same_backtest(fast, replayed)
                assert fast.totals["mqls"] == reference.height
                volumes.append(fast.totals["mqls"])
            scores.release()
        # a higher threshold never finds more MQLs
        order = np.argsort(list(references), kind="stable")
        assert all(np.diff(np.array(volumes)[order]) <= 0)


# =====================================================================================
# the fast path equals the SQL path
# =====================================================================================


@SETTINGS
@given(
    data=datasets(allow_negative=True),
    thresholds=st.lists(st.integers(0, 150), min_size=1, max_size=4),
    half=st.booleans(),
)
def test_the_lab_finds_the_sql_mql_moments_on_random_data(data, thresholds, half):
    con = data.build()
    cur = con.cursor()
    definition = definitions.load(cur, 1)
    m = lab.materialise_for(cur, definition)
    # half points too: thresholds need not be whole numbers
    check_against_sql(cur, m, definition, 1, [t + 0.5 * half for t in thresholds])


@pytest.fixture(scope="module")
def demo():
    """A 3,000-lead demo database with two more definitions: other weights, other half-life."""
    con = db.connect(":memory:", create=True)
    build_demo(con, leads=3000, seed=11)
    current = definitions.load(con, 1)
    reweighted = StoredDefinition(
        definition_id=2,
        effective_from="2030-01-01",
        threshold=40,
        half_life_days=30,
        fit_rules=[
            ("seniority", "director", 25),
            ("industry", "retail", -15),
            ("region", "apac", 0, True),
            ("company_size_band", "5000+", 12.5),
        ],
        behaviour_rules=[
            (
                r.event_type,
                r.points * 1.5 if r.points > 0 else r.points,
                None if r.cap is None else r.cap / 2,
            )
            for r in current.behaviour_rules
        ],
    )
    slower = dataclasses.replace(reweighted, definition_id=3, half_life_days=75)
    # every behaviour rule a penalty: the same events, counted undecayed
    penalties = dataclasses.replace(
        reweighted,
        definition_id=4,
        effective_from="2031-01-01",
        # the built-in `is` rules (the fixture writes rules as equality on text; the demo's
        # rules on its custom attributes are scored by test_lab_rules)
        fit_rules=[
            (r.attribute, r.value, r.points, r.is_disqualifier)
            for r in current.fit_rules
            if r.op == "is" and r.attribute in definitions.BUILTIN_FIELDS
        ],
        behaviour_rules=[(r.event_type, -abs(r.points), r.cap) for r in current.behaviour_rules],
    )
    fx.add_definitions(con, [reweighted, slower, penalties])
    yield con
    con.close()


def test_the_lab_finds_the_sql_mql_moments_on_the_demo(demo):
    cur = demo.cursor()
    current = definitions.load(cur, 1)
    m = lab.materialise_for(cur, current, definitions.load(cur, 2))
    check_against_sql(cur, m, current, 1, [0, 20, 50, 64.5, 65, 65.000001, 90, 140])
    check_against_sql(cur, m, definitions.load(cur, 2), 2, [0, 35.25, 40, 80])
    # a half-life change re-sums the decayed events into a new materialisation
    slower = lab.with_half_life(m, 75)
    check_against_sql(cur, slower, definitions.load(cur, 3), 3, [10, 40, 100])
    assert slower.check_at is m.check_at and slower.decay is not m.decay
    check_against_sql(cur, m, current, 1, [65])  # the original is as it was


def test_a_definition_without_rules_makes_every_lead_an_mql_at_creation():
    con = fx.build(
        [
            Journey("a", "2025-02-01", events=[("email_open", "2025-02-03")]),
            Journey("b", "2025-03-01"),
        ],
        definitions=[StoredDefinition(1, "2024-01-01", threshold=0, half_life_days=30)],
    )
    cur = con.cursor()
    definition = definitions.load(cur, 1)
    m = lab.materialise_for(cur, definition)
    assert m.event_types == () and m.n_checks == 2
    check_against_sql(cur, m, definition, 1, [0, 0.5, 10])
    assert lab.backtest(m, lab.score(m, definition), 0).totals["mqls"] == 2


# =====================================================================================
# the fast path off (FUNNELCAST_LAB_FAST=0) gives the same answers
# =====================================================================================


def engine_answers(
    m: lab.Materialised, current: Definition, candidate: Definition, thresholds, quarters
) -> dict:
    """Return all the engine answers of a candidate against the current definition: the
    scoring's arrays, moments, backtests, the curve, who moves and a few leads' checks."""
    scores = lab.score(m, candidate)
    current_mql_us = lab.mql_moments(m, current)
    answers: dict = {
        "lead_max": scores.lead_max.copy(),
        "keys": (np.concatenate(scores.key_lo), np.concatenate(scores.key_hi)),
        "sql": (scores.sql_lo, scores.sql_hi, scores.sql_code, scores.sql_lag, scores.sql_start),
        "current": current_mql_us,
        "checks": [
            lab.lead_checks(m, scores.weights, lead)
            for lead in range(0, m.n_leads, max(1, m.n_leads // 7))
        ],
        "curve": lab.tradeoff_curve(m, scores, quarters),
    }
    for t in thresholds:
        answers[f"at {t}"] = (
            lab.mql_moments(m, candidate, t),
            lab.backtest(m, scores, t, quarters, sales_capacity_per_week=3),
            lab.who_moves(m, current_mql_us, scores, t, sample=5),
            lab.movers(m, current_mql_us, scores, t),
        )
    scores.release()
    return answers


def assert_same(a, b, where: str = "") -> None:
    """Assert two answers are the same, array for array (floats bit for bit), frame for frame."""
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8)), where
    elif isinstance(a, pl.DataFrame):
        assert_frame_equal(a, b, check_exact=True)
    elif isinstance(a, lab.Backtest | lab.Movers):
        for name in vars(a):
            assert_same(getattr(a, name), getattr(b, name), f"{where}.{name}")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, tuple | list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def capped(definition: Definition, cap: float) -> Definition:
    """Return the definition with every reward capped (the vector loop scores up to eight)."""
    return dataclasses.replace(
        definition,
        behaviour_rules=tuple(
            BehaviourRule(r.event_type, r.points, cap if r.points > 0 else r.cap)
            for r in definition.behaviour_rules
        ),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=datasets(allow_negative=True),
    thresholds=st.lists(st.integers(0, 120), min_size=1, max_size=3),
    cap=st.floats(0.5, 80).map(lambda x: round(x, 1)),
)
def test_the_fast_path_off_gives_the_same_answers_on_random_data(data, thresholds, cap):
    con = data.build()
    cur = con.cursor()
    current = definitions.load(cur, 1)
    m = lab.materialise_for(cur, current)
    for candidate in (current, capped(current, cap)):
        with fast_path(True):
            on = engine_answers(m, current, candidate, thresholds, None)
        with fast_path(False):
            off = engine_answers(m, current, candidate, thresholds, None)
        assert_same(on, off)


def test_the_fast_path_off_gives_the_same_answers_on_the_demo(demo):
    cur = demo.cursor()
    current = definitions.load(cur, 1)
    m = lab.materialise_for(cur, current)
    quarters = [q.label for q in m.calendar.quarters[3:9]]
    for candidate in (definitions.load(cur, 2), definitions.load(cur, 4), capped(current, 12)):
        answers = []
        for on in (True, False):
            with fast_path(on):
                answers.append(engine_answers(m, current, candidate, (0, 30, 55.5), quarters))
        assert_same(*answers)


# =====================================================================================
# a threshold move: monotone, and quiet when nobody qualifies
# =====================================================================================


def test_the_tradeoff_curve_is_monotone_and_agrees_with_each_backtest(demo):
    cur = demo.cursor()
    definition = definitions.load(cur, 1)
    m = lab.materialise_for(cur, definition)
    scores = lab.score(m, definition)
    everything = lab.tradeoff_curve(m, scores)
    assert everything["threshold"][0] == 0 and everything.height > 50
    for column in (
        "mqls",
        "mqls_reached_sql",
        "mqls_reached_customer",
        "sqls_captured",
        "customers_captured",
    ):
        assert (everything[column].diff().drop_nulls() <= 0).all(), column
    # Inside a window of quarters only capture must fall: a higher threshold can move a
    # lead's MQL moment later, out of an earlier quarter and into the window.
    quarters = [q.label for q in m.calendar.quarters[4:8]]
    window = lab.tradeoff_curve(m, scores, quarters)
    for column in ("sqls_captured", "customers_captured"):
        assert (window[column].diff().drop_nulls() <= 0).all(), column
    for row in window.gather_every(17).iter_rows(named=True):
        totals = lab.backtest(m, scores, row["threshold"], quarters).totals
        assert totals["mqls"] == row["mqls"]
        assert totals["mql_to_sql"]["successes"] == row["mqls_reached_sql"]
        assert totals["sql_capture"]["successes"] == row["sqls_captured"]
        assert totals["customer_capture"]["value"] == pytest.approx(row["customer_capture"])


def test_the_sql_records_in_buckets_answer_thresholds_at_every_bucket_edge(demo):
    """The SQL leads' records sit in buckets by upper bound; a threshold at, just under and
    just over a bucket's edge takes exactly the records with lo < s <= hi."""
    cur = demo.cursor()
    definition = definitions.load(cur, 1)
    m = lab.materialise_for(cur, definition)
    scores = lab.score(m, definition)
    lo, hi, start, shift = scores.sql_lo, scores.sql_hi, scores.sql_start, scores.sql_shift
    assert len(lo) > 1000 and start[-1] == len(lo) and (np.diff(start) >= 0).all()
    buckets = np.repeat(np.arange(len(start) - 1), np.diff(start))
    assert (np.minimum(hi >> shift, len(start) - 2) == buckets).all()
    used = np.flatnonzero(np.diff(start))
    assert len(used) > 20  # the records spread over many buckets
    for b in used[:: max(1, len(used) // 15)]:
        edge = int(b) << shift
        for s in (edge - 1, edge, edge + 1, int(hi.max()), int(hi.max()) + 1):
            threshold = s / 1e6  # threshold_micro(s / 1e6) is s
            assert lab.threshold_micro(threshold) == s
            facts = lab.backtest(m, scores, threshold).totals
            reaching = (lo < s) & (hi >= s)
            won = scores.sql_code[1] != 0
            assert facts["mql_to_sql"]["successes"] == int(reaching.sum()), s
            assert facts["mql_to_customer"]["successes"] == int((reaching & won).sum()), s


def test_keys_come_in_pieces_by_quarter_sorted_only_once_a_second_threshold_asks(demo):
    """A rescore writes each quarter's record runs to its own pieces and sorts none; the first
    backtest counts its quarters' pieces as they are and sorts none either (nor does the
    curve), the second sorts the pieces of its quarters only; both answer as one sorted array
    would, at every day."""
    cur = demo.cursor()
    definition = definitions.load(cur, 1)
    m = lab.materialise_for(cur, definition)
    scores = lab.score(m, definition)
    cal = m.calendar
    assert len(scores.key_lo) == 2 * len(cal.quarters)  # two halves of the leads
    assert not any(scores.key_sorted)
    assert any(not np.all(np.diff(p) >= 0) for p in scores.key_lo)  # as the kernel wrote them
    for q, lo, hi in zip(scores.key_quarter, scores.key_lo, scores.key_hi, strict=True):
        assert len(lo) == len(hi)
        for keys in (lo, hi):
            assert (cal.quarter_of_day[keys >> lab.SCORE_BITS] == q).all()

    chosen = [cal.quarters[i].label for i in (2, 4)]
    every_lo = np.sort(np.concatenate(scores.key_lo))
    every_hi = np.sort(np.concatenate(scores.key_hi))
    first = lab.backtest(m, scores, 30, chosen)
    lab.tradeoff_curve(m, scores, chosen)
    assert not any(scores.key_sorted)
    second = lab.backtest(m, scores, 30, chosen)
    picked = [i for i, q in enumerate(scores.key_quarter) if q in (2, 4)]
    assert [i for i, done in enumerate(scores.key_sorted) if done] == picked
    for i in picked:
        assert np.all(np.diff(scores.key_lo[i]) >= 0) and np.all(np.diff(scores.key_hi[i]) >= 0)
    # the per-day counts of one sorted array of every key, the way before pieces
    s = lab.threshold_micro(30)
    days = np.arange(cal.n_days)
    needles = (days << lab.SCORE_BITS) | (s + lab.BIAS)
    per_day = np.searchsorted(every_lo, needles) - np.searchsorted(every_hi, needles)
    for result in (first, second):
        assert_frame_equal(result.weeks, second.weeks)
        for i in (2, 4):
            a, b = cal.quarter_start_day[i], cal.quarter_start_day[i + 1]
            row = result.quarters.filter(pl.col("quarter") == cal.quarters[i].label)
            assert row["mqls"].item() == per_day[a:b].sum() > 0
    # day by day: the pass over unsorted keys counts as the binary searches do
    counted = np.zeros(cal.n_days, dtype=np.int64)
    fresh = lab.score(m, definition)
    with fresh.records(m) as records:
        for i in picked:
            lab._fast.day_counts(records.key_lo[i], records.key_hi[i], s + lab.BIAS, counted)
    inside = np.isin(cal.quarter_of_day, [2, 4])
    assert np.array_equal(counted[inside], per_day[inside])
    assert (counted[~inside] == 0).all()


def pooled(m: lab.Materialised, scores: lab.Scores) -> tuple[np.ndarray, np.ndarray]:
    """Return the arrays a scoring's keys and SQL records live in (to compare, never to read)."""
    with scores.records(m) as records:
        return records.key_lo[0].base, records.sql_lo.base


def same_memory(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> bool:
    """Return whether two scorings' records live in the same arrays."""
    return all(x is y for x, y in zip(a, b, strict=True))


def test_a_released_scorings_arrays_go_to_the_next_and_what_it_handed_out_stays(demo):
    """release gives a scoring's arrays to the next scoring; what the scoring handed out
    (copies, its own best scores) is left as it was, and it still answers, scored again."""
    cur = demo.cursor()
    definition = definitions.load(cur, 1)
    other = definitions.load(cur, 2)
    m = lab.materialise_for(cur, definition, other)
    first = lab.score(m, definition)
    memory = pooled(m, first)
    first.release()
    second = lab.score(m, other)
    assert same_memory(pooled(m, second), memory)  # written over: the same arrays
    expected = lab.score(m, definition)  # not released: arrays of its own
    assert not same_memory(pooled(m, expected), memory)
    kept = (second.sql_lo, second.sql_code, np.concatenate(second.key_hi), second.lead_max)
    kept_copies = tuple(a.copy() for a in kept)
    second.release()
    third = lab.score(m, definition)  # writes over the arrays second gave back
    assert same_memory(pooled(m, third), memory)
    for a, copy in zip(kept, kept_copies, strict=True):
        assert np.array_equal(a, copy)
    assert not np.array_equal(kept[0], third.sql_lo)  # so a view of them would have changed
    assert np.array_equal(third.sql_lo, expected.sql_lo)
    assert np.array_equal(third.sql_code, expected.sql_code)
    assert np.array_equal(np.concatenate(third.key_hi), np.concatenate(expected.key_hi))
    assert np.array_equal(third.lead_max, expected.lead_max)
    # the released scoring has no arrays to copy, but answers as before, scored again
    assert second.released
    with pytest.raises(lab.Released):
        _ = second.sql_lo
    quarters = [q.label for q in m.calendar.quarters[2:]]
    again = lab.backtest(m, second, 40, quarters)
    assert not second.released and not same_memory(pooled(m, second), memory)
    assert_same_backtest(again, lab.backtest(m, lab.score(m, other), 40, quarters))
    assert np.array_equal(second.sql_lo, kept_copies[0])
    assert np.array_equal(third.sql_lo, expected.sql_lo)  # scoring again took nothing of it


def test_a_release_gives_the_arrays_back_after_the_reads_in_progress(demo):
    cur = demo.cursor()
    definition, other = definitions.load(cur, 1), definitions.load(cur, 2)
    m = lab.materialise_for(cur, definition, other)
    scores = lab.score(m, definition)
    memory = pooled(m, scores)
    with scores.records(m) as records:
        before = records.sql_lo.copy()
        scores.release()
        assert scores.released
        meanwhile = lab.score(m, other)  # nothing given back yet: arrays of its own
        assert not same_memory(pooled(m, meanwhile), memory)
        assert np.array_equal(records.sql_lo, before)
    after = lab.score(m, other)  # the read is done: the arrays were given back
    assert same_memory(pooled(m, after), memory)
    scores.release()  # a second release changes nothing
    assert np.array_equal(after.sql_lo, meanwhile.sql_lo)


def test_with_the_fast_path_off_every_scoring_writes_fresh_arrays(demo, monkeypatch):
    cur = demo.cursor()
    definition = definitions.load(cur, 1)
    m = lab.materialise_for(cur, definition)
    monkeypatch.setenv(FAST_ENV, "0")
    first = lab.score(m, definition)
    memory = pooled(m, first)
    first.release()
    second = lab.score(m, definition)
    second_memory = pooled(m, second)
    assert not any(x is y for x, y in zip(second_memory, memory, strict=True))
    monkeypatch.setenv(FAST_ENV, "1")  # on again: the pool keeps and gives what it is given
    second.release()
    assert same_memory(pooled(m, lab.score(m, definition)), second_memory)


def test_threads_scoring_asking_and_releasing_at_once_get_the_answers_of_one(demo):
    """Sessions score, ask and release at once, and one releases a scoring the others are
    asking: every answer is the one a thread alone gets."""
    cur = demo.cursor()
    drafts = [definitions.load(cur, 1), definitions.load(cur, 2)]
    m = lab.materialise_for(cur, *drafts)
    quarters = [q.label for q in m.calendar.quarters[1:]]
    alone = [lab.backtest(m, lab.score(m, d), 35, quarters) for d in drafts]
    curves = [lab.tradeoff_curve(m, lab.score(m, d), quarters) for d in drafts]
    shared = lab.score(m, drafts[0])

    def work(i: int) -> None:
        for round in range(3):
            mine = lab.score(m, drafts[(i + round) % 2])
            assert_same_backtest(lab.backtest(m, mine, 35, quarters), alone[(i + round) % 2])
            assert_frame_equal(lab.tradeoff_curve(m, mine, quarters), curves[(i + round) % 2])
            if i == 0 and round == 1:
                shared.release()
            assert_same_backtest(lab.backtest(m, shared, 35, quarters), alone[0])
            mine.release()

    fx.at_once(work, 4)


def test_many_threads_asking_a_fresh_scoring_at_once_get_the_answers_of_one(demo):
    """Sessions share scorings: threads asking thresholds and the curve of a scoring no one
    has asked yet (each piece is counted as it is, then sorted in place by whichever asks
    again) get what one thread alone gets."""
    cur = demo.cursor()
    definition = definitions.load(cur, 1)
    m = lab.materialise_for(cur, definition)
    quarters = [q.label for q in m.calendar.quarters[1:]]
    alone = lab.score(m, definition)
    curve = lab.tradeoff_curve(m, alone, quarters)
    answers = {t: lab.backtest(m, alone, t, quarters).quarters for t in (10, 35, 60)}
    for _ in range(3):
        shared = lab.score(m, definition)

        def ask(i: int, shared: lab.Scores = shared) -> None:
            if i % 2:
                assert_frame_equal(lab.tradeoff_curve(m, shared, quarters), curve)
            else:
                t = (10, 35, 60)[i // 2]
                assert_frame_equal(lab.backtest(m, shared, t, quarters).quarters, answers[t])

        fx.at_once(ask, 6)
        assert_frame_equal(lab.backtest(m, shared, 35, quarters).quarters, answers[35])
        assert all(shared.key_sorted[i] for i in shared.pieces_of(np.arange(1, 12)))


def test_a_half_life_copy_shares_what_the_layout_gave_once(demo):
    """with_half_life changes only the decay: the per-quarter key stretches (and the counts
    worked out from the layout) carry over, and equal what the copy would work out itself."""
    cur = demo.cursor()
    definition = definitions.load(cur, 1)
    m = lab.materialise_for(cur, definition)
    lab.score(m, definition)
    slower = lab.with_half_life(m, 60.0)
    assert slower.key_stretches is m.key_stretches
    again = lab.Materialised.key_stretches.func(slower)
    assert again.keys() == m.key_stretches.keys()
    assert all(np.array_equal(again[k], m.key_stretches[k]) for k in again)
    assert slower.most_checks == int(np.diff(slower.check_start).max())
    assert slower.sql_leads == int((slower.reached_sql_us != lab.NEVER).sum())


def test_a_threshold_no_lead_reaches_gives_zeros(demo):
    cur = demo.cursor()
    definition = definitions.load(cur, 1)
    m = lab.materialise_for(cur, definition)
    scores = lab.score(m, definition)
    result = lab.backtest(m, scores, 100_000, sales_capacity_per_week=10)
    assert result.totals["mqls"] == 0
    assert result.totals["mql_to_sql"]["value"] is None
    assert result.totals["sql_capture"]["value"] == 0.0
    assert result.totals["sql_days_earlier_median"] is None
    assert result.totals["weeks_over_capacity"] == 0
    assert result.quarters["mqls"].sum() == 0
    assert result.quarters["cost_per_mql"].null_count() == result.quarters.height
    assert lab.tradeoff_curve(m, scores, thresholds=[100_000])["mqls"].to_list() == [0]
    moves = lab.who_moves(m, lab.mql_moments(m, definition), scores, 100_000)
    assert (
        moves.entering == 0
        and moves.leaving
        == moves.by_group.filter(pl.col("dimension") == "channel")["leaving"].sum()
        > 0
    )


@pytest.mark.parametrize("threshold", [-1, float("nan"), float("inf"), "65"])
def test_a_threshold_that_is_not_a_number_at_least_zero_is_refused(threshold):
    with pytest.raises(db.FunnelcastError, match="threshold must be a number >= 0"):
        lab.threshold_micro(threshold)


@pytest.mark.parametrize("threshold", [0.0, 1e-6, 0.1, 0.3, 65, 65.0000005, 999.999999, 1000])
def test_threshold_micro_is_the_least_rounded_score_the_sql_lets_through(threshold):
    s = lab.threshold_micro(threshold)
    assert s / 1e6 >= threshold > (s - 1) / 1e6


def test_micro_rounds_half_away_from_zero_like_duckdb():
    x = np.array([0.0000005, -0.0000005, 1.0000025, 2.5e-6, 65.4999995, -3.0000015, 12.345678])
    con = fx.build()
    expected = [
        con.execute("select round($x::double, 6)", {"x": float(v)}).fetchone()[0] for v in x
    ]
    assert (lab.micro(x) / 1e6).tolist() == expected


@given(
    st.lists(
        st.one_of(
            st.floats(-1e4, 1e4, allow_nan=False),
            st.integers(-(10**10), 10**10).map(lambda k: (k + 0.5) / 1e6),  # ties
            st.sampled_from([-np.inf, np.inf, 1e300, -1e300, 0.0, -0.0]),
        ),
        min_size=1,
    )
)
@settings(deadline=None)
def test_the_compiled_micro_rounds_as_the_numpy_one(x):
    """lab_kernels.micro (branchless, in the loops) and lab.micro (numpy, on arrays): one
    rounding, half away from zero, clipped to the key's range."""
    values = np.array(x)
    assert [lab_kernels.micro(v) for v in values] == lab.micro(values).tolist()


# =====================================================================================
# precision, capture and days earlier, by hand
# =====================================================================================

# Under fixtures.SCORING_2026 (threshold 50; vp 30, c_level 60, apac disqualifies;
# demo_request 80, content_download 20, webinar_attended 40):
JOURNEYS = [
    # MQL 2026-01-08 (30 + 20); SQL 10 days later, customer 30 days later: caught both times
    Journey(
        "download_then_won",
        "2026-01-05",
        "search",
        attributes={"seniority": "vp"},
        events=[("content_download", "2026-01-08")],
        stages=[("sql", "2026-01-18"), ("customer", "2026-02-07", 9_000)],
    ),
    # MQL 2026-02-10 10:00 (80), half an hour after sales made it an SQL: not caught first
    Journey(
        "sql_before_mql",
        "2026-02-10 09:00",
        "social",
        events=[("demo_request", "2026-02-10 10:00")],
        stages=[("sql", "2026-02-10 09:30")],
    ),
    # 20 points: never an MQL, an SQL all the same
    Journey(
        "missed_buyer",
        "2026-01-20",
        "search",
        events=[("content_download", "2026-01-21")],
        stages=[("sql", "2026-03-01")],
    ),
    # 60 + 80 points, but apac is disqualified
    Journey(
        "disqualified_buyer",
        "2026-02-01",
        "email",
        attributes={"seniority": "c_level", "region": "apac"},
        events=[("demo_request", "2026-02-02")],
        stages=[("sql", "2026-03-05")],
    ),
    # an MQL at creation (60) in 2026Q2 that went nowhere
    Journey("quiet_mql", "2026-04-02", "social", attributes={"seniority": "c_level"}),
    # MQL 2025-12-22 (30 + 40) in 2025Q4; SQL 14 days later in 2026Q1, customer 114 days later
    Journey(
        "slow_winner",
        "2025-12-20",
        "events",
        attributes={"seniority": "vp"},
        events=[("webinar_attended", "2025-12-22")],
        stages=[("sql", "2026-01-05"), ("customer", "2026-04-15", 20_000)],
    ),
]
SPEND = [
    Spend("2026-01-01", "search", 3_000),
    Spend("2026-02-01", "social", 1_000),
    Spend("2025-10-01", "events", 500),
]


@pytest.fixture(scope="module")
def journeys():
    """The named journeys, materialised and scored under SCORING_2026."""
    con = fx.build(JOURNEYS, spend=SPEND, definitions=[fx.SCORING_2026])
    cur = con.cursor()
    definition = definitions.load(cur, 1)
    m = lab.materialise_for(cur, definition)
    yield cur, m, lab.score(m, definition)
    con.close()


def test_precision_capture_and_days_earlier_by_hand(journeys):
    _, m, scores = journeys
    result = lab.backtest(m, scores, 50, ["2026Q1"], sales_capacity_per_week=0.5)
    row = result.quarters.row(0, named=True)
    assert row | {"quarter_start": None} == {
        "quarter": "2026Q1",
        "quarter_start": None,
        "is_mature": row["is_mature"],
        "mqls": 2,  # download_then_won, sql_before_mql
        "mqls_reached_sql": 2,
        "mqls_reached_customer": 1,
        "sqls": 5,  # all but quiet_mql reached SQL in 2026Q1
        "sqls_captured": 2,  # download_then_won (10 days), slow_winner (14 days)
        "sql_days_earlier_mean": 12.0,
        "customers": 1,
        "customers_captured": 1,
        "customer_days_earlier_mean": 30.0,
        "spend": 4_000.0,
        "cost_per_mql": 2_000.0,
    }
    totals = result.totals
    assert totals["mql_to_sql"]["value"] == 1.0 and totals["mql_to_customer"]["value"] == 0.5
    assert totals["sql_capture"]["successes"] == 2 and totals["sql_capture"]["n"] == 5
    assert totals["sql_days_earlier_median"] == 12.0
    assert totals["customer_days_earlier_median"] == 30.0
    # 2026Q1 holds 12 whole weeks, Monday 5 January to Sunday 29 March; one MQL in two of them
    assert totals["weeks"] == 12 and totals["peak_week_mqls"] == 1
    assert totals["weeks_over_capacity"] == 2
    assert totals["mqls_per_week"] == pytest.approx(2 / (90 / 7))
    assert result.weeks.filter("over_capacity")["week_start"].to_list() == [
        dt.date(2026, 1, 5),
        dt.date(2026, 2, 9),
    ]
    # the customer won in 2026Q2 was caught 114 days before; its MQL counts in 2025Q4
    later = lab.backtest(m, scores, 50, ["2025Q4", "2026Q2"])
    assert later.quarters["mqls"].to_list() == [1, 1]
    assert later.totals["customer_days_earlier_median"] == 114.0
    assert later.totals["spend"] == 500.0


def test_a_higher_threshold_keeps_only_the_demo_request(journeys):
    cur, m, scores = journeys
    result = lab.backtest(m, scores, 75, ["2026Q1"])
    assert result.totals["mqls"] == 1 and result.totals["mql_to_sql"]["value"] == 1.0
    assert result.totals["sql_capture"]["successes"] == 0
    assert lab.moments_frame(m, lab.mql_moments(m, definitions.load(cur, 1), 75)).rows() == [
        ("sql_before_mql", dt.datetime(2026, 2, 10, 10))
    ]


# =====================================================================================
# who moves, and a score explained
# =====================================================================================


def test_who_moves_counts_the_leads_that_enter_and_leave(journeys):
    cur, m, scores = journeys
    current = lab.mql_moments(m, definitions.load(cur, 1))  # MQLs at 50
    moves = lab.who_moves(m, current, scores, 65, sample=10)
    # at 65: download_then_won (50) and quiet_mql (60) leave; nobody enters
    assert (moves.entering, moves.leaving, moves.staying) == (0, 2, 2)
    assert sorted(moves.sample["lead_id"]) == ["download_then_won", "quiet_mql"]
    assert moves.sample["direction"].unique().to_list() == ["leaves"]
    assert moves.sample["best_score"].to_list() == [60.0, 50.0]  # closest to the threshold first
    seniority = moves.by_group.filter(pl.col("dimension") == "seniority")
    assert dict(seniority.select("value", "leaving").rows()) == {"c_level": 1, "vp": 1}
    back = lab.who_moves(m, lab.mql_moments(m, definitions.load(cur, 1), 65), scores, 50)
    assert (back.entering, back.leaving) == (2, 0)
    assert back.sample["candidate_mql_at"].to_list() == [
        dt.datetime(2026, 1, 8),
        dt.datetime(2026, 4, 2),
    ]
    everyone = lab.movers(m, current, scores, 65)
    assert everyone.sort("lead_id")["lead_id"].to_list() == ["download_then_won", "quiet_mql"]


def test_who_moves_agrees_with_counting_every_lead(demo):
    cur = demo.cursor()
    current, other = definitions.load(cur, 1), definitions.load(cur, 2)
    m = lab.materialise_for(cur, current, other)
    current_mql_us = lab.mql_moments(m, current)
    scores = lab.score(m, other)
    for threshold in (0, 25.5, 40, 65, 200):
        candidate = lab.mql_moments(m, other, threshold) != lab.NEVER
        was = current_mql_us != lab.NEVER
        moves = lab.who_moves(m, current_mql_us, scores, threshold, sample=7)
        assert moves.entering == (candidate & ~was).sum()
        assert moves.leaving == (was & ~candidate).sum()
        assert moves.staying == (was & candidate).sum()
        for dimension in lab.PERSONA:
            rows = moves.by_group.filter(pl.col("dimension") == dimension)
            values = (*m.values[dimension], lab.NO_VALUE)
            expected = {
                values[code]: (
                    int(((m.codes[dimension] == code) & candidate & ~was).sum()),
                    int(((m.codes[dimension] == code) & was & ~candidate).sum()),
                )
                for code in range(len(values))
            }
            assert {v: (i, o) for _, v, i, o, _ in rows.rows()} == {
                v: c for v, c in expected.items() if c != (0, 0)
            }, dimension
        assert moves.sample.height == min(7, moves.entering) + min(7, moves.leaving)
        # the sample: the 7 lowest best scores entering, the 7 highest leaving, ties by lead
        best = scores.lead_max
        into, out_of = np.flatnonzero(candidate & ~was), np.flatnonzero(was & ~candidate)
        closest = np.concatenate(
            [
                into[np.lexsort((into, best[into]))][:7],
                out_of[np.lexsort((out_of, -best[out_of]))][:7],
            ]
        )
        assert moves.sample["lead_id"].to_list() == m.lead_id.gather(closest).to_list()
        entering = moves.sample.filter(pl.col("direction") == "enters")
        assert (entering["best_score"] >= threshold).all()
        assert entering["best_score"].is_sorted()
        # each entering lead's candidate MQL moment is the one the straight pass finds
        straight = lab.mql_moments(m, other, threshold)
        for lead_id, at in entering.select("lead_id", "candidate_mql_at").rows():
            assert at == EPOCH + dt.timedelta(microseconds=int(straight[m.lead_index(lead_id)]))
        assert lab.movers(m, current_mql_us, scores, threshold).height == (
            moves.entering + moves.leaving
        )


def test_who_moves_keeps_the_mask_of_moments_no_one_can_change():
    moments = np.array([5, lab.NEVER, 7, lab.NEVER], dtype=np.int64)
    assert moving._is_mql(moments).tolist() == [True, False, True, False]
    assert moving._is_mql(moments) is not moving._is_mql(moments)  # writable: made each time
    moments.flags.writeable = False
    kept = moving._is_mql(moments)
    assert moving._is_mql(moments) is kept
    other = moments.copy()  # the same values, another array: its own mask
    other[1] = 9
    assert moving._is_mql(other).tolist() == [True, True, True, False]
    del moments, kept
    gc.collect()
    fresh = np.array([lab.NEVER], dtype=np.int64)
    fresh.flags.writeable = False
    assert moving._is_mql(fresh).tolist() == [False]
    # the next call drops the masks of moments that are gone
    assert all(ref() is not None for ref, _ in moving._IS_MQL.values())


def test_an_explained_score_adds_up_to_lead_scores(demo):
    cur = demo.cursor()
    for definition_id in (1, 2):
        definition = definitions.load(cur, definition_id)
        for as_of in (dt.datetime(2025, 3, 1), dt.datetime(2026, 9, 30, 23, 59)):
            scores = db.run(cur, "lead_scores", definition_id=definition_id, as_of=as_of)
            # leads with many rows (fit, events, caps, penalties) and some without any
            sample = scores.sort("lead_id").gather_every(97)
            for lead_id, score in sample.select("lead_id", "score").iter_rows():
                rows = lab.explain_score(cur, definition, lead_id, as_of)
                assert round(rows["points"].sum(), 6) == pytest.approx(score, abs=1e-9), lead_id


def test_an_explanation_shows_fit_events_caps_and_penalties():
    con = fx.build(
        [
            Journey(
                "busy",
                "2025-01-01",
                attributes={"seniority": "vp", "region": "apac"},
                events=[
                    ("content_download", "2025-01-02"),
                    ("content_download", "2025-01-02"),
                    ("unsubscribe", "2025-01-03"),
                    ("email_open", "2025-01-03"),
                ],
            )
        ],
        definitions=[fx.SCORING_2026],
    )
    rows = lab.explain_score(
        con.cursor(), definitions.load(con, 1), "busy", dt.datetime(2025, 1, 2)
    )
    assert rows.select("kind", "rule", "points", "is_disqualifier").rows() == [
        ("fit", "region=apac", 0.0, True),
        ("fit", "seniority=vp", 30.0, False),
        ("event", "content_download", 20.0, False),
        ("event", "content_download", 20.0, False),
        ("cap", "content_download", -10.0, False),
    ]


# =====================================================================================
# what the materialised sums can score, and a lead's checks
# =====================================================================================


def test_a_definition_the_sums_cannot_score_asks_for_a_new_materialisation(demo):
    cur = demo.cursor()
    current = definitions.load(cur, 1)
    m = lab.materialise_for(cur, current)
    rules = current.behaviour_rules
    new_type = dataclasses.replace(current, behaviour_rules=(*rules, BehaviourRule("visit", 5)))
    with pytest.raises(lab.Rematerialise, match="'visit' is not materialised"):
        lab.score(m, new_type)
    # a reward turned penalty needs nothing new: penalties count undecayed, from the same events
    check_against_sql(cur, m, definitions.load(cur, 4), 4, [0, 10, 30])
    with pytest.raises(lab.Rematerialise, match="30-day half-life, not 45"):
        lab.score(m, dataclasses.replace(current, half_life_days=45))
    # a weight set to 0 scores nothing, whichever kind the type is
    silent = dataclasses.replace(
        current,
        fit_rules=(),
        behaviour_rules=tuple(BehaviourRule(r.event_type, 0, r.cap) for r in rules),
    )
    assert lab.backtest(m, lab.score(m, silent), 0.000001).totals["mqls"] == 0
    assert lab.backtest(m, lab.score(m, silent), 0).totals["mqls"] == m.n_leads


def test_a_leads_checks_score_as_its_explanation_adds_up(journeys):
    cur, m, scores = journeys
    definition = definitions.load(cur, 1)
    for lead_id in ("slow_winner", "download_then_won", "disqualified_buyer", "missed_buyer"):
        checks, points = lab.lead_checks(m, scores.weights, m.lead_index(lead_id))
        for at_us, total in zip(checks, points, strict=True):
            at = EPOCH + dt.timedelta(microseconds=int(at_us))
            rows = lab.explain_score(cur, definition, lead_id, at)
            if rows["is_disqualifier"].any():
                assert total == -np.inf
            else:
                assert total == pytest.approx(rows["points"].sum(), abs=1e-9), (lead_id, at)
    with pytest.raises(db.FunnelcastError, match="no lead with id 'nobody'"):
        m.lead_index("nobody")


def test_each_quarter_is_judged_by_the_version_in_force_then(demo):
    cur = demo.cursor()
    first, second = definitions.load(cur, 1), definitions.load(cur, 3)  # 30 and 75 days
    m = lab.materialise_for(cur, first, second)
    quarters = m.calendar.quarters
    middle = len(quarters) // 2
    spans = lab.versions_in_force(
        m, [None] * 2 + [first] * (middle - 2) + [second] * (len(quarters) - middle)
    )
    # the quarters before the first version go to it; each span runs to the next's start
    assert [d.definition_id for d, _ in spans] == [1, 3]
    assert spans[0][1][0] == -lab.NEVER and spans[1][1][1] == lab.NEVER
    switch = (quarters[middle].start - dt.date(1970, 1, 1)).days * lab.DAY_US
    assert spans[0][1][1] == switch == spans[1][1][0]
    moments = lab.mql_moments_in_force(m, spans)
    # lead by lead: the first check, before the switch scored by the first version and after
    # it by the second (on the history decayed by its own half-life)
    slower = lab.with_half_life(m, second.half_life_days)
    w1, w2 = lab.compile_weights(m, first), lab.compile_weights(slower, second)
    expected = np.full(m.n_leads, lab.NEVER, dtype=np.int64)
    for lead in range(m.n_leads):
        at, x1 = lab.lead_checks(m, w1, lead)
        _, x2 = lab.lead_checks(slower, w2, lead)
        hit = np.where(
            at < switch,
            lab.micro(x1) >= lab.threshold_micro(first.threshold),
            lab.micro(x2) >= lab.threshold_micro(second.threshold),
        )
        if hit.any():
            expected[lead] = at[np.argmax(hit)]
    assert (moments == expected).all()
    # someone crosses in each span, and one version throughout equals that version alone
    assert (moments[moments != lab.NEVER] < switch).any()
    assert (moments[moments != lab.NEVER] >= switch).any()
    alone = lab.versions_in_force(m, [first] * len(quarters))
    assert (lab.mql_moments_in_force(m, alone) == lab.mql_moments(m, first)).all()


@given(
    thresholds=st.one_of(
        st.lists(st.integers(0, 10**9), min_size=1, max_size=40).map(sorted),
        st.tuples(st.integers(0, 10**6), st.integers(1, 10**6), st.integers(3, 300)).map(
            lambda t: [
                lab.threshold_micro(round(t[0] / 1e6 + k * t[1] / 1e6, 6)) for k in range(t[2])
            ]
        ),
    ),
    values=st.lists(st.integers(-(10**6), 2 * 10**9), max_size=60),
)
@settings(deadline=None)  # the first example also compiles the kernel
def test_counting_thresholds_below_equals_a_binary_search(thresholds, values):
    ranked = np.array(sorted(thresholds), dtype=np.int64)
    values = np.array(values, dtype=np.int64)
    step = counting.per_step(ranked)
    counted = [counting.rank(ranked, step, v) for v in values]
    assert counted == np.searchsorted(ranked, values, side="right").tolist()


@given(
    events=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 6), st.integers(0, 3)), max_size=400
    ),
    cuts=st.lists(st.integers(0, 400), max_size=4),
)
@settings(deadline=None)  # the first example also compiles the kernels
def test_sorting_events_in_batches_equals_a_lexsort(events, cuts):
    """Leads 0-5 with few or many events (past the insertion-sort limit), moments and types
    tied often, given in batches: the same order as sorting by lead, moment and type."""
    lead = np.array([e[0] for e in events], dtype=np.int32)
    at_us = np.array([e[1] for e in events], dtype=np.int64) * 1_000_000
    kind = np.array([e[2] for e in events], dtype=np.int16)
    bounds = [0, *sorted(c for c in cuts if c < len(events)), len(events)]
    batches = [(lead[a:b], at_us[a:b], kind[a:b]) for a, b in zip(bounds, bounds[1:])]
    start, at_sorted, kind_sorted = layout.sort_events(batches, 6)
    order = np.lexsort((kind, at_us, lead))
    assert start.tolist() == [0, *np.cumsum(np.bincount(lead, minlength=6)).tolist()]
    assert at_sorted.tolist() == at_us[order].tolist()
    assert kind_sorted.tolist() == kind[order].tolist()


def test_sorting_a_lead_with_many_events_uses_the_stable_path():
    n = layout.INSERTION_MAX * 3
    rng = np.random.default_rng(3)
    lead = np.zeros(n, dtype=np.int32)
    at_us = rng.integers(0, 20, n).astype(np.int64)
    kind = rng.integers(0, 4, n).astype(np.int16)
    _, at_sorted, kind_sorted = layout.sort_events([(lead, at_us, kind)], 1)
    order = np.lexsort((kind, at_us))
    assert at_sorted.tolist() == at_us[order].tolist()
    assert kind_sorted.tolist() == kind[order].tolist()
