"""A lead's first check whose score reaches a threshold (numba): who moves' sample, MQL moments.

kernels.lead_scores scores the lead's checks (fit + behaviour points); first_crossing reads
them in time order. crossings is the Python entry point funnelcast.lab calls (the scratch made
here, the switch read here).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

# numba's cache sees changes to this file only: after changing kernels, clear __pycache__
from funnelcast.lab._fast.kernels import NEVER, lead_scores, micro, moment_us, new_scratch
from funnelcast.lab._fast.switch import enabled


@njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # _nrt: see top
def first_crossing(
    person,
    history,
    weights,
    moments,
    s,
    since_us,
    until_us,
    scores,
    scratch,
    record_at,
    record_x,
    vector,
):
    """Return a lead's first check moment in [since_us, until_us) whose rounded score reaches
    s (NEVER: none)."""
    lead_scores(person, history, weights, scratch, scores, record_at, record_x, vector)
    c0 = history[0][person]
    for i in range(history[0][person + 1] - c0):
        at = moment_us(moments, c0 + i)
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
    moments,
    s,
    since_us,
    until_us,
    out,
    scores,
    scratch,
    record_at,
    record_x,
    vector,
):
    """Write first_crossing of each of the leads (an array of indices) to out, in order."""
    for k in range(len(leads)):
        out[k] = first_crossing(
            leads[k],
            history,
            weights,
            moments,
            s,
            since_us,
            until_us,
            scores,
            scratch,
            record_at,
            record_x,
            vector,
        )


def crossings(*args: Any, most: int) -> None:
    """Write to out, per lead of leads, its first check moment in [since_us, until_us) whose
    rounded score reaches s (NEVER: none).

    args: first_crossings' first eight (leads to out); most: the most checks any lead has (the
    scratch is made here)."""
    scratch = (
        np.empty(most),
        new_scratch(args[2]),
        np.empty(most, dtype=np.int64),
        np.empty(most),
    )
    first_crossings(*args, *scratch, enabled())
