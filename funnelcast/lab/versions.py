"""MQL moments checked at every moment: a definition's, and each quarter's version in force's.

mql_moments is the straightforward pass over every check of every lead (lab._fast.crossings):
each lead's first check whose rounded score reaches the threshold. The current definitions'
moments come from it, each quarter judged by the version in force then (versions_in_force,
mql_moments_in_force); `thresholds.backtest` answers the same of one definition from Scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from funnelcast.definitions import Definition
from funnelcast.lab import _fast
from funnelcast.lab._fast import NEVER
from funnelcast.lab.history import Materialised
from funnelcast.lab.quarters import day_us
from funnelcast.lab.scores import with_half_life
from funnelcast.lab.weights import compile_weights, threshold_micro


def mql_moments(
    m: Materialised,
    definition: Definition,
    threshold: float | None = None,
    window: tuple[int, int] | None = None,
) -> np.ndarray:
    """Return each lead's MQL moment (us; NEVER for none) at a threshold, checking every moment.

    window: (since, until) in us: only checks in [since, until) can be the moment. This is the
    straightforward pass over all checks; `thresholds.backtest` answers the same from Scores.
    """
    s = threshold_micro(definition.threshold if threshold is None else threshold)
    since, until = window if window is not None else (-NEVER, NEVER)
    w = compile_weights(m, definition).arrays
    first = np.empty(m.n_leads, dtype=np.int64)

    def half(leads: tuple[int, int]) -> None:
        _fast.crossings(
            np.arange(*leads),
            m.history,
            w,
            m.check_moments,
            s,
            since,
            until,
            first[leads[0] : leads[1]],
            most=m.most_checks,
        )

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(half, m.halves))
    first.flags.writeable = False  # moments are facts: who moves keeps their mask (_is_mql)
    return first


def versions_in_force(
    m: Materialised, in_force: Sequence[Definition | None]
) -> list[tuple[Definition, tuple[int, int]]]:
    """Return each definition in force with the moments (us) it governs, [since, until).

    in_force: per quarter of m's calendar, the version in force in it (None: none yet; the
    first version governs the quarters before it, as the data predates the definitions).
    """
    known = [d for d in in_force if d is not None]
    if not known:
        return []
    spans: list[tuple[Definition, tuple[int, int]]] = []
    for quarter, definition in zip(m.calendar.quarters, in_force):
        definition = definition or known[0]
        since, until = day_us(quarter.start), day_us(quarter.end)
        if spans and spans[-1][0].definition_id == definition.definition_id:
            spans[-1] = (definition, (spans[-1][1][0], until))
        else:
            spans.append((definition, (since, until)))
    # the first and last spans reach out to whatever lies beyond the calendar
    spans[0] = (spans[0][0], (-NEVER, spans[0][1][1]))
    spans[-1] = (spans[-1][0], (spans[-1][1][0], NEVER))
    return spans


def mql_moments_in_force(
    m: Materialised, spans: Sequence[tuple[Definition, tuple[int, int]]]
) -> np.ndarray:
    """Return each lead's MQL moment when each quarter is judged by the version in force in it:
    the first check, in any span, whose score under that span's version reaches its threshold.

    spans: from versions_in_force. A version with another half-life is scored on m decayed by
    its own (with_half_life).
    """
    moments = np.full(m.n_leads, NEVER, dtype=np.int64)
    for definition, window in spans:
        history = (
            m
            if definition.half_life_days == m.half_life_days
            else with_half_life(m, definition.half_life_days)
        )
        np.minimum(moments, mql_moments(history, definition, window=window), out=moments)
    moments.flags.writeable = False
    return moments


def moments_frame(m: Materialised, mql_us: np.ndarray) -> pl.DataFrame:
    """Return (lead_id, mql_at) for the leads with an MQL moment, as the SQL returns them."""
    has = mql_us != NEVER
    return pl.DataFrame(
        {
            "lead_id": m.lead_id.filter(pl.Series(has)),
            "mql_at": pl.Series(mql_us[has], dtype=pl.Int64).cast(pl.Datetime("us")),
        }
    )
