"""The known-outcome leads and what the model learns from: who counts, when behaviour is taken,
every lead field's values, the behaviour matrix and the current definition's score.

Which leads: those whose outcome is known, created at least `horizon_days` before the data's
as-of moment (by default the 90th percentile of the creation-to-outcome lag, at least the feature
window; 180 days when nobody has reached the outcome yet). A lead counts as converted when it
reached the outcome (SQL, or customer) within horizon_days of its creation, so that old and
recent leads are judged over the same span and the newest known leads are not made to look worse.

When behaviour is taken: at each lead's feature moment, the earlier of its outcome moment and
created_at + window_days (30 by default), counting events strictly before it. That moment can
never follow the outcome, so nothing the lead did because it was already being sold to (the
demo call after qualification, the pricing page a rep sent) can explain its own outcome. A fixed
creation + 30 days for everybody would leak exactly that for the many leads that reach SQL within
a month, and dropping those leads would drop the best buyers. The hand-made score is compared at
the very same moments, so the comparison between the two stays fair.

Fields: every built-in lead field and custom attribute (definitions.fields.lead_fields), their
known values per lead as queries/shared.sql's lead_field_values holds them (FieldValues; a
field's values are what the lead record says now: a field filled in after the sale is what the
leakage guard in funnelcast.analytics.suggest.encoding looks for). Behaviour: per event type, the
events decayed to the feature moment with the current definition's half-life; penalty types
(negative points in the current definition) are counted undecayed, as scoring counts them.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from funnelcast.analytics import metrics
from funnelcast.analytics.suggest.scores import (
    CURRENT_RULE_COLUMNS,
    definition_score,
)
from funnelcast.data import db
from funnelcast.definitions.fields import lead_fields
from funnelcast.definitions.values import FieldValues, field_values

OUTCOMES = ("sql", "customer")
DEFAULT_WINDOW_DAYS = 30.0
DEFAULT_HORIZON_DAYS = 180.0
DEFAULT_HALF_LIFE_DAYS = 30.0
LEADS_PER_FEATURE_QUERY = 250_000
# Each lead's row number in Features.leads: the lead_key of Features.long.
LEAD_KEY = pl.int_range(pl.len(), dtype=pl.Int64).alias("lead_key")


@dataclass(frozen=True)
class Features:
    """Known-outcome leads in creation order, their fields and behaviour, the current score."""

    leads: pl.DataFrame  # lead_id, created_at, recorded_mql_at, outcome_at, converted, feature_at
    # column_index, attribute ('event_type'), value, current_points, current_cap,
    # current_disqualifies: one row per event type
    catalogue: pl.DataFrame
    long: pl.DataFrame  # lead_key (row of leads), column_index, decayed, count_events
    # leads x catalogue: per event type, events as the current definition counts them
    x: np.ndarray
    fields: dict[str, FieldValues]  # every lead field, built-in ones first
    converted: np.ndarray
    current_score: np.ndarray  # the definition's score at feature_at; -inf when disqualified
    current_fit: np.ndarray  # its fit points alone (-inf when disqualified)
    definition: dict | None  # the definition in force at as_of (None: there is none)
    as_of: dt.datetime | None
    outcome: str
    horizon_days: float
    window_days: float
    half_life_days: float

    @property
    def columns(self) -> list[tuple[str, str]]:
        """Return the (attribute, value) of each column of x: ('event_type', the type)."""
        return list(self.catalogue.select("attribute", "value").iter_rows())

    def score(self, rules: pl.DataFrame, long: pl.DataFrame | None = None) -> np.ndarray:
        """Return per lead its behaviour score under coded rules (see scores.definition_score).

        long: the feature rows to score (default all; leads without rows score 0).
        """
        return definition_score(
            self.long if long is None else long, rules, self.leads.height, self.catalogue.height
        )


def known_outcome_features(
    cur: duckdb.DuckDBPyConnection,
    *,
    outcome: str = "sql",
    horizon_days: float | None = None,
    window_days: float = DEFAULT_WINDOW_DAYS,
) -> Features:
    """Return the known-outcome leads' fields, behaviour, outcomes and current scores."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    if not window_days > 0:
        raise ValueError(f"window_days must be > 0, not {window_days}")
    ctx = metrics.load_context(cur)
    definition = ctx.definition
    half_life = definition["half_life_days"] if definition else DEFAULT_HALF_LIFE_DAYS
    if horizon_days is None:
        lag = db.run(cur, "outcome_lag", outcome=outcome)["p90_days"][0]
        horizon_days = max(window_days, math.ceil(lag)) if lag is not None else DEFAULT_HORIZON_DAYS
    elif not horizon_days >= window_days:
        raise ValueError(
            f"horizon_days ({horizon_days}) must be at least window_days ({window_days})"
        )
    if ctx.as_of is None:
        leads = pl.DataFrame(
            schema={
                "lead_id": pl.String,
                "created_at": pl.Datetime("us"),
                "recorded_mql_at": pl.Datetime("us"),
                "outcome_at": pl.Datetime("us"),
                "converted": pl.Boolean,
                "feature_at": pl.Datetime("us"),
            }
        )
    else:
        leads = db.run(
            cur,
            "known_outcome_leads",
            outcome=outcome,
            created_before=ctx.as_of - dt.timedelta(days=horizon_days),
            horizon_days=float(horizon_days),
            window_days=float(window_days),
        )
    definition_id = definition["definition_id"] if definition else None
    catalogue = (
        db.run(cur, "feature_catalogue", definition_id=definition_id)
        .with_row_index("column_index")
        .with_columns(pl.col("column_index").cast(pl.Int64))
    )
    moments = leads.select(LEAD_KEY, "lead_id", "feature_at")
    long, values, fit = _read_batches(cur, moments, catalogue, definition_id, float(half_life))
    # the model sees each event type as the current definition counts it: penalties undecayed
    is_penalty = (catalogue["current_points"] < 0).to_numpy()
    x = np.zeros((leads.height, catalogue.height), dtype=np.float32)
    keys, cols = long["lead_key"].to_numpy(), long["column_index"].to_numpy()
    x[keys, cols] = np.where(
        is_penalty[cols], long["count_events"].to_numpy(), long["decayed"].to_numpy()
    )
    current = definition_score(
        long,
        catalogue.select("column_index", "attribute", *CURRENT_RULE_COLUMNS),
        leads.height,
        catalogue.height,
    )
    current_fit = np.zeros(leads.height)
    fit_keys = fit["lead_key"].to_numpy()
    current_fit[fit_keys] = fit["fit_points"].to_numpy()
    current_fit[fit_keys[fit["is_disqualified"].to_numpy()]] = -np.inf
    current = np.round(current + current_fit, 6)
    return Features(
        leads=leads,
        catalogue=catalogue,
        long=long,
        x=x,
        fields=field_values(values, lead_fields(cur), leads.height),
        converted=leads["converted"].to_numpy().astype(bool),
        current_score=current,
        current_fit=current_fit,
        definition=definition,
        as_of=ctx.as_of,
        outcome=outcome,
        horizon_days=float(horizon_days),
        window_days=float(window_days),
        half_life_days=float(half_life),
    )


