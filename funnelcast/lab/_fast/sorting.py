"""Sorting a quarter's record keys (numba): an LSD radix sort on the bits the keys use.

A key is day << SCORE_BITS | (bound + BIAS) (see kernels). The keys of one quarter span about
92 days and a few hundred points in micro-points, some 35 of the 64 bits: sort_keys maps each
key, keeping its order, onto (day - first day) << bound_bits | (bound - least bound), sorts those
with one counting pass per 11 bits (all the digits' counts taken in one read), and maps them
back. On 1.5M keys that takes a sixth of numpy's sort. Keys too wide for it (spanning more
than 62 bits, which no quarter's do) and short runs go to numpy's sort; the answer is the same.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from funnelcast.lab._fast.kernels import SCORE_BITS

# below this many keys numpy's sort is as quick
RADIX_FROM = 1 << 14
DIGIT_BITS = 11


@njit(cache=True, nogil=True)
def _bit_length(x):
    """Return the number of bits x >= 0 takes."""
    n = 0
    while x > 0:
        x >>= 1
        n += 1
    return n


@njit(cache=True, nogil=True)
def _radix_sort(keys, scratch):
    """Sort keys in place by radix, scratch (as long) taking each pass's other half; return
    False, touching nothing, when their span is too wide for it."""
    n = len(keys)
    low_mask = (np.int64(1) << SCORE_BITS) - 1
    day_lo = keys[0] >> SCORE_BITS
    day_hi = day_lo
    bound_lo = keys[0] & low_mask
    bound_hi = bound_lo
    for i in range(n):
        day = keys[i] >> SCORE_BITS
        bound = keys[i] & low_mask
        day_lo = min(day_lo, day)
        day_hi = max(day_hi, day)
        bound_lo = min(bound_lo, bound)
        bound_hi = max(bound_hi, bound)
    bound_bits = _bit_length(bound_hi - bound_lo)
    total = bound_bits + _bit_length(day_hi - day_lo)
    if total > 62:
        return False
    passes = max(1, (total + DIGIT_BITS - 1) // DIGIT_BITS)
    digit = (total + passes - 1) // passes
    size = np.int64(1) << digit
    mask = size - 1
    counts = np.zeros((passes, size + 1), dtype=np.int64)
    for i in range(n):  # the compact keys, and every pass's counts, in one read
        c = (((keys[i] >> SCORE_BITS) - day_lo) << bound_bits) | ((keys[i] & low_mask) - bound_lo)
        scratch[i] = c
        for p in range(passes):
            counts[p, ((c >> (p * digit)) & mask) + 1] += 1
    src, dst = scratch, keys
    for p in range(passes):
        if counts[p, 1:].max() == n:  # every key has this digit alike: the pass moves nothing
            continue
        place = np.cumsum(counts[p])
        shift = p * digit
        for i in range(n):
            d = (src[i] >> shift) & mask
            dst[place[d]] = src[i]
            place[d] += 1
        src, dst = dst, src
    bound_mask = (np.int64(1) << bound_bits) - 1
    for i in range(n):  # back to keys, from wherever the last pass left them
        c = src[i]
        keys[i] = (((c >> bound_bits) + day_lo) << SCORE_BITS) | ((c & bound_mask) + bound_lo)
    return True


def sort_keys(keys: np.ndarray) -> None:
    """Sort int64 record keys in place (as keys.sort() would)."""
    if len(keys) < RADIX_FROM or not _radix_sort(keys, np.empty_like(keys)):
        keys.sort()
