"""A threshold move's SQL counts without a scan (numba): the records that hold a threshold.

A SQL lead's record is its MQL moment for the thresholds s with lo < s <= hi, so what
precision and capture count at s is a sum over the records with lo < s less the same sum over
those with hi < s (hi < s implies lo < s). sql_index puts the records of the chosen quarters in
buckets by lo and by hi (counting sorts: O(n), no comparison sort) and keeps, per bucket, the
sums over every bucket below it; either sum at s is then a row of those and the records of s's
own bucket (a few hundred), where the scan it replaces read every record above the threshold
(7.5M of them at 10M leads).

- counts: per chosen quarter, the MQLs that reached SQL and customer (by cohort), the captures
  per stage (by the quarter the stage was reached) and their microseconds earlier, summed
  exactly (in two int64 parts, so no sum's order changes its value);
- the median of the days earlier of the captures in the chosen quarters, exactly: the captures'
  lags fall in BINS bins of about equal size (by a histogram of their values), and per coarse
  bucket (COARSE_BITS fine ones) the count per bin below it is kept, so the bin holding the
  median is known in O(BINS) plus a coarse bucket's records, and only that bin's records that
  hold s are sorted.

Records are read through the index's lists of their places (int32), never copied. A record's
lo may be -BIAS (a lead's first record); thresholds are >= 0, so lo is read as max(lo, -1) + 1
and a threshold s asks for lo' < s + 1.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from funnelcast.lab._fast.kernels import DAY_US

BUCKET_BITS = 14  # about 2**14 buckets by bound (fewer when many quarters are chosen)
SUMS_BYTES = 16 << 20
COARSE_BITS = 3  # the median's buckets: 2**3 of those each
BINS = 512  # bins of the days earlier (median)
FINE_LAG_BITS = 16  # the lags' histogram that sets the bins' edges
LAG_SPLIT = 20  # a lag's microseconds kept as (us >> 20, us & (2**20 - 1)): sums never overflow
CODES = 4  # per record: its cohort, cohort when won, SQL and customer quarters (chosen places)


@njit(cache=True, nogil=True, inline="always")
def _bound(lo, hi, order, r):
    """Return record r's bound in an order: 0 lo' (see the module), 1 hi."""
    return max(lo[r], -1) + 1 if order == 0 else hi[r]


@njit(cache=True, nogil=True, inline="always")
def _lag_us(lag, stage, r):
    """Return record r's lag at a stage in microseconds (its float days are us / DAY_US
    exactly, so the microseconds come back by rounding)."""
    return np.int64(np.rint(lag[stage, r] * DAY_US))


@njit(cache=True, nogil=True, inline="always")
def _add_counts(row, code, lag, place, r, n_chosen, sign):
    """Add record r's counts to row (sign: 1 or -1): slots [4 * n_chosen) the counts by code
    column and chosen place, then per stage two slot sets of the lag's parts."""
    low = (np.int64(1) << LAG_SPLIT) - 1
    cohort = place[code[0, r] + 1]
    if cohort >= 0:
        row[cohort] += sign
        if code[1, r] != 0:
            row[n_chosen + cohort] += sign
    for stage in range(2):
        j = place[code[2 + stage, r] + 1]
        if j >= 0:
            row[(2 + stage) * n_chosen + j] += sign
            us = _lag_us(lag, stage, r)
            base = (CODES + 2 * stage) * n_chosen
            row[base + j] += sign * (us >> LAG_SPLIT)
            row[base + n_chosen + j] += sign * (us & low)


