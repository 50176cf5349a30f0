"""The demo's MQL definition: the default one (id 1) written with its fit and behaviour rules,
and each lead's MQL moment under it, as queries/computed_mql_moments.sql computes it: from a
database (computed_mql_moments), or for a block being built from its fit in a database and its
generated events (block_mql_moments)."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np

from funnelcast.data import db
from funnelcast.definitions import BehaviourRule, Definition, FitRule, scoring
from funnelcast.definitions.fields import BUILTIN_FIELDS
from funnelcast.definitions.store import insert_rules
from funnelcast.demo.attributes import TYPES
from funnelcast.demo.mql import mql_moments_us
from funnelcast.demo.story import (
    BEHAVIOUR_RULES,
    DEFINITION_ID,
    EVENT_TYPES,
    FIT_RULES,
    HALF_LIFE_DAYS,
    THRESHOLD,
)

# The default definition's rules on the demo's custom attributes (funnelcast.demo.attributes),
# after the built-in ones: never a lead that asked not to be contacted; a marketing or sales
# buyer, and a lead that visited often, gain a little.
ATTRIBUTE_RULES = (
    FitRule("Do not contact", "Yes", 0, True),
    FitRule("Job function", ("Marketing", "Sales"), 5, op="is any of"),
    FitRule("Website visits", 12, 5, op=">="),
)


def insert_definition(
    cur: duckdb.DuckDBPyConnection, effective_from: dt.date, *, with_attributes: bool = True
) -> None:
    """Insert the default MQL definition with its fit and behaviour rules (with_attributes:
    and its rules on the demo's custom attributes)."""
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
    fit = tuple(FitRule(attribute, value, points, dq) for attribute, value, points, dq in FIT_RULES)
    behaviour = tuple(BehaviourRule(event, points, cap) for event, points, cap in BEHAVIOUR_RULES)
    rules = Definition(
        name="",
        threshold=THRESHOLD,
        half_life_days=HALF_LIFE_DAYS,
        fit_rules=fit + (ATTRIBUTE_RULES if with_attributes else ()),
        behaviour_rules=behaviour,
    )
    insert_rules(cur, DEFINITION_ID, rules, {**BUILTIN_FIELDS, **TYPES})


def computed_mql_moments(cur: duckdb.DuckDBPyConnection, n: int, first: int = 0) -> np.ndarray:
    """Return the MQL moment (us) under the default definition of each of the n leads from
    index first that the database holds (a block of the demo), or -1 where one has none."""
    moments = scoring.computed_mql_moments(cur, DEFINITION_ID)
    lead = moments["lead_id"].str.slice(1).cast(int).to_numpy() - 1 - first
    mql_us = np.full(n, -1, dtype=np.int64)
    mql_us[lead] = moments["mql_at"].dt.epoch("us").to_numpy()
    return mql_us


# The behaviour rules in the order of their event types' names (the scorer's order of adding
# them up), and each event type's place in it.
_RULES_BY_NAME = sorted(BEHAVIOUR_RULES)
_RULE_OF_TYPE = np.array(
    [[name for name, _, _ in _RULES_BY_NAME].index(name) for name, _ in EVENT_TYPES]
)


def block_mql_moments(
    cur: duckdb.DuckDBPyConnection,
    n: int,
    first: int,
    created_us: np.ndarray,
    events: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Return what computed_mql_moments returns for a block of n leads from index first whose
    leads and custom attributes (not its events) the database holds: their fit from it, their
    behaviour from the block's events (lead index within the block, occurred_us, event type
    code), scored by funnelcast.demo.mql, which gives the scorer's numbers without the events'
    round trip through a database."""
    fit = db.run(cur, "lead_fit_points", definition_id=DEFINITION_ID)
    lead = fit["lead_id"].str.slice(1).cast(int).to_numpy() - 1 - first
    fit_points, disqualified = np.zeros(n), np.zeros(n, dtype=bool)
    fit_points[lead] = fit["fit_points"].to_numpy()
    disqualified[lead] = fit["is_disqualified"].to_numpy()
    lead_of, occurred_us, event_type = events
    return mql_moments_us(
        created_us=created_us,
        fit_points=fit_points,
        disqualified=disqualified,
        lead=lead_of,
        occurred_us=occurred_us,
        event_type=_RULE_OF_TYPE[event_type],
        rules=[
            (float(points), None if cap is None else float(cap))
            for _, points, cap in _RULES_BY_NAME
        ],
        threshold=THRESHOLD,
        half_life_days=HALF_LIFE_DAYS,
    )
