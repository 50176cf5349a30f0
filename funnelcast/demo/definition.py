"""The demo's MQL definition: the default one (id 1) written with its fit and behaviour rules,
and each lead's MQL moment under it, as queries/computed_mql_moments.sql computes it."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np

from funnelcast.definitions import scoring
from funnelcast.demo.story import (
    BEHAVIOUR_RULES,
    DEFINITION_ID,
    FIT_RULES,
    HALF_LIFE_DAYS,
    THRESHOLD,
)


def insert_definition(cur: duckdb.DuckDBPyConnection, effective_from: dt.date) -> None:
    """Return nothing; insert the default MQL definition with its fit and behaviour rules."""
    cur.execute(
        "insert into definitions values ($id, 'Default 2023', $from, $threshold, $half_life, "
        "$created, 'The demo''s starting definition: fit to the ideal customer plus decayed "
        "engagement.')",
        {
            "id": DEFINITION_ID,
            "from": effective_from,
            "threshold": THRESHOLD,
            "half_life": HALF_LIFE_DAYS,
            "created": dt.datetime.combine(effective_from, dt.time()),
        },
    )
    cur.executemany(
        "insert into definition_fit_rules (definition_id, rule_no, attribute, operator, "
        "field_type, value, points, is_disqualifier) values (?, ?, ?, 'is', 'text', ?, ?, ?)",
        [(DEFINITION_ID, number, *rule) for number, rule in enumerate(FIT_RULES, 1)],
    )
    cur.executemany(
        "insert into definition_behaviour_rules values (?, ?, ?, ?)",
        [(DEFINITION_ID, *rule) for rule in BEHAVIOUR_RULES],
    )


def computed_mql_moments(cur: duckdb.DuckDBPyConnection, n: int) -> np.ndarray:
    """Return each lead's MQL moment (us) under the default definition, or -1 if it has none."""
    moments = scoring.computed_mql_moments(cur, DEFINITION_ID)
    lead = moments["lead_id"].str.slice(1).cast(int).to_numpy() - 1
    mql_us = np.full(n, -1, dtype=np.int64)
    mql_us[lead] = moments["mql_at"].dt.epoch("us").to_numpy()
    return mql_us
