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
from numba import literal_unroll, njit

# numba's cache sees changes to this file only: after changing lab_simd, clear __pycache__
from funnelcast.lab._fast.simd import (
    LANES,
    prefetch,
    vec8_add_at,
    vec8_capped_sum,
    vec8_load,
    vec8_scale,
    vec8_zero,
)

# as funnelcast.lab: scores in micro-points live in [-BIAS, BIAS)
SCORE_BITS = 44
NO_SCORE, REWARD, CAPPED, PENALTY = 0, 1, 2, 3  # what an event type's points do
BIAS = 1 << (SCORE_BITS - 1)
NEVER = np.iinfo(np.int64).max
# up to this many capped types, a lead's running sums are the lanes of one vector register
# (vector_scores, with funnelcast.lab_simd's vector type): twice as fast as eight scalars, bit
# for bit the same
VECTOR_SLOTS = LANES
DAY_US = 86_400_000_000
# _nrt=False is numba's private switch for reference counting; numba's type stubs do not list it,
# so the decorators that pass it carry a targeted `type: ignore[call-overload]`.


# a lead with more events than this has them sorted by argsort, not by insertion
INSERTION_MAX = 64


@njit(cache=True, nogil=True)
def count_by_lead(lead, counts):
    """Add to counts[lead + 1] one per event of a batch (see sort_events)."""
    for i in range(len(lead)):
        counts[lead[i] + 1] += 1


@njit(cache=True, nogil=True)
def place_by_lead(lead, at_us, kind, fill, out_at, out_kind):
    """Put a batch's events in their lead's slots, from fill[lead] on (see sort_events)."""
    for i in range(len(lead)):
        j = fill[lead[i]]
        fill[lead[i]] += 1
        out_at[j] = at_us[i]
        out_kind[j] = kind[i]


@njit(cache=True, nogil=True)
def sort_within_leads(start, out_at, out_kind):
    """Sort each lead's events by moment and type (see sort_events)."""
    n_leads = len(start) - 1
    for person in range(n_leads):
        a, b = start[person], start[person + 1]
        if b - a > INSERTION_MAX:
            by_kind = np.argsort(out_kind[a:b], kind="mergesort")
            order = by_kind[np.argsort(out_at[a:b][by_kind], kind="mergesort")]
            out_at[a:b] = out_at[a:b][order]
            out_kind[a:b] = out_kind[a:b][order]
            continue
        for i in range(a + 1, b):
            moment, what = out_at[i], out_kind[i]
            j = i - 1
            while j >= a and (out_at[j] > moment or (out_at[j] == moment and out_kind[j] > what)):
                out_at[j + 1] = out_at[j]
                out_kind[j + 1] = out_kind[j]
                j -= 1
            out_at[j + 1] = moment
            out_kind[j + 1] = what


