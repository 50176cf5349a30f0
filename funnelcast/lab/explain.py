"""A score explained: one lead's scores at its checks, and the rows that add up to one.

lead_checks scores one lead at every check (the compiled loop); explain_score asks the
database for the rows of a lead's score at a moment (queries/lead_score_explained.sql): fit
rules (any field and operator, each with the lead's value), events, caps and penalties, which
add up to what lead_checks gives then.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import polars as pl

from funnelcast import definitions
from funnelcast.data import db
from funnelcast.definitions import Definition
from funnelcast.definitions.fields import lead_fields
from funnelcast.lab import _fast
from funnelcast.lab.history import Materialised
from funnelcast.lab.weights import Weights


def lead_checks(m: Materialised, w: Weights, lead: int) -> tuple[np.ndarray, np.ndarray]:
    """Return one lead's check moments (us) and unrounded scores at them."""
    first, stop = m.check_start[lead], m.check_start[lead + 1]
    return m.check_us_of(first, stop), _fast.check_scores(lead, m.history, w.arrays)


def explain_score(
    cur: duckdb.DuckDBPyConnection, definition: Definition, lead_id: str, as_of: dt.datetime
) -> pl.DataFrame:
    """Return the rows of a lead's score at a moment (queries/lead_score_explained.sql)."""
    fields = lead_fields(cur)
    fit = definitions.normalised(definition, fields)
    return db.run(
        cur,
        "lead_score_explained",
        lead_id=lead_id,
        as_of=as_of,
        half_life_days=float(definition.half_life_days),
        **definitions.fit_rule_lists(fit, fields),
        fit_label=[r.label for r in fit.fit_rules],
        event_types=[r.event_type for r in definition.behaviour_rules],
        event_points=[float(r.points) for r in definition.behaviour_rules],
        event_caps=[None if r.cap is None else float(r.cap) for r in definition.behaviour_rules],
    )