@njit(cache=True, nogil=True)
def build(lo, hi, code, lag, place, n_chosen, bucket_bits, int32_places):
    """Return the index's arrays (see SqlIndex) of the records of the chosen quarters (place[q +
    1]: quarter q's place among them, or -1)."""
    n = len(lo)
    relevant = np.zeros(n, dtype=np.bool_)
    top = np.int64(0)
    top_lag = np.zeros(2, dtype=np.int64)
    n_caught = np.zeros(2, dtype=np.int64)
    for r in range(n):
        caught_sql = place[code[2, r] + 1] >= 0
        caught_customer = place[code[3, r] + 1] >= 0
        if place[code[0, r] + 1] >= 0 or caught_sql or caught_customer:
            relevant[r] = True
            top = max(top, max(lo[r], -1) + 1, hi[r])
        for stage, caught in enumerate((caught_sql, caught_customer)):
            if caught:
                n_caught[stage] += 1
                top_lag[stage] = max(top_lag[stage], _lag_us(lag, stage, r))
    shift = 0
    while (top >> shift) >= (1 << bucket_bits):
        shift += 1
    n_buckets = (top >> shift) + 2  # the last one empty: a needle beyond every bound
    n_coarse = (n_buckets >> COARSE_BITS) + 1
    width = (CODES + 4) * n_chosen
    starts = np.zeros((2, n_buckets + 1), dtype=np.int64)
    sums = np.zeros((2, n_buckets + 1, width), dtype=np.int64)
    for r in range(n):
        if relevant[r]:
            for order in range(2):
                b = _bound(lo, hi, order, r) >> shift
                starts[order, b + 1] += 1
                _add_counts(sums[order, b + 1], code, lag, place, r, n_chosen, 1)
    n_relevant = starts[0].sum()
    places = np.empty((2, n_relevant), dtype=int32_places.dtype)
    for order in range(2):
        for b in range(n_buckets):
            starts[order, b + 1] += starts[order, b]
            sums[order, b + 1] += sums[order, b]
        fill = starts[order, :-1].copy()
        for r in range(n):
            if relevant[r]:
                b = _bound(lo, hi, order, r) >> shift
                places[order, fill[b]] = r
                fill[b] += 1
    # the median's: per stage a lag's bin (by its value's fine bin), the captures by bin, and
    # per coarse bucket the count per bin of the captures in the coarse buckets below it
    lag_shift = np.zeros(2, dtype=np.int64)
    bin_of = np.zeros((2, (1 << FINE_LAG_BITS) + 1), dtype=np.int16)
    for stage in range(2):
        while (top_lag[stage] >> lag_shift[stage]) >= (1 << FINE_LAG_BITS):
            lag_shift[stage] += 1
    fine = np.zeros((2, (1 << FINE_LAG_BITS) + 1), dtype=np.int64)
    for r in range(n):
        for stage in range(2):
            if place[code[2 + stage, r] + 1] >= 0:
                fine[stage, _lag_us(lag, stage, r) >> lag_shift[stage]] += 1
    for stage in range(2):
        below = 0
        for f in range(fine.shape[1]):
            bin_of[stage, f] = below * BINS // max(n_caught[stage], 1)
            below += fine[stage, f]
    bin_starts = np.zeros((2, BINS + 1), dtype=np.int64)
    bin_sums = np.zeros((2, 2, n_coarse + 1, BINS), dtype=np.int32)
    for r in range(n):
        for stage in range(2):
            if place[code[2 + stage, r] + 1] >= 0:
                k = bin_of[stage, _lag_us(lag, stage, r) >> lag_shift[stage]]
                bin_starts[stage, k + 1] += 1
                for order in range(2):
                    c = (_bound(lo, hi, order, r) >> shift) >> COARSE_BITS
                    bin_sums[stage, order, c + 1, k] += 1
    by_bin = np.empty(n_caught.sum(), dtype=int32_places.dtype)
    for stage in range(2):
        for k in range(BINS):
            bin_starts[stage, k + 1] += bin_starts[stage, k]
        for order in range(2):
            for c in range(n_coarse):
                bin_sums[stage, order, c + 1] += bin_sums[stage, order, c]
    bin_starts[1] += n_caught[0]  # by_bin holds the SQL captures, then the customer ones
    fill = bin_starts.copy()
    for r in range(n):
        for stage in range(2):
            if place[code[2 + stage, r] + 1] >= 0:
                k = bin_of[stage, _lag_us(lag, stage, r) >> lag_shift[stage]]
                by_bin[fill[stage, k]] = r
                fill[stage, k] += 1
    return shift, starts, sums, places, lag_shift, bin_of, bin_starts, bin_sums, by_bin


@njit(cache=True, nogil=True)
def _counts_below(lo, hi, code, lag, place, n_chosen, ix, order, needle, row, sign):
    """Add (sign) to row the counts of the records whose bound in order is below needle."""
    shift, starts, sums, places = ix[0], ix[1], ix[2], ix[3]
    b = min(needle >> shift, starts.shape[1] - 2)
    for k in range(row.shape[0]):
        row[k] += sign * sums[order, b, k]
    for i in range(starts[order, b], starts[order, b + 1]):
        r = places[order, i]
        if _bound(lo, hi, order, r) < needle:
            _add_counts(row, code, lag, place, r, n_chosen, sign)


@njit(cache=True, nogil=True)
def _bins_below(lo, hi, code, lag, place, ix, stage, order, needle, per_bin, sign):
    """Add (sign) to per_bin the count per bin of the stage's captures whose bound in order is
    below needle."""
    shift, starts, places, lag_shift, bin_of, bin_sums = ix[0], ix[1], ix[3], ix[4], ix[5], ix[7]
    b = min(needle >> shift, starts.shape[1] - 2)
    c = b >> COARSE_BITS
    for k in range(BINS):
        per_bin[k] += sign * np.int64(bin_sums[stage, order, c, k])
    for i in range(starts[order, c << COARSE_BITS], starts[order, b + 1]):
        r = places[order, i]
        if place[code[2 + stage, r] + 1] >= 0 and _bound(lo, hi, order, r) < needle:
            per_bin[bin_of[stage, _lag_us(lag, stage, r) >> lag_shift[stage]]] += sign


