"""A change of fit alone is rescored from the last scoring's behaviour records, bit for bit.

lab.score keeps, per history, the behaviour records of its last full scoring (each lead's checks
whose behaviour points beat every earlier one's); a scoring with the same behaviour points and
another fit (any fit: other points, negative points, a disqualifier more or less, a rule on a
custom field) finds its records from them without reading a check (kernels.refit_records).
Every answer must be what a full rescore gives: the fast path's, and the generic one's
(FUNNELCAST_LAB_FAST=0, which always reads every check).
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_lab import assert_same, engine_answers, fast_path
from test_properties import datasets

from funnelcast import definitions, lab
from funnelcast.data import db
from funnelcast.definitions import BehaviourRule, Definition, FitRule
from funnelcast.demo import build_demo
from funnelcast.lab import _fast, scores


@pytest.fixture
def refits(monkeypatch):
    """Count the halves of the leads rescored from kept behaviour records."""
    calls = []
    real = _fast.refit_highs

    def counted(*args):
        calls.append(args[:2])
        return real(*args)

    monkeypatch.setattr(_fast, "refit_highs", counted)
    return calls


def forget_behaviour(m: lab.Materialised) -> None:
    """Drop m's kept behaviour records, so that the next scoring reads every check."""
    with scores._BEHAVIOUR_LOCK:
        kept = scores._BEHAVIOUR.pop(m, None)
    if kept is not None:
        kept.lease.release()


def with_fit(definition: Definition, rules) -> Definition:
    """Return the definition with these fit rules."""
    return dataclasses.replace(definition, fit_rules=tuple(rules))


def assert_refit_is_a_full_rescore(
    m, current, base, candidate, thresholds, quarters, refits, same_behaviour=True
):
    """Score base (a full scoring, which keeps its behaviour records), then the candidate:
    the candidate's answers from the kept records (its fit alone changed: same_behaviour; or
    its behaviour points too, the leads with events of the changed types read again) equal a
    full rescore's with the fast path on, and off."""
    with fast_path(True):
        forget_behaviour(m)
        lab.score(m, base).release()
        before = len(refits)
        refitted = engine_answers(m, current, candidate, thresholds, quarters)
        used = len(m.halves) if same_behaviour else 0
        assert len(refits) - before == used  # the kept records were used as they are
        forget_behaviour(m)
        full = engine_answers(m, current, candidate, thresholds, quarters)
        assert len(refits) - before == used  # and here not
    with fast_path(False):
        generic = engine_answers(m, current, candidate, thresholds, quarters)
    assert_same(refitted, full)
    assert_same(refitted, generic)


@pytest.fixture(scope="module")
def demo():
    """A 3,000-lead demo, with its definition's rules on the demo's own lead fields."""
    con = db.connect(":memory:", create=True)
    build_demo(con, leads=3000, seed=5)
    yield con
    con.close()


def fit_changes(current: Definition) -> list[tuple[str, Definition]]:
    """Return fit changes of every kind: points up and down, negative, zero, a disqualifier
    more or less, a rule added or dropped, on built-in fields and custom ones."""
    rules = list(current.fit_rules)
    custom = [i for i, r in enumerate(rules) if r.attribute not in definitions.BUILTIN_FIELDS]
    coded = [i for i, r in enumerate(rules) if r.attribute in definitions.BUILTIN_FIELDS]
    assert custom and coded and any(r.is_disqualifier for r in rules)

    def moved(i: int, **change) -> Definition:
        out = list(rules)
        out[i] = dataclasses.replace(out[i], **change)
        return with_fit(current, out)

    scored = [i for i in custom if not rules[i].is_disqualifier]
    return [
        ("custom points up", moved(scored[0], points=rules[scored[0]].points + 7)),
        ("custom points negative", moved(scored[-1], points=-11.5)),
        ("custom points zero", moved(scored[0], points=0)),
        ("built-in points", moved(coded[0], points=rules[coded[0]].points * 2 + 0.25)),
        ("built-in negative", moved(coded[-1], points=-40)),
        ("a rule disqualifies", moved(coded[0], is_disqualifier=True)),
        (
            "no rule disqualifies",
            with_fit(current, [dataclasses.replace(r, is_disqualifier=False) for r in rules]),
        ),
        ("a rule dropped", with_fit(current, rules[1:])),
        ("a rule added", with_fit(current, [*rules, FitRule("region", "emea", 9.75)])),
        ("no fit at all", with_fit(current, [])),
    ]


