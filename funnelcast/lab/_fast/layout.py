"""The Threshold Lab's layout loops (numba): events sorted per lead, laid out as check moments
and event groups, and each lead's fit points.

funnelcast.lab.history says what the layout is (Materialised); here is how it is built, fast:
a counting sort of the events by lead over the batches DuckDB streams, each lead's few events
then sorted in place, and two passes over them (count, then fill). funnelcast.lab.weights asks
fit_points for each lead's fit (one pass over the leads for every fit attribute).
"""

from __future__ import annotations

import numpy as np
from numba import literal_unroll, njit

# a lead with more events than this has them sorted by argsort, not by insertion
INSERTION_MAX = 64


@njit(cache=True, nogil=True)
def count_by_lead(lead, counts):
    """Add to counts[lead + 1] one per event of a batch (see sort_events)."""
    for i in range(len(lead)):
        counts[lead[i] + 1] += 1


@njit(cache=True, nogil=True)
def place_by_lead(lead, at, kind, fill, out_at, out_kind):
    """Put a batch's events in their lead's slots, from fill[lead] on (see sort_events)."""
    for i in range(len(lead)):
        j = fill[lead[i]]
        fill[lead[i]] += 1
        out_at[j] = at[i]
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
    several copies; each batch is let go once placed (a list given is emptied so).
    """
    batches = batches if isinstance(batches, list) else list(batches)
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
        lead, at, kind = batches.pop(0)  # each batch is freed once placed
        place_by_lead(lead, at, kind, fill, out_at, out_kind)
    sort_within_leads(start, out_at, out_kind)
    return start, out_at, out_kind


@njit(cache=True, nogil=True, inline="always")
def _group_end(at, kind, i, n):
    """Return where the group of events starting at i ends (events i..n-1 of one lead, sorted
    by moment and type): the first event after i of another moment or type, or n."""
    j = i + 1
    while j < n and at[j] == at[i] and kind[j] == kind[i]:
        j += 1
    return j


@njit(cache=True, nogil=True)
def count_layout(event_start, at, kind, created_at):
    """Return per lead its checks, event groups at or after creation and earlier event groups,
    and the most events in one group.

    event_start: per lead where its events start in at and kind (plus the end), each lead's
    sorted by moment and type (sort_events). A group is the events of one lead, moment and
    type. A check opens at creation and at each later moment.
    """
    n_leads = len(created_at)
    n_checks = np.ones(n_leads, dtype=np.int64)
    n_groups = np.zeros(n_leads, dtype=np.int64)
    n_early = np.zeros(n_leads, dtype=np.int64)
    largest = 0
    for person in range(n_leads):
        created = created_at[person]
        i, n = event_start[person], event_start[person + 1]
        while i < n:
            moment = at[i]
            j = _group_end(at, kind, i, n)
            largest = max(largest, j - i)
            if moment < created:
                n_early[person] += 1
            else:
                n_groups[person] += 1
                new_moment = i == event_start[person] or at[i - 1] != moment
                if moment > created and new_moment:
                    n_checks[person] += 1
            i = j
    return n_checks, n_groups, n_early, largest


@njit(cache=True, nogil=True)
def fill_layout(
    event_start,
    at,
    kind,
    created_at,
    check_start,
    group_start,
    early_start,
    check_at,
    check_groups,
    group_type,
    group_count,
    early_type,
    early_count,
    early_age,
):
    """Fill the layout count_layout sized (outputs: the arrays after early_start). Moments
    (at, created_at, and so check_at and early_age) are in one unit, whatever it is: the
    history's ticks."""
    n_leads = len(created_at)
    for person in range(n_leads):
        created = created_at[person]
        check, group, early = check_start[person], group_start[person], early_start[person]
        check_at[check] = created
        i, n = event_start[person], event_start[person + 1]
        while i < n:
            moment, what = at[i], kind[i]
            j = _group_end(at, kind, i, n)
            if moment < created:
                early_type[early] = what
                early_count[early] = j - i
                early_age[early] = created - moment
                early += 1
            else:
                new_moment = i == event_start[person] or at[i - 1] != moment
                if moment > created and new_moment:
                    check += 1
                    check_at[check] = moment
                check_groups[check] += 1
                group_type[group] = what
                group_count[group] = j - i
                group += 1
            i = j


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
