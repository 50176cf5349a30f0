"""The Funnel and Handoff pages' reports, cached per database file and scope.

The same pattern as funnelcast.dashboard: the cursor is passed unhashed, the file key is part of
the cache key, so a result is shared between sessions and recomputed when the file changes.
"""

from __future__ import annotations

from typing import Any

import duckdb
import streamlit as st

from funnelcast.analytics import funnel, handoff
from funnelcast.ui.dashboard import Database


@st.cache_data(show_spinner="Computing the funnel…", max_entries=32)
def _funnel_report(
    _cur: duckdb.DuckDBPyConnection,
    key: str,
    quarter: str | None,
    channel: str | None,
    by: str,
    grain: str,
) -> dict[str, Any]:
    """Return funnelcast.funnel.report, cached."""
    return funnel.report(_cur, quarter=quarter, channel=channel, by=by, grain=grain)


@st.cache_data(show_spinner="Computing the hand-offs…", max_entries=32)
def _handoff_report(
    _cur: duckdb.DuckDBPyConnection,
    key: str,
    quarter: str | None,
    channel: str | None,
    sla: int,
    by: str,
) -> dict[str, Any]:
    """Return funnelcast.handoff.report, cached."""
    return handoff.report(_cur, quarter=quarter, channel=channel, sla=sla, by=by)


@st.cache_data(show_spinner=False)
def _sla_setting(_cur: duckdb.DuckDBPyConnection, key: str) -> int:
    """Return the database's SLA setting in business days, cached."""
    return handoff.sla_days(_cur)


def funnel_report(
    database: Database, quarter: str | None, channel: str | None, by: str, grain: str
) -> dict[str, Any]:
    """Return the Funnel page's figures: what `funnelcast funnel --format json` prints."""
    return _funnel_report(database.cursor, database.key, quarter, channel, by, grain)


def handoff_report(
    database: Database, quarter: str | None, channel: str | None, sla: int, by: str
) -> dict[str, Any]:
    """Return the Handoff page's figures: what `funnelcast handoff --format json` prints."""
    return _handoff_report(database.cursor, database.key, quarter, channel, sla, by)


def sla_setting(database: Database) -> int:
    """Return the SLA the database sets (meta handoff_sla_business_days), else the default."""
    return _sla_setting(database.cursor, database.key)
