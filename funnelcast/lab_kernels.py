"""The Threshold Lab's compiled loops (numba): one pass per lead over its check moments.

funnelcast.lab holds the data and says what these compute; here is only how, fast. Every loop
walks leads in lead order, each lead's checks in time order, carrying the lead's decayed points
from check to check, so nothing per check and per event type is ever stored:
- rewards without a cap add up into one running sum, halved per half-life between checks;
- each capped reward type keeps its own running sum (its cap applies to it alone);
- penalties (negative points) count without decay.
A score is fit + rewards + sum over capped types of points x min(sum, cap / points) + penalties,
-inf for a disqualified lead. Functions release the GIL, so two threads can score two halves. The scoring loops run
without numba's reference counting (_nrt=False): they allocate nothing, and counting the
references of every array a lead's loop touches cost five times the loop itself.

The arrays of a materialisation travel as one tuple, `history` (see lab.Materialised.history),
and a compiled definition as another, `weights` (see lab.compile_weights).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# as funnelcast.lab: scores in micro-points live in [-BIAS, BIAS)
SCORE_BITS = 44
NO_SCORE, REWARD, CAPPED, PENALTY = 0, 1, 2, 3  # what an event type's points do
BIAS = 1 << (SCORE_BITS - 1)
NEVER = np.iinfo(np.int64).max
# _nrt=False is numba's private switch for reference counting; numba's type stubs do not list it,
# so the decorators that pass it carry a targeted `type: ignore[call-overload]`.


@njit(cache=True, nogil=True)
def count_layout(lead, at_us, kind, created_us):
    """Return per lead its checks, event groups at or after creation, and earlier event groups.

    lead, at_us, kind: one row per event, sorted by lead, moment and type. A group is the
    events of one lead, moment and type. A check opens at creation and at each later moment.
    """
    n_leads = len(created_us)
    n_checks = np.ones(n_leads, dtype=np.int64)
    n_groups = np.zeros(n_leads, dtype=np.int64)
    n_early = np.zeros(n_leads, dtype=np.int64)
    i, n = 0, len(lead)
    while i < n:
        person, moment, what = lead[i], at_us[i], kind[i]
        j = i + 1
        while j < n and lead[j] == person and at_us[j] == moment and kind[j] == what:
            j += 1
        created = created_us[person]
        if moment < created:
            n_early[person] += 1
        else:
            n_groups[person] += 1
            new_moment = i == 0 or lead[i - 1] != person or at_us[i - 1] != moment
            if moment > created and new_moment:
                n_checks[person] += 1
        i = j
    return n_checks, n_groups, n_early


@njit(cache=True, nogil=True)
def fill_layout(
    lead,
    at_us,
    kind,
    created_us,
    check_start,
    group_start,
    early_start,
    check_us,
    check_groups,
    group_type,
    group_count,
    early_type,
    early_count,
    early_age_us,
):
    """Fill the layout count_layout sized (outputs: the arrays after early_start)."""
    n_leads = len(created_us)
    for person in range(n_leads):
        check_us[check_start[person]] = created_us[person]
    i, n = 0, len(lead)
    check = group = early = -1
    last = -1
    while i < n:
        person, moment, what = lead[i], at_us[i], kind[i]
        j = i + 1
        while j < n and lead[j] == person and at_us[j] == moment and kind[j] == what:
            j += 1
        if person != last:
            check, group, early = check_start[person], group_start[person], early_start[person]
            last = person
        created = created_us[person]
        if moment < created:
            early_type[early] = what
            early_count[early] = j - i
            early_age_us[early] = created - moment
            early += 1
        else:
            new_moment = i == 0 or lead[i - 1] != person or at_us[i - 1] != moment
            if moment > created and new_moment:
                check += 1
                check_us[check] = moment
            check_groups[check] += 1
            group_type[group] = what
            group_count[group] = j - i
            group += 1
        i = j


@njit(cache=True, nogil=True, inline="always")
def micro(x):
    """Return a score in integer micro-points, rounded as DuckDB's round(x, 6): half away
    from zero; -inf and anything beyond the key's range clip to it."""
    y = x * 1e6
    if y <= -BIAS:
        return -BIAS
    if y >= BIAS - 1:
        return BIAS - 1
    whole = np.trunc(y)
    if abs(y - whole) == 0.5:
        return np.int64(whole + (1.0 if y > 0 else -1.0))
    return np.int64(np.rint(y))


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def lead_scores(person, history, weights, capped, out):
    """Write one lead's scores at its checks into out; return how many checks it has.

    capped: scratch, one float per capped type.
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
    fit, kind, points, slot, cap_over_points, capped_points = weights
    first, stop = check_start[person], check_start[person + 1]
    base = fit[person]
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
        x = base + rewards + penalties
        for i in range(n_capped):
            x += capped_points[i] * min(capped[i], cap_over_points[i])
        out[c - first] = x
    return stop - first


@njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]  # _nrt: see top
def records(
    first_lead,
    stop_lead,
    history,
    weights,
    check_day,
    check_us,
    sql_us,
    customer_us,
    key_lo,
    key_hi,
    sql,
    lead_max,
    scores,
    scratch,
):
    """Find the record highs of leads first_lead..stop_lead-1; return (keys, sql records).

    A record (a score above every earlier one of the lead) at check i is the lead's MQL moment
    for thresholds in (previous best, best] (micro-points). Records of one day follow each
    other's bounds, so each day's run is one key pair: day << SCORE_BITS | (bound + BIAS).
    sql: per record of a lead that reached SQL (sql_us != NEVER), rows lo, hi, moment, sql
    and customer moments. lead_max: each lead's best in micro-points (-BIAS: never above).
    """
    n_keys = 0
    n_sql = 0
    for person in range(first_lead, stop_lead):
        n = lead_scores(person, history, weights, scratch, scores)
        c0 = history[0][person]
        running = -np.inf
        best = -BIAS
        open_run = False
        run_day = np.int64(0)
        run_lo = 0
        run_hi = 0
        of_sql = sql_us[person] != NEVER
        for i in range(n):
            x = scores[i]
            if x > running:
                running = x
                lo = best
                hi = micro(x)
                best = hi
                # a record tying the previous best, or below zero, is no threshold's moment
                if hi >= 0 and lo < hi:
                    day = np.int64(check_day[c0 + i])
                    if open_run and day == run_day:
                        run_hi = hi
                    else:
                        if open_run:
                            key_lo[n_keys] = (run_day << SCORE_BITS) + BIAS + run_lo
                            key_hi[n_keys] = (run_day << SCORE_BITS) + BIAS + run_hi
                            n_keys += 1
                        open_run = True
                        run_day, run_lo, run_hi = day, lo, hi
                    if of_sql:
                        sql[0, n_sql] = lo
                        sql[1, n_sql] = hi
                        sql[2, n_sql] = check_us[c0 + i]
                        sql[3, n_sql] = sql_us[person]
                        sql[4, n_sql] = customer_us[person]
                        n_sql += 1
        if open_run:
            key_lo[n_keys] = (run_day << SCORE_BITS) + BIAS + run_lo
            key_hi[n_keys] = (run_day << SCORE_BITS) + BIAS + run_hi
            n_keys += 1
        lead_max[person] = best
    return n_keys, n_sql


@njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]  # _nrt: see top
def first_crossings(
    first_lead,
    stop_lead,
    history,
    weights,
    check_us,
    s,
    since_us,
    until_us,
    out,
    scores,
    scratch,
):
    """Write each lead's first check moment in [since_us, until_us) whose rounded score
    reaches s (NEVER: none)."""
    for person in range(first_lead, stop_lead):
        n = lead_scores(person, history, weights, scratch, scores)
        c0 = history[0][person]
        out[person] = NEVER
        for i in range(n):
            at = check_us[c0 + i]
            if at >= until_us:
                break
            if at >= since_us and micro(scores[i]) >= s:
                out[person] = at
                break


@njit(cache=True, nogil=True)
def count_at_or_below(ranked, values, low_bits, bias):
    """Return per value how many of the sorted thresholds ranked are <= it, the value being
    (key & low_bits) - bias (low_bits 0: the key itself). Evenly spaced thresholds (as
    lab.default_thresholds makes them) are found by arithmetic, nudged where rounding is off
    by one; others by binary search."""
    n = len(ranked)
    out = np.empty(len(values), dtype=np.int64)
    even = n >= 3
    step = 0.0
    if even:
        step = (ranked[n - 1] - ranked[0]) / (n - 1)
        for k in range(1, n):
            gap = ranked[k] - ranked[k - 1]
            if step <= 0 or gap < step - 2 or gap > step + 2:
                even = False
                break
    for i in range(len(values)):
        v = values[i]
        if low_bits:
            v = (v & low_bits) - bias
        if even:
            c = np.int64(np.floor((v - ranked[0]) / step)) + 1
            c = min(max(c, np.int64(0)), np.int64(n))
            while c < n and ranked[c] <= v:
                c += 1
            while c > 0 and ranked[c - 1] > v:
                c -= 1
        else:
            c = np.searchsorted(ranked, v, side="right")
        out[i] = c
    return out


def new_scratch(weights: tuple) -> np.ndarray:
    """Return the scratch lead_scores needs for these weights (one per thread)."""
    return np.empty(len(weights[-1]))


@njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]  # _nrt: see top
def one_lead(person, history, weights, out, scratch):
    """Write one lead's scores at its checks into out; return how many."""
    return lead_scores(person, history, weights, scratch, out)
