"""The Threshold Lab's scoring loops (numba): one pass per lead over its check moments.

funnelcast.lab says what these compute (history.py the layout, weights.py the points, scores.py
the records); here is only how, fast. Every loop walks leads in lead order, each lead's checks
in time order, carrying the lead's decayed points from check to check, so nothing per check and
per event type is ever stored:
- rewards without a cap add up into one running sum, halved per half-life between checks;
- each capped reward type keeps its own running sum (its cap applies to it alone);
- penalties (negative points) count without decay.
A score is fit + rewards + sum over capped types of points x min(sum, cap / points) + penalties,
-inf for a disqualified lead. Functions release the GIL, so two threads can score two halves.
The scoring loops run without numba's reference counting (_nrt=False): they allocate nothing,
and counting the references of every array a lead's loop touches cost five times the loop.

Two loops score a lead, bit for bit alike (tests/test_lab_simd.py): vector_scores, its capped
sums the lanes of one vector register (simd.py), for up to eight capped types, and
generic_scores, over an array of sums, for any number. Every entry point takes `vector`: False
(FUNNELCAST_LAB_FAST=0, see switch.py) always runs generic_scores.

The arrays of a materialisation travel as one tuple, `history` (see lab.Materialised.history),
and a compiled definition as another, `weights` (see lab.Weights.arrays). The functions at the
end (record_highs, refit_highs, check_scores; crossings.py's crossings) are the Python entry
points funnelcast.lab calls: they make the scratch and read the switch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

# numba's cache sees changes to this file only: after changing simd.py, clear __pycache__
from funnelcast.lab._fast.simd import (
    LANES,
    prefetch,
    vec8_add_at,
    vec8_capped_sum,
    vec8_load,
    vec8_scale,
    vec8_zero,
)
from funnelcast.lab._fast.switch import enabled

# as funnelcast.lab: scores in micro-points live in [-BIAS, BIAS)
SCORE_BITS = 44
NO_SCORE, REWARD, CAPPED, PENALTY = 0, 1, 2, 3  # what an event type's points do
BIAS = 1 << (SCORE_BITS - 1)
NEVER = np.iinfo(np.int64).max
# up to this many capped types, a lead's running sums are the lanes of one vector register
# (vector_scores, with simd.py's vector type): twice as fast as eight scalars, bit for bit the same
VECTOR_SLOTS = LANES
DAY_US = 86_400_000_000
SECOND_US = 1_000_000
DAY_S = 86_400
# _nrt=False is numba's private switch for reference counting; numba's type stubs do not list it,
# so the decorators that pass it carry a targeted `type: ignore[call-overload]`.


@njit(cache=True, nogil=True, inline="always")
def micro(x):
    """Return a score in integer micro-points, rounded as DuckDB's round(x, 6): half away
    from zero; -inf and anything beyond the key's range clip to it."""
    y = min(max(x * 1e6, -float(BIAS)), float(BIAS - 1))
    whole = np.trunc(y)
    fraction = y - whole  # exact; a half rounds away from zero, without a branch
    return np.int64(whole) + np.int64(fraction >= 0.5) - np.int64(fraction <= -0.5)


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def moment_us(moments, i):
    """Return check i's moment in microseconds since the Unix epoch. moments: (ticks since
    the epoch per check, the epoch in us, a tick in us), as lab.Materialised.check_moments."""
    return np.int64(moments[1]) + np.int64(moments[0][i]) * np.int64(moments[2])


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def day_of(moments, i):
    """Return check i's day index: the epoch is the first day's start and no check lies before
    it, so a floor of its ticks by a day's; a tick is a second or a microsecond, each branch a
    division by a constant (a multiply, where a division by a variable would cost ten times)."""
    if moments[2] == SECOND_US:
        return np.int64(moments[0][i]) // DAY_S
    return np.int64(moments[0][i]) // DAY_US


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def _record(x, running, check, record_at, record_x, n_records):
    """Write a check's index and score at record_at[n_records] and record_x[n_records]; return
    n_records, plus one when its score x beats every earlier one (running). Without a branch:
    a third of checks are records, too many for the branch predictor; found in the scoring
    loop, not in a second pass over it."""
    record_at[n_records] = check
    record_x[n_records] = x
    return n_records + np.uint64(x > running)


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def generic_scores(person, history, weights, capped, out, record_at, record_x):
    """Write one lead's behaviour points at its checks into out (its score less its fit: see
    lead_scores), and the indices and points of its behaviour records (points above every
    earlier check's) into record_at and record_x; return how many records.

    Any number of capped types, their running sums in capped (scratch, one float per type).
    """
    (
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
    ) = history
    kind, points, slot, cap_over_points, capped_points = weights[1:6]
    first, stop = check_start[person], check_start[person + 1]
    rewards = 0.0
    penalties = 0.0
    n_capped = len(capped_points)
    for i in range(n_capped):
        capped[i] = 0.0
    for e in range(early_start[person], early_start[person + 1]):
        t = early_type[e]
        k = kind[t]
        if k == REWARD:
            rewards += points[t] * early_weight[e]
        elif k == CAPPED:
            capped[slot[t]] += early_weight[e]
        elif k == PENALTY:
            penalties += points[t] * early_count[e]
    group = group_start[person]
    running = -np.inf
    n_records = np.uint64(0)
    for c in range(first, stop):
        if c > first:
            f = decay[c]
            rewards *= f
            for i in range(n_capped):
                capped[i] *= f
        for _ in range(check_groups[c]):
            t = group_type[group]
            n = group_count[group]
            group += 1
            k = kind[t]
            if k == REWARD:
                rewards += points[t] * n
            elif k == CAPPED:
                capped[slot[t]] += n
            elif k == PENALTY:
                penalties += points[t] * n
        x = rewards + penalties
        for i in range(n_capped):
            x += capped_points[i] * min(capped[i], cap_over_points[i])
        out[c - first] = x
        n_records = _record(x, running, c - first, record_at, record_x, n_records)
        running = max(running, x)
    return n_records


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def vector_scores(person, history, weights, out, record_at, record_x):
    """Write one lead's behaviour points at its checks into out, and the indices and points of
    its behaviour records into record_at and record_x; return how many records.

    generic_scores' scores, bit for bit, for up to eight capped types, their sums
    in one vector; weights[8] and weights[9] (caps over points, capped points) padded to at
    least eight. The other kinds are added by their points: reward_points and penalty_points
    are 0.0 for the types of other kinds."""
    (
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
    ) = history
    _, _, _, slot, _, _, reward_points, penalty_points, k, p = weights
    caps = vec8_load(k)
    points = vec8_load(p)
    first, stop = check_start[person], check_start[person + 1]
    rewards = 0.0
    penalties = 0.0
    sums = vec8_zero()
    # indices as unsigned: numba then skips the wraparound of negative ones (none is), a fifth
    # of the loop's time
    for e in range(early_start[person], early_start[person + 1]):
        i = np.uint64(e)
        t = np.uint64(early_type[i])
        w = early_weight[i]
        rewards += reward_points[t] * w
        penalties += penalty_points[t] * early_count[i]
        sums = vec8_add_at(sums, w, slot[t])
    group = np.uint64(group_start[person])
    running = -np.inf
    n_records = np.uint64(0)
    for c in range(first, stop):
        i = np.uint64(c)
        f = decay[i]  # 1.0 at a lead's first check
        rewards *= f
        sums = vec8_scale(sums, f)
        for _ in range(check_groups[i]):
            t = np.uint64(group_type[group])
            n = group_count[group]
            group += np.uint64(1)
            rewards += reward_points[t] * n
            penalties += penalty_points[t] * n
            sums = vec8_add_at(sums, n, slot[t])
        x = vec8_capped_sum(rewards + penalties, sums, caps, points)
        out[np.uint64(c - first)] = x
        n_records = _record(x, running, c - first, record_at, record_x, n_records)
        running = max(running, x)
    return n_records


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def lead_scores(person, history, weights, capped, out, record_at, record_x, vector):
    """Write one lead's scores at its checks into out: its fit plus its behaviour points at
    each (fit + behaviour, as the SQL adds them); return how many behaviour records.

    capped: scratch, one float per capped type (for more than VECTOR_SLOTS of them, or all of
    them when not vector); record_at, record_x: scratch, one per check of the lead.
    """
    n_capped = len(weights[5])
    if vector and 0 < n_capped <= VECTOR_SLOTS:
        n = vector_scores(person, history, weights, out, record_at, record_x)
    else:
        n = generic_scores(person, history, weights, capped, out, record_at, record_x)
    base = weights[0][person]
    for i in range(history[0][person + 1] - history[0][person]):
        out[i] = base + out[i]
    return n


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def _write_key(day, lo, hi, quarter_of_day, key_lo, key_hi, key_fill):
    """Write a day's run of records, (lo, hi], at the next place of the day's quarter."""
    q = np.uint64(quarter_of_day[np.uint64(day)])
    at = np.uint64(key_fill[q])
    key_lo[at] = (day << SCORE_BITS) + BIAS + lo
    key_hi[at] = (day << SCORE_BITS) + BIAS + hi
    key_fill[q] = at + np.uint64(1)


@njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]  # _nrt: see top
def records(vector, *args):
    """Find the record highs of leads first_lead..stop_lead-1; return how many SQL records.
    The arguments after vector are _records' (which names them). The choice of scoring loop is
    made once, here, not per lead: each call below gets its own copy of the loop, with one
    scoring loop in it (inlining both into one loop cost a tenth more time)."""
    weights = args[3]
    if vector and 0 < len(weights[5]) <= VECTOR_SLOTS:
        return _records(args, True)
    return _records(args, False)


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def _records(args, vector):
    """Find the record highs of leads first_lead..stop_lead-1 (args: records' arguments, named
    below), scored by vector_scores (vector) or generic_scores; return how many SQL records.

    Each lead's behaviour records (checks whose behaviour points beat every earlier check's)
    are kept, compacted, in behaviour_x (their points) and behaviour_at (their check, from the
    lead's first), the lead's ending at behaviour_end[lead] (the first lead's starting at its
    first check): its records (see _lead_records) are among them, whatever its fit, so a
    change of fit alone finds them again from these (refit_records), reading no check.

    kept_x, kept_at, kept_end: another scoring's behaviour records, kept alike; reuse: whether
    to read them: a lead none of whose event types score otherwise now (type_mask[lead], a bit
    per type it has, shares no bit with changed) has the same behaviour points at every check,
    bit for bit, so its records are copied from them rather than found again.

    scores, scratch: scratch, one per check of the lead with the most, and one per capped type.
    The other arguments are _lead_records'.
    """
    (
        first_lead,
        stop_lead,
        history,
        weights,
        outcomes,
        key_lo,
        key_hi,
        key_fill,
        sql_bound,
        sql_code,
        sql_lag,
        lead_max,
        behaviour_x,
        behaviour_at,
        behaviour_end,
        kept_x,
        kept_at,
        kept_end,
        type_mask,
        changed,
        reuse,
        scores,
        scratch,
    ) = args
    moments = outcomes[0]
    sql_us = outcomes[2]
    fit = weights[0]
    n_sql = np.uint64(0)
    at = np.uint64(history[0][first_lead])
    last = stop_lead - 1
    for person in range(first_lead, stop_lead):
        # the check moments of a lead that reached SQL are read at its records only: a lead or
        # two ahead, have their first in cache by then
        ahead = min(person + 2, last)
        if sql_us[ahead] != NEVER:
            prefetch(moments[0], history[0][ahead])
        if reuse and (type_mask[person] & changed) == 0:
            since = history[0][first_lead] if person == first_lead else kept_end[person - 1]
            n = np.uint64(kept_end[person] - since)
            for r in range(n):
                behaviour_x[at + r] = kept_x[since + r]
                behaviour_at[at + r] = kept_at[since + r]
        elif vector:  # a constant in each copy: the other loop is dropped
            n = vector_scores(person, history, weights, scores, behaviour_at[at:], behaviour_x[at:])
        else:
            n = generic_scores(
                person, history, weights, scratch, scores, behaviour_at[at:], behaviour_x[at:]
            )
        n_sql = _lead_records(
            person,
            fit[person],
            behaviour_x,
            behaviour_at,
            at,
            at + n,
            history[0],
            outcomes,
            key_lo,
            key_hi,
            key_fill,
            sql_bound,
            sql_code,
            sql_lag,
            lead_max,
            n_sql,
        )
        at += n
        behaviour_end[person] = at
    return np.int64(n_sql)


@njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]  # _nrt: see top
def refit_records(
    first_lead,
    stop_lead,
    check_start,
    fit,
    outcomes,
    key_lo,
    key_hi,
    key_fill,
    sql_bound,
    sql_code,
    sql_lag,
    lead_max,
    behaviour_x,
    behaviour_at,
    behaviour_end,
):
    """As records, for another fit with the same behaviour points: the records of leads
    first_lead..stop_lead-1 found from the behaviour records _records kept (behaviour_x,
    behaviour_at, behaviour_end), bit for bit what records finds; return how many SQL records.

    A lead's score at a check is fit + behaviour points, a sum that never falls as its
    behaviour points rise (rounding to the nearest float keeps order), so a check whose score
    beats every earlier one has behaviour points above every earlier check's: a behaviour
    record. _lead_records then keeps those whose score is a record, exactly as records does.
    """
    moments = outcomes[0]
    sql_us = outcomes[2]
    n_sql = np.uint64(0)
    at = np.uint64(check_start[first_lead])
    last = stop_lead - 1
    for person in range(first_lead, stop_lead):
        ahead = min(person + 2, last)
        if sql_us[ahead] != NEVER:
            prefetch(moments[0], check_start[ahead])
        end = np.uint64(behaviour_end[person])
        n_sql = _lead_records(
            person,
            fit[person],
            behaviour_x,
            behaviour_at,
            at,
            end,
            check_start,
            outcomes,
            key_lo,
            key_hi,
            key_fill,
            sql_bound,
            sql_code,
            sql_lag,
            lead_max,
            n_sql,
        )
        at = end
    return np.int64(n_sql)


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def _lead_records(
    person,
    base,
    behaviour_x,
    behaviour_at,
    first,
    stop,
    check_start,
    outcomes,
    key_lo,
    key_hi,
    key_fill,
    sql_bound,
    sql_code,
    sql_lag,
    lead_max,
    n_sql,
):
    """Write one lead's record highs from its behaviour records first..stop-1 (their points
    behaviour_x, their checks behaviour_at, from the lead's first) and its fit (base); return
    n_sql, the SQL records so far, plus the lead's.

    A record (a score, base + behaviour points, above every earlier one of the lead) at check i
    is the lead's MQL moment for thresholds in (previous best, best] (micro-points). Records of
    one day follow each other's bounds, so each day's run is one key pair: day << SCORE_BITS |
    (bound + BIAS), written to key_lo and key_hi at key_fill[q], the next place of the day's
    quarter q (which then moves on). lead_max: each lead's best in micro-points (-BIAS: never
    above).

    outcomes: (moments (see moment_us; day_of), quarter_of_day, sql_us, customer_us,
    sql_quarter, customer_quarter), the last four per lead (NEVER, -1: not reached). Every
    record of a lead that reached SQL is also a row of what precision and capture count of it:
    sql_bound lo and hi; sql_code the record's quarter (its MQL cohort), whether the lead was
    won (1/0), and per stage (SQL, customer) the quarter it was reached in when that came after
    the record (else -1); sql_lag per stage the days from the record to it (else 0).
    """
    moments, quarter_of_day, sql_us, customer_us, sql_quarter, customer_quarter = outcomes
    c0 = np.uint64(check_start[person])
    best = -BIAS
    running = -np.inf
    open_run = False
    run_day = np.int64(0)
    run_lo = 0
    run_hi = 0
    sql_at = sql_us[person]
    customer_at = customer_us[person]
    of_sql = sql_at != NEVER
    won = 1 if customer_at != NEVER else 0
    for r in range(first, stop):
        x = base + behaviour_x[r]
        if not x > running:  # a behaviour record that is no record of the score
            continue
        running = x
        i = np.uint64(behaviour_at[r])
        lo = best
        hi = micro(x)
        best = hi
        # a record tying the previous best, or below zero, is no threshold's moment
        if hi >= 0 and lo < hi:
            day = day_of(moments, c0 + i)
            if open_run and day == run_day:
                run_hi = hi
            else:
                if open_run:
                    _write_key(run_day, run_lo, run_hi, quarter_of_day, key_lo, key_hi, key_fill)
                open_run = True
                run_day, run_lo, run_hi = day, lo, hi
            if of_sql:
                at = moment_us(moments, c0 + i)
                sql_bound[0, n_sql] = lo
                sql_bound[1, n_sql] = hi
                sql_code[0, n_sql] = quarter_of_day[np.uint64(day)]
                sql_code[1, n_sql] = won
                if sql_at > at:  # the MQL moment strictly before the stage
                    sql_code[2, n_sql] = sql_quarter[person]
                    sql_lag[0, n_sql] = (sql_at - at) / DAY_US
                else:
                    sql_code[2, n_sql] = -1
                    sql_lag[0, n_sql] = 0.0
                if won and customer_at > at:
                    sql_code[3, n_sql] = customer_quarter[person]
                    sql_lag[1, n_sql] = (customer_at - at) / DAY_US
                else:
                    sql_code[3, n_sql] = -1
                    sql_lag[1, n_sql] = 0.0
                n_sql += np.uint64(1)
    if open_run:
        _write_key(run_day, run_lo, run_hi, quarter_of_day, key_lo, key_hi, key_fill)
    lead_max[person] = best
    return n_sql