def sort_events(batches, n_leads: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return events given in batches of (lead, moment, type) arrays sorted by lead, moment and
    type: where each lead's events start (plus the end), and their moments and types.

    A counting sort by lead (0..n_leads-1) over the batches, then each lead's events by moment
    and type: by insertion, as a lead has a few dozen; by two stable argsorts when it has more.
    It holds the batches and one sorted copy, where a database's ORDER BY of every event held
    several copies.
    """
    batches = list(batches)
    start = np.zeros(n_leads + 1, dtype=np.int64)
    for lead, _, _ in batches:
        count_by_lead(lead, start)
    np.cumsum(start, out=start)
    n = int(start[-1])
    at_dtype = batches[0][1].dtype if batches else np.int64
    kind_dtype = batches[0][2].dtype if batches else np.int16
    out_at = np.empty(n, dtype=at_dtype)
    out_kind = np.empty(n, dtype=kind_dtype)
    fill = start[:-1].copy()
    while batches:
        lead, at_us, kind = batches.pop(0)  # each batch is freed once placed
        place_by_lead(lead, at_us, kind, fill, out_at, out_kind)
    sort_within_leads(start, out_at, out_kind)
    return start, out_at, out_kind


@njit(cache=True, nogil=True)
def count_layout(event_start, at_us, kind, created_us):
    """Return per lead its checks, event groups at or after creation and earlier event groups,
    and the most events in one group.

    event_start: per lead where its events start in at_us and kind (plus the end), each lead's
    sorted by moment and type (sort_events). A group is the events of one lead, moment and
    type. A check opens at creation and at each later moment.
    """
    n_leads = len(created_us)
    n_checks = np.ones(n_leads, dtype=np.int64)
    n_groups = np.zeros(n_leads, dtype=np.int64)
    n_early = np.zeros(n_leads, dtype=np.int64)
    largest = 0
    for person in range(n_leads):
        created = created_us[person]
        i, n = event_start[person], event_start[person + 1]
        while i < n:
            moment, what = at_us[i], kind[i]
            j = i + 1
            while j < n and at_us[j] == moment and kind[j] == what:
                j += 1
            largest = max(largest, j - i)
            if moment < created:
                n_early[person] += 1
            else:
                n_groups[person] += 1
                new_moment = i == event_start[person] or at_us[i - 1] != moment
                if moment > created and new_moment:
                    n_checks[person] += 1
            i = j
    return n_checks, n_groups, n_early, largest


@njit(cache=True, nogil=True)
def fill_layout(
    event_start,
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
        created = created_us[person]
        check, group, early = check_start[person], group_start[person], early_start[person]
        check_us[check] = created
        i, n = event_start[person], event_start[person + 1]
        while i < n:
            moment, what = at_us[i], kind[i]
            j = i + 1
            while j < n and at_us[j] == moment and kind[j] == what:
                j += 1
            if moment < created:
                early_type[early] = what
                early_count[early] = j - i
                early_age_us[early] = created - moment
                early += 1
            else:
                new_moment = i == event_start[person] or at_us[i - 1] != moment
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
    y = min(max(x * 1e6, -float(BIAS)), float(BIAS - 1))
    whole = np.trunc(y)
    fraction = y - whole  # exact; a half rounds away from zero, without a branch
    return np.int64(whole) + np.int64(fraction >= 0.5) - np.int64(fraction <= -0.5)


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def _record(x, running, check, record_at, n_records):
    """Write a check's index at record_at[n_records]; return n_records, plus one when its score
    x beats every earlier one (running). Without a branch: a third of checks are records, too
    many for the branch predictor; found in the scoring loop, not in a second pass over it."""
    record_at[n_records] = check
    return n_records + np.uint64(x > running)


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def generic_scores(person, history, weights, capped, out, record_at):
    """Write one lead's scores at its checks into out, and the indices of its records (a
    score above every earlier one) into record_at; return how many records.

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
    fit, kind, points, slot, cap_over_points, capped_points = weights[:6]
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
        x = base + rewards + penalties
        for i in range(n_capped):
            x += capped_points[i] * min(capped[i], cap_over_points[i])
        out[c - first] = x
        n_records = _record(x, running, c - first, record_at, n_records)
        running = max(running, x)
    return n_records


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def vector_scores(person, history, weights, out, record_at):
    """Write one lead's scores at its checks into out, and the indices of its records into
    record_at; return how many records.

    lab_kernels.generic_scores' scores, bit for bit, for up to eight capped types, their sums
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
    fit, _, _, slot, _, _, reward_points, penalty_points, k, p = weights
    caps = vec8_load(k)
    points = vec8_load(p)
    first, stop = check_start[person], check_start[person + 1]
    base = fit[person]
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
        x = vec8_capped_sum(base + rewards + penalties, sums, caps, points)
        out[np.uint64(c - first)] = x
        n_records = _record(x, running, c - first, record_at, n_records)
        running = max(running, x)
    return n_records


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def lead_scores(person, history, weights, capped, out, record_at):
    """Write one lead's scores at its checks into out, and the indices of its records into
    record_at; return how many records.

    capped: scratch, one float per capped type (for more than VECTOR_SLOTS of them).
    """
    n_capped = len(weights[5])
    if 0 < n_capped <= VECTOR_SLOTS:
        return vector_scores(person, history, weights, out, record_at)
    return generic_scores(person, history, weights, capped, out, record_at)


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def _write_key(day, lo, hi, quarter_of_day, key_lo, key_hi, key_fill):
    """Write a day's run of records, (lo, hi], at the next place of the day's quarter."""
    q = np.uint64(quarter_of_day[np.uint64(day)])
    at = np.uint64(key_fill[q])
    key_lo[at] = (day << SCORE_BITS) + BIAS + lo
    key_hi[at] = (day << SCORE_BITS) + BIAS + hi
    key_fill[q] = at + np.uint64(1)


@njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]  # _nrt: see top
def records(*args):
    """Find the record highs of leads first_lead..stop_lead-1; return how many SQL records.
    The arguments are _records' (which names them). The choice of scoring loop is made once,
    here, not per lead: each call below gets its own copy of the loop, with one scoring loop
    in it (inlining both into one loop cost a tenth more time)."""
    weights = args[3]
    if 0 < len(weights[5]) <= VECTOR_SLOTS:
        return _records(args, True)
    return _records(args, False)


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def _records(args, vector):
    """Find the record highs of leads first_lead..stop_lead-1 (args: records' arguments, named
    below), scored by vector_scores (vector) or generic_scores; return how many SQL records.

    A record (a score above every earlier one of the lead) at check i is the lead's MQL moment
    for thresholds in (previous best, best] (micro-points). Records of one day follow each
    other's bounds, so each day's run is one key pair: day << SCORE_BITS | (bound + BIAS),
    written to key_lo and key_hi at key_fill[q], the next place of the day's quarter q (which
    then moves on). lead_max: each lead's best in micro-points (-BIAS: never above).

    scores, scratch, record_at: scratch, one per check of the lead with the most.
    outcomes: (check_day, check_us, quarter_of_day, sql_us, customer_us, sql_quarter,
    customer_quarter), the last four per lead (NEVER, -1: not reached). Every record of a lead
    that reached SQL is also a row of what precision and capture count of it: sql_bound lo
    and hi; sql_code the record's quarter (its MQL cohort), whether the lead was won (1/0), and
    per stage (SQL, customer) the quarter it was reached in when that came after the record
    (else -1); sql_lag per stage the days from the record to it (else 0).
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
        scores,
        scratch,
        record_at,
    ) = args
    check_day, check_us, quarter_of_day, sql_us, customer_us, sql_quarter, customer_quarter = (
        outcomes
    )
    # indices unsigned, so that numba adds no wraparound of negative ones (there are none)
    n_sql = np.uint64(0)
    last = stop_lead - 1
    for person in range(first_lead, stop_lead):
        # the check moments of a lead that reached SQL are read at its records only: a lead or
        # two ahead, have their first in cache by then
        ahead = min(person + 2, last)
        if sql_us[ahead] != NEVER:
            prefetch(check_us, history[0][ahead])
        if vector:  # a constant in each copy: the other loop is dropped
            n_records = vector_scores(person, history, weights, scores, record_at)
        else:
            n_records = generic_scores(person, history, weights, scratch, scores, record_at)
        c0 = np.uint64(history[0][person])
        best = -BIAS
        open_run = False
        run_day = np.int64(0)
        run_lo = 0
        run_hi = 0
        sql_at = sql_us[person]
        customer_at = customer_us[person]
        of_sql = sql_at != NEVER
        won = 1 if customer_at != NEVER else 0
        for r in range(n_records):
            i = np.uint64(record_at[r])
            x = scores[i]
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
                        _write_key(
                            run_day, run_lo, run_hi, quarter_of_day, key_lo, key_hi, key_fill
                        )
                    open_run = True
                    run_day, run_lo, run_hi = day, lo, hi
                if of_sql:
                    at = check_us[c0 + i]
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
    return np.int64(n_sql)


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def first_crossing(
    person, history, weights, check_us, s, since_us, until_us, scores, scratch, record_at
):
    """Return a lead's first check moment in [since_us, until_us) whose rounded score reaches
    s (NEVER: none)."""
    lead_scores(person, history, weights, scratch, scores, record_at)
    c0 = history[0][person]
    for i in range(history[0][person + 1] - c0):
        at = check_us[c0 + i]
        if at >= until_us:
            break
        if at >= since_us and micro(scores[i]) >= s:
            return at
    return NEVER


@njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]  # _nrt: see top
def first_crossings(
    leads,
    history,
    weights,
    check_us,
    s,
    since_us,
    until_us,
    out,
    scores,
    scratch,
    record_at,
):
    """Write first_crossing of each of the leads (an array of indices) to out, in order."""
    for k in range(len(leads)):
        out[k] = first_crossing(
            leads[k], history, weights, check_us, s, since_us, until_us, scores, scratch, record_at
        )


@njit(cache=True, nogil=True)
def count_buckets(hi, shift, counts):
    """Add to counts[b + 1] one per record whose upper bound hi (>= 0) falls in bucket
    b = hi >> shift (the last bucket takes any beyond; see bucket_places)."""
    last = len(counts) - 2
    for i in range(len(hi)):
        counts[min(hi[i] >> shift, last) + 1] += 1


@njit(cache=True, nogil=True)
def bucket_places(hi, shift, fill, places):
    """Write each record's place in its bucket (b = hi >> shift, the last bucket takes any
    beyond), the bucket's next from fill[b] on: the first half of a counting sort by upper
    bound. The records' columns then move one at a time (scatter): moving all eight columns
    in one pass kept eight times as many places in cache, and ran two and a half times as long.
    """
    last = len(fill) - 1
    for i in range(len(hi)):
        b = min(hi[i] >> shift, last)
        places[i] = fill[b]
        fill[b] += 1


