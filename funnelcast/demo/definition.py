"""The demo's MQL definition: the default one (id 1) written with its fit and behaviour rules,
and each lead's MQL moment under it, as queries/computed_mql_moments.sql computes it."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np

from funnelcast.definitions import BehaviourRule, Definition, FitRule, scoring
from funnelcast.definitions.fields import BUILTIN_FIELDS
from funnelcast.definitions.store import insert_rules
from funnelcast.demo.attributes import TYPES
from funnelcast.demo.story import (
    BEHAVIOUR_RULES,
    DEFINITION_ID,
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