@njit(cache=True, nogil=True)
def _nth(lo, hi, lag, ix, stage, per_bin, s, t):
    """Return the t-th (from 0) smallest lag at the stage of the captures that hold s."""
    bin_starts, by_bin = ix[6], ix[8]
    k = 0
    while t >= per_bin[k]:
        t -= per_bin[k]
        k += 1
    held = np.empty(per_bin[k], dtype=np.float64)
    n = 0
    for i in range(bin_starts[stage, k], bin_starts[stage, k + 1]):
        r = by_bin[i]
        if lo[r] < s and hi[r] >= s:
            held[n] = lag[stage, r]
            n += 1
    held.sort()
    return held[t]


@njit(cache=True, nogil=True)
def index_at(lo, hi, code, lag, place, n_chosen, ix, s):
    """Return at s >= 0 the counts row (see _add_counts) and per stage how many captures and
    their median days earlier (as np.median takes it: the mean of the middle two of an even
    count; NaN when none)."""
    row = np.zeros((CODES + 4) * n_chosen, dtype=np.int64)
    _counts_below(lo, hi, code, lag, place, n_chosen, ix, 0, s + 1, row, 1)
    _counts_below(lo, hi, code, lag, place, n_chosen, ix, 1, s, row, -1)
    n_held = np.zeros(2, dtype=np.int64)
    medians = np.full(2, np.nan)
    for stage in range(2):
        per_bin = np.zeros(BINS, dtype=np.int64)
        _bins_below(lo, hi, code, lag, place, ix, stage, 0, s + 1, per_bin, 1)
        _bins_below(lo, hi, code, lag, place, ix, stage, 1, s, per_bin, -1)
        n = per_bin.sum()
        n_held[stage] = n
        if n == 0:
            continue
        a = _nth(lo, hi, lag, ix, stage, per_bin, s, (n - 1) // 2)
        if n % 2:
            medians[stage] = a
        else:
            medians[stage] = (a + _nth(lo, hi, lag, ix, stage, per_bin, s, n // 2)) / 2
    return row, n_held, medians


class SqlIndex(NamedTuple):
    """The SQL records of a choice of quarters, indexed for any threshold (see the module): the
    records' own arrays (kernels.records' sql_bound rows, sql_code, sql_lag), the places of
    the chosen quarters, and build's arrays."""

    lo: np.ndarray
    hi: np.ndarray
    code: np.ndarray
    lag: np.ndarray
    place: np.ndarray
    n_chosen: int
    arrays: tuple

    @property
    def nbytes(self) -> int:
        """Return the bytes of the index's own arrays."""
        return sum(a.nbytes for a in self.arrays if isinstance(a, np.ndarray))


def sql_index(
    lo: np.ndarray, hi: np.ndarray, code: np.ndarray, lag: np.ndarray, place: np.ndarray
) -> SqlIndex:
    """Return the index of the SQL records for the quarters place chooses (place[q + 1]:
    quarter q's place among them, or -1). It reads the records' arrays: keep them unchanged."""
    n_chosen = max(int(place.max()) + 1, 1)
    int32 = np.zeros(0, dtype=np.int32 if len(lo) < 2**31 else np.int64)
    # at most about SUMS_BYTES of running sums (a bucket's row holds 8 per chosen quarter)
    bits = BUCKET_BITS
    while bits > COARSE_BITS + 1 and (16 << bits) * (CODES + 4) * n_chosen > SUMS_BYTES:
        bits -= 1
    arrays = build(lo, hi, code, lag, place, n_chosen, bits, int32)
    return SqlIndex(lo, hi, code, lag, place, n_chosen, arrays)


def sql_index_at(index: SqlIndex, s: int) -> tuple[np.ndarray, list[list[int]], list[tuple]]:
    """Return at threshold s >= 0 the counts (rows by code column, per chosen place), per stage
    the lags' exact microseconds per chosen place, and per stage (captures, median days)."""
    lo, hi, code, lag, place, n, ix = index
    row, n_held, medians = index_at(lo, hi, code, lag, place, n, ix, s)
    counts = row[: CODES * n].reshape(CODES, n)
    lags = []
    for stage in range(2):
        base = (CODES + 2 * stage) * n
        high, low = row[base : base + n], row[base + n : base + 2 * n]
        lags.append([(int(h) << LAG_SPLIT) + int(w) for h, w in zip(high, low)])
    return counts, lags, [(int(n_held[k]), float(medians[k])) for k in range(2)]
