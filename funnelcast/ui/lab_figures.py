"""The Threshold Lab's figures as the page shows them: the definitions in force replayed, the
draft's backtest at a threshold, its trade-off curve and who moves, each cached where a
threshold move does not change it, and each with its volumes scaled to the whole data when the
history is a sample of the leads (lab.budget, lab.sampled).

The scaling is done here, once, for every figure a page takes: a page never sees a sampled
history's raw counts, so none can forget to scale them. What lists leads (who moves' marginal
leads, the movers' CSV) is of the sample as it is. The history and the scorings these read are
funnelcast.ui.dashboard's (lab_materialised, lab_scores); a write there clears these caches too.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import streamlit as st

from funnelcast import lab
from funnelcast.data import db
from funnelcast.definitions import Definition
from funnelcast.ui import dashboard
from funnelcast.ui.dashboard import Database, lab_materialised, lab_scores

Spans = list[tuple[Definition, tuple[int, int]]]


@st.cache_resource(show_spinner=False, max_entries=4)
def _lab_versions_in_force(
    _database: Database, key: str, current_id: int | None, _current: Definition
) -> Spans:
    """Return the versions in force over the history, cached: one query per quarter."""
    m = lab_materialised(_database, _current)
    by_id = {v.definition_id: v for v in dashboard.kept_versions(_database)}
    in_force = []
    for quarter in m.calendar.quarters:
        row = db.run(_database.cursor, "definition_in_force", on=quarter.start).to_dicts()
        in_force.append(by_id.get(row[0]["definition_id"]) if row else None)
    return lab.versions_in_force(m, in_force)


def lab_versions_in_force(database: Database, current: Definition) -> Spans:
    """Return the versions in force over the history, each with the moments it governs."""
    return _lab_versions_in_force(database, database.key, current.definition_id, current)


@st.cache_resource(show_spinner="Replaying the definitions in force…", max_entries=3)
def _lab_current_moments(
    _database: Database, key: str, spans_key: str, _current: Definition, _spans: Spans
) -> np.ndarray:
    """Return funnelcast.lab.mql_moments_in_force, cached."""
    return lab.mql_moments_in_force(lab_materialised(_database, _current), _spans)


def lab_current_moments(database: Database, current: Definition) -> np.ndarray:
    """Return each lead's MQL moment under the definitions in force (lab.NEVER for none): each
    quarter's moments by the version in force in that quarter."""
    spans = lab_versions_in_force(database, current)
    spans_key = repr([(d.definition_id, window) for d, window in spans])
    return _lab_current_moments(database, database.key, spans_key, current, spans)


@st.cache_resource(show_spinner=False, max_entries=8)
def _lab_baseline(
    _database: Database,
    key: str,
    current_id: int | None,
    quarters: tuple[str, ...],
    capacity: float | None,
    _current: Definition,
) -> lab.Backtest:
    """Return the definitions in force replayed on the chosen quarters, scaled, cached: a
    threshold move of the draft does not change them."""
    m = lab_materialised(_database, _current)
    replayed = lab.backtest_moments(
        m, lab_current_moments(_database, _current), _current.threshold, quarters, capacity
    )
    return lab.sampled.backtest(m, replayed)


def lab_baseline(
    database: Database, current: Definition, quarters: tuple[str, ...], capacity: float | None
) -> lab.Backtest:
    """Return the backtest of the definitions in force (each quarter its own version) on the
    chosen quarters, with sales capacity per week, to set the draft's figures against (its
    volumes those of the whole data)."""
    return _lab_baseline(database, database.key, current.definition_id, quarters, capacity, current)


def lab_backtest(
    database: Database,
    draft: Definition,
    scores: lab.Scores,
    threshold: float,
    quarters: tuple[str, ...],
    capacity: float | None,
) -> lab.Backtest:
    """Return the draft's backtest at a threshold on the chosen quarters (from its scores: a
    threshold move rescores nothing), its volumes those of the whole data."""
    m = lab_materialised(database, draft)
    return lab.sampled.backtest(m, lab.backtest(m, scores, threshold, list(quarters), capacity))


@st.cache_resource(show_spinner=False, max_entries=16)
def _lab_curve(
    _database: Database,
    key: str,
    scoring_key: str,
    quarters: tuple[str, ...],
    _definition: Definition,
) -> pl.DataFrame:
    """Return funnelcast.lab.tradeoff_curve, scaled, cached: a threshold move does not change
    it."""
    m = lab_materialised(_database, _definition)
    curve = lab.tradeoff_curve(m, lab_scores(_database, _definition), quarters)
    return lab.sampled.curve(m, curve)


def lab_curve(
    database: Database, definition: Definition, quarters: tuple[str, ...]
) -> pl.DataFrame:
    """Return a definition's trade-off curve over thresholds on the chosen quarters, its
    volumes those of the whole data."""
    key = dashboard.scoring_key(definition)
    return _lab_curve(database, database.key, key, quarters, definition)


def lab_who_moves(
    database: Database, current: Definition, draft: Definition, scores: lab.Scores, threshold: float
) -> lab.Movers:
    """Return who the draft at a threshold takes in or drops against the definitions in force,
    its counts those of the whole data (the marginal leads it lists are of the history)."""
    m = lab_materialised(database, draft)
    moves = lab.who_moves(m, lab_current_moments(database, current), scores, threshold)
    return lab.sampled.movers(m, moves)


for _cache in (_lab_curve, _lab_baseline, _lab_current_moments, _lab_versions_in_force):
    dashboard.on_write(_cache.clear)
