"""The Threshold Lab's counting loops (numba): what a threshold move counts over a scoring.

funnelcast.lab.scores puts the SQL leads' records in buckets by upper bound here (a counting
sort, a column at a time); funnelcast.lab.thresholds counts them (sql_counts) and histograms
the record keys and records by threshold for the trade-off curve; funnelcast.lab.moving counts
who moves by persona and picks the closest to the threshold (mover_groups).
"""

from __future__ import annotations

import numpy as np
from numba import literal_unroll, njit

# numba's cache sees changes to this file only: after changing these in kernels, clear __pycache__
from funnelcast.lab._fast.kernels import BIAS, DAY_US, SCORE_BITS


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
    """Return 1 / the step of evenly spaced sorted thresholds (as lab.thresholds.default_thresholds makes
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
def day_counts(lo, hi, needle, per_day):
    """Add to per_day[d] the day d record runs of a piece of keys (in any order) that are an
    MQL moment at the threshold: key_lo's bound below it, less key_hi's (needle: the
    threshold + BIAS), as two binary searches per day over the keys sorted count them."""
    low_bits = (np.int64(1) << SCORE_BITS) - 1
    # without a branch: whether a bound is below the threshold is a coin toss
    for i in range(len(lo)):
        per_day[lo[i] >> SCORE_BITS] += np.int64((lo[i] & low_bits) < needle)
    for i in range(len(hi)):
        per_day[hi[i] >> SCORE_BITS] -= np.int64((hi[i] & low_bits) < needle)


@njit(cache=True, nogil=True)
def sql_histograms(lo, hi, code, is_chosen, ranked, out):
    """Histogram the SQL leads' records by threshold bin, for the trade-off curve.

    A record counts at threshold k when rank(lo) <= k < rank(hi): add 1 at out[row, rank(lo)]
    and -1 at out[row, rank(hi)], for the rows it belongs to: 0 its cohort is chosen, 1 and
    won, 2 the SQL it caught falls in a chosen quarter, 3 the customer likewise. code: the
    records' kernels.records sql_code rows; is_chosen[q + 1]: quarter q chosen.
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
            # exact: the float days are us / DAY_US, their us come back by rounding
            lag_sum[stage, q] += np.int64(np.rint(lag[stage, r] * DAY_US))
            if is_chosen[q + 1]:
                lags[stage, n_lags[stage]] = lag[stage, r]
                n_lags[stage] += 1


@njit(cache=True, nogil=True)
def sql_counts(lo, hi, code, lag, first, above, s, is_chosen, n_quarters, most):
    """Count what precision and capture count of the SQL leads' records from first on that
    are an MQL moment at s (lo < s <= hi): per quarter, the MQLs that reached SQL (row 0) and
    customer (row 1); per stage (SQL, customer) the captures, their microseconds earlier summed
    (exactly, in int64, as stabbing.counts_at sums them), and
    those days of the captures in the chosen quarters (is_chosen[q + 1]), in record order.
    code, lag: kernels.records' sql_code and sql_lag rows.

    One pass that reads only the bounds of the records that do not count (most of them: a
    lead has one record at a threshold, and many above it): the scan is memory-bound. From
    above on, every record's hi is known to reach s (its bucket is above s's): only lo is read.
    most: the most records that can count (one per lead that reached SQL).
    """
    reached = np.zeros((2, n_quarters), dtype=np.int64)
    captured = np.zeros((2, n_quarters), dtype=np.int64)
    lag_sum = np.zeros((2, n_quarters), dtype=np.int64)
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


@njit(cache=True, nogil=True, inline="always")
def _keep_closest(lead, key, best, who, n, k):
    """Put lead (its key) among the k lowest keys so far (best, who: n of them, in order; a
    tie keeps the earlier lead); return how many there are now."""
    if k == 0 or (n == k and key >= best[n - 1]):
        return n
    j = n if n < k else k - 1
    while j > 0 and best[j - 1] > key:
        best[j] = best[j - 1]
        who[j] = who[j - 1]
        j -= 1
    best[j] = key
    who[j] = lead
    return min(n + 1, k)


@njit(cache=True, nogil=True)
def _count_groups(codes, counts, lead):
    """Add 1 to counts[d, codes[d][lead]] for each persona dimension d."""
    d = 0
    for dimension in literal_unroll(codes):
        counts[d, dimension[lead]] += 1
        d += 1