def test_every_fit_change_rescored_from_kept_records_equals_a_full_rescore(demo, refits):
    cur = demo.cursor()
    current = definitions.current(cur)
    m = lab.materialise_for(cur, current)
    quarters = [q.label for q in m.calendar.quarters[2:8]]
    for name, candidate in fit_changes(current):
        try:
            assert_refit_is_a_full_rescore(
                m, current, current, candidate, (0, 25, 40.5, 70), quarters, refits
            )
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from error


def behaviour_changes(current: Definition) -> list[tuple[str, Definition]]:
    """Return behaviour changes of every kind: one weight, one cap, a cap more or less (which
    moves the other capped types' slots), a penalty, a rule dropped, and a fit change too."""
    rules = list(current.behaviour_rules)
    capped = [i for i, r in enumerate(rules) if r.cap is not None and r.points > 0]
    uncapped = [i for i, r in enumerate(rules) if r.cap is None and r.points > 0]
    assert capped and uncapped

    def moved(i: int, **change) -> Definition:
        out = list(rules)
        out[i] = dataclasses.replace(out[i], **change)
        return dataclasses.replace(current, behaviour_rules=tuple(out))

    return [
        ("a weight", moved(uncapped[0], points=rules[uncapped[0]].points * 1.3)),
        ("a capped weight", moved(capped[0], points=rules[capped[0]].points * 0.7)),
        ("a cap", moved(capped[-1], cap=rules[capped[-1]].cap * 2)),
        ("a cap more", moved(uncapped[0], cap=3.5)),
        ("a cap less", moved(capped[0], cap=None)),
        ("a penalty", moved(uncapped[-1], points=-4.25)),
        ("a rule dropped", dataclasses.replace(current, behaviour_rules=tuple(rules[1:]))),
        (
            "a weight and a fit",
            with_fit(moved(uncapped[0], points=2.5), current.fit_rules[1:]),
        ),
    ]


def test_every_behaviour_change_reading_only_the_leads_it_touches_equals_a_full_rescore(
    demo, refits
):
    cur = demo.cursor()
    current = definitions.current(cur)
    m = lab.materialise_for(cur, current)
    quarters = [q.label for q in m.calendar.quarters[2:8]]
    for name, candidate in behaviour_changes(current):
        try:
            assert_refit_is_a_full_rescore(
                m, current, current, candidate, (0, 25, 40.5), quarters, refits, False
            )
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from error


def test_a_weight_change_reads_every_check_and_keeps_its_own_records(demo, refits):
    cur = demo.cursor()
    current = definitions.current(cur)
    m = lab.materialise_for(cur, current)
    reweighted = dataclasses.replace(
        current,
        behaviour_rules=tuple(
            BehaviourRule(r.event_type, r.points * 1.5, r.cap) for r in current.behaviour_rules
        ),
    )
    with fast_path(True):
        lab.score(m, current).release()
        lab.score(m, reweighted).release()
        assert refits == []  # other behaviour points: every check read again
        lab.score(m, with_fit(reweighted, reweighted.fit_rules[1:])).release()
        assert len(refits) == len(m.halves)  # the reweighted one's records were kept
    with fast_path(False):
        lab.score(m, with_fit(reweighted, reweighted.fit_rules[2:])).release()
        assert len(refits) == len(m.halves)  # the generic path reads every check


def test_a_scoring_reading_kept_records_holds_them_against_a_new_full_scoring(demo, refits):
    """The kept records go back to the pool only when the scoring reading them is done."""
    cur = demo.cursor()
    current = definitions.current(cur)
    m = lab.materialise_for(cur, current)
    with fast_path(True):
        forget_behaviour(m)
        lab.score(m, current).release()
        kept = scores._kept_behaviour(m)
        assert kept is not None
        assert kept.key == scores._behaviour_key(lab.compile_weights(m, current))
        other = dataclasses.replace(
            current,
            behaviour_rules=tuple(
                BehaviourRule(r.event_type, r.points + 1, r.cap) for r in current.behaviour_rules
            ),
        )
        lab.score(m, other).release()  # replaces the kept records: released, still read
        assert kept.lease.released
        taken = m.pool.take("behaviour", lambda: None)
        assert taken is None or taken[0] is not kept.arrays[0]  # not lent out while read
        if taken is not None:
            m.pool.give_back("behaviour", taken)
        kept.lease.done()
        assert m.pool.take("behaviour", lambda: None)[0] is kept.arrays[0]  # now back


