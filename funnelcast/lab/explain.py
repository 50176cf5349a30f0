"""A score explained: one lead's scores at its checks, and the rows that add up to one.

lead_checks scores one lead at every check (the compiled loop); explain_score asks the
database for the rows of a lead's score at a moment (queries/lead_score_explained.sql): fit
rules, events, caps and penalties, which add up to what lead_checks gives then.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import polars as pl

from funnelcast.data import db
from funnelcast.definitions import Definition
from funnelcast.lab import _fast
from funnelcast.lab.history import Materialised
from funnelcast.lab.weights import Weights


def lead_checks(m: Materialised, w: Weights, lead: int) -> tuple[np.ndarray, np.ndarray]:
    """Return one lead's check moments (us) and unrounded scores at them."""
    first, stop = m.check_start[lead], m.check_start[lead + 1]
    return m.check_us[first:stop], _fast.check_scores(lead, m.history, w.arrays)


def explain_score(
    cur: duckdb.DuckDBPyConnection, definition: Definition, lead_id: str, as_of: dt.datetime
) -> pl.DataFrame:
    """Return the rows of a lead's score at a moment (queries/lead_score_explained.sql)."""
    fit = definition.fit_rules
    behaviour = definition.behaviour_rules
    return db.run(
        cur,
        "lead_score_explained",
        lead_id=lead_id,
        as_of=as_of,
        half_life_days=float(definition.half_life_days),
        fit_attributes=[r.attribute for r in fit],
        fit_values=[r.value for r in fit],
        fit_points=[float(r.points) for r in fit],
        fit_disqualifies=[bool(r.is_disqualifier) for r in fit],
        event_types=[r.event_type for r in behaviour],
        event_points=[float(r.points) for r in behaviour],
        event_caps=[None if r.cap is None else float(r.cap) for r in behaviour],
    )