def new_scratch(weights: tuple) -> np.ndarray:
    """Return the scratch lead_scores needs for these weights (one per thread)."""
    return np.empty(len(weights[5]))


@njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]  # _nrt: see top
def one_lead(person, history, weights, out, scratch, record_at, record_x, vector=True):
    """Write one lead's scores at its checks into out; return how many."""
    lead_scores(person, history, weights, scratch, out, record_at, record_x, vector)
    return history[0][person + 1] - history[0][person]


# =====================================================================================
# the entry points funnelcast.lab calls: scratch made here, the switch read here
# =====================================================================================


def new_behaviour(n_checks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return fresh arrays for a scoring's behaviour records (see _records): points, checks
    (from each lead's first) and each lead's end; only the pages written are ever touched."""
    return (
        np.empty(n_checks),
        np.empty(n_checks, dtype=np.int32),
        np.empty(max(n_checks, 1), dtype=np.int64),
    )


def record_highs(*args: Any, most: int) -> int:
    """Write the record highs of leads first_lead..stop_lead-1; return how many SQL records.

    args: _records' first twenty-one (first_lead to reuse); most: the most checks any lead has
    (the scratch is made here)."""
    scratch = (np.empty(most), new_scratch(args[3]))
    return records(enabled(), *args, *scratch)


def refit_highs(*args: Any) -> int:
    """refit_records(*args): the record highs found again for another fit (see there)."""
    return refit_records(*args)


def check_scores(lead: int, history: tuple, weights: tuple) -> np.ndarray:
    """Return one lead's unrounded scores at its checks."""
    n = int(history[0][lead + 1] - history[0][lead])
    out = np.empty(n)
    one_lead(
        lead,
        history,
        weights,
        out,
        new_scratch(weights),
        np.empty(n, dtype=np.int64),
        np.empty(n),
        enabled(),
    )
    return out
