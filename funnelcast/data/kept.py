"""When a summary kept in the database may be read: the one mechanism every kept summary
(funnelcast.analytics.rollups, rollups_funnel, rollups_pages, attribution_kept) uses.

A kept summary is some tables plus one state row saying what it was computed from (its format,
the fiscal year, the data's key, ...). It is read only on DuckDB, only when every one of its
tables is there (queries/kept_tables_present.sql), when its state query gives exactly one row,
and when that row's fields equal what the data says now. The data's key is the costly check
(it reads the tables the summary is counted from), so a field's expected value may be given
as a function: it is called only once every plain field has matched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import duckdb

from funnelcast.data import db


def current_state(
    cur: Any,
    tables: tuple[str, ...],
    state_query: str,
    expected: Mapping[str, Any | Callable[[], Any]],
) -> dict[str, Any] | None:
    """Return the kept state row when the summary of `tables` is current, else None.

    expected: field -> the value the state row must hold (or a function of nothing giving it,
    called only after every plain value matched, in the order given).
    """
    if not isinstance(cur, duckdb.DuckDBPyConnection):
        return None
    if db.run(cur, "kept_tables_present", names=list(tables))["tables"][0] != len(tables):
        return None
    rows = db.run(cur, state_query).to_dicts()
    if len(rows) != 1:
        return None
    state = rows[0]
    plain = {k: v for k, v in expected.items() if not callable(v)}
    if any(state[k] != v for k, v in plain.items()):
        return None
    for field, value in expected.items():
        if callable(value) and state[field] != value():
            return None
    return state
