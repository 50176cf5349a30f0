"""The Threshold Lab's "Add a fit rule" inputs: any field (built-in or custom attribute), the
operators its type allows, a value input that fits the operator, and what the field holds
(top values, or range and quartiles) beside it; and the cached facts they read.

What the inputs mean is funnelcast.lab.rule_editor's; the page calls `add_fit_rule_inputs`
and, on the button, `rule_from_state` to make the rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import duckdb
import polars as pl
import streamlit as st

from funnelcast import definitions
from funnelcast.data import db
from funnelcast.definitions import FitRule, operators
from funnelcast.lab import rule_editor as editor
from funnelcast.ui.dashboard import Database

FIELD_KEY = "lab_new_fit_field"
TOP_VALUES = 50


@st.cache_data(show_spinner=False)
def _fields(_cur: duckdb.DuckDBPyConnection, key: str) -> dict[str, str]:
    """Return every field a rule may name with its type, cached on the data."""
    return definitions.lead_fields(_cur)


def lead_fields(database: Database) -> dict[str, str]:
    """Return every field a fit rule may name (built-in ones first), with its type."""
    return _fields(database.cursor, database.key)


@st.cache_data(show_spinner=False, max_entries=64)
def _top_values(_cur: duckdb.DuckDBPyConnection, key: str, field: str) -> pl.DataFrame:
    """Return queries/field_top_values.sql for a field, cached."""
    return db.run(_cur, "field_top_values", field=field, limit=TOP_VALUES)


@st.cache_data(show_spinner=False, max_entries=64)
def _number_range(_cur: duckdb.DuckDBPyConnection, key: str, field: str) -> dict[str, Any]:
    """Return queries/field_number_range.sql for a field, cached."""
    return db.run(_cur, "field_number_range", field=field).to_dicts()[0]


def _keys(field_type: str) -> dict[str, str]:
    """Return the widget keys of the inputs for a field of this type (one set per type, so
    that switching fields never hands one type's value to another's input)."""
    kind = field_type.replace("/", "_")
    names = ("op", "value", "values", "low", "high", "points", "cap", "dq")
    return {name: f"lab_new_fit_{name}_{kind}" for name in names}


def _date(value: Any) -> dt.date | None:
    """Return an epoch-seconds summary figure as a date (None stays None)."""
    if value is None:
        return None
    moment = operators.moment_of(float(value))
    return moment.date() if isinstance(moment, dt.datetime) else moment


def add_fit_rule_inputs(database: Database, on_add: Callable[[], None]) -> None:
    """Draw the inputs of a new fit rule; on_add runs when the button is pressed."""
    fields = lead_fields(database)
    names = list(fields)
    field = st.selectbox(
        "Field",
        names,
        key=FIELD_KEY,
        format_func=lambda f: f"{f} ({editor.TYPE_SHOWN[fields[f]]})",
        help="Any lead field, or a column of your leads file kept as a custom attribute.",
    )
    field_type = fields[field]
    keys = _keys(field_type)
    op = st.selectbox(
        "Operator",
        editor.operator_choices(field_type),
        key=keys["op"],
        format_func=editor.operator_label,
    )
    top = (
        _top_values(database.cursor, database.key, field) if field_type == operators.TEXT else None
    )
    summary = (
        None
        if field_type == operators.TEXT
        else _number_range(database.cursor, database.key, field)
    )
    st.caption(editor.holds_text(field_type, top, summary))
    kind = editor.value_input(field_type, op)
    texts = [] if top is None else top["value"].to_list()
    if kind == editor.ONE_TEXT:
        st.selectbox(
            "Value",
            texts,
            index=None,
            key=keys["value"],
            accept_new_options=True,
            placeholder="Choose or type a value",
        )
    elif kind == editor.SOME_TEXTS:
        st.multiselect("Values", texts, key=keys["values"], accept_new_options=True)
    elif kind == editor.YES_OR_NO:
        st.selectbox("Value", ["Yes", "No"], key=keys["value"])
    elif kind == editor.ONE_NUMBER:
        st.number_input(
            "Value", value=editor.default_number(summary), format="%g", key=keys["value"]
        )
    elif kind == editor.TWO_NUMBERS:
        low, high = st.columns(2)
        low.number_input("From (empty: open)", value=None, format="%g", key=keys["low"])
        high.number_input("To (empty: open)", value=None, format="%g", key=keys["high"])
    elif kind == editor.ONE_DATE:
        st.date_input("Date", value=_date((summary or {}).get("median")), key=keys["value"])
    elif kind == editor.TWO_DATES:
        low, high = st.columns(2)
        low.date_input("From (empty: open)", value=None, key=keys["low"])
        high.date_input("To (empty: open)", value=None, key=keys["high"])
    elif kind == editor.DAYS:
        st.number_input("Days", min_value=0.0, value=30.0, step=1.0, format="%g", key=keys["value"])
    points_col, extra_col = st.columns(2)
    points_col.number_input(
        "Points per unit" if kind == editor.PER_UNIT else "Points",
        definitions.MIN_POINTS,
        definitions.MAX_POINTS,
        value=2.0 if kind == editor.PER_UNIT else 10.0,
        step=1.0,
        format="%g",
        key=keys["points"],
    )
    if kind == editor.PER_UNIT:
        extra_col.number_input(
            "At most (empty: no cap)", min_value=0.0, value=None, format="%g", key=keys["cap"]
        )
    else:
        extra_col.checkbox("disqualifier", key=keys["dq"])
    st.button("Add fit rule", key="lab_add_fit", on_click=on_add)


def rule_from_state(database: Database, state: Any) -> FitRule:
    """Return the rule the inputs in session state describe (DefinitionError naming what is
    wrong with it)."""
    fields = lead_fields(database)
    field = state[FIELD_KEY]
    field_type = fields[field]
    keys = _keys(field_type)
    op = state.get(keys["op"]) or editor.operator_choices(field_type)[0]
    inputs = {name: state.get(key) for name, key in keys.items()}
    inputs["disqualify"] = inputs.pop("dq")
    return editor.rule_from_inputs(field, field_type, op, inputs, fields)
