"""A threshold move's SQL counts without a scan (numba): the records that hold a threshold.

A SQL lead's record is its MQL moment for the thresholds s with lo < s <= hi, so what
precision and capture count at s is a sum over the records with lo < s less the same sum over
those with hi < s (hi < s implies lo < s). Sorted by lo and by hi, with the running sums kept
every STEP records (checkpoints), either sum is a binary search, a checkpoint's row and at most
STEP - 1 records added: a threshold move then costs O(log n + STEP) where the scan it replaces
read every record above the threshold (7.5M of them at 10M leads).

- counts_index / counts_at: per chosen quarter, the MQLs that reached SQL and customer (by
  cohort), the captures per stage (by the quarter the stage was reached) and their microseconds
  earlier, summed exactly (in two int64 parts, so no sum's order changes its value);
- median_index / median_at: the median of the days earlier of the captures in the chosen
  quarters, exactly: each capture's rank among all by its days earlier puts it in one of BINS
  bins of equal size, the checkpoints count per bin, so the bin holding the median is known in
  O(BINS + STEP) and only its records are read (about n / BINS).

A record's lo may be -BIAS (a lead's first record); thresholds are >= 0, so lo is kept as
max(lo, -1) + 1 and a threshold s asks for lo' < s + 1.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from funnelcast.lab._fast.kernels import DAY_US
from funnelcast.lab._fast.sorting import sort_keys

STEP = 256  # records between checkpoints of the counts
BIN_STEP = 1024  # records between checkpoints of the counts per bin (a row is BINS wide)
BINS = 1024  # rank bins of the days earlier (median)
LAG_SPLIT = 20  # a lag's microseconds kept as (us >> 20, us & (2**20 - 1)): sums never overflow
CODES = 4  # per record: its cohort, cohort when won, SQL and customer quarters (chosen places)


def argsort_bounds(bounds: np.ndarray) -> np.ndarray:
    """Return the stable order of int64 bounds >= 0 (as np.argsort(kind="stable")): by a radix
    sort of bound << index_bits | index when that fits 62 bits, else numpy's."""
    n = len(bounds)
    index_bits = max(1, int(n).bit_length())
    top = int(bounds.max()) if n else 0
    if n == 0 or top.bit_length() + index_bits > 62:
        return np.argsort(bounds, kind="stable")
    keys = (bounds << index_bits) | np.arange(n, dtype=np.int64)
    sort_keys(keys)
    return keys & ((1 << index_bits) - 1)


@njit(cache=True, nogil=True)
def relevant_records(lo, hi, code, lag, place):
    """Return the records of any chosen quarter (place[q + 1] >= 0: quarter q's place among the
    chosen), compacted: lo' (see the module), hi, their codes' chosen places (-1: none or not
    chosen; column 1 the cohort's when won) and per stage the lag in microseconds (0: none)."""
    n = 0
    for r in range(len(lo)):
        n += (
            (place[code[0, r] + 1] >= 0)
            | (place[code[2, r] + 1] >= 0)
            | (place[code[3, r] + 1] >= 0)
        )
    out_lo = np.empty(n, dtype=np.int64)
    out_hi = np.empty(n, dtype=np.int64)
    codes = np.empty((n, CODES), dtype=np.int8)
    lag_us = np.zeros((n, 2), dtype=np.int64)
    k = 0
    for r in range(len(lo)):
        cohort = place[code[0, r] + 1]
        sql = place[code[2, r] + 1]
        customer = place[code[3, r] + 1]
        if cohort < 0 and sql < 0 and customer < 0:
            continue
        out_lo[k] = max(lo[r], -1) + 1
        out_hi[k] = hi[r]
        codes[k, 0] = cohort
        codes[k, 1] = cohort if code[1, r] != 0 else -1
        codes[k, 2] = sql
        codes[k, 3] = customer
        if sql >= 0:  # the float days are exact us / DAY_US: their us come back by rounding
            lag_us[k, 0] = np.int64(np.rint(lag[0, r] * DAY_US))
        if customer >= 0:
            lag_us[k, 1] = np.int64(np.rint(lag[1, r] * DAY_US))
        k += 1
    return out_lo, out_hi, codes, lag_us