def test_a_half_life_copy_scored_drops_the_kept_records_of_its_history(demo, refits):
    """A pool keeps one set of behaviour records besides its spare: a half-life copy's full
    scoring frees its history's (of no use to it: another decay), and the history's next
    weight change, reading every check again, answers as a full rescore."""
    cur = demo.cursor()
    current = definitions.current(cur)
    m = lab.materialise_for(cur, current)
    moved = dataclasses.replace(current, half_life_days=current.half_life_days * 2)
    with fast_path(True):
        forget_behaviour(m)
        lab.score(m, current).release()
        kept = scores._kept_behaviour(m)
        assert kept is not None
        kept.lease.done()
        copy = lab.with_half_life(m, moved.half_life_days)
        assert copy.pool is m.pool
        lab.score(copy, moved).release()
        assert scores._kept_behaviour(m) is None  # dropped, not pooled
        assert kept.lease.released
        spare = m.pool.take("behaviour", lambda: None)
        assert spare is None or spare[0] is not kept.arrays[0]
        if spare is not None:
            m.pool.give_back("behaviour", spare)
        mine = scores._kept_behaviour(copy)
        assert mine is not None
        mine.lease.done()
        weighted = dataclasses.replace(
            current,
            behaviour_rules=tuple(
                BehaviourRule(r.event_type, r.points * 1.25, r.cap) for r in current.behaviour_rules
            ),
        )
        quarters = [q.label for q in m.calendar.quarters[2:8]]
        again = engine_answers(m, current, weighted, (0, 25, 40.5), quarters)
        assert scores._kept_behaviour(copy) is None  # and the copy's went the same way
    assert refits == []
    with fast_path(False):
        generic = engine_answers(m, current, weighted, (0, 25, 40.5), quarters)
    assert_same(again, generic)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=datasets(allow_negative=True),
    points=st.lists(
        st.one_of(
            st.floats(-60, 60).map(lambda x: round(x, 2)),
            st.sampled_from([0.0, -0.5, 0.5, 1e-6, 33.333333]),
        ),
        min_size=1,
        max_size=8,
    ),
    disqualify=st.lists(st.booleans(), min_size=1, max_size=8),
    thresholds=st.lists(st.integers(0, 120), min_size=1, max_size=3),
    weight=st.sampled_from([None, 0.5, 1.7, -1.0]),
)
def test_random_fit_changes_rescored_from_kept_records_equal_a_full_rescore(
    data, points, disqualify, thresholds, weight
):
    con = data.build()
    cur = con.cursor()
    current = definitions.load(cur, 1)
    m = lab.materialise_for(cur, current)
    rules = [
        dataclasses.replace(
            r,
            points=points[i % len(points)],
            is_disqualifier=r.is_disqualifier or disqualify[i % len(disqualify)] and i % 3 == 2,
        )
        for i, r in enumerate(current.fit_rules)
    ]
    candidate = with_fit(current, rules)
    if weight is not None and candidate.behaviour_rules:  # one behaviour weight moved as well
        first = candidate.behaviour_rules[0]
        moved = dataclasses.replace(first, points=first.points * weight)
        candidate = dataclasses.replace(
            candidate, behaviour_rules=(moved, *candidate.behaviour_rules[1:])
        )
    calls: list = []
    real = _fast.refit_highs

    def counted(*args):
        calls.append(args[:2])
        return real(*args)

    _fast.refit_highs = counted
    try:
        same = candidate.behaviour_rules == current.behaviour_rules
        assert_refit_is_a_full_rescore(
            m, current, current, candidate, thresholds, None, calls, same
        )
    finally:
        _fast.refit_highs = real