@njit(cache=True, nogil=True)
def who_moves(lead_max, is_mql, s, codes, ins, outs, k):
    """Count who moves at threshold s, in one pass over the leads: a lead enters when its best
    (lead_max) reaches s and it is no MQL now (is_mql), leaves the other way round.

    Adds 1 to ins[d, codes[d][lead]] (outs: leaving) for each persona dimension d; returns the
    k entering with the lowest best, the k leaving with the highest (ties by lead, in that
    order; as mover_groups picks them), how many enter, leave and stay.
    """
    best_in = np.empty(max(k, 1), dtype=np.int64)
    who_in = np.empty(max(k, 1), dtype=np.int64)
    best_out = np.empty(max(k, 1), dtype=np.int64)
    who_out = np.empty(max(k, 1), dtype=np.int64)
    n_in = n_out = 0
    entering = leaving = staying = 0
    for lead in range(len(lead_max)):
        qualifies = lead_max[lead] >= s
        now = is_mql[lead]
        staying += qualifies & now
        if qualifies == now:
            continue
        if qualifies:
            _count_groups(codes, ins, lead)
            entering += 1
            n_in = _keep_closest(lead, lead_max[lead], best_in, who_in, n_in, k)
        else:
            _count_groups(codes, outs, lead)
            leaving += 1
            n_out = _keep_closest(lead, -lead_max[lead], best_out, who_out, n_out, k)
    return who_in[:n_in].copy(), who_out[:n_out].copy(), entering, leaving, staying


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
        n = _keep_closest(lead, key, best, who, n, k)  # movers come in lead order
    return who[:n].copy()


@njit(cache=True, nogil=True)
def type_masks(check_start, group_start, early_start, group_type, early_type, out):
    """Write per lead a bit per event type it has events of (types below 64), in groups or
    before creation."""
    for person in range(len(out)):
        mask = np.uint64(0)
        for e in range(early_start[person], early_start[person + 1]):
            mask |= np.uint64(1) << np.uint64(early_type[e])
        for g in range(group_start[person], group_start[person + 1]):
            mask |= np.uint64(1) << np.uint64(group_type[g])
        out[person] = mask


MOVER_STEP = 1024  # leads between checkpoints of the movers' counts by persona


@njit(cache=True, nogil=True)
def mover_keys(lead_max, is_mql, index_bits):
    """Return the keys by which who moves is answered with binary searches: of the leads no MQL
    now that some threshold >= 0 takes in, best << index_bits | lead; of the MQL leads,
    (max(best, -1) + 1) << index_bits | (the largest lead code - lead), so that in key order
    equal bests come latest lead first (read backwards: earliest first, as who_moves keeps
    them). Unsorted."""
    n_in = 0
    for lead in range(len(lead_max)):
        n_in += (not is_mql[lead]) and lead_max[lead] >= 0
    n_out = np.count_nonzero(is_mql)
    keys_in = np.empty(n_in, dtype=np.int64)
    keys_out = np.empty(n_out, dtype=np.int64)
    top = (np.int64(1) << index_bits) - 1
    a = b = 0
    for lead in range(len(lead_max)):
        if is_mql[lead]:
            keys_out[b] = ((max(lead_max[lead], -1) + 1) << index_bits) | (top - lead)
            b += 1
        elif lead_max[lead] >= 0:
            keys_in[a] = (lead_max[lead] << index_bits) | lead
            a += 1
    return keys_in, keys_out


@njit(cache=True, nogil=True)
def mover_checkpoints(keys, index_bits, backwards, codes, width):
    """Return per MOVER_STEP-th key (sorted) the count by persona dimension and value of the
    leads before it (rows: dimension * width + value)."""
    mask = (np.int64(1) << index_bits) - 1
    n_dims = len(codes)
    marks = np.zeros((len(keys) // MOVER_STEP + 1, n_dims * width), dtype=np.int64)
    row = np.zeros(n_dims * width, dtype=np.int64)
    for i in range(len(keys)):
        if i % MOVER_STEP == 0:
            marks[i // MOVER_STEP] = row
        lead = mask - (keys[i] & mask) if backwards else keys[i] & mask
        d = 0
        for dimension in literal_unroll(codes):
            row[d * width + dimension[lead]] += 1
            d += 1
    if len(keys) % MOVER_STEP == 0:
        marks[len(keys) // MOVER_STEP] = row
    return marks


@njit(cache=True, nogil=True)
def movers_before(keys, index_bits, backwards, marks, codes, width, p, out):
    """Add to out[d, value] the count by persona of the leads of the first p keys."""
    mask = (np.int64(1) << index_bits) - 1
    mark = p // MOVER_STEP
    for d in range(out.shape[0]):
        for v in range(width):
            out[d, v] += marks[mark, d * width + v]
    for i in range(mark * MOVER_STEP, p):
        lead = mask - (keys[i] & mask) if backwards else keys[i] & mask
        d = 0
        for dimension in literal_unroll(codes):
            out[d, dimension[lead]] += 1
            d += 1
