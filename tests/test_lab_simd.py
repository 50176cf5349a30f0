"""The vector scores (lab_kernels.vector_scores, on lab._fast.simd's vector type) are
lab_kernels.generic_scores' bit for bit.

Random check layouts and weights (hypothesis): every score of every lead, compared as int64 bits.
Plus the demo history materialised by funnelcast.lab, and a check that cache=True works with
the Vec8 intrinsics.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numba import njit

from funnelcast import definitions, lab
from funnelcast.data import db
from funnelcast.definitions import BehaviourRule
from funnelcast.lab._fast import kernels as lab_kernels
from funnelcast.lab._fast import simd as lab_simd

NO_SCORE, REWARD, CAPPED, PENALTY = (
    lab_kernels.NO_SCORE,
    lab_kernels.REWARD,
    lab_kernels.CAPPED,
    lab_kernels.PENALTY,
)


@njit(nogil=True, _nrt=False)  # type: ignore[call-overload]
def _all_generic(history, weights, out, record_at, record_x, counts, scratch):
    """Write every lead's generic_scores (the loop over an array of sums) into out, lead after
    lead, its record indices and points at the same places of record_at and record_x, and how
    many per lead."""
    check_start = history[0]
    for person in range(len(check_start) - 1):
        at = check_start[person]
        counts[person] = lab_kernels.generic_scores(
            person, history, weights, scratch, out[at:], record_at[at:], record_x[at:]
        )


@njit(nogil=True, _nrt=False)  # type: ignore[call-overload]
def _all_vector(history, weights, out, record_at, record_x, counts):
    """As _all_generic, with lab_kernels.vector_scores."""
    check_start = history[0]
    for person in range(len(check_start) - 1):
        at = check_start[person]
        counts[person] = lab_kernels.vector_scores(
            person, history, weights, out[at:], record_at[at:], record_x[at:]
        )


def assert_bit_identical(history: tuple, weights: tuple) -> None:
    """Assert every score of every lead is the same float, bit for bit, both ways, and both
    find the same records: the checks whose score beats every earlier one of the lead."""
    check_start = history[0]
    n_checks = int(check_start[-1])
    mine, theirs = np.full(n_checks, np.nan), np.full(n_checks, np.nan)
    my_records = np.full(n_checks, -1, dtype=np.int64)
    their_records = my_records.copy()
    my_counts = np.zeros(len(check_start) - 1, dtype=np.int64)
    their_counts = my_counts.copy()
    my_x, their_x = np.full(n_checks, np.nan), np.full(n_checks, np.nan)
    _all_vector(history, weights, mine, my_records, my_x, my_counts)
    scratch = lab_kernels.new_scratch(weights)
    _all_generic(history, weights, theirs, their_records, their_x, their_counts, scratch)
    differ = np.flatnonzero(mine.view(np.int64) != theirs.view(np.int64))
    assert differ.size == 0, (differ[:5], mine[differ[:5]], theirs[differ[:5]])
    assert np.array_equal(my_counts, their_counts)
    for person in range(len(check_start) - 1):
        first, stop = check_start[person], check_start[person + 1]
        x = mine[first:stop]
        best_before = np.concatenate([[-np.inf], np.maximum.accumulate(x)[:-1]])
        expected = np.flatnonzero(x > best_before)
        found = my_records[first : first + my_counts[person]]
        assert found.tolist() == expected.tolist(), person
        assert their_records[first : first + their_counts[person]].tolist() == found.tolist()
        # each record's points are kept beside its index, the same float
        kept = my_x[first : first + my_counts[person]]
        assert kept.view(np.int64).tolist() == x[found].view(np.int64).tolist(), person


# =====================================================================================
# random layouts
# =====================================================================================


def random_history(
    seed: int,
    n_leads: int,
    n_types: int,
    most_checks: int,
    most_groups: int,
    most_early: int,
    count_dtype,
    zero_decays: bool,
) -> tuple:
    """Return a history tuple (lab.Materialised.history's order and dtypes) of random leads:
    1..most_checks checks each (some only their creation), 0..most_groups groups per check,
    0..most_early early groups; decay 1.0 at each lead's first check."""
    rng = np.random.default_rng(seed)
    n_checks = rng.integers(1, most_checks + 1, n_leads)
    n_checks[rng.random(n_leads) < 0.2] = 1  # created, nothing after
    check_start = np.concatenate([[0], np.cumsum(n_checks)]).astype(np.int64)
    total = int(check_start[-1])
    check_groups = rng.integers(0, most_groups + 1, total).astype(np.uint8)
    group_start = np.zeros(n_leads + 1, dtype=np.int64)
    np.cumsum(np.add.reduceat(check_groups.astype(np.int64), check_start[:-1]), out=group_start[1:])
    n_groups = int(check_groups.sum())
    n_early = rng.integers(0, most_early + 1, n_leads)
    n_early[rng.random(n_leads) < 0.5] = 0
    early_start = np.concatenate([[0], np.cumsum(n_early)]).astype(np.int64)
    type_dtype = np.int8 if n_types < 128 else np.int16
    largest = np.iinfo(count_dtype).max
    group_type = rng.integers(0, n_types, n_groups).astype(type_dtype)
    group_count = np.minimum(rng.geometric(0.4, n_groups), largest).astype(count_dtype)
    big = rng.random(n_groups) < 0.02
    group_count[big] = rng.integers(1, largest, int(big.sum()), endpoint=True)
    total_early = int(early_start[-1])
    early_type = rng.integers(0, n_types, total_early).astype(type_dtype)
    early_count = rng.geometric(0.3, total_early).astype(np.int32)
    age_days = rng.exponential(60.0, total_early)
    early_weight = early_count * np.exp2(-age_days / rng.uniform(1, 90))
    gaps = rng.exponential(5.0, total)
    decay = np.exp2(-gaps / rng.uniform(0.5, 90))
    if zero_decays:  # gaps long enough to underflow, and a few subnormal factors
        decay[rng.random(total) < 0.05] = 0.0
        decay[rng.random(total) < 0.05] = 5e-320
    decay[check_start[:-1]] = 1.0
    return (
        check_start,
        group_start,
        early_start,
        check_groups,
        group_type,
        group_count,
        early_type,
        early_count,
        early_weight,
        decay,
    )


def random_weights(
    rng_seed: int, n_leads: int, kinds: list[int], caps: list[float], points: list[float]
) -> tuple:
    """Return lab.Weights(...).arrays for these per-type kinds, caps and points (capped types
    get slots in type order; points are made positive for rewards and capped types, negative
    for penalties, as compile_weights does)."""
    rng = np.random.default_rng(rng_seed)
    n_types = len(kinds)
    kind = np.array(kinds, dtype=np.int8)
    magnitude = np.abs(np.array(points[:n_types], dtype=np.float64))
    magnitude[magnitude == 0] = 0.01
    point = np.where(kind == PENALTY, -magnitude, np.where(kind == NO_SCORE, 0.0, magnitude))
    slot = np.full(n_types, -1, dtype=np.int64)
    capped = np.flatnonzero(kind == CAPPED)
    slot[capped] = np.arange(len(capped))
    cap = np.array([caps[i % len(caps)] for i in capped], dtype=np.float64)
    fit = np.round(rng.normal(0, 20, n_leads), 2)
    disqualified = rng.random(n_leads) < 0.05
    fit[disqualified] = -np.inf
    return lab.Weights(
        fit_points=fit,
        is_disqualified=disqualified,
        kind=kind,
        points=point,
        slot=slot,
        cap_over_points=cap / point[capped],
        capped_points=point[capped].copy(),
    ).arrays


@st.composite
def layouts(draw):
    """Draw a history and weights: up to 8 capped types among rewards, penalties, no-score."""
    n_types = draw(st.integers(1, 20))
    kinds = draw(
        st.lists(
            st.sampled_from([NO_SCORE, REWARD, CAPPED, PENALTY]), min_size=n_types, max_size=n_types
        )
    )
    # at most VECTOR_SLOTS capped: the extra ones become rewards
    seen = 0
    for i, k in enumerate(kinds):
        if k == CAPPED:
            seen += 1
            if seen > lab_kernels.VECTOR_SLOTS:
                kinds[i] = REWARD
    points = draw(
        st.lists(
            st.floats(0, 60, allow_nan=False).map(lambda x: round(x, 2)),
            min_size=n_types,
            max_size=n_types,
        )
    )
    caps = draw(st.lists(st.floats(0.5, 90).map(lambda x: round(x, 1)), min_size=1, max_size=8))
    history = random_history(
        seed=draw(st.integers(0, 2**32 - 1)),
        n_leads=draw(st.integers(1, 300)),
        n_types=n_types,
        most_checks=draw(st.integers(1, 40)),
        most_groups=draw(st.integers(0, 4)),
        most_early=draw(st.integers(0, 6)),
        count_dtype=draw(st.sampled_from([np.uint8, np.uint16])),
        zero_decays=draw(st.booleans()),
    )
    weights = random_weights(
        draw(st.integers(0, 2**32 - 1)), len(history[0]) - 1, kinds, caps, points
    )
    return history, weights


@given(layouts())
@settings(max_examples=150, deadline=None)
def test_vector_scores_are_the_generic_ones_bit_for_bit(case):
    history, weights = case
    assert_bit_identical(history, weights)


ALL_KINDS = [NO_SCORE, REWARD, CAPPED, PENALTY]


@given(
    n_capped=st.integers(0, lab_kernels.VECTOR_SLOTS),
    seed=st.integers(0, 2**32 - 1),
    extra=st.lists(st.sampled_from([NO_SCORE, REWARD, PENALTY]), max_size=8),
)
@example(n_capped=lab_kernels.VECTOR_SLOTS, seed=1, extra=[REWARD, PENALTY, NO_SCORE])
@example(n_capped=1, seed=2, extra=[])
@example(n_capped=0, seed=3, extra=[REWARD, PENALTY])
@settings(max_examples=60, deadline=None)
def test_every_slot_count_and_kind(n_capped, seed, extra):
    """0 to 8 capped types (all eight slots used, or fewer), mixed with every other kind, on
    leads with early events, with only their creation, with many groups."""
    rng = np.random.default_rng(seed)
    kinds = [CAPPED] * n_capped + list(extra)
    if not kinds:
        kinds = [NO_SCORE]
    rng.shuffle(kinds)
    history = random_history(seed, 200, len(kinds), 30, 3, 5, np.uint8, seed % 2 == 0)
    points = list(rng.uniform(0.1, 50, len(kinds)).round(2))
    caps = list(rng.uniform(0.5, 90, 8).round(1))
    assert_bit_identical(history, random_weights(seed, 200, kinds, caps, points))


def test_many_types_stored_as_int16():
    """Types past 127 (int16 type codes, as lab.history._layout stores them), capped ones among them."""
    rng = np.random.default_rng(9)
    kinds = list(rng.choice([NO_SCORE, REWARD, PENALTY], 300))
    for i in (3, 150, 200, 299):
        kinds[i] = CAPPED
    history = random_history(9, 400, 300, 30, 4, 5, np.uint16, False)
    assert history[4].dtype == np.int16
    points = list(rng.uniform(0.1, 50, 300).round(2))
    assert_bit_identical(history, random_weights(9, 400, kinds, [2.0, 7.5, 30.0], points))


def test_sums_above_the_cap_and_at_it():
    """Running sums that pass their cap, sit exactly at it and stay under it."""
    history = random_history(5, 500, 3, 60, 4, 6, np.uint16, False)
    kinds = [CAPPED, CAPPED, REWARD]
    # caps over points of 1, 2 and 3 units: counts reach and tie them exactly
    weights = random_weights(5, 500, kinds, [1.0, 4.0], [1.0, 2.0, 3.0])
    assert weights[8][:2].tolist() == [1.0, 2.0]
    assert_bit_identical(history, weights)


# =====================================================================================
# the demo history, as funnelcast.lab materialises it
# =====================================================================================


@pytest.fixture(scope="module")
def demo(demo_db):
    """The session's demo database, read-only."""
    con = db.connect(demo_db, read_only=True)
    yield con
    con.close()


_MATERIALISED: dict = {}


@given(
    points=st.lists(st.floats(-30, 60, allow_nan=False).map(lambda x: round(x, 2)), min_size=10),
    caps=st.lists(st.one_of(st.none(), st.floats(0.5, 90).map(lambda x: round(x, 1))), min_size=10),
)
@settings(max_examples=15, deadline=None)
def test_the_demo_history_scores_bit_for_bit(demo, points, caps):
    current = definitions.load(demo.cursor(), 1)
    if id(demo) not in _MATERIALISED:
        _MATERIALISED[id(demo)] = lab.materialise_for(demo.cursor(), current)
    m = _MATERIALISED[id(demo)]
    draft = dataclasses.replace(
        current,
        behaviour_rules=tuple(
            BehaviourRule(r.event_type, p, c)
            for r, p, c in zip(current.behaviour_rules, points, caps)
        ),
    )
    weights = lab.compile_weights(m, draft).arrays
    assert len(weights[5]) <= lab_kernels.VECTOR_SLOTS
    assert_bit_identical(m.history, weights)


# =====================================================================================
# the intrinsics themselves, and caching
# =====================================================================================


@njit
def _lanes(start, x, s, f):
    v = lab_simd.vec8_scale(lab_simd.vec8_add_at(lab_simd.vec8_load(start), x, s), f)
    out = np.empty(8)
    for i in range(8):
        out[i] = lab_simd.vec8_get(v, i)
    return out


def test_add_at_touches_only_its_lane():
    start = np.arange(1.0, 9.0)
    for s in range(-1, 10):
        expected = start.copy()
        if 0 <= s < 8:
            expected[s] += 7
        assert _lanes(start, np.uint8(7), s, 1.0).tolist() == expected.tolist()
    strided = np.arange(1.0, 17.0)[::2]  # not contiguous: loaded lane by lane
    expected = strided.copy()
    expected[0] += 2.5
    assert _lanes(strided, 2.5, 0, 0.5).tolist() == (expected * 0.5).tolist()


def test_cached_functions_load_from_the_cache(tmp_path: Path):
    """cache=True works with the Vec8 type: a second process loads lab_kernels.one_lead,
    which scores through vector_scores, from the cache."""
    script = (
        "import numpy as np\n"
        "from funnelcast.lab._fast import kernels as lab_kernels\n"
        "import test_lab_simd as t\n"
        "h = t.random_history(1, 20, 3, 5, 2, 2, np.uint8, False)\n"
        "w = t.random_weights(1, 20, [2, 1, 2], [3.0], [1.0, 2.0, 3.0])\n"
        "out = np.empty(10)\n"
        "n = lab_kernels.one_lead(3, h, w, out, lab_kernels.new_scratch(w), np.empty(10, np.int64), np.empty(10))\n"
        "print(out[:n].tobytes().hex(), lab_kernels.one_lead.stats.cache_hits.__len__(),"
        " sum(lab_kernels.one_lead.stats.cache_misses.values()))\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(2)
    ]
    assert runs[0][0] == runs[1][0]
    assert runs[0][1:] == ["0", "1"]  # compiled and saved
    assert runs[1][1:] == ["1", "0"]  # loaded


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 40_000),
    days=st.integers(0, 5000),
    first_day=st.integers(0, 20_000),
    low=st.integers(-(1 << 43), (1 << 43) - 1),
    span=st.integers(0, 1 << 40),
    seed=st.integers(0, 2**32 - 1),
)
@example(n=20_000, days=91, first_day=1000, low=-1, span=300_000_000, seed=1)
@example(n=20_000, days=0, first_day=7, low=5, span=0, seed=2)  # all keys alike
def test_sort_keys_sorts_as_numpy(n, days, first_day, low, span, seed):
    """The radix sort of record keys gives numpy's sort, for any span of days and bounds
    (including the unscored -BIAS lows and keys all alike)."""
    from funnelcast.lab._fast import BIAS, SCORE_BITS, sort_keys

    rng = np.random.default_rng(seed)
    day = rng.integers(first_day, first_day + days + 1, n)
    high = min(low + span, (1 << 43) - 1)
    bound = rng.integers(low, high + 1, n)
    bound[::9] = -BIAS
    keys = (day << SCORE_BITS) + BIAS + bound
    got = keys.copy()
    sort_keys(got)
    assert np.array_equal(got, np.sort(keys))