def _read_batches(
    cur: duckdb.DuckDBPyConnection,
    moments: pl.DataFrame,
    catalogue: pl.DataFrame,
    definition_id: int | None,
    half_life: float,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Return the leads' behaviour rows, field values and current fit points, read in batches.

    In batches of leads: DuckDB's working memory for the events join follows the batch (at a
    million leads this takes 450 MB off the peak, at no cost in time).
    """
    behaviour, values = [], []
    cur.register("feature_columns", catalogue.select("column_index", "attribute", "value"))
    try:
        for start in range(0, max(moments.height, 1), LEADS_PER_FEATURE_QUERY):
            cur.register("feature_moments", moments.slice(start, LEADS_PER_FEATURE_QUERY))
            try:
                behaviour.append(db.run(cur, "lead_features", half_life_days=half_life))
                values.append(db.run(cur, "known_field_values"))
            finally:
                cur.unregister("feature_moments")
    finally:
        cur.unregister("feature_columns")
    fit = pl.DataFrame(
        schema={"lead_key": pl.Int64, "fit_points": pl.Float64, "is_disqualified": pl.Boolean}
    )
    if definition_id is not None:
        # once for every lead: lead_fit matches the rules against all leads whatever the batch,
        # and its result is one small row per lead
        cur.register("feature_moments", moments)
        try:
            fit = db.run(cur, "known_lead_fit", definition_id=definition_id)
        finally:
            cur.unregister("feature_moments")
    # one chunk each, so that columns reach numpy without a copy each time
    return pl.concat(behaviour, rechunk=True), pl.concat(values, rechunk=True), fit
