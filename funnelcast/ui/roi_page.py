"""The ROI page's glue to Streamlit: its inputs, its figures and the quarterly review cached on
the database file's key, so moving between quarters and models reruns no query and a choice
made before is not credited again.

The functions it wraps (funnelcast.roi, funnelcast.report) are plain and tested without
Streamlit; only caching lives here.
"""

from __future__ import annotations

from typing import Any

import duckdb
import streamlit as st

from funnelcast import report
from funnelcast.analytics import metrics, roi
from funnelcast.ui import dashboard

MODEL_KEY = "roi_model"
HALF_LIFE_KEY = "roi_half_life"


@st.cache_data(show_spinner="Crediting revenue to the touches…", max_entries=8)
def _inputs(_cur: duckdb.DuckDBPyConnection, key: str, half_life_days: float) -> roi.Inputs:
    """Return funnelcast.roi.load, cached on the file key and the half-life."""
    return roi.load(_cur, metrics.load_context(_cur), half_life_days)


def inputs(database: dashboard.Database, half_life_days: float) -> roi.Inputs:
    """Return what every ROI figure is computed from, for a time-decay half-life."""
    return _inputs(database.cursor, database.key, float(half_life_days))


@st.cache_data(show_spinner="Computing cost and return…", max_entries=32)
def _result(
    _cur: duckdb.DuckDBPyConnection,
    _ctx: metrics.DataContext,
    key: str,
    quarter: str | None,
    model: str,
    half_life_days: float,
) -> dict[str, Any]:
    """Return funnelcast.roi.report, cached on the file key, the quarter, model and half-life
    (the context is the file's own, so the key stands for it)."""
    data = _inputs(_cur, key, half_life_days)
    return roi.report(_ctx, data, quarter=quarter, model=model)


def result(
    database: dashboard.Database, quarter: str | None, model: str, half_life_days: float
) -> dict[str, Any]:
    """Return funnelcast.roi.report: what `funnelcast roi --format json` prints (seconds of
    crediting at a million leads, so a rerun of the same choice reads it from the cache)."""
    ctx = dashboard.context(database)
    return _result(database.cursor, ctx, database.key, quarter, model, float(half_life_days))


@st.cache_data(show_spinner="Preparing the quarterly review…", max_entries=8)
def _review(
    _cur: duckdb.DuckDBPyConnection,
    key: str,
    quarter: str,
    model: str,
    half_life_days: float,
    source: str,
) -> report.ReportData:
    """Return funnelcast.report.collect, cached."""
    data = _inputs(_cur, key, half_life_days)
    return report.collect(
        _cur, metrics.load_context(_cur), data, quarter=quarter, model=model, source=source
    )


def review(
    database: dashboard.Database, quarter: str, model: str, half_life_days: float
) -> report.ReportData:
    """Return the data of a quarter's review; report.render turns it into the HTML file."""
    return _review(
        database.cursor, database.key, quarter, model, float(half_life_days), database.path.name
    )