@njit(cache=True, nogil=True)
def scatter(rows, places, out):
    """Copy each row of rows into out's same row, element i to places[i]."""
    for row in range(rows.shape[0]):
        source = rows[row]
        target = out[row]
        for i in range(len(places)):
            target[places[i]] = source[i]


@njit(cache=True, nogil=True, inline="always")
def per_step(ranked):
    """Return 1 / the step of evenly spaced sorted thresholds (as lab.default_thresholds makes
    them, give or take rounding), or 0.0 when they are not."""
    n = len(ranked)
    if n < 3:
        return 0.0
    step = (ranked[n - 1] - ranked[0]) / (n - 1)
    if step <= 0:
        return 0.0
    for k in range(1, n):
        gap = ranked[k] - ranked[k - 1]
        if gap < step - 2 or gap > step + 2:
            return 0.0
    return 1.0 / step


@njit(cache=True, nogil=True, inline="always")
def rank(ranked, per_step, v):
    """Return how many of the sorted thresholds ranked are <= v: by arithmetic when they are
    evenly spaced (per_step > 0; a multiply, not a divide), nudged where rounding is off by
    one; else by binary search."""
    n = len(ranked)
    if per_step > 0:
        c = np.int64(np.floor((v - ranked[0]) * per_step)) + 1
        c = min(max(c, np.int64(0)), np.int64(n))
        while c < n and ranked[c] <= v:
            c += 1
        while c > 0 and ranked[c - 1] > v:
            c -= 1
        return c
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if ranked[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def key_histogram(keys, ranked, out):
    """Add 1 to out[how many thresholds are <= the key's bound] for each record key.

    Keys in order put runs of equal ranks one after the other, and adding to one counter over
    and over waits on the add before: four counters, in turn, then summed."""
    step = per_step(ranked)
    low_bits = (np.int64(1) << SCORE_BITS) - 1
    counts = np.zeros((4, len(out)), dtype=np.int64)
    n = len(keys)
    whole = n - n % 4
    for i in range(0, whole, 4):
        for j in range(4):
            counts[j, rank(ranked, step, (keys[i + j] & low_bits) - BIAS)] += 1
    for i in range(whole, n):
        counts[0, rank(ranked, step, (keys[i] & low_bits) - BIAS)] += 1
    for k in range(len(out)):
        out[k] += counts[0, k] + counts[1, k] + counts[2, k] + counts[3, k]


@njit(cache=True, nogil=True)
def sql_histograms(lo, hi, code, is_chosen, ranked, out):
    """Histogram the SQL leads' records by threshold bin, for the trade-off curve.

    A record counts at threshold k when rank(lo) <= k < rank(hi): add 1 at out[row, rank(lo)]
    and -1 at out[row, rank(hi)], for the rows it belongs to: 0 its cohort is chosen, 1 and
    won, 2 the SQL it caught falls in a chosen quarter, 3 the customer likewise. code: the
    records' lab_kernels.records sql_code rows; is_chosen[q + 1]: quarter q chosen.
    """
    step = per_step(ranked)
    for i in range(len(lo)):  # without a branch: which rows a record counts in is a coin toss
        a = rank(ranked, step, lo[i])
        b = rank(ranked, step, hi[i])
        cohort = np.int64(is_chosen[code[0, i] + 1])
        won = cohort * (code[1, i] != 0)
        sql = np.int64(is_chosen[code[2, i] + 1])
        customer = np.int64(is_chosen[code[3, i] + 1])
        out[0, a] += cohort
        out[0, b] -= cohort
        out[1, a] += won
        out[1, b] -= won
        out[2, a] += sql
        out[2, b] -= sql
        out[3, a] += customer
        out[3, b] -= customer


@njit(cache=True, nogil=True)
def fit_points(parts, fit, disqualified):
    """Write each lead's fit points (-inf when disqualified) and whether it is disqualified.

    parts: per attribute (the leads' value codes, points per code, whether a code
    disqualifies), added in their order as numpy adds the attributes' columns."""
    for lead in range(len(fit)):
        total = 0.0
        out = False
        for part in literal_unroll(parts):
            codes, points, disqualifies = part
            code = codes[lead]
            total += points[code]
            out |= disqualifies[code]
        fit[lead] = -np.inf if out else total
        disqualified[lead] = out


@njit(cache=True, nogil=True, inline="always")
def _count_record(r, code, lag, is_chosen, reached, captured, lag_sum, lags, n_lags):
    """Count record r as an MQL moment (see sql_counts)."""
    cohort = code[0, r]
    reached[0, cohort] += 1
    reached[1, cohort] += code[1, r] != 0
    for stage in range(2):
        q = code[2 + stage, r]
        if q >= 0:
            captured[stage, q] += 1
            lag_sum[stage, q] += lag[stage, r]
            if is_chosen[q + 1]:
                lags[stage, n_lags[stage]] = lag[stage, r]
                n_lags[stage] += 1


@njit(cache=True, nogil=True)
def sql_counts(lo, hi, code, lag, first, above, s, is_chosen, n_quarters, most):
    """Count what precision and capture count of the SQL leads' records from first on that
    are an MQL moment at s (lo < s <= hi): per quarter, the MQLs that reached SQL (row 0) and
    customer (row 1); per stage (SQL, customer) the captures, their days earlier summed, and
    those days of the captures in the chosen quarters (is_chosen[q + 1]), in record order.
    code, lag: lab_kernels.records' sql_code and sql_lag rows.

    One pass that reads only the bounds of the records that do not count (most of them: a
    lead has one record at a threshold, and many above it): the scan is memory-bound. From
    above on, every record's hi is known to reach s (its bucket is above s's): only lo is read.
    most: the most records that can count (one per lead that reached SQL).
    """
    reached = np.zeros((2, n_quarters), dtype=np.int64)
    captured = np.zeros((2, n_quarters), dtype=np.int64)
    lag_sum = np.zeros((2, n_quarters))
    most = min(len(lo) - first, most)
    lags = np.empty((2, most))
    n_lags = np.zeros(2, dtype=np.int64)
    # the records that count, found without a branch (about one in six of those scanned: too
    # many for the branch predictor), then counted in order
    counted = np.empty(most + 1, dtype=np.int64)
    n = 0
    for r in range(first, above):
        counted[n] = r
        n += (lo[r] < s) & (hi[r] >= s)
    for r in range(above, len(lo)):
        counted[n] = r
        n += lo[r] < s
    for k in range(n):
        _count_record(counted[k], code, lag, is_chosen, reached, captured, lag_sum, lags, n_lags)
    return reached, captured, lag_sum, lags[0, : n_lags[0]], lags[1, : n_lags[1]]


@njit(cache=True, nogil=True)
def mover_groups(movers, lead_max, codes, counts, k, lowest):
    """Count movers by persona and return the k closest to the threshold.

    movers: lead indices, ascending. Adds 1 to counts[d, codes[d][lead]] for each persona
    dimension d; returns the k movers with the lowest best score (lowest) or the highest,
    ties by lead, in that order: one pass, a comparison or two per mover past the first k.
    """
    best = np.empty(max(k, 1), dtype=np.int64)
    who = np.empty(max(k, 1), dtype=np.int64)
    n = 0
    for lead in movers:
        d = 0
        for dimension in literal_unroll(codes):
            counts[d, dimension[lead]] += 1
            d += 1
        key = lead_max[lead] if lowest else -lead_max[lead]
        if k == 0 or (n == k and key >= best[n - 1]):
            continue  # a tie keeps the earlier lead: movers come in lead order
        j = n if n < k else k - 1
        while j > 0 and best[j - 1] > key:
            best[j] = best[j - 1]
            who[j] = who[j - 1]
            j -= 1
        best[j] = key
        who[j] = lead
        n = min(n + 1, k)
    return who[:n].copy()


def new_scratch(weights: tuple) -> np.ndarray:
    """Return the scratch lead_scores needs for these weights (one per thread)."""
    return np.empty(len(weights[5]))


@njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]  # _nrt: see top
def one_lead(person, history, weights, out, scratch, record_at):
    """Write one lead's scores at its checks into out; return how many."""
    lead_scores(person, history, weights, scratch, out, record_at)
    return history[0][person + 1] - history[0][person]