@njit(cache=True, nogil=True, inline="always")
def _add_counts(row, codes, lag_us, i, n_chosen, sign):
    """Add record i's counts to row (sign: 1 or -1): slots [4 * n_chosen) the counts by code
    column and place, then per stage two slot sets of lag parts."""
    low = (np.int64(1) << LAG_SPLIT) - 1
    for c in range(CODES):
        j = codes[i, c]
        if j >= 0:
            row[c * n_chosen + j] += sign
    for stage in range(2):
        j = codes[i, 2 + stage]
        if j >= 0:
            us = lag_us[i, stage]
            base = (CODES + 2 * stage) * n_chosen
            row[base + j] += sign * (us >> LAG_SPLIT)
            row[base + n_chosen + j] += sign * (us & low)


@njit(cache=True, nogil=True)
def counts_checkpoints(codes, lag_us, order, n_chosen):
    """Return the records in order (codes, lag_us gathered) and the running counts before every
    STEP-th of them (rows of 8 * n_chosen; see _add_counts)."""
    n = len(order)
    ordered_codes = np.empty((n, CODES), dtype=np.int8)
    ordered_lag = np.empty((n, 2), dtype=np.int64)
    for i in range(n):
        ordered_codes[i] = codes[order[i]]
        ordered_lag[i] = lag_us[order[i]]
    width = (CODES + 4) * n_chosen
    marks = np.zeros((n // STEP + 1, width), dtype=np.int64)
    row = np.zeros(width, dtype=np.int64)
    for i in range(n):
        if i % STEP == 0:
            marks[i // STEP] = row
        _add_counts(row, ordered_codes, ordered_lag, i, n_chosen, 1)
    if n % STEP == 0:
        marks[n // STEP] = row
    return ordered_codes, ordered_lag, marks


@njit(cache=True, nogil=True)
def _count_before(bounds, codes, lag_us, marks, needle, n_chosen, row, sign):
    """Add (sign) to row the counts of the sorted records whose bound is below needle."""
    p = np.searchsorted(bounds, needle)
    mark = p // STEP
    for k in range(row.shape[0]):
        row[k] += sign * marks[mark, k]
    for i in range(mark * STEP, p):
        _add_counts(row, codes, lag_us, i, n_chosen, sign)


@njit(cache=True, nogil=True)
def counts_at(lo_index, hi_index, s, n_chosen):
    """Return the counts (see _add_counts) of the records that are an MQL moment at s >= 0:
    lo < s less hi < s. Each index: (sorted bounds, codes, lag_us, checkpoints)."""
    row = np.zeros((CODES + 4) * n_chosen, dtype=np.int64)
    _count_before(lo_index[0], lo_index[1], lo_index[2], lo_index[3], s + 1, n_chosen, row, 1)
    _count_before(hi_index[0], hi_index[1], hi_index[2], hi_index[3], s, n_chosen, row, -1)
    return row


@njit(cache=True, nogil=True)
def bin_checkpoints(bins, order, n_bins):
    """Return the records' bins in order and the running count per bin before every STEP-th."""
    n = len(order)
    ordered = np.empty(n, dtype=np.int32)
    for i in range(n):
        ordered[i] = bins[order[i]]
    marks = np.zeros((n // BIN_STEP + 1, n_bins), dtype=np.int32)
    row = np.zeros(n_bins, dtype=np.int32)
    for i in range(n):
        if i % BIN_STEP == 0:
            marks[i // BIN_STEP] = row
        row[ordered[i]] += 1
    if n % BIN_STEP == 0:
        marks[n // BIN_STEP] = row
    return ordered, marks


@njit(cache=True, nogil=True)
def _bins_before(bounds, bins, marks, needle, row, sign):
    """Add (sign) to row the count per bin of the sorted records whose bound is below needle."""
    p = np.searchsorted(bounds, needle)
    mark = p // BIN_STEP
    for k in range(len(row)):
        row[k] += sign * np.int64(marks[mark, k])
    for i in range(mark * BIN_STEP, p):
        row[bins[i]] += sign


@njit(cache=True, nogil=True)
def _nth(per_bin, size, ranked_lo, ranked_hi, ranked_lag, s, t):
    """Return the lag of the t-th (from 0) record holding s in rank order."""
    b = 0
    while t >= per_bin[b]:
        t -= per_bin[b]
        b += 1
    for i in range(b * size, min((b + 1) * size, len(ranked_lo))):
        if ranked_lo[i] < s + 1 and ranked_hi[i] >= s:
            if t == 0:
                return ranked_lag[i]
            t -= 1
    return np.nan  # not reached: per_bin counts exactly these records


@njit(cache=True, nogil=True)
def median_at(ranked, lo_index, hi_index, s):
    """Return (how many, median) of the lags of the records that hold s >= 0, as np.median
    takes it (the mean of the two middle ones of an even count).

    ranked: (size, lo', hi, lag) of the records in rank order of their lag, bin b holding ranks
    [b * size, (b + 1) * size); each index: (sorted bounds, bins in that order, checkpoints).
    """
    size, ranked_lo, ranked_hi, ranked_lag = ranked
    per_bin = np.zeros(lo_index[2].shape[1], dtype=np.int64)
    _bins_before(lo_index[0], lo_index[1], lo_index[2], s + 1, per_bin, 1)
    _bins_before(hi_index[0], hi_index[1], hi_index[2], s, per_bin, -1)
    n = per_bin.sum()
    if n == 0:
        return 0, np.nan
    a = _nth(per_bin, size, ranked_lo, ranked_hi, ranked_lag, s, (n - 1) // 2)
    if n % 2:
        return n, a
    b = _nth(per_bin, size, ranked_lo, ranked_hi, ranked_lag, s, n // 2)
    return n, (a + b) / 2


class SqlIndex(NamedTuple):
    """The SQL records of a choice of quarters, indexed for any threshold (see the module).

    counts: per order (lo', hi) its (sorted bounds, codes, lag_us, checkpoints); medians: per
    stage (SQL, customer) its (ranked, lo index, hi index) as median_at reads them."""

    n_chosen: int
    counts: tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]
    medians: tuple[tuple, ...]

    @property
    def nbytes(self) -> int:
        """Return the bytes of its arrays."""

        def size(x: object) -> int:
            if isinstance(x, np.ndarray):
                return x.nbytes
            return sum(size(y) for y in x) if isinstance(x, tuple) else 0

        return size(self.counts) + size(self.medians)


def sql_index(
    lo: np.ndarray, hi: np.ndarray, code: np.ndarray, lag: np.ndarray, place: np.ndarray
) -> SqlIndex:
    """Return the index of the SQL records (kernels.records' sql_bound rows, sql_code, sql_lag)
    for the quarters place chooses (place[q + 1]: quarter q's place among them, or -1)."""
    n_chosen = int(place.max()) + 1
    rel_lo, rel_hi, codes, lag_us = relevant_records(lo, hi, code, lag, place)
    counts = []
    for bounds in (rel_lo, rel_hi):
        order = argsort_bounds(bounds)
        counts.append((bounds[order], *counts_checkpoints(codes, lag_us, order, n_chosen)))
    medians = []
    for stage in range(2):
        caught = np.flatnonzero(codes[:, 2 + stage] >= 0)
        us = lag_us[caught, stage]
        by_lag = caught[np.argsort(us, kind="stable")]
        size = max(1, -(-len(caught) // BINS))
        ranked = (size, rel_lo[by_lag], rel_hi[by_lag], lag_us[by_lag, stage] / DAY_US)
        bins = np.empty(len(caught), dtype=np.int32)
        bins[np.argsort(us, kind="stable")] = np.arange(len(caught)) // size
        n_bins = max(1, -(-len(caught) // size))
        orders = []
        for bounds in (rel_lo[caught], rel_hi[caught]):
            order = argsort_bounds(bounds)
            orders.append((bounds[order], *bin_checkpoints(bins, order, n_bins)))
        medians.append((ranked, orders[0], orders[1]))
    return SqlIndex(n_chosen, (counts[0], counts[1]), tuple(medians))


def sql_index_at(index: SqlIndex, s: int) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """Return at threshold s >= 0 the counts (rows by code column, then per stage the lag's
    exact microseconds, per chosen place) and per stage (how many captures, their median)."""
    row = counts_at(index.counts[0], index.counts[1], s, index.n_chosen)
    n = index.n_chosen
    counts = row[: CODES * n].reshape(CODES, n)
    lags = []
    for stage in range(2):
        base = (CODES + 2 * stage) * n
        high, low = row[base : base + n], row[base + n : base + 2 * n]
        lags.append([(int(h) << LAG_SPLIT) + int(w) for h, w in zip(high, low)])
    medians = [median_at(*index.medians[stage], s) for stage in range(2)]
    return counts, lags, medians
